"""Workload model: how many requests arrive per slot, for which service, from where."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from cnc6g.model.infra import Name, _Strict

MAX_LOAD = 10.0
"""The highest offered load L a workload may ask for."""

DEFAULT_LOADS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
"""Offered loads L of the case-study sweep (seed 002, Figs. 4 and 5), also trained on."""


class HotspotShift(_Strict):
    """A change of the demand pattern from ``slot`` on (a re-orchestration trigger of seed 002)."""

    slot: int = Field(ge=0, description="first slot of the new pattern")
    origin_weights: dict[Name, float] | None = Field(
        default=None, description="new weights of the terminal domains; omitted ones get 0"
    )
    reshuffle_popularity: bool = Field(
        default=False, description="draw a new popularity ranking of the services"
    )

    @model_validator(mode="after")
    def _changes_something(self) -> HotspotShift:
        if self.origin_weights is None and not self.reshuffle_popularity:
            raise ValueError("a hotspot shift must set origin_weights or reshuffle_popularity")
        if self.origin_weights is not None:
            _check_weights(self.origin_weights)
        return self


def _check_weights(weights: dict[str, float]) -> None:
    bad = {k: v for k, v in weights.items() if not v >= 0}
    if bad:
        raise ValueError(f"origin weights must be >= 0, got {bad}")
    if sum(weights.values()) <= 0:
        raise ValueError("origin weights must not all be zero")


class TraceRow(_Strict):
    """Requests of one (slot, origin, service) in a workload trace."""

    slot: int = Field(ge=0, description="slot index, from 0")
    origin: Name = Field(description="terminal domain the requests come from")
    service: Name = Field(description="service type requested")
    count: int = Field(ge=0, description="number of requests")


class Trace(_Strict):
    """A workload trace: request counts per slot, origin and service, replayed in a loop.

    In a scenario file ``workload.trace = "file.csv"`` names a CSV file (relative to the scenario
    file) with the header ``slot,origin,service,count``; the loader reads it into ``rows``.
    """

    file: str = Field(default="", description="the CSV file the rows were read from")
    rows: list[TraceRow] = Field(min_length=1, description="the trace's request counts")

    @property
    def slots(self) -> int:
        """Length of the trace in slots (the last slot with a row, plus one)."""
        return max(r.slot for r in self.rows) + 1


class MmppStart(StrEnum):
    """The state a Markov-modulated arrival process starts in."""

    STATIONARY = "stationary"  # drawn from the stationary distribution, each copy its own
    LIKELIEST = "likeliest"  # the most likely state, the first of equals (the original model)


class Burstiness(_Strict):
    """A Markov-modulated Poisson process for the request count per slot.

    The count is Poisson with mean ``mean x rates[state] / stationary mean of rates``. The chain
    stays in state ``i`` for a geometric number of slots with mean ``dwell_slots[i]`` and then
    jumps to one of the other states with equal probability. Each copy of a run starts in a
    state drawn from the chain's stationary distribution (``start = "stationary"``), so that
    a run's first slots are as likely to be busy as any; ``start = "likeliest"`` keeps the
    original model, every copy in the most likely state (the first of equally likely ones).
    """

    rates: list[float] = Field(min_length=1, description="relative rate of each state (> 0)")
    dwell_slots: list[float] = Field(
        min_length=1, description="mean number of slots the chain stays in each state (>= 1)"
    )
    start: MmppStart = Field(
        default=MmppStart.STATIONARY,
        description="state of slot 0: drawn from the stationary distribution for each copy "
        "(stationary) or the most likely one for all (likeliest, the original model)",
    )

    @model_validator(mode="after")
    def _a_markov_chain(self) -> Burstiness:
        if any(not r > 0 for r in self.rates):
            raise ValueError("rates must all be > 0")
        if len(self.dwell_slots) != len(self.rates):
            raise ValueError("dwell_slots must have one entry per rate")
        if any(not d >= 1 for d in self.dwell_slots):
            raise ValueError("dwell_slots must all be >= 1")
        return self

    def switch(self) -> list[list[float]]:
        """Per-slot transition probabilities, one row per state."""
        n = len(self.rates)
        if n == 1:
            return [[1.0]]
        rows = []
        for i, dwell in enumerate(self.dwell_slots):
            leave = 1.0 / dwell
            rows.append([1.0 - leave if j == i else leave / (n - 1) for j in range(n)])
        return rows


class Diurnal(_Strict):
    """A daily profile: the mean request count is scaled by the hour of day.

    With ``weekly``, also by the day of the week: the hour's rate times the day's (each profile
    scaled to mean 1, so the mean over a week stays the workload's mean).
    """

    profile: list[float] = Field(
        min_length=24,
        max_length=24,
        description="relative rate of each hour 0-23 (scaled to mean 1)",
    )
    slots_per_hour: int = Field(ge=1, description="slots in one hour of the profile")
    start_hour: int = Field(default=0, ge=0, le=23, description="hour of day of slot 0")
    weekly: list[float] | None = Field(
        default=None,
        min_length=7,
        max_length=7,
        description="relative rate of each day Monday-Sunday (scaled to mean 1), on top of the "
        "hourly profile; default: every day alike",
    )
    start_day: int = Field(
        default=0, ge=0, le=6, description="day of the week of slot 0 (0: Monday, 6: Sunday)"
    )

    @model_validator(mode="after")
    def _positive(self) -> Diurnal:
        if any(not p >= 0 for p in self.profile) or sum(self.profile) <= 0:
            raise ValueError("diurnal.profile must be >= 0 and not all zero")
        if self.weekly is not None and (
            any(not w >= 0 for w in self.weekly) or sum(self.weekly) <= 0
        ):
            raise ValueError(f"diurnal.weekly must be >= 0 and not all zero, got {self.weekly}")
        return self


class Workload(_Strict):
    """Requests per slot, drawn uniformly from a range, over services by Zipf popularity.

    Exactly one of ``requests_per_slot`` and ``offered_load`` is given, or a ``trace`` (with
    ``offered_load`` to scale it). ``burstiness`` and ``diurnal`` replace the uniform count by a
    Poisson count around the same mean. ``offered_load`` is the
    utilisation L the mean request count would put on the RAN and transport nodes other than
    the cloud-scale ones (see :func:`cnc6g.twin.system.requests_for_load`); the count is then
    drawn from ``[(1 - load_spread) N, (1 + load_spread) N]``.
    """

    requests_per_slot: tuple[int, int] | None = Field(
        default=None, description="inclusive range [low, high] of requests per slot"
    )
    offered_load: float | None = Field(
        default=None, gt=0, le=MAX_LOAD, description="utilisation L the mean request count offers"
    )
    load_spread: float = Field(
        default=0.2, ge=0, lt=1, description="half-width of the request range around the mean"
    )
    zipf_exponent: float = Field(
        default=1.2, ge=0, le=5, description="exponent of the services' Zipf popularity"
    )
    popularity: list[Name] | None = Field(
        default=None, description="services from most to least popular; default: file order"
    )
    origin_weights: dict[Name, float] | None = Field(
        default=None, description="relative request rate per terminal domain; default: equal"
    )
    hotspots: list[HotspotShift] = Field(
        default_factory=list, description="changes of the demand pattern, in slot order"
    )
    burstiness: Burstiness | None = Field(
        default=None,
        description="request count per slot from a Markov-modulated Poisson process instead of "
        "the uniform range",
    )
    diurnal: Diurnal | None = Field(
        default=None, description="daily profile of the request rate (Poisson counts)"
    )
    trace: Trace | None = Field(
        default=None,
        description="replay request counts from a CSV file (slot,origin,service,count); with "
        "offered_load the counts are scaled to that load",
    )

    @model_validator(mode="after")
    def _one_volume(self) -> Workload:
        if self.requests_per_slot is not None and self.offered_load is not None:
            raise ValueError("give exactly one of requests_per_slot and offered_load")
        if self.trace is None and self.requests_per_slot is None and self.offered_load is None:
            raise ValueError("give exactly one of requests_per_slot and offered_load, or a trace")
        if self.trace is not None and self.requests_per_slot is not None:
            raise ValueError("a trace sets the request counts; give offered_load to scale it")
        if self.trace is not None and (self.burstiness or self.diurnal or self.hotspots):
            raise ValueError("a trace sets the request counts; drop burstiness, diurnal, hotspots")
        if self.requests_per_slot is not None:
            lo, hi = self.requests_per_slot
            if lo < 0 or hi < lo:
                raise ValueError(f"requests_per_slot must satisfy 0 <= low <= high, got {lo}, {hi}")
        if self.origin_weights is not None:
            _check_weights(self.origin_weights)
        slots = [h.slot for h in self.hotspots]
        if slots != sorted(slots):
            raise ValueError("hotspots must be in increasing slot order")
        return self
