"""Service model: service types, their optional workflow DAG and their SLA (SPEC C2)."""

from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

from pydantic import Field, model_validator

from cnc6g.model.infra import DomainKind, Name, ProcessorKind, _Strict

ALL_TIERS = (DomainKind.TERMINAL, DomainKind.RAN, DomainKind.TRANSPORT)
ALL_PROCESSORS = (ProcessorKind.CPU, ProcessorKind.GPU, ProcessorKind.NPU)


class Stage(_Strict):
    """One step of a service's workflow."""

    name: Name = Field(description="name of the stage, unique in its workflow")
    compute_gcycles: float = Field(gt=0, description="work of the stage per task")
    after: list[Name] = Field(default_factory=list, description="stages that must finish first")


class Workflow(_Strict):
    """A workflow DAG; the twin places a service as one unit and charges the sum of its stages."""

    stages: list[Stage] = Field(min_length=1, description="the stages; a task's work is their sum")

    @model_validator(mode="after")
    def _is_a_dag(self) -> Workflow:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique, repeated: {dupes}")
        known = set(names)
        graph: dict[str, list[str]] = {}
        for stage in self.stages:
            missing = [a for a in stage.after if a not in known]
            if missing:
                raise ValueError(f"stage {stage.name!r} runs after unknown stages {missing}")
            graph[stage.name] = list(stage.after)
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as err:
            raise ValueError(f"workflow has a cycle: {' -> '.join(err.args[1])}") from None
        return self

    @property
    def compute_gcycles(self) -> float:
        """Total compute of one task, gigacycles."""
        return sum(s.compute_gcycles for s in self.stages)


class ServiceType(_Strict):
    """A service type that providers register and terminals request.

    Either ``compute_gcycles`` or ``workflow`` gives the compute of one task; when both are
    given they must agree.
    """

    name: Name = Field(description="name of the service type, unique")
    compute_gcycles: float | None = Field(default=None, gt=0, description="work per task")
    input_mbit: float = Field(ge=0, description="data sent with a request")
    output_mbit: float = Field(default=0.0, ge=0, description="data returned")
    memory_gb: float = Field(gt=0, description="memory footprint of one instance")
    instance_power_w: float = Field(default=0.0, ge=0, description="keep-alive power")
    instantiation_energy_j: float = Field(default=0.0, ge=0, description="energy of a cold start")
    cold_start_ms: float = Field(default=0.0, ge=0, description="time to start an instance")
    deadline_ms: float = Field(gt=0, description="E2E latency SLA of one task")
    tiers: list[DomainKind] = Field(
        default_factory=lambda: list(ALL_TIERS),
        min_length=1,
        description="kinds of domain whose nodes may host an instance",
    )
    processors: list[ProcessorKind] = Field(
        default_factory=lambda: list(ALL_PROCESSORS),
        min_length=1,
        description="processors an instance may run on",
    )
    workflow: Workflow | None = Field(
        default=None, description="stages of one task; their total is its work"
    )

    @model_validator(mode="after")
    def _compute_is_known(self) -> ServiceType:
        if self.workflow is None:
            if self.compute_gcycles is None:
                raise ValueError("give compute_gcycles or a workflow")
            return self
        total = self.workflow.compute_gcycles
        if self.compute_gcycles is None:
            object.__setattr__(self, "compute_gcycles", total)
        elif abs(self.compute_gcycles - total) > 1e-9 * max(1.0, total):
            raise ValueError(
                f"compute_gcycles ({self.compute_gcycles}) differs from the workflow's total "
                f"({total})"
            )
        return self

    @property
    def work(self) -> float:
        """Compute of one task, gigacycles (always set after validation)."""
        assert self.compute_gcycles is not None
        return self.compute_gcycles
