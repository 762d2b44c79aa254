"""Request-level sampling: individual task latencies consistent with the fluid model.

Given a slot's :class:`~cnc6g.twin.dynamics.SlotOutcome` and the integer request counts, each
request is routed by a multinomial draw over the flows' served shares (the rest is dropped), then
gets latency ``network + Exp(rate)`` plus, with the flow's cold-start probability, a uniform wait
for its instance to start. The means agree with the fluid model by construction; the samples give
request-level p95/p99 and satisfaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.twin.dynamics import SlotOutcome, cold_wait_bounds
from cnc6g.twin.system import BoolArray, FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class RequestSample:
    """Served requests of one or more slots."""

    latency_s: FloatArray  # [R]
    satisfied: BoolArray  # [R]
    origin: IntArray  # [R]
    service: IntArray  # [R]
    offered: int
    dropped: int


def sample_requests(
    outcome: SlotOutcome,
    demand: IntArray,
    deadline_s: FloatArray,
    rng: np.random.Generator,
    copy: int = 0,
) -> RequestSample:
    """Draw the individual requests of copy ``copy`` of a slot.

    Args:
        outcome: the slot's fluid outcome.
        demand: integer requests ``[B, O, S]`` of the slot.
        deadline_s: deadline of each service ``[S]``.
        rng: random generator.
        copy: which copy of the batch.
    """
    counts = demand[copy]  # [O, S]
    served = outcome.flow_served[copy]  # [O, S, K]
    _, S, K = served.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(counts[..., None] > 0, served / np.maximum(counts[..., None], 1), 0.0)
    shares = np.clip(shares, 0.0, 1.0)
    total = shares.sum(axis=-1, keepdims=True)
    shares = np.divide(shares, total, out=shares, where=total > 1.0)
    pvals = np.concatenate([shares, 1.0 - shares.sum(axis=-1, keepdims=True)], axis=-1)
    pvals = np.clip(pvals, 0.0, None)
    pvals /= pvals.sum(axis=-1, keepdims=True)
    drawn = rng.multinomial(counts, pvals)[..., :K]  # [O, S, K]
    per_flow = drawn.ravel()
    idx = np.repeat(np.arange(per_flow.size), per_flow)
    net = outcome.flow_network_s[copy].ravel()[idx]
    rate = outcome.flow_rate[copy].ravel()[idx]
    latency = net + rng.exponential(1.0, size=idx.size) / rate
    cold_p = outcome.flow_cold_fraction[copy].ravel()[idx]
    if cold_p.any():
        t_cold = outcome.flow_cold_start_s[copy].ravel()[idx]
        lo, hi = cold_wait_bounds(t_cold, outcome.slot_s)
        hit = rng.random(idx.size) < cold_p
        latency = latency + hit * (lo + (hi - lo) * rng.random(idx.size))
    service = (idx // K) % S
    origin = idx // (K * S)
    offered = int(counts.sum())
    return RequestSample(
        latency_s=latency,
        satisfied=latency <= deadline_s[service],
        origin=origin,
        service=service,
        offered=offered,
        dropped=offered - int(idx.size),
    )
