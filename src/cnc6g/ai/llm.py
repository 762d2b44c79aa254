"""LLM requests: prefill and decode on different tiers, routing between a small and a large model.

**Disaggregation** (Splitwise, ISCA 2024; DistServe, OSDI 2024). A request's prompt is prefilled
on one tier and its tokens decoded on another; the prefill's key/value cache (KV bytes per token x
prompt, at the prefill tier's precision) then moves between them over the links (uplink or
downlink, and the wired path). Time to first token is the prompt's trip to the prefill tier, the
prefill and the first token's trip back; the request's time adds the KV transfer, every decode
step on the decode tier and the last token's trip back. A tier whose memory cannot hold the
model's weights (at its precision) is ruled out. :func:`disaggregate` prices all nine pairs.

**Routing** (Hybrid LLM, ICLR 2024; RouteLLM, 2024). A request states the quality it needs; it
goes to the terminal's small model when that model's quality score reaches it, else to the
network's large model at its best plan. The scores are published MMLU (5-shot) results of the
base models (:data:`QUALITY`), a stand-in for a per-query quality predictor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnc6g.ai.processors import TIERS, Processor, block_costs
from cnc6g.ai.profiles import BoolArray, FloatArray, ModelProfile
from cnc6g.ai.split import MBIT, Network, Objective

QUALITY: dict[str, float] = {
    "qwen2.5-0.5b": 47.5,
    "llama-3.2-3b": 58.0,
    "llama-2-7b": 45.3,
    "llama-2-70b": 68.9,
}
"""MMLU 5-shot of the base models: Qwen2.5 technical report (2024), Meta's Llama 3.2 model card
(2024), Llama 2 paper (Touvron et al., 2023)."""


@dataclass(frozen=True)
class LlmPlan:
    """Where one request's prefill and decode run, and what that costs."""

    prefill: str
    decode: str
    ttft_s: float
    tpot_s: float
    total_s: float
    kv_bytes: float
    """Key/value cache moved from the prefill tier to the decode tier (0 when they agree)."""
    energy_j: float
    """Terminal energy."""
    network_gpu_s: float
    """Seconds of edge and cloud processors the request takes."""
    feasible: bool
    """Both tiers can hold the weights."""


def _link_seconds(
    bytes_: float, lo: int, hi: int, up: bool, links: dict[str, float]
) -> tuple[float, float]:
    """(seconds, radio air time) to move ``bytes_`` between tiers ``lo < hi`` up or down."""
    seconds = air = 0.0
    for link in range(lo, hi):
        if link == 0:
            rate = links["uplink_mbps"] if up else links["downlink_mbps"]
            air = 8.0 * bytes_ / (rate * MBIT)
            seconds += air + links["radio_delay_s"]
        else:
            seconds += 8.0 * bytes_ / (links["wired_mbps"] * MBIT) + links["wired_delay_s"]
    return seconds, air


def disaggregate(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    decode_steps: int | None = None,
) -> list[LlmPlan]:
    """Every (prefill tier, decode tier) plan of one request of a decoder LLM."""
    if not profile.loop.any():
        raise ValueError(f"{profile.name} has no decode loop")
    steps = profile.decode_steps if decode_steps is None else decode_steps
    arr = net.arrays(1)
    links = {k: float(v[0]) for k, v in arr.items()}
    costs = [block_costs(profile, p, steps) for p in tiers]
    fits = [c.weight_bytes <= p.memory_bytes for c, p in zip(costs, tiers, strict=True)]
    prompt_tokens = profile.table.prompt_tokens
    kv_per_token = float(profile.kv_bytes_per_token.sum())
    token = 4.0  # bytes of one generated token id
    plans = []
    for p in range(3):
        for d in range(3):
            prefill = float(costs[p].prefill_s.sum())
            tpot = float(costs[d].step_s.sum())
            prompt_s, prompt_air = _link_seconds(profile.input_bytes, 0, p, True, links)
            back_p, back_p_air = _link_seconds(token, 0, p, False, links)
            back_d, _ = _link_seconds(token, 0, d, False, links)
            kv = kv_per_token * prompt_tokens * tiers[p].act_bits / 32.0 if p != d else 0.0
            kv_s, kv_air = _link_seconds(kv, min(p, d), max(p, d), d > p, links)
            ttft = prompt_s + prefill + back_p
            total = prompt_s + prefill + kv_s + steps * tpot + back_d
            term_compute = (prefill if p == 0 else 0.0) + (steps * tpot if d == 0 else 0.0)
            energy = tiers[0].active_w * term_compute + net.tx_w * prompt_air
            energy += (net.tx_w if d > p else net.rx_w) * kv_air if p == 0 or d == 0 else 0.0
            energy += net.rx_w * back_p_air * (steps + 1 if d > 0 else 1) if p > 0 or d > 0 else 0
            energy += net.wait_w * max(total - term_compute, 0.0)
            gpu = (prefill if p > 0 else 0.0) + (steps * tpot if d > 0 else 0.0)
            plans.append(
                LlmPlan(
                    prefill=TIERS[p],
                    decode=TIERS[d],
                    ttft_s=ttft,
                    tpot_s=tpot,
                    total_s=total,
                    kv_bytes=kv,
                    energy_j=energy,
                    network_gpu_s=gpu,
                    feasible=fits[p] and fits[d],
                )
            )
    return plans


def best_plan(
    plans: Sequence[LlmPlan],
    objective: Objective = "latency",
    deadline_s: float = np.inf,
) -> LlmPlan:
    """The feasible plan of least total time, or of least terminal energy within the deadline.

    With none within the deadline, the one of least total time.
    """
    ok = [p for p in plans if p.feasible]
    if not ok:
        raise ValueError("no tier can hold the model")
    if objective == "energy":
        timely = [p for p in ok if p.total_s <= deadline_s]
        if timely:
            return min(timely, key=lambda p: (p.energy_j, p.total_s))
    return min(ok, key=lambda p: (p.total_s, p.energy_j))


@dataclass(frozen=True)
class Routing:
    """Requests routed between a small terminal model and a large network model."""

    to_small: BoolArray
    latency_s: FloatArray
    energy_j: FloatArray
    network_gpu_s: FloatArray
    quality_met: BoolArray


def route(
    small: ModelProfile,
    large: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    required: FloatArray,
    quality: dict[str, float] | None = None,
) -> Routing:
    """Route each request (its required quality in ``required``) by the quality threshold."""
    scores = QUALITY if quality is None else quality
    q_small, q_large = scores[small.name], scores[large.name]
    local = next(p for p in disaggregate(small, tiers, net) if p.prefill == p.decode == "terminal")
    if not local.feasible:
        raise ValueError(f"{small.name} does not fit the terminal")
    remote = best_plan([p for p in disaggregate(large, tiers, net) if p.prefill != "terminal"])
    req = np.asarray(required, dtype=float)
    to_small = q_small >= req
    latency = np.where(to_small, local.total_s, remote.total_s)
    energy = np.where(to_small, local.energy_j, remote.energy_j)
    gpu = np.where(to_small, 0.0, remote.network_gpu_s)
    met = np.where(to_small, True, q_large >= req)
    return Routing(to_small, latency, energy, gpu, met)
