"""Run a policy on the twin for a number of slots and summarise what happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnc6g.model import Scenario
from cnc6g.policies.base import Policy, feasibility_problems
from cnc6g.twin import ENERGY_PARTS, System, Twin, compile_scenario, sample_requests
from cnc6g.twin.system import FloatArray, load_for_requests

ProgressHook = Callable[[int], None]


class InfeasibleDecisionError(RuntimeError):
    """A policy returned a decision that breaks the system's constraints."""


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

    def summary(self, window: int | None = None) -> dict[str, Any]:
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
        out: dict[str, Any] = {
            "policy": self.policy,
            "scenario": self.scenario,
            "seed": self.seed,
            "load": round(self.load, 4),
            "slots": n,
            "offered_per_slot": float(offered.mean()),
            "energy_j_per_slot": float(energy.mean()),
            "energy_j_min": float(energy.min()),
            "energy_j_max": float(energy.max()),
            "satisfaction_rate": float(self.satisfied[sl].sum() / total),
            "satisfaction_min": float(rate.min()),
            "satisfaction_max": float(rate.max()),
            "dropped_rate": float((offered - self.served[sl]).sum() / total),
            "objective_j_per_slot": float(objective.mean()),
            "energy_j_per_satisfied_task": float(energy.sum() / max(self.satisfied[sl].sum(), 1)),
            "latency_p50_ms": float(pct[0]),
            "latency_p95_ms": float(pct[1]),
            "latency_p99_ms": float(pct[2]),
            "cold_starts_per_slot": float(self.cold_starts[sl].mean()),
            "instances_per_slot": float(self.instances[sl].mean()),
            "decide_ms_p50": float(np.median(self.decide_s[sl]) * 1e3),
        }
        if self.sampled_satisfied:
            out["satisfaction_rate_sampled"] = float(sum(self.sampled_satisfied[sl]) / total)
        for part in ENERGY_PARTS:
            out[f"energy_{part}_j"] = float(self.energy[part][sl].mean())
        infos = self.policy_info[sl]
        for key in sorted({k for info in infos for k in info}):
            values = np.array([info[key] for info in infos if key in info])
            finite = values[np.isfinite(values)]  # a solver without a solution reports inf
            out[f"{key}_p50"] = float(np.median(values)) if finite.size == values.size else None
            out[f"{key}_max"] = float(values.max()) if finite.size == values.size else None
        return out


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
        check: stop with :class:`InfeasibleDecisionError` on an infeasible decision.
        on_slot: called with the slot index after every slot (progress bars).
    """
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    system = scenario if isinstance(scenario, System) else compile_scenario(scenario)
    twin = Twin(system, batch=1, seed=seed)
    sampler_rng = np.random.default_rng([seed, 1])
    policy.reset(system, seed)
    rows: dict[str, list[float]] = {
        k: [] for k in ("offered", "served", "satisfied", "cold", "inst", "t")
    }
    energy: dict[str, list[float]] = {p: [] for p in ENERGY_PARTS}
    latencies: list[FloatArray] = []
    sampled: list[int] = []
    infos: list[dict[str, float]] = []
    demand_sum = 0.0
    for t in range(slots):
        obs = twin.observe()
        start = time.perf_counter()
        decision = policy.decide(obs)
        rows["t"].append(time.perf_counter() - start)
        infos.append(policy.info())
        if check:
            problems = feasibility_problems(system, decision)
            if problems:
                raise InfeasibleDecisionError(f"{policy.name} slot {t}: " + "; ".join(problems[:3]))
        demand = twin.demand.copy()
        outcome = twin.step(decision)
        policy.feedback(obs, decision, outcome)
        demand_sum += float(demand.sum())
        rows["offered"].append(float(outcome.offered[0]))
        rows["served"].append(float(outcome.served[0]))
        rows["satisfied"].append(float(outcome.satisfied[0]))
        rows["cold"].append(float(outcome.cold_starts[0]))
        rows["inst"].append(float(outcome.instances[0]))
        for p in ENERGY_PARTS:
            energy[p].append(float(outcome.energy[p][0]))
        if sample:
            req = sample_requests(outcome, demand, system.deadline_s, sampler_rng)
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
