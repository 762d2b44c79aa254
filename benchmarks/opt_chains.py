"""OPT on services placed step by step: the MILP's decision against GRD's in the twin.

Run with ``python -m benchmarks.opt_chains [--slots N] [--seed S] [--frame-deadline-ms MS]``.

OPT runs online on the ``xr-offload`` preset (its ``xr-frame`` service places its steps
separately: encode pinned to the terminal, SLAM and gesture, render). At every slot the
decision of OPT's MILP as solved (before the twin check), GRD's decision on the same
observation (a GRD fed the same observations) and the decision OPT applies are scored by the
twin's objective that OPT's twin check uses (starts spread over ``amortise_slots``, removals
charged). Reported: the mean of each score per slot, the slots where the MILP's decision scores
at most GRD's, the share of ``xr-frame``'s demand each decision sends along paths, the number of
path columns, and the solve and build times per slot (median and largest).
``--frame-deadline-ms`` sets ``xr-frame``'s deadline (the preset's 20 ms leaves no path that
can meet it, in the plan or in the twin).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies import GreedyPolicy
from cnc6g.policies.opt.policy import OptimalPolicy
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario


def _sent(decision: Decision, s: int) -> float:
    """Share of service ``s``'s rows sent along paths, averaged over the origins."""
    if decision.path_shares is None:
        return 0.0
    return float(np.asarray(decision.path_shares)[:, s].sum(axis=-1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frame-deadline-ms", type=float, default=None)
    args = ap.parse_args()
    scenario = load_scenario("xr-offload")
    if args.frame_deadline_ms is not None:
        data = scenario.model_dump()
        for svc in data["services"]:
            if svc["name"] == "xr-frame":
                svc["deadline_ms"] = args.frame_deadline_ms
        scenario = type(scenario).model_validate(data)
    system = compile_scenario(scenario)
    frame = system.service_names.index("xr-frame")
    twin = Twin(system, seed=args.seed)
    opt, grd = OptimalPolicy(), GreedyPolicy()
    opt.reset(system, args.seed)
    grd.reset(system, args.seed)
    rows = []
    for _ in range(args.slots):
        obs = twin.observe()
        applied = opt.decide(obs)
        solution = opt.last_solution
        assert solution is not None
        milp, greedy = solution.decision, grd.decide(obs)
        objective = TwinObjective.from_observation(
            system, obs, opt.amortise_slots, opt.removal_weight
        )
        milp_j, grd_j, applied_j = objective.score_all([milp, greedy, applied])
        rows.append(
            {
                "milp": milp_j,
                "grd": grd_j,
                "applied": applied_j,
                "sent_milp": _sent(milp, frame),
                "sent_grd": _sent(greedy, frame),
                "solve_ms": solution.solve_ms,
                "build_ms": solution.build_ms,
                "columns": solution.columns,
            }
        )
        twin.step(applied)

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    deadline = system.deadline_s[frame] * 1e3
    print(f"xr-offload, seed {args.seed}, {args.slots} slots, xr-frame deadline {deadline:g} ms")
    print(f"twin objective, J/slot: MILP {mean('milp'):,.1f}  GRD {mean('grd'):,.1f}  ", end="")
    print(f"OPT applied {mean('applied'):,.1f}")
    at_most = sum(r["milp"] <= r["grd"] * (1 + 1e-9) for r in rows)
    print(f"slots where the MILP's decision scores at most GRD's: {at_most}/{len(rows)}")
    print(f"xr-frame demand sent along paths: MILP {mean('sent_milp'):.1%}  ", end="")
    print(f"GRD {mean('sent_grd'):.1%}")
    solve = [r["solve_ms"] for r in rows]
    build = [r["build_ms"] for r in rows]
    print(f"model columns (median): {statistics.median(r['columns'] for r in rows):.0f}")
    print(f"solve ms/slot: median {statistics.median(solve):.0f}  max {max(solve):.0f}")
    print(f"build ms/slot: median {statistics.median(build):.0f}  max {max(build):.0f}")


if __name__ == "__main__":
    main()
