"""Speed of service path scheduling for one request (the control plane's fast path).

A 10-step chain over about 100 candidate nodes (a synthetic system of 100 cells whose origins may
use every node) is placed by the dynamic programme; small DAGs are placed by the MILP and by the
greedy heuristic, whose gap to the MILP is reported.

    python -m benchmarks.path_scheduling [--requests 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnc6g.policies.paths import (
    Request,
    Step,
    node_graph,
    schedule_chain,
    schedule_dag,
    schedule_greedy,
)
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import compile_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    system = compile_scenario(
        synthetic_scenario("paths-100", n_cells=100, n_services=30, offered_load=0.8)
    )
    node_graph(system)  # built once per system
    rng = np.random.default_rng(0)
    candidates = int(system.candidate_valid.sum(axis=1).mean())
    times = []
    for _ in range(args.requests):
        functions = rng.integers(system.n_services, size=args.steps)
        steps = tuple(Step(int(f), False, (i - 1,) if i else ()) for i, f in enumerate(functions))
        req = Request(
            origin=int(rng.integers(system.n_origins)),
            steps=steps,
            rate=2.0,
            utilisation=rng.uniform(0, 0.8, system.n_nodes),
        )
        start = time.perf_counter()
        schedule_chain(system, req)
        times.append(time.perf_counter() - start)
    small = compile_scenario(
        synthetic_scenario("paths-10", n_cells=10, n_services=30, offered_load=0.8)
    )
    gaps, milp_s = [], []
    for _ in range(30):
        steps = []
        for i in range(5):
            after = (
                tuple(sorted(rng.choice(i, size=min(i, 2), replace=False).tolist())) if i else ()
            )
            steps.append(Step(int(rng.integers(small.n_services)), False, after))
        req = Request(origin=int(rng.integers(small.n_origins)), steps=tuple(steps), rate=5.0)
        start = time.perf_counter()
        best = schedule_dag(small, req)
        milp_s.append(time.perf_counter() - start)
        quick = schedule_greedy(small, req)
        if best.feasible and quick.feasible:
            gaps.append(quick.latency_s / best.latency_s - 1)
    out = {
        "chain_steps": args.steps,
        "candidate_nodes": candidates,
        "chain_dp_ms_p50": float(np.median(times) * 1e3),
        "chain_dp_ms_p99": float(np.percentile(times, 99) * 1e3),
        "dag_steps": 5,
        "dag_milp_ms_p50": float(np.median(milp_s) * 1e3),
        "greedy_gap_median": float(np.median(gaps)),
        "greedy_gap_max": float(np.max(gaps)),
        "greedy_optimal_share": float(np.mean(np.array(gaps) < 1e-9)),
    }
    for key, value in out.items():
        print(f"{key:24s} {value:.4g}" if isinstance(value, float) else f"{key:24s} {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
