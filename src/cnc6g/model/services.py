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
    output_mbit: float | None = Field(
        default=None,
        ge=0,
        description="data the stage passes on to the stages after it, or back to the terminal "
        "from a last stage (default: 0, or the service's output_mbit for a last stage); used "
        "where the service's steps are placed separately (place_steps)",
    )
    pin_to_terminal: bool | None = Field(
        default=None,
        description="the stage must run on the requesting terminal (it handles raw user data); "
        "used where the service's steps are placed separately (place_steps); unset: false",
    )


class Workflow(_Strict):
    """A workflow DAG of stages.

    By default the twin places a service as one unit and charges the sum of its stages; a
    service with ``place_steps`` has each stage placed on its own node (see the twin's chain
    model).
    """

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


class Startup(_Strict):
    """What starting an instance takes: a container, the model's bytes, an initialisation.

    The start-up time is ``container_ms + model_gb x 8 / load_gbps + init_ms`` and its energy
    ``power_w`` times that time. References for the parts: a container or function sandbox
    starts in a few hundred ms to about 2 s (Shahrad et al., USENIX ATC 2020); loading a model's
    weights dominates an LLM's start-up, seconds to a minute for 7B-class models, at storage
    bandwidths of a few GB/s (Fu et al., ServerlessLLM, OSDI 2024).
    """

    container_ms: float = Field(default=500.0, ge=0, description="container or sandbox start")
    model_gb: float = Field(default=0.0, ge=0, description="model bytes loaded at start-up")
    load_gbps: float = Field(
        default=16.0, gt=0, description="bandwidth the model loads at (16 Gbit/s: 2 GB/s NVMe)"
    )
    init_ms: float = Field(
        default=0.0, ge=0, description="initialisation after the load (warm-up, compilation)"
    )
    power_w: float = Field(ge=0, description="power the host draws while the instance starts")

    @property
    def seconds(self) -> float:
        """Start-up time, s."""
        return (self.container_ms + self.init_ms) / 1e3 + self.model_gb * 8.0 / self.load_gbps

    @property
    def energy_j(self) -> float:
        """Start-up energy, J."""
        return self.power_w * self.seconds


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
    work_cv: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="coefficient of variation of a task's work (0: deterministic, as "
        "inference; 1: exponential); used where twin.sojourn is mg1",
    )
    input_cv: float = Field(
        default=0.0,
        ge=0,
        description="coefficient of variation of a request's input data size, its mean "
        "input_mbit (0: every request sends input_mbit); changes the deadline probability only",
    )
    output_cv: float = Field(
        default=0.0,
        ge=0,
        description="coefficient of variation of a request's output data size, its mean "
        "output_mbit (0: every request returns output_mbit); changes the deadline probability "
        "only",
    )
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
    startup: Startup | None = Field(
        default=None,
        description="how an instance starts; sets cold_start_ms and instantiation_energy_j",
    )
    place_steps: bool | None = Field(
        default=None,
        description="place the workflow's stages separately (each on the terminal or a network "
        "node holding an instance of the service, transfers between them over the network); "
        "false or unset: the service runs as one unit with the stages' total work",
    )

    @model_validator(mode="after")
    def _steps_need_a_workflow(self) -> ServiceType:
        if self.place_steps and self.workflow is None:
            raise ValueError("place_steps needs a workflow")
        if self.place_steps and self.workflow is not None:
            pinned = any(st.pin_to_terminal for st in self.workflow.stages)
            if pinned and DomainKind.TERMINAL not in self.tiers:
                raise ValueError("a stage pinned to the terminal needs 'terminal' in tiers")
        return self

    def stage_output_mbit(self, stage: Stage) -> float:
        """Data ``stage`` passes on, Mbit (its ``output_mbit``, or the default, see Stage)."""
        if stage.output_mbit is not None:
            return stage.output_mbit
        assert self.workflow is not None
        last = not any(stage.name in s.after for s in self.workflow.stages)
        return self.output_mbit if last else 0.0

    @model_validator(mode="after")
    def _startup_sets_the_cold_start(self) -> ServiceType:
        if self.startup is None:
            return self
        derived = {
            "cold_start_ms": self.startup.seconds * 1e3,
            "instantiation_energy_j": self.startup.energy_j,
        }
        for name, value in derived.items():
            given = getattr(self, name)
            if name not in self.model_fields_set:
                object.__setattr__(self, name, value)
            elif abs(given - value) > 1e-9 * max(1.0, value):
                raise ValueError(f"{name} ({given}) differs from the startup's ({value:g})")
        return self

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
