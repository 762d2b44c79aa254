"""Quality of AI Service (QoAIS): profiles, their decomposition into resource QoS, evaluation.

Seed 001 (section 4.1) proposes QoAIS as the set of indicators an AI service is assessed and
assured by: per service type (AI data, training, inference, validation), indicators in five
dimensions (performance, overhead, security, privacy, autonomy), decomposed by the orchestrator
into QoS targets of four resource dimensions (connection, computing, data, algorithm). Some
indicators have no quantitative metric yet (robustness, generalisation, interpretability...):
they are carried, marked so, and reported as not measurable rather than silently dropped.

This module holds the vocabulary and the arithmetic, pure:

- :data:`INDICATORS`: every indicator of seed 001 Table 4.1-1 and the inference and data
  indicators the text names, with its dimension, the resource dimensions that assure it
  (Table 4.1-2), whether it is quantitative, and the 3GPP TS 28.105 term it maps to (``None``
  where TS 28.105 has none: flagged in :func:`ts28105_gaps`);
- :class:`QoAIS`: a service's requirement (targets for some indicators);
- :func:`decompose`: the requirement as per-resource QoS targets (an inference response time
  split into connection and computing budgets, an energy overhead into computing and
  transmission, privacy into the tiers allowed);
- :func:`evaluate`: a report of each indicator against measurements;
- :class:`Lifecycle`: the TS 28.105 states of a training request and a model's activation, with
  the transitions a QoAIS drift triggers (re-training of an activated model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class ServiceKind(StrEnum):
    """Types of native AI service (seed 001 section 4.1)."""

    DATA = "data"
    TRAINING = "training"
    INFERENCE = "inference"
    VALIDATION = "validation"


class Dimension(StrEnum):
    """Evaluation dimensions of QoAIS."""

    PERFORMANCE = "performance"
    OVERHEAD = "overhead"
    SECURITY = "security"
    PRIVACY = "privacy"
    AUTONOMY = "autonomy"


class Resource(StrEnum):
    """Resource dimensions a QoAIS is decomposed into."""

    CONNECTION = "connection"
    COMPUTING = "computing"
    DATA = "data"
    ALGORITHM = "algorithm"


Sense = Literal["max", "min", "level"]
"""``max``: the measured value must not exceed the target; ``min``: not fall below; ``level``:
an ordinal level at least the target's."""


@dataclass(frozen=True)
class Indicator:
    """One QoAIS indicator."""

    name: str
    dimension: Dimension
    kinds: tuple[ServiceKind, ...]
    resources: tuple[Resource, ...]
    sense: Sense
    unit: str
    quantitative: bool = True
    ts28105: str | None = None
    """The TS 28.105 attribute or concept it maps to; ``None``: no counterpart there."""


_ALL = tuple(ServiceKind)
_T = (ServiceKind.TRAINING,)
_I = (ServiceKind.INFERENCE,)
_D = (ServiceKind.DATA,)
_C, _P, _DA, _A = Resource.CONNECTION, Resource.COMPUTING, Resource.DATA, Resource.ALGORITHM
PERF, OVER, SEC, PRIV, AUTO = (
    Dimension.PERFORMANCE,
    Dimension.OVERHEAD,
    Dimension.SECURITY,
    Dimension.PRIVACY,
    Dimension.AUTONOMY,
)

INDICATORS: dict[str, Indicator] = {
    i.name: i
    for i in (
        # Training (Table 4.1-1, performance); resources after Table 4.1-2.
        Indicator(
            "performance_bound",
            PERF,
            (*_T, ServiceKind.VALIDATION),
            (_A, _DA),
            "min",
            "score",
            ts28105="ModelPerformance.performanceScore",
        ),
        Indicator(
            "training_time_s",
            PERF,
            _T,
            (_A, _P, _C),
            "max",
            "s",
            ts28105="MLTrainingReport (training duration)",
        ),
        Indicator("generalisation", PERF, _T, (_A,), "min", "score", quantitative=False),
        Indicator("reusability", PERF, _T, (_A,), "min", "score", quantitative=False),
        Indicator("robustness", PERF, _T, (_A,), "min", "score", quantitative=False),
        Indicator("interpretability", PERF, _T, (_A,), "min", "score", quantitative=False),
        Indicator("objective_consistency", PERF, _T, (_A,), "min", "score"),
        Indicator("fairness", PERF, _T, (_A,), "min", "score", quantitative=False),
        # Inference and general indicators (seed 001: availability, response time).
        Indicator("response_time_s", PERF, _I, (_C, _P), "max", "s"),
        Indicator("deadline_success", PERF, _I, (_C, _P), "min", "share of tasks"),
        Indicator(
            "availability",
            PERF,
            _ALL,
            (_C, _P),
            "min",
            "share of tasks",
            ts28105="activationStatus",
        ),
        Indicator(
            "accuracy",
            PERF,
            (*_I, ServiceKind.VALIDATION),
            (_A,),
            "min",
            "score",
            ts28105="ModelPerformance.performanceScore",
        ),
        Indicator("data_completeness", PERF, _D, (_DA,), "min", "share"),
        Indicator("data_preparation_time_s", PERF, _D, (_DA, _P), "max", "s"),
        # Overhead (common).
        Indicator("energy_j_per_task", OVER, _ALL, (_P, _C), "max", "J"),
        Indicator("computing_gcycles_per_task", OVER, _ALL, (_P,), "max", "Gcycles"),
        Indicator("transmission_mbit_per_task", OVER, _ALL, (_C,), "max", "Mbit"),
        Indicator("storage_gb", OVER, _ALL, (_P, _DA), "max", "GB"),
        # Security, privacy (leveled), autonomy (levels of seed 001).
        Indicator("storage_security", SEC, _ALL, (_DA,), "level", "level"),
        Indicator("computing_security", SEC, _ALL, (_P,), "level", "level"),
        Indicator("transmission_security", SEC, _ALL, (_C,), "level", "level"),
        Indicator("data_privacy", PRIV, _ALL, (_DA, _C), "level", "level"),
        Indicator("algorithm_privacy", PRIV, _ALL, (_A,), "level", "level"),
        Indicator("autonomy", AUTO, _ALL, (_A,), "level", "level"),
    )
}
"""Every indicator the QoAIS vocabulary knows."""

PRIVACY_LEVELS = ("any", "operator", "edge", "device")
"""Data privacy levels, weakest first: where a task's data may be processed."""
AUTONOMY_LEVELS = ("manual", "partial", "full")
"""Seed 001: fully manually controllable, partially manually controllable, fully autonomous."""


def ts28105_gaps() -> list[str]:
    """Indicators with no TS 28.105 counterpart (the gaps a standard would have to fill)."""
    return sorted(n for n, i in INDICATORS.items() if i.ts28105 is None)


def profile(kind: ServiceKind) -> list[Indicator]:
    """The indicators a service of ``kind`` is assessed by."""
    return [i for i in INDICATORS.values() if kind in i.kinds]


@dataclass(frozen=True)
class QoAIS:
    """A service's QoAIS requirement: targets for some of its kind's indicators."""

    service: str
    kind: ServiceKind
    targets: dict[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = {i.name for i in profile(self.kind)}
        unknown = sorted(set(self.targets) - allowed)
        if unknown:
            raise ValueError(f"{self.service}: not {self.kind.value} indicators: {unknown}")
        for name, value in self.targets.items():
            ind = INDICATORS[name]
            if ind.sense == "level":
                levels = _levels(name)
                if value not in levels:
                    raise ValueError(f"{self.service}.{name}: one of {levels}, not {value!r}")
            elif not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"{self.service}.{name}: a number >= 0, not {value!r}")


def _levels(name: str) -> tuple[str, ...]:
    if name == "data_privacy":
        return PRIVACY_LEVELS
    if name == "autonomy":
        return AUTONOMY_LEVELS
    return ("none", "basic", "high")


@dataclass(frozen=True)
class ResourceTarget:
    """One QoS target of a resource dimension, derived from a QoAIS indicator."""

    resource: Resource
    metric: str
    value: float | str
    source: str
    """The QoAIS indicator it comes from."""


def decompose(
    req: QoAIS, compute_share: float = 0.5, radio_share: float = 0.5
) -> list[ResourceTarget]:
    """Per-resource QoS targets of ``req``.

    A response-time budget is split between computing (``compute_share``) and connection (the
    rest); an energy budget between computing and transmission by ``1 - radio_share`` and
    ``radio_share``; the data-privacy level becomes the tiers a task may run on; a security
    level applies to its resource as it is; indicators with no quantitative metric become no
    target (see :func:`evaluate`).
    """
    if not (0 <= compute_share <= 1 and 0 <= radio_share <= 1):
        raise ValueError("compute_share and radio_share must be in [0, 1]")
    out: list[ResourceTarget] = []
    for name, value in req.targets.items():
        ind = INDICATORS[name]
        if not ind.quantitative:
            continue
        if name == "response_time_s":
            t = float(value)
            out.append(ResourceTarget(_P, "processing_time_s", compute_share * t, name))
            out.append(ResourceTarget(_C, "transfer_time_s", (1 - compute_share) * t, name))
        elif name == "energy_j_per_task":
            e = float(value)
            out.append(ResourceTarget(_P, "compute_energy_j", (1 - radio_share) * e, name))
            out.append(ResourceTarget(_C, "transmission_energy_j", radio_share * e, name))
        elif name == "data_privacy":
            tiers = {
                "any": "terminal,ran,transport,cloud",
                "operator": "terminal,ran,transport",
                "edge": "terminal,ran",
                "device": "terminal",
            }[str(value)]
            out.append(ResourceTarget(_DA, "allowed_tiers", tiers, name))
            out.append(ResourceTarget(_C, "allowed_tiers", tiers, name))
        else:
            for resource in ind.resources:
                out.append(ResourceTarget(resource, name, value, name))
    return out


@dataclass(frozen=True)
class IndicatorReport:
    """One indicator of a service after a run."""

    indicator: str
    dimension: Dimension
    target: float | str
    measured: float | str | None
    status: Literal["met", "missed", "not measured", "no metric yet"]


def evaluate(req: QoAIS, measured: dict[str, float | str]) -> list[IndicatorReport]:
    """Each target of ``req`` against ``measured`` (indicator name -> value)."""
    out: list[IndicatorReport] = []
    for name, target in req.targets.items():
        ind = INDICATORS[name]
        value = measured.get(name)
        if not ind.quantitative:
            status: Literal["met", "missed", "not measured", "no metric yet"] = "no metric yet"
        elif value is None:
            status = "not measured"
        elif ind.sense == "level":
            levels = _levels(name)
            ok = levels.index(str(value)) >= levels.index(str(target))
            status = "met" if ok else "missed"
        elif ind.sense == "max":
            status = "met" if float(value) <= float(target) else "missed"
        else:
            status = "met" if float(value) >= float(target) else "missed"
        out.append(IndicatorReport(name, ind.dimension, target, value, status))
    return out


class RequestStatus(StrEnum):
    """TS 28.105 ``RequestStatus`` of an ML training request."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUSPENDED = "SUSPENDED"
    FINISHED = "FINISHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"


class TrainingType(StrEnum):
    """TS 28.105 training types."""

    INITIAL_TRAINING = "INITIAL_TRAINING"
    RE_TRAINING = "RE_TRAINING"
    FINE_TUNING = "FINE_TUNING"


_MOVES: dict[RequestStatus, set[RequestStatus]] = {
    RequestStatus.NOT_STARTED: {RequestStatus.IN_PROGRESS, RequestStatus.CANCELLED},
    RequestStatus.IN_PROGRESS: {
        RequestStatus.SUSPENDED,
        RequestStatus.FINISHED,
        RequestStatus.CANCELLING,
    },
    RequestStatus.SUSPENDED: {RequestStatus.IN_PROGRESS, RequestStatus.CANCELLING},
    RequestStatus.CANCELLING: {RequestStatus.CANCELLED},
    RequestStatus.FINISHED: set(),
    RequestStatus.CANCELLED: set(),
}


@dataclass
class Lifecycle:
    """One AI service's model through TS 28.105: training requests and activation.

    ``drift_windows`` consecutive evaluations with a missed indicator that the algorithm
    assures (the model's accuracy, its performance bound) open a ``RE_TRAINING`` request while
    none is open, which the caller moves through its states; finishing it reactivates the model.
    Misses that connection or computing assure call for re-planning resources, not re-training
    (:func:`responsible_resources`).
    """

    service: str
    drift_windows: int = 3
    activated: bool = False
    requests: list[tuple[TrainingType, RequestStatus]] = field(default_factory=list)
    _missed: int = 0

    def request(self, kind: TrainingType) -> int:
        """Open a training request; its index."""
        self.requests.append((kind, RequestStatus.NOT_STARTED))
        return len(self.requests) - 1

    def move(self, index: int, to: RequestStatus) -> None:
        """Move request ``index`` to ``to``, if TS 28.105 allows it."""
        kind, now = self.requests[index]
        if to not in _MOVES[now]:
            raise ValueError(f"{self.service}: a request cannot go from {now} to {to}")
        self.requests[index] = (kind, to)
        if to is RequestStatus.FINISHED:
            self.activated = True

    def open_request(self) -> int | None:
        """Index of the request not yet finished or cancelled, if any."""
        for i, (_, status) in enumerate(self.requests):
            if status not in (RequestStatus.FINISHED, RequestStatus.CANCELLED):
                return i
        return None

    def observe(self, report: list[IndicatorReport]) -> int | None:
        """Take one evaluation; the index of a re-training request it opened, if any."""
        missed = any(
            r.status == "missed" and INDICATORS[r.indicator].resources == (Resource.ALGORITHM,)
            for r in report
        )
        self._missed = self._missed + 1 if missed else 0
        if self._missed >= self.drift_windows and self.activated and self.open_request() is None:
            self._missed = 0
            return self.request(TrainingType.RE_TRAINING)
        return None


def responsible_resources(report: list[IndicatorReport]) -> list[Resource]:
    """The resource dimensions that assure the indicators ``report`` shows missed."""
    out: set[Resource] = set()
    for r in report:
        if r.status == "missed":
            out.update(INDICATORS[r.indicator].resources)
    return sorted(out, key=list(Resource).index)
