"""OPT by region on services placed step by step: its gap and decision against OPT's MILP.

Run with ``python -m benchmarks.opt_regions_chains [--scenario NAME] [--slots N] [--seed S]
[--region-cells C] [--deadline-ms MS]``.

OPT runs online on the preset (default ``xr-offload``); at every slot the same inputs are also
solved by region (:func:`~cnc6g.policies.opt.decompose.decompose_slot`, every ``C`` cells a
region, default 1: one region per cell), on the same model (OPT's tiers, starts amortised and
removals charged as OPT does; ``opt-regions`` has no tiers by default). Reported per slot, then
as medians: the decomposition's certified gap to its own bound, its decision's objective against
the MILP's (the same optimised objective, the MILP's from its bound and gap; and the slot's own
cost), its bound against the MILP's bound, both decisions' twin objective (the one OPT's twin
check scores), the share of the first ``place_steps`` service's demand each sends along paths,
and the times. ``--deadline-ms`` sets that service's deadline.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies.opt.decompose import decompose_slot
from cnc6g.policies.opt.model import SlotInputs
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
    ap.add_argument("--scenario", default="xr-offload")
    ap.add_argument("--slots", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--region-cells", type=int, default=1)
    ap.add_argument("--deadline-ms", type=float, default=None)
    args = ap.parse_args()
    scenario = load_scenario(args.scenario)
    chained = [s.name for s in scenario.services if s.place_steps]
    if not chained:
        raise SystemExit(f"{args.scenario} has no service with place_steps")
    if args.deadline_ms is not None:
        data = scenario.model_dump()
        for svc in data["services"]:
            if svc["name"] == chained[0]:
                svc["deadline_ms"] = args.deadline_ms
        scenario = type(scenario).model_validate(data)
    system = compile_scenario(scenario)
    chain = system.service_names.index(chained[0])
    opt = OptimalPolicy()
    tiers = opt.tiers
    opt.reset(system, args.seed)
    twin = Twin(system, seed=args.seed)
    rows = []
    for _ in range(args.slots):
        obs = twin.observe()
        applied = opt.decide(obs)
        milp = opt.last_solution
        assert milp is not None
        began = time.perf_counter()
        regions = decompose_slot(
            system,
            SlotInputs.from_observation(obs),
            region_cells=args.region_cells,
            tiers=tiers,
            amortise_slots=opt.amortise_slots,
            removal_weight=opt.removal_weight,
        )
        regions_ms = (time.perf_counter() - began) * 1e3
        # the MILP's optimised objective, from its bound and relative gap
        milp_optimised = milp.bound / (1.0 - milp.gap)
        objective = TwinObjective.from_observation(
            system, obs, opt.amortise_slots, opt.removal_weight
        )
        twin_milp, twin_regions = objective.score_all([milp.decision, regions.decision])
        rows.append(
            {
                "gap": regions.gap,
                "vs_milp": regions.optimised / milp_optimised - 1.0,
                "slot_vs_milp": regions.objective / milp.objective - 1.0,
                "bound_vs_milp": regions.bound / milp.bound - 1.0,
                "milp_gap": milp.gap,
                "twin_milp": twin_milp,
                "twin_regions": twin_regions,
                "sent_milp": _sent(milp.decision, chain),
                "sent_regions": _sent(regions.decision, chain),
                "regions": regions.regions,
                "milp_ms": milp.solve_ms + milp.build_ms,
                "regions_ms": regions_ms,
            }
        )
        twin.step(applied)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(
        f"{args.scenario}, seed {args.seed}, {args.slots} slots, {rows[0]['regions']} regions "
        f"of {args.region_cells} cell(s), tiers {tiers}, {chained[0]} deadline "
        f"{system.deadline_s[chain] * 1e3:g} ms"
    )
    for i, r in enumerate(rows):
        print(
            f"slot {i}: gap {r['gap']:.2%} (MILP's {r['milp_gap']:.2%}), decision vs MILP "
            f"{r['vs_milp']:+.2%} (slot cost {r['slot_vs_milp']:+.2%}), bound vs MILP's "
            f"{r['bound_vs_milp']:+.2%}, twin J "
            f"{r['twin_regions']:,.1f} vs {r['twin_milp']:,.1f}, along paths "
            f"{r['sent_regions']:.0%} vs {r['sent_milp']:.0%}"
        )
    print(
        f"median: gap {median('gap'):.2%}, decision vs MILP {median('vs_milp'):+.2%}, bound vs "
        f"MILP's {median('bound_vs_milp'):+.2%}, twin J/slot {median('twin_regions'):,.1f} "
        f"vs {median('twin_milp'):,.1f}, ms/slot {median('regions_ms'):,.0f} vs "
        f"{median('milp_ms'):,.0f}"
    )


if __name__ == "__main__":
    main()
