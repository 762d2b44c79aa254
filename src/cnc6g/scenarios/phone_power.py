"""Phones' radio power fitted to 5G measurements: the twin's :class:`TerminalPower` for 5G.

The measurements are those published with Narayanan et al., "A Variegated Look at 5G in the
Wild: Performance, Power, and QoE Implications", ACM SIGCOMM 2021 (their artifact repository,
``SIGCOMM21-5G/artifact``), shipped here as two small derived tables:

- ``traces/phone-power-5g-2021.csv``: controlled iPerf transfers in one direction at a fixed
  target rate on a Samsung Galaxy S20 Ultra 5G (Verizon; LTE, 5G NSA low band, 5G NSA mmWave),
  the phone's power read each second by a Monsoon power monitor
  (``Data-Transfer-Power/MN-Transfer/data-processed/MN-Transfer_combined.csv``). Per network,
  direction and target: the seconds whose throughput was within 10 % (plus 0.5 Mbit/s) of the
  target, their count, mean throughput (Mbit/s) and mean power (mW); targets with fewer than
  five such seconds are left out.
- ``traces/rrc-probe-2021.csv``: the artifact's RRC probes (``RRC-Probe/data``): a packet sent to
  the phone after an idle interval, answered at once; per probe set and interval the median
  round-trip time of the probes kept by the artifact (no other traffic in between). While the
  radio is connected the answer waits at most for the connected-mode DRX cycle (under 0.5 s);
  once the connection is released it waits for paging and the connection set-up (0.5-1.6 s).

:func:`fit_terminal_power` fits ``P = base + a_down r_down + a_up r_up`` to the transfers of one
network by least squares over the targets (one base for both directions), then takes the phone's
idle power with the screen on (:data:`IDLE_MW`: the mean of the 33 baseline powers the same
artifact publishes for its walking runs on the same phone model,
``Power-Model/MN-Wild/data-processed/baseline_power.csv``; the transfer runs' own baseline is not
published) off the base, so ``base_w`` is what the radio adds while a transfer is on, as in Huang
et al.'s LTE model. :func:`rrc_inactivity_s` reads the release timer off a probe set: the first
idle interval of at least a second whose round trip exceeds 1.5 times every one before it. The
tail's power is not in the artifact (its raw power traces are not in the repository);
:data:`TAIL_TO_BASE` keeps Huang et al.'s ratio of tail to base power.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

from cnc6g.model.radio import TerminalPower

IDLE_MW = 2285.84
"""The phone's power with nothing sent, screen on, mW (mean of the artifact's 33 baselines)."""

TAIL_TO_BASE = 1.060 / 1.288
"""Tail power over base power in Huang et al.'s LTE model (MobiSys 2012), kept for 5G."""

NETWORKS = ("lte", "nsa-low-band", "nsa-mmwave")
"""The networks of the transfer table."""

TIMER_PROBES = {
    "lte": "verizon-lte-1",
    "nsa-low-band": "verizon-nsa-low-band-1",
    "nsa-mmwave": "verizon-nsa-mmwave-2",
}
"""The probe set whose release timer a network's model takes (the transfers' carrier)."""


@dataclass(frozen=True)
class Transfer:
    """One row of the transfer table: a network, direction and target rate."""

    network: str
    direction: str
    target_mbps: float
    seconds: int
    throughput_mbps: float
    power_mw: float


@dataclass(frozen=True)
class PowerFit:
    """``P = base + a_down r_down + a_up r_up`` (mW, Mbit/s) fitted to one network's transfers."""

    network: str
    base_mw: float
    downlink_mw_per_mbps: float
    uplink_mw_per_mbps: float
    targets: int
    rmse_mw: float
    r2: float


def _table(name: str) -> list[dict[str, str]]:
    text = resources.files("cnc6g.scenarios").joinpath("traces", name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def transfers() -> list[Transfer]:
    """The shipped transfer table (``traces/phone-power-5g-2021.csv``)."""
    return [
        Transfer(
            network=r["network"],
            direction=r["direction"],
            target_mbps=float(r["target_mbps"]),
            seconds=int(r["seconds"]),
            throughput_mbps=float(r["throughput_mbps"]),
            power_mw=float(r["power_mw"]),
        )
        for r in _table("phone-power-5g-2021.csv")
    ]


def rrc_probes() -> dict[str, list[tuple[float, float]]]:
    """The shipped probe table: per probe set, (idle interval s, median round trip ms)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in _table("rrc-probe-2021.csv"):
        out.setdefault(r["probe"], []).append((float(r["interval_s"]), float(r["median_rtt_ms"])))
    return {k: sorted(v) for k, v in out.items()}


def fit_power(rows: list[Transfer], network: str) -> PowerFit:
    """Least squares of power on the downlink and uplink rates over ``network``'s targets."""
    mine = [r for r in rows if r.network == network]
    directions = {r.direction for r in mine}
    if directions != {"downlink", "uplink"}:
        raise ValueError(f"network {network!r}: transfers in both directions needed")
    a = np.array(
        [
            [
                1.0,
                r.throughput_mbps * (r.direction == "downlink"),
                r.throughput_mbps * (r.direction == "uplink"),
            ]
            for r in mine
        ]
    )
    p = np.array([r.power_mw for r in mine])
    coef, *_ = np.linalg.lstsq(a, p, rcond=None)
    residual = p - a @ coef
    return PowerFit(
        network=network,
        base_mw=float(coef[0]),
        downlink_mw_per_mbps=float(coef[1]),
        uplink_mw_per_mbps=float(coef[2]),
        targets=len(mine),
        rmse_mw=float(np.sqrt(np.mean(residual**2))),
        r2=float(1.0 - (residual**2).sum() / ((p - p.mean()) ** 2).sum()),
    )


def rrc_inactivity_s(probes: list[tuple[float, float]], jump: float = 1.5) -> float:
    """The release timer: the first interval >= 1 s whose round trip jumps over all before it.

    The intervals under a second span the connected-mode DRX cycle, so every round trip of a
    connected radio is at most their largest; a jump to ``jump`` times that is paging.
    """
    seen: list[float] = []
    for interval, rtt in sorted(probes):
        if interval >= 1.0 and seen and rtt > jump * max(seen):
            return interval
        seen.append(rtt)
    raise ValueError("the round trip never jumps: no release within the probed intervals")


def fit_terminal_power(network: str, idle_mw: float = IDLE_MW) -> TerminalPower:
    """The twin's phone radio model for ``network`` from the shipped data (see the module)."""
    if network not in TIMER_PROBES:
        raise ValueError(f"network must be one of {sorted(TIMER_PROBES)}, not {network!r}")
    fit = fit_power(transfers(), network)
    base_w = (fit.base_mw - idle_mw) / 1e3
    if base_w <= 0:
        raise ValueError(f"idle_mw {idle_mw} is above the fitted power with a transfer on")
    timer_s = rrc_inactivity_s(rrc_probes()[TIMER_PROBES[network]])
    return TerminalPower(
        uplink_w_per_mbps=round(fit.uplink_mw_per_mbps / 1e3, 4),
        downlink_w_per_mbps=round(fit.downlink_mw_per_mbps / 1e3, 4),
        base_w=round(base_w, 3),
        tail_w=round(base_w * TAIL_TO_BASE, 3),
        tail_ms=round(timer_s * 1e3, 0),
    )
