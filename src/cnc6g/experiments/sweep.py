"""Sweep policies over offered load (the case study of seed 002, Figs. 4 and 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cnc6g.experiments.runner import run_policy
from cnc6g.model import Scenario
from cnc6g.policies import Policy, make_policy
from cnc6g.policies.optimal import SlotInputs, lower_bound
from cnc6g.twin import System, Twin, compile_scenario, requests_for_load

DEFAULT_LOADS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
"""Offered loads L of the case-study sweep."""


def scenario_at_load(scenario: Scenario, load: float) -> Scenario:
    """A copy of ``scenario`` whose workload offers utilisation ``load``."""
    data = scenario.model_dump()
    workload = dict(data["workload"])
    workload.update(requests_per_slot=None, offered_load=load)
    data["workload"] = workload
    return Scenario.model_validate(data)


def window_lower_bound(system: System, slots: int, window: int, seed: int) -> float:
    """Mean over the last ``window`` of ``slots`` slots of a per-slot lower bound, J per slot.

    The twin draws the same demand and channel for a seed whatever the policy does, so one bound
    serves every policy: the LP relaxation of the optimistic slot model (see
    :func:`cnc6g.policies.optimal.lower_bound`) with every hostable instance counted as already
    running, so that no cold start is charged.
    """
    twin = Twin(system, seed=seed)
    idle = np.zeros((1, system.n_services, system.n_nodes), dtype=bool)
    empty = np.zeros((1, system.n_origins, system.n_services, system.n_candidates))
    bounds = []
    for t in range(slots):
        if t >= slots - window:
            inputs = SlotInputs(
                twin.demand[0].astype(float),
                twin.uplink_mbps[0],
                twin.downlink_mbps[0],
                system.can_host,
            )
            bounds.append(lower_bound(system, inputs))
        twin.step_arrays(idle, empty, clean=False)
    return float(np.mean(bounds))


def compare(
    scenario: Scenario,
    policies: Sequence[str | Callable[[], Policy]],
    loads: Sequence[float] = DEFAULT_LOADS,
    slots: int = 200,
    window: int = 50,
    seeds: Sequence[int] = (0,),
    on_slot: Callable[[int], None] | None = None,
    bound: bool = True,
) -> list[dict[str, Any]]:
    """Run every policy at every load and seed; one summary row per run.

    Each row is :meth:`RunResult.summary` over the last ``window`` slots plus the load, the mean
    requests per slot the load maps to and, with ``bound``, ``lp_bound_j_per_slot`` (see
    :func:`window_lower_bound`) and the policy's objective relative to it.
    """
    if window > slots:
        raise ValueError(f"window ({window}) must not exceed slots ({slots})")
    rows: list[dict[str, Any]] = []
    for load in loads:
        at_load = scenario_at_load(scenario, load)
        system = compile_scenario(at_load)
        bounds = (
            {seed: window_lower_bound(system, slots, window, seed) for seed in seeds}
            if bound
            else {}
        )
        for spec in policies:
            for seed in seeds:
                policy = make_policy(spec) if isinstance(spec, str) else spec()
                result = run_policy(policy, system, slots, seed=seed, on_slot=on_slot)
                row = result.summary(window)
                row["load"] = load
                row["requests_mean"] = round(requests_for_load(system, load), 1)
                if bound:
                    row["lp_bound_j_per_slot"] = bounds[seed]
                    row["objective_over_bound"] = row["objective_j_per_slot"] / bounds[seed]
                rows.append(row)
    return rows
