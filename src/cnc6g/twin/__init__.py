"""The digital twin: pure, vectorised arithmetic of one slot, and a stateful batched stepper."""

from cnc6g.twin.dynamics import (
    ENERGY_PARTS,
    SlotOutcome,
    amortised_objective,
    evaluate_slot,
    removal_cost,
    restart_cost,
)
from cnc6g.twin.sampler import RequestSample, sample_requests
from cnc6g.twin.system import (
    System,
    compile_scenario,
    load_for_requests,
    popularity_weights,
    requests_for_load,
)
from cnc6g.twin.twin import Twin

__all__ = [
    "ENERGY_PARTS",
    "RequestSample",
    "SlotOutcome",
    "System",
    "Twin",
    "amortised_objective",
    "compile_scenario",
    "evaluate_slot",
    "load_for_requests",
    "popularity_weights",
    "removal_cost",
    "requests_for_load",
    "restart_cost",
    "sample_requests",
]
