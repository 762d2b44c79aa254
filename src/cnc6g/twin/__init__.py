"""The digital twin: pure, vectorised arithmetic of one slot, and a stateful batched stepper."""

from cnc6g.twin.costs import (
    REMOVAL_WEIGHT,
    amortised_objective,
    node_energy,
    removal_cost,
    restart_cost,
)
from cnc6g.twin.dynamics import ENERGY_PARTS, SlotOutcome, evaluate_slot
from cnc6g.twin.sampler import RequestSample, sample_requests
from cnc6g.twin.system import (
    System,
    compile_scenario,
    load_for_requests,
    per_system,
    popularity_weights,
    requests_for_load,
)
from cnc6g.twin.twin import Twin

__all__ = [
    "ENERGY_PARTS",
    "REMOVAL_WEIGHT",
    "RequestSample",
    "SlotOutcome",
    "System",
    "Twin",
    "amortised_objective",
    "compile_scenario",
    "evaluate_slot",
    "load_for_requests",
    "node_energy",
    "per_system",
    "popularity_weights",
    "removal_cost",
    "requests_for_load",
    "restart_cost",
    "sample_requests",
]
