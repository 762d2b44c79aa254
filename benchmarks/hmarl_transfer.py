"""HMARL's family checkpoint on scenarios it was not trained on, against GRD, RAND and OPT.

Run with ``python -m benchmarks.hmarl_transfer [--slots N] [--window W] [--seeds 0,1]
[--loads 0.4,0.8,1.2] [--scenarios NAME,...] [--policies NAME,...] [--checkpoint PATH]
[--reuse PATH] [--json PATH] [--markdown PATH]``.

Every held-out variant of :data:`~cnc6g.scenarios.family.HELD_OUT` (cell counts no training
draws, most other parameters outside the family's ranges) is run at each load and seed for
``--slots`` slots; the objective (energy plus the penalty of unsatisfied tasks, J per slot) and
the satisfaction are the means over the last ``--window`` slots. Policies:

- ``hmarl-family``: the pooled agents of the family checkpoint (default: the shipped
  ``family-hmarl.pt``);
- ``hmarl-case``: the case study's sized checkpoint, on the variants whose layout it fits
  (10 cells, 30 services), reported as not fitting elsewhere;
- ``grd``, ``rand``, ``opt`` (the per-slot MILP with its default time limit);
- ``bound``: not a policy but the LP lower bound of the same window
  (:func:`cnc6g.experiments.sweep.window_lower_bound`, the bound ``cnc6g compare`` reports): the
  twin draws the same demand for a seed whatever the policy does, so it bounds every policy's
  objective from below, also where OPT's MILP stops at its time limit.

``--reuse PATH`` (repeatable) takes the rows of previous JSON files (same scenario, load, seed,
policy, slots and window) instead of running them again, so OPT's slow runs are done once and
runs split over several processes are put together (give it files of the same checkpoint).
The markdown table gives, per scenario and load, the objective of each policy and
HMARL-family's ratios to OPT, GRD and the bound, and OPT's to the bound (means over the seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from cnc6g.experiments.runner import run_policy
from cnc6g.experiments.sweep import window_lower_bound
from cnc6g.learning.checkpoint import FAMILY, shipped_path
from cnc6g.orchestration import make_policy
from cnc6g.orchestration.registry import check_policy_options
from cnc6g.policies import Policy
from cnc6g.scenarios.family import FAMILIES, HELD_OUT
from cnc6g.twin import compile_scenario

POLICIES = ("hmarl-family", "hmarl-case", "grd", "rand", "opt", "bound")


def _policy(name: str, checkpoint: Path) -> tuple[str, dict[str, Any]]:
    if name == "hmarl-family":
        return "hmarl", {"checkpoint": checkpoint}
    if name == "hmarl-case":
        return "hmarl", {"checkpoint": shipped_path("paper-case-study", "hmarl")}
    return name, {}


def run_one(
    scenario: str, load: float, seed: int, policy: str, slots: int, window: int, checkpoint: Path
) -> dict[str, Any]:
    """One run of ``policy`` on held-out variant ``scenario``; the row of the results."""
    system = compile_scenario(HELD_OUT[scenario].scenario(load))
    row: dict[str, Any] = {
        "scenario": scenario,
        "load": load,
        "seed": seed,
        "policy": policy,
        "slots": slots,
        "window": window,
    }
    if policy == "bound":
        started = time.perf_counter()
        row.update(
            objective_j=window_lower_bound(system, slots, window, seed),
            wall_s=round(time.perf_counter() - started, 2),
        )
        return row
    spec, options = _policy(policy, checkpoint)
    try:
        check_policy_options(spec, options, system)
    except ValueError as err:
        del err  # the checkpoint does not fit the system (sized agents, another layout)
        row.update(objective_j=None, satisfaction=None, note="the checkpoint does not fit")
        return row
    made: Policy = make_policy(spec, **options)
    started = time.perf_counter()
    summary = run_policy(made, system, slots, seed=seed, sample=False).summary(window)
    row.update(
        objective_j=summary.objective_j_per_slot,
        satisfaction=summary.satisfaction_rate,
        energy_j=summary.energy_j_per_slot,
        wall_s=round(time.perf_counter() - started, 2),
    )
    return row


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario and load: each policy's mean objective and satisfaction, and the ratios."""
    out = []
    keys = sorted(
        {(r["scenario"], r["load"]) for r in rows}, key=lambda k: (list(HELD_OUT).index(k[0]), k[1])
    )
    for scenario, load in keys:
        mine = [r for r in rows if r["scenario"] == scenario and r["load"] == load]
        entry: dict[str, Any] = {"scenario": scenario, "load": load}
        for policy in POLICIES:
            of = [r for r in mine if r["policy"] == policy]
            if of:
                entry[policy] = _mean(of, "objective_j")
                entry[f"{policy}_satisfaction"] = _mean(of, "satisfaction")
        fam = entry.get("hmarl-family")
        for base in ("opt", "grd", "rand", "hmarl-case", "bound"):
            ref = entry.get(base)
            if fam is not None and ref:
                entry[f"family/{base}"] = fam / ref
        if entry.get("opt") is not None and entry.get("bound"):
            entry["opt/bound"] = entry["opt"] / entry["bound"]
        out.append(entry)
    return out


def markdown(entries: list[dict[str, Any]]) -> str:
    """The table as markdown: objective J/slot per policy, satisfaction, and the ratios."""

    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    head = (
        "| scenario | L | HMARL-family | HMARL-case | GRD | RAND | OPT | LP bound | family/OPT "
        "| family/GRD | family/bound | OPT/bound | satisfied family / OPT |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for e in entries:
        sat = f"{num(e.get('hmarl-family_satisfaction'), '.1%')} / "
        sat += num(e.get("opt_satisfaction"), ".1%")
        lines.append(
            f"| {e['scenario']} | {e['load']:g} | "
            + " | ".join(num(e.get(p), ",.0f") for p in POLICIES)
            + "".join(
                f" | {num(e.get(k), '.3f')}"
                for k in ("family/opt", "family/grd", "family/bound", "opt/bound")
            )
            + f" | {sat} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=40)
    parser.add_argument("--window", type=int, default=30)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--loads", default="0.4,0.8,1.2")
    parser.add_argument("--scenarios", default=",".join(HELD_OUT))
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--checkpoint", type=Path, default=shipped_path(FAMILY, "hmarl"))
    parser.add_argument("--reuse", type=Path, action="append", default=[])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    policies = [p for p in args.policies.split(",") if p]
    bad = [s for s in scenarios if s not in HELD_OUT] + [p for p in policies if p not in POLICIES]
    if bad:
        parser.error(f"unknown --scenarios or --policies: {', '.join(bad)}")
    if args.slots < 1 or not 1 <= args.window <= args.slots:
        parser.error("--slots must be >= 1 and --window in [1, --slots]")
    loads = [float(v) for v in args.loads.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    reused: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in args.reuse:
        for r in json.loads(path.read_text())["rows"]:
            key = (r["scenario"], r["load"], r["seed"], r["policy"], r["slots"], r["window"])
            if r["objective_j"] is not None or r["policy"] == "hmarl-case":
                reused[key] = r
    rows: list[dict[str, Any]] = []

    def write(final: bool) -> None:
        entries = table(rows)
        if args.json is not None:
            data = {"meta": meta, "rows": rows, "table": entries, "complete": final}
            args.json.write_text(json.dumps(data, indent=1))
        if final and args.markdown is not None:
            args.markdown.write_text(markdown(entries))

    meta = {
        "trained_on": {
            name: {k: v for k, v in vars(fam).items() if k != "name"}
            for name, fam in FAMILIES.items()
        },
        "held_out": {name: v.describe() for name, v in HELD_OUT.items()},
        "checkpoint": str(args.checkpoint.name),
        "slots": args.slots,
        "window": args.window,
        "seeds": seeds,
        "loads": loads,
    }
    for scenario in scenarios:
        for load in loads:
            for seed in seeds:
                for policy in policies:
                    key = (scenario, load, seed, policy, args.slots, args.window)
                    row = reused.get(key) or run_one(
                        scenario, load, seed, policy, args.slots, args.window, args.checkpoint
                    )
                    rows.append(row)
                    obj = row["objective_j"]
                    print(
                        f"{scenario} L={load:g} seed {seed} {policy}: "
                        + ("-" if obj is None else f"{obj:,.0f} J/slot"),
                        flush=True,
                    )
                    write(False)
    write(True)
    print(markdown(table(rows)))


if __name__ == "__main__":
    main()
