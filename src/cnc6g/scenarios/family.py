"""A family of case-study variants, for training one HMARL checkpoint that fits any of them (pure).

Every member has the shape of :func:`~cnc6g.scenarios.synthetic.synthetic_scenario` (terminal
and RAN domains in pairs, one transport domain) with the case study's service draws (the first
``n_services`` of seed 2026) and changes the case study along the axes a deployed orchestrator
meets: the number of cells, the services' Zipf exponent, the capacity of the MEC servers and of
the regional data centre, the MEC servers' idle power, and a static hotspot (a few cells with
several times the others' request rate).

:data:`FAMILIES` names the ranges a training draws from (per episode, seeded); :data:`HELD_OUT`
names variants no training draws: their cell counts are never drawn, and most of their other
parameters lie outside the training ranges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cnc6g.model import DomainKind, Scenario
from cnc6g.scenarios.synthetic import synthetic_scenario

CASE_STUDY_SEED = 2026
"""Seed of the case study's service draws (shared by every member of the family)."""


@dataclass(frozen=True)
class Variant:
    """One member of the family.

    Attributes:
        name: the scenario's name.
        n_cells: terminal domains, and as many RAN domains (one MEC server each).
        n_services: service types (the first ``n_services`` of the case study's draws).
        zipf: exponent of the services' Zipf popularity.
        mec_capacity: factor on the MEC servers' capacity.
        dc_capacity: factor on the regional data centre's capacity.
        mec_idle: factor on the MEC servers' idle (and peak and sleep) power.
        hotspots: cells (indices) whose request rate is ``hotspot_weight`` times the others'.
        hotspot_weight: relative request rate of the hotspot cells.
    """

    name: str
    n_cells: int = 10
    n_services: int = 30
    zipf: float = 1.2
    mec_capacity: float = 1.0
    dc_capacity: float = 1.0
    mec_idle: float = 1.0
    hotspots: tuple[int, ...] = ()
    hotspot_weight: float = 3.0

    def __post_init__(self) -> None:
        problems = []
        if self.n_cells < 1 or self.n_services < 1:
            problems.append("n_cells and n_services must be >= 1")
        if min(self.mec_capacity, self.dc_capacity, self.mec_idle, self.hotspot_weight) <= 0:
            problems.append("capacity, idle-power and hotspot factors must be positive")
        if any(not 0 <= h < self.n_cells for h in self.hotspots):
            problems.append(f"hotspots must be cells in [0, {self.n_cells}), got {self.hotspots}")
        if problems:
            raise ValueError(f"variant {self.name!r}: " + "; ".join(problems))

    def scenario(self, offered_load: float = 0.8) -> Scenario:
        """The scenario of this variant at ``offered_load``."""
        base = synthetic_scenario(
            self.name,
            n_cells=self.n_cells,
            n_services=self.n_services,
            offered_load=offered_load,
            seed=CASE_STUDY_SEED,
            description=f"A variant of the case study: {self.describe()}.",
        )
        data = base.model_dump()
        for domain in data["domains"]:
            for node in domain["nodes"]:
                if domain["kind"] == DomainKind.RAN:
                    node["capacity_gcps"] *= self.mec_capacity
                    for key in ("idle_power_w", "peak_power_w", "sleep_power_w"):
                        node[key] *= self.mec_idle
                elif node["name"].endswith("-dc"):
                    node["capacity_gcps"] *= self.dc_capacity
        workload = data["workload"]
        workload["zipf_exponent"] = self.zipf
        if self.hotspots:
            workload["origin_weights"] = {
                f"T{i}": self.hotspot_weight if i in self.hotspots else 1.0
                for i in range(self.n_cells)
            }
        return Scenario.model_validate(data)

    def describe(self) -> str:
        """The variant's parameters in one line."""
        parts = [
            f"{self.n_cells}+{self.n_cells}+1 domains",
            f"{self.n_services} services",
            f"Zipf {self.zipf:g}",
            f"MEC capacity x{self.mec_capacity:g}",
            f"DC capacity x{self.dc_capacity:g}",
            f"MEC power x{self.mec_idle:g}",
        ]
        if self.hotspots:
            cells = ", ".join(str(i) for i in self.hotspots)
            parts.append(f"hotspot cells {cells} at x{self.hotspot_weight:g}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """Plain data (for checkpoints and result files)."""
        return asdict(self)


@dataclass(frozen=True)
class Family:
    """Ranges a training draws variants from (uniform; cell and service counts from sets).

    Attributes:
        name: the family's name (what ``cnc6g train hmarl --family`` takes).
        cells: cell counts drawn from.
        services: service counts drawn from.
        zipf: range of the Zipf exponent.
        mec_capacity: range of the factor on the MEC servers' capacity.
        dc_capacity: range of the factor on the data centre's capacity.
        mec_idle: range of the factor on the MEC servers' power.
        hotspot_share: probability that a variant has hotspot cells (a quarter of its cells,
            at least one, at two to four times the others' rate).
    """

    name: str
    cells: tuple[int, ...]
    services: tuple[int, ...]
    zipf: tuple[float, float]
    mec_capacity: tuple[float, float]
    dc_capacity: tuple[float, float]
    mec_idle: tuple[float, float]
    hotspot_share: float = 0.5

    def draw(self, seed: int | tuple[int, ...]) -> Variant:
        """The variant of ``seed`` (same seed, same variant)."""
        rng = np.random.default_rng(seed)

        def uniform(lo_hi: tuple[float, float]) -> float:
            return round(float(rng.uniform(*lo_hi)), 3)

        n = int(rng.choice(self.cells))
        s = int(rng.choice(self.services))
        zipf, mec, dc, idle = (
            uniform(r) for r in (self.zipf, self.mec_capacity, self.dc_capacity, self.mec_idle)
        )
        hot: tuple[int, ...] = ()
        weight = 3.0
        if rng.random() < self.hotspot_share:
            count = max(1, n // 4)
            hot = tuple(sorted(int(i) for i in rng.choice(n, size=count, replace=False)))
            weight = uniform((2.0, 4.0))
        seed_text = "-".join(str(v) for v in np.atleast_1d(seed))
        return Variant(f"{self.name}-{seed_text}", n, s, zipf, mec, dc, idle, hot, weight)


FAMILIES: dict[str, Family] = {
    "case-study": Family(
        name="case-study",
        cells=(4, 6, 8, 12, 14),
        services=(24, 30, 36),
        zipf=(0.9, 1.4),
        mec_capacity=(0.7, 1.3),
        dc_capacity=(0.7, 1.3),
        mec_idle=(0.7, 1.5),
    ),
}
"""Families a training can draw from, by name."""

HELD_OUT: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("held-case-study", n_cells=10),
        Variant("held-3-cells-20-services", n_cells=3, n_services=20, dc_capacity=1.5),
        Variant("held-5-cells-zipf-0.8", n_cells=5, zipf=0.8, hotspots=(1,)),
        Variant("held-10-cells-mec-idle-x2", n_cells=10, mec_idle=2.0),
        Variant("held-16-cells-mec-half", n_cells=16, mec_capacity=0.5),
        Variant("held-20-cells-hotspots", n_cells=20, n_services=40, hotspots=(0, 7, 13)),
    )
}
"""Variants no training draws (cell counts 3, 5, 10, 16 and 20 are not in any family)."""


def family(name: str) -> Family:
    """The family called ``name``.

    Raises:
        ValueError: no such family (the message lists them).
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}: use one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
