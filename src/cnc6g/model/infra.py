"""Infrastructure model: domains, nodes and links (SPEC C1).

Units follow the field names: ``_gcps`` is gigacycles per second, ``_gb`` gigabytes, ``_w`` watts,
``_ms`` milliseconds, ``_mhz`` megahertz, ``_gbps`` gigabits per second, ``_nj_per_bit``
nanojoules per bit.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
"""Identifier of a domain, node or service: letters, digits, ``_``, ``.`` and ``-``."""


class _Strict(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are validated on set.

    Numbers must be finite (an infinite capacity or a NaN power is an error, not a silent
    NaN in the results).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=True, allow_inf_nan=False
    )


class DomainKind(StrEnum):
    """The three kinds of domain of seed 002: terminal side, RAN side, transport side."""

    TERMINAL = "terminal"
    RAN = "ran"
    TRANSPORT = "transport"


class ProcessorKind(StrEnum):
    """Processor of a compute node."""

    CPU = "cpu"
    GPU = "gpu"
    NPU = "npu"


class PowerModel(StrEnum):
    """How an awake node's power grows with its utilisation ``u`` between idle and peak.

    - ``linear``: ``P = idle + (peak - idle) u`` (Fan, Weber and Barroso, ISCA 2007, their
      simple model);
    - ``fan2007``: ``P = idle + (peak - idle) (2u - u^r)``, the empirical model the same paper
      fitted to measured servers, with ``r`` = ``power_exponent`` (1.4 in the paper): a concave
      curve that reaches most of its dynamic range at moderate load;
    - ``measured``: piecewise linear through ``power_curve_w``, the eleven powers a
      SPECpower_ssj2008 result reports (active idle, then 10 % ... 100 % target load).
    """

    LINEAR = "linear"
    FAN2007 = "fan2007"
    MEASURED = "measured"


POWER_CURVE_POINTS = 11
"""Points of a measured power curve: utilisation 0, 0.1, ..., 1 (SPECpower's load levels)."""


class Node(_Strict):
    """A compute node: a server, a data-centre pool or the pooled spare compute of terminals.

    Power while the node is awake follows ``power_model`` between ``idle_power_w`` and
    ``peak_power_w`` (by default the linear model of Fan, Weber and Barroso, ISCA 2007:
    ``P = idle + (peak - idle) * utilisation``). A node with a
    ``sleep_power_w`` sleeps (and draws that power) in slots where it hosts no instance; a node
    without one is always on. Waking up takes ``wake_ms`` (an instance started on a node that
    slept the slot before serves that much later) and ``wake_energy_j``.
    """

    name: Name = Field(description="name of the node, unique across all domains")
    processor: ProcessorKind = Field(
        default=ProcessorKind.CPU, description="processor; a service runs on those it lists"
    )
    capacity_gcps: float = Field(gt=0, description="compute capacity, gigacycles per second")
    memory_gb: float = Field(gt=0, description="memory available to service instances")
    idle_power_w: float = Field(ge=0, description="power when awake and unloaded")
    peak_power_w: float = Field(ge=0, description="power at full utilisation")
    power_model: PowerModel = Field(
        default=PowerModel.LINEAR,
        description="how power grows with utilisation between idle and peak: linear, fan2007 "
        "(concave, Fan et al. 2007) or measured (through power_curve_w)",
    )
    power_exponent: float = Field(
        default=1.4,
        gt=1.0,
        le=4.0,
        description="exponent r of the fan2007 model (1.4 in Fan et al. 2007)",
    )
    power_curve_w: list[float] | None = Field(
        default=None,
        min_length=POWER_CURVE_POINTS,
        max_length=POWER_CURVE_POINTS,
        description="measured power at utilisation 0, 0.1, ..., 1 (a SPECpower_ssj2008 result's "
        "active idle and ten target loads); first equals idle_power_w, last peak_power_w",
    )
    sleep_power_w: float | None = Field(
        default=None, ge=0, description="power while asleep; omit for an always-on node"
    )
    devices: int = Field(
        default=1,
        ge=1,
        le=1_000_000,
        description="identical devices the node pools (a terminal domain's phones): a task runs "
        "on one of them, with the node's capacity and memory divided among them",
    )
    wake_ms: float = Field(
        default=0.0,
        ge=0,
        description="time a sleeping node takes to wake before it can start an instance",
    )
    wake_energy_j: float = Field(default=0.0, ge=0, description="energy of one wake-up")
    access_delay_ms: float = Field(
        default=0.0, ge=0, description="one-way delay from the domain gateway to the node"
    )
    access_energy_nj_per_bit: float = Field(
        default=0.0, ge=0, description="energy per bit from the domain gateway to the node"
    )

    @model_validator(mode="after")
    def _wakes_only_if_it_sleeps(self) -> Node:
        if self.sleep_power_w is None and (self.wake_ms > 0 or self.wake_energy_j > 0):
            raise ValueError("wake_ms and wake_energy_j need sleep_power_w (a node that sleeps)")
        return self

    @model_validator(mode="after")
    def _curve_matches_model(self) -> Node:
        curve = self.power_curve_w
        if self.power_model is PowerModel.MEASURED:
            if curve is None:
                raise ValueError("power_model 'measured' needs power_curve_w (11 powers)")
            if any(b < a for a, b in pairwise(curve)):
                raise ValueError("power_curve_w must not decrease with utilisation")
            for end, value, name in (
                (0, self.idle_power_w, "idle"),
                (-1, self.peak_power_w, "peak"),
            ):
                if abs(curve[end] - value) > 1e-9 * max(1.0, value):
                    raise ValueError(
                        f"power_curve_w[{end}] ({curve[end]}) must equal {name}_power_w ({value})"
                    )
        elif curve is not None:
            raise ValueError(
                "power_curve_w is only read with power_model 'measured', "
                f"not {self.power_model.value!r}"
            )
        return self

    @model_validator(mode="after")
    def _peak_not_below_idle(self) -> Node:
        if self.peak_power_w < self.idle_power_w:
            raise ValueError(
                f"peak_power_w ({self.peak_power_w}) must not be below idle_power_w "
                f"({self.idle_power_w})"
            )
        return self


class Domain(_Strict):
    """A domain managed by one domain orchestrator; it holds one or more nodes."""

    name: Name = Field(description="name of the domain, unique; links refer to it")
    kind: DomainKind = Field(description="terminal (requests start there), RAN or transport")
    nodes: list[Node] = Field(min_length=1, description="the domain's compute nodes")


class RadioLink(_Strict):
    """Radio access between a terminal domain and its RAN domain.

    The rate of each direction is Shannon's ``bandwidth * log2(1 + SNR)``; the SNR is drawn each
    slot as log-normal shadowing around ``mean_snr_db``. Uplink energy is the terminals' transmit
    power times air time; downlink energy is ``bs_energy_nj_per_bit`` per bit (the load-dependent
    part of the EARTH base-station model, Auer et al., IEEE Wireless Commun. 2011).
    """

    terminal: Name = Field(description="the terminal domain; each has exactly one radio link")
    ran: Name = Field(description="the RAN domain it attaches to")
    uplink_mhz: float = Field(gt=0, description="uplink bandwidth")
    downlink_mhz: float = Field(gt=0, description="downlink bandwidth")
    mean_snr_db: float = Field(ge=-10, le=60, description="mean signal-to-noise ratio")
    shadowing_std_db: float = Field(
        default=4.0, ge=0, le=20, description="standard deviation of the SNR's shadowing per slot"
    )
    tx_power_w: float = Field(default=0.2, ge=0, description="terminal transmit power")
    bs_energy_nj_per_bit: float = Field(
        default=50.0, ge=0, description="base-station energy per downlink bit"
    )


class WiredLink(_Strict):
    """A wired link between two RAN or transport domains (full duplex, per-direction capacity)."""

    a: Name = Field(description="one end: a RAN or transport domain")
    b: Name = Field(description="the other end: a RAN or transport domain")
    bandwidth_gbps: float = Field(gt=0, description="capacity of each direction")
    delay_ms: float = Field(ge=0, description="one-way propagation delay")
    energy_nj_per_bit: float = Field(default=0.0, ge=0, description="energy per bit carried")
