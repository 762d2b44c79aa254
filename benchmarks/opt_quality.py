"""OPT's decision quality against exhaustive search in the twin, on random tiny slots.

Run with ``python -m benchmarks.opt_quality [--slots N] [--families tight,loose]
[--amortise A] [--removal-weight W] [--json PATH]``.

Each slot is a random scenario of 1-2 cells and 2-3 services
(:func:`~cnc6g.scenarios.synthetic.tiny_slot_scenario`, seeds 0..N-1 per family) observed at its
first slot, with a random previous deployment (so that some instances are warm and new ones meet
cold starts). Every decision is scored by the twin's expected objective of the slot
(:class:`~cnc6g.policies.opt.twin_objective.TwinObjective`; by default the slot's own objective:
``--amortise 1 --removal-weight 0``). Compared: the MILP's decision (``milp``), the same decision
with its routing and deployment neighbours refined against the twin (``refined``), and the
exhaustive search (``exhaustive``: every deployment with every routing on a grid of halves, then
a pattern search and the routing refinement from the three best grid routings of the best four
deployments and of the MILP's). Reported per
family: the share of slots within 0.1 % of the best found, the share within 2 %, the median and
worst excess, and the time per slot of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnc6g.policies.opt import SlotInputs, solve_slot
from cnc6g.policies.opt.exhaustive import exhaustive_search
from cnc6g.policies.opt.refine import refine_decision
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.scenarios.synthetic import tiny_slot_scenario
from cnc6g.twin import System, Twin, compile_scenario


def tiny_slot(seed: int, family: str) -> tuple[System, SlotInputs]:
    """System and inputs of tiny slot ``seed`` of ``family``, a random previous deployment."""
    system = compile_scenario(tiny_slot_scenario(seed, family))
    obs = Twin(system, seed=seed).observe()
    rng = np.random.default_rng(10_000 + seed)
    previous = system.can_host & (rng.random(system.can_host.shape) < 0.4)
    for n in range(system.n_nodes):  # drop instances until the node's memory fits
        while (previous[:, n] * system.service_memory).sum() > system.memory[n] + 1e-9:
            previous[np.flatnonzero(previous[:, n])[-1], n] = False
    inputs = SlotInputs(
        np.asarray(obs.demand, dtype=float), obs.uplink_mbps, obs.downlink_mbps, previous
    )
    return system, inputs


def measure_slot(seed: int, family: str, amortise: float, removal: float) -> dict[str, Any]:
    """Each method's twin objective on one tiny slot, and its time."""
    system, inputs = tiny_slot(seed, family)
    objective = TwinObjective(system, inputs, amortise, removal)
    t0 = time.perf_counter()
    milp = solve_slot(
        system, inputs, amortise_slots=amortise, removal_weight=removal, mip_rel_gap=0.0
    )
    t1 = time.perf_counter()
    refined = refine_decision(objective, milp.decision)
    t2 = time.perf_counter()
    reference = exhaustive_search(objective, also=[np.asarray(milp.decision.deployment)])
    t3 = time.perf_counter()
    values = {
        "milp": refined.start_objective,
        "refined": refined.objective,
        "exhaustive": reference.objective,
    }
    best = min(values.values())
    return {
        "seed": seed,
        "family": family,
        "shape": [system.n_origins, system.n_services],
        **{f"{k}_j": v for k, v in values.items()},
        **{f"{k}_excess": v / best - 1.0 for k, v in values.items()},
        "refine_source": refined.source,
        "refine_evaluations": refined.evaluations,
        "milp_ms": (t1 - t0) * 1e3,
        "refine_ms": (t2 - t1) * 1e3,
        "exhaustive_ms": (t3 - t2) * 1e3,
        "deployments": reference.deployments,
    }


def summary(rows: list[dict[str, Any]], method: str) -> dict[str, float]:
    """Share within 0.1 % and 2 % of the best, median and worst excess of ``method``."""
    ex = [r[f"{method}_excess"] for r in rows]
    return {
        "within_0.1%": float(np.mean([e <= 1e-3 for e in ex])),
        "within_2%": float(np.mean([e <= 2e-2 for e in ex])),
        "median": float(statistics.median(ex)),
        "worst": float(max(ex)),
    }


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slots", type=int, default=40)
    p.add_argument("--families", default="tight,loose")
    p.add_argument("--amortise", type=float, default=1.0)
    p.add_argument("--removal-weight", type=float, default=0.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    rows = []
    print(
        "| family | slots | method | within 0.1 % | within 2 % | median excess | worst "
        "| ms/slot (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for family in args.families.split(","):
        fam = [
            measure_slot(seed, family, args.amortise, args.removal_weight)
            for seed in range(args.slots)
        ]
        rows.extend(fam)
        for method, ms in (
            ("milp", "milp_ms"),
            ("refined", "refine_ms"),
            ("exhaustive", "exhaustive_ms"),
        ):
            s = summary(fam, method)
            t = statistics.median(r[ms] for r in fam)
            print(
                f"| {family} | {len(fam)} | {method} | {s['within_0.1%']:.0%} "
                f"| {s['within_2%']:.0%} "
                f"| {s['median']:.3%} | {s['worst']:.2%} | {t:.0f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
