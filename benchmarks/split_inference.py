"""Split inference: decisions per second of the vectorised DP, and the coupled slot's solvers.

Run with ``python -m benchmarks.split_inference [--requests N] [--seeds S] [--users 50,500]
[--time-limit S] [--json PATH]``.

1. The DP (:func:`cnc6g.ai.split.solve`) on ``--requests`` requests of one model, each with its
   own uplink rate (0.1-1,000 Mbit/s, log-uniform), deadline and processor shares, on terminal
   ``sd8g3-cpu``, edge ``l4``, cloud ``a100``: decisions per second for both objectives (median of
   three runs, one process; NumPy's element-wise kernels use one core).
2. The coupled slot (:mod:`cnc6g.ai.coupled`) at load 0.8 for each user count: time to build the
   options, the MILP's time (HiGHS, ``--time-limit``) and whether it proved the optimum, the
   price-based decomposition's time, and the share of requests within their deadline under the
   MILP, the decomposition and independent per-user best splits (least latency, Neurosurgeon's
   choice; and "aware": least energy within the deadline), over ``--seeds`` instances.
3. The same three at loads 0.4 to 1.2 for 100 users: where coupling starts to pay.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnc6g.ai.coupled import (
    build_options,
    make_instance,
    solve_independent,
    solve_milp,
    solve_prices,
)
from cnc6g.ai.processors import PROCESSORS
from cnc6g.ai.profiles import load_profile
from cnc6g.ai.split import Network, solve

MODELS = ("mobilenetv2", "resnet50", "vit-b16", "whisper-base", "llama-2-70b")
TIERS = [PROCESSORS["sd8g3-cpu"], PROCESSORS["l4"], PROCESSORS["a100"]]


def dp_rate(model: str, requests: int, objective: str) -> dict[str, Any]:
    """Decisions per second of the DP on ``requests`` random requests of ``model``."""
    profile = load_profile(model)
    rng = np.random.default_rng(0)
    net = Network(uplink_mbps=10 ** rng.uniform(-1, 3, requests))
    deadline = rng.uniform(0.01, 2.0, requests)
    speed = rng.uniform(0.2, 1.0, (requests, 3))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        solve(profile, TIERS, net, requests, objective, deadline, speed)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    best = statistics.median(times)
    return {
        "model": model,
        "blocks": profile.n,
        "objective": objective,
        "requests": requests,
        "seconds": best,
        "decisions_per_s": requests / best,
    }


def coupled(users: int, load: float, seed: int, time_limit: float) -> dict[str, Any]:
    """The three solvers on one generated slot."""
    inst = make_instance(users, load, seed)
    t0 = time.perf_counter()
    opts = build_options(inst)
    build_s = time.perf_counter() - t0
    milp = solve_milp(inst, opts, time_limit)
    prices = solve_prices(inst, opts)
    independent = solve_independent(inst)
    aware = solve_independent(inst, "energy")
    return {
        "users": users,
        "load": load,
        "seed": seed,
        "gpus": inst.gpus,
        "options": int(opts.user.size),
        "build_s": build_s,
        "milp_s": milp.seconds,
        "milp_optimal": bool(milp.detail["optimal"]),
        "milp_bound": milp.detail["bound"],
        "prices_s": prices.seconds,
        "independent_s": independent.seconds,
        "milp_share": milp.share,
        "prices_share": prices.share,
        "independent_share": independent.share,
        "aware_share": aware.share,
    }


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--users", default="50,100,200,500")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    print(f"DP decisions per second ({args.requests:,} requests per call, median of 3)")
    print(f"{'model':>14} {'blocks':>6} {'objective':>9} {'decisions/s':>12}")
    dp = []
    for model in MODELS:
        for objective in ("latency", "energy"):
            r = dp_rate(model, args.requests, objective)
            dp.append(r)
            print(f"{model:>14} {r['blocks']:>6} {objective:>9} {r['decisions_per_s']:>12,.0f}")

    users = [int(u) for u in args.users.split(",")]
    print(f"\nCoupled slot at load 0.8 (mean over {args.seeds} instances)")
    print(
        f"{'users':>5} {'options':>7} {'build s':>7} {'MILP s':>7} {'proved':>6} "
        f"{'prices s':>8} {'MILP':>6} {'prices':>6} {'indep.':>6} {'aware':>6} {'MILP-indep.':>11}"
    )
    slots = []
    for u in users:
        rows = [coupled(u, 0.8, s, args.time_limit) for s in range(args.seeds)]
        slots += rows
        gaps = [r["milp_share"] - r["independent_share"] for r in rows]
        proved = sum(r["milp_optimal"] for r in rows)
        print(
            f"{u:>5} {_mean(rows, 'options'):>7.0f} {_mean(rows, 'build_s'):>7.2f} "
            f"{_mean(rows, 'milp_s'):>7.2f} {proved:>3}/{len(rows):<2} "
            f"{_mean(rows, 'prices_s'):>8.2f} {_mean(rows, 'milp_share') * 100:>5.1f}% "
            f"{_mean(rows, 'prices_share') * 100:>5.1f}% "
            f"{_mean(rows, 'independent_share') * 100:>5.1f}% "
            f"{_mean(rows, 'aware_share') * 100:>5.1f}% "
            f"{np.mean(gaps) * 100:>+6.1f} (min {min(gaps) * 100:+.1f})"
        )

    print(f"\nLoad sweep, 100 users (mean over {args.seeds} instances): share within deadline")
    print(f"{'load':>5} {'MILP':>6} {'prices':>6} {'indep.':>6} {'aware':>6} {'MILP-indep.':>11}")
    sweep = []
    for load in (0.4, 0.6, 0.8, 1.0, 1.2):
        rows = [coupled(100, load, s, args.time_limit) for s in range(args.seeds)]
        sweep += rows
        print(
            f"{load:>5.1f} {_mean(rows, 'milp_share') * 100:>5.1f}% "
            f"{_mean(rows, 'prices_share') * 100:>5.1f}% "
            f"{_mean(rows, 'independent_share') * 100:>5.1f}% "
            f"{_mean(rows, 'aware_share') * 100:>5.1f}% "
            f"{(_mean(rows, 'milp_share') - _mean(rows, 'independent_share')) * 100:>+10.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"dp": dp, "slots": slots, "sweep": sweep}, indent=1))


if __name__ == "__main__":
    main()
