"""How fast HMARL's family checkpoint catches up with OPT after a hotspot shift or a node failure.

Run with ``python -m benchmarks.hmarl_recovery [--scenarios NAME,...] [--events hotspot,failure]
[--load L] [--seeds 0,1] [--at T] [--slots N] [--window W] [--points P] [--checkpoint PATH]
[--json PATH]``.

Each held-out variant of :data:`~cnc6g.scenarios.family.HELD_OUT` is run through one event of
:func:`cnc6g.experiments.adapt` (``hotspot``: 80 % of the requests from 30 % of the terminal
domains from slot ``--at`` on; ``failure``: the busiest RAN node under GRD fails) by OPT (the
per-slot MILP), HMARL with the family checkpoint acting only (``hmarl``) and learning online while
it acts (``hmarl-online``), and GRD, all with the same seed, so every policy sees the same
requests. Per run: the satisfaction before the event (over the ``--at // 2`` slots before it,
after the first instances have started), after it, and the slots after the event
until the policy's ``--window``-slot average satisfaction is within ``--points`` (absolute; 0.02
is two percentage points) of OPT's and stays there (:func:`~cnc6g.experiments.adaptation.
catch_up_slots`; issue target: within 20 slots). ``none`` means it did not catch up before the run
ended.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnc6g.experiments import adapt
from cnc6g.experiments.adaptation import AdaptationResult, catch_up_slots
from cnc6g.learning.checkpoint import FAMILY, shipped_path
from cnc6g.orchestration import make_policy
from cnc6g.policies import Policy
from cnc6g.scenarios.family import HELD_OUT

POLICIES = ("opt", "hmarl", "hmarl-online", "grd")


def _factory(name: str, checkpoint: Path) -> Any:
    def build() -> Policy:
        if name == "hmarl":
            return make_policy("hmarl", checkpoint=checkpoint)
        if name == "hmarl-online":
            return make_policy("hmarl", checkpoint=checkpoint, online=True)
        return make_policy(name)

    return build


def run_case(
    scenario: str,
    event: str,
    load: float,
    seed: int,
    at: int,
    slots: int,
    window: int,
    points: float,
    checkpoint: Path,
) -> list[dict[str, Any]]:
    """Every policy through one event on one variant; one row per policy."""
    sc = HELD_OUT[scenario].scenario(load)
    results: dict[str, AdaptationResult] = {}
    walls: dict[str, float] = {}
    for name in POLICIES:
        started = time.perf_counter()
        results[name] = adapt(
            sc,
            _factory(name, checkpoint),
            event,
            at,
            slots,
            seed,
            label=name,
            window=window,
            baseline=max(1, at // 2),
        )
        walls[name] = time.perf_counter() - started
    ref = results["opt"].satisfaction
    rows = []
    for name, res in results.items():
        s = res.summary()
        after = res.satisfaction[at:]
        rows.append(
            {
                "scenario": scenario,
                "event": event,
                "detail": res.detail,
                "load": load,
                "seed": seed,
                "policy": name,
                "at": at,
                "slots": slots,
                "window": window,
                "points": points,
                "pre_satisfaction": s["pre_satisfaction"],
                "satisfaction_after": s["satisfaction_after"],
                "last_window_satisfaction": float(np.mean(after[-window:])),
                "objective_j_after": s["objective_j_after"],
                "catch_up_slots": catch_up_slots(res.satisfaction, ref, at, window, points),
                "recovery_slots": s["recovery_slots"],
                "wall_s": round(walls[name], 1),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    """One line per (variant, event, seed, policy)."""
    lines = [
        "| variant | event | seed | policy | sat. before | sat. after | last window "
        "| slots to within 2 points of OPT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cu = r["catch_up_slots"]
        lines.append(
            f"| {r['scenario']} | {r['event']} | {r['seed']} | {r['policy']} "
            f"| {r['pre_satisfaction'] * 100:.1f} % | {r['satisfaction_after'] * 100:.1f} % "
            f"| {r['last_window_satisfaction'] * 100:.1f} % "
            f"| {'-' if r['policy'] == 'opt' else ('none' if cu is None else cu)} |"
        )
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios",
        default="held-3-cells-20-services,held-5-cells-zipf-0.8,held-case-study",
        help="held-out variants, comma-separated",
    )
    parser.add_argument("--events", default="hotspot,failure")
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--at", type=int, default=30, help="slot of the event")
    parser.add_argument("--slots", type=int, default=70, help="slots per run")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--points", type=float, default=0.02)
    parser.add_argument("--checkpoint", type=Path, default=shipped_path(FAMILY, "hmarl"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in HELD_OUT]
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(unknown)} (use {', '.join(HELD_OUT)})")
    if not 1 <= args.at < args.slots:
        parser.error("--at must be at least 1 and below --slots")
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        for event in [e.strip() for e in args.events.split(",") if e.strip()]:
            for seed in [int(x) for x in args.seeds.split(",")]:
                rows += run_case(
                    scenario,
                    event,
                    args.load,
                    seed,
                    args.at,
                    args.slots,
                    args.window,
                    args.points,
                    args.checkpoint,
                )
                for r in rows[-len(POLICIES) :]:
                    print(scenario, event, seed, r["policy"], r["catch_up_slots"], flush=True)
    print(markdown(rows))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "hmarl_recovery",
                    "commit": _commit(),
                    "machine": {
                        "platform": platform.platform(),
                        "python": platform.python_version(),
                    },
                    "checkpoint": args.checkpoint.name,
                    "rows": rows,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
