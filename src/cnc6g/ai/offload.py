"""Network-assisted offloading of an inference session: decide, migrate, fall back (seed 003).

Seed 003 (network-assisted offloading decision) asks that the split between terminal, edge and
cloud weigh queueing delay, link quality, the terminal's battery and thermal state, the privacy
domain and the QoE, re-decided while the session runs; that a moving terminal's session migrate
to a closer node when that is better; and that it fall back to local inference when the network
cannot carry it. :class:`SessionController` does this slot by slot for one session:

- **Candidates.** Every monotone plan terminal -> edge -> cloud, given by its two cuts
  ``a <= b`` (:func:`cnc6g.ai.split.evaluate_cuts`, vectorised over all pairs), under the slot's
  uplink and downlink rates.
- **Privacy.** ``device``: nothing leaves the terminal (all local); ``operator``: the edge may
  compute, a third-party cloud may not; ``any``: no restriction.
- **Queueing.** The edge's and the cloud's current queueing delay are added to every plan that
  uses them.
- **Thermal state.** Above ``throttle_c`` the terminal's processor slows linearly to
  ``min_speed`` at ``critical_c`` (on-device inference heats the device; a hot phone throttles).
- **Battery and QoE.** Plans that meet the deadline come first. Among them the least latency
  while the battery is above ``low_battery`` and the device is not throttled; otherwise the
  least terminal energy. When none meets the deadline, the least latency.
- **Migration.** The session's state (the KV cache of its context for an LLM, else nothing) sits
  at the edge of one cell; it matters to plans that use the edge. After a handover, staying
  costs a detour of ``2 x detour_delay_s`` per remaining request; migrating costs the state's
  transfer over the wired path once. The cheaper one is taken.

Fallback is the same decision on the slot's link: when the uplink drops, the next :meth:`step`
re-splits (fewer bytes up) or keeps everything local, within that slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from cnc6g.ai.processors import Processor
from cnc6g.ai.profiles import ModelProfile
from cnc6g.ai.split import TERMINAL, Network, evaluate_cuts, tiers_of

Privacy = Literal["device", "operator", "any"]
PRIVACY: tuple[Privacy, ...] = ("device", "operator", "any")


@dataclass(frozen=True)
class DeviceState:
    """The terminal's state in one slot."""

    battery_share: float = 1.0
    """Charge left, 0..1."""
    temperature_c: float = 30.0
    """Skin temperature."""
    throttle_c: float = 40.0
    """Temperature where the processor starts to slow down (an assumption for phones)."""
    critical_c: float = 46.0
    """Temperature where it runs at ``min_speed``."""
    min_speed: float = 0.3

    def speed(self) -> float:
        """Share of its processor's speed the terminal gets at its temperature."""
        if self.temperature_c <= self.throttle_c:
            return 1.0
        hot = (self.temperature_c - self.throttle_c) / (self.critical_c - self.throttle_c)
        return float(max(self.min_speed, 1.0 - (1.0 - self.min_speed) * min(hot, 1.0)))


@dataclass(frozen=True)
class SlotContext:
    """What the network knows of the session's situation in one slot."""

    network: Network
    """The terminal's links now (scalar rates)."""
    cell: int
    """Cell the terminal is attached to."""
    device: DeviceState = DeviceState()
    edge_queue_s: float = 0.0
    """Queueing delay at the edge now."""
    cloud_queue_s: float = 0.0
    """Queueing delay in the cloud now."""
    detour_delay_s: float = 0.002
    """One-way extra delay from this cell's edge to another cell's edge."""
    remaining_requests: int = 1
    """Requests the session is expected to make from now on."""


@dataclass(frozen=True)
class SessionDecision:
    """What the controller chose for one slot and what it costs."""

    tiers: np.ndarray
    """Tier of every block (0 terminal, 1 edge, 2 cloud)."""
    latency_s: float
    energy_j: float
    """Terminal energy of one request."""
    meets_deadline: bool
    anchor_cell: int
    """Cell whose edge holds the session's state after this slot."""
    migrated: bool
    migration_s: float
    """Time the state transfer adds to this slot's first request (0 when not migrated)."""
    local: bool
    """Everything runs on the terminal."""
    objective: Literal["latency", "energy"]


class SessionController:
    """Slot-by-slot offloading decisions of one inference session.

    Args:
        profile: the model served.
        tiers: processors of terminal, edge and cloud.
        deadline_s: latency target of one request.
        privacy: ``device``, ``operator`` or ``any`` (see the module).
        state_bytes: the session's state at the edge (e.g. the KV cache of its context).
        low_battery: below this share the controller saves terminal energy.
    """

    def __init__(
        self,
        profile: ModelProfile,
        tiers: tuple[Processor, Processor, Processor],
        deadline_s: float,
        privacy: Privacy = "any",
        state_bytes: float = 0.0,
        low_battery: float = 0.3,
    ) -> None:
        if privacy not in PRIVACY:
            raise ValueError(f"privacy must be one of {PRIVACY}, not {privacy!r}")
        if not deadline_s > 0:
            raise ValueError("deadline_s must be > 0")
        self.profile = profile
        self.tiers = tiers
        self.deadline_s = deadline_s
        self.privacy: Privacy = privacy
        self.state_bytes = state_bytes
        self.low_battery = low_battery
        self.anchor: int | None = None
        n = profile.n
        a, b = np.triu_indices(n + 1)  # every pair of cuts a <= b
        self._a = a.astype(np.int64)
        self._b = b.astype(np.int64)
        allowed = np.ones(len(a), dtype=bool)
        if privacy == "device":
            allowed &= a == n
        elif privacy == "operator":
            allowed &= b == n  # nothing in the cloud
        self._allowed = allowed

    def step(self, ctx: SlotContext) -> SessionDecision:
        """Decide this slot's plan and anchor from ``ctx``."""
        n = self.profile.n
        r = len(self._a)
        speed = np.ones((r, 3))
        speed[:, TERMINAL] = ctx.device.speed()
        plans = evaluate_cuts(
            self.profile, self.tiers, ctx.network, self._a, self._b, self.deadline_s, speed
        )
        on_edge = self._b > self._a
        in_cloud = self._b < n

        # Where the state lives: migrate after a handover when that beats the detour.
        anchor = ctx.cell if self.anchor is None else self.anchor
        migration_s = 0.0
        migrated = False
        if anchor != ctx.cell:
            wired = float(np.asarray(ctx.network.wired_mbps))
            move_s = self.state_bytes * 8.0 / (wired * 1e6) + ctx.detour_delay_s
            stay_s = 2.0 * ctx.detour_delay_s * max(ctx.remaining_requests, 1)
            if move_s < stay_s:
                anchor, migration_s, migrated = ctx.cell, move_s, True
        detour = 0.0 if anchor == ctx.cell else 2.0 * ctx.detour_delay_s

        latency = (
            plans.latency_s
            + np.where(on_edge, ctx.edge_queue_s + detour, 0.0)
            + np.where(in_cloud, ctx.cloud_queue_s, 0.0)
            + np.where(on_edge, migration_s, 0.0)
        )
        energy = plans.energy_j
        meets = latency <= self.deadline_s
        saving = ctx.device.battery_share < self.low_battery or ctx.device.speed() < 1.0
        objective: Literal["latency", "energy"] = "energy" if saving else "latency"
        ok = self._allowed & meets
        pool = ok if ok.any() else self._allowed
        if objective == "energy" and ok.any():
            key = np.where(pool, energy, np.inf)
            tie = np.where(pool, latency, np.inf)
        else:
            key = np.where(pool, latency, np.inf)
            tie = np.where(pool, energy, np.inf)
        best = int(np.lexsort((tie, key))[0])
        tiers = tiers_of(self._a[best : best + 1], self._b[best : best + 1], n)[0]
        local = bool(self._a[best] == n)
        if not on_edge[best]:  # the state stays where it is: this slot does not use the edge
            migrated, migration_s = False, 0.0
            anchor = self.anchor if self.anchor is not None else ctx.cell
        self.anchor = anchor
        return SessionDecision(
            tiers=tiers,
            latency_s=float(latency[best]),
            energy_j=float(energy[best]),
            meets_deadline=bool(latency[best] <= self.deadline_s),
            anchor_cell=anchor,
            migrated=migrated,
            migration_s=migration_s,
            local=local,
            objective=objective,
        )
