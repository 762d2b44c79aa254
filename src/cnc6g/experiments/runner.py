"""Run a policy on the twin for a number of slots and summarise what happened."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np

from cnc6g.model import Scenario
from cnc6g.orchestration.loop import SlotLoop
from cnc6g.policies.base import Policy
from cnc6g.twin import ENERGY_PARTS, System, Twin, compile_scenario, sample_requests
from cnc6g.twin.system import FloatArray, load_for_requests

ProgressHook = Callable[[int], None]


SUMMARY_SCHEMA = 2
"""Version of the keys of :meth:`RunSummary.as_json` (2: ``window_slots`` and ``slots_run``
instead of ``slots``; the policy's figures under ``policy_figures``)."""


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class RunSummary:
    """The figures of one run over its evaluation window (means per slot unless named else).

    Attributes:
        policy: the policy's name.
        scenario: the scenario's name.
        seed: seed of the twin and the policy.
        load: offered load L the run's mean request count maps to.
        window_slots: slots of the evaluation window the figures cover (the last of the run).
        slots_run: slots the run lasted.
        offered_per_slot: requests per slot.
        energy_j_per_slot: energy, J per slot; ``energy_j_min``/``_max``: of a slot.
        energy_j_min: lowest energy of a slot in the window, J.
        energy_j_max: highest energy of a slot in the window, J.
        satisfaction_rate: satisfied over offered tasks in the window.
        satisfaction_min: lowest share satisfied in a slot.
        satisfaction_max: highest share satisfied in a slot.
        dropped_rate: share of the tasks not served (rejected, no instance, over capacity).
        objective_j_per_slot: energy plus the penalty of the unsatisfied tasks, J per slot.
        energy_j_per_satisfied_task: energy over satisfied tasks, J.
        latency_p50_ms: median E2E latency of the sampled requests, ms.
        latency_p95_ms: 95th percentile, ms.
        latency_p99_ms: 99th percentile, ms.
        cold_starts_per_slot: instances started per slot.
        instances_per_slot: instances running per slot.
        decide_ms_p50: median wall time of the policy's decision, ms.
        satisfaction_rate_sampled: satisfaction of the sampled requests (None: not sampled).
        energy_parts: energy by part (:data:`~cnc6g.twin.ENERGY_PARTS`), J per slot.
        policy_info: the policy's own figures (e.g. OPT's solve time and gap), median
            (``<key>_p50``) and largest (``<key>_max``) over the window; None where a slot had
            no finite value.
        requests_mean: in a sweep, mean requests per slot the load maps to.
        lp_bound_j_per_slot: in a sweep with the bound, the LP lower bound, J per slot.
        objective_over_bound: in a sweep with the bound, the objective over the bound.
    """

    policy: str
    scenario: str
    seed: int
    load: float
    window_slots: int
    slots_run: int
    offered_per_slot: float
    energy_j_per_slot: float
    energy_j_min: float
    energy_j_max: float
    satisfaction_rate: float
    satisfaction_min: float
    satisfaction_max: float
    dropped_rate: float
    objective_j_per_slot: float
    energy_j_per_satisfied_task: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    cold_starts_per_slot: float
    instances_per_slot: float
    decide_ms_p50: float
    satisfaction_rate_sampled: float | None = None
    energy_parts: dict[str, float] = field(default_factory=dict)
    policy_info: dict[str, float | None] = field(default_factory=dict)
    requests_mean: float | None = None
    lp_bound_j_per_slot: float | None = None
    objective_over_bound: float | None = None

    def as_row(self) -> dict[str, Any]:
        """One flat row of a table: the fields, ``energy_<part>_j``, the policy's own figures.

        Fields that are None (not measured in this run) are left out.
        """
        row = self._plain()
        row.update(self.policy_info)
        return row

    def as_json(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The summary as ``run --json`` prints it (schema :data:`SUMMARY_SCHEMA`).

        The fields and ``energy_<part>_j`` as in :meth:`as_row`; the policy's own figures under
        ``policy_figures`` and the options it ran with under ``options``. Non-finite numbers
        (no request sampled, no solution) are null, so the output is strict JSON.
        """
        out = self._plain() | {"schema": SUMMARY_SCHEMA}
        out["policy_figures"] = dict(self.policy_info)
        out["options"] = dict(options or {})
        return {k: _finite(v) for k, v in out.items()}

    def _plain(self) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("energy_parts", "policy_info"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                row[f.name] = value
        row.update({f"energy_{part}_j": value for part, value in self.energy_parts.items()})
        return row


def summary_from_row(row: dict[str, str]) -> RunSummary:
    """A :class:`RunSummary` read back from a results table's row of strings.

    Raises:
        KeyError: a field the summary needs is missing.
        ValueError: a value does not parse.
    """

    def number(key: str) -> float | None:
        text = row.get(key, "")
        return None if text in ("", None) else float(text)

    values: dict[str, Any] = {}
    for f in fields(RunSummary):
        if f.name in ("energy_parts", "policy_info"):
            continue
        if f.name in ("policy", "scenario"):
            values[f.name] = row[f.name]
        elif f.name in ("seed", "window_slots", "slots_run"):
            values[f.name] = int(row[f.name])
        else:
            value = number(f.name)
            if value is None and f.default is MISSING:
                raise KeyError(f.name)
            values[f.name] = value
    values["energy_parts"] = {
        part: float(row[f"energy_{part}_j"]) for part in ENERGY_PARTS if row.get(f"energy_{part}_j")
    }
    known = {f"energy_{p}_j" for p in ENERGY_PARTS} | {f.name for f in fields(RunSummary)}
    values["policy_info"] = {
        k: number(k) for k in row if k not in known and k != "error" and k.startswith("opt_")
    }
    return RunSummary(**values)


@dataclass(eq=False)
class RunResult:
    """Per-slot record of one run (arrays have one entry per slot)."""

    policy: str
    scenario: str
    seed: int
    offered: FloatArray
    served: FloatArray
    satisfied: FloatArray
    energy: dict[str, FloatArray]
    cold_starts: FloatArray
    instances: FloatArray
    decide_s: FloatArray
    penalty_j: float
    load: float
    latencies_s: list[FloatArray] = field(default_factory=list)
    sampled_satisfied: list[int] = field(default_factory=list)
    policy_info: list[dict[str, float]] = field(default_factory=list)

    @property
    def slots(self) -> int:
        """Number of slots run."""
        return int(self.offered.size)

    @property
    def energy_total(self) -> FloatArray:
        """Energy per slot, J."""
        return np.sum([self.energy[p] for p in ENERGY_PARTS], axis=0)

    def series(self) -> list[dict[str, Any]]:
        """One row per slot, for plotting: requests, outcome, energy by part, latency.

        Latency percentiles (ms) are of the slot's sampled requests (None without samples);
        the policy's own figures of the slot (OPT's solve time, gap) are included.
        """
        rows = []
        for t in range(self.slots):
            lat = self.latencies_s[t] if t < len(self.latencies_s) else np.empty(0)
            pct = np.percentile(lat, [50, 95, 99]) * 1e3 if lat.size else [None] * 3
            row: dict[str, Any] = {
                "slot": t,
                "offered": float(self.offered[t]),
                "served": float(self.served[t]),
                "satisfied": float(self.satisfied[t]),
                "dropped": float(self.offered[t] - self.served[t]),
                "energy_j": float(self.energy_total[t]),
            }
            row.update({f"energy_{p}_j": float(self.energy[p][t]) for p in ENERGY_PARTS})
            row.update(
                {
                    "latency_p50_ms": None if pct[0] is None else float(pct[0]),
                    "latency_p95_ms": None if pct[1] is None else float(pct[1]),
                    "latency_p99_ms": None if pct[2] is None else float(pct[2]),
                    "cold_starts": float(self.cold_starts[t]),
                    "instances": float(self.instances[t]),
                    "decide_ms": float(self.decide_s[t] * 1e3),
                }
            )
            if t < len(self.policy_info):
                row.update(self.policy_info[t])
            rows.append(row)
        return rows

    def to_frame(self) -> Any:
        """:meth:`series` as a pandas DataFrame indexed by slot (needs pandas installed).

        Raises:
            ImportError: pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("RunResult.to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame(self.series()).set_index("slot")

    def summary(self, window: int | None = None) -> RunSummary:
        """Means over the last ``window`` slots (all when ``None``), with per-slot min and max."""
        n = self.slots if window is None else min(window, self.slots)
        sl = slice(self.slots - n, self.slots)
        offered = self.offered[sl]
        energy = self.energy_total[sl]
        rate = np.divide(self.satisfied[sl], offered, out=np.ones_like(offered), where=offered > 0)
        objective = energy + self.penalty_j * (offered - self.satisfied[sl])
        total = max(float(offered.sum()), 1e-12)
        lat = np.concatenate(self.latencies_s[sl]) if self.latencies_s else np.empty(0)
        pct = np.percentile(lat, [50, 95, 99]) * 1e3 if lat.size else np.full(3, np.nan)
        infos = self.policy_info[sl]
        policy_info: dict[str, float | None] = {}
        for key in sorted({k for info in infos for k in info}):
            values = np.array([info[key] for info in infos if key in info])
            finite = values[np.isfinite(values)]  # a solver without a solution reports inf
            whole = finite.size == values.size
            policy_info[f"{key}_p50"] = float(np.median(values)) if whole else None
            policy_info[f"{key}_max"] = float(values.max()) if whole else None
        return RunSummary(
            policy=self.policy,
            scenario=self.scenario,
            seed=self.seed,
            load=round(self.load, 4),
            window_slots=n,
            slots_run=self.slots,
            offered_per_slot=float(offered.mean()),
            energy_j_per_slot=float(energy.mean()),
            energy_j_min=float(energy.min()),
            energy_j_max=float(energy.max()),
            satisfaction_rate=float(self.satisfied[sl].sum() / total),
            satisfaction_min=float(rate.min()),
            satisfaction_max=float(rate.max()),
            dropped_rate=float((offered - self.served[sl]).sum() / total),
            objective_j_per_slot=float(objective.mean()),
            energy_j_per_satisfied_task=float(energy.sum() / max(self.satisfied[sl].sum(), 1)),
            latency_p50_ms=float(pct[0]),
            latency_p95_ms=float(pct[1]),
            latency_p99_ms=float(pct[2]),
            cold_starts_per_slot=float(self.cold_starts[sl].mean()),
            instances_per_slot=float(self.instances[sl].mean()),
            decide_ms_p50=float(np.median(self.decide_s[sl]) * 1e3),
            satisfaction_rate_sampled=(
                float(sum(self.sampled_satisfied[sl]) / total) if self.sampled_satisfied else None
            ),
            energy_parts={part: float(self.energy[part][sl].mean()) for part in ENERGY_PARTS},
            policy_info=policy_info,
        )


def run_policy(
    policy: Policy,
    scenario: Scenario | System,
    slots: int,
    seed: int = 0,
    sample: bool = True,
    check: bool = True,
    on_slot: ProgressHook | None = None,
) -> RunResult:
    """Let ``policy`` orchestrate the twin of ``scenario`` for ``slots`` slots.

    Args:
        policy: the policy; it is reset with ``seed``.
        scenario: a scenario or an already compiled system.
        slots: number of slots.
        seed: seed of the twin (demand, channel, request sampling) and of the policy.
        sample: draw individual requests each slot for latency percentiles.
        check: stop with :class:`~cnc6g.orchestration.InfeasibleDecisionError` on an
            infeasible decision.
        on_slot: called with the slot index after every slot (progress bars).
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    system = scenario if isinstance(scenario, System) else compile_scenario(scenario)
    loop = SlotLoop(Twin(system, batch=1, seed=seed), policy, seed, check=check)
    sampler_rng = np.random.default_rng([seed, 1])
    rows: dict[str, list[float]] = {
        k: [] for k in ("offered", "served", "satisfied", "cold", "inst", "t")
    }
    energy: dict[str, list[float]] = {p: [] for p in ENERGY_PARTS}
    latencies: list[FloatArray] = []
    sampled: list[int] = []
    infos: list[dict[str, float]] = []
    demand_sum = 0.0
    for t, record in enumerate(loop.run(slots)):
        outcome = record.outcome
        rows["t"].append(record.decide_s)
        infos.append(record.info)
        demand_sum += float(record.demand.sum())
        rows["offered"].append(float(outcome.offered[0]))
        rows["served"].append(float(outcome.served[0]))
        rows["satisfied"].append(float(outcome.satisfied[0]))
        rows["cold"].append(float(outcome.cold_starts[0]))
        rows["inst"].append(float(outcome.instances[0]))
        for p in ENERGY_PARTS:
            energy[p].append(float(outcome.energy[p][0]))
        if sample:
            req = sample_requests(outcome, record.demand[None], system.deadline_s, sampler_rng)
            latencies.append(req.latency_s)
            sampled.append(int(req.satisfied.sum()))
        if on_slot is not None:
            on_slot(t)
    return RunResult(
        policy=policy.name,
        scenario=system.scenario.name,
        seed=seed,
        offered=np.array(rows["offered"]),
        served=np.array(rows["served"]),
        satisfied=np.array(rows["satisfied"]),
        energy={p: np.array(v) for p, v in energy.items()},
        cold_starts=np.array(rows["cold"]),
        instances=np.array(rows["inst"]),
        decide_s=np.array(rows["t"]),
        penalty_j=system.unsatisfied_penalty_j,
        load=load_for_requests(system, demand_sum / slots),
        latencies_s=latencies,
        sampled_satisfied=sampled,
        policy_info=infos,
    )
