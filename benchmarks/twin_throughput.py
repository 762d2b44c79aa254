"""Throughput of the twin, as ratios against LEAF run in the same process.

Run with ``make bench`` (which pins BLAS to one thread and installs ``leafsim``) or
``OPENBLAS_NUM_THREADS=1 python -m benchmarks.twin_throughput [--quick] [--json PATH]``.

What is measured (median of three timed runs each, on one core):

- twin slots/s for a fixed decision (GRD's after a warm-up), one copy and batched, on the
  case-study preset (10 terminal + 10 RAN + 1 transport domains, 22 nodes, 30 services) and on
  ``scale-100`` (100 cells: 100 MEC servers, a DC and a cloud) with 1,000 requests per slot, the
  twin's counterpart of 100 servers / 1,000 users;
- the request-level sampler in requests/s;
- LEAF (``leafsim``) slots/s at 10 servers / 100 users and 100 servers / 1,000 users, the peer
  scenario of :mod:`benchmarks.peers.leaf`.

Each twin figure is reported with its ratio to LEAF at the matching size. The workloads are not
identical (see the peer module): the ratio says how much more slot-level simulation per second
the twin does, not that the two compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnc6g.model import Scenario
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.twin import System, Twin, compile_scenario, sample_requests


def _median_rate(work: Callable[[], int], repeats: int = 3) -> float:
    """Median over ``repeats`` of (units of work done) / (seconds taken)."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        units = work()
        rates.append(units / (time.perf_counter() - start))
    return statistics.median(rates)


def warm_decision(system: System, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """GRD's deployment and routing after a few slots, as the fixed decision."""
    policy = GreedyPolicy()
    policy.reset(system, seed)
    twin = Twin(system, seed=seed)
    for _ in range(12):
        decision = policy.decide(twin.observe())
        twin.step(decision)
    return decision.deployment, decision.routing


def twin_slots_per_s(system: System, batch: int, slots: int) -> float:
    """Slots per second (all copies counted) for a fixed decision."""
    x, r = warm_decision(system)
    deployment = np.repeat(x[None], batch, axis=0)
    routing = np.repeat(r[None], batch, axis=0)
    twin = Twin(system, batch=batch, seed=1)
    twin.step_arrays(deployment, routing, clean=False)
    steps = max(1, slots // batch)

    def work() -> int:
        for _ in range(steps):
            twin.step_arrays(deployment, routing, clean=False)
        return steps * batch

    return _median_rate(work)


def sampler_requests_per_s(system: System, slots: int) -> float:
    """Requests per second drawn by the request-level sampler."""
    x, r = warm_decision(system)
    twin = Twin(system, seed=2)
    rng = np.random.default_rng(3)
    cases = []
    for _ in range(slots):
        demand = twin.demand.copy()
        cases.append((twin.step_arrays(x[None], r[None]), demand))

    def work() -> int:
        drawn = 0
        for outcome, demand in cases:
            drawn += sample_requests(outcome, demand, system.deadline_s, rng).offered
        return drawn

    return _median_rate(work)


def leaf_slots_per_s(servers: int, users: int, slots: int) -> float | None:
    """LEAF's slots per second (median of seeds 0-2), or None when leafsim is missing."""
    from benchmarks.peers.leaf import run_leaf

    try:
        runs = [run_leaf(servers, users, slots, seed)["slots_per_s"] for seed in range(3)]
    except RuntimeError:
        return None
    return statistics.median(runs)


def large_scenario() -> Scenario:
    """``scale-100`` with 1,000 requests per slot (1,000 users, one request each per slot)."""
    sc = load_scenario("scale-100").at_load(0.8)
    data = sc.model_dump()
    data["workload"].update(offered_load=None, requests_per_slot=(1000, 1000))
    return Scenario.model_validate(data)


def run(quick: bool = False) -> dict[str, float | None]:
    """All measurements; ``quick`` shortens every loop (for a smoke test)."""
    scale = 0.05 if quick else 1.0
    case_sc = load_scenario("paper-case-study").at_load(1.0)
    large_sc = large_scenario()
    out: dict[str, float | None] = {}
    for precision in ("double", "single"):
        case = compile_scenario(case_sc, precision=precision)
        large = compile_scenario(large_sc, precision=precision)
        p = precision
        out[f"case_single_{p}_slots_per_s"] = twin_slots_per_s(case, 1, int(4000 * scale))
        out[f"case_batch256_{p}_slots_per_s"] = twin_slots_per_s(case, 256, int(40960 * scale))
        out[f"case_batch1024_{p}_slots_per_s"] = twin_slots_per_s(case, 1024, int(40960 * scale))
        out[f"large_single_{p}_slots_per_s"] = twin_slots_per_s(large, 1, int(1000 * scale))
        out[f"large_batch16_{p}_slots_per_s"] = twin_slots_per_s(large, 16, int(1600 * scale))
    case = compile_scenario(case_sc)
    out["sampler_requests_per_s"] = sampler_requests_per_s(case, int(200 * scale) + 1)
    out["leaf_small_slots_per_s"] = leaf_slots_per_s(10, 100, 20 if quick else 100)
    out["leaf_large_slots_per_s"] = leaf_slots_per_s(100, 1000, 3 if quick else 30)
    small, big = out["leaf_small_slots_per_s"], out["leaf_large_slots_per_s"]
    for key in list(out):
        value = out[key]
        if value is None or not key.startswith(("case", "large")):
            continue
        peer = small if key.startswith("case") else big
        out[key.replace("_slots_per_s", "_x_leaf")] = value / peer if peer else None
    return out


def main() -> None:
    """Print the measurements as a table (and write them as JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short loops, for a smoke test")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    results = run(args.quick)
    table = Table(title="twin throughput (one core)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, "n/a" if value is None else f"{value:,.1f}")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
