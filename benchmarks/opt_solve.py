"""OPT's solve time per slot, and how it grows with the system.

Run with ``python -m benchmarks.opt_solve [--slots N] [--time-limit S] [--sizes 10,20]
[--json PATH]``.

For each size (10, 20, 50 and 100 cells of the case-study shape, 30 services; from 20 cells on each
origin may use its 16 nearest remote nodes) OPT runs online for ``--slots`` slots at the highest
load of the sweep (L = 1.2) on the always-on variant of the system (no node sleeps: the benchmark of
the research note) and on the system as shipped (MEC servers may sleep). Reported per size: the
model's size; median model-build and solve time per slot and the median time of each solve phase
(the LP relaxation; RENS, the MILP over the binaries the relaxation leaves fractional; the
reduced-cost neighbourhood, the MILP with only the binaries costliest to move fixed; HiGHS's branch
and cut from the best point while the gap is open, with the binaries whose reduced cost exceeds the
gap fixed; the LP completion of the given deployments where nothing was found in time); the median
and largest relative gap to the bound, the slots that hit the time limit, the share that closed the
gap to 0.1 % and the share that did so within 1 s; OPT's twin objective beside GRD's on the same
slots (kJ per slot), with the share of slots where OPT's is lower; and how far the plan's cost of
each decision lies above the twin's score of it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnc6g.experiments import run_policy
from cnc6g.model import Scenario
from cnc6g.policies import GreedyPolicy, OptimalPolicy
from cnc6g.policies.opt import PHASES, SlotInputs, build_model
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario

SIZES = (10, 20, 50, 100)


def always_on(scenario: Scenario) -> Scenario:
    """The same system with no node able to sleep."""
    data = scenario.model_dump()
    for domain in data["domains"]:
        for node in domain["nodes"]:
            node["sleep_power_w"] = None
    return Scenario.model_validate(data)


def measure(cells: int, sleep: bool, slots: int, time_limit: float) -> dict[str, Any]:
    """OPT online for ``slots`` slots at L = 1.2 on ``cells`` cells."""
    scenario = synthetic_scenario(
        f"opt-bench-{cells}", n_cells=cells, candidates_per_origin=None if cells <= 10 else 16
    )
    scenario = scenario.at_load(1.2)
    if not sleep:
        scenario = always_on(scenario)
    system = compile_scenario(scenario)
    built = build_model(system, SlotInputs.from_observation(Twin(system, seed=0).observe()))
    policy = OptimalPolicy(time_limit=time_limit, mip_rel_gap=1e-3)
    start = time.perf_counter()
    result = run_policy(policy, system, slots, seed=0, sample=False)
    wall = time.perf_counter() - start
    greedy = run_policy(GreedyPolicy(), system, slots, seed=0, sample=False)
    info = result.policy_info
    gaps = [i["opt_gap"] for i in info]
    beta = system.unsatisfied_penalty_j
    opt_j = list(result.energy_total + beta * (result.offered - result.satisfied))
    grd_j = list(greedy.energy_total + beta * (greedy.offered - greedy.satisfied))
    # the plan's cost over the twin's score, where the solver's own decision was applied (the
    # twin check may apply GRD's or the previous one instead)
    own = [
        i["opt_twin_kept_grd"] + i["opt_twin_kept_previous"] == 0
        and np.isfinite(i["opt_objective_j"])
        for i in info
    ]
    excess = [
        i["opt_objective_j"] / t - 1.0 for i, t, o in zip(info, opt_j, own, strict=True) if o
    ] or [float("nan")]
    row: dict[str, Any] = {
        "cells": cells,
        "nodes": system.n_nodes,
        "sleep": sleep,
        "columns": built.model.n_cols,
        "rows": built.model.n_rows,
        "integers": int(built.integers.size),
        "build_ms_p50": statistics.median(i["opt_build_ms"] for i in info),
        "solve_ms_p50": statistics.median(i["opt_solve_ms"] for i in info),
        "solve_ms_max": max(i["opt_solve_ms"] for i in info),
    }
    for phase in PHASES:
        row[f"{phase}_ms_p50"] = statistics.median(i[f"opt_{phase}_ms"] for i in info)
    row |= {
        "gap_p50": statistics.median(gaps),
        "gap_max": max(gaps),
        "time_limit_hits": int(sum(i["opt_time_limit_hit"] for i in info)),
        "closed": sum(g <= 1e-3 for g in gaps) / slots,
        "closed_within_1s": sum(
            g <= 1e-3 and i["opt_solve_ms"] <= 1e3 for g, i in zip(gaps, info, strict=True)
        )
        / slots,
        "slots": slots,
        "time_limit_s": time_limit,
        "wall_s": wall,
        "opt_kj": statistics.mean(opt_j) / 1e3,
        "grd_kj": statistics.mean(grd_j) / 1e3,
        "opt_below_grd": sum(o < g for o, g in zip(opt_j, grd_j, strict=True)) / slots,
        # the plan's cost of its decision over the twin's score of it, minus 1 (>= 0: the plan
        # is an upper bound)
        "solver_decision_applied": int(sum(own)),
        "plan_over_twin_p50": statistics.median(excess),
        "plan_over_twin_min": min(excess),
        "plan_over_twin_max": max(excess),
    }
    return row


def main() -> None:
    """Print the table (and write it as JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=12)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--variants", default="on,sleep", help="always-on, with sleep, or both")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = [
        measure(int(cells), sleep, args.slots, args.time_limit)
        for cells in args.sizes.split(",")
        for sleep in (v == "sleep" for v in args.variants.split(","))
    ]
    table = Table(title=f"OPT per slot at L = 1.2 ({args.slots} slots, limit {args.time_limit} s)")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(width=400).print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
