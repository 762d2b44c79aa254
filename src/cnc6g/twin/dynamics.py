"""One slot of the twin: the fluid (mean-value) model of latency, admission and energy.

Everything here is pure array arithmetic over a leading batch dimension ``B`` (independent copies
of the system), origins ``O``, services ``S``, candidate nodes ``K`` and nodes ``N``.

The model, per slot of length ``tau``:

- **Compute.** By default a node is one processor-sharing server for the tasks of all its
  instances (work-conserving CPU shares, as Linux CFS gives containers): a task of ``w``
  gigacycles on a node of capacity ``C`` at admitted utilisation ``rho`` stays ``w / (C (1 - rho))``
  on average (M/G/1-PS, insensitive to the work distribution). Its sojourn is drawn as
  exponential with that mean, ``rate = C (1 - rho) / w``. A policy may instead give instances
  hard CPU quotas (``cpu_share``); each instance is then its own M/M/1 queue,
  ``rate = share * C / w - arrivals``, exact for exponential work.
- **Admission.** A radio cell direction or wired link direction offered utilisation ``rho`` above
  ``admission_utilisation`` (``rho_max``) admits the fraction ``rho_max / rho`` of the tasks that
  cross it; a flow's network admission is the product over its path. The tasks the network
  admits reach their node, which in turn admits up to ``rho_max`` of its capacity (an instance
  with a hard quota, up to ``rho_max`` of its quota). Admission is decided at ingress, so
  rejected tasks consume nothing; the radio and link loads are those offered by the routed
  flows. Shared links are processor-sharing: a transfer of ``d`` Mbit over a link of rate ``c``
  at utilisation ``rho`` takes ``d / (c (1 - rho))``.
- **Cold start.** An instance started this slot serves from ``t_cold`` on (plus the node's
  wake-up time where the node slept the slot before): the fraction
  ``min(t_cold / tau, 1)`` of its tasks (those that arrive before) waits for the rest of the
  start-up time.
- **Satisfaction.** A task is satisfied when admitted and its E2E latency (radio up + wired
  path + queueing and execution + wired and radio down, with the propagation and access delay
  paid both ways) is within its deadline. The probability
  is exact for the model above (exponential sojourn, uniform arrival within the slot). Where a
  service's data sizes vary (``input_cv``, ``output_cv``) the loads stay at the mean bits and
  its tasks' probability is integrated over their own transfer times (:mod:`cnc6g.twin.sizes`).
- **Background load.** Work and traffic from outside the twin's services (e.g. inference
  sessions that share the nodes and cells; :meth:`~cnc6g.twin.Twin.set_background`) is served
  beside the twin's tasks and is not subject to its admission. A node with ``g`` gigacycles/s of
  background admits the twin's tasks up to ``rho_max - g / C`` of its capacity, its
  processor-sharing headroom is ``C - admitted - g`` and its utilisation
  ``(admitted + g) / C``; the M/G/1 wait adds the background's ``sum lambda E[x^2]`` where it is
  given, else takes its tasks to be like the twin's tasks there; under hard quotas a share is of
  ``C - g``. A cell direction with ``m``
  Mbit/s of background leaves the twin's flows the rate ``c - m``, never below
  :data:`MIN_RADIO_SHARE` of ``c`` (for processor sharing the same transfer times as adding
  ``m`` to the load). The background's dynamic power, its nodes staying awake and its downlink
  at the base station count in the energy; its terminals' transmit energy does not (it is
  theirs, not the network's).
- **Energy (J per slot).** Awake nodes ``tau (P_idle + (P_peak - P_idle) rho)``; sleeping nodes
  ``tau P_sleep``; instances ``tau p_inst``; cold starts ``e_dep``; radio: terminals' transmit
  power times air time plus the base station's energy per bit on the downlink; wired: energy per
  bit on every link and node access on the path. Dropped tasks consume nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.twin.chains import (
    ChainFlows,
    ChainOutcome,
    chain_flows,
    internode,
    offered_bits,
    path_outcome,
    step_work_at,
    transfer_terms,
)
from cnc6g.twin.jit import inlined, kernel, row_sum
from cnc6g.twin.power import dynamic_share
from cnc6g.twin.radio import base_station_energy_j, terminal_radio_energy_j
from cnc6g.twin.sizes import expected, transfer_moments
from cnc6g.twin.sojourn import p_within
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system

ENERGY_PARTS = ("idle", "dynamic", "instances", "cold_start", "radio", "transport")

MIN_RADIO_SHARE = 0.01
"""Share of a cell direction's rate the twin's flows keep however much background it carries."""

DENSE_INCIDENCE_LIMIT = 20_000
"""Largest path-link incidence (links x paths) handled with dense matrix products."""


@dataclass(frozen=True, eq=False)
class Flows:
    """The active flows of a slot, one entry each, in no particular order.

    A flow is a (copy, origin, candidate, service) combination that requests are routed to.
    A slot's cost grows with these, not with the ``B x O x K x S`` combinations the system
    allows: most (origin, service) pairs have no request in a slot and a routing row sends
    its requests to a few candidates.
    """

    shape: tuple[int, int, int, int]  # B, O, K, S
    copy: IntArray  # [F]
    origin: IntArray  # [F]
    candidate: IntArray  # [F] index k into the origin's candidates
    service: IntArray  # [F]
    node: IntArray  # [F] candidates[origin, candidate]
    requests: FloatArray  # [F] requests routed to the flow
    served: FloatArray  # [F] admitted and executed
    satisfied: FloatArray  # [F] served within the deadline

    @property
    def index(self) -> IntArray:
        """Flat index of each flow into the ``[B, O, K, S]`` layout."""
        _, O, K, S = self.shape
        flat: IntArray = ((self.copy * O + self.origin) * K + self.candidate) * S + self.service
        return flat

    @property
    def demand_row(self) -> IntArray:
        """Flat index of each flow's (copy, origin, service) demand, ``[B, O, S]`` layout."""
        _, O, _, S = self.shape
        flat: IntArray = (self.copy * O + self.origin) * S + self.service
        return flat

    def __eq__(self, other: object) -> bool:
        """Equal when the flows and their figures are the same, in the same order."""
        if not isinstance(other, Flows):
            return NotImplemented
        names = ("copy", "origin", "candidate", "service", "requests", "served", "satisfied")
        return self.shape == other.shape and all(
            np.array_equal(getattr(self, n), getattr(other, n)) for n in names
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def dense(self, values: FloatArray) -> FloatArray:
        """``values`` ``[F]`` of the flows as a ``[B, O, K, S]`` array, 0 elsewhere."""
        out: FloatArray = np.zeros(int(np.prod(self.shape)), dtype=values.dtype)
        out[self.index] = values
        return out.reshape(self.shape)


@dataclass(frozen=True, eq=False)
class SlotOutcome:
    """What one slot did, for each of ``B`` copies. Counts are expected numbers of tasks.

    Per-flow figures are kept for the active flows only (:class:`Flows`: the (copy, origin,
    candidate, service) combinations that requests were routed to); the dense ``[B, O, S, K]``
    properties are built from them, and from per-node and per-path factors (rate, network
    time, cold starts), only when asked for. The tasks of services placed step by step are in
    ``chains`` (:class:`~cnc6g.twin.chains.ChainOutcome`), not in the flows: the totals and
    the per-demand ``*_by_demand`` properties count them, the per-flow ``flow_*`` ones do not.
    """

    offered: FloatArray  # [B] requests that arrived
    served: FloatArray  # [B] admitted and executed
    satisfied: FloatArray  # [B] served within the deadline
    dropped: FloatArray  # [B] not served: rejected, no instance, or over capacity
    energy: dict[str, FloatArray]  # part -> [B] joules, parts in ENERGY_PARTS
    cold_starts: FloatArray  # [B] instances started
    instances: FloatArray  # [B] instances running
    utilisation: FloatArray  # [B, N] admitted compute load / capacity
    awake: BoolArray  # [B, N]
    link_utilisation: FloatArray  # [B, L] max over the two directions, offered
    radio_utilisation: FloatArray  # [B, O] max over uplink and downlink, offered (twin's tasks)
    rate_sn: FloatArray  # [B, S, N] sojourn rate of each instance, 1/s (0: none)
    wait_n: FloatArray | None  # [B, N] M/G/1 mean wait of each node (twin.sojourn = mg1)
    cold_sn: FloatArray | None  # [B, S, N] share of an instance's tasks meeting its cold start
    waking: BoolArray | None  # [B, N] nodes that slept the slot before and wake now (or None)
    start_sn: FloatArray | None  # [B, S, N] start-up time left of instances starting this slot
    start_left_sn: FloatArray | None  # [B, S, N] what is left after it (twin.carry_over_start_up)
    radio_delay_s: FloatArray | None  # [B, O] this slot's extra one-way air delay (jitter)
    per_mbit_s: FloatArray  # [B, O, K, 2] transfer time per Mbit sent and received
    slot_s: float
    flows: Flows  # the slot's active flows (requests routed), the per-flow figures
    _system: System
    chains: ChainOutcome | None = None  # the paths of services placed step by step
    cell_utilisation: FloatArray | None = None  # [B, O] as radio_utilisation, with background

    @property
    def system(self) -> System:
        """The system the slot was evaluated on."""
        return self._system

    @property
    def energy_total(self) -> FloatArray:
        """Total energy per copy, J, ``[B]``."""
        total: FloatArray = np.sum([self.energy[p] for p in ENERGY_PARTS], axis=0)
        return total

    @property
    def late(self) -> FloatArray:
        """Tasks served after their deadline, ``[B]``."""
        return self.served - self.satisfied

    @property
    def flow_requests(self) -> FloatArray:
        """Requests of each flow (origin, service, candidate), ``[B, O, S, K]``."""
        return self.flows.dense(self.flows.requests).transpose(0, 1, 3, 2)

    @property
    def flow_served(self) -> FloatArray:
        """Tasks of each flow admitted and executed, ``[B, O, S, K]``."""
        return self.flows.dense(self.flows.served).transpose(0, 1, 3, 2)

    @property
    def flow_satisfied(self) -> FloatArray:
        """Tasks of each flow served within the deadline, ``[B, O, S, K]``."""
        return self.flows.dense(self.flows.satisfied).transpose(0, 1, 3, 2)

    @property
    def satisfied_by_demand(self) -> FloatArray:
        """Tasks of each (origin, service) demand served within the deadline, ``[B, O, S]``."""
        chains = self.chains
        return self._by_demand(self.flows.satisfied, None if chains is None else chains.satisfied)

    @property
    def served_by_demand(self) -> FloatArray:
        """Tasks of each (origin, service) demand admitted and executed, ``[B, O, S]``.

        Unlike :attr:`flow_served`, it counts the tasks of services placed step by step.
        """
        chains = self.chains
        return self._by_demand(self.flows.served, None if chains is None else chains.served)

    @property
    def latency_sum_by_demand(self) -> FloatArray:
        """Served tasks times their mean E2E latency, summed per demand, s, ``[B, O, S]``.

        Divided by :attr:`served_by_demand` it is the demand's mean latency; a chain task's is
        its critical route's (:attr:`~cnc6g.twin.chains.ChainOutcome.latency_mean_s`).
        """
        served = self.flow_served
        lat = np.where(served > 0, self.flow_latency_mean_s, 0.0)
        out: FloatArray = (served * lat).sum(axis=3)
        chains = self.chains
        if chains is not None:
            used = chains.served > 0
            part = chains.served * np.where(used, chains.latency_mean_s, 0.0)
            out = out + self._by_demand(None, part)
        return out

    def _by_demand(
        self, flow_values: FloatArray | None, chain_values: FloatArray | None
    ) -> FloatArray:
        """Per-flow and per-chain-path values (those given) summed per demand, ``[B, O, S]``."""
        f = self.flows
        B, O, _, S = f.shape
        out = np.zeros(B * O * S)
        if flow_values is not None:  # the scatter-sum by demand row, in one compiled pass
            _add_by_demand(f.copy, f.origin, f.service, flow_values, O, S, out)
        if chain_values is not None and self.chains is not None:
            cf = self.chains.flows
            row = (cf.copy * O + cf.origin) * S + cf.service
            out = out + _scatter_sum(row, chain_values, B * O * S)
        return out.reshape(B, O, S)

    @property
    def flow_rate(self) -> FloatArray:
        """Rate of each flow's exponential sojourn, 1/s, ``[B, O, S, K]`` (0 where unusable)."""
        return self.rate_sn[:, :, self._system.candidates].transpose(0, 2, 1, 3)

    @property
    def flow_network_s(self) -> FloatArray:
        """Deterministic part of each flow's latency (transfers and delays), ``[B, O, S, K]``."""
        sy = self._system
        out: FloatArray = (
            sy.input_mbit[None, None, :, None] * self.per_mbit_s[:, :, None, :, 0]
            + sy.output_mbit[None, None, :, None] * self.per_mbit_s[:, :, None, :, 1]
            + 2.0 * sy.candidate_delay_s[None, :, None, :]
        )
        if self.radio_delay_s is not None:
            remote = (sy.candidate_valid & ~sy.candidate_local)[None, :, None, :]
            out = out + 2.0 * self.radio_delay_s[:, :, None, None] * remote
        return out

    @property
    def flow_cold_fraction(self) -> FloatArray:
        """Share of each flow's tasks that meet a cold start, ``[B, O, S, K]``."""
        if self.cold_sn is None:
            B, O, K, S = self.flows.shape
            return np.zeros((B, O, S, K))
        return self.cold_sn[:, :, self._system.candidates].transpose(0, 2, 1, 3)

    @property
    def flow_cold_start_s(self) -> FloatArray:
        """Start-up time (left) of the instance each flow goes to, ``[B, O, S, K]``.

        A node that wakes this slot adds its wake-up time (the instance starts after it); an
        instance still starting from an earlier slot has what is left of its start-up.
        """
        sy = self._system
        B, O, K, S = self.flows.shape
        if self.start_sn is None:
            t_cold = sy.cold_start_s[None, None, :, None]
            return np.broadcast_to(t_cold, (B, O, S, K))
        out: FloatArray = self.start_sn[:, :, sy.candidates].transpose(0, 2, 1, 3)
        return out

    @property
    def flow_latency_mean_s(self) -> FloatArray:
        """Mean E2E latency of each flow's served tasks, s, ``[B, O, S, K]`` (inf if unusable)."""
        rate = self.flow_rate
        queue: FloatArray = np.full(rate.shape, np.inf)
        np.divide(1.0, rate, out=queue, where=rate > 0)
        if self.wait_n is not None:  # M/G/1: the node's mean wait plus the task's service time
            sy = self._system
            per_device = (sy.devices / sy.capacity)[sy.candidates][:, None, :]
            x = sy.work[None, :, None] * per_device  # [O, S, K] service time on one device
            wait = self.wait_n[:, sy.candidates][:, :, None, :]  # [B, O, 1, K]
            queue = np.where(rate > 0, wait + x[None], np.inf)
        lo, hi = cold_wait_bounds(self.flow_cold_start_s, self.slot_s)
        cold = self.flow_cold_fraction * (lo + hi) / 2.0
        return self.flow_network_s + queue + cold

    def objective(self, penalty_j: float) -> FloatArray:
        """Scalarised objective: energy + ``penalty_j`` per unsatisfied task, J, ``[B]``."""
        return self.energy_total + penalty_j * (self.offered - self.satisfied)


def _mg1_wait(
    system: System,
    rate: FloatArray,
    admitted_load: FloatArray,
    background: FloatArray | None = None,
    background_second: FloatArray | None = None,
) -> FloatArray:
    """Pollaczek-Khinchine mean wait of every node, s, ``[B, N]``.

    From the admitted arrival rates ``[B, S, N]`` (tasks/s) and load (gigacycles/s):
    ``sum lambda x^2 (1 + c^2) / (2 (1 - rho))``. A ``background`` load ``[B, N]`` adds to
    ``rho`` and its ``sum lambda E[x^2]`` per device to the numerator: ``background_second``
    where given, else that of the twin's own tasks there scaled by the two loads' ratio (its
    tasks taken to be like theirs).
    """
    # Service time on one device; each device gets 1 / devices of the node's arrivals.
    x = system.work[:, None] * (system.devices / system.capacity)[None, :]  # [S, N]
    second = (rate * x[None] ** 2 * (1.0 + system.work_cv[None, :, None] ** 2)).sum(axis=1)
    second = second / system.devices
    if background is not None:
        if background_second is not None:
            second = second + background_second
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(admitted_load > 0, background / admitted_load, 0.0)
            second = second * (1.0 + ratio)
        admitted_load = admitted_load + background
    rho = np.minimum(admitted_load / system.capacity, 1.0 - 1e-9)
    out: FloatArray = second / (2.0 * (1.0 - rho))
    return out


def _scatter_sum(index: IntArray, weights: np.ndarray, size: int) -> FloatArray:
    """Sums of ``weights`` by ``index`` into ``size`` bins, float64."""
    # With weights, bincount returns float64 (the stubs type it as integers): asarray is a no-op.
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def shannon_rate_mbps(mhz: FloatArray | float, snr_db: FloatArray) -> FloatArray:
    """Shannon rate ``B log2(1 + SNR)`` in Mbit/s for bandwidth in MHz and SNR in dB."""
    return mhz * np.log2(1.0 + 10.0 ** (snr_db / 10.0))


@dataclass(frozen=True, eq=False)
class _Constants:
    """Per-system arrays the slot arithmetic reuses, in the ``[O, K, S]`` layout."""

    remote: FloatArray  # [O, K] 1 where the candidate is reached over the radio
    remote_bool: BoolArray  # [O, K]
    admissible: BoolArray  # [O, K, S]
    input_s: FloatArray  # [S]
    output_s: FloatArray  # [S]
    budget: FloatArray  # [O, K, S] deadline minus round-trip delay
    cold_s: FloatArray  # [S] cold-start time
    inv_work: FloatArray  # [S]
    inv_work3: FloatArray  # [1, S, 1]
    asleep_power: FloatArray  # [N] sleep power, 0 where the node cannot sleep
    dynamic_power: FloatArray  # [N] peak - idle
    instance_power_sn: FloatArray  # [S * N] keep-alive power of an instance
    instantiation_energy_sn: FloatArray  # [S * N] energy of a cold start
    wired_j_per_mbit: FloatArray  # [O * K * 2] wired and access energy per Mbit, both ways
    incidence: FloatArray | None  # [O * K, L] path-link incidence, for small systems only
    incidence_t: FloatArray | None  # [L, O * K]
    wakes: bool  # whether a node's wake-up takes time or energy
    finite_cold_j: bool  # whether every instantiation energy is finite
    sizes_vary: BoolArray | None  # [S] a request's data sizes vary (None: no service's do)


@per_system
def _constants(system: System) -> _Constants:
    remote = ~system.candidate_local & system.candidate_valid
    ft = system.float_dtype
    inv_work = 1.0 / system.work
    delay2 = 2.0 * system.candidate_delay_s
    # A dense path-link incidence is faster while small; beyond, scatter/gather per hop.
    dense = system.link_incidence.size <= DENSE_INCIDENCE_LIMIT
    return _Constants(
        remote=remote.astype(float),
        remote_bool=remote,
        admissible=np.ascontiguousarray(system.admissible.transpose(0, 2, 1)),
        input_s=system.input_mbit.astype(ft),
        output_s=system.output_mbit.astype(ft),
        budget=(system.deadline_s[None, None, :] - delay2[:, :, None]).astype(ft),
        cold_s=system.cold_start_s.astype(ft),
        inv_work=inv_work.astype(ft),
        inv_work3=inv_work[None, :, None],
        asleep_power=np.nan_to_num(system.sleep_power),
        dynamic_power=system.peak_power - system.idle_power,
        instance_power_sn=np.repeat(system.instance_power, system.n_nodes),
        instantiation_energy_sn=np.repeat(system.instantiation_energy, system.n_nodes),
        wired_j_per_mbit=np.repeat(system.candidate_j_per_mbit.ravel(), 2),
        incidence=np.ascontiguousarray(system.link_incidence.T) if dense else None,
        incidence_t=system.link_incidence if dense else None,
        wakes=bool(system.wake_s.any() or system.wake_energy.any()),
        finite_cold_j=bool(np.isfinite(system.instantiation_energy).all()),
        sizes_vary=vary if (vary := (system.input_cv > 0) | (system.output_cv > 0)).any() else None,
    )


def clean_routing(routing: FloatArray) -> FloatArray:
    """Routing with negative shares set to 0 and rows summing above 1 scaled down to 1."""
    # Valid routing (the usual case) is returned as it is, without a copy: checked in one
    # compiled pass where it can be (the rows' sums are NumPy's to the last bit).
    fast = routing.size and routing.dtype == np.float64 and routing.flags.c_contiguous
    if fast and _is_clean(routing.reshape(-1, routing.shape[-1])):
        return routing
    y = routing if routing.size == 0 or routing.min() >= 0.0 else np.maximum(routing, 0.0)
    row = y.sum(axis=-1, keepdims=True)
    if row.max(initial=0.0) > 1.0:
        y = y / np.maximum(row, 1.0)
    return y


def clean_with_paths(routing: FloatArray, shares: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:func:`clean_routing` for routing ``[..., K]`` and path shares ``[..., P]`` together."""
    y = np.maximum(routing, 0.0)
    w = np.maximum(shares, 0.0)
    row = np.maximum(y.sum(axis=-1, keepdims=True) + w.sum(axis=-1, keepdims=True), 1.0)
    return y / row, w / row


@dataclass(frozen=True, eq=False)
class _Hops:
    """The wired hops of every candidate's path, without the padding of ``path_links``."""

    path: IntArray  # [E] flat (origin, candidate) of each hop, in (hop, path) order
    link: IntArray  # [E] its link


@per_system
def _hops(system: System) -> _Hops:
    L = system.n_links
    hop, path = np.nonzero(system.path_links.T < L)  # (hop, path) order
    link = system.path_links[path, hop]
    return _Hops(path=path, link=link)


@dataclass(frozen=True, eq=False)
class _DeploymentTerms:
    """What a slot computes from the system and the deployment alone."""

    system: System
    deployment: BoolArray  # [B, S, N] a copy of the one they were computed from
    per_node: IntArray  # [B, N] instances on each node
    awake: BoolArray  # [B, N] without background load
    idle_j: FloatArray  # [B] idle and sleep energy without background load
    instance_j: FloatArray  # [B] instances' keep-alive energy
    count: FloatArray  # [B] instances running


class SlotCache:
    """What :func:`evaluate_slot` computed from the deployment, for the next slots.

    A policy keeps its deployment for several slots (RAND and GRD redeploy every ten, a frozen
    decision never): while the system is the same object and the deployment equal to the last
    one (compared in full every slot), the per-node instance counts, the nodes awake and the
    idle and instance energy are reused, not computed again. A :class:`~cnc6g.twin.Twin`
    keeps one for its slots.
    """

    def __init__(self) -> None:
        self.terms: _DeploymentTerms | None = None


def _deployment_terms(
    system: System, c: _Constants, deployment: BoolArray, cache: SlotCache | None
) -> _DeploymentTerms:
    """The deployment's terms: the cache's where they are of this system and deployment."""
    kept = None if cache is None else cache.terms
    if (
        kept is not None
        and kept.system is system
        and kept.deployment.shape == deployment.shape
        and _same(kept.deployment, deployment)
    ):
        return kept
    B, S, N = deployment.shape
    tau = system.slot_s
    per_node = deployment.sum(axis=1)
    awake = np.where(system.can_sleep, per_node > 0, True)
    terms = _DeploymentTerms(
        system=system,
        deployment=deployment if cache is None else np.array(deployment, dtype=bool),
        per_node=per_node,
        awake=awake,
        idle_j=tau * np.where(awake, system.idle_power, c.asleep_power).sum(axis=1),
        instance_j=tau * (deployment.reshape(B, S * N) @ c.instance_power_sn),
        count=np.add.reduce(per_node, axis=1, dtype=np.float64),
    )
    if cache is not None:
        cache.terms = terms
    return terms


def _same(a: BoolArray, b: BoolArray) -> bool:
    """Whether two boolean arrays of the same shape hold the same values.

    Small ones as bytes (fewer calls), large ones with NumPy's vectorised comparison.
    """
    if a.size <= 1 << 16:
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


def evaluate_slot(
    system: System,
    demand: FloatArray | IntArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    deployment: BoolArray,
    previous: BoolArray,
    routing: FloatArray,
    cpu_share: FloatArray | None = None,
    starting: FloatArray | None = None,
    radio_delay_s: FloatArray | None = None,
    paths: IntArray | None = None,
    path_shares: FloatArray | None = None,
    background_gcps: FloatArray | None = None,
    background_mbps: FloatArray | None = None,
    background_second_s: FloatArray | None = None,
    *,
    compiled: bool = True,
    cache: SlotCache | None = None,
) -> SlotOutcome:
    """Evaluate one slot for ``B`` copies.

    Args:
        system: the compiled scenario.
        demand: requests arriving this slot, ``[B, O, S]`` (integer or float counts).
        uplink_mbps: radio uplink rate of each origin this slot, ``[B, O]``.
        downlink_mbps: radio downlink rate, ``[B, O]``.
        deployment: instances running this slot, ``[B, S, N]``.
        previous: instances running the slot before, ``[B, S, N]`` (cold starts are the new ones).
        routing: share of each (origin, service) demand sent to each candidate, ``[B, O, S, K]``;
            what is left of 1 is rejected. Shares must be >= 0 with rows summing to <= 1 (see
            :func:`clean_routing`); this hot path does not check.
        cpu_share: optional hard CPU quota of each instance as a fraction of its node,
            ``[B, S, N]``.
        starting: start-up time still left, s, of instances started in earlier slots,
            ``[B, S, N]`` (``twin.carry_over_start_up``; None: every start-up ends within its
            first slot).
        radio_delay_s: extra one-way delay of each origin's radio hop this slot, s,
            ``[B, O]`` (the air latency's jitter; None: none).
        paths: step placements of the services whose steps are placed separately,
            ``[B, O, S, P, Q]`` candidate indices (see :class:`~cnc6g.model.Decision`); their
            ``routing`` rows place the steps as one unit (pinned steps on the terminal).
        path_shares: share of each (origin, service) demand sent along each path,
            ``[B, O, S, P]``.
        background_gcps: compute load from outside the twin's services on each node,
            gigacycles/s, ``[B, N]`` (None: none; see the module).
        background_mbps: traffic from outside the twin's services in each cell, Mbit/s,
            ``[B, O, 2]`` uplink and downlink (None: none).
        background_second_s: the background's ``sum lambda E[x^2]`` per device on each node,
            s, ``[B, N]``: its part of the M/G/1 wait (None: its tasks like the twin's there).
        compiled: run the passes over the flows as compiled kernels (double precision only);
            ``False`` runs them as NumPy expressions, the reference the kernels must equal to
            the last bit.
        cache: what the slots before computed from the deployment alone, reused while it
            stays the same (a twin keeps one; None: computed afresh).

    Returns:
        The slot's outcome, see :class:`SlotOutcome`.
    """
    c = _constants(system)
    ft = system.float_dtype
    fused = compiled and ft is np.float64  # compiled passes over the flows
    tau = system.slot_s
    rho_max = system.admission_utilisation
    B = demand.shape[0]
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    cand = system.candidates
    bg = None if background_gcps is None else np.minimum(background_gcps, system.capacity)

    deployment = deployment.astype(bool, copy=False)
    previous = previous.astype(bool, copy=False)
    if compiled:  # the instances started, counted per copy, in one pass
        new, started = np.empty(deployment.shape, dtype=bool), np.zeros(B)
        any_new = _new_instances(deployment, previous, new, started)
    else:
        new = deployment & ~previous
        any_new = bool(new.any())
        started = np.add.reduce(new.reshape(B, S * N), axis=1, dtype=np.float64)
    kept = _deployment_terms(system, c, deployment, cache)
    per_node = kept.per_node  # [B, N]
    # Nodes that slept the slot before (no instance) and host one now wake up first.
    waking = None
    if c.wakes:
        waking = system.can_sleep & (per_node > 0) & ~previous.any(axis=1)

    # The active flows: (copy, origin, service) rows with requests, and the candidates their
    # routing sends a share to. Everything per flow is computed for these only.
    wanted = demand.reshape(-1)
    shares = routing.reshape(-1, K)
    bos, k, share = _flows_with_shares(wanted, shares)  # flat (copy, origin, service), k
    chains = system.chains
    cf: ChainFlows | None = None
    if chains is not None:  # services placed step by step are evaluated as paths
        single = ~chains.is_chain[bos % S]
        bos, k, share = bos[single], k[single], share[single]
        cf = chain_flows(system, demand, routing, deployment, paths, path_shares)
        cf_ok = cf.requests * cf.usable
        cf_bits, cf_links = offered_bits(system, cf, cf_ok, B)
    size = B * O * K
    if fused:  # the indices, requests and traffic below in one compiled pass
        F = bos.size
        # One block each for the flows' indices and figures (rows: fewer allocations).
        s, bo, b, o, ok, local_ok, node, sn = np.empty((8, F), dtype=np.int64)
        requests, flow_ok, slack, reach, served, exponent = np.empty((6, F))
        bits = np.zeros((B, O, K, 2))
        _flow_terms(
            bos,
            k,
            share,
            wanted,
            cand,
            deployment,
            c.admissible,
            c.input_s,
            c.output_s,
            (s, bo, b, o, ok, local_ok, node, sn),
            requests,
            flow_ok,
            bits,
        )
    else:
        s = bos % S
        bo = bos // S  # flat (copy, origin)
        b = bo // O
        o = bo - b * O
        ok = bo * K + k  # flat (copy, origin, candidate)
        local_ok = o * K + k
        node = cand.reshape(-1)[local_ok]
        sn = (b * S + s) * N + node  # flat (copy, service, node) of the instance
        requests = np.multiply(wanted[bos], share, dtype=ft)
        usable = deployment.reshape(-1)[sn] & c.admissible.reshape(-1)[local_ok * S + s]
        flow_ok = requests * usable

        # Traffic per (copy, origin, candidate), Mbit per slot sent and received.
        bits = np.empty((B, O, K, 2))
        bits[..., 0] = np.bincount(ok, flow_ok * c.input_s[s], size).reshape(B, O, K)
        bits[..., 1] = np.bincount(ok, flow_ok * c.output_s[s], size).reshape(B, O, K)
    load_bits = bits if cf is None else bits + cf_bits

    # Radio cells (only remote candidates use them).
    rates = np.empty((B, O, 2))
    rates[..., 0] = uplink_mbps
    rates[..., 1] = downlink_mbps
    air_bits = _remote_sum(load_bits, c.remote)  # [B, O, 2]
    own_rho: FloatArray | None = None  # the twin's flows over the cell's whole rate
    cell_rho: FloatArray | None = None
    if background_mbps is not None:  # the twin's flows share what the background leaves
        cell_rates = rates
        rates = np.maximum(cell_rates - background_mbps, MIN_RADIO_SHARE * cell_rates)
        own_rho = air_bits / (cell_rates * tau)
        cell_rho = (own_rho + (cell_rates - rates) / cell_rates).max(axis=-1)
    if fused and background_mbps is None:  # the three below in one compiled pass
        rho_radio, radio_s = np.empty((2, B, O, 2))
        radio_admit, busiest = np.empty((2, B, O))
        _radio_terms(air_bits, rates, tau, rho_max, rho_radio, radio_admit, radio_s, busiest)
        radio_busiest: FloatArray | None = busiest
    else:
        radio_busiest = None
        rho_radio = air_bits / (rates * tau)
        radio_admit = (rho_max / np.maximum(rho_radio, rho_max)).prod(axis=-1)  # [B, O]
        radio_s = 1.0 / (rates * (1.0 - np.minimum(rho_radio, rho_max)))  # s per Mbit

    # Wired links: per-direction load, time per Mbit and admission, summed along each path.
    if system.n_links:
        L = system.n_links
        capacity = system.link_capacity * tau
        if c.incidence is not None:  # small systems: products with the [O*K, L] path-link incidence
            sent = load_bits.reshape(B, O * K, 2).transpose(0, 2, 1)  # [B, 2, O*K]
            rho_l = (sent @ c.incidence) / capacity  # [B, 2, L]
        else:  # large systems: scatter the loaded paths' traffic onto their links
            carried = np.zeros((B, 2, L))
            if fused:  # hop level after hop level, the loaded paths only
                _scatter_loaded(load_bits.reshape(B, O * K, 2), system.path_links, carried)
            else:
                hops = _hops(system)
                _scatter_hops(load_bits.reshape(B, O * K, 2), hops.path, hops.link, carried)
            rho_l = carried / capacity  # [B, 2, L]
        if cf is not None:  # transfers between the steps' network nodes
            rho_l = rho_l + cf_links / capacity
        per_link = np.empty((B, 4, L))  # s per Mbit sent, received; log admitted both ways
        if fused:  # the times, the admitted shares and the busier direction in one pass
            admitted, link_util = np.empty((B, 2, L)), np.empty((B, L))
            _link_terms(rho_l, system.link_capacity, rho_max, per_link, admitted, link_util)
            per_link[:, 2:] = np.log(admitted)
        else:
            per_link[:, :2] = 1.0 / (system.link_capacity * (1.0 - np.minimum(rho_l, rho_max)))
            per_link[:, 2:] = np.log(rho_max / np.maximum(rho_l, rho_max))
            link_util = rho_l.max(axis=1)
        if c.incidence_t is None and cf is None:  # hop by hop, the radio added on the way
            per_mbit = np.empty((B, O, K, 2))
            log_admit = np.empty((B, O, K))
            _gather_paths(per_link, system.path_links, radio_s, c.remote, per_mbit, log_admit)
            net_admit = np.exp(log_admit)
            radio_added = True
        else:
            if c.incidence_t is not None:  # set together with c.incidence
                along = (per_link @ c.incidence_t).reshape(B, 4, O, K)
            else:  # hop by hop, each path from its first link on
                flat_along = np.empty((B, 4, O * K))
                _gather_hops(per_link, system.path_links, flat_along)
                along = flat_along.reshape(B, 4, O, K)
            per_mbit = along[:, :2].transpose(0, 2, 3, 1)  # [B, O, K, 2]
            net_admit = np.exp(along[:, 2] + along[:, 3])
            radio_added = False
    else:
        per_mbit = np.zeros((B, O, K, 2))
        net_admit = np.ones((B, O, K))
        link_util = np.zeros((B, 0))
        radio_added = False
    # Seconds per Mbit sent and received of each (copy, origin, candidate), wired and radio.
    if not radio_added:
        per_mbit = _add_radio(per_mbit, radio_s, c.remote)
    if fused:  # in place: net_admit is this slot's own array
        _times_radio_admit(net_admit, radio_admit, c.remote_bool)
    else:
        net_admit = net_admit * np.where(c.remote_bool, radio_admit[:, :, None], 1.0)  # [B, O, K]
    if cf is not None:  # each path's transfers: times at this slot's loads and admission
        radio_dir = rho_max / np.maximum(rho_radio, rho_max)  # [B, O, 2]
        dir_admit = np.where(c.remote_bool[None, :, :, None], radio_dir[:, :, None, :], 1.0)
        if system.n_links:
            dir_admit = dir_admit * np.exp(along[:, 2:]).transpose(0, 2, 3, 1)
        cf_time, cf_admit, cf_size_s = transfer_terms(
            system,
            cf,
            per_mbit,
            dir_admit,
            per_link if system.n_links else None,
            radio_delay_s,
            sizes=c.sizes_vary is not None,
        )
        cf_reach = cf_ok * cf_admit
        cf_work = step_work_at(system, cf, cf_reach, B)

    # Time left for queueing and execution: the deadline less the delays and transfers.
    if fused:  # with the tasks reaching their nodes (below) in one compiled pass
        arrivals = np.zeros((B, S, N))
        _flow_slack_reach(
            ok,
            local_ok,
            s,
            sn,
            flow_ok,
            per_mbit.reshape(-1, 2),
            net_admit.reshape(-1),
            c.budget.reshape(-1),
            c.input_s,
            c.output_s,
            slack,
            reach,
            arrivals.reshape(-1),
        )
    else:
        flow_mbit = per_mbit.reshape(-1, 2)[ok].astype(ft, copy=False)
        slack = (
            c.budget.reshape(-1)[local_ok * S + s]
            - flow_mbit[:, 0] * c.input_s[s]
            - flow_mbit[:, 1] * c.output_s[s]
        )
    if radio_delay_s is not None:  # the air latency's jitter, both ways over the radio
        slack = slack - (2.0 * radio_delay_s.reshape(-1)[bo] * c.remote.reshape(-1)[local_ok])

    # Compute: the tasks the network admitted reach their node, which admits up to rho_max.
    if not fused:
        reach = flow_ok * net_admit.reshape(-1)[ok].astype(ft, copy=False)
        arrivals = _scatter_sum(sn, reach, B * S * N).reshape(B, S, N)
    wait_n: FloatArray | None = None
    radio_done = False  # radio_bits computed with the served traffic
    if cpu_share is None:
        # One processor-sharing server per node: a task's sojourn rate is headroom / work.
        load = (system.work @ arrivals) / tau  # gigacycles/s, [B, N]
        if cf is not None:
            load = load + cf_work.sum(axis=1) / tau
        if bg is None and fused:  # the three below in one compiled pass
            node_admit, admitted_load, headroom = np.empty((3, *load.shape))
            _node_terms(load, system.capacity, rho_max, node_admit, admitted_load, headroom)
        elif bg is None:
            node_admit = rho_max / np.maximum(load / system.capacity, rho_max)
            admitted_load = node_admit * load
            headroom = system.capacity - admitted_load
        else:  # the twin's tasks take up to rho_max of the capacity with the background
            free = np.maximum(rho_max - bg / system.capacity, 0.0)  # [B, N]
            with np.errstate(divide="ignore", invalid="ignore"):
                node_admit = np.where(
                    free > 0, free / np.maximum(load / system.capacity, free), 0.0
                )
            admitted_load = node_admit * load
            headroom = np.maximum(system.capacity - admitted_load - bg, 0.0)
        node_load = admitted_load if bg is None else admitted_load + bg
        # A task runs on one of the node's devices: capacity and load split evenly among them.
        rate_sn = _instance_rates(headroom, system.devices, c.inv_work, deployment)
        if fused:
            _flow_served(
                b,
                node,
                s,
                reach,
                slack,
                node_admit,
                headroom,
                system.devices,
                c.inv_work,
                served,
                exponent,
            )
        else:
            bn = b * N + node
            served = reach * node_admit.reshape(-1)[bn].astype(ft, copy=False)
            exponent = (headroom.reshape(-1)[bn] / system.devices[node] * c.inv_work[s]).astype(
                ft, copy=False
            ) * slack
        if fused and cf is None:  # with the radio's share of it in the same pass
            served_bits, radio_bits = np.empty((B, O, K, 2)), np.empty((B, O, 2))
            _served_radio_bits(bits, net_admit, node_admit, cand, c.remote, served_bits, radio_bits)
            radio_done = True
        else:
            served_bits = _served_bits(bits, net_admit, node_admit, cand)
        if system.scenario.twin.sojourn == "mg1":
            wait_n = _mg1_wait(
                system,
                arrivals * node_admit[:, None, :] / tau,
                admitted_load,
                bg,
                background_second_s,
            )
    else:
        # Hard quotas: each instance is its own M/M/1 queue admitting up to rho_max of it.
        available = system.capacity if bg is None else (system.capacity - bg)[:, None, :]
        quota = np.maximum(cpu_share, 0.0) * available  # gigacycles/s
        offered_work = arrivals * system.work[None, :, None] / tau
        if cf is not None:
            offered_work = offered_work + cf_work / tau
        with np.errstate(divide="ignore", invalid="ignore"):
            inst_admit = np.where(
                quota > 0, rho_max / np.maximum(offered_work / quota, rho_max), 0.0
            )
        admitted_load = (inst_admit * offered_work).sum(axis=1)
        node_load = admitted_load if bg is None else admitted_load + bg
        rate_sn = np.maximum(quota * c.inv_work3 - inst_admit * arrivals / tau, 0.0) * deployment
        served = reach * inst_admit.reshape(-1)[sn].astype(ft, copy=False)
        exponent = rate_sn.reshape(-1)[sn].astype(ft, copy=False) * slack
        served_bits = np.empty((B, O, K, 2))
        served_bits[..., 0] = np.bincount(ok, served * c.input_s[s], size).reshape(B, O, K)
        served_bits[..., 1] = np.bincount(ok, served * c.output_s[s], size).reshape(B, O, K)
    if wait_n is None:
        p_sat = np.maximum(exponent, 0.0)
        np.negative(p_sat, out=p_sat)
        np.expm1(p_sat, out=p_sat)
        np.negative(p_sat, out=p_sat)  # P(sojourn <= slack): 0 where slack <= 0
    else:  # M/G/1: the node's wait and the task's own work (twin.sojourn = mg1)
        bn = b * N + node
        rho = (node_load / system.capacity).reshape(-1)[bn]
        x = system.work[s] * system.devices[node] / system.capacity[node]
        p_sat = p_within(slack, x, system.work_cv[s], rho, wait_n.reshape(-1)[bn]).astype(ft)
    cold_sn: FloatArray | None = None
    start_sn: FloatArray | None = None
    start_left_sn: FloatArray | None = None
    still: BoolArray | None = None
    if starting is not None:  # instances still starting from an earlier slot
        still = deployment & previous & (starting > 0)
    if any_new or (still is not None and still.any()):
        # Only the flows into instances starting this slot meet a cold start.
        start_s = c.cold_s[None, :, None]  # [1, S, 1], or [B, S, N] with wake-ups
        if waking is not None:
            start_s = start_s + (waking * system.wake_s)[:, None, :]
        starting_now: BoolArray = new
        if still is not None:
            assert starting is not None
            start_s = np.where(still, starting, start_s)
            starting_now = new | still
        cold_sn = np.minimum(start_s / tau, 1.0) * starting_now
        start_sn = np.broadcast_to(start_s, (B, S, N)) * starting_now
        if system.scenario.twin.carry_over_start_up:
            start_left_sn = np.maximum(start_sn - tau, 0.0)
        hit = np.flatnonzero(starting_now.reshape(-1)[sn])
        if hit.size:
            at = sn[hit]
            cold = cold_sn.reshape(-1)[at].astype(ft, copy=False)
            rate = rate_sn.reshape(-1)[at].astype(ft, copy=False)
            t_start = np.broadcast_to(start_s, (B, S, N)).reshape(-1)[at].astype(ft, copy=False)
            p_cold = _p_after_cold_start(rate, slack[hit], t_start, tau)
            p_sat[hit] = (1.0 - cold) * p_sat[hit] + cold * p_cold
    if c.sizes_vary is not None:  # the tasks of services whose data sizes vary
        vary = np.flatnonzero(c.sizes_vary[s] & (served > 0))
        if vary.size:
            p_sat[vary] = _p_sized(
                system,
                vary,
                s,
                b,
                node,
                sn,
                slack,
                per_mbit.reshape(-1, 2)[ok[vary]],
                rate_sn,
                wait_n,
                node_load,
                cold_sn,
                start_sn,
            )
    satisfied = served * p_sat
    chain_out: ChainOutcome | None = None
    if cf is not None:
        step_bn = cf.copy[:, None] * N + cf.node
        if cpu_share is None:
            step_admit = node_admit.reshape(-1)[step_bn]
            step_headroom = headroom.reshape(-1)[step_bn] / system.devices[cf.node]
        else:
            inst = (cf.copy[:, None] * S + cf.service[:, None]) * N + cf.node
            step_admit = inst_admit.reshape(-1)[inst]
            left = np.maximum(quota - inst_admit * offered_work, 0.0)
            step_headroom = left.reshape(-1)[inst]
        chain_out = path_outcome(
            system, cf, cf_reach, step_admit, step_headroom, cf_time, start_sn, cf_size_s
        )
        cf_served_bits, _ = offered_bits(system, cf, chain_out.served, B)
        served_bits = served_bits + cf_served_bits

    # Energy.
    if bg is None:  # copies: the outcome's arrays are its own
        awake, idle = kept.awake.copy(), kept.idle_j.copy()
    else:
        awake = np.where(system.can_sleep, (per_node > 0) | (bg > 0), True)
        idle = tau * np.where(awake, system.idle_power, c.asleep_power).sum(axis=1)
    util = node_load / system.capacity
    dynamic = tau * (awake * dynamic_share(system, util)) @ c.dynamic_power
    instances = kept.instance_j.copy()
    if any_new or not c.finite_cold_j:
        cold_j = new.reshape(B, S * N) @ c.instantiation_energy_sn
    else:  # no instance starts: the product is 0 (finite energies), not worth a pass
        cold_j = np.zeros(B)
    if waking is not None:
        cold_j = cold_j + waking @ system.wake_energy
    if not radio_done:
        radio_bits = _remote_sum(served_bits, c.remote)  # [B, O, 2]
    down_bits = radio_bits[..., 1]  # what the base stations send: with the background's
    if background_mbps is not None:
        down_bits = down_bits + (downlink_mbps - rates[..., 1]) * tau
    if system.scenario.radio is None:
        radio_j = (
            system.tx_power * radio_bits[..., 0] / uplink_mbps + system.bs_j_per_mbit * down_bits
        ).sum(axis=1)
    else:  # base stations after the EARTH model: static, load-dependent, asleep when unused
        radio_j = base_station_energy_j(system, down_bits / (downlink_mbps * tau))
        if system.scenario.radio.terminal_power is None:
            radio_j = radio_j + (system.tx_power * radio_bits[..., 0] / uplink_mbps).sum(axis=1)
        else:  # phones' radio with the RRC tail: tasks sent over the radio per origin
            remote = _scatter_sum(bo, served * c.remote.reshape(-1)[local_ok], B * O)
            if chain_out is not None:  # paths that cross the radio
                assert cf is not None
                crosses = ((cf.kind == 1) | (cf.kind == 2)).any(axis=1)
                remote = remote + _scatter_sum(
                    cf.copy * O + cf.origin, chain_out.served * crosses, B * O
                )
            phones = terminal_radio_energy_j(
                system,
                radio_bits[..., 0],
                radio_bits[..., 1],
                uplink_mbps,
                downlink_mbps,
                remote.reshape(B, O),
            )
            radio_j = radio_j + phones
    transport_j = served_bits.reshape(B, O * K * 2) @ c.wired_j_per_mbit
    if chain_out is not None:  # transfers between network nodes: their links and accesses
        assert cf is not None
        between = cf.kind == 4
        j = np.where(between, internode(system).j_per_mbit[cf.a, cf.b] * cf.mbit, 0.0)
        transport_j = transport_j + _scatter_sum(cf.copy, chain_out.served * j.sum(axis=1), B)

    offered = np.add.reduce(demand.reshape(B, O * S), axis=1, dtype=np.float64)
    if fused:
        served_total, satisfied_total = np.zeros(B), np.zeros(B)
        _copy_totals(b, served, satisfied, served_total, satisfied_total)
    else:
        served_total = _scatter_sum(b, served, B)
        satisfied_total = _scatter_sum(b, satisfied, B)
    if chain_out is not None:
        assert cf is not None
        served_total = served_total + _scatter_sum(cf.copy, chain_out.served, B)
        satisfied_total = satisfied_total + _scatter_sum(cf.copy, chain_out.satisfied, B)
    return SlotOutcome(
        offered=offered,
        served=served_total,
        satisfied=satisfied_total,
        dropped=offered - served_total,
        energy={
            "idle": idle,
            "dynamic": dynamic,
            "instances": instances,
            "cold_start": cold_j,
            "radio": radio_j,
            "transport": transport_j,
        },
        cold_starts=started,
        instances=kept.count.copy(),
        utilisation=util,
        awake=awake,
        link_utilisation=link_util,
        radio_utilisation=(rho_radio if own_rho is None else own_rho).max(axis=-1)
        if radio_busiest is None
        else radio_busiest,
        rate_sn=rate_sn,
        wait_n=wait_n,
        cold_sn=cold_sn,
        waking=waking,
        start_sn=start_sn,
        start_left_sn=start_left_sn,
        radio_delay_s=radio_delay_s,
        per_mbit_s=per_mbit,
        slot_s=tau,
        flows=Flows(
            shape=(B, O, K, S),
            copy=b,
            origin=o,
            candidate=k,
            service=s,
            node=node,
            requests=requests,
            served=served,
            satisfied=satisfied,
        ),
        _system=system,
        chains=chain_out,
        cell_utilisation=cell_rho,
    )


def _active_flows(wanted: np.ndarray, shares: FloatArray) -> tuple[IntArray, IntArray]:
    """The rows with requests and their candidates with a share, in row-major order.

    ``wanted`` ``[R]`` requests per flat (copy, origin, service) row, ``shares`` ``[R, K]``
    its routing: the (row, candidate) pairs where both are non-zero.
    """
    row, candidate, _ = _flows_with_shares(wanted, shares)
    return row, candidate


def _flows_with_shares(
    wanted: np.ndarray, shares: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """:func:`_active_flows` and each flow's share, from one pass over the routing rows.

    The routing of a large batch does not stay in cache from one pass to the next: each row
    with requests is read once, its candidates and shares written out as they are found.
    """
    bound = np.count_nonzero(wanted) * shares.shape[1]
    row = np.empty(bound, dtype=np.int64)
    candidate = np.empty(bound, dtype=np.int64)
    share = np.empty(bound)
    count = _flows_into(wanted, shares, row, candidate, share)
    return row[:count].copy(), candidate[:count].copy(), share[:count].copy()


@kernel
def _flows_into(
    wanted: np.ndarray, shares: FloatArray, row: IntArray, candidate: IntArray, share: FloatArray
) -> int:
    """:func:`_flows_with_shares` into ``row``, ``candidate`` and ``share``; the count.

    The outputs have room for every candidate of every row with requests. Kernels here write
    into arrays they are given and return numbers only: returning an array runs Python code
    (Numba boxes it), where an interrupt would surface as an internal error.
    """
    R, K = shares.shape
    i = 0
    for r in range(R):
        if wanted[r] != 0:
            for k in range(K):
                v = shares[r, k]
                if v != 0:
                    row[i] = r
                    candidate[i] = k
                    share[i] = v
                    i += 1
    return i


@kernel
def _flow_terms(
    bos: IntArray,
    k: IntArray,
    share: FloatArray,
    wanted: np.ndarray,
    candidates: IntArray,
    deployment: BoolArray,
    admissible: BoolArray,
    input_s: FloatArray,
    output_s: FloatArray,
    index: tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray],
    requests: FloatArray,
    flow_ok: FloatArray,
    bits: FloatArray,
) -> None:
    """Each flow's indices, requests and usable requests, and the traffic ``bits``.

    ``index`` gets the flows' service, (copy, origin), copy, origin, (copy, origin,
    candidate), (origin, candidate), node and (copy, service, node); ``bits`` ``[B, O, K, 2]``
    (zeros) the Mbit sent and received, added flow after flow as the scatter-sum does.
    """
    s_of, bo_of, b_of, o_of, ok_of, local_of, node_of, sn_of = index
    _, O, K, _ = bits.shape
    S, N = deployment.shape[1], deployment.shape[2]
    for f in range(bos.size):
        r = bos[f]
        s = r % S
        bo = r // S
        b = bo // O
        o = bo - b * O
        local = o * K + k[f]
        node = candidates[o, k[f]]
        s_of[f], bo_of[f], b_of[f], o_of[f] = s, bo, b, o
        ok_of[f], local_of[f], node_of[f] = bo * K + k[f], local, node
        sn_of[f] = (b * S + s) * N + node
        requests[f] = float(wanted[r]) * share[f]
        usable = deployment[b, s, node] and admissible[o, k[f], s]
        flow_ok[f] = requests[f] * (1.0 if usable else 0.0)
        bits[b, o, k[f], 0] += flow_ok[f] * input_s[s]
        bits[b, o, k[f], 1] += flow_ok[f] * output_s[s]


@kernel
def _flow_slack_reach(
    ok: IntArray,
    local_ok: IntArray,
    s: IntArray,
    sn: IntArray,
    flow_ok: FloatArray,
    per_mbit: FloatArray,
    net_admit: FloatArray,
    budget: FloatArray,
    input_s: FloatArray,
    output_s: FloatArray,
    slack: FloatArray,
    reach: FloatArray,
    arrivals: FloatArray,
) -> None:
    """Each flow's slack and tasks reaching its node; ``arrivals`` (zeros) per instance.

    ``per_mbit`` ``[B * O * K, 2]``, ``net_admit`` ``[B * O * K]``, ``budget`` ``[O * K * S]``
    and ``arrivals`` ``[B * S * N]`` flat; the arrivals added flow after flow.
    """
    S = input_s.size
    for f in range(ok.size):
        j = ok[f]
        si = s[f]
        slack[f] = (
            budget[local_ok[f] * S + si]
            - per_mbit[j, 0] * input_s[si]
            - per_mbit[j, 1] * output_s[si]
        )
        reach[f] = flow_ok[f] * net_admit[j]
        arrivals[sn[f]] += reach[f]


@kernel
def _flow_served(
    b: IntArray,
    node: IntArray,
    s: IntArray,
    reach: FloatArray,
    slack: FloatArray,
    node_admit: FloatArray,
    headroom: FloatArray,
    devices: FloatArray,
    inv_work: FloatArray,
    served: FloatArray,
    exponent: FloatArray,
) -> None:
    """Each flow's tasks its node admits and its sojourn rate times its slack."""
    for f in range(b.size):
        bf, n = b[f], node[f]
        served[f] = reach[f] * node_admit[bf, n]
        exponent[f] = headroom[bf, n] / devices[n] * inv_work[s[f]] * slack[f]


@inlined
def _np_min(a: float, b: float) -> float:
    """NumPy's ``minimum`` of two floats: NaN where either is."""
    return a if a < b or a != a else b


@inlined
def _np_max(a: float, b: float) -> float:
    """NumPy's ``maximum`` of two floats: NaN where either is."""
    return a if a > b or a != a else b


@kernel
def _radio_terms(
    air_bits: FloatArray,
    rates: FloatArray,
    tau: float,
    rho_max: float,
    rho: FloatArray,
    admit: FloatArray,
    s_per_mbit: FloatArray,
    busiest: FloatArray,
) -> None:
    """Each cell direction's utilisation, the cell's admitted share and the s per Mbit.

    ``air_bits`` and ``rates`` ``[B, O, 2]`` give ``rho = air_bits / (rates tau)``,
    ``admit`` ``[B, O]`` the product over the directions of ``rho_max / max(rho, rho_max)``
    and ``s_per_mbit = 1 / (rates (1 - min(rho, rho_max)))``, as the NumPy expressions do;
    ``busiest`` ``[B, O]`` the larger of the two directions' ``rho``.
    """
    B, O, _ = rates.shape
    for b in range(B):
        for o in range(O):
            share = 1.0
            for d in range(2):
                r = air_bits[b, o, d] / (rates[b, o, d] * tau)
                rho[b, o, d] = r
                part = rho_max / _np_max(r, rho_max)
                share = part if d == 0 else share * part
                s_per_mbit[b, o, d] = 1.0 / (rates[b, o, d] * (1.0 - _np_min(r, rho_max)))
            admit[b, o] = share
            first, second = rho[b, o, 0], rho[b, o, 1]
            busiest[b, o] = first if first >= second or first != first else second


@kernel
def _link_terms(
    rho_l: FloatArray,
    capacity: FloatArray,
    rho_max: float,
    per_link: FloatArray,
    admitted: FloatArray,
    busiest: FloatArray,
) -> None:
    """Per link direction ``rho_l`` ``[B, 2, L]``: s per Mbit, admitted share, the busier.

    ``per_link[:, :2]`` gets ``1 / (capacity (1 - min(rho, rho_max)))``, ``admitted``
    ``rho_max / max(rho, rho_max)`` (its log is NumPy's to take) and ``busiest`` ``[B, L]``
    the larger of the two directions' utilisations.
    """
    B, _, L = rho_l.shape
    for b in range(B):
        for j in range(L):
            for d in range(2):
                r = rho_l[b, d, j]
                per_link[b, d, j] = 1.0 / (capacity[j] * (1.0 - _np_min(r, rho_max)))
                admitted[b, d, j] = rho_max / _np_max(r, rho_max)
            first, second = rho_l[b, 0, j], rho_l[b, 1, j]
            busiest[b, j] = first if first >= second or first != first else second


@kernel
def _add_by_demand(
    copy: IntArray,
    origin: IntArray,
    service: IntArray,
    values: FloatArray,
    O: int,
    S: int,
    out: FloatArray,
) -> None:
    """Add each flow's value onto its (copy, origin, service) row of ``out``, flow after flow."""
    for f in range(copy.size):
        out[(copy[f] * O + origin[f]) * S + service[f]] += values[f]


@kernel
def _new_instances(
    deployment: BoolArray, previous: BoolArray, new: BoolArray, started: FloatArray
) -> bool:
    """``new = deployment & ~previous`` ``[B, S, N]``, counted per copy into ``started``."""
    B, S, N = deployment.shape
    some = False
    for b in range(B):
        count = 0
        for s in range(S):
            for n in range(N):
                on = deployment[b, s, n] and not previous[b, s, n]
                new[b, s, n] = on
                count += on
        started[b] = count
        some = some or count > 0
    return some


@kernel
def _served_radio_bits(
    bits: FloatArray,
    net_admit: FloatArray,
    node_admit: FloatArray,
    candidates: IntArray,
    remote: FloatArray,
    out: FloatArray,
    radio: FloatArray,
) -> None:
    """:func:`_served_bits` into ``out`` and its :func:`_remote_sum` into ``radio``, one pass."""
    B, O, K, _ = bits.shape
    for b in range(B):
        for o in range(O):
            up = 0.0
            down = 0.0
            for k in range(K):
                admit = net_admit[b, o, k] * node_admit[b, candidates[o, k]]
                sent = bits[b, o, k, 0] * admit
                received = bits[b, o, k, 1] * admit
                out[b, o, k, 0] = sent
                out[b, o, k, 1] = received
                up += sent * remote[o, k]
                down += received * remote[o, k]
            radio[b, o, 0] = up
            radio[b, o, 1] = down


@kernel
def _copy_totals(
    b: IntArray,
    served: FloatArray,
    satisfied: FloatArray,
    served_out: FloatArray,
    sat_out: FloatArray,
) -> None:
    """Each copy's served and satisfied tasks (zeros given), added flow after flow."""
    for f in range(b.size):
        served_out[b[f]] += served[f]
        sat_out[b[f]] += satisfied[f]


@kernel
def _times_radio_admit(net_admit: FloatArray, radio_admit: FloatArray, remote: BoolArray) -> None:
    """``net_admit`` ``[B, O, K]`` times the cell's admitted share where reached by radio."""
    B, O, K = net_admit.shape
    for b in range(B):
        for o in range(O):
            for k in range(K):
                net_admit[b, o, k] *= radio_admit[b, o] if remote[o, k] else 1.0


@kernel
def _is_clean(routing: FloatArray) -> bool:
    """Whether routing rows ``[R, K]`` have no share below 0 (nor NaN) and sum to <= 1."""
    R, K = routing.shape
    for r in range(R):
        for k in range(K):
            if not routing[r, k] >= 0.0:
                return False
        if row_sum(routing[r]) > 1.0:
            return False
    return True


def _add_radio(wired: FloatArray, radio_s: FloatArray, remote: FloatArray) -> FloatArray:
    """``wired + radio_s[:, :, None, :] * remote[None, :, :, None]``, ``[B, O, K, 2]``."""
    out = np.empty(wired.shape)
    _add_radio_into(wired, radio_s, remote, out)
    return out


def _instance_rates(
    headroom: FloatArray, devices: FloatArray, inv_work: FloatArray, deployment: BoolArray
) -> FloatArray:
    """``headroom[:, None, :] / devices * inv_work[None, :, None] * deployment``, ``[B, S, N]``."""
    out = np.empty(deployment.shape)
    _instance_rates_into(headroom, devices, inv_work, deployment, out)
    return out


def _served_bits(
    bits: FloatArray, net_admit: FloatArray, node_admit: FloatArray, candidates: IntArray
) -> FloatArray:
    """``bits * (net_admit * node_admit[:, candidates])[..., None]``, ``[B, O, K, 2]``."""
    out = np.empty(bits.shape)
    _served_bits_into(bits, net_admit, node_admit, candidates, out)
    return out


def _remote_sum(bits: FloatArray, remote: FloatArray) -> FloatArray:
    """``(bits * remote[None, :, :, None]).sum(axis=2)``: ``[B, O, K, 2]`` to ``[B, O, 2]``."""
    out = np.empty((bits.shape[0], bits.shape[1], bits.shape[3]))
    _remote_sum_into(bits, remote, out)
    return out


@kernel
def _add_radio_into(
    wired: FloatArray, radio_s: FloatArray, remote: FloatArray, out: FloatArray
) -> None:
    """``wired + radio_s[:, :, None, :] * remote[None, :, :, None]``, ``[B, O, K, 2]``."""
    B, O, K, D = wired.shape
    for b in range(B):
        for o in range(O):
            for k in range(K):
                for d in range(D):
                    out[b, o, k, d] = wired[b, o, k, d] + radio_s[b, o, d] * remote[o, k]


@kernel
def _instance_rates_into(
    headroom: FloatArray,
    devices: FloatArray,
    inv_work: FloatArray,
    deployment: BoolArray,
    out: FloatArray,
) -> None:
    """``headroom[:, None, :] / devices * inv_work[None, :, None] * deployment``, ``[B, S, N]``."""
    B, S, N = deployment.shape
    per_device = np.empty(N)  # the first division, once per node
    for b in range(B):
        for n in range(N):
            per_device[n] = headroom[b, n] / devices[n]
        for s in range(S):
            for n in range(N):
                on = 1.0 if deployment[b, s, n] else 0.0
                out[b, s, n] = per_device[n] * inv_work[s] * on


@kernel
def _served_bits_into(
    bits: FloatArray,
    net_admit: FloatArray,
    node_admit: FloatArray,
    candidates: IntArray,
    out: FloatArray,
) -> None:
    """``bits * (net_admit * node_admit[:, candidates])[..., None]``, ``[B, O, K, 2]``."""
    B, O, K, D = bits.shape
    for b in range(B):
        for o in range(O):
            for k in range(K):
                admit = net_admit[b, o, k] * node_admit[b, candidates[o, k]]
                for d in range(D):
                    out[b, o, k, d] = bits[b, o, k, d] * admit


@kernel
def _remote_sum_into(bits: FloatArray, remote: FloatArray, out: FloatArray) -> None:
    """``(bits * remote[None, :, :, None]).sum(axis=2)``: ``[B, O, K, 2]`` to ``[B, O, 2]``.

    Summed over the candidates in order, as NumPy's reduction over that axis does.
    """
    B, O, K, D = bits.shape
    for b in range(B):
        for o in range(O):
            for d in range(D):
                total = 0.0
                for k in range(K):
                    total += bits[b, o, k, d] * remote[o, k]
                out[b, o, d] = total


@kernel
def _scatter_hops(bits: FloatArray, path: IntArray, link: IntArray, out: FloatArray) -> None:
    """Add each loaded path's traffic ``bits`` ``[B, O * K, 2]`` onto its links, ``out [B, 2, L]``.

    ``path`` and ``link``: the hops (see :class:`_Hops`), added in their order, which is the
    order of the scatter-sum over the loaded hops this replaces.
    """
    for b in range(bits.shape[0]):
        for e in range(path.size):
            p = path[e]
            if bits[b, p, 0] != 0 or bits[b, p, 1] != 0:
                out[b, 0, link[e]] += bits[b, p, 0]
                out[b, 1, link[e]] += bits[b, p, 1]


@kernel
def _scatter_loaded(bits: FloatArray, path_links: IntArray, out: FloatArray) -> None:
    """:func:`_scatter_hops` visiting the loaded paths only: the same additions, same order.

    The hops in (hop, path) order restricted to the paths with traffic are, for each hop
    level, the loaded paths in increasing order: found once per copy, then walked per level.
    """
    B, P, _ = bits.shape
    H = path_links.shape[1]
    L = out.shape[2]
    loaded = np.empty(P, dtype=np.int64)
    for b in range(B):
        n = 0
        for p in range(P):
            if bits[b, p, 0] != 0 or bits[b, p, 1] != 0:
                loaded[n] = p
                n += 1
        for h in range(H):
            for i in range(n):
                p = loaded[i]
                j = path_links[p, h]
                if j < L:
                    out[b, 0, j] += bits[b, p, 0]
                    out[b, 1, j] += bits[b, p, 1]


@kernel
def _node_terms(
    load: FloatArray,
    capacity: FloatArray,
    rho_max: float,
    node_admit: FloatArray,
    admitted_load: FloatArray,
    headroom: FloatArray,
) -> None:
    """Each node's admitted share of its load ``[B, N]``, the admitted load and the headroom.

    ``rho_max / max(load / capacity, rho_max)``, that times the load, and the capacity less
    it, as the NumPy expressions do.
    """
    B, N = load.shape
    for b in range(B):
        for n in range(N):
            admit = rho_max / _np_max(load[b, n] / capacity[n], rho_max)
            node_admit[b, n] = admit
            admitted_load[b, n] = admit * load[b, n]
            headroom[b, n] = capacity[n] - admitted_load[b, n]


@kernel
def _gather_hops(per_link: FloatArray, path_links: IntArray, out: FloatArray) -> None:
    """Sum ``per_link`` ``[B, F, L]`` along each path, ``out [B, F, O * K]``, hop after hop.

    ``path_links`` ``[O * K, H]`` pads with ``L``; each sum starts at 0 and adds its path's
    links from the first, as adding the hops' terms one hop at a time does.
    """
    B, F, L = per_link.shape
    paths, H = path_links.shape
    for b in range(B):
        for f in range(F):
            for p in range(paths):
                total = 0.0
                for h in range(H):
                    j = path_links[p, h]
                    if j < L:
                        total += per_link[b, f, j]
                out[b, f, p] = total


@kernel
def _gather_paths(
    per_link: FloatArray,
    path_links: IntArray,
    radio_s: FloatArray,
    remote: FloatArray,
    per_mbit: FloatArray,
    log_admit: FloatArray,
) -> None:
    """:func:`_gather_hops` and :func:`_add_radio` in one pass over the paths.

    ``per_link`` ``[B, 4, L]`` (s per Mbit sent and received, log admitted both ways);
    ``per_mbit`` ``[B, O, K, 2]`` gets each path's time per Mbit plus its radio's,
    ``log_admit`` ``[B, O, K]`` the sum of its two log admissions. Each path's sums start at
    0 and add its links from the first, as :func:`_gather_hops` does: the same figures.
    """
    B, _, L = per_link.shape
    _, O, K, _ = per_mbit.shape
    H = path_links.shape[1]
    for b in range(B):
        for o in range(O):
            for k in range(K):
                p = o * K + k
                sent = 0.0
                received = 0.0
                up = 0.0
                down = 0.0
                for h in range(H):
                    j = path_links[p, h]
                    if j < L:
                        sent += per_link[b, 0, j]
                        received += per_link[b, 1, j]
                        up += per_link[b, 2, j]
                        down += per_link[b, 3, j]
                per_mbit[b, o, k, 0] = sent + radio_s[b, o, 0] * remote[o, k]
                per_mbit[b, o, k, 1] = received + radio_s[b, o, 1] * remote[o, k]
                log_admit[b, o, k] = up + down


def _p_sized(
    system: System,
    vary: IntArray,
    s: IntArray,
    b: IntArray,
    node: IntArray,
    sn: IntArray,
    slack: FloatArray,
    flow_per_mbit: FloatArray,
    rate_sn: FloatArray,
    wait_n: FloatArray | None,
    node_load: FloatArray,
    cold_sn: FloatArray | None,
    start_sn: FloatArray | None,
) -> FloatArray:
    """P(within the deadline) of the flows ``vary``, their data sizes varying (twin.sizes).

    The flows' probability as a function of the time left after the transfers (exponential or
    M/G/1 sojourn, cold starts), integrated over their gamma transfer time
    (:func:`cnc6g.twin.sizes.expected`). ``flow_per_mbit`` ``[V, 2]``: the flows' s per Mbit
    sent and received. NumPy alone, the same in the compiled and the reference slot.
    """
    sv, at = s[vary], sn[vary]
    first, second = transfer_moments(
        flow_per_mbit[:, 0] * system.input_mbit[sv],
        flow_per_mbit[:, 1] * system.output_mbit[sv],
        system.input_cv[sv],
        system.output_cv[sv],
    )
    rate = rate_sn.reshape(-1)[at][:, None]
    floor: FloatArray | float = 0.0
    if wait_n is None:

        def p_warm(left: FloatArray) -> FloatArray:
            p: FloatArray = -np.expm1(-rate * np.maximum(left, 0.0))
            return p

    else:
        nv = node[vary]
        bn = b[vary] * system.n_nodes + nv
        rho = (node_load / system.capacity).reshape(-1)[bn][:, None]
        x = (system.work[sv] * system.devices[nv] / system.capacity[nv])[:, None]
        cv = system.work_cv[sv][:, None]
        wait = wait_n.reshape(-1)[bn][:, None]
        floor = np.where(cv[:, 0] < 1e-6, x[:, 0], 0.0)  # deterministic work: at least x

        def p_warm(left: FloatArray) -> FloatArray:
            return p_within(left, x, cv, rho, wait)

    left = slack[vary].astype(float)
    p = expected(p_warm, left, first, second, floor)
    if cold_sn is not None and start_sn is not None:
        cold = cold_sn.reshape(-1)[at]
        hit = np.flatnonzero(cold > 0)
        if hit.size:  # the tasks meeting the start: its wait and an exponential sojourn
            t_start = start_sn.reshape(-1)[at][hit][:, None]
            tau = system.slot_s
            lo, _ = cold_wait_bounds(t_start[:, 0], tau)

            def p_cold(time_left: FloatArray) -> FloatArray:
                return _p_after_cold_start(rate[hit], time_left, t_start, tau)

            p_started = expected(
                p_cold,
                left[hit],
                (first[0][hit], first[1][hit]),
                (second[0][hit], second[1][hit]),
                lo,  # each part is 0 below its own shortest time
            )
            p[hit] = (1.0 - cold[hit]) * p[hit] + cold[hit] * p_started
    return p


def cold_wait_bounds(t_cold: FloatArray, tau: float) -> tuple[FloatArray, FloatArray]:
    """Range ``[lo, hi]`` of the uniform extra wait of a task that meets a cold start.

    A task arriving at ``u`` (uniform on the slot) before the instance is up at ``t_cold`` waits
    ``t_cold - u``.
    """
    return np.maximum(t_cold - tau, 0.0), t_cold


def _p_after_cold_start(
    rate: FloatArray, slack: FloatArray, t_cold: FloatArray, tau: float
) -> FloatArray:
    """P(extra + sojourn <= slack) with extra ~ U(lo, hi) and sojourn ~ Exp(rate).

    ``(1 / (hi - lo)) * integral_lo^m (1 - exp(-rate (slack - e))) de`` with
    ``m = min(hi, slack)``.
    """
    lo, hi = cold_wait_bounds(t_cold, tau)
    m = np.minimum(hi, slack)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        integral = (m - lo) - (np.exp(-rate * (slack - m)) - np.exp(-rate * (slack - lo))) / rate
        p = np.where((m > lo) & (rate > 0) & (hi > lo), integral / (hi - lo), 0.0)
    return np.clip(p, 0.0, 1.0)
