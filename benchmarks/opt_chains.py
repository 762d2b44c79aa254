"""OPT on services placed step by step: the MILP's decision against GRD's in the twin.

Run with ``python -m benchmarks.opt_chains [--slots N] [--seed S] [--frame-deadline-ms MS]``.

OPT runs online on the ``xr-offload`` preset (its ``xr-frame`` service places its steps
separately: encode pinned to the terminal, SLAM and gesture, render). At every slot the
decision of OPT's MILP as solved (before the twin check), GRD's decision on the same
observation (a GRD fed the same observations) and the decision OPT applies are scored by the
twin's objective that OPT's twin check uses (starts spread over ``amortise_slots``, removals
charged). Reported: the mean of each score per slot, the slots where the MILP's decision scores
at most GRD's, the share of ``xr-frame``'s demand each decision sends along paths and the share
of its requests the twin expects satisfied, the least failure bound of any of its plan paths
(every node at the tightest tier), the number of columns, and the solve and build times per
slot (median and largest).
``--frame-deadline-ms`` sets ``xr-frame``'s deadline (the preset's 20 ms leaves no path that
can meet it, in the plan or in the twin).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies import GreedyPolicy
from cnc6g.policies.opt.model import SlotInputs, build_model
from cnc6g.policies.opt.policy import OptimalPolicy
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.scenarios import load_scenario
from cnc6g.twin import System, Twin, compile_scenario
from cnc6g.twin.dynamics import evaluate_slot
from cnc6g.twin.twin import stack_paths


def _sent(decision: Decision, s: int) -> float:
    """Share of service ``s``'s rows sent along paths, averaged over the origins."""
    if decision.path_shares is None:
        return 0.0
    return float(np.asarray(decision.path_shares)[:, s].sum(axis=-1).mean())


def _satisfied(system: System, obs: Observation, decision: Decision, s: int) -> float:
    """Share of service ``s``'s requests the twin expects satisfied under ``decision``."""
    paths, shares = stack_paths(system, [decision])
    out = evaluate_slot(
        system,
        obs.demand[None].astype(float),
        obs.uplink_mbps[None],
        obs.downlink_mbps[None],
        np.asarray(decision.deployment)[None],
        obs.deployment[None],
        decision.routing[None],
        paths=paths,
        path_shares=shares,
    )
    ch = out.chains
    if ch is None:
        return 0.0
    mine = ch.flows.service == s
    return float(ch.satisfied[mine].sum() / max(obs.demand[:, s].sum(), 1))


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
        pp = build_model(system, SlotInputs.from_observation(obs)).paths
        assert pp is not None
        mine = pp.service == frame
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
                "least_fail": float(pp.fail[mine, -1].min()) if mine.any() else 1.0,
                "sat_grd": _satisfied(system, obs, greedy, frame),
                "sat_milp": _satisfied(system, obs, milp, frame),
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
    print(f"xr-frame requests satisfied in the twin: MILP {mean('sat_milp'):.2%}  ", end="")
    print(f"GRD {mean('sat_grd'):.2%}")
    least = min(r["least_fail"] for r in rows)
    print(f"least failure bound of an xr-frame path at the tightest tier: {least:.3f}")
    solve = [r["solve_ms"] for r in rows]
    build = [r["build_ms"] for r in rows]
    print(f"model columns (median): {statistics.median(r['columns'] for r in rows):.0f}")
    print(f"solve ms/slot: median {statistics.median(solve):.0f}  max {max(solve):.0f}")
    print(f"build ms/slot: median {statistics.median(build):.0f}  max {max(build):.0f}")


if __name__ == "__main__":
    main()
