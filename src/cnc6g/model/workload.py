"""Workload model: how many requests arrive per slot, for which service, from where."""

from __future__ import annotations

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


class Workload(_Strict):
    """Requests per slot, drawn uniformly from a range, over services by Zipf popularity.

    Exactly one of ``requests_per_slot`` and ``offered_load`` is given. ``offered_load`` is the
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

    @model_validator(mode="after")
    def _one_volume(self) -> Workload:
        if (self.requests_per_slot is None) == (self.offered_load is None):
            raise ValueError("give exactly one of requests_per_slot and offered_load")
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
