"""Time per slot of the calibrated case study with per-request data sizes that vary, against the
preset as it is.

Run with ``OPENBLAS_NUM_THREADS=1 python -m benchmarks.size_cvs [--slots 60] [--reps 7]``. The
variant gives the preset's GPU services (taken for generative models, as the bursty preset
does) the code service's data-size CVs from the Azure LLM inference trace 2023 (input 0.96,
output 2.15; ``cnc6g.scenarios.fit.data_size_cvs``). Each policy runs ``--slots`` slots on each
system, alternated ``--reps`` times in one process (seed = repetition) after a short warm-up;
printed per policy: each system's median milliseconds per slot and the median of the per-pair
ratios (variant over preset). With ``--transfers``: instead, per policy, the GPU services' mean
transfer time at the mean sizes over 60 slots of the variant (seed 0), weighted by the tasks
served, and its share of their deadlines (mean and 95th percentile over the flows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np

from cnc6g.experiments.runner import SlotLoop, run_policy
from cnc6g.model import ProcessorKind, Scenario
from cnc6g.policies import GreedyPolicy, RandomPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.fit import LLM_CODE_TOKENS_2023, data_size_cvs
from cnc6g.twin import Twin, compile_scenario


def variant(base: Scenario) -> Scenario:
    """``base`` with its GPU-only services' data sizes varying as the code service's do."""
    cv_in, cv_out = (round(x, 2) for x in data_size_cvs(LLM_CODE_TOKENS_2023))
    data = base.model_dump()
    for service in data["services"]:
        if service["processors"] == [ProcessorKind.GPU]:
            service["input_cv"], service["output_cv"] = cv_in, cv_out
    return base.model_validate(data)


def run(slots: int, reps: int) -> list[dict[str, Any]]:
    """One row per policy (see the module)."""
    base = load_scenario("paper-case-study-calibrated")
    systems = {"preset": compile_scenario(base), "variant": compile_scenario(variant(base))}
    rows = []
    for name, policy in (("rand", RandomPolicy), ("grd", GreedyPolicy)):
        times: dict[str, list[float]] = {k: [] for k in systems}
        for system in systems.values():
            run_policy(policy(), system, slots=min(slots, 5), seed=0)
        for rep in range(reps):
            for key, system in systems.items():
                start = time.perf_counter()
                run_policy(policy(), system, slots=slots, seed=rep)
                times[key].append(time.perf_counter() - start)
        ratios = [v / p for v, p in zip(times["variant"], times["preset"], strict=True)]
        rows.append(
            {
                "policy": name,
                "preset_ms_per_slot": statistics.median(times["preset"]) * 1e3 / slots,
                "variant_ms_per_slot": statistics.median(times["variant"]) * 1e3 / slots,
                "ratio": statistics.median(ratios),
            }
        )
    return rows


def transfers(slots: int = 60) -> list[dict[str, Any]]:
    """The GPU services' transfer times on the variant (see the module)."""
    system = compile_scenario(variant(load_scenario("paper-case-study-calibrated")))
    varying = system.input_cv > 0
    rows = []
    for name, policy in (("rand", RandomPolicy), ("grd", GreedyPolicy)):
        loop = SlotLoop(Twin(system, batch=1, seed=0), policy(), 0, check=True)
        times, weights, deadlines = [], [], []
        for record in loop.run(slots):
            out, f = record.outcome, record.outcome.flows
            on = varying[f.service] & (f.served > 0)
            pm = out.per_mbit_s[f.copy, f.origin, f.candidate]
            t = system.input_mbit[f.service] * pm[:, 0] + system.output_mbit[f.service] * pm[:, 1]
            times.append(t[on])
            weights.append(f.served[on])
            deadlines.append(system.deadline_s[f.service][on])
        t, w, d = (np.concatenate(x) for x in (times, weights, deadlines))
        rows.append(
            {
                "policy": name,
                "mean_transfer_ms": float(np.average(t, weights=w)) * 1e3,
                "share_of_deadline_mean": float(np.average(t / d, weights=w)),
                "share_of_deadline_p95": float(np.quantile(t / d, 0.95)),
            }
        )
    return rows


def main() -> None:
    """Print the rows as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=60)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--transfers", action="store_true")
    args = parser.parse_args()
    for row in transfers(args.slots) if args.transfers else run(args.slots, args.reps):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
