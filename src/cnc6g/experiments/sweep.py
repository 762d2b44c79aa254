"""Sweep policies over offered load (the case study of seed 002, Figs. 4 and 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cnc6g.experiments.runner import run_policy
from cnc6g.model import Scenario
from cnc6g.policies import Policy, make_policy
from cnc6g.twin import compile_scenario, requests_for_load

DEFAULT_LOADS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
"""Offered loads L of the case-study sweep."""


def scenario_at_load(scenario: Scenario, load: float) -> Scenario:
    """A copy of ``scenario`` whose workload offers utilisation ``load``."""
    data = scenario.model_dump()
    workload = dict(data["workload"])
    workload.update(requests_per_slot=None, offered_load=load)
    data["workload"] = workload
    return Scenario.model_validate(data)


def compare(
    scenario: Scenario,
    policies: Sequence[str | Callable[[], Policy]],
    loads: Sequence[float] = DEFAULT_LOADS,
    slots: int = 200,
    window: int = 50,
    seeds: Sequence[int] = (0,),
    on_slot: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every policy at every load and seed; one summary row per run.

    Each row is :meth:`RunResult.summary` over the last ``window`` slots plus the load and the
    mean requests per slot the load maps to.
    """
    if window > slots:
        raise ValueError(f"window ({window}) must not exceed slots ({slots})")
    rows: list[dict[str, Any]] = []
    for load in loads:
        at_load = scenario_at_load(scenario, load)
        system = compile_scenario(at_load)
        for spec in policies:
            for seed in seeds:
                policy = make_policy(spec) if isinstance(spec, str) else spec()
                result = run_policy(policy, system, slots, seed=seed, on_slot=on_slot)
                row = result.summary(window)
                row["load"] = load
                row["requests_mean"] = round(requests_for_load(system, load), 1)
                rows.append(row)
    return rows
