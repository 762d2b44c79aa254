"""Whole-slot throughput: what a user's run costs per slot, against LEAF in the same process.

Run with ``make bench`` (one BLAS thread, ``leafsim`` installed), or
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.slot_throughput [--quick]
[--sizes 10,100] [--json PATH]``.

**Headline: a whole slot**, as ``cnc6g run`` runs it (:func:`cnc6g.experiments.run_policy`):
the orchestration loop's observe, the policy's decide, the feasibility check, the twin's step
and the policy's feedback (:class:`cnc6g.orchestration.SlotLoop`), then the request-level
sampling of the slot. Policies keep their own cadence (RAND and GRD redeploy every 10 slots, so
instances start and stop and the cold-start arithmetic runs; routing changes every slot), and
every timed chunk holds the same number of redeployments. Systems: ``n`` cells of the case-study
shape (``n`` terminal + ``n`` RAN domains, a DC and a cloud, 30 services) with ``10 n`` requests
per slot, the twin's counterpart of ``n`` servers and ``10 n`` users in LEAF; 10 cells is the
case study, 100 ``scale-100``, 1,000 ``scale-1000``. HMARL runs with the checkpoint shipped for
the case study where it fits the system, elsewhere with the family checkpoint (pooled agents that
fit any size); the row records which. One more row each for GRD and
HMARL: the case study at its preset load (L = 0.8, about 1,225 requests per slot).

**Peers**, same sizes, same process: LEAF (``leafsim``, :mod:`benchmarks.peers.leaf`) moving 10 %
of its users per step and re-placing their applications, and LEAF re-placing every user every
step with its paths cached.

**With the calibrated models** (the second table): the same whole slot on the same systems with
every calibrated model of ``paper-case-study-calibrated`` on
(:func:`cnc6g.scenarios.presets.calibrated_models`: the 38.901 radio with per-user SINR and
EARTH base stations, five phones per terminal domain, concave server power, wake-up from
suspend, air latency with jitter, M/G/1 nodes, start-ups that carry over), at 10, 100 and 1,000
cells, and the calibrated case study at its preset load.

**Secondary rows**, labelled as such: the twin alone with one frozen decision (GRD's after a
warm-up: no decide, no check, no sampling and no cold start), batched twins of 256 and 1,024
copies of the case study, and the peak memory of one copy of the 1,000-cell system through
compiling and a few GRD slots.

Rates are medians of three timed chunks after a warm-up. ``--json`` writes the figures with the
commit, machine and Python version; the docs' benchmark table is generated from that file
(:mod:`benchmarks.report`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.twin_throughput import warm_decision
from cnc6g.model import Scenario
from cnc6g.orchestration import SlotLoop, make_policy
from cnc6g.policies import GreedyPolicy, Policy, RandomPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import System, Twin, compile_scenario, sample_requests

SIZES = (10, 20, 50, 100, 200, 1000)
"""Cells of the systems of the headline rows."""

REQUESTS_PER_CELL = 10
"""Requests per slot per cell (LEAF: users per server)."""

POLICIES = ("rand", "grd", "hmarl")

CADENCE = 10
"""Slots between redeployments of RAND and GRD: every timed chunk is a multiple of it."""

CALIBRATED_SIZES = (10, 100, 1000)
"""Cells of the systems of the rows with the calibrated models."""

BATCHES = (256, 1024)

HMARL_SCENARIO = "paper-case-study"
"""The scenario whose shipped checkpoint HMARL runs with."""


def scenario_for(cells: int, calibrated: bool = False) -> Scenario:
    """The system of ``cells`` cells with ``REQUESTS_PER_CELL * cells`` requests per slot.

    ``calibrated``: with the calibrated models of ``paper-case-study-calibrated`` on.
    """
    named = {10: "paper-case-study", 100: "scale-100", 1000: "scale-1000"}
    name = named.get(cells)
    try:
        base = load_scenario(name) if name else None
    except Exception:  # a checkout without the preset (a baseline run)
        base = None
    if base is None:
        base = synthetic_scenario(
            name or f"synthetic-{cells}",
            n_cells=cells,
            candidates_per_origin=None if cells <= 20 else 16,
        )
    if calibrated:
        from cnc6g.scenarios.presets import calibrated_models

        base = calibrated_models(base)
    data = base.model_dump()
    n = REQUESTS_PER_CELL * cells
    data["workload"].update(offered_load=None, requests_per_slot=(n, n))
    return Scenario.model_validate(data)


def _policy(name: str) -> Policy:
    if name == "rand":
        return RandomPolicy()
    if name == "grd":
        return GreedyPolicy()
    from cnc6g.learning import shipped_path

    return make_policy("hmarl", checkpoint=shipped_path(HMARL_SCENARIO, "hmarl"))


def _chunked_rate(one: Callable[[], None], chunk: int, repeats: int = 3) -> float:
    """Median over ``repeats`` chunks of ``chunk`` calls of ``one``, in calls per second."""
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(chunk):
            one()
        rates.append(chunk / (time.perf_counter() - start))
    return statistics.median(rates)


def _chunk_for(one: Callable[[], None], seconds: float, cadence: int = 1) -> int:
    """Calls per chunk so that one chunk takes about ``seconds``, a multiple of ``cadence``."""
    start = time.perf_counter()
    for _ in range(cadence):
        one()
    per = (time.perf_counter() - start) / cadence
    return cadence * max(1, round(seconds / max(per, 1e-9) / cadence))


def whole_slot(system: System, policy_name: str, seconds: float) -> dict[str, Any]:
    """Slots per second of the orchestration loop plus request sampling, one copy."""
    row: dict[str, Any] = {"policy": policy_name}
    try:
        policy = _policy(policy_name)
        loop = SlotLoop(Twin(system, seed=0), policy, seed=0, check=True)
    except (ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0]
        if policy_name != "hmarl" or "trained for another system" not in reason:
            row.update(slots_per_s=None, note=reason)
            return row
        # The case study's checkpoint fits only its system: elsewhere HMARL runs with the
        # family checkpoint, whose pooled agents fit any size.
        from cnc6g.learning import shipped_path
        from cnc6g.learning.checkpoint import FAMILY

        policy = make_policy("hmarl", checkpoint=shipped_path(FAMILY, "hmarl"))
        loop = SlotLoop(Twin(system, seed=0), policy, seed=0, check=True)
        row["checkpoint"] = f"{FAMILY}-hmarl.pt"
    rng = np.random.default_rng([0, 1])
    cold = [0.0, 0]

    def one() -> None:
        record = loop.step()
        sample_requests(record.outcome, record.demand[None], system.deadline_s, rng)
        cold[0] += float(record.outcome.cold_starts[0])
        cold[1] += 1

    for _ in range(CADENCE):  # warm-up: the first deployment and the caches
        one()
    chunk = _chunk_for(one, seconds, CADENCE)
    row["slots_per_s"] = _chunked_rate(one, chunk)
    row["cold_starts_per_slot"] = cold[0] / cold[1]
    return row


def frozen_twin(system: System, batch: int, seconds: float) -> float:
    """Slots per second (all copies counted) of ``Twin.step_arrays`` with one frozen decision."""
    x, r = warm_decision(system)
    deployment = np.repeat(x[None], batch, axis=0)
    routing = np.repeat(r[None], batch, axis=0)
    twin = Twin(system, batch=batch, seed=1)
    twin.step_arrays(deployment, routing, clean=False)

    def one() -> None:
        twin.step_arrays(deployment, routing, clean=False)

    return batch * _chunked_rate(one, _chunk_for(one, seconds))


def leaf_rate(cells: int, slots: int, replace_all: bool) -> float | None:
    """LEAF's slots per second at ``cells`` servers (median of seeds 0-2); None without it."""
    from benchmarks.peers.leaf import run_leaf

    users = REQUESTS_PER_CELL * cells
    seeds = range(3 if cells <= 100 else 1)  # LEAF's large systems take minutes to build
    try:
        runs = [
            run_leaf(max(cells, 3), users, slots, seed, replace_all=replace_all)["slots_per_s"]
            for seed in seeds
        ]
    except RuntimeError:
        return None
    return statistics.median(runs)


def peak_memory_mib(system_of: Callable[[], System], slots: int = 3) -> float:
    """Peak traced memory (MiB) of compiling a system and running GRD on one copy."""
    tracemalloc.start()
    try:
        system = system_of()
        loop = SlotLoop(Twin(system, seed=0), GreedyPolicy(), seed=0)
        rng = np.random.default_rng(0)
        for _ in range(slots):
            record = loop.step()
            sample_requests(record.outcome, record.demand[None], system.deadline_s, rng)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def machine() -> dict[str, Any]:
    """The commit, machine and Python the figures come from."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], capture_output=True, text=True, check=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }


def preset_rows(name: str, policies: tuple[str, ...], seconds: float) -> list[dict[str, Any]]:
    """GRD's and HMARL's whole slot on the preset ``name`` at its own load (L = 0.8)."""
    system = compile_scenario(load_scenario(name))
    return [
        {"cells": 10, "requests_per_slot": "L = 0.8", "preset_load": True, **row}
        for row in (whole_slot(system, p, seconds) for p in ("grd", "hmarl") if p in policies)
    ]


def run(
    sizes: tuple[int, ...] = SIZES,
    policies: tuple[str, ...] = POLICIES,
    quick: bool = False,
    seconds: float = 0.5,
    batches: tuple[int, ...] = BATCHES,
    memory_cells: int | None = 1000,
    peers: bool = True,
    calibrated_sizes: tuple[int, ...] = CALIBRATED_SIZES,
) -> dict[str, Any]:
    """All measurements as a JSON-ready dict; ``quick`` runs every loop once (a smoke test)."""
    if quick:
        seconds = 0.0
    meta = {**machine(), "quick": quick}  # the code as it was when the run started
    whole: list[dict[str, Any]] = []
    secondary: list[dict[str, Any]] = []
    peer_rows: list[dict[str, Any]] = []
    for cells in sizes:
        system = compile_scenario(scenario_for(cells))
        requests = REQUESTS_PER_CELL * cells
        for name in policies:
            row = whole_slot(system, name, seconds)
            whole.append({"cells": cells, "requests_per_slot": requests, **row})
        if peers:
            leaf_slots = 2 if quick else max(3, min(100, 3000 // cells))
            for replace_all, label in ((False, "leaf"), (True, "leaf-replace-all")):
                rate = leaf_rate(cells, leaf_slots, replace_all)
                peer_rows.append({"cells": cells, "peer": label, "slots_per_s": rate})
        secondary.append(
            {
                "measure": "frozen twin",
                "cells": cells,
                "requests_per_slot": requests,
                "copies": 1,
                "slots_per_s": frozen_twin(system, 1, seconds),
            }
        )
    if 10 in sizes:
        whole += preset_rows("paper-case-study", policies, seconds)
        for batch in batches:
            copies = min(batch, 8) if quick else batch
            secondary.append(
                {
                    "measure": "batched twin",
                    "cells": 10,
                    "requests_per_slot": REQUESTS_PER_CELL * 10,
                    "copies": copies,
                    "slots_per_s": frozen_twin(compile_scenario(scenario_for(10)), copies, seconds),
                }
            )
    calibrated: list[dict[str, Any]] = []
    for cells in calibrated_sizes:
        system = compile_scenario(scenario_for(cells, calibrated=True))
        for name in policies:
            row = whole_slot(system, name, seconds)
            calibrated.append(
                {"cells": cells, "requests_per_slot": REQUESTS_PER_CELL * cells, **row}
            )
    if calibrated_sizes:
        calibrated += preset_rows("paper-case-study-calibrated", policies, seconds)
    out: dict[str, Any] = {
        "meta": meta,
        "whole_slot": whole,
        "calibrated": calibrated,
        "peers": peer_rows,
        "secondary": secondary,
    }
    if memory_cells is not None:
        out["memory"] = {
            "cells": memory_cells,
            "peak_mib": peak_memory_mib(lambda: compile_scenario(scenario_for(memory_cells))),
        }
    return out


def main() -> None:
    """Print the table (and write the figures as JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every loop once: a smoke test")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="cells, comma-separated")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--seconds", type=float, default=0.5, help="length of a timed chunk")
    parser.add_argument(
        "--calibrated-sizes",
        default=",".join(map(str, CALIBRATED_SIZES)),
        help="cells of the rows with the calibrated models, comma-separated ('' for none)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--label", default="", help="what code was measured (kept in the JSON)")
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    results = run(
        sizes,
        tuple(args.policies.split(",")),
        quick=args.quick,
        seconds=args.seconds,
        memory_cells=None if args.no_memory else max(sizes),
        calibrated_sizes=tuple(int(c) for c in args.calibrated_sizes.split(",") if c),
    )
    if args.label:
        results["meta"]["label"] = args.label
    from benchmarks.report import render

    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
