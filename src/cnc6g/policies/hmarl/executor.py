"""The domain orchestrators' executor: structured knobs in, a feasible decision out (pure).

HMARL's agents do not emit raw per-instance and per-route numbers (thousands of them); each
sets a few knobs of the scheduler its orchestrator runs, and this module turns the knobs of
all agents into the slot's decision, for ``B`` copies at once:

- the **distributor** (E2E orchestrator) gives each domain a capacity level from
  :data:`LEVELS`: the share of the domain's compute it offers this slot (0: the domain takes no
  task; its instances idle out like any other, and once they are gone its nodes that can sleep
  do);
- a domain's **deployment** agent picks a threshold from :data:`THRESHOLDS`: an instance is
  started on a node when at least that many tasks per slot are planned for it;
- a domain's **distribution** agent gives each of its nodes a price in J per task (added to
  what sending a task there costs in the assignment) and a trim of its capacity level.

The assignment fills the offered capacity in rounds: in each round every (origin, service)
offers an equal part of its remaining demand to the candidate with the least expected cost,
energy per task (load-proportional, radio, wired) plus the price plus ``penalty`` times the
probability of missing the deadline at the node's current load and its cell's radio load and,
for an instance that was not running, of meeting its cold start; a cell's radio accepts the
parts sent over it up to :data:`RADIO_LIMIT` of its uplink and downlink, then a node up to its
capped capacity, each pro rata, and what was turned away is offered again, whole, in up to
:data:`EXTRA` more rounds. Each assignment runs twice, the second time pricing every node's
queueing and every cell's transfers at no less than (a share of) the load the first one left
(:data:`LOOK_AHEAD`). A part
whose chosen option is expected to cost more than the penalty (prices aside) is rejected. The
decision is made in three passes: assign over every instance the levels allow, deploy by the
threshold (running instances first, then the most used, as memory permits), assign again over
the instances deployed. Then the executor consolidates: it tries switching off shares of the
offered nodes that can sleep, least planned first, and keeps the candidate the twin's slot
arithmetic scores best (see :func:`execute`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cnc6g.twin.costs import REMOVAL_WEIGHT, amortised_objective
from cnc6g.twin.jit import exp_into, kernel, numpy_exp_loop
from cnc6g.twin.system import (
    BoolArray,
    FloatArray,
    IntArray,
    System,
    per_system,
    wired_s_per_mbit,
)

LEVELS = (0.0, 0.5, 0.7, 0.85, 0.95)
"""Capacity levels the distributor offers per domain (share of capacity; 0 takes no task and
lets the domain's instances idle out, see :func:`execute`)."""

THRESHOLDS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Planned tasks per slot at which a deployment agent starts an instance."""

DEFAULT_THRESHOLD = 2
"""Index of the threshold of the neutral knobs (2 tasks per slot)."""

TRIM_RANGE = (0.7, 1.0)
"""Range of the distribution agent's trim of its nodes' capacity level."""

ROUNDS = 12
"""Assignment rounds per pass."""

EXTRA = 4
"""Rounds after those that offer whatever is left at once (measurements in docs/hmarl.md)."""

KEEP_SHARE = 0.1
"""Share of the start threshold below which a running instance counts as idle in a slot."""

PATIENCE = 5
"""Slots in a row an instance may idle before it is removed."""

AMORTISE_SLOTS = 10.0
"""Slots over which the plan spreads the failures an instance's cold start causes."""

NETWORK_UTILISATION = 0.5
"""Wired utilisation at which transfer times are estimated in the assignment, and the least
radio load a cell's transfers are priced at."""

CONSOLIDATE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
"""Shares of its offered sleepable nodes a copy tries switching off, least planned load first."""

LOOK_AHEAD = 0.9
"""Share of the load a first assignment left on each node that the second one assumes from its
first round on; it assumes the whole load the first left on each cell's radio (see
:func:`_assign`)."""

RADIO_LIMIT = 0.9
"""Share of each cell's uplink and downlink the assignment fills, short of the twin's 95 %
admission limit (measurements in docs/hmarl.md)."""


@dataclass(frozen=True, eq=False)
class Knobs:
    """All agents' settings for ``B`` copies.

    Attributes:
        level: ``[B, D]`` index into :data:`LEVELS` per domain (distributor).
        threshold: ``[B, D]`` index into :data:`THRESHOLDS` per domain (deployment agents).
        price: ``[B, N]`` price of each node in [-1, 1], scaled by ``price_scale`` (distribution).
        trim: ``[B, N]`` trim of each node's level in [-1, 1], mapped onto :data:`TRIM_RANGE`.
    """

    level: IntArray
    threshold: IntArray
    price: FloatArray
    trim: FloatArray

    @classmethod
    def neutral(cls, system: System, batch: int = 1) -> Knobs:
        """Every domain at the top level, threshold 2 tasks, no price, mid trim."""
        D = int(system.node_domain.max()) + 1
        N = system.n_nodes
        return cls(
            level=np.full((batch, D), len(LEVELS) - 1),
            threshold=np.full((batch, D), DEFAULT_THRESHOLD),
            price=np.zeros((batch, N)),
            trim=np.zeros((batch, N)),
        )

    def neutralised(self, system: System, group: str, domains: BoolArray) -> Knobs:
        """These knobs with one group set to neutral for the domains ``domains`` ``[B, D]``.

        Groups: ``level``, ``threshold`` or ``route`` (prices and trims).
        """
        level, threshold = self.level.copy(), self.threshold.copy()
        price, trim = self.price.copy(), self.trim.copy()
        if group == "level":
            level[domains] = len(LEVELS) - 1
        elif group == "threshold":
            threshold[domains] = DEFAULT_THRESHOLD
        elif group == "route":
            own = domains[:, system.node_domain]  # [B, N]
            price[own] = 0.0
            trim[own] = 0.0
        else:
            raise ValueError(f"unknown knob group {group!r}")
        return Knobs(level=level, threshold=threshold, price=price, trim=trim)


class Execution(NamedTuple):
    """What :func:`execute` decided for ``B`` copies."""

    deployment: BoolArray  # [B, S, N]
    routing: FloatArray  # [B, O, S, K]
    idle: IntArray  # [B, S, N] idle counts to pass to the next slot
    switched_off: BoolArray  # [B, N] nodes the consolidation switched off


@dataclass(frozen=True, eq=False)
class _Consts:
    """Per-system arrays of the assignment, ``[O, S, K]`` layout."""

    energy: FloatArray  # load-proportional and wired energy per task
    tx_j: FloatArray  # [O, S, K] transmit-side J per task per (1 / uplink Mbit/s)
    bs_j: FloatArray  # [O, S, K] base-station J per task
    reach: FloatArray  # deadline minus round-trip delay and wired transfers
    remote: FloatArray  # [O, 1, K]
    work: FloatArray  # [1, S, 1]
    flow_node: IntArray  # [O * S * K] node of every flow, flattened
    flow_service: IntArray  # [O * S * K]


@per_system
def _consts(system: System) -> _Consts:
    sy = system
    O, S, K = sy.n_origins, sy.n_services, sy.n_candidates
    cand = sy.candidates
    remote = (~sy.candidate_local & sy.candidate_valid).astype(float)[:, None, :]
    dyn = ((sy.peak_power - sy.idle_power) / sy.capacity)[cand][:, None, :]  # J per gigacycle
    io = (sy.input_mbit + sy.output_mbit)[None, :, None]
    energy = dyn * sy.work[None, :, None] + io * sy.candidate_j_per_mbit[:, None, :]
    wired = wired_s_per_mbit(sy)[:, None, :]
    slow = 1.0 / (1.0 - NETWORK_UTILISATION)
    net_fixed = 2.0 * sy.candidate_delay_s[:, None, :] + io * wired * slow
    return _Consts(
        energy=np.broadcast_to(energy, (O, S, K)).copy(),
        tx_j=remote * sy.tx_power[:, None, None] * sy.input_mbit[None, :, None],
        bs_j=remote * sy.bs_j_per_mbit[:, None, None] * sy.output_mbit[None, :, None],
        reach=np.broadcast_to(sy.deadline_s[None, :, None] - net_fixed, (O, S, K)).copy(),
        remote=remote,
        work=sy.work[None, :, None],
        flow_node=np.broadcast_to(cand[:, None, :], (O, S, K)).ravel().copy(),
        flow_service=np.broadcast_to(np.arange(S)[None, :, None], (O, S, K)).ravel().copy(),
    )


def node_caps(system: System, knobs: Knobs) -> FloatArray:
    """Utilisation cap of each node, ``[B, N]``: the domain's level times the node's trim."""
    level = np.asarray(LEVELS)[knobs.level][:, system.node_domain]
    lo, hi = TRIM_RANGE
    trim = lo + (hi - lo) * (np.clip(knobs.trim, -1.0, 1.0) + 1.0) / 2.0
    return level * trim * system.admission_utilisation


def execute(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    previous: BoolArray,
    knobs: Knobs,
    idle: IntArray | None = None,
    price_scale: float | None = None,
    consolidate: bool = True,
    switched_off: BoolArray | None = None,
) -> Execution:
    """Deployment ``[B, S, N]``, routing ``[B, O, S, K]`` and idle counts the knobs give.

    The decision is feasible. ``idle`` counts, per running instance, the slots in a row it was
    planned fewer tasks than its keep threshold; an instance is only removed after
    :data:`PATIENCE` such slots, so that a dip of demand does not cost a cold start when it
    comes back. That holds in a domain the distributor stops offering too (level 0): its
    instances take no task but stay until they have idled out, as a scale-down stabilisation
    window does, and a level 0 for one slot costs no restart (the agents shipped before this
    rule switched the RAN kind off for single slots from an empty start and restarted its 79
    instances the slot after: on seed 0 at L = 1.0, slots 10-60, 4.42 kJ/slot with the
    immediate removal, 4.08 with it held). Only the consolidation's choices (and
    ``switched_off``) remove a node's instances at once: its score charges the removal.

    **Consolidation.** A sleeping node saves its whole idle power, a step that the
    assignment's per-task costs never see. With ``consolidate`` the executor also tries
    switching off shares (:data:`CONSOLIDATE`) of the offered nodes that can sleep, those the
    first pass planned the least load (relative to capacity) first, decides each candidate
    in full, and keeps the one the twin's slot arithmetic scores best
    (:func:`~cnc6g.twin.dynamics.amortised_objective`): this slot's outcome counts
    ``1 / AMORTISE_SLOTS``, the slots after it, with every instance warm and routed to by
    the assignment without cold starts, the rest, and removing an instance is charged
    :data:`REMOVAL_WEIGHT` times its restart cost. Scoring this slot alone would keep a
    sleeping node asleep for good: its new instances take no task in the slot they start.
    ``switched_off`` ``[B, N]`` imposes a set instead (no search), as the difference rewards
    do to credit the other knobs with the consolidation held.

    Args:
        system: the compiled scenario.
        demand: ``[B, O, S]`` requests this slot.
        uplink_mbps: ``[B, O]``.
        downlink_mbps: ``[B, O]``.
        previous: ``[B, S, N]`` instances running before this slot.
        knobs: the agents' settings.
        idle: ``[B, S, N]`` idle counts returned for the previous slot (default: zeros).
        price_scale: J per task of a price of 1 (default: half the unsatisfied-task penalty).
        consolidate: try switching sleepable nodes off (see above).
        switched_off: ``[B, N]`` nodes to switch off instead of searching.

    Returns:
        The decision, the idle counts and the nodes the consolidation switched off.
    """
    sy = system
    c = _consts(sy)
    beta = sy.unsatisfied_penalty_j
    scale = beta / 2.0 if price_scale is None else price_scale
    demand = np.asarray(demand, dtype=float)
    previous = np.asarray(previous, dtype=bool)
    cap = node_caps(sy, knobs)  # [B, N]
    up = uplink_mbps[:, :, None, None]
    slot = _Slot(
        demand=demand,
        uplink=np.asarray(uplink_mbps, dtype=float),
        downlink=np.asarray(downlink_mbps, dtype=float),
        previous=previous,
        energy=c.energy[None] + c.tx_j[None] / up + c.bs_j[None],
        price=(np.clip(knobs.price, -1.0, 1.0) * scale)[:, sy.candidates][:, :, None, :],
        theta=np.asarray(THRESHOLDS)[knobs.threshold][:, sy.node_domain][:, None, :],
        idle=np.zeros(previous.shape, dtype=np.int64) if idle is None else np.asarray(idle),
        held=cap <= 0,
    )
    off = np.zeros(cap.shape, bool) if switched_off is None else np.asarray(switched_off, bool)
    cap = np.where(off, 0.0, cap)
    deployment, routing, idle_out, planned = _decide(sy, c, slot, cap)
    base = Execution(deployment, routing, idle_out, off)
    if switched_off is not None or not consolidate or not (cap[:, sy.can_sleep] > 0).any():
        return _pin_to_terminals(sy, base)
    return _pin_to_terminals(sy, _consolidate(sy, c, slot, cap, base, planned))


def _pin_to_terminals(sy: System, ex: Execution) -> Execution:
    """``ex`` with an instance on the terminal's node wherever a pinned step needs one.

    A service placed step by step whose steps include one pinned to the terminal runs that
    step on the origin's terminal node whatever the routing picks for the rest, so each routed
    (copy, origin, service) needs an instance there (as GRD's ``_deploy_pinned`` adds): one
    is started where the node can host it and has the memory, else the demand is not routed
    (rejected), so that the decision stays feasible.
    """
    spec = sy.chains
    if spec is None or not spec.step_pinned.any():
        return ex
    pinned = np.asarray(spec.step_pinned.any(axis=1), dtype=bool)  # [S]
    routing = ex.routing
    b_idx, o_idx, s_idx = np.nonzero((routing.sum(axis=-1) > 0.0) & pinned[None, None, :])
    if b_idx.size == 0:
        return ex
    local = sy.candidate_local & sy.candidate_valid
    terminal = np.where(
        local.any(axis=1), sy.candidates[np.arange(sy.n_origins), local.argmax(1)], -1
    )
    x = ex.deployment
    need = terminal[o_idx]
    missing = (need < 0) | ~x[b_idx, s_idx, np.maximum(need, 0)]
    if not missing.any():
        return ex
    x = x.copy()
    routing = routing.copy()
    free = sy.memory[None, :] - np.einsum("bsn,s->bn", x, sy.service_memory)
    for b, o, s in zip(
        b_idx[missing].tolist(), o_idx[missing].tolist(), s_idx[missing].tolist(), strict=True
    ):
        n = int(terminal[o])
        if n >= 0 and x[b, s, n]:
            continue  # started for another origin of the same terminal node
        fits = n >= 0 and sy.can_host[s, n] and not ex.switched_off[b, n]
        if fits and free[b, n] >= sy.service_memory[s] - 1e-9:
            x[b, s, n] = True
            free[b, n] -= sy.service_memory[s]
        else:
            routing[b, o, s] = 0.0
    return ex._replace(deployment=x, routing=routing)


def _consolidate(
    sy: System, c: _Consts, slot: _Slot, cap: FloatArray, base: Execution, planned: FloatArray
) -> Execution:
    """The best of ``base`` and the decisions with shares of the offered sleepers switched off.

    ``planned`` is the first pass's plan of ``base`` (see :func:`execute`).
    """
    B = cap.shape[0]
    sleepers = np.flatnonzero(sy.can_sleep)
    offered = cap[:, sleepers] > 0  # [B, Z]
    # Candidates: the m least planned offered sleepers off, m a share of them (each distinct
    # m > 0 once per copy).
    work = np.einsum("bsn,s->bn", planned[:, :, sleepers], sy.work) / sy.capacity[sleepers]
    order = np.argsort(np.where(offered, work, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(sleepers.size), order.shape), axis=1)
    counts = np.rint(np.asarray(CONSOLIDATE)[None, :] * offered.sum(axis=1)[:, None])  # [B, M]
    distinct = (counts > 0) & (np.diff(counts, axis=1, prepend=0.0) > 0)
    cb, cj = np.nonzero(distinct)  # copy and share of each candidate
    off = np.zeros((cb.size, sy.n_nodes), dtype=bool)
    off[:, sleepers] = rank[cb] < counts[cb, cj][:, None]
    caps = np.concatenate([cap, np.where(off, 0.0, cap[cb])])
    x2, y2, idle2, _ = _decide(sy, c, slot.take(cb), caps[B:])
    every = np.concatenate([np.arange(B), cb])  # copy of each of the B + V decisions
    x_all = np.concatenate([base.deployment, x2])
    y_all = np.concatenate([base.routing, y2])
    # Score: this slot's outcome for 1 / AMORTISE_SLOTS, the slots after it (every instance
    # warm, routed to by the assignment without cold starts) for the rest.
    later = slot.take(every)
    warm = _assign(
        sy, c, later, x_all, x_all, caps * sy.capacity * sy.slot_s, np.zeros((1, 1, 1, 1))
    )
    score = amortised_objective(
        sy,
        later.demand,
        later.uplink,
        later.downlink,
        x_all,
        later.previous,
        y_all,
        AMORTISE_SLOTS,
        REMOVAL_WEIGHT,
        warm,
    )
    # Per copy the best score; of equals the first (``base``, then the fewest off).
    order = np.lexsort((np.arange(every.size), score, every))
    pick = order[np.searchsorted(every[order], np.arange(B))]
    off_all = np.concatenate([base.switched_off, off])
    idle_all = np.concatenate([base.idle, idle2])
    return Execution(x_all[pick], y_all[pick], idle_all[pick], off_all[pick])


@dataclass(frozen=True, eq=False)
class _Slot:
    """The slot's per-copy inputs of the assignment, ``B`` copies."""

    demand: FloatArray  # [B, O, S]
    uplink: FloatArray  # [B, O] Mbit/s
    downlink: FloatArray  # [B, O] Mbit/s
    previous: BoolArray  # [B, S, N]
    energy: FloatArray  # [B, O, S, K] energy per task
    price: FloatArray  # [B, O, 1, K] the distribution agents' prices
    theta: FloatArray  # [B, 1, N] start thresholds
    idle: IntArray  # [B, S, N] idle counts
    held: BoolArray  # [B, N] nodes whose domain is not offered: their instances idle out

    def take(self, copies: IntArray) -> _Slot:
        """The inputs of the given copies, in that order."""
        return _Slot(**{k: v[copies] for k, v in self.__dict__.items()})


def _decide(
    sy: System, c: _Consts, slot: _Slot, cap: FloatArray
) -> tuple[BoolArray, FloatArray, IntArray, FloatArray]:
    """Deployment, routing and idle counts under node caps ``[B, N]``, and the first plan.

    Three passes: assign over every instance the caps allow, deploy by the threshold (running
    instances first, then the most used, as memory permits), assign again over the instances
    deployed. Returns the tasks the first pass planned per instance ``[B, S, N]`` too.
    """
    budget = cap * sy.capacity * sy.slot_s  # gigacycles per slot
    cold = np.minimum(sy.cold_start_s / sy.slot_s, 1.0)[None, None, :, None]
    hostable = sy.can_host[None] & (cap[:, None, :] > 0)  # [B, S, N]
    demand, previous = slot.demand, slot.previous
    # Plan over every instance the levels allow, a start-up's failures spread over
    # AMORTISE_SLOTS slots (an instance started now serves the slots after it too).
    routing = _assign(sy, c, slot, hostable, previous, budget, cold / AMORTISE_SLOTS, ahead=True)
    planned = _planned(sy, c, demand, routing)  # [B, S, N] tasks
    keep = previous & (slot.idle < PATIENCE)
    want = (hostable & ((planned >= slot.theta) | keep)) | (keep & slot.held[:, None, :])
    deployment = _fit_memory(sy, want, planned, previous)
    routing = _assign(sy, c, slot, deployment, previous, budget, cold, ahead=True)
    used = _planned(sy, c, demand, routing) >= KEEP_SHARE * slot.theta
    idle = np.where(deployment & previous & ~used, slot.idle + 1, 0)
    return deployment, routing, idle, planned


def _planned(sy: System, c: _Consts, demand: FloatArray, routing: FloatArray) -> FloatArray:
    """Tasks per slot each instance ``(s, n)`` gets under ``routing``, ``[B, S, N]``.

    Compiled: the sums of :func:`_planned_numpy`, its reference, term by term in the same
    order (the same values to the last bit).
    """
    B = demand.shape[0]
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    tasks = np.zeros((B, S, N))
    _planned_into(
        np.ascontiguousarray(demand, dtype=float).reshape(-1),
        np.ascontiguousarray(routing, dtype=float).reshape(-1),
        c.flow_service,
        c.flow_node,
        K,
        tasks,
    )
    return tasks


@kernel
def _planned_into(
    demand: FloatArray,
    routing: FloatArray,
    flow_service: IntArray,
    flow_node: IntArray,
    K: int,
    tasks: FloatArray,
) -> None:
    """:func:`_planned` into ``tasks`` ``[B, S, N]`` (zeros): the routed flows in flat order."""
    F = flow_node.size
    for i in range(routing.size):
        if routing[i] != 0.0:  # as NumPy's flatnonzero (NaN counts)
            b, f = i // F, i % F
            tasks[b, flow_service[f], flow_node[f]] += demand[i // K] * routing[i]


def _planned_numpy(sy: System, c: _Consts, demand: FloatArray, routing: FloatArray) -> FloatArray:
    """:func:`_planned` with NumPy, its reference."""
    B = demand.shape[0]
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    # The routed flows only, in flat order: the sums skip the flows that add 0 (a routing
    # share or a demand of 0), which leaves each sum as it is.
    at = np.flatnonzero(routing)
    flows = demand.reshape(-1)[at // K] * routing.reshape(-1)[at]
    b, flow = np.divmod(at, c.flow_node.size)
    index = (b * S + c.flow_service[flow]) * N + c.flow_node[flow]
    # With weights, bincount returns float64 (the stubs type it as integers): asarray is a no-op.
    tasks = np.bincount(index, weights=flows, minlength=B * S * N)
    return np.asarray(tasks, dtype=np.float64).reshape(B, S, N)


def _fit_memory(sy: System, want: BoolArray, planned: FloatArray, previous: BoolArray) -> BoolArray:
    """The wanted instances that fit in memory: per node, running ones first, then by use.

    Compiled: :func:`_fit_memory_numpy`, its reference, node by node (the same order, the
    same sums).
    """
    rank = np.where(want, planned + previous * (planned.max(initial=0.0) + 1.0), -1.0)
    fits = np.empty(want.shape, dtype=np.bool_)
    _fit_memory_into(-rank, want, sy.service_memory, sy.memory, fits)
    return fits


@kernel
def _fit_memory_into(
    key: FloatArray, want: BoolArray, need: FloatArray, memory: FloatArray, fits: BoolArray
) -> None:
    """Whether each wanted instance fits in its node's memory, into ``fits`` ``[B, S, N]``.

    Per (copy, node) the services are taken by ``key`` ascending, ties in service order (as
    NumPy's stable sort; the keys are finite), each wanted one adding its ``need``.
    """
    B, S, N = key.shape
    order = np.empty(S, dtype=np.int64)
    for b in range(B):
        for n in range(N):
            for s in range(S):  # insertion sort: stable
                i = s
                while i > 0 and key[b, s, n] < key[b, order[i - 1], n]:
                    order[i] = order[i - 1]
                    i -= 1
                order[i] = s
            used = 0.0
            for i in range(S):
                s = order[i]
                used += need[s] if want[b, s, n] else 0.0
                fits[b, s, n] = want[b, s, n] and used <= memory[n] + 1e-9


def _fit_memory_numpy(
    sy: System, want: BoolArray, planned: FloatArray, previous: BoolArray
) -> BoolArray:
    """:func:`_fit_memory` with NumPy, its reference."""
    rank = np.where(want, planned + previous * (planned.max(initial=0.0) + 1.0), -1.0)
    order = np.argsort(-rank, axis=1, kind="stable")  # [B, S, N]
    mem = np.where(want, sy.service_memory[None, :, None], 0.0)
    used = np.cumsum(np.take_along_axis(mem, order, axis=1), axis=1)
    fits_sorted = used <= sy.memory[None, None, :] + 1e-9
    fits = np.empty_like(fits_sorted)
    np.put_along_axis(fits, order, fits_sorted, axis=1)
    return want & fits


def _assign(
    sy: System,
    c: _Consts,
    slot: _Slot,
    instances: BoolArray,
    previous: BoolArray,
    budget: FloatArray,
    cold: FloatArray,
    ahead: bool = False,
) -> FloatArray:
    """Routing ``[B, O, S, K]`` that fills the budgets in rounds (see the module text).

    With ``ahead`` the assignment runs twice, the second time looking ahead at the load the
    first one left. The rounds price a node's queueing at the load it has so far, so in the
    early rounds every part sees the node that will fill up as empty and takes a share of it,
    whether or not it has another usable candidate; when it is full, what is left of the parts
    that have none is rejected. The second assignment prices each node's queueing at no less
    than :data:`LOOK_AHEAD` times the load the first one left on it, from the first round on:
    the parts with a cheap alternative take it early, and the room they leave goes to those
    without (neutral knobs with every node allowed up to the admission limit, L = 1.0: 30 %
    fewer tasks rejected; the agents shipped before it, at L = 0.8 / 1.0 / 1.2: 2.69 / 4.37 /
    5.52 -> 2.67 / 4.12 / 5.54 kJ/slot). The same holds for a cell's radio, which slows every
    transfer over it: the second assignment prices each cell at the whole load the first left
    on it, so that the parts whose deadlines do not allow that load find another route or are
    rejected instead of coming late (0.9 of it, agents trained without a radio limit: 18.1
    against 16.1 unsatisfied tasks per slot at L = 1.0, seed 0, slots 100-150).
    """
    usable = _usable(sy, c, slot, instances, previous, cold)  # both assignments run over them
    if not ahead:
        return _fill(sy, usable, budget)[0]
    load = _fill(sy, usable, budget, route=False)[1]  # its routing is not needed
    floor = _Load(LOOK_AHEAD * load.node, load.radio)
    return _fill(sy, usable, budget, floor=floor)[0]


class _Routes(NamedTuple):
    """An assignment's routes, one ``[K]`` row per (copy, origin, service) with demand.

    A row without demand offers nothing, so the rounds never price its routes.
    """

    live: IntArray  # [A] flat (copy, origin, service) index of each row
    pair: IntArray  # [A] flat (copy, origin) index
    copy: IntArray  # [A]
    origin: IntArray  # [A]
    work: FloatArray  # [A] gigacycles per task
    demand: FloatArray  # [A] tasks
    fixed: FloatArray  # [A, K] energy and cold-start charge, inf where unusable
    reach: FloatArray  # [A, K] deadline minus round-trip delay and wired transfers
    remote: FloatArray  # [A, K] 1 on the routes over the radio, else 0
    share: FloatArray  # [2, A] share of the cell's uplink and downlink per task sent over it
    price: FloatArray  # [A, K]
    shape: tuple[int, int, int, int]  # B, O, S, K

    @classmethod
    def build(
        cls,
        sy: System,
        c: _Consts,
        slot: _Slot,
        instances: BoolArray,
        previous: BoolArray,
        cold: FloatArray,
    ) -> _Routes:
        demand = slot.demand
        B = demand.shape[0]
        O, S, K = sy.n_origins, sy.n_services, sy.n_candidates
        cand = sy.candidates
        live = np.flatnonzero(demand.ravel() > 0)
        pair = live // S
        service = live % S
        origin = pair % O
        charge = sy.unsatisfied_penalty_j * np.broadcast_to(cold, (B, O, S, 1)).reshape(-1)
        fixed = _fixed_costs(
            live,
            (instances, previous, sy.admissible, cand),
            slot.energy.reshape(-1, K),
            charge,
        )
        remote = c.remote[:, 0, :][origin]  # [A, K]
        up = slot.uplink.ravel()[pair]  # Mbit/s
        down = slot.downlink.ravel()[pair]
        return cls(
            live=live,
            pair=pair,
            copy=live // (O * S),
            origin=origin,
            work=sy.work[service],
            demand=demand.ravel()[live],
            fixed=fixed,
            reach=c.reach.reshape(-1, K)[live % (O * S)],
            remote=remote,
            share=np.stack(
                [
                    sy.input_mbit[service] / (up * sy.slot_s),
                    sy.output_mbit[service] / (down * sy.slot_s),
                ]
            ),
            price=np.broadcast_to(slot.price, (B, O, 1, K)).reshape(B * O, K)[pair],
            shape=(B, O, S, K),
        )


def _fixed_costs_numpy(
    live: IntArray,
    hosting: tuple[BoolArray, BoolArray, BoolArray, IntArray],
    energy: FloatArray,
    charge: FloatArray,
) -> FloatArray:
    """:func:`_fixed_costs` with NumPy, its reference."""
    instances, previous, admissible, cand = hosting
    _, S, N = instances.shape
    O = cand.shape[0]
    service, origin = live % S, live // S % O
    # Per row with demand: its candidates' instances, flat into [B, S, N].
    at = ((live // (O * S)) * S + service)[:, None] * N + cand[origin]  # [A, K]
    running = np.take(instances, at)
    usable = running & admissible[origin, service]
    new = running & ~np.take(previous, at)
    fixed: FloatArray = np.where(usable, energy[live] + charge[live, None] * new, np.inf)
    return fixed


def _fixed_costs(
    live: IntArray,
    hosting: tuple[BoolArray, BoolArray, BoolArray, IntArray],
    energy: FloatArray,
    charge: FloatArray,
) -> FloatArray:
    """Each ``live`` row's fixed cost per candidate, ``[A, K]``: inf where unusable.

    ``live``: flat (copy, origin, service) rows; ``hosting``: the instances ``[B, S, N]``, those
    running before, the admissible candidates ``[O, S, K]`` and the candidates' nodes
    ``[O, K]``; ``energy`` ``[B * O * S, K]`` per task and ``charge`` ``[B * O * S]`` the
    cold-start charge of a new instance.
    """
    fixed = np.empty((live.size, hosting[3].shape[1]))
    _fixed_costs_into(live, hosting, energy, charge, fixed)
    return fixed


@kernel
def _fixed_costs_into(
    live: IntArray,
    hosting: tuple[BoolArray, BoolArray, BoolArray, IntArray],
    energy: FloatArray,
    charge: FloatArray,
    fixed: FloatArray,
) -> None:
    """:func:`_fixed_costs` (same arguments) into ``fixed`` ``[A, K]``."""
    instances, previous, admissible, cand = hosting
    S = instances.shape[1]
    O, K = cand.shape
    for i in range(live.size):
        flat = live[i]
        b, o, s = flat // (O * S), flat // S % O, flat % S
        for k in range(K):
            n = cand[o, k]
            if instances[b, s, n] and admissible[o, s, k]:
                new = 0.0 if previous[b, s, n] else 1.0
                fixed[i, k] = energy[flat, k] + charge[flat] * new
            else:
                fixed[i, k] = np.inf


class _Load(NamedTuple):
    """What an assignment left on the nodes and on the cells' radio."""

    node: FloatArray  # [B, N] gigacycles per slot
    radio: FloatArray  # [2, B * O] share of each cell's uplink and downlink taken


class _Usable(NamedTuple):
    """An assignment's usable routes as the rounds take them (see :func:`_fill`).

    Built in one pass by :func:`_usable`; :meth:`of` builds them from :class:`_Routes` with
    NumPy, their reference.
    """

    live: IntArray  # [A] flat (copy, origin, service) of each row with a usable route
    stuck: float  # the most demand a row with demand and without one has
    rows_of: _Rows
    entries: _Entries
    k: IntArray  # [E] each entry's candidate
    shape: tuple[int, int, int, int]  # B, O, S, K
    packed: _Packed  # rows_of and entries (views of it) in five arrays, as the rounds take them

    @classmethod
    def of(cls, sy: System, routes: _Routes) -> _Usable:
        """The usable routes of ``routes`` as entries, in row order, then candidate order.

        About one route in eight is usable in the case study. A row without one never takes
        anything, but what it has left counts towards the rounds' stop, as it did with every
        route priced.
        """
        rows, stuck, seg, (e_row, e_k, e_node, e_pair), values = _entries(
            routes.fixed,
            (routes.reach, routes.remote, routes.price),
            (routes.copy, routes.origin, routes.pair, routes.demand),
            sy.candidates,
            sy.n_nodes,
        )
        e_fixed, e_reach, e_remote, e_price = values
        work = routes.work[rows]
        packed = (
            np.stack([routes.pair[rows], seg]),
            np.concatenate([np.stack([work, routes.demand[rows]]), routes.share[:, rows]]),
            np.stack([e_row, e_node, e_pair]),
            e_remote > 0,
            np.stack([work[e_row], e_fixed, e_reach, e_remote, e_price]),
        )
        rows_of, entries = _views(packed, stuck)
        return cls(routes.live[rows], stuck, rows_of, entries, e_k, routes.shape, packed)


_Packed = tuple[IntArray, FloatArray, IntArray, BoolArray, FloatArray]
"""The usable routes as the rounds take them (one argument each: a compiled call's cost grows
with its arguments): per row ``[2, A]`` pair and first entry, ``[4, A]`` work, demand and
share of the cell's uplink and downlink; per entry ``[3, E]`` row, node and cell, ``[E]``
whether it goes over the radio, and ``[5, E]`` work, fixed cost, reach, remote flag and
price."""


def _views(packed: _Packed, stuck: float) -> tuple[_Rows, _Entries]:
    """:class:`_Usable`'s ``rows_of`` and ``entries``: views of ``packed``."""
    a_int, a_flt, e_int, e_far, e_flt = packed
    rows_of = (a_int[0], a_flt[0], a_flt[1], a_flt[2:4], a_int[1], stuck)
    e_row, e_node, e_pair = e_int
    e_work, e_fixed, e_reach, e_remote, e_price = e_flt
    entries = (e_row, e_node, e_pair, e_far, e_work, e_fixed, e_reach, e_remote, e_price)
    return rows_of, entries


def _usable(
    sy: System,
    c: _Consts,
    slot: _Slot,
    instances: BoolArray,
    previous: BoolArray,
    cold: FloatArray,
) -> _Usable:
    """``_Usable.of(sy, _Routes.build(sy, c, slot, instances, previous, cold))`` in one pass.

    The rows with demand, their usable routes and every route's terms, computed for the usable
    routes only and with the same operations (the same values to the last bit).
    """
    demand = slot.demand
    B = demand.shape[0]
    O, S, K = sy.n_origins, sy.n_services, sy.n_candidates
    hosting = (instances, previous, sy.admissible, sy.candidates)
    terms = (
        slot.energy.reshape(-1, K),
        np.broadcast_to(cold, (1, 1, S, 1)).reshape(S),
        c.reach.reshape(-1, K),
        c.remote[:, 0, :],
        slot.price.reshape(B * O, K),
    )
    per_row = (demand.reshape(-1), slot.uplink.reshape(-1), slot.downlink.reshape(-1))
    per_service = (sy.work, sy.input_mbit, sy.output_mbit)
    consts = (sy.unsatisfied_penalty_j, sy.slot_s)
    A, E, stuck = _count_usable(hosting, terms, per_row, consts)
    live, e_k = np.empty(A, dtype=np.int64), np.empty(E, dtype=np.int64)
    packed = (
        np.empty((2, A), dtype=np.int64),
        np.empty((4, A)),
        np.empty((3, E), dtype=np.int64),
        np.empty(E, dtype=np.bool_),
        np.empty((5, E)),
    )
    a_int, a_flt, e_int, e_far, e_flt = packed
    _usable_into(
        hosting,
        terms,
        per_row,
        per_service,
        consts,
        (live, a_int[0], a_int[1], a_flt[0], a_flt[1], a_flt[2:4]),
        (e_int[0], e_k, e_int[1], e_int[2], e_far),
        (e_flt[0], e_flt[1], e_flt[2], e_flt[3], e_flt[4]),
    )
    rows_of, entries = _views(packed, stuck)
    return _Usable(live, stuck, rows_of, entries, e_k, (B, O, S, K), packed)


@kernel
def _count_usable(
    hosting: tuple[BoolArray, BoolArray, BoolArray, IntArray],
    terms: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    per_row: tuple[FloatArray, FloatArray, FloatArray],
    consts: tuple[float, float],
) -> tuple[int, int, float]:
    """Rows with a usable route, usable routes, and the most demand a row without one has."""
    instances, previous, admissible, cand = hosting
    energy, cold = terms[0], terms[1]
    demand = per_row[0]
    beta = consts[0]
    S = instances.shape[1]
    O, K = cand.shape
    A = E = 0
    stuck = 0.0
    for flat in range(demand.size):
        if not demand[flat] > 0:
            continue
        p, s = flat // S, flat % S
        b, o = p // O, p % O
        count = 0
        for k in range(K):
            n = cand[o, k]
            if instances[b, s, n] and admissible[o, s, k]:  # as _fixed_costs_into
                new = 0.0 if previous[b, s, n] else 1.0
                if np.isfinite(energy[flat, k] + beta * cold[s] * new):
                    count += 1
        if count:
            A += 1
            E += count
        elif demand[flat] > stuck:
            stuck = demand[flat]
    return A, E, stuck


@kernel
def _usable_into(
    hosting: tuple[BoolArray, BoolArray, BoolArray, IntArray],
    terms: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    per_row: tuple[FloatArray, FloatArray, FloatArray],
    per_service: tuple[FloatArray, FloatArray, FloatArray],
    consts: tuple[float, float],
    rows: tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray, FloatArray],
    ints: tuple[IntArray, IntArray, IntArray, IntArray, BoolArray],
    values: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
) -> None:
    """:func:`_usable` into the arrays it sized."""
    instances, previous, admissible, cand = hosting
    energy, cold, reach, remote, price = terms
    demand, uplink, downlink = per_row
    work_s, input_mbit, output_mbit = per_service
    beta, tau = consts
    live, pair, seg, work, tasks, share = rows
    e_row, e_k, e_node, e_pair, e_far = ints
    e_work, e_fixed, e_reach, e_remote, e_price = values
    S, N = instances.shape[1], instances.shape[2]
    O, K = cand.shape
    a = e = 0
    for flat in range(demand.size):
        if not demand[flat] > 0:
            continue
        first = e
        p, s = flat // S, flat % S
        b, o = p // O, p % O
        for k in range(K):
            n = cand[o, k]
            if not (instances[b, s, n] and admissible[o, s, k]):  # as _fixed_costs_into
                continue
            new = 0.0 if previous[b, s, n] else 1.0
            fixed = energy[flat, k] + beta * cold[s] * new
            if not np.isfinite(fixed):
                continue
            e_row[e], e_k[e] = a, k
            e_node[e] = b * N + n
            e_pair[e] = p
            e_far[e] = remote[o, k] > 0
            e_work[e] = work_s[s]
            e_fixed[e] = fixed
            e_reach[e] = reach[o * S + s, k]
            e_remote[e] = remote[o, k]
            e_price[e] = price[p, k]
            e += 1
        if e > first:
            live[a], pair[a], seg[a] = flat, p, first
            work[a], tasks[a] = work_s[s], demand[flat]
            share[0, a] = input_mbit[s] / (uplink[p] * tau)
            share[1, a] = output_mbit[s] / (downlink[p] * tau)
            a += 1


def _fill(
    sy: System,
    usable: _Usable,
    budget: FloatArray,
    floor: _Load | None = None,
    route: bool = True,
    every: bool = False,
    whole: bool = True,
) -> tuple[FloatArray, _Load]:
    """Routing ``[B, O, S, K]`` that fills the budgets ``[B, N]`` in rounds over ``usable``.

    The rounds run over the usable routes' entries. Each cell's uplink and
    downlink take up to :data:`RADIO_LIMIT`; a transfer's time is priced at the cell's load so
    far, no less than :data:`NETWORK_UTILISATION`. ``floor``: the least load the nodes'
    queueing and the cells' transfers are priced at. Returns the routing (without ``route``,
    an empty array: only the load is wanted) and the load it left. ``every``: compute every
    deadline term in every round (the reference of the rounds, see :func:`_fill_rounds`);
    ``whole``: run the rounds in one compiled call where it can (see there).
    """
    B, O, S, K = usable.shape
    N = sy.n_nodes
    P = B * O  # cells
    shape = (B, O, S, K) if route else (0, 0, 0, 0)
    if not usable.live.size:  # no row can take anything: nothing is routed and no load is left
        return np.zeros(shape), _Load(np.zeros((B, N)), np.zeros((2, P)))
    # The nodes' budget, capacity, load, least load and three buffers; the cells' load, least
    # load and three buffers: one argument each for the rounds.
    nodes = np.empty((7, B * N))
    nodes[0] = budget.reshape(-1)
    nodes[1].reshape(B, N)[:] = sy.capacity
    nodes[2] = 0.0
    cells = np.empty((5, 2, P))
    cells[0] = 0.0
    if floor is None:
        nodes[3] = 0.0
        cells[1] = NETWORK_UTILISATION
    else:
        nodes[3] = floor.node.reshape(-1)
        np.maximum(floor.radio, NETWORK_UTILISATION, out=cells[1])
    gains = _fill_rounds(sy, usable, floor is not None, nodes, cells, every, whole)[0]
    load = _Load(nodes[2].reshape(B, N), cells[0])
    if not route:
        return np.zeros(shape), load
    # Each entry is a distinct (row, candidate): clipping the entries clips the routing.
    routing = np.zeros(shape)
    _route_into(routing.reshape(-1), usable.live, usable.entries[0], usable.k, gains, K)
    return routing, load


@kernel
def _route_into(
    routing: FloatArray, live: IntArray, e_row: IntArray, e_k: IntArray, gains: FloatArray, K: int
) -> None:
    """Each entry's share clipped to [0, 1] (as ``np.clip``) into the flat ``routing``.

    An entry's place is its row's flat (copy, origin, service) and its candidate.
    """
    for e in range(gains.size):
        g = gains[e]
        if not np.isnan(g):  # NumPy's clip: NaN stays, else max(g, 0) then min(., 1)
            g = g if g > 0.0 else 0.0
            g = g if g < 1.0 else 1.0
        routing[live[e_row[e]] * K + e_k[e]] = g


def _entries_numpy(
    fixed: FloatArray,
    prices: tuple[FloatArray, FloatArray, FloatArray],
    rows_of: tuple[IntArray, IntArray, IntArray, FloatArray],
    candidates: IntArray,
    N: int,
) -> tuple[IntArray, float, IntArray, tuple[IntArray, ...], tuple[FloatArray, ...]]:
    """The usable routes as entries, with NumPy: the reference of :func:`_entries`."""
    K = fixed.shape[1]
    reach, remote, price = prices
    copy, origin, pair, demand = rows_of
    usable = np.isfinite(fixed)  # [A, K]
    has = usable.any(axis=1)
    rows = np.flatnonzero(has)
    stuck = float(demand[~has].max(initial=0.0))
    e_row, e_k = np.nonzero(usable[rows])
    at = rows[e_row] * K + e_k
    e_node = ((copy * N)[:, None] + candidates[origin]).reshape(-1)[at]
    seg = np.searchsorted(e_row, np.arange(rows.size))
    values = tuple(a.reshape(-1)[at] for a in (fixed, reach, remote, price))
    return rows, stuck, seg, (e_row, e_k, e_node, pair[rows][e_row]), values


def _entries(
    fixed: FloatArray,
    prices: tuple[FloatArray, FloatArray, FloatArray],
    rows_of: tuple[IntArray, IntArray, IntArray, FloatArray],
    candidates: IntArray,
    N: int,
) -> tuple[IntArray, float, IntArray, tuple[IntArray, ...], tuple[FloatArray, ...]]:
    """The usable routes (finite ``fixed`` ``[A, K]``) as entries in row order, then candidate.

    Returns the rows with one, the most demand a row without one has, each row's first entry,
    each entry's row (of those rows), candidate, node (flat into ``[B, N]``) and cell, and its
    fixed cost, reach, remote flag and price.
    """
    A, E, stuck = _count_entries(fixed, rows_of[3])
    rows, seg = np.empty(A, dtype=np.int64), np.empty(A, dtype=np.int64)
    e_row, e_k, e_node, e_pair = (np.empty(E, dtype=np.int64) for _ in range(4))
    e_fixed, e_reach, e_remote, e_price = (np.empty(E) for _ in range(4))
    ints = (e_row, e_k, e_node, e_pair)
    values = (e_fixed, e_reach, e_remote, e_price)
    _fill_entries(fixed, prices, rows_of, candidates, N, rows, seg, ints, values)
    return rows, stuck, seg, ints, values


@kernel
def _count_entries(fixed: FloatArray, demand: FloatArray) -> tuple[int, int, float]:
    """Rows with a usable route, usable routes, and the most demand a row without one has."""
    R, K = fixed.shape
    stuck = 0.0
    A = E = 0
    for r in range(R):
        count = 0
        for k in range(K):
            if np.isfinite(fixed[r, k]):
                count += 1
        if count:
            A += 1
            E += count
        elif demand[r] > stuck:
            stuck = demand[r]
    return A, E, stuck


@kernel
def _fill_entries(
    fixed: FloatArray,
    prices: tuple[FloatArray, FloatArray, FloatArray],
    rows_of: tuple[IntArray, IntArray, IntArray, FloatArray],
    candidates: IntArray,
    N: int,
    rows: IntArray,
    seg: IntArray,
    ints: tuple[IntArray, IntArray, IntArray, IntArray],
    values: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> None:
    """:func:`_entries` into the arrays it sized.

    Kernels return numbers only: boxing an array runs Python code, where an interrupt would
    surface as an internal error.
    """
    reach, remote, price = prices
    copy, origin, pair, _ = rows_of
    e_row, e_k, e_node, e_pair = ints
    e_fixed, e_reach, e_remote, e_price = values
    R, K = fixed.shape
    a = e = 0
    for r in range(R):
        first = e
        for k in range(K):
            if np.isfinite(fixed[r, k]):
                e_row[e], e_k[e] = a, k
                e_node[e] = copy[r] * N + candidates[origin[r], k]
                e_pair[e] = pair[r]
                e_fixed[e], e_reach[e] = fixed[r, k], reach[r, k]
                e_remote[e], e_price[e] = remote[r, k], price[r, k]
                e += 1
        if e > first:
            rows[a], seg[a] = r, first
            a += 1


_Rows = tuple[IntArray, FloatArray, FloatArray, FloatArray, IntArray, float]
"""The rows with a usable route: pair, work, demand, shares, first entry; the most a row without
one has left."""

_Entries = tuple[
    IntArray,
    IntArray,
    IntArray,
    BoolArray,
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
    FloatArray,
]
"""The usable (row, candidate) entries in row order: row, node, pair, remote, work and their
prices (fixed, reach, remote, node price)."""


def _fill_rounds(
    sy: System,
    usable: _Usable,
    floored: bool,
    nodes: FloatArray,
    cells: FloatArray,
    every: bool = False,
    whole: bool = True,
) -> FloatArray:
    """The rounds of :func:`_fill` over ``A > 0`` rows: each row's share sent over each entry.

    Returns ``[3, E]``: per entry that share, and the slack and the deadline term (the
    exponential) it was last priced at.

    ``nodes`` and ``cells`` are :func:`_fill`'s (their loads are updated in place). A round is
    compiled in two halves (:func:`_round`) around NumPy's ``exp`` of the deadline terms, which
    keeps the costs those of the NumPy rounds to the last bit: the compiled ``exp`` may differ
    from NumPy's vectorised one. Only the terms whose node's headroom or cell's slow-down
    changed are computed again (29 % of them per round in the case study): NumPy's
    ``exp`` of a value is the same wherever the value sits in the array it is given. Likewise
    a row's pick is found again only where one of its terms changed or a node or cell of its
    entries ran out of room. The rounds stop early once one of the last (those that offer
    whatever is left at once) takes nothing: every round after it would offer the same at the
    same loads and take nothing too. The terms to compute again are found through the lists
    of each node's and each cell's usable routes (:func:`_start_rounds`), not by looking at
    every route. With ``every``, every term is computed, every pick found, every route looked
    at and every round run, as the rounds did before: their reference.

    With ``whole`` (and not ``every``) and NumPy's ``exp`` loop found
    (:func:`~cnc6g.twin.jit.numpy_exp_loop`), the rounds run in one compiled call
    (:func:`_rounds`) that calls that loop between the halves: the same values as the
    rounds called from Python around ``np.exp``, without a call from Python per round.
    """
    a_int, a_flt, e_int, _, _ = usable.packed
    A, E, P, BN = a_int.shape[1], e_int.shape[1], cells.shape[2], nodes.shape[1]
    # Each row's pick; remaining, offer, transfer (at the cell's load), take, and the expected
    # cost of the row's pick.
    pick, rows = np.empty(A, dtype=np.int64), np.empty((5, A))
    # The rows whose pick is to be found again, the cells without room and the nodes without
    # room the picks were found at.
    flags = np.empty(A + P + BN, dtype=np.bool_)
    # Per entry: the share of its row's demand sent over it, minus the time left for queueing
    # and execution, and the exponential of the deadline term.
    per_entry = np.empty((3, E))
    todo = np.empty(E)  # the deadline terms' exponents computed again, then their exponentials
    at = np.empty(E, dtype=np.int64)  # their entries
    changed, moved = np.zeros(P, dtype=np.bool_), np.zeros(BN, dtype=np.bool_)
    consts = (sy.unsatisfied_penalty_j, RADIO_LIMIT, sy.slot_s, usable.stuck)
    # Each node's entries and each cell's, and the round an entry's term was last listed in.
    lists = np.empty(BN + 1 + E + P + 1 + 2 * E, dtype=np.int64)
    _start_rounds(a_flt[1], e_int[1], e_int[2], pick, rows, flags, per_entry, nodes, cells, lists)
    state = (pick, rows, per_entry, nodes, cells, changed, moved, flags, lists)
    args = (consts, floored, not every, *usable.packed, *state)
    total = ROUNDS + EXTRA
    loop = numpy_exp_loop() if whole and not every else 0
    if loop:
        _rounds(loop, total, ROUNDS, todo, at, *args)
        return per_entry
    count = 0
    for r in range(total):
        if every:  # as if every node's headroom and every cell's slow-down had changed
            nodes[5] = np.nan
            cells[2] = np.nan
        # The end of round r - 1 (if any) and the start of round r, unless it has no offer.
        count = _round(r, r > 0, True, ROUNDS, count, todo, at, *args)
        if count < 0:
            break
        terms = todo[:count]
        np.exp(terms, out=terms)
    else:
        _round(total, True, False, ROUNDS, count, todo, at, *args)
    return per_entry


@kernel
def _start_rounds(
    demand: FloatArray,
    e_node: IntArray,
    e_pair: IntArray,
    pick: IntArray,
    rows: FloatArray,
    flags: BoolArray,
    per_entry: FloatArray,
    nodes: FloatArray,
    cells: FloatArray,
    lists: IntArray,
) -> None:
    """The rounds' state before the first, and the usable routes of each node and each cell.

    See :func:`_fill_rounds` for the arguments. Every pick the first entry, every row's
    remaining demand its demand and nothing taken, every flag down, nothing sent over any
    entry, and the headroom and the cells' slow-downs the terms were computed at unknown
    (NaN: every term is computed in the first round). ``lists``: ``[BN + 1]`` starts of each
    node's entries, the ``[E]`` entries by node (in entry order), the same by cell
    (``[P + 1]``, ``[E]``), then ``[E]`` rounds an entry was listed in (-1).
    """
    BN, P, E = nodes.shape[1], cells.shape[2], e_node.size
    pick[:] = 0
    rows[0] = demand
    rows[3] = 0.0
    flags[:] = False
    per_entry[0] = 0.0
    nodes[5] = np.nan
    cells[2] = np.nan
    for keys, size, start in ((e_node, BN, 0), (e_pair, P, BN + 1 + E)):
        at = lists[start : start + size + 1]
        at[:] = 0
        for e in range(E):
            at[keys[e] + 1] += 1
        for i in range(size):
            at[i + 1] += at[i]
        into = lists[start + size + 1 : start + size + 1 + E]
        for e in range(E):  # in order: stable
            k = keys[e]
            into[at[k]] = e
            at[k] += 1
        for i in range(size, 0, -1):  # the starts back
            at[i] = at[i - 1]
        at[0] = 0
    lists[BN + P + 2 + 2 * E :] = -1


@kernel
def _rounds(
    loop: int,
    total: int,
    rounds: int,
    todo: FloatArray,
    at: IntArray,
    consts: tuple[float, float, float, float],
    floored: bool,
    fast: bool,
    a_int: IntArray,
    a_flt: FloatArray,
    e_int: IntArray,
    e_far: BoolArray,
    e_flt: FloatArray,
    pick: IntArray,
    rows: FloatArray,
    per_entry: FloatArray,
    nodes: FloatArray,
    cells: FloatArray,
    changed: BoolArray,
    moved: BoolArray,
    flags: BoolArray,
    lists: IntArray,
) -> None:
    """:func:`_fill_rounds`'s ``total`` rounds in one call.

    Each round's halves (:func:`_round`, the same arguments) around NumPy's own ``exp`` loop
    at ``loop`` (:func:`~cnc6g.twin.jit.numpy_exp_loop`), which gives the values ``np.exp``
    gives.
    """
    work = np.empty(5, dtype=np.int64)
    count = 0
    for r in range(total + 1):
        # The end of round r - 1 (if any) and the start of round r (none after the last).
        count = _round(
            r,
            r > 0,
            r < total,
            rounds,
            count,
            todo,
            at,
            consts,
            floored,
            fast,
            a_int,
            a_flt,
            e_int,
            e_far,
            e_flt,
            pick,
            rows,
            per_entry,
            nodes,
            cells,
            changed,
            moved,
            flags,
            lists,
        )
        if count < 0:  # no offer, or after the last round
            return
        exp_into(loop, todo, count, work)


@kernel
def _round(
    r: int,
    choose: bool,
    price: bool,
    rounds: int,
    count: int,
    todo: FloatArray,
    at: IntArray,
    consts: tuple[float, float, float, float],
    floored: bool,
    fast: bool,
    a_int: IntArray,
    a_flt: FloatArray,
    e_int: IntArray,
    e_far: BoolArray,
    e_flt: FloatArray,
    pick: IntArray,
    rows: FloatArray,
    per_entry: FloatArray,
    nodes: FloatArray,
    cells: FloatArray,
    changed: BoolArray,
    moved: BoolArray,
    flags: BoolArray,
    lists: IntArray,
) -> int:
    """One assignment round's compiled halves; -1 when round ``r`` offers nothing.

    With ``choose``, the end of round ``r - 1`` (``todo`` holds the exponentials of the
    ``count`` deadline terms of entries ``at`` computed again): each row's choice and what the
    radio and the nodes accept of it. With ``price``, the start of round ``r``: the offers and,
    in ``todo``, the exponents of the deadline terms that changed, whose count it returns.
    With ``fast``, -1 too once a round from the last of the ``rounds`` on has taken nothing
    (the rounds left would take nothing either), and the terms that changed are found
    through the lists of each node's and each cell's entries (``lists``, see
    :func:`_start_rounds`); else every round runs and every entry is looked at, as before:
    the reference. The other arguments are
    :func:`_fill_rounds`'s: the usable routes packed (:data:`_Packed`), then the rounds' state.
    """
    beta, limit, tau, stuck = consts
    pair, seg = a_int[0], a_int[1]
    work, demand, share = a_flt[0], a_flt[1], a_flt[2:4]
    e_row, e_node, e_pair = e_int[0], e_int[1], e_int[2]
    e_work, e_fixed, e_reach, e_remote, e_price = e_flt[0], e_flt[1], e_flt[2], e_flt[3], e_flt[4]
    remaining, offer, transfer, take, chosen = rows[0], rows[1], rows[2], rows[3], rows[4]
    gains, drain, term = per_entry[0], per_entry[1], per_entry[2]
    budget, capacity, load, least = nodes[0], nodes[1], nodes[2], nodes[3]
    room, headroom, scratch = nodes[4], nodes[5], nodes[6]
    radio, least_radio, slowed, slow, sent = cells[0], cells[1], cells[2], cells[3], cells[4]
    A, E, P, BN = pair.size, e_row.size, radio.shape[1], budget.size
    inf = np.inf
    split = max(rounds - r, 1)  # round r offers this share of what is left
    most = 0.0  # the largest offer
    if choose:
        # expected = fixed + beta * P(miss the deadline), inf at a node or cell without room
        top = -inf
        for p in range(P):
            for i in range(2):
                top = radio[i, p] if radio[i, p] > top else top
        full_on = top >= limit - 1e-9
        A_P = A + P
        dirty, cut, shut = flags[:A], flags[A:A_P], flags[A_P:]
        # A pick changes only where a term of its row changed or a node or cell of its
        # entries ran out of room (or got room back).
        flipped = r == 1
        cells_flipped = nodes_flipped = False
        for p in range(P):
            c = full_on and (radio[0, p] >= limit - 1e-9 or radio[1, p] >= limit - 1e-9)
            changed[p] = c != cut[p]
            cells_flipped = cells_flipped or changed[p]
            cut[p] = c
        for n in range(BN):
            f = room[n] <= 1e-9
            moved[n] = f != shut[n]
            nodes_flipped = nodes_flipped or moved[n]
            shut[n] = f
        for i in range(count):
            e = at[i]
            term[e] = todo[i]
            dirty[e_row[e]] = True
        if cells_flipped:
            for a in range(A):
                dirty[a] = dirty[a] or changed[pair[a]]
        if nodes_flipped:
            for e in range(E):
                if moved[e_node[e]]:
                    dirty[e_row[e]] = True
        # Per row the first entry of the least expected cost plus price, what it takes of its
        # offer, and the parts of the remote ones sent over each cell's radio, in one pass.
        # A sum that consecutive rows add to is kept in a register between them (``run``):
        # the same additions in the same order, without waiting on memory for each.
        sent[:] = 0.0
        run, up, down = -1, 0.0, 0.0
        for a in range(A):
            if flipped or dirty[a]:
                dirty[a] = False
                far = cut[pair[a]]
                best = first = seg[a]
                end = seg[a + 1] if a + 1 < A else E
                x = term[first] * beta + e_fixed[first]
                if shut[e_node[first]] or (e_far[first] and far):
                    x = inf
                least_x = x
                low = x + e_price[first]
                for e in range(first + 1, end):
                    x = term[e] * beta + e_fixed[e]
                    if shut[e_node[e]] or (e_far[e] and far):
                        x = inf
                    ranked = x + e_price[e]
                    lower = ranked < low
                    best = e if lower else best
                    low = ranked if lower else low
                    least_x = x if lower else least_x
                pick[a] = best
                chosen[a] = least_x
            t = offer[a] if chosen[a] < beta and offer[a] > 0 else 0.0
            take[a] = t
            t = t if e_far[pick[a]] else 0.0
            if pair[a] != run:
                if run >= 0:
                    sent[0, run], sent[1, run] = up, down
                run = pair[a]
                up, down = sent[0, run], sent[1, run]
            up += t * share[0, a]
            down += t * share[1, a]
        if run >= 0:
            sent[0, run], sent[1, run] = up, down
        # A cell's radio accepts its remote parts pro rata, then the nodes what passed.
        squeezed = False
        for p in range(P):
            ratio = 1.0
            for i in range(2):
                left = limit - radio[i, p]
                left = left if left >= 0.0 else 0.0
                if sent[i, p] > left:
                    squeezed = True
                    part = left / sent[i, p]
                    ratio = ratio if ratio <= part else part
            slow[0, p] = ratio  # the share of the cell's remote parts it accepts
        scratch[:] = 0.0  # asked
        run, asked = -1, 0.0
        for a in range(A):
            if squeezed and e_far[pick[a]]:
                take[a] = take[a] * slow[0, pair[a]]
            n = e_node[pick[a]]
            if n != run:
                if run >= 0:
                    scratch[run] = asked
                run = n
                asked = scratch[n]
            asked += take[a] * work[a]
        if run >= 0:
            scratch[run] = asked
        over = squeezed
        for n in range(BN):
            over = over or scratch[n] > room[n]
        if over:
            for n in range(BN):  # the share each node accepts
                ratio = room[n] / scratch[n] if scratch[n] > 0 else 1.0
                scratch[n] = 1.0 if ratio >= 1.0 else ratio
            for a in range(A):
                take[a] = take[a] * scratch[e_node[pick[a]]]
            scratch[:] = 0.0
            sent[:] = 0.0
            for a in range(A):
                t = take[a]
                scratch[e_node[pick[a]]] += t * work[a]
                t = t if e_far[pick[a]] else 0.0
                sent[0, pair[a]] += t * share[0, a]
                sent[1, pair[a]] += t * share[1, a]
        for n in range(BN):
            load[n] += scratch[n]
        for p in range(P):
            radio[0, p] += sent[0, p]
            radio[1, p] += sent[1, p]
        # What each row took, and (with ``price``) round r's offers in the same pass.
        took = False
        for a in range(A):
            gains[pick[a]] += take[a] / demand[a]
            remaining[a] -= take[a]
            took = took or take[a] != 0.0
            if price:
                offer[a] = remaining[a] / split
                most = offer[a] if offer[a] > most else most
        # A round from the last of the ``rounds`` on that took nothing left every load as it
        # was: the rounds after it offer the same, find the same picks and take nothing too.
        if fast and not took and r - 1 >= rounds - 1:
            return -1
    if not price:
        return -1
    if not choose:
        for a in range(A):
            offer[a] = remaining[a] / split
            most = offer[a] if offer[a] > most else most
    if not (most > 1e-9 or stuck / split > 1e-9):
        return -1
    for n in range(BN):
        room[n] = budget[n] - load[n]
        busy = load[n]
        if floored:
            busy = busy if busy >= least[n] else least[n]
        h = capacity[n] - busy / tau
        h = h if h >= 0.0 else 0.0
        moved[n] = h != headroom[n]
        headroom[n] = h
    # The transfers slowed down by their cell's load: the slack of the rows of the cells whose
    # load (or floor) changed. A route without slack fails for sure: its slack counts as 0, and
    # exp(-rate * 0) = 1.
    fresh = False
    for p in range(P):
        changed[p] = False
        for i in range(2):
            v = radio[i, p] if radio[i, p] >= least_radio[i, p] else least_radio[i, p]
            v = v if v <= limit else limit
            slow[i, p] = 1.0 / (1.0 - v)
            changed[p] = changed[p] or slow[i, p] != slowed[i, p]
    node_at, node_entries = lists[: BN + 1], lists[BN + 1 : BN + 1 + E]
    cell_at = lists[BN + 1 + E : BN + 2 + E + P]
    cell_entries, seen = lists[BN + 2 + E + P : BN + 2 + 2 * E + P], lists[BN + 2 + 2 * E + P :]
    if fast:  # the cells with usable routes are those with rows
        for p in range(P):
            fresh = fresh or (changed[p] and cell_at[p + 1] > cell_at[p])
    else:
        for a in range(A):
            fresh = fresh or changed[pair[a]]
    count = 0
    if fresh:
        slowed[:] = slow
        for a in range(A):
            p = pair[a]
            if changed[p]:
                transfer[a] = tau * (share[0, a] * slow[0, p] + share[1, a] * slow[1, p])
    if not fast:  # every entry looked at: those whose term changed (their slack first)
        for e in range(E):
            if changed[e_pair[e]]:
                part = e_reach[e] - e_remote[e] * transfer[e_row[e]]
                drain[e] = -(part if part >= 0.0 else 0.0)
            if moved[e_node[e]] or changed[e_pair[e]]:
                at[count] = e
                count += 1
    # The entries whose term changed (else it is what it was), once each: those of the cells
    # whose slow-down changed (their slack first), then those of the nodes whose headroom did.
    if fast and fresh:
        for p in range(P):
            if changed[p]:
                for i in range(cell_at[p], cell_at[p + 1]):
                    e = cell_entries[i]
                    part = e_reach[e] - e_remote[e] * transfer[e_row[e]]
                    drain[e] = -(part if part >= 0.0 else 0.0)
                    seen[e] = r
                    at[count] = e
                    count += 1
    for n in range(BN if fast else 0):
        if moved[n]:
            for i in range(node_at[n], node_at[n + 1]):
                e = node_entries[i]
                if seen[e] != r:
                    at[count] = e
                    count += 1
    for i in range(count):
        e = at[i]
        todo[i] = headroom[e_node[e]] / e_work[e] * drain[e]
    return count
