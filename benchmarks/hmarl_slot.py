"""Where an HMARL slot's time goes: CPU time per part of a whole slot on the case study.

Run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.hmarl_slot [--slots 100]
[--cells 10]``: the slot of :mod:`benchmarks.slot_throughput` (the loop's observe, decide, check
and step, then the request sampling) on the case study at its preset load (``--cells`` instead:
the system of that many cells with 10 requests per cell, as ``hmarl10``), after a warm-up of 10
slots. Each part is timed by a wrapper around the function that runs it, in CPU seconds of the
thread (less sensitive to other jobs than wall time); parts nest (the consolidation holds
assignments, an assignment its rounds), so the shares do not add up to 100 %. Parts missing from
the version timed (an older ``src`` on ``PYTHONPATH``) are left out.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

PARTS = (
    ("decide: agents act", "cnc6g.policies.hmarl.hierarchy", "Agents.act"),
    ("decide: execute", "cnc6g.policies.hmarl.policy", "execute"),
    ("execute: consolidation", "cnc6g.policies.hmarl.executor", "_consolidate"),
    ("execute: assignments", "cnc6g.policies.hmarl.executor", "_assign"),
    ("assignment: usable routes", "cnc6g.policies.hmarl.executor", "_usable"),
    ("assignment: routes (dense)", "cnc6g.policies.hmarl.executor", "_Routes.build"),
    ("assignment: rounds", "cnc6g.policies.hmarl.executor", "_fill_rounds"),
    ("rounds: compiled halves", "cnc6g.policies.hmarl.executor", "_round"),
    ("execute: planned tasks", "cnc6g.policies.hmarl.executor", "_planned"),
    ("execute: memory fit", "cnc6g.policies.hmarl.executor", "_fit_memory"),
    ("consolidation: score", "cnc6g.policies.hmarl.executor", "amortised_objective"),
    ("twin step", "cnc6g.twin.twin", "Twin.step"),
    ("sampling", "", "sample_requests"),
)
"""(label, module, attribute) of each part timed (module "": the request sampling)."""


def _timed(function: Callable[..., Any], label: str, spent: dict[str, float]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - start

    return timed


def measure(slots: int, cells: int | None) -> tuple[float, dict[str, float]]:
    """CPU seconds per slot in all and per part (only the parts this version has)."""
    import importlib

    from benchmarks.slot_throughput import _policy, scenario_for
    from cnc6g.orchestration import SlotLoop
    from cnc6g.scenarios import load_scenario
    from cnc6g.twin import Twin, compile_scenario, sample_requests

    system = compile_scenario(
        load_scenario("paper-case-study") if cells is None else scenario_for(cells)
    )
    loop = SlotLoop(Twin(system, seed=0), _policy("hmarl"), seed=0)
    rng = np.random.default_rng([0, 1])
    draw = {"sample_requests": sample_requests}

    def one() -> None:
        record = loop.step()
        draw["sample_requests"](record.outcome, record.demand[None], system.deadline_s, rng)

    for _ in range(10):
        one()
    spent: dict[str, float] = defaultdict(float)
    restore: list[tuple[Any, str, Any]] = []
    try:
        for label, module_name, attribute in PARTS:
            owner: Any = importlib.import_module(module_name) if module_name else draw
            *path, name = attribute.split(".")
            for step in path:
                owner = getattr(owner, step)
            if isinstance(owner, dict):
                owner[name] = _timed(owner[name], label, spent)
                continue
            if name not in vars(owner):  # not in this version
                continue
            restore.append((owner, name, vars(owner)[name]))
            setattr(owner, name, _timed(getattr(owner, name), label, spent))
        start = time.thread_time()
        for _ in range(slots):
            one()
        total = time.thread_time() - start
    finally:
        for owner, name, original in reversed(restore):
            setattr(owner, name, original)
    return total / slots, {label: spent[label] / slots for label, _, _ in PARTS if label in spent}


def main() -> None:
    """Print the CPU time per slot and per part."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slots", type=int, default=100, help="slots timed after the warm-up")
    parser.add_argument("--cells", type=int, help="the system of this many cells instead")
    args = parser.parse_args()
    if args.slots < 1:
        parser.error("--slots must be at least 1")
    per_slot, parts = measure(args.slots, args.cells)
    print(f"whole slot: {per_slot * 1e3:.2f} ms CPU ({1 / per_slot:.0f} slots/s)")
    for label, seconds in parts.items():
        print(f"  {label:28s} {seconds * 1e3:6.2f} ms  {100 * seconds / per_slot:5.1f} %")


if __name__ == "__main__":
    main()
