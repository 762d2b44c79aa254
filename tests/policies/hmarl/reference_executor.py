"""HMARL's executor before its assignment rounds were restructured, frozen.

A copy of :mod:`cnc6g.policies.hmarl.executor` as it was before the speed-up (its knob
constants are imported, not copied); the tests feed both the same inputs and knobs on seeded
runs and compare the decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cnc6g.policies.hmarl.executor import (
    AMORTISE_SLOTS,
    CONSOLIDATE,
    EXTRA,
    KEEP_SHARE,
    LOOK_AHEAD,
    NETWORK_UTILISATION,
    PATIENCE,
    RADIO_LIMIT,
    ROUNDS,
    THRESHOLDS,
    Knobs,
    node_caps,
)
from cnc6g.twin.costs import REMOVAL_WEIGHT, amortised_objective
from cnc6g.twin.system import (
    BoolArray,
    FloatArray,
    IntArray,
    System,
    per_system,
    wired_s_per_mbit,
)


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


def reference_execute(
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
        return base
    return _consolidate(sy, c, slot, cap, base, planned)


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
    """Tasks per slot each instance ``(s, n)`` gets under ``routing``, ``[B, S, N]``."""
    B = demand.shape[0]
    S, N = sy.n_services, sy.n_nodes
    flows = (demand[..., None] * routing).reshape(B, -1)
    index = (np.arange(B)[:, None] * S + c.flow_service[None]) * N + c.flow_node[None]
    # With weights, bincount returns float64 (the stubs type it as integers): asarray is a no-op.
    tasks = np.bincount(index.ravel(), weights=flows.ravel(), minlength=B * S * N)
    return np.asarray(tasks, dtype=np.float64).reshape(B, S, N)


def _fit_memory(sy: System, want: BoolArray, planned: FloatArray, previous: BoolArray) -> BoolArray:
    """The wanted instances that fit in memory: per node, running ones first, then by use."""
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
    routes = _Routes.build(sy, c, slot, instances, previous, cold)
    routing, load = _fill(sy, routes, budget)
    if not ahead:
        return routing
    floor = _Load(LOOK_AHEAD * load.node, load.radio)
    return _fill(sy, routes, budget, floor=floor)[0]


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
        # Per row with demand: its candidates' instances, flat into [B, S, N].
        at = ((live // (O * S)) * S + service)[:, None] * sy.n_nodes + cand[origin]  # [A, K]
        running = np.take(instances, at)
        usable = running & sy.admissible[origin, service]
        new = running & ~np.take(previous, at)
        charge = sy.unsatisfied_penalty_j * np.broadcast_to(cold, (B, O, S, 1)).reshape(-1, 1)
        energy = slot.energy.reshape(-1, K)[live]
        fixed = np.where(usable, energy + charge[live] * new, np.inf)
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


class _Load(NamedTuple):
    """What an assignment left on the nodes and on the cells' radio."""

    node: FloatArray  # [B, N] gigacycles per slot
    radio: FloatArray  # [2, B * O] share of each cell's uplink and downlink taken


def _fill(
    sy: System, routes: _Routes, budget: FloatArray, floor: _Load | None = None
) -> tuple[FloatArray, _Load]:
    """Routing ``[B, O, S, K]`` that fills the budgets ``[B, N]`` in rounds over ``routes``.

    Each cell's uplink and downlink take up to :data:`RADIO_LIMIT`; a transfer's time is priced
    at the cell's load so far, no less than :data:`NETWORK_UTILISATION`. ``floor``: the least
    load the nodes' queueing and the cells' transfers are priced at. Returns the routing and
    the load it left.
    """
    B, O, S, K = routes.shape
    N = sy.n_nodes
    cand = sy.candidates
    beta = sy.unsatisfied_penalty_j
    limit = RADIO_LIMIT
    pair, copy, work, demand = routes.pair, routes.copy, routes.work, routes.demand
    routing = np.zeros((B, O, S, K))
    P = B * O  # cells
    load = _Load(np.zeros((B, N)), np.zeros((2, P)))
    least = _Load(np.zeros((B, N)), np.full((2, P), NETWORK_UTILISATION))
    if floor is not None:
        least = _Load(floor.node, np.maximum(floor.radio, NETWORK_UTILISATION))
    both = np.concatenate([pair, pair + P])  # each row's uplink and downlink, flat

    def radio_share(tasks: FloatArray) -> FloatArray:
        """Share of each cell's uplink and downlink ``[2, P]`` the rows' radio ``tasks`` take."""
        taken = np.bincount(both, (tasks * routes.share).ravel(), 2 * P)
        return np.asarray(taken, dtype=np.float64).reshape(2, P)  # float64, as in _planned

    tau = sy.slot_s
    remaining = demand.copy()
    rows = np.arange(demand.size)
    # Flat (copy, node) index of each row's candidates, into the [B, N] per-node arrays.
    node_ak = (copy * N)[:, None] + cand[routes.origin]  # [A, K]
    work_col = work[:, None]
    ranked = np.empty_like(routes.reach)  # [A, K] expected cost plus price
    slack = np.empty_like(routes.reach)  # [A, K] time left for queueing and execution
    slowed = np.full((2, P), np.nan)  # the cells' slow-downs the slack was computed at
    for r in range(ROUNDS + EXTRA):
        offer = remaining / max(ROUNDS - r, 1)  # [A]
        if not (offer > 1e-9).any():
            break
        room = budget - load.node
        headroom = np.maximum(sy.capacity[None] - np.maximum(load.node, least.node) / tau, 0.0)
        # The transfers slowed down by their cell's load: the slack of the rows of the cells
        # whose load (or floor) changed. A route without slack fails for sure: its slack counts
        # as 0, and exp(-rate * 0) = 1.
        slow = 1.0 / (1.0 - np.minimum(np.maximum(load.radio, least.radio), limit))  # [2, P]
        fresh = np.flatnonzero((slow != slowed).any(axis=0)[pair])
        if fresh.size:
            slowed = slow
            p = pair[fresh]
            transfer = tau * (routes.share[:, fresh] * slow[:, p]).sum(axis=0)
            part = routes.reach[fresh] - routes.remote[fresh] * transfer[:, None]
            slack[fresh] = np.maximum(part, 0.0)
        # expected = fixed + beta * P(miss the deadline), inf at a node or cell without room
        expected = np.take(headroom, node_ak) / work_col  # rate
        np.multiply(expected, slack, out=expected)
        np.negative(expected, out=expected)
        np.exp(expected, out=expected)
        np.multiply(expected, beta, out=expected)
        np.add(expected, routes.fixed, out=expected)
        np.copyto(expected, np.inf, where=np.take(room, node_ak) <= 1e-9)
        # [P]; any over an axis is an array here (the stubs also allow a scalar): no copy.
        full = np.asarray((load.radio >= limit - 1e-9).any(axis=0))
        if full.any():
            np.copyto(expected, np.inf, where=(routes.remote > 0) & full[pair, None])
        k = np.argmin(np.add(expected, routes.price, out=ranked), axis=-1)  # [A]
        best = expected[rows, k]
        take = np.where((best < beta) & (offer > 0), offer, 0.0)
        # A cell's radio accepts its remote parts pro rata, then the nodes what passed.
        far = routes.remote[rows, k] > 0
        sent = radio_share(np.where(far, take, 0.0))
        left = np.maximum(limit - load.radio, 0.0)
        radio = np.divide(left, sent, out=np.ones_like(left), where=sent > left).min(axis=0)
        take = np.where(far, take * radio[pair], take)
        flat = node_ak[rows, k]  # the chosen (copy, node)
        asked = np.bincount(flat, weights=take * work, minlength=B * N).reshape(B, N)
        accept = np.minimum(1.0, np.divide(room, asked, out=np.ones_like(room), where=asked > 0))
        got = take * accept.reshape(-1)[flat]
        load.node[...] += np.bincount(flat, weights=got * work, minlength=B * N).reshape(B, N)
        load.radio[...] += radio_share(np.where(far, got, 0.0))
        routing.reshape(-1, K)[routes.live, k] += got / demand
        remaining = remaining - got
    return np.clip(routing, 0.0, 1.0), load
