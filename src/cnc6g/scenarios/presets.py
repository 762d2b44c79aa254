"""How each shipped preset is built; ``python -m cnc6g.scenarios.presets DIR`` writes them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from cnc6g.model import Scenario
from cnc6g.scenarios import dump_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario

COMMON_NOTES = [
    "Request range: the range in seed 002 section IV is lost from our copy; the volume is set by "
    "offered load L = mean work per slot / (RAN + regional-DC capacity), N ~ U[0.8, 1.2] x the "
    "mean, swept over L in 0.2..1.2 (project research note, algorithms section 1.7).",
    "Server power: linear in utilisation, idle = half of peak (Fan, Weber, Barroso, ISCA 2007). "
    "MEC servers sleep at 10 % of idle when they host no instance; the regional DC is always on; "
    "the cloud is shared with other tenants, so only its load-proportional power is charged.",
    "Terminal compute: kappa f^2 with kappa = 1e-27, f = 1.2 GHz, about 1.5 J per gigacycle "
    "(Mao et al., IEEE COMST 2017).",
    "Radio: Shannon rate over 50 MHz up / 100 MHz down, mean SNR 12-22 dB per cell, 4 dB "
    "shadowing; terminal tx power 0.2 W; base-station downlink 50 nJ/bit (EARTH model, Auer et "
    "al., IEEE Wireless Commun. 2011).",
    "Wired: 1 Gbit/s backhaul with 3 ms delay and 20 nJ/bit, 1 Gbit/s RAN ring with 1 ms, cloud "
    "20 ms behind the transport gateway at 30 nJ/bit (Baliga et al., J. Lightwave Technol. 2009).",
    "Services: parameters drawn uniformly from the ranges of cnc6g.scenarios.synthetic "
    "(research note section 1.8) with the fixed seed of the preset's builder in "
    "cnc6g.scenarios.presets; 30 % need a GPU; small CPU/NPU models may run on terminals.",
]


def paper_case_study() -> Scenario:
    """Seed 002, section IV: 10 terminal + 10 RAN + 1 transport domains, 30 services, Zipf 1.2."""
    return synthetic_scenario(
        "paper-case-study",
        n_cells=10,
        n_services=30,
        offered_load=0.8,
        description=(
            "Case study of seed 002 (Towards Ubiquitous 6G Computing and Networking "
            "Convergence, section IV): 10 terminal-side, 10 RAN-side and 1 transport-side "
            "domains, 30 service types with Zipf(1.2) popularity, uniform requests per slot."
        ),
        notes=COMMON_NOTES,
    )


def tiny() -> Scenario:
    """3 terminal + 3 RAN + 1 transport domains and 6 services: for tests and quick looks."""
    return synthetic_scenario(
        "tiny",
        n_cells=3,
        n_services=6,
        offered_load=0.6,
        seed=7,
        description="A small system of the case-study shape for tests and quick experiments.",
        notes=COMMON_NOTES,
    )


def scale_100() -> Scenario:
    """100 terminal + 100 RAN domains (100 MEC servers): the benchmark's large system."""
    return synthetic_scenario(
        "scale-100",
        n_cells=100,
        n_services=30,
        offered_load=0.8,
        candidates_per_origin=16,
        description=(
            "100 cells of the case-study shape (100 MEC servers, a DC and a cloud); each origin "
            "may use its 16 nearest remote nodes. Used by the throughput benchmark."
        ),
        notes=COMMON_NOTES,
    )


BUILDERS: dict[str, Callable[[], Scenario]] = {
    "paper-case-study": paper_case_study,
    "tiny": tiny,
    "scale-100": scale_100,
}


def main(argv: list[str]) -> None:
    """Write every preset as TOML into the folder ``argv[0]``."""
    out = Path(argv[0]) if argv else Path(__file__).parent / "presets"
    for name, build in BUILDERS.items():
        (out / f"{name}.toml").write_text(dump_scenario(build()), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
