"""Online adaptation: how a policy recovers after a hotspot, a node failure or a radio drop.

One run of one policy on the twin through one event at ``at_slot``:

- ``hotspot``: from ``at_slot`` on, ``hot_share`` of the requests (80 %) come from a few terminal
  domains (30 % of them, at least one: 3 of the case study's 10), drawn with the run's seed; the
  rest share what is left.
- ``hotspot-popularity``: from ``at_slot`` on, the services' popularity ranking is redrawn.
- ``failure``: from ``at_slot`` on, a node (default: :func:`busiest_ran_node`) can host no instance
  and take no task: a :class:`~cnc6g.twin.events.NodeFailure` event of the twin, which the
  orchestrator's loop applies at that slot and tells the policy of.
- ``uplink-drop``: from ``at_slot`` on, the uplink bandwidth of a few cells (drawn as the hot
  domains of ``hotspot``) is ten times lower: a :class:`~cnc6g.twin.events.RadioDrop` event.

The twin's demand and channel depend on its seed only, so runs of different policies with the same
seed see the same requests. The figures of a run (see :func:`recovery_slots`): the pre-event
level of satisfaction, the dip after the event and the slots until the satisfaction, averaged over
``window`` slots, is back within a relative ``tolerance`` (2 %) of the pre-event level and stays
there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnc6g.experiments.runner import ProgressHook
from cnc6g.model import DomainKind, HotspotShift, Scenario
from cnc6g.orchestration.loop import SlotLoop
from cnc6g.policies import GreedyPolicy, Policy
from cnc6g.twin import ENERGY_PARTS, System, Twin, compile_scenario
from cnc6g.twin.events import NodeFailure, RadioDrop, TwinEvent
from cnc6g.twin.system import FloatArray

EVENTS = ("hotspot", "hotspot-popularity", "failure", "uplink-drop")
"""Events :func:`adapt` can put into a run."""
UPLINK_DROP = 0.1
"""Factor an ``uplink-drop`` event multiplies the hit cells' uplink bandwidth by."""

WINDOW = 10
"""Slots of the moving average of satisfaction that recovery is judged on."""

TOLERANCE = 0.02
"""Relative distance below the pre-event level that still counts as recovered."""

BASELINE = 50
"""Slots before the event whose mean satisfaction is the pre-event level (fewer if the run has
fewer)."""


def moving_average(values: FloatArray, window: int) -> FloatArray:
    """Mean of each ``window`` consecutive values: entry ``i`` covers ``values[i : i + window]``."""
    values = np.asarray(values, dtype=float)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if values.size < window:
        return np.empty(0)
    c = np.concatenate([[0.0], np.cumsum(values)])
    return (c[window:] - c[:-window]) / window


def recovery_slots(
    satisfaction: FloatArray,
    at_slot: int,
    level: float,
    window: int = WINDOW,
    tolerance: float = TOLERANCE,
) -> int | None:
    """Slots after the event until the averaged satisfaction is back near ``level`` for good.

    The post-event slots ``at_slot, at_slot + 1, ...`` are averaged over sliding windows of
    ``window`` slots (only post-event slots are averaged). The result is the smallest ``r >= 0``
    such that the window starting ``r`` slots after the event and the ``window - 1`` windows after
    it all average at least ``(1 - tolerance) * level``: the relative 2 % of the issue, judged on
    the downside only (being above the earlier level is recovered too). 0 means the policy did not
    dip measurably. ``None`` if that never happens within the series.

    Args:
        satisfaction: share of the tasks satisfied, per slot.
        at_slot: index of the first slot of the event.
        level: the pre-event level to come back to.
        window: slots of the moving average; the average must also stay there ``window`` windows.
        tolerance: relative distance below ``level`` still counted as recovered.
    """
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    after = np.asarray(satisfaction, dtype=float)[at_slot:]
    ok = moving_average(after, window) >= (1.0 - tolerance) * level - 1e-12
    if ok.size < window:
        return None
    # Runs of `window` good windows in a row: the first one's start is the recovery.
    held = moving_average(ok.astype(float), window) >= 1.0 - 1e-9
    hits = np.flatnonzero(held)
    return int(hits[0]) if hits.size else None


def catch_up_slots(
    satisfaction: FloatArray,
    reference: FloatArray,
    at_slot: int,
    window: int = WINDOW,
    points: float = 0.02,
) -> int | None:
    """Slots after the event until a policy is back within ``points`` of a reference policy.

    Both series (share of tasks satisfied per slot, runs with the same seed and event) are
    averaged over sliding windows of ``window`` post-event slots, as in :func:`recovery_slots`.
    The result is the smallest ``r >= 0`` such that the window starting ``r`` slots after the
    event and the ``window - 1`` windows after it all have the policy's average at least the
    reference's minus ``points`` (absolute: 0.02 is two percentage points; being above the
    reference counts too). ``None`` if that never happens within the series.

    Args:
        satisfaction: the policy's share of tasks satisfied, per slot.
        reference: the reference policy's (e.g. OPT's), per slot, same length.
        at_slot: index of the first slot of the event.
        window: slots of the moving average; the average must also stay there ``window`` windows.
        points: how far below the reference still counts as caught up (absolute share).
    """
    a = np.asarray(satisfaction, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"the series differ in length: {a.size} and {b.size}")
    if not 0 <= points < 1:
        raise ValueError(f"points must be in [0, 1), got {points}")
    ok = moving_average(a[at_slot:], window) >= moving_average(b[at_slot:], window) - points - 1e-12
    if ok.size < window:
        return None
    held = moving_average(ok.astype(float), window) >= 1.0 - 1e-9
    hits = np.flatnonzero(held)
    return int(hits[0]) if hits.size else None


@dataclass(eq=False)
class AdaptationResult:
    """Per-slot record of a run through one event and its figures.

    Attributes:
        policy: label of the policy.
        scenario: scenario name.
        event: one of :data:`EVENTS`.
        at_slot: first slot of the event.
        seed: seed of the twin and the policy.
        load: offered load L of the run (``None``: the scenario's).
        detail: what the event did (the failed node, the hot origins).
        offered: requests per slot.
        satisfied: satisfied tasks per slot.
        energy: energy per slot, J.
        objective: energy plus the penalty of the unsatisfied tasks, J per slot.
        repaired: slots in which the policy still used the failed node (dropped by the twin).
        window: slots of the moving average.
        tolerance: relative tolerance of recovery.
        baseline: slots before the event averaged for the pre-event level.
    """

    policy: str
    scenario: str
    event: str
    at_slot: int
    seed: int
    load: float | None
    detail: str
    offered: FloatArray
    satisfied: FloatArray
    energy: FloatArray
    objective: FloatArray
    repaired: int
    window: int = WINDOW
    tolerance: float = TOLERANCE
    baseline: int = BASELINE

    @property
    def satisfaction(self) -> FloatArray:
        """Share of the offered tasks satisfied, per slot (1 in a slot without requests)."""
        return np.divide(
            self.satisfied,
            self.offered,
            out=np.ones_like(self.offered),
            where=self.offered > 0,
        )

    @property
    def pre_level(self) -> float:
        """Mean satisfaction over the ``baseline`` slots before the event."""
        start = max(0, self.at_slot - self.baseline)
        return float(self.satisfaction[start : self.at_slot].mean())

    @property
    def dip(self) -> float:
        """Lowest satisfaction of a slot after the event."""
        return float(self.satisfaction[self.at_slot :].min())

    @property
    def dip_average(self) -> float:
        """Lowest ``window``-slot average of satisfaction after the event."""
        avg = moving_average(self.satisfaction[self.at_slot :], self.window)
        return float(avg.min()) if avg.size else self.dip

    @property
    def recovery_slots(self) -> int | None:
        """See :func:`recovery_slots`; ``None`` if the run ends before it recovers."""
        return recovery_slots(
            self.satisfaction, self.at_slot, self.pre_level, self.window, self.tolerance
        )

    def summary(self) -> dict[str, Any]:
        """The run's figures as one flat row."""
        after = slice(self.at_slot, None)
        return {
            "policy": self.policy,
            "scenario": self.scenario,
            "event": self.event,
            "detail": self.detail,
            "at_slot": self.at_slot,
            "slots": int(self.offered.size),
            "seed": self.seed,
            "load": self.load,
            "pre_satisfaction": self.pre_level,
            "dip": self.dip,
            "dip_average": self.dip_average,
            "recovery_slots": self.recovery_slots,
            "satisfaction_after": float(
                self.satisfied[after].sum() / max(self.offered[after].sum(), 1)
            ),
            "objective_j_after": float(self.objective[after].mean()),
            "energy_j_after": float(self.energy[after].mean()),
            "repaired_slots": self.repaired,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per slot: the series behind the figures."""
        sat = self.satisfaction
        avg = np.full(sat.size, np.nan)
        ma = moving_average(sat, self.window)
        avg[self.window - 1 :] = ma  # trailing average ending at the slot
        return [
            {
                "policy": self.policy,
                "slot": t,
                "offered": float(self.offered[t]),
                "satisfied": float(self.satisfied[t]),
                "satisfaction": float(sat[t]),
                "satisfaction_avg": None if np.isnan(avg[t]) else float(avg[t]),
                "energy_j": float(self.energy[t]),
                "objective_j": float(self.objective[t]),
            }
            for t in range(sat.size)
        ]


def hot_origins(system: System, count: int, seed: int) -> list[str]:
    """The ``count`` terminal domains a ``hotspot`` event moves demand to (seeded draw)."""
    if not 1 <= count <= system.n_origins:
        raise ValueError(f"hot origins must be in 1..{system.n_origins}, got {count}")
    rng = np.random.default_rng([seed, 7])
    picked = sorted(rng.choice(system.n_origins, size=count, replace=False).tolist())
    return [system.origin_names[o] for o in picked]


def with_event(
    scenario: Scenario,
    event: str,
    at_slot: int,
    origins: list[str] | None = None,
    hot_share: float = 0.8,
) -> Scenario:
    """A copy of ``scenario`` whose workload has the hotspot shift of ``event`` at ``at_slot``.

    ``failure`` and ``uplink-drop`` leave the workload as it is (they are applied to the
    compiled system).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
    if event in ("failure", "uplink-drop"):
        return scenario
    if event == "hotspot":
        if not origins:
            raise ValueError("a hotspot event needs the hot origins")
        if not 0 < hot_share <= 1:
            raise ValueError(f"hot_share must be in (0, 1], got {hot_share}")
        names = [d.name for d in scenario.domains if d.kind is DomainKind.TERMINAL]
        unknown = sorted(set(origins) - set(names))
        if unknown:
            raise ValueError(f"unknown terminal domains {unknown}")
        cold = [n for n in names if n not in origins]
        weights = {n: hot_share / len(origins) for n in origins}
        if cold:
            weights.update({n: (1.0 - hot_share) / len(cold) for n in cold})
        shift = HotspotShift(slot=at_slot, origin_weights=weights)
    else:
        shift = HotspotShift(slot=at_slot, reshuffle_popularity=True)
    wl = scenario.workload
    hotspots = sorted([*wl.hotspots, shift], key=lambda h: h.slot)
    return scenario.model_copy(update={"workload": wl.model_copy(update={"hotspots": hotspots})})


def busiest_ran_node(system: System, slots: int, seed: int = 0) -> str:
    """The RAN node with the highest mean utilisation under GRD over ``slots`` slots of the twin.

    The RAN nodes of the case study are alike, so "busiest" is measured: GRD, the reference
    baseline, runs on the twin with ``seed`` (the demand every policy of the experiment sees).
    """
    ran = np.array([k is DomainKind.RAN for k in system.node_domain_kind])
    if not ran.any():
        raise ValueError(f"scenario {system.scenario.name!r} has no RAN node")
    loop = SlotLoop(Twin(system, seed=seed), GreedyPolicy(), seed, check=False)
    load = np.zeros(system.n_nodes)
    for record in loop.run(max(slots, 1)):
        load += record.outcome.utilisation[0]
    return system.node_names[int(np.flatnonzero(ran)[np.argmax(load[ran])])]


def adapt(
    scenario: Scenario,
    policy_factory: Callable[[], Policy],
    event: str,
    at_slot: int,
    slots: int,
    seed: int = 0,
    load: float | None = None,
    *,
    label: str | None = None,
    node: str | None = None,
    origins: list[str] | None = None,
    hot_count: int | None = None,
    hot_share: float = 0.8,
    window: int = WINDOW,
    tolerance: float = TOLERANCE,
    baseline: int = BASELINE,
    on_slot: ProgressHook | None = None,
) -> AdaptationResult:
    """Run one policy on the twin through one event and measure how it recovers.

    Args:
        scenario: the scenario.
        policy_factory: builds the policy (it is reset with ``seed``).
        event: one of :data:`EVENTS`.
        at_slot: first slot of the event (``1 <= at_slot < slots``).
        slots: slots to run.
        seed: seed of the twin and the policy; the same seed gives every policy the same demand.
        load: offered load L (default: the scenario's).
        label: name of the policy in the result (default: the policy's ``name``).
        node: ``failure``: the node that fails (default: :func:`busiest_ran_node` over the
            slots before the event).
        origins: ``hotspot``: the hot terminal domains, ``uplink-drop``: the cells whose
            uplink drops (default: :func:`hot_origins`).
        hot_count: ``hotspot``, ``uplink-drop``: number of those terminal domains when
            ``origins`` is not given
            (default: 30 % of them, at least one).
        hot_share: ``hotspot``: share of the requests that come from the hot domains.
        window: slots of the moving average of satisfaction.
        tolerance: relative distance below the pre-event level that counts as recovered.
        baseline: slots before the event averaged for the pre-event level.
        on_slot: called with the slot index after every slot.

    Raises:
        ValueError: bad event, slots or node.
        InfeasibleDecisionError: the policy's decision breaks the (failed) system's constraints
            (see :class:`cnc6g.orchestration.InfeasibleDecisionError`).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
    if not 1 <= at_slot < slots:
        raise ValueError(f"at_slot must be in 1..{slots - 1}, got {at_slot}")
    if window < 1 or baseline < 1:
        raise ValueError("window and baseline must be >= 1")
    sc = scenario if load is None else scenario.at_load(load)
    base = compile_scenario(sc)
    detail = ""
    events: list[tuple[int, TwinEvent]] = []
    if event == "failure":
        name = node if node is not None else busiest_ran_node(base, at_slot, seed)
        if name not in base.node_names:
            raise ValueError(f"unknown node {name!r}: the nodes are {', '.join(base.node_names)}")
        events.append((at_slot, NodeFailure(name)))
        detail = f"node {name}"
    elif event == "uplink-drop":
        if origins is None:
            count = max(1, round(0.3 * base.n_origins)) if hot_count is None else hot_count
            origins = hot_origins(base, count, seed)
        events.append((at_slot, RadioDrop(tuple(origins), UPLINK_DROP)))
        detail = f"uplink of {', '.join(origins)} / {1 / UPLINK_DROP:g}"
    elif event == "hotspot":
        if origins is None:
            count = max(1, round(0.3 * base.n_origins)) if hot_count is None else hot_count
            origins = hot_origins(base, count, seed)
        sc = with_event(sc, event, at_slot, origins, hot_share)
        detail = f"{hot_share:.0%} of requests from {', '.join(origins)}"
    else:
        sc = with_event(sc, event, at_slot)
        detail = "popularity reshuffled"
    twin = Twin(
        compile_scenario(sc) if event not in ("failure", "uplink-drop") else base, seed=seed
    )
    policy = policy_factory()
    loop = SlotLoop(twin, policy, seed, events=events)
    offered, satisfied, energy = np.zeros(slots), np.zeros(slots), np.zeros(slots)
    repaired = 0
    for t, record in enumerate(loop.run(slots)):
        outcome = record.outcome
        repaired += int(record.repaired)
        offered[t] = float(outcome.offered[0])
        satisfied[t] = float(outcome.satisfied[0])
        energy[t] = float(sum(outcome.energy[p][0] for p in ENERGY_PARTS))
        if on_slot is not None:
            on_slot(t)
    return AdaptationResult(
        policy=label or policy.name,
        scenario=sc.name,
        event=event,
        at_slot=at_slot,
        seed=seed,
        load=load,
        detail=detail,
        offered=offered,
        satisfied=satisfied,
        energy=energy,
        objective=energy + twin.system.unsatisfied_penalty_j * (offered - satisfied),
        repaired=repaired,
        window=window,
        tolerance=tolerance,
        baseline=baseline,
    )
