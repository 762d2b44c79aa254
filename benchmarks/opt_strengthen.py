"""How much the rows of :mod:`cnc6g.policies.opt.strengthen` lift OPT's relaxation.

Run with ``python -m benchmarks.opt_strengthen [--sizes 10,20] [--seeds N] [--root-nodes N]``.

For each size and seed, the first slot of a system of the scale curve's shape
(:mod:`benchmarks.opt_scale`: L = 1.0, from 20 cells 16 candidates per origin, no tiers,
starts amortised over 10 slots) is built with and without the rows; reported are the rows of
each and the instances, both LP relaxations, and HiGHS's dual bound and best point after
``--root-nodes`` branch-and-bound nodes of the whole MILP on each (a node limit, so the
figures are the same on any machine; 0 leaves the MILP out).
"""

from __future__ import annotations

import argparse
import json

from cnc6g.policies.opt import SlotInputs, strengthen
from cnc6g.policies.opt.highs import new_solver
from cnc6g.policies.opt.model import build_model
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import System, Twin, compile_scenario


def solve(system: System, inputs: SlotInputs, relax: bool, nodes: int) -> tuple[float, float]:
    """The model's optimum value found and HiGHS's dual bound (the LP's value twice if relaxed)."""
    built = build_model(system, inputs, (), amortise_slots=10.0)
    lp, _ = built.model.to_lp(relax=relax)
    h = new_solver(1e9, 0.0, None if relax else nodes)
    if relax:
        h.setOptionValue("solver", "ipm")
    h.passModel(lp)
    h.run()
    info = h.getInfo()
    value = float(info.objective_function_value)
    return value, value if relax else float(info.mip_dual_bound)


def main() -> None:
    """Print one JSON row per size and seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,20")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--root-nodes", type=int, default=1)
    args = parser.parse_args()
    for cells in (int(c) for c in args.sizes.split(",")):
        scenario = synthetic_scenario(
            f"opt-scale-{cells}", n_cells=cells, candidates_per_origin=None if cells <= 10 else 16
        ).at_load(1.0)
        system = compile_scenario(scenario)
        for seed in range(args.seeds):
            inputs = SlotInputs.from_observation(Twin(system, seed=seed).observe())
            row: dict[str, float | int] = {"cells": cells, "seed": seed}
            for enabled in (False, True):
                strengthen.ENABLED = enabled
                built = build_model(system, inputs, (), amortise_slots=10.0)
                row["rows_strong" if enabled else "rows_plain"] = built.model.n_rows
            row["instances"] = int(built.x.size)
            for name, enabled in (("plain", False), ("strong", True)):
                strengthen.ENABLED = enabled
                row[f"{name}_lp_j"] = solve(system, inputs, True, 0)[0]
                if args.root_nodes > 0:
                    best, dual = solve(system, inputs, False, args.root_nodes)
                    row[f"{name}_root_bound_j"] = dual
                    row[f"{name}_root_best_j"] = best
            strengthen.ENABLED = True
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
