"""QoAIS re-planning: the resource a missed QoAIS names gets more of it, for any policy.

Seed 001 (sections 4.1 and 5) has the orchestrator decompose a service's QoAIS into per-resource
QoS and keep it met: when an indicator deteriorates, the resource that assures it is adjusted
(more computing "by collaborating with surrounding nodes", a better connection), and the
adjustment is given back when it is no longer needed. :class:`QoAISReplanner` does this on top
of whatever policy orchestrates the twin:

- after each evaluation window, :meth:`QoAISReplanner.observe` takes each service's QoAIS
  report and the window's records. A missed response time or within-deadline share is put on
  computing or connection by the decomposition (:func:`cnc6g.ai.qoais.decompose`): the mean
  processing time (queue, service, cold start) against the processing budget and the mean
  network time (transfers and delays) against the transfer budget; the one further over its
  budget is the lever. A missed availability (tasks dropped: overload) is computing's.
- a computing lever is an instance of the service on the node with the shortest estimated
  processing time (its capacity per device and its spare capacity in the window) among the
  nodes whose estimated network time keeps within the transfer budget; a connection lever is the
  node with the shortest estimated network time (propagation and the transfers at the window's
  last link load) among those whose processing estimate keeps within the processing budget.
  Either way the node must host the service (tier, processor, memory, the privacy its tiers
  imply) and be an admissible candidate of the origins that ask for it.
- every slot, :meth:`QoAISReplanner.adjust` (the :class:`~cnc6g.orchestration.loop.SlotLoop`
  ``adjust`` hook) adds each lever's instance to the policy's decision and moves the lever's
  share of each origin's routed demand for the service onto it (with an overload lever, also
  that share of the demand the policy rejected). A row's sum grows only by demand the policy
  rejected, so never past 1; instances go only where the node can host them and has memory left
  in that decision; so the decision stays feasible.
- a service still missing gets its lever's share raised by ``step`` (up to ``max_share``, while
  the node is below 90 % utilisation), then a lever on a further node (up to ``max_levers``).
  A lever that does not help is taken back (its share lowered by ``step``, its node not used
  again for the service): when the window after it was added or raised has a within-deadline
  share lower by more than ``worse_by``, or when the share of the service's tasks its node
  serves within the deadline is below that of the service's other nodes by more than
  ``worse_by``.
- a service that meets its QoAIS for ``relax_windows`` windows in a row has its newest lever's
  share lowered by ``step``, and the lever removed at zero, so no service keeps resources it no
  longer needs.

Every change is a :class:`ReplanAction` (window, service, resource, what changed). Services
whose steps are placed separately are left to their policy (their paths are not re-routed).
Pure logic: it reads decisions, records and reports, and returns decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from cnc6g.ai.qoais import IndicatorReport, QoAIS, Resource, decompose
from cnc6g.model.decision import Decision
from cnc6g.orchestration.loop import SlotRecord
from cnc6g.twin.system import FloatArray, System

Change = Literal["added", "raised", "relaxed", "removed", "no lever"]


@dataclass(frozen=True)
class ReplanAction:
    """One change the re-planner made after an evaluation window."""

    window: int
    """Index of the window whose evaluation caused it (it applies from the next slot)."""
    service: str
    resource: Resource
    change: Change
    node: str | None
    """The node of the lever (``None`` where no node fits)."""
    share: float
    """The part of the service's routed demand the lever moves onto ``node`` after the change."""
    reason: str
    """Why: the budget exceeded (measured against target) or the availability missed."""


@dataclass
class _Lever:
    resource: Resource
    node: int
    share: float
    overload: bool


@dataclass(frozen=True)
class ServiceTimes:
    """A service's mean split of latency over a window, s (``nan`` where nothing was served)."""

    processing_s: float
    network_s: float


def service_times(system: System, records: Sequence[SlotRecord]) -> list[ServiceTimes]:
    """Per service, the served-weighted mean processing and network time over ``records``."""
    S = system.n_services
    served = np.zeros(S)
    proc = np.zeros(S)
    net = np.zeros(S)
    for rec in records:
        out = rec.outcome
        srv = out.flow_served[0]  # [O, S, K]
        used = srv > 0
        lat = np.where(used, out.flow_latency_mean_s[0], 0.0)
        nt = np.where(used, out.flow_network_s[0], 0.0)
        served += srv.sum(axis=(0, 2))
        net += (srv * nt).sum(axis=(0, 2))
        proc += (srv * (lat - nt)).sum(axis=(0, 2))
    out_times = []
    for s in range(S):
        if served[s] > 0:
            out_times.append(ServiceTimes(float(proc[s] / served[s]), float(net[s] / served[s])))
        else:
            out_times.append(ServiceTimes(float("nan"), float("nan")))
    return out_times


def _per_node(system: System, records: Sequence[SlotRecord]) -> tuple[FloatArray, FloatArray]:
    """Tasks of each service served, and served within the deadline, on each node ``[S, N]``."""
    S, N = system.n_services, system.n_nodes
    nodes = np.where(system.candidate_valid, system.candidates, 0).reshape(-1)
    onto = np.zeros((nodes.size, N))
    onto[np.arange(nodes.size), nodes] = system.candidate_valid.reshape(-1)
    served = np.zeros((S, N))
    satisfied = np.zeros((S, N))
    for rec in records:
        out = rec.outcome
        served += out.flow_served[0].transpose(1, 0, 2).reshape(S, -1) @ onto
        satisfied += out.flow_satisfied[0].transpose(1, 0, 2).reshape(S, -1) @ onto
    return served, satisfied


def budgets(req: QoAIS, compute_share: float = 0.5) -> tuple[float, float] | None:
    """The processing and transfer budgets (s) :func:`decompose` gives ``req``'s response time."""
    got = {
        t.metric: float(t.value)
        for t in decompose(req, compute_share=compute_share)
        if t.metric in ("processing_time_s", "transfer_time_s")
    }
    if len(got) < 2:
        return None
    return got["processing_time_s"], got["transfer_time_s"]


_TIME_INDICATORS = ("response_time_s", "deadline_success")


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _success(report: list[IndicatorReport]) -> float:
    """The within-deadline share a report measured (0 where none was)."""
    for r in report:
        if r.indicator == "deadline_success" and r.measured is not None:
            return float(r.measured)
    return 0.0


@dataclass
class QoAISReplanner:
    """Re-plans computing and connection for the services whose QoAIS a window missed.

    Args:
        requirements: the QoAIS of each service (by name).
        step: share of a service's routed demand a lever moves per escalation or relaxation.
        max_share: the most a lever moves.
        max_levers: the most levers (nodes) per service.
        relax_windows: windows in a row a service must meet its QoAIS before a lever is relaxed.
        compute_share: the processing part of a response-time budget (:func:`decompose`).
        worse_by: an escalation (a lever added or raised) followed by a window whose
            within-deadline share is lower by more than this is taken back (the lever's share
            lowered by ``step``), and its node not used again for the service.
    """

    requirements: Mapping[str, QoAIS]
    step: float = 0.25
    max_share: float = 0.75
    max_levers: int = 2
    relax_windows: int = 2
    compute_share: float = 0.5
    worse_by: float = 0.02
    actions: list[ReplanAction] = field(default_factory=list, init=False, repr=False)
    """Every change made so far, in order."""
    _levers: dict[int, list[_Lever]] = field(default_factory=dict, init=False, repr=False)
    _met: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _avoid: dict[int, set[int]] = field(default_factory=dict, init=False, repr=False)
    _last: dict[int, tuple[_Lever, float]] = field(default_factory=dict, init=False, repr=False)
    """Per service, its last escalation (a lever added or raised) and the within-deadline share
    of the window that led to it, until the next window judges it."""
    _window: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.step <= 1:
            raise ValueError(f"step must be in (0, 1], not {self.step}")
        if not self.step <= self.max_share <= 1:
            raise ValueError(f"max_share must be in [step, 1], not {self.max_share}")
        if self.max_levers < 1:
            raise ValueError(f"max_levers must be >= 1, not {self.max_levers}")
        if self.relax_windows < 1:
            raise ValueError(f"relax_windows must be >= 1, not {self.relax_windows}")
        if not 0 <= self.worse_by <= 1:
            raise ValueError(f"worse_by must be in [0, 1], not {self.worse_by}")
        if not 0 < self.compute_share < 1:
            raise ValueError(f"compute_share must be in (0, 1), not {self.compute_share}")

    def levers(self, system: System) -> dict[str, list[tuple[str, str, float]]]:
        """The levers in force: service -> (resource, node, share)."""
        names = system.node_names
        return {
            system.service_names[s]: [(v.resource.value, names[v.node], v.share) for v in ls]
            for s, ls in self._levers.items()
            if ls
        }

    # -- the decision, every slot ------------------------------------------------------------

    def adjust(self, system: System, decision: Decision) -> Decision:
        """``decision`` with every lever in force applied (see the module); feasible if it was."""
        if not any(self._levers.values()):
            return decision
        x = np.array(decision.deployment, dtype=bool, copy=True)
        y = np.array(decision.routing, dtype=float, copy=True)
        cpu = None if decision.cpu_share is None else np.array(decision.cpu_share, copy=True)
        used = (x * system.service_memory[:, None]).sum(axis=0)
        for s, levers in self._levers.items():
            for lever in levers:
                n = lever.node
                if not x[s, n]:
                    if not system.can_host[s, n]:
                        continue  # the node lost its hosting (failed): the lever waits
                    if used[n] + system.service_memory[s] > system.memory[n] + 1e-9:
                        continue  # no memory left on the node in this decision
                    if cpu is not None:
                        left = 1.0 - float(cpu[:, n].sum())
                        if left <= 1e-6:
                            continue
                        cpu[s, n] = left
                    x[s, n] = True
                    used[n] += system.service_memory[s]
                self._move(system, y, s, lever)
        return replace(decision, deployment=x, routing=y, cpu_share=cpu)

    @staticmethod
    def _move(system: System, y: FloatArray, s: int, lever: _Lever) -> None:
        """Move ``lever.share`` of each origin's routing of ``s`` onto the lever's node."""
        onto = (
            (system.candidates == lever.node) & system.candidate_valid & system.admissible[:, s, :]
        )  # [O, K]
        for o in np.flatnonzero(onto.any(axis=1)):
            k = int(np.argmax(onto[o]))
            row = y[o, s]
            others = row.sum() - row[k]
            moved = lever.share * others
            rejected = max(0.0, 1.0 - float(row.sum())) * lever.share if lever.overload else 0.0
            if moved <= 0.0 and rejected <= 0.0:
                continue
            keep = row[k]
            row *= 1.0 - lever.share
            row[k] = keep + moved + rejected
            total = row.sum()
            if total > 1.0:  # rounding: never more than all of the demand
                row /= total

    # -- after each window ---------------------------------------------------------------------

    def observe(
        self,
        system: System,
        records: Sequence[SlotRecord],
        reports: Mapping[str, list[IndicatorReport]],
    ) -> list[ReplanAction]:
        """Take one window's evaluation: escalate, add or relax levers; the changes made."""
        index = self._window
        self._window += 1
        times = service_times(system, records)
        util = np.mean([r.outcome.utilisation[0] for r in records], axis=0)  # [N]
        per_mbit = records[-1].outcome.per_mbit_s[0]  # [O, K, 2]
        demand = np.sum([r.demand for r in records], axis=0).astype(float)  # [O, S]
        served, satisfied = _per_node(system, records)
        chains = system.chains
        made: list[ReplanAction] = []
        for s, name in enumerate(system.service_names):
            report = reports.get(name)
            req = self.requirements.get(name)
            if report is None or req is None:
                continue
            missed = {r.indicator for r in report if r.status == "missed"}
            timely = missed & {"availability", *_TIME_INDICATORS}
            levers = self._levers.setdefault(s, [])
            last = self._last.pop(s, None)
            if not timely:
                if not levers:
                    continue
                self._met[s] = self._met.get(s, 0) + 1
                if self._met[s] >= self.relax_windows:
                    self._met[s] = 0
                    made.append(self._relax(system, index, s, levers, levers[-1], "QoAIS met"))
                continue
            self._met[s] = 0
            if chains is not None and bool(chains.is_chain[s]):
                continue  # its steps' paths are its policy's
            success = _success(report)
            avoid = self._avoid.setdefault(s, set())
            if last is not None and last[0] in levers and success < last[1] - self.worse_by:
                # The last escalation made it worse (its node is overloaded): take it back.
                lever = last[0]
                avoid.add(lever.node)
                why = f"within deadline fell from {_pct(last[1])} to {_pct(success)}"
                made.append(self._relax(system, index, s, levers, lever, why))
                continue
            worse = self._worst_lever(levers, served[s], satisfied[s])
            if worse is not None:
                lever, here, rest = worse
                avoid.add(lever.node)
                why = f"{_pct(here)} within deadline on its node, {_pct(rest)} on the others"
                made.append(self._relax(system, index, s, levers, lever, why))
                continue
            split = budgets(req, self.compute_share)
            resource, reason, overload = self._blame(missed, times[s], split)
            if resource is None:
                continue
            mine = [v for v in levers if v.resource is resource and v.node not in avoid]
            if mine and mine[-1].share < self.max_share - 1e-9 and util[mine[-1].node] < 0.9:
                lever = mine[-1]
                lever.share = min(self.max_share, lever.share + self.step)
                lever.overload = lever.overload or overload
                self._last[s] = (lever, success)
                made.append(self._act(system, index, s, lever, "raised", reason))
                continue
            if len(levers) >= self.max_levers:
                continue
            rate = demand[:, s] / (len(records) * system.slot_s)  # tasks/s per origin
            node = self._pick(system, s, resource, split, util, per_mbit, rate, levers)
            if node is None:
                made.append(ReplanAction(index, name, resource, "no lever", None, 0.0, reason))
                continue
            lever = _Lever(resource, node, self.step, overload)
            levers.append(lever)
            self._last[s] = (lever, success)
            made.append(self._act(system, index, s, lever, "added", reason))
        self.actions.extend(made)
        return made

    def _worst_lever(
        self, levers: list[_Lever], served: FloatArray, satisfied: FloatArray
    ) -> tuple[_Lever, float, float] | None:
        """The lever whose node is furthest below the service's other nodes (deadline met).

        Shares of served tasks within the deadline are compared; only a lever more than
        ``worse_by`` below counts. With its node's share and the others'; ``None``: none is.
        """
        worst: tuple[_Lever, float, float] | None = None
        total_served, total_sat = float(served.sum()), float(satisfied.sum())
        for lever in levers:
            here = float(served[lever.node])
            rest = total_served - here
            if here <= 0.0 or rest <= 0.0:
                continue
            share_here = float(satisfied[lever.node]) / here
            share_rest = (total_sat - float(satisfied[lever.node])) / rest
            gap = share_rest - share_here
            if gap > self.worse_by and (worst is None or gap > worst[2] - worst[1]):
                worst = (lever, share_here, share_rest)
        return worst

    @staticmethod
    def _blame(
        missed: set[str], times: ServiceTimes, split: tuple[float, float] | None
    ) -> tuple[Resource | None, str, bool]:
        """The resource a window's misses put on, why, and whether it is an overload."""
        if "availability" in missed:
            return Resource.COMPUTING, "tasks dropped", True
        if split is None or np.isnan(times.processing_s):
            return None, "", False
        proc_budget, net_budget = split
        rp = times.processing_s / max(proc_budget, 1e-12)
        rn = times.network_s / max(net_budget, 1e-12)
        if rn > rp:
            why = f"transfer {times.network_s * 1e3:.0f} ms of {net_budget * 1e3:.0f} ms"
            return Resource.CONNECTION, why, False
        why = f"processing {times.processing_s * 1e3:.0f} ms of {proc_budget * 1e3:.0f} ms"
        return Resource.COMPUTING, why, False

    def _pick(
        self,
        system: System,
        s: int,
        resource: Resource,
        split: tuple[float, float] | None,
        util: FloatArray,
        per_mbit: FloatArray,
        rate: FloatArray,
        levers: list[_Lever],
    ) -> int | None:
        """The node of a new lever of ``resource`` for service ``s`` (``None``: none fits).

        ``rate`` is the service's tasks/s per origin in the window; the node's spare capacity
        must take the lever's first share of the demand it reaches (which is added to ``util``
        for the levers picked after it).
        """
        ok = system.candidate_valid & system.admissible[:, s, :]  # [O, K]
        net = (
            2.0 * system.candidate_delay_s
            + system.input_mbit[s] * per_mbit[..., 0]
            + system.output_mbit[s] * per_mbit[..., 1]
        )  # [O, K]
        weight = rate if rate.sum() > 0 else np.ones_like(rate)
        taken = {v.node for v in levers} | self._avoid.get(s, set())
        best: tuple[float, float, int, float] | None = None
        proc_budget, net_budget = split if split is not None else (np.inf, np.inf)
        for n in np.flatnonzero(system.can_host[s]):
            if int(n) in taken:
                continue
            at = ok & (system.candidates == n)
            reach = at.any(axis=1)
            covered = float(weight[reach].sum())
            if covered <= 0.0:
                continue
            k = np.argmax(at, axis=1)
            o = np.flatnonzero(reach)
            net_n = float((weight[o] * net[o, k[o]]).sum() / covered)
            added = self.step * float(rate[reach].sum()) * system.work[s] / system.capacity[n]
            spare = 1.0 - float(util[n]) - added
            if spare < 0.1:
                continue  # the node would be nearly full with the lever's share
            proc_n = float(system.work[s] * system.devices[n] / system.capacity[n] / spare)
            share = covered / float(weight.sum())
            if resource is Resource.COMPUTING:
                if net_n > net_budget:
                    continue
                key = (proc_n / share, net_n)
            else:
                if proc_n > proc_budget:
                    continue
                key = (net_n / share, proc_n)
            if best is None or key < best[:2]:
                best = (key[0], key[1], int(n), added)
        if best is None:
            return None
        util[best[2]] += best[3]
        return best[2]

    def _relax(
        self, system: System, index: int, s: int, levers: list[_Lever], lever: _Lever, why: str
    ) -> ReplanAction:
        lever.share = max(0.0, lever.share - self.step)
        if lever.share <= 1e-9:
            levers.remove(lever)
            return self._act(system, index, s, lever, "removed", why)
        return self._act(system, index, s, lever, "relaxed", why)

    @staticmethod
    def _act(
        system: System, index: int, s: int, lever: _Lever, change: Change, reason: str
    ) -> ReplanAction:
        return ReplanAction(
            index,
            system.service_names[s],
            lever.resource,
            change,
            system.node_names[lever.node],
            round(lever.share, 6),
            reason,
        )
