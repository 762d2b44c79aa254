"""Small synthetic workload traces with the published statistics of :mod:`cnc6g.scenarios.fit`.

``python -m cnc6g.scenarios.synthetic_traces [DIR]`` writes them (by default into the package's
``traces`` folder, where they ship). Each is one day of the ``tiny`` preset's origins and
services compressed to :data:`SLOTS_PER_HOUR` slots an hour: Poisson counts around
:data:`TRACE_MEAN` requests per slot, modulated by the Azure Functions 2019 daily profile and by
a two-state MMPP fitted to one service of the Azure LLM inference trace 2023, split over origins
(equal weights) and services (the preset's Zipf popularity). A scenario that replays one with
``workload.trace`` and an ``offered_load`` has its counts scaled to that load.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnc6g.model import DomainKind, Scenario
from cnc6g.model.workload import Burstiness
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.fit import (
    LLM_CODE_2023,
    LLM_CONVERSATION_2023,
    fit_diurnal,
    fit_mmpp,
    synthetic_counts,
)

TRACE_MEAN = 300.0
"""Mean requests per slot of a shipped trace (the ``tiny`` preset offers about 306 at L = 0.6)."""

SLOTS_PER_HOUR = 12
"""Slots per hour of the daily profile in a shipped trace: one day is 288 slots."""

SEED = 2019
"""Seed of every shipped trace."""

TRACES: dict[str, Callable[[], Burstiness]] = {
    "tiny-azure-conversation": lambda: fit_mmpp(LLM_CONVERSATION_2023),
    "tiny-azure-code": lambda: fit_mmpp(LLM_CODE_2023),
}
"""The shipped traces by name (the file is ``<name>.csv``) and the burstiness each carries."""


def trace_csv(scenario: Scenario, burstiness: Burstiness, seed: int = SEED) -> str:
    """One compressed day of ``scenario``'s origins and services as trace CSV text.

    Rows ``slot,origin,service,count`` for every non-zero count, in slot, origin and service
    order (the format :func:`cnc6g.scenarios.read_trace` reads).
    """
    wl = scenario.workload
    origins = [d.name for d in scenario.domains if d.kind is DomainKind.TERMINAL]
    services = [s.name for s in scenario.services]
    ranking = wl.popularity if wl.popularity is not None else services
    zipf = np.arange(1, len(services) + 1, dtype=float) ** (-wl.zipf_exponent)
    p_service = np.empty(len(services))
    p_service[[services.index(name) for name in ranking]] = zipf / zipf.sum()
    weights = np.array(
        [1.0 if wl.origin_weights is None else wl.origin_weights.get(o, 0.0) for o in origins]
    )
    p = (weights[:, None] / weights.sum() * p_service[None, :]).ravel()
    counts = synthetic_counts(
        TRACE_MEAN,
        p / p.sum(),
        24 * SLOTS_PER_HOUR,
        np.random.default_rng(seed),
        burstiness=burstiness,
        diurnal=fit_diurnal(slots_per_hour=SLOTS_PER_HOUR),
    ).reshape(-1, len(origins), len(services))
    lines = ["slot,origin,service,count"]
    for t, o, s in zip(*np.nonzero(counts), strict=True):
        lines.append(f"{t},{origins[o]},{services[s]},{counts[t, o, s]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """Write every shipped trace as ``<name>.csv`` into the folder ``argv[0]``."""
    out = Path(argv[0]) if argv else Path(__file__).parent / "traces"
    out.mkdir(parents=True, exist_ok=True)
    tiny = load_scenario("tiny")
    for name, burstiness in TRACES.items():
        (out / f"{name}.csv").write_text(trace_csv(tiny, burstiness()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
