"""Where an HMARL slot's time goes: CPU time per part of a whole slot on the case study.

Run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.hmarl_slot [--slots 100]
[--cells 10]``: the slot of :mod:`benchmarks.slot_throughput` (the loop's observe, decide, check
and step, then the request sampling) on the case study at its preset load (``--cells`` instead:
the system of that many cells with 10 requests per cell, as ``hmarl10``), after a warm-up of 10
slots. Each part is timed by a wrapper around the function that runs it, in CPU seconds of the
thread (less sensitive to other jobs than wall time); parts nest (the consolidation holds
assignments, an assignment its rounds), so the shares do not add up to 100 %. Parts missing from
the version timed (an older ``src`` on ``PYTHONPATH``), or not called in it (the halves of a round,
where the rounds run in one compiled call), are left out. A last line gives, over as
many slots again (untimed), the share of the usable routes whose deadline term a round computes
again, for versions whose rounds compute again only the terms that changed (counted with the
rounds called one by one from Python, which compute the same terms).
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
    ("rounds: compiled, whole", "cnc6g.policies.hmarl.executor", "_rounds"),
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


def _slot(cells: int | None, draw: dict[str, Any]) -> Callable[[], None]:
    """One whole slot (the case study, or ``cells`` cells) after a warm-up of 10.

    The slot calls the request sampling through ``draw``, which it fills.
    """
    from benchmarks.slot_throughput import _policy, scenario_for
    from cnc6g.orchestration import SlotLoop
    from cnc6g.scenarios import load_scenario
    from cnc6g.twin import Twin, compile_scenario, sample_requests

    system = compile_scenario(
        load_scenario("paper-case-study") if cells is None else scenario_for(cells)
    )
    loop = SlotLoop(Twin(system, seed=0), _policy("hmarl"), seed=0)
    rng = np.random.default_rng([0, 1])
    draw["sample_requests"] = sample_requests

    def one() -> None:
        record = loop.step()
        draw["sample_requests"](record.outcome, record.demand[None], system.deadline_s, rng)

    for _ in range(10):
        one()
    return one


def measure(slots: int, cells: int | None) -> tuple[float, dict[str, float]]:
    """CPU seconds per slot in all and per part (only the parts this version has)."""
    import importlib

    draw: dict[str, Any] = {}
    one = _slot(cells, draw)
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


def recomputed_terms(slots: int, cells: int | None) -> dict[str, float] | None:
    """Share of the usable routes whose deadline term a round computes again, over ``slots``
    slots after the warm-up: in the first assignments, the look-ahead ones and all; None for a
    version whose rounds compute every term."""
    import inspect

    from cnc6g.policies.hmarl import executor

    original = vars(executor).get("_round")
    signature = inspect.signature(getattr(original, "py_func", original or (lambda: None)))
    if original is None or "count" not in signature.parameters:
        return None
    computed = {True: 0, False: 0}
    priced = {True: 0, False: 0}

    def tallied(*args: Any) -> Any:
        count = original(*args)
        bound = signature.bind(*args).arguments
        if count >= 0:
            computed[bound["floored"]] += count
            priced[bound["floored"]] += bound["e_int"].shape[1]
        return count

    one = _slot(cells, {})
    # The rounds called one by one from Python, where a version can run them in one call.
    split = "numpy_exp_loop" in vars(executor)
    loop = vars(executor).get("numpy_exp_loop")
    executor._round = tallied
    if split:
        executor.numpy_exp_loop = lambda: 0
    try:
        for _ in range(slots):
            one()
    finally:
        executor._round = original
        if split:
            executor.numpy_exp_loop = loop
    return {
        "first": computed[False] / max(priced[False], 1),
        "ahead": computed[True] / max(priced[True], 1),
        "all": sum(computed.values()) / max(sum(priced.values()), 1),
    }


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
    shares = recomputed_terms(args.slots, args.cells)
    if shares is not None:
        first, ahead, every = (f"{100 * shares[k]:.0f} %" for k in ("first", "ahead", "all"))
        print(
            f"deadline terms computed again per round: {every} of the usable routes "
            f"(first assignments {first}, look-ahead ones {ahead})"
        )


if __name__ == "__main__":
    main()
