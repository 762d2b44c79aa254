"""Modal-level QoS: the streams of one AI session share a radio link by priority and budget.

Seed 003 (differentiated assurance for multimodal interaction) asks the network to tell apart
the parallel streams of one service (audio, video, control, other data), each with its own
importance, volume, latency and reliability, and to give the critical ones their resources first
instead of one best-effort pipe. :func:`allocate` shares a link's capacity this way:

1. priority classes in order (0 first) each get the rate their streams' latency budgets need,
   ``max(rate demand, frame bits / budget)``, while capacity is left;
2. a class that cannot get all of it shares what is left in proportion to its streams' weights,
   none above its need (streams short of it are reported as missing their budget); the classes
   after it get nothing; capacity no stream needs stays free for other sessions;
3. a frame's delay is its bits over the stream's rate; a stream is met when that is within its
   budget and it got its demanded rate.

:func:`best_effort` is the one-pipe baseline: equal shares (processor sharing), regardless of
priority. Both are pure and vectorised over the streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.ai.profiles import FloatArray


@dataclass(frozen=True)
class Stream:
    """One modal stream of a session."""

    name: str
    rate_mbps: float
    """Sustained rate it sends."""
    frame_mbit: float
    """Size of one frame (a unit the receiver needs whole: an audio chunk, a video frame)."""
    budget_s: float
    """Latency budget of one frame over this link."""
    priority: int = 1
    """0 is served first (control, teleoperation), larger later."""
    weight: float = 1.0
    """Share of the leftover capacity relative to the others."""


@dataclass(frozen=True)
class Allocation:
    """Rates given to the streams and whether each is met."""

    rate_mbps: FloatArray
    delay_s: FloatArray
    """Time to send one frame at the given rate."""
    met: np.ndarray
    """Within budget and at its demanded rate."""


def _arrays(streams: list[Stream]) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    if not streams:
        raise ValueError("give at least one stream")
    for s in streams:
        if not (s.rate_mbps >= 0 and s.frame_mbit >= 0 and s.budget_s > 0 and s.weight > 0):
            raise ValueError(f"stream {s.name!r}: rates and sizes >= 0, budget and weight > 0")
    demand = np.array([s.rate_mbps for s in streams])
    frame = np.array([s.frame_mbit for s in streams])
    budget = np.array([s.budget_s for s in streams])
    weight = np.array([s.weight for s in streams])
    return demand, frame, budget, weight


def _outcome(
    rate: FloatArray, demand: FloatArray, frame: FloatArray, budget: FloatArray
) -> Allocation:
    delay = np.divide(frame, rate, out=np.full_like(frame, np.inf), where=rate > 0)
    delay = np.where(frame == 0, 0.0, delay)
    met = (delay <= budget * (1 + 1e-9)) & (rate >= demand * (1 - 1e-9))
    return Allocation(rate_mbps=rate, delay_s=delay, met=met)


def allocate(streams: list[Stream], capacity_mbps: float) -> Allocation:
    """Share ``capacity_mbps`` among ``streams`` by priority and budget (see the module)."""
    demand, frame, budget, weight = _arrays(streams)
    if not capacity_mbps >= 0:
        raise ValueError("capacity_mbps must be >= 0")
    need = np.maximum(demand, frame / budget)
    rate = np.zeros(len(streams))
    left = float(capacity_mbps)
    priority = np.array([s.priority for s in streams])
    for level in np.unique(priority):  # ascending: 0 first
        members = priority == level
        rate[members] = _water_fill(need * members, weight * members, left)[members]
        left -= float(rate[members].sum())
    return _outcome(rate, demand, frame, budget)


def _water_fill(cap: FloatArray, weight: FloatArray, amount: float) -> FloatArray:
    """Share ``amount`` by ``weight``, none above its ``cap`` (a capped one's rest goes on)."""
    got = np.zeros_like(cap)
    for _ in range(len(cap)):
        open_ = (cap - got > 1e-12) & (weight > 0)
        if amount <= 1e-12 or not open_.any():
            break
        give = np.minimum(amount * weight * open_ / (weight * open_).sum(), cap - got)
        got += give
        amount -= float(give.sum())
    return got


def best_effort(streams: list[Stream], capacity_mbps: float) -> Allocation:
    """Equal shares of ``capacity_mbps``, capped at each stream's need, the rest shared again."""
    demand, frame, budget, _ = _arrays(streams)
    need = np.maximum(demand, frame / budget)
    rate = np.zeros(len(streams))
    left = float(capacity_mbps)
    for _ in range(len(streams)):
        open_ = need - rate > 1e-12
        if left <= 1e-12 or not open_.any():
            break
        give = np.minimum(left / open_.sum() * open_, need - rate)
        rate += give
        left -= float(give.sum())
    return _outcome(rate, demand, frame, budget)
