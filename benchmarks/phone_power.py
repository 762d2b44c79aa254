"""The phone radio models fitted to 5G measurements, with the fits they come from.

Run with ``python -m benchmarks.phone_power``: per network of the shipped transfer table the
least-squares fit ``P = base + a_down r_down + a_up r_up`` (mW, Mbit/s), per probe set of the
shipped RRC probes the release timer, and the twin's phone model per network
(:mod:`cnc6g.scenarios.phone_power`).
"""

from __future__ import annotations

from cnc6g.scenarios.phone_power import (
    NETWORKS,
    TIMER_PROBES,
    fit_power,
    fit_terminal_power,
    rrc_inactivity_s,
    rrc_probes,
    transfers,
)


def main() -> None:
    """Print the fits, the timers and the models."""
    rows = transfers()
    for network in NETWORKS:
        f = fit_power(rows, network)
        print(
            f"{network}: P = {f.base_mw:.0f} mW + {f.downlink_mw_per_mbps:.2f} mW/Mbps down"
            f" + {f.uplink_mw_per_mbps:.2f} mW/Mbps up ({f.targets} targets, rmse"
            f" {f.rmse_mw:.0f} mW, R2 {f.r2:.3f})"
        )
    for probe, values in rrc_probes().items():
        print(f"{probe}: release after {rrc_inactivity_s(values):.1f} s idle")
    for network in TIMER_PROBES:
        print(f"{network}: {fit_terminal_power(network).model_dump()}")


if __name__ == "__main__":
    main()
