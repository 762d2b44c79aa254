"""The RL policy of the coupled slot against the MILP, the decomposition and independent splits.

Run with ``python -m benchmarks.split_rl [--users 20,50,100] [--loads 0.4,0.8,1.2] [--seeds 5]
[--checkpoint PATH] [--time-limit S] [--json PATH]``.

On held-out slots (seeds 0..S-1; training uses seeds from ``TRAIN_SEED_BASE`` up) of
:func:`cnc6g.ai.coupled.make_instance` (ResNet-50 and ViT-B/16 on phone CPUs and GPUs), for each
user count and load: the share of requests served within their deadline, the slot's terminal
energy (unserved requests run on their terminal) over the least energy at the MILP's count
(:func:`cnc6g.ai.split_rl.solve_milp_energy`), and the decision time per slot (mean) of every
method of :data:`cnc6g.ai.split_rl.METHODS` (one process, PyTorch on one thread). Energy
ratios are of sums over the slots.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from cnc6g.ai.coupled import make_instance
from cnc6g.ai.split_rl import (
    METHODS,
    TRAIN_SEED_BASE,
    compare_slot,
    load_policy,
    policy_from_json,
)

SHOWN = (
    "milp",
    "prices",
    "independent-latency",
    "independent-energy",
    "rl-scorer",
    "rl",
    "rl-search",
    "random",
)
RL = ("rl-scorer", "rl", "rl-search")


def run(users: int, load: float, seeds: int, policy: Any, time_limit: float) -> dict[str, Any]:
    per: dict[str, dict[str, float]] = {
        m: {"served": 0.0, "users": 0.0, "energy": 0.0, "floor": 0.0, "seconds": 0.0}
        for m in METHODS
    }
    for seed in range(seeds):
        assert seed < TRAIN_SEED_BASE
        for r in compare_slot(make_instance(users, load, seed=seed), policy, time_limit):
            d = per[r.method]
            d["served"] += r.served
            d["users"] += r.users
            d["energy"] += r.slot_energy_j
            d["floor"] += r.floor_j
            d["seconds"] += r.seconds
    ref = per["milp-energy"]["energy"]
    return {
        "users": users,
        "load": load,
        "seeds": seeds,
        **{f"{m}_served": d["served"] / d["users"] for m, d in per.items()},
        **{f"{m}_energy_ratio": d["energy"] / ref for m, d in per.items()},
        **{f"{m}_floor_ratio": d["energy"] / d["floor"] for m, d in per.items()},
        **{f"{m}_seconds": d["seconds"] / seeds for m, d in per.items()},
        "milp_energy_j": ref / seeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="20,50,100")
    parser.add_argument("--loads", default="0.4,0.8,1.2")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the policy's network is small: one core decides fastest
    policy = (
        load_policy()
        if args.checkpoint is None
        else policy_from_json(args.checkpoint.read_text(encoding="utf-8"))
    )
    print(f"policy: {policy.config}, trained {policy.meta}")
    head = (
        f"{'users':>5} {'load':>4} | served %: "
        + " ".join(f"{m[:11]:>11}" for m in SHOWN)
        + " | energy / MILP's least: "
        + " ".join(f"{m[:11]:>11}" for m in SHOWN)
        + " | energy / least at own count: rl-scorer rl rl-search"
        + " | ms: milp prices rl-scorer rl rl-search"
    )
    print(head)
    rows = []
    for users in (int(u) for u in args.users.split(",")):
        for load in (float(x) for x in args.loads.split(",")):
            row = run(users, load, args.seeds, policy, args.time_limit)
            rows.append(row)
            print(
                f"{users:>5} {load:>4.1f} | "
                + " ".join(f"{row[f'{m}_served'] * 100:>10.1f}%" for m in SHOWN)
                + " | "
                + " ".join(f"{row[f'{m}_energy_ratio']:>11.3f}" for m in SHOWN)
                + " | "
                + " ".join(f"{row[f'{m}_floor_ratio']:.3f}" for m in RL)
                + f" | {row['milp_seconds'] * 1e3:.0f} {row['prices_seconds'] * 1e3:.0f} "
                + " ".join(f"{row[f'{m}_seconds'] * 1e3:.1f}" for m in RL),
                flush=True,
            )
    for m in RL:
        worst = max(r[f"{m}_energy_ratio"] for r in rows)
        mean = sum(r[f"{m}_energy_ratio"] for r in rows) / len(rows)
        own = max(r[f"{m}_floor_ratio"] for r in rows)
        gap = max((r["milp_served"] - r[f"{m}_served"]) * 100 for r in rows)
        equal = [
            r[f"{m}_energy_ratio"] for r in rows if abs(r["milp_served"] - r[f"{m}_served"]) < 1e-9
        ]
        at_equal = (
            f"{len(equal)} rows serve as many as the MILP, energy over its least there "
            f"{min(equal):.3f}-{max(equal):.3f}"
            if equal
            else "no row serves as many as the MILP"
        )
        print(
            f"{m}: energy over the MILP's least: mean {mean:.3f}, worst {worst:.3f}; over the "
            f"least at its own count: worst {own:.3f}; served at most {gap:.1f} points below "
            f"the MILP; {at_equal}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
