"""Build scenarios of the seed-002 shape at any size (pure; no I/O).

The shape: ``n`` terminal domains, each attached by radio to its own RAN domain (one MEC server
each); the RAN domains form a ring of Xn-like links and each has a backhaul to one transport
domain that holds a regional data centre and a cloud node. Service parameters are drawn from the
ranges of :data:`SERVICE_RANGES` with a fixed seed, so a preset file is reproducible from here.

Parameter sources (see each preset's ``notes``):

- server power: linear utilisation model, idle about half of peak (Fan, Weber, Barroso, "Power
  provisioning for a warehouse-sized computer", ISCA 2007);
- base-station downlink energy per bit: load-dependent part of the EARTH model (Auer et al., "How
  much energy is needed to run a wireless network?", IEEE Wireless Commun. 2011);
- terminal compute energy ``kappa f^2`` per cycle with ``kappa = 1e-27``, ``f = 1.2 GHz``
  (about 1.5 J per gigacycle), the common mobile-edge-computing setting (Mao et al., "A survey on
  mobile edge computing: the communication perspective", IEEE COMST 2017);
- cold start: pulling a container and loading a 0.5-4 GB model takes about 0.3-1.5 s of a
  100-200 W server, 50-300 J;
- transport energy per bit of metro/core gear: tens of nJ/bit (Baliga et al., "Energy consumption
  in optical IP networks", J. Lightwave Technol. 2009).
"""

from __future__ import annotations

import numpy as np

from cnc6g.model import (
    Domain,
    DomainKind,
    Node,
    Objective,
    ProcessorKind,
    RadioLink,
    Scenario,
    ServiceType,
    TwinSettings,
    WiredLink,
    Workload,
)

SERVICE_RANGES: dict[str, tuple[float, float]] = {
    "compute_gcycles": (0.05, 1.0),
    "input_mbit": (0.05, 1.0),
    "output_mbit": (0.01, 0.2),
    "memory_gb": (0.5, 4.0),
    "instance_power_w": (1.0, 4.0),
    "instantiation_energy_j": (50.0, 300.0),
    "cold_start_ms": (300.0, 1500.0),
    "deadline_ms": (50.0, 500.0),
}
"""Uniform ranges of the drawn service parameters (after research note section 1.8)."""

GPU_SHARE = 0.3
"""Share of services that need a GPU (large models): they run on MEC servers or the DC only."""

TERMINAL_MEMORY_LIMIT_GB = 1.5
"""Services at most this large may also run on terminals."""


def synthetic_services(n: int, seed: int) -> list[ServiceType]:
    """``n`` service types with parameters drawn from :data:`SERVICE_RANGES`."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in SERVICE_RANGES.items()}
        v = {k: round(x, 3) for k, x in v.items()}
        gpu = bool(rng.random() < GPU_SHARE)
        tiers = [DomainKind.RAN, DomainKind.TRANSPORT]
        if v["memory_gb"] <= TERMINAL_MEMORY_LIMIT_GB and not gpu:
            tiers.insert(0, DomainKind.TERMINAL)
        out.append(
            ServiceType(
                name=f"svc{i:02d}",
                tiers=tiers,
                processors=[ProcessorKind.GPU] if gpu else list(ProcessorKind),
                **v,
            )
        )
    return out


def synthetic_scenario(
    name: str,
    n_cells: int = 10,
    n_services: int = 30,
    offered_load: float = 0.8,
    seed: int = 2026,
    candidates_per_origin: int | None = None,
    description: str = "",
    notes: list[str] | None = None,
) -> Scenario:
    """A scenario with ``n_cells`` terminal + ``n_cells`` RAN domains and one transport domain."""
    rng = np.random.default_rng(seed + 1)
    domains: list[Domain] = []
    radio: list[RadioLink] = []
    wired: list[WiredLink] = []
    for i in range(n_cells):
        domains.append(
            Domain(
                name=f"T{i}",
                kind=DomainKind.TERMINAL,
                nodes=[
                    Node(
                        name=f"T{i}-devices",
                        processor=ProcessorKind.NPU,
                        capacity_gcps=6.0,
                        memory_gb=4.0,
                        idle_power_w=0.0,
                        peak_power_w=9.0,
                    )
                ],
            )
        )
    for i in range(n_cells):
        domains.append(
            Domain(
                name=f"R{i}",
                kind=DomainKind.RAN,
                nodes=[
                    Node(
                        name=f"R{i}-mec",
                        processor=ProcessorKind.GPU,
                        capacity_gcps=40.0,
                        memory_gb=32.0,
                        idle_power_w=150.0,
                        peak_power_w=300.0,
                        sleep_power_w=15.0,
                        access_delay_ms=0.5,
                    )
                ],
            )
        )
        radio.append(
            RadioLink(
                terminal=f"T{i}",
                ran=f"R{i}",
                uplink_mhz=50.0,
                downlink_mhz=100.0,
                mean_snr_db=round(float(rng.uniform(12.0, 22.0)), 1),
                shadowing_std_db=4.0,
                tx_power_w=0.2,
                bs_energy_nj_per_bit=50.0,
            )
        )
    domains.append(
        Domain(
            name="X",
            kind=DomainKind.TRANSPORT,
            nodes=[
                Node(
                    name="X-dc",
                    processor=ProcessorKind.GPU,
                    capacity_gcps=200.0,
                    memory_gb=256.0,
                    idle_power_w=600.0,
                    peak_power_w=1200.0,
                    access_delay_ms=1.0,
                    access_energy_nj_per_bit=10.0,
                ),
                Node(
                    name="X-cloud",
                    processor=ProcessorKind.CPU,
                    capacity_gcps=400.0,
                    memory_gb=1024.0,
                    idle_power_w=0.0,
                    peak_power_w=1000.0,
                    access_delay_ms=20.0,
                    access_energy_nj_per_bit=30.0,
                ),
            ],
        )
    )
    for i in range(n_cells):
        wired.append(
            WiredLink(a=f"R{i}", b="X", bandwidth_gbps=1.0, delay_ms=3.0, energy_nj_per_bit=20.0)
        )
    if n_cells > 2:
        for i in range(n_cells):
            wired.append(
                WiredLink(
                    a=f"R{i}",
                    b=f"R{(i + 1) % n_cells}",
                    bandwidth_gbps=1.0,
                    delay_ms=1.0,
                    energy_nj_per_bit=10.0,
                )
            )
    return Scenario(
        name=name,
        description=description,
        notes=notes or [],
        domains=domains,
        radio_links=radio,
        wired_links=wired,
        services=synthetic_services(n_services, seed),
        workload=Workload(offered_load=offered_load, zipf_exponent=1.2),
        twin=TwinSettings(candidates_per_origin=candidates_per_origin),
        objective=Objective(unsatisfied_penalty_j=20.0),
    )


TINY_SLOT_FAMILIES: dict[str, dict[str, tuple[float, float]]] = {
    "tight": {"deadline_ms": (30.0, 200.0), "load": (0.5, 1.2)},
    "loose": {"deadline_ms": (80.0, 400.0), "load": (0.4, 0.9)},
}
"""Deadline and load ranges of the families :func:`tiny_slot_scenario` draws from."""

TINY_SLOT_SHAPES = ((1, 2), (1, 3), (2, 2))
"""(cells, services) of the tiny slots, small enough to search every deployment."""


def tiny_slot_scenario(seed: int, family: str = "tight") -> Scenario:
    """A random scenario of 1-2 cells and 2-3 services, small enough for exhaustive search.

    Each cell is a terminal domain (one device) with a radio link to one shared RAN domain (a
    MEC server that may sleep) behind a backhaul to a transport domain (a data centre). Node
    capacities and powers, service parameters (cold starts of 100-800 ms in a 1 s slot) and the
    offered load are drawn from ``seed``; the deadlines and load from the ranges of
    ``TINY_SLOT_FAMILIES[family]`` (``tight``: 30-200 ms, L 0.5-1.2; ``loose``: 80-400 ms,
    L 0.4-0.9).
    """
    ranges = TINY_SLOT_FAMILIES[family]
    rng = np.random.default_rng(seed)
    cells, n_services = TINY_SLOT_SHAPES[int(rng.integers(len(TINY_SLOT_SHAPES)))]

    def draw(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 3)

    domains = [
        Domain(
            name=f"T{i}",
            kind=DomainKind.TERMINAL,
            nodes=[
                Node(
                    name=f"T{i}-dev",
                    processor=ProcessorKind.NPU,
                    capacity_gcps=draw(2.0, 6.0),
                    memory_gb=2.0,
                    idle_power_w=0.0,
                    peak_power_w=draw(4.0, 9.0),
                    access_delay_ms=0.2,
                )
            ],
        )
        for i in range(cells)
    ]
    mec_idle = draw(60.0, 150.0)
    domains.append(
        Domain(
            name="R",
            kind=DomainKind.RAN,
            nodes=[
                Node(
                    name="R-mec",
                    processor=ProcessorKind.GPU,
                    capacity_gcps=draw(15.0, 40.0),
                    memory_gb=draw(3.0, 8.0),
                    idle_power_w=mec_idle,
                    peak_power_w=round(2.0 * mec_idle, 3),
                    sleep_power_w=10.0,
                    access_delay_ms=0.5,
                )
            ],
        )
    )
    dc_idle = draw(200.0, 600.0)
    domains.append(
        Domain(
            name="X",
            kind=DomainKind.TRANSPORT,
            nodes=[
                Node(
                    name="X-dc",
                    processor=ProcessorKind.GPU,
                    capacity_gcps=draw(40.0, 120.0),
                    memory_gb=64.0,
                    idle_power_w=dc_idle,
                    peak_power_w=round(2.0 * dc_idle, 3),
                    access_delay_ms=1.0,
                    access_energy_nj_per_bit=10.0,
                )
            ],
        )
    )
    services = []
    for s in range(n_services):
        small = bool(rng.random() < 0.6)
        services.append(
            ServiceType(
                name=f"svc{s}",
                compute_gcycles=draw(0.05, 0.6),
                input_mbit=draw(0.05, 1.0),
                output_mbit=draw(0.01, 0.2),
                memory_gb=draw(0.5, 1.5) if small else draw(2.0, 4.0),
                instance_power_w=draw(1.0, 4.0),
                instantiation_energy_j=draw(20.0, 300.0),
                cold_start_ms=draw(100.0, 800.0),
                deadline_ms=draw(*ranges["deadline_ms"]),
                tiers=[DomainKind.TERMINAL, DomainKind.RAN, DomainKind.TRANSPORT]
                if small
                else [DomainKind.RAN, DomainKind.TRANSPORT],
            )
        )
    return Scenario(
        name=f"tiny-slot-{family}-{seed}",
        description="a random slot small enough to search every deployment",
        domains=domains,
        radio_links=[
            RadioLink(
                terminal=f"T{i}",
                ran="R",
                uplink_mhz=draw(10.0, 50.0),
                downlink_mhz=draw(20.0, 100.0),
                mean_snr_db=draw(10.0, 22.0),
                tx_power_w=0.2,
                bs_energy_nj_per_bit=50.0,
            )
            for i in range(cells)
        ],
        wired_links=[
            WiredLink(
                a="R", b="X", bandwidth_gbps=1.0, delay_ms=draw(2.0, 5.0), energy_nj_per_bit=20.0
            )
        ],
        services=services,
        workload=Workload(offered_load=draw(*ranges["load"]), zipf_exponent=0.8),
        twin=TwinSettings(admission_utilisation=0.8),
        objective=Objective(unsatisfied_penalty_j=20.0),
    )
