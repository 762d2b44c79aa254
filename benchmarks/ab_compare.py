"""Before/after: the whole slot of two versions of cnc6g, timed in alternation on one machine.

Run with ``OPENBLAS_NUM_THREADS=1 python -m benchmarks.ab_compare --before-src DIR [--only
grd10,grd100] [--reps 5] [--longer 1]``, where ``DIR`` is the ``src`` folder of the version to
compare with, for instance ``git archive 32dcc06 src | tar -x -C before`` and ``--before-src
before/src``; ``--longer`` times longer chunks (a multiple of each measurement's slots);
``--interleave`` times the measurements round by round, so that their rows compare with each
other (the per-copy rates of ``batch64,batch256,batch1024,batch4096``).

Each version runs in its own worker process (this checkout's ``src`` is the "after" side); the
driver sets up the same measurement in both (the systems and policies of
:mod:`benchmarks.slot_throughput`) and then times short chunks in alternation, so that a
change in the machine's load hits both sides alike. A row gives each side's median rate and
the median of the per-pair speed-ups. Use it for before/after ratios on a shared machine,
where two separate runs minutes apart can differ by more than the change measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CONFIGS: dict[str, dict[str, Any]] = {
    "rand10": {"kind": "whole", "cells": 10, "policy": "rand", "n": 20},
    "grd10": {"kind": "whole", "cells": 10, "policy": "grd", "n": 20},
    "hmarl10": {"kind": "whole", "cells": 10, "policy": "hmarl", "n": 10},
    "grd10-preset": {"kind": "whole", "cells": 10, "preset": True, "policy": "grd", "n": 20},
    "hmarl10-preset": {"kind": "whole", "cells": 10, "preset": True, "policy": "hmarl", "n": 10},
    "frozen10": {"kind": "frozen", "cells": 10, "n": 100},
    "batch64": {"kind": "frozen", "cells": 10, "batch": 64, "n": 16},
    "batch256": {"kind": "frozen", "cells": 10, "batch": 256, "n": 4},
    "batch1024": {"kind": "frozen", "cells": 10, "batch": 1024, "n": 1},
    "batch4096": {"kind": "frozen", "cells": 10, "batch": 4096, "n": 1},
    "rand100": {"kind": "whole", "cells": 100, "policy": "rand", "n": 10},
    "grd100": {"kind": "whole", "cells": 100, "policy": "grd", "n": 10},
    "frozen100": {"kind": "frozen", "cells": 100, "n": 20},
    "grd200": {"kind": "whole", "cells": 200, "policy": "grd", "n": 10},
    "grd1000": {"kind": "whole", "cells": 1000, "policy": "grd", "n": 10},
    "frozen1000": {"kind": "frozen", "cells": 1000, "n": 3},
    "grd10-cal": {"kind": "whole", "cells": 10, "calibrated": True, "policy": "grd", "n": 20},
    "hmarl10-cal": {"kind": "whole", "cells": 10, "calibrated": True, "policy": "hmarl", "n": 10},
    "grd10-cal-preset": {
        "kind": "whole",
        "cells": 10,
        "preset": True,
        "calibrated": True,
        "policy": "grd",
        "n": 20,
    },
    "grd100-cal": {"kind": "whole", "cells": 100, "calibrated": True, "policy": "grd", "n": 10},
    "grd1000-cal": {"kind": "whole", "cells": 1000, "calibrated": True, "policy": "grd", "n": 3},
}
"""Measurements by name: a whole slot of a policy or the frozen-decision twin (batched)."""


def worker() -> None:
    """Serve setup and run requests, one JSON line each, on stdin (the worker side)."""
    import time

    import numpy as np

    from benchmarks.slot_throughput import _policy, scenario_for, warm_decision
    from cnc6g.orchestration import SlotLoop
    from cnc6g.scenarios import load_scenario
    from cnc6g.twin import Twin, compile_scenario, sample_requests

    systems: dict[tuple[int, bool, bool], Any] = {}
    jobs: dict[str, Any] = {}
    for line in sys.stdin:
        m = json.loads(line)
        if m["cmd"] == "setup":
            key = (m["cells"], bool(m.get("preset")), bool(m.get("calibrated")))
            if key not in systems:
                if key[1]:
                    scenario = load_scenario(
                        "paper-case-study-calibrated" if key[2] else "paper-case-study"
                    )
                else:
                    scenario = scenario_for(key[0], calibrated=key[2])
                systems[key] = compile_scenario(scenario)
            sy = systems[key]
            if m["kind"] == "whole":
                loop = SlotLoop(Twin(sy, seed=0), _policy(m["policy"]), seed=0)
                rng = np.random.default_rng([0, 1])

                def one(loop: Any = loop, rng: Any = rng, sy: Any = sy) -> None:
                    record = loop.step()
                    sample_requests(record.outcome, record.demand[None], sy.deadline_s, rng)

            else:
                x, r = warm_decision(sy)
                batch = m.get("batch", 1)
                deployment, routing = np.repeat(x[None], batch, 0), np.repeat(r[None], batch, 0)
                twin = Twin(sy, batch=batch, seed=1)

                def one(twin: Any = twin, x: Any = deployment, r: Any = routing) -> None:
                    twin.step_arrays(x, r, clean=False)

            for _ in range(10):  # warm-up, a first redeployment included
                one()
            jobs[m["key"]] = one
            print(json.dumps({"ok": True}), flush=True)
        else:
            run = jobs[m["key"]]
            start = time.perf_counter()
            for _ in range(m["n"]):
                run()
            print(json.dumps({"s": time.perf_counter() - start}), flush=True)


def compare(
    before_src: Path, names: list[str], reps: int, longer: int = 1, interleave: bool = False
) -> list[dict[str, Any]]:
    """Rows of before and after rates (slots/s, copies counted) and the median speed-up.

    ``longer`` multiplies the slots of every timed chunk (longer chunks, less noise).
    ``interleave`` sets every measurement up first and then times them round by round (each
    round every measurement once, both sides), so that rows can be compared with each other
    too: the per-copy rates of batches of different sizes, say.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

    def spawn(src: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ab_compare", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(env, PYTHONPATH=f"{src}{os.pathsep}{ROOT}"),
        )

    def ask(p: subprocess.Popen[str], message: dict[str, Any]) -> dict[str, Any]:
        assert p.stdin is not None
        assert p.stdout is not None
        p.stdin.write(json.dumps(message) + "\n")
        p.stdin.flush()
        answer: dict[str, Any] = json.loads(p.stdout.readline())
        return answer

    before, after = spawn(before_src), spawn(ROOT / "src")
    rows = []
    times: dict[str, dict[str, list[float]]] = {}

    def setup(name: str) -> None:
        message = {**CONFIGS[name], "cmd": "setup", "key": name}
        ask(before, message)
        ask(after, message)
        times[name] = {"before": [], "after": []}

    def time_once(name: str, i: int) -> None:
        n = CONFIGS[name]["n"] * longer
        for side in ["before", "after"] if i % 2 == 0 else ["after", "before"]:
            p = before if side == "before" else after
            times[name][side].append(ask(p, {"cmd": "run", "key": name, "n": n})["s"])

    def row_of(name: str) -> dict[str, Any]:
        config = CONFIGS[name]
        units = config["n"] * longer * config.get("batch", 1)
        row = {"measure": name, **{k: v for k, v in config.items() if k != "n"}}
        for side, t in times[name].items():
            row[side] = statistics.median(units / s for s in t)
        pairs = zip(times[name]["before"], times[name]["after"], strict=True)
        row["speedup"] = statistics.median(b / a for b, a in pairs)
        print(json.dumps(row), flush=True)
        return row

    try:
        if interleave:
            for name in names:
                setup(name)
            for i in range(reps):
                for name in names if i % 2 == 0 else names[::-1]:
                    time_once(name, i)
            rows = [row_of(name) for name in names]
        else:
            for name in names:
                setup(name)
                for i in range(reps):
                    time_once(name, i)
                rows.append(row_of(name))
    finally:
        for p in (before, after):
            if p.stdin is not None:
                p.stdin.close()  # the worker's loop ends
            p.wait(timeout=60)
            if p.stdout is not None:
                p.stdout.close()
    return rows


def main() -> None:
    """Compare the versions and print one JSON row per measurement (``--json`` keeps them)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--before-src", type=Path, help="src folder of the version before")
    parser.add_argument("--only", default=",".join(CONFIGS), help="measurements, comma-separated")
    parser.add_argument("--reps", type=int, default=5, help="alternations per measurement")
    parser.add_argument(
        "--longer", type=int, default=1, help="multiply the slots of each timed chunk by this"
    )
    parser.add_argument(
        "--interleave", action="store_true", help="time the measurements round by round"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.before_src is None:
        parser.error("--before-src is required")
    if args.longer < 1:
        parser.error("--longer must be at least 1")
    rows = compare(
        args.before_src.resolve(), args.only.split(","), args.reps, args.longer, args.interleave
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
