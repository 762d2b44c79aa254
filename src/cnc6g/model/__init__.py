"""Pure domain types of cnc6g: infrastructure, services, workload, scenario (no I/O)."""

from cnc6g.model.infra import (
    Domain,
    DomainKind,
    Node,
    PowerModel,
    ProcessorKind,
    RadioLink,
    WiredLink,
)
from cnc6g.model.scenario import Objective, Scenario, TwinSettings
from cnc6g.model.services import ServiceType, Stage, Workflow
from cnc6g.model.workload import DEFAULT_LOADS, MAX_LOAD, HotspotShift, Workload

__all__ = [
    "DEFAULT_LOADS",
    "MAX_LOAD",
    "Domain",
    "DomainKind",
    "HotspotShift",
    "Node",
    "Objective",
    "PowerModel",
    "ProcessorKind",
    "RadioLink",
    "Scenario",
    "ServiceType",
    "Stage",
    "TwinSettings",
    "WiredLink",
    "Workflow",
    "Workload",
]
