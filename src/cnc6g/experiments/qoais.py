"""QoAIS of a scenario's services measured on the twin, window by window, with their lifecycle.

Every service of a scenario is read as an AI inference service with a default QoAIS (its
deadline as the response time, 95 % of tasks within it, 99 % served, the privacy its allowed
tiers imply, full autonomy), or with the requirements given. A policy orchestrates the twin; each
window of ``window`` slots is measured per service (:func:`measure`), evaluated
(:func:`cnc6g.ai.qoais.evaluate`) and handed to the service's TS 28.105 lifecycle, which opens
a re-training request when an indicator the model itself assures stays missed for
``drift_windows`` windows; misses of the others name the resources to re-plan. With
``replan``, a :class:`~cnc6g.orchestration.qoais.QoAISReplanner` acts on those misses: it changes
the policy's decisions of the next windows (more computing or a closer node for the service) and
gives the change back once the service meets its QoAIS again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from cnc6g.ai.qoais import (
    IndicatorReport,
    Lifecycle,
    QoAIS,
    RequestStatus,
    ServiceKind,
    TrainingType,
    evaluate,
    responsible_resources,
)
from cnc6g.model import DomainKind, Scenario
from cnc6g.orchestration.loop import SlotLoop, SlotRecord
from cnc6g.orchestration.qoais import QoAISReplanner, ReplanAction
from cnc6g.policies.base import Policy
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.chains import ChainOutcome
from cnc6g.twin.system import FloatArray, IntArray, System

TIER_PRIVACY = {
    DomainKind.TERMINAL: "device",
    DomainKind.RAN: "edge",
    DomainKind.TRANSPORT: "operator",
}
"""The privacy level a task keeps when it runs on a node of each kind of domain."""
PRIVACY_ORDER = ("any", "operator", "edge", "device")


def default_qoais(system: System) -> dict[str, QoAIS]:
    """A QoAIS per service of ``system`` read from its scenario (see the module)."""
    out = {}
    for s, svc in enumerate(system.scenario.services):
        weakest = min(
            (TIER_PRIVACY[t] for t in svc.tiers), key=PRIVACY_ORDER.index, default="device"
        )
        out[svc.name] = QoAIS(
            svc.name,
            ServiceKind.INFERENCE,
            {
                "response_time_s": float(system.deadline_s[s]),
                "deadline_success": 0.95,
                "availability": 0.99,
                "data_privacy": weakest,
                "autonomy": "full",
            },
        )
    return out


def measure(system: System, records: list[SlotRecord]) -> dict[str, dict[str, float | str]]:
    """Per service, the indicators the twin can measure over ``records``."""
    offered = np.zeros(system.n_services)
    served = np.zeros(system.n_services)
    satisfied = np.zeros(system.n_services)
    latency = np.zeros(system.n_services)
    tier_served = np.zeros((system.n_services, len(TIER_PRIVACY)))
    kinds = list(TIER_PRIVACY)
    node_kind = np.array([kinds.index(k) for k in system.node_domain_kind])
    cand_kind = np.where(system.candidate_valid, node_kind[system.candidates], 0)  # [O, K]
    remote_k = (system.candidate_valid & ~system.candidate_local).astype(float)
    io = system.input_mbit + system.output_mbit
    sent = np.zeros(system.n_services)  # Mbit over the network, all served tasks
    energy = 0.0
    for rec in records:
        out = rec.outcome
        srv = out.flow_served[0]  # [O, S, K] tasks served in one unit
        offered += rec.demand.sum(axis=0)
        served += out.served_by_demand[0].sum(axis=0)  # chains' tasks too
        satisfied += out.satisfied_by_demand[0].sum(axis=0)
        latency += out.latency_sum_by_demand[0].sum(axis=0)
        sent += io * (srv * remote_k[:, None, :]).sum(axis=(0, 2))
        for t in range(len(kinds)):
            tier_served[:, t] += (srv * (cand_kind == t)[:, None, :]).sum(axis=(0, 2))
        if out.chains is not None:
            _chain_indicators(out.chains, node_kind, len(kinds), sent, tier_served)
        energy += float(out.energy_total[0])
    total_satisfied = max(float(satisfied.sum()), 1e-12)
    result: dict[str, dict[str, float | str]] = {}
    for s, name in enumerate(system.service_names):
        m: dict[str, float | str] = {
            "computing_gcycles_per_task": float(system.work[s]),
            "energy_j_per_task": energy / total_satisfied,  # the system's, per satisfied task
            "autonomy": "full",  # every decision is the orchestrator's, none is manual
        }
        if offered[s] > 0:
            m["availability"] = float(served[s] / offered[s])
            m["deadline_success"] = float(satisfied[s] / offered[s])
        if served[s] > 0:
            m["response_time_s"] = float(latency[s] / served[s])
            m["transmission_mbit_per_task"] = float(sent[s] / served[s])
            used = [kinds[t] for t in range(len(kinds)) if tier_served[s, t] > 1e-9]
            m["data_privacy"] = min(
                (TIER_PRIVACY[k] for k in used), key=PRIVACY_ORDER.index, default="device"
            )
        result[name] = m
    return result


def _chain_indicators(
    chains: ChainOutcome,
    node_kind: IntArray,
    n_kinds: int,
    sent: FloatArray,
    tier_served: FloatArray,
) -> None:
    """Add copy 0's tasks of services placed step by step to ``sent`` and ``tier_served``.

    A chain task sends what its transfers between the terminal and the network and between
    network nodes carry (not those between the terminal's own nodes), and is served on every
    tier one of its steps runs on: its data privacy is the weakest of them.
    """
    cf = chains.flows
    mine = np.flatnonzero((cf.copy == 0) & (chains.served > 0))
    if mine.size == 0:
        return
    srv = chains.served[mine]
    service = cf.service[mine]
    network = np.isin(cf.kind[mine], (1, 2, 4))
    np.add.at(sent, service, srv * np.where(network, cf.mbit[mine], 0.0).sum(axis=1))
    tier = np.where(cf.steps[mine] >= 0, node_kind[cf.node[mine]], -1)  # [F, Q]
    for t in range(n_kinds):
        np.add.at(tier_served[:, t], service, srv * (tier == t).any(axis=1))


@dataclass(frozen=True)
class QoAISWindow:
    """The evaluation of one window."""

    first_slot: int
    last_slot: int
    reports: dict[str, list[IndicatorReport]]
    retraining: list[str]
    """Services whose lifecycle opened a re-training request after this window."""
    replan: dict[str, list[str]]
    """Per service with a missed indicator, the resource dimensions to re-plan."""
    energy_j: float = 0.0
    """Energy of the whole system over the window, J."""
    actions: list[ReplanAction] = field(default_factory=list)
    """What the re-planner changed after this window (empty without re-planning)."""
    levers: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)
    """The re-planner's levers in force after this window: service -> (resource, node, share)."""


def run_qoais(
    policy: Policy,
    scenario: Scenario,
    slots: int,
    window: int,
    seed: int = 0,
    requirements: Mapping[str, QoAIS] | None = None,
    drift_windows: int = 3,
    on_slot: Callable[[int], None] | None = None,
    replan: bool | QoAISReplanner = False,
) -> list[QoAISWindow]:
    """Run ``policy`` on ``scenario`` and evaluate every service's QoAIS per ``window`` slots.

    Every service's model starts activated (an ``INITIAL_TRAINING`` request finished); a
    re-training request a window opens is started, and finished one window later, so the model
    is active again (what re-training does to the model is outside the twin).

    ``replan``: ``True`` re-plans with a default :class:`~cnc6g.orchestration.qoais.QoAISReplanner`
    on the requirements, or pass one (its requirements are used for the re-planning); ``False``
    only reports what to re-plan.
    """
    if window < 1 or slots < window:
        raise ValueError("window must be >= 1 and at most slots")
    if not isinstance(replan, bool | QoAISReplanner):
        raise ValueError(f"replan must be a bool or a QoAISReplanner, not {type(replan).__name__}")
    system = compile_scenario(scenario)
    req = dict(requirements) if requirements is not None else default_qoais(system)
    lifecycles = {}
    for name in system.service_names:
        life = Lifecycle(name, drift_windows=drift_windows)
        first = life.request(TrainingType.INITIAL_TRAINING)
        life.move(first, RequestStatus.IN_PROGRESS)
        life.move(first, RequestStatus.FINISHED)
        lifecycles[name] = life
    planner: QoAISReplanner | None = None
    if isinstance(replan, QoAISReplanner):
        planner = replan
    elif replan:
        planner = QoAISReplanner(req)
    adjust = None if planner is None else planner.adjust
    loop = SlotLoop(Twin(system, seed=seed), policy, seed, adjust=adjust)
    out: list[QoAISWindow] = []
    buffer: list[SlotRecord] = []
    for record in loop.run(slots):
        buffer.append(record)
        if on_slot is not None:
            on_slot(record.slot)
        if len(buffer) < window:
            continue
        measured = measure(loop.twin.system, buffer)
        reports = {n: evaluate(req[n], measured[n]) for n in req}
        opened = []
        for name, life in lifecycles.items():
            open_index = life.open_request()
            if open_index is not None:  # last window's re-training completes now
                life.move(open_index, RequestStatus.FINISHED)
            if name in reports and life.observe(reports[name]) is not None:
                index = life.open_request()
                assert index is not None
                life.move(index, RequestStatus.IN_PROGRESS)
                opened.append(name)
        to_replan = {
            n: [r.value for r in responsible_resources(rep)]
            for n, rep in reports.items()
            if responsible_resources(rep)
        }
        actions = [] if planner is None else planner.observe(loop.twin.system, buffer, reports)
        out.append(
            QoAISWindow(
                buffer[0].slot,
                buffer[-1].slot,
                reports,
                opened,
                to_replan,
                energy_j=float(sum(float(r.outcome.energy_total[0]) for r in buffer)),
                actions=actions,
                levers={} if planner is None else planner.levers(loop.twin.system),
            )
        )
        buffer = []
    return out
