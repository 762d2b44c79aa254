"""OPT by region at scale: time per slot, Lagrangian bound, recovered decision and gap.

Run with ``python -m benchmarks.opt_scale [--sizes 10,20,50,100,200,1000] [--slots N]
[--iterations N] [--region-cells N] [--method auto|lp|lagrangian|master] [--workers W]
[--ray-from CELLS] [--load L] [--json PATH] [--lp-only lp,priced]``.

For each size, a system of the case-study shape (``cells`` cells of a terminal and a MEC
server, a transport DC and a cloud, 30 services; from 20 cells on each origin may use its 16
nearest remote nodes) at offered load ``--load``; the first ``--slots`` slots of seeds 0, 1, ...
(each a fresh twin's first observation, nothing running before) are solved by
:func:`cnc6g.policies.opt.decompose.decompose_slot` on OPT's model without tiers, amortising
starts over 10 slots (OPT's default), its bound from ``--method`` (``auto``: the whole LP
relaxation up to :data:`~cnc6g.policies.opt.decompose.LP_COLUMNS` columns, the subgradient
method above). Reported per size: regions, model columns, the method used, median and largest
wall time per slot (build, bound and recovery), the median bound and
decision objective (J, the optimised objective) and the median and largest relative gap. From
``--ray-from`` cells on the regions are solved by ``--workers`` Ray actors on this machine.
All limits are work (iterations, branch-and-bound nodes), so the figures other than the times
are the same on any machine. ``--lp-only lp,priced`` times only each slot's whole LP relaxation,
by the methods named in turn (``priced``: route pricing), and prints them per size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from cnc6g.policies.opt import SlotInputs
from cnc6g.policies.opt.decompose import (
    DEFAULT_ITERATIONS,
    DEFAULT_NODE_LIMIT,
    DEFAULT_REGION_CELLS,
    METHODS,
    RegionSolver,
    Solver,
    decompose_slot,
    whole_lp,
)
from cnc6g.policies.opt.model import build_model
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario

SIZES = (10, 20, 50, 100, 200, 1000)


def measure(
    cells: int,
    slots: int,
    load: float,
    iterations: int,
    region_cells: int,
    node_limit: int,
    solver: Solver,
    method: str = "auto",
) -> dict[str, Any]:
    """Decompose ``slots`` slots of a ``cells``-cell system; the figures of the size."""
    scenario = synthetic_scenario(
        f"opt-scale-{cells}", n_cells=cells, candidates_per_origin=None if cells <= 10 else 16
    ).at_load(load)
    system = compile_scenario(scenario)
    rows = []
    for seed in range(slots):
        inputs = SlotInputs.from_observation(Twin(system, seed=seed).observe())
        start = time.perf_counter()
        result = decompose_slot(
            system,
            inputs,
            region_cells=region_cells,
            iterations=iterations,
            node_limit=node_limit,
            tiers=(),
            amortise_slots=10.0,
            solver=solver,
            method=method,
        )
        rows.append((time.perf_counter() - start, result))
    results = [r for _, r in rows]
    seconds = [s for s, _ in rows]
    return {
        "cells": cells,
        "regions": results[0].regions,
        "columns": results[0].columns,
        "slots": slots,
        "method": results[0].method,
        "iterations": results[0].iterations,
        "region_cells": region_cells,
        "seconds_p50": statistics.median(seconds),
        "seconds_max": max(seconds),
        "bound_s_p50": statistics.median(r.bound_ms / 1e3 for r in results),
        "recovery_s_p50": statistics.median(r.primal_ms / 1e3 for r in results),
        "bound_j_p50": statistics.median(r.bound for r in results),
        "decision_j_p50": statistics.median(r.optimised for r in results),
        "gap_p50": statistics.median(r.gap for r in results),
        "gap_max": max(r.gap for r in results),
        "violation_max": max(r.violation for r in results),
    }


def lp_times(cells: int, slots: int, load: float, methods: list[str]) -> dict[str, Any]:
    """The whole LP of each slot alone, by each of ``methods`` in turn (``lp``, ``priced``)."""
    scenario = synthetic_scenario(
        f"opt-scale-{cells}", n_cells=cells, candidates_per_origin=None if cells <= 10 else 16
    ).at_load(load)
    system = compile_scenario(scenario)
    out: dict[str, Any] = {"cells": cells, "slots": slots}
    for seed in range(slots):
        inputs = SlotInputs.from_observation(Twin(system, seed=seed).observe())
        built = build_model(system, inputs, (), amortise_slots=10.0)
        for method in methods:
            start = time.perf_counter()
            bound, _ = whole_lp(system, inputs, built, priced=method == "priced")
            out.setdefault(f"{method}_s", []).append(time.perf_counter() - start)
            out.setdefault(f"{method}_bound_j", []).append(bound)
    return out


def main() -> None:
    """Print the scale curve (and write it as JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--load", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--region-cells", type=int, default=DEFAULT_REGION_CELLS)
    parser.add_argument("--node-limit", type=int, default=DEFAULT_NODE_LIMIT)
    parser.add_argument("--method", default="auto", choices=METHODS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ray-from", type=int, default=200, help="cells from which Ray is used")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--lp-only",
        help="time only the whole LP of each slot by these methods in turn (e.g. lp,priced)",
    )
    args = parser.parse_args()
    if args.lp_only:
        for cells in (int(c) for c in args.sizes.split(",")):
            times = lp_times(cells, args.slots, args.load, args.lp_only.split(","))
            print(json.dumps(times), flush=True)
        return
    rows = []
    for cells in (int(c) for c in args.sizes.split(",")):
        solver: Solver = RegionSolver
        if cells >= args.ray_from:
            from cnc6g.policies.opt.decompose_ray import ray_solver

            solver = ray_solver(args.workers)
        row = measure(
            cells,
            args.slots,
            args.load,
            args.iterations,
            args.region_cells,
            args.node_limit,
            solver,
            args.method,
        )
        row["ray_workers"] = args.workers if cells >= args.ray_from else 0
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:  # keep what is done should a larger size not finish
            args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
