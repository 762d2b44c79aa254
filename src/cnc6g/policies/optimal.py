"""OPT: the per-slot optimum of deployment and traffic distribution, as a MILP solved by HiGHS.

Seed 002 benchmarks its learning orchestrator against an offline "approximate optimal solution".
Here the slot's joint decision is a mixed-integer linear programme over

- ``v[s, n, l]`` binary: an instance of service ``s`` runs on node ``n`` with headroom level
  ``l`` (the deployment is ``x[s, n] = sum_l v[s, n, l]``);
- ``y[o, s, k]`` in [0, 1]: the share of origin ``o``'s demand for ``s`` sent to its candidate
  ``k`` (only routes that can meet the deadline on an empty node); ``u[o, s]`` the rejected share;
- ``g[s, n, l]`` tasks served by instance ``(s, n)`` at level ``l``; ``load[n]`` node load;
- ``a[n]`` binary: a node that can sleep is awake.

It minimises the twin's objective, energy + ``penalty`` per unsatisfied task, with the twin's
linear energy terms (idle or sleep, load-proportional, instance keep-alive, cold starts, radio
air time and base-station energy per bit, wired energy per bit), under node memory and compute
capacity (``admission_utilisation``), radio and wired capacity (``network_utilisation``), and
routing only to running instances.

**Satisfaction, piecewise.** The twin satisfies a task with probability ``1 - exp(-rate *
slack)``, ``rate = (C - load) / w`` on a processor-sharing node. A level ``l`` with exponent
``kappa_l`` reserves headroom: ``load[n] + (kappa_l w_s / q_sn) v[s, n, l] <= C_n``, where
``q_sn`` is the least slack (deadline minus round-trip delay and transfers at the network
utilisation cap) of the routes to ``(s, n)``; then every task served there fails with probability
at most ``exp(-kappa_l)``, which the objective charges. Tasks sent to an instance that was not
running before meet its cold start with probability ``min(t_cold / slot, 1)`` and are charged as
failed. The planner's objective is therefore an upper bound on the twin's score of the same
decision: energy and served tasks agree exactly, and the twin satisfies at least as many tasks
as planned (see :func:`planned_vs_twin`).

**Lower bound.** :func:`lower_bound` solves the LP relaxation of an optimistic version (no
headroom, no failure charge, capacities at ``admission_utilisation``, transfers at zero load):
no decision from the same previous deployment scores below it in the twin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.twin.system import FloatArray, IntArray, System

try:  # the core class does not print HiGHS's banner on construction (highspy.Highs does)
    from highspy._core import HighsLp, HighsVarType, MatrixFormat
    from highspy._core import _Highs as _HighsSolver
except ImportError:  # pragma: no cover - other highspy layouts
    from highspy import Highs as _HighsSolver
    from highspy import HighsLp, HighsVarType, MatrixFormat

DEFAULT_KAPPAS = (1.0, 2.3, 4.6)
"""Headroom levels: a task at level ``kappa`` fails with probability at most ``exp(-kappa)``
(37 %, 10 %, 1 %)."""


@dataclass(frozen=True, eq=False)
class SlotInputs:
    """What the slot's optimisation knows (global information, one copy)."""

    demand: FloatArray  # [O, S] requests this slot
    uplink_mbps: FloatArray  # [O]
    downlink_mbps: FloatArray  # [O]
    previous: np.ndarray  # [S, N] bool, instances running before this slot

    @classmethod
    def from_observation(cls, obs: Observation) -> SlotInputs:
        """The inputs an observation carries."""
        return cls(obs.demand.astype(float), obs.uplink_mbps, obs.downlink_mbps, obs.deployment)


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved slot: the decision and what the solver reported."""

    decision: Decision
    objective: float  # planned cost of the decision in this slot, J (inf when none was found)
    bound: float  # the solver's dual bound on the optimised (amortised) objective, J
    gap: float  # relative MIP gap of the optimised objective (0 for an LP)
    status: str
    build_ms: float
    solve_ms: float
    notes: tuple[str, ...] = ()
    columns: int = 0
    rows: int = 0
    integers: int = 0


@dataclass
class _Model:
    """A linear model under construction: columns with bounds and costs, rows in COO form."""

    cost: list[FloatArray] = field(default_factory=list)
    slot_cost: list[FloatArray] = field(default_factory=list)
    lower: list[FloatArray] = field(default_factory=list)
    upper: list[FloatArray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    n_cols: int = 0
    rows_r: list[IntArray] = field(default_factory=list)
    rows_c: list[IntArray] = field(default_factory=list)
    rows_v: list[FloatArray] = field(default_factory=list)
    row_lo: list[FloatArray] = field(default_factory=list)
    row_hi: list[FloatArray] = field(default_factory=list)
    n_rows: int = 0
    offset: float = 0.0

    def columns(
        self,
        count: int,
        cost: FloatArray | float,
        lo: float,
        hi: float,
        integer: bool = False,
        slot_cost: FloatArray | float | None = None,
    ) -> IntArray:
        """Add ``count`` columns.

        ``cost`` is optimised; ``slot_cost`` (default: the same) is what they cost in this slot
        alone.
        """
        idx = np.arange(self.n_cols, self.n_cols + count)
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=float), (count,)).copy())
        own = cost if slot_cost is None else slot_cost
        self.slot_cost.append(np.broadcast_to(np.asarray(own, dtype=float), (count,)).copy())
        self.lower.append(np.full(count, lo))
        self.upper.append(np.full(count, hi))
        self.integer.append(np.full(count, integer))
        self.n_cols += count
        return idx

    def rows(
        self,
        count: int,
        row: IntArray,
        col: IntArray,
        val: FloatArray,
        lo: FloatArray | float,
        hi: FloatArray | float,
    ) -> None:
        """``count`` rows; entry ``i`` puts ``val[i]`` at (row ``row[i]`` of them, ``col[i]``)."""
        self.rows_r.append(np.asarray(row, dtype=np.int64) + self.n_rows)
        self.rows_c.append(np.asarray(col, dtype=np.int64))
        self.rows_v.append(np.asarray(val, dtype=float))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (count,)).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (count,)).copy())
        self.n_rows += count

    slot_costs: FloatArray = field(default_factory=lambda: np.zeros(0))

    def to_lp(self, relax: bool) -> tuple[Any, np.ndarray]:
        r = np.concatenate(self.rows_r) if self.rows_r else np.zeros(0, np.int64)
        c = np.concatenate(self.rows_c) if self.rows_c else np.zeros(0, np.int64)
        v = np.concatenate(self.rows_v) if self.rows_v else np.zeros(0)
        keep = v != 0.0
        r, c, v = r[keep], c[keep], v[keep]
        order = np.lexsort((c, r))
        r, c, v = r[order], c[order], v[order]
        start = np.searchsorted(r, np.arange(self.n_rows + 1))
        lp = HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_cost_ = np.concatenate(self.cost)
        self.slot_costs = np.concatenate(self.slot_cost)
        lp.col_lower_ = np.concatenate(self.lower)
        lp.col_upper_ = np.concatenate(self.upper)
        lp.row_lower_ = np.concatenate(self.row_lo) if self.row_lo else np.zeros(0)
        lp.row_upper_ = np.concatenate(self.row_hi) if self.row_hi else np.zeros(0)
        lp.offset_ = self.offset
        lp.a_matrix_.format_ = MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = self.n_cols
        lp.a_matrix_.num_row_ = self.n_rows
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = c.astype(np.int32)
        lp.a_matrix_.value_ = v
        integer = np.concatenate(self.integer)
        if integer.any() and not relax:
            lp.integrality_ = [
                HighsVarType.kInteger if i else HighsVarType.kContinuous for i in integer
            ]
        return lp, integer


@dataclass(frozen=True, eq=False)
class _Built:
    """A built slot model and the maps back to a decision."""

    model: _Model
    routes: tuple[IntArray, IntArray, IntArray]  # o, s, k of each route column
    y: IntArray
    pairs: IntArray  # [P, 2] (s, n) of each instance
    v: IntArray  # [P, levels] column of each level (-1: level unusable)
    a: IntArray  # [N] awake column of each node (-1: always on)
    notes: tuple[str, ...]


def _wired_s_per_mbit(system: System) -> FloatArray:
    """Sum over each candidate's wired path of 1 / link rate, ``[O, K]`` (s per Mbit)."""
    cached = system._cache.get("opt_wired")
    if cached is None:
        inv = np.append(1.0 / system.link_capacity, 0.0)  # padding index L adds nothing
        cached = inv[system.path_links].sum(axis=1).reshape(system.n_origins, -1)
        system._cache["opt_wired"] = cached
    assert isinstance(cached, np.ndarray)
    return cached


def build_model(
    system: System,
    inputs: SlotInputs,
    kappas: tuple[float, ...] = DEFAULT_KAPPAS,
    network_utilisation: float = 0.8,
    optimistic: bool = False,
    amortise_slots: float = 1.0,
) -> _Built:
    """The slot's MILP (or, ``optimistic``, the model whose LP relaxation is a lower bound).

    ``amortise_slots`` spreads what starting an instance costs (its cold-start energy and the
    tasks that meet the cold start) over that many slots in the optimised objective, so that a
    one-slot plan still starts instances that pay off later; the model's ``slot_cost`` keeps
    the slot's own costs.
    """
    sy = system
    tau = sy.slot_s
    beta = sy.unsatisfied_penalty_j
    rho_max = sy.admission_utilisation
    cap = rho_max if optimistic else network_utilisation
    transfer_util = 0.0 if optimistic else network_utilisation
    levels = (0.0,) if optimistic else tuple(sorted(kappas))
    O, S, N, K = sy.n_origins, sy.n_services, sy.n_nodes, sy.n_candidates
    lam = np.asarray(inputs.demand, dtype=float)
    prev = np.asarray(inputs.previous, dtype=bool)
    remote = ~sy.candidate_local & sy.candidate_valid
    notes: list[str] = []
    for s in np.flatnonzero(~sy.can_host.any(axis=1) & (lam.sum(axis=0) > 0)):
        notes.append(f"service {sy.service_names[s]}: no node can host it; its requests drop")

    # Routes: admissible candidates of (origin, service) pairs with demand whose deadline can
    # be met on an empty node at the level with the least headroom.
    slow = 1.0 / (1.0 - transfer_util)
    up_s = remote / inputs.uplink_mbps[:, None] * slow  # [O, K] s per Mbit sent
    dn_s = remote / inputs.downlink_mbps[:, None] * slow
    wired = _wired_s_per_mbit(sy) * slow
    net = (
        sy.input_mbit[None, :, None] * (up_s + wired)[:, None, :]
        + sy.output_mbit[None, :, None] * (dn_s + wired)[:, None, :]
        + 2.0 * sy.candidate_delay_s[:, None, :]
    )  # [O, S, K]
    slack = sy.deadline_s[None, :, None] - net
    node = sy.candidates  # [O, K]
    need = levels[0] * sy.work[None, :, None] / sy.capacity[node][:, None, :]
    ok = sy.admissible & (lam[:, :, None] > 0) & (slack > need) & (slack > 0)
    ro, rs, rk = np.nonzero(ok)
    rn = node[ro, rk]
    R = ro.size
    m = _Model()
    demand_pairs = np.argwhere(lam > 0)
    for o, s in demand_pairs:
        if not ok[o, s].any() and sy.can_host[s].any():
            notes.append(
                f"origin {sy.origin_names[o]} service {sy.service_names[s]}: no candidate can "
                "meet the deadline; its requests drop"
            )

    # Instances (s, n) that some route uses, and their least route slack.
    pair_id = rs * N + rn
    uniq, inv = np.unique(pair_id, return_inverse=True)
    P = uniq.size
    ps, pn = uniq // N, uniq % N
    q = np.full(P, np.inf)
    np.minimum.at(q, inv, slack[ro, rs, rk])
    lam_r = lam[ro, rs]
    cold_frac = np.where(prev[ps, pn], 0.0, np.minimum(sy.cold_start_s[ps] / tau, 1.0))
    if optimistic:
        cold_frac = np.zeros(P)

    # Route columns y: energy that scales with the tasks sent, and the cold-start charge.
    dyn = (sy.peak_power - sy.idle_power) / sy.capacity
    d_in, d_out = sy.input_mbit[rs], sy.output_mbit[rs]
    rem = remote[ro, rk]
    per_task = (
        dyn[rn] * sy.work[rs]
        + rem * (sy.tx_power[ro] * d_in / inputs.uplink_mbps[ro] + sy.bs_j_per_mbit[ro] * d_out)
        + (d_in + d_out) * sy.candidate_j_per_mbit[ro, rk]
    )
    cold_charge = beta * cold_frac[inv]
    y = m.columns(
        R,
        lam_r * (per_task + cold_charge / amortise_slots),
        0.0,
        1.0,
        slot_cost=lam_r * (per_task + cold_charge),
    )
    D = demand_pairs.shape[0]
    u = m.columns(D, beta * lam[demand_pairs[:, 0], demand_pairs[:, 1]], 0.0, 1.0)

    # Level columns v (binary) and served-task columns g.
    Lv = len(levels)
    head = np.array(levels)[None, :] * sy.work[ps][:, None] / q[:, None]  # [P, Lv]
    usable_level = head < sy.capacity[pn][:, None] * (1.0 - 1e-9)
    v_cols = np.full((P, Lv), -1, dtype=np.int64)
    g_cols = np.full((P, Lv), -1, dtype=np.int64)
    start_cost = np.where(prev[ps, pn], 0.0, sy.instantiation_energy[ps])
    inst_cost = tau * sy.instance_power[ps] + start_cost
    fail = np.exp(-np.array(levels)) if not optimistic else np.zeros(1)
    lam_pair = np.bincount(inv, weights=lam_r, minlength=P)
    for li in range(Lv):
        sel = np.flatnonzero(usable_level[:, li])
        v_cols[sel, li] = m.columns(
            sel.size,
            inst_cost[sel] - start_cost[sel] * (1.0 - 1.0 / amortise_slots),
            0.0,
            1.0,
            integer=True,
            slot_cost=inst_cost[sel],
        )
        g_cols[sel, li] = m.columns(sel.size, beta * fail[li] * (1.0 - cold_frac[sel]), 0.0, np.inf)

    # Node load columns.
    load = m.columns(N, 0.0, 0.0, 0.0)
    m.upper[-1] = rho_max * sy.capacity.copy()

    # Awake columns for nodes that can sleep.
    sleepers = np.flatnonzero(sy.can_sleep)
    a_col = np.full(N, -1, dtype=np.int64)
    a_col[sleepers] = m.columns(
        sleepers.size,
        tau * (sy.idle_power[sleepers] - sy.sleep_power[sleepers]),
        0.0,
        1.0,
        integer=True,
    )
    always = ~sy.can_sleep
    m.offset = float(
        tau * sy.idle_power[always].sum() + tau * np.nan_to_num(sy.sleep_power)[sy.can_sleep].sum()
    )

    # (1) demand: sum_k y + u = 1 for every (o, s) with demand.
    pair_row = np.full((O, S), -1, dtype=np.int64)
    pair_row[demand_pairs[:, 0], demand_pairs[:, 1]] = np.arange(D)
    m.rows(
        D,
        np.concatenate([pair_row[ro, rs], np.arange(D)]),
        np.concatenate([y, u]),
        np.ones(R + D),
        1.0,
        1.0,
    )
    # (2) a route only to a running instance: y_r - sum_l v[p(r), l] <= 0.
    vr = v_cols[inv]  # [R, Lv]
    has = vr >= 0
    rr = np.repeat(np.arange(R), has.sum(axis=1))
    m.rows(
        R,
        np.concatenate([np.arange(R), rr]),
        np.concatenate([y, vr[has]]),
        np.concatenate([np.ones(R), -np.ones(rr.size)]),
        -np.inf,
        0.0,
    )
    # (3) one level per instance.
    pv = np.nonzero(v_cols >= 0)
    m.rows(P, pv[0], v_cols[pv], np.ones(pv[0].size), -np.inf, 1.0)
    # (4) tasks served by an instance: sum_r lam y - sum_l g = 0; (5) g <= lam_pair v.
    m.rows(
        P,
        np.concatenate([inv, pv[0]]),
        np.concatenate([y, g_cols[pv]]),
        np.concatenate([lam_r, -np.ones(pv[0].size)]),
        0.0,
        0.0,
    )
    nv = pv[0].size
    m.rows(
        nv,
        np.concatenate([np.arange(nv), np.arange(nv)]),
        np.concatenate([g_cols[pv], v_cols[pv]]),
        np.concatenate([np.ones(nv), -lam_pair[pv[0]]]),
        -np.inf,
        0.0,
    )
    # (6) node load: load_n - sum_r lam w y / tau = 0; (7) headroom: load_n + h v <= C_n.
    m.rows(
        N,
        np.concatenate([np.arange(N), rn]),
        np.concatenate([load, y]),
        np.concatenate([np.ones(N), -lam_r * sy.work[rs] / tau]),
        0.0,
        0.0,
    )
    if not optimistic:
        m.rows(
            nv,
            np.concatenate([np.arange(nv), np.arange(nv)]),
            np.concatenate([load[pn[pv[0]]], v_cols[pv]]),
            np.concatenate([np.ones(nv), head[pv]]),
            -np.inf,
            sy.capacity[pn[pv[0]]],
        )
    # (8) memory, (9) an instance keeps its node awake.
    mem_hi = np.where(sy.can_sleep, 0.0, sy.memory)
    mem_rows = np.concatenate([pn[pv[0]], sleepers])
    mem_cols = np.concatenate([v_cols[pv], a_col[sleepers]])
    mem_vals = np.concatenate([sy.service_memory[ps[pv[0]]], -sy.memory[sleepers]])
    m.rows(N, mem_rows, mem_cols, mem_vals, -np.inf, mem_hi)
    on_sleeper = sy.can_sleep[pn[pv[0]]]
    idx = np.flatnonzero(on_sleeper)
    m.rows(
        idx.size,
        np.concatenate([np.arange(idx.size), np.arange(idx.size)]),
        np.concatenate([v_cols[pv][idx], a_col[pn[pv[0]][idx]]]),
        np.concatenate([np.ones(idx.size), -np.ones(idx.size)]),
        -np.inf,
        0.0,
    )
    # (10) radio cells, both directions.
    rem_r = np.flatnonzero(rem)
    for mbit, rate in ((d_in, inputs.uplink_mbps), (d_out, inputs.downlink_mbps)):
        m.rows(O, ro[rem_r], y[rem_r], lam_r[rem_r] * mbit[rem_r], -np.inf, cap * rate * tau)
    # (11) wired links, both directions.
    if sy.n_links:
        hops = sy.path_links[ro * K + rk]  # [R, H]
        real = hops < sy.n_links
        hr = np.repeat(np.arange(R), real.sum(axis=1))
        for mbit in (d_in, d_out):
            m.rows(
                sy.n_links,
                hops[real],
                y[hr],
                (lam_r * mbit)[hr],
                -np.inf,
                cap * sy.link_capacity * tau,
            )
    return _Built(m, (ro, rs, rk), y, np.stack([ps, pn], axis=1), v_cols, a_col, tuple(notes))


def _decision(system: System, built: _Built, values: np.ndarray) -> Decision:
    ro, rs, rk = built.routes
    x = np.zeros((system.n_services, system.n_nodes), dtype=bool)
    has = built.v >= 0
    on = np.zeros(built.v.shape, dtype=bool)
    on[has] = values[built.v[has]] > 0.5
    instance = on.any(axis=1)
    x[built.pairs[instance, 0], built.pairs[instance, 1]] = True
    routing = np.zeros((system.n_origins, system.n_services, system.n_candidates))
    share = np.clip(values[built.y], 0.0, 1.0)
    share = np.where(x[rs, system.candidates[ro, rk]], share, 0.0)
    routing[ro, rs, rk] = share
    total = routing.sum(axis=-1, keepdims=True)
    routing /= np.maximum(total, 1.0)
    return Decision(deployment=x, routing=routing)


def _warm_values(built: _Built, warm: Decision, n_cols: int) -> np.ndarray:
    """Column values encoding ``warm`` (levels: the lowest usable; loads left to HiGHS)."""
    values = np.zeros(n_cols)
    ro, rs, rk = built.routes
    x = np.asarray(warm.deployment, dtype=bool)
    for p, (s, n) in enumerate(built.pairs):
        if x[s, n]:
            usable = np.flatnonzero(built.v[p] >= 0)
            if usable.size:
                values[built.v[p, usable[-1]]] = 1.0
    values[built.y] = np.asarray(warm.routing)[ro, rs, rk]
    return values


def _new_solver(time_limit: float, mip_rel_gap: float) -> Any:
    h = _HighsSolver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    return h


def _primal(h: Any, n_cols: int) -> np.ndarray | None:
    """The solver's primal values if it found a feasible point."""
    values = np.asarray(h.getSolution().col_value, dtype=float)
    return values if values.size == n_cols and h.getInfo().primal_solution_status == 2 else None


def _rounded(
    built: _Built, values: np.ndarray, threshold: float, lightest: bool = False
) -> np.ndarray:
    """Integer columns of ``values``, rounded.

    An instance runs when its levels sum to at least ``threshold``, at its heaviest level (or,
    ``lightest``, at the usable level with the least headroom); a node that can sleep is awake
    when it hosts one.
    """
    out = np.zeros(built.model.n_cols)
    has = built.v >= 0
    v = np.where(has, values[np.where(has, built.v, 0)], -1.0)
    on = v.clip(0.0).sum(axis=1) >= threshold
    best = np.argmax(has, axis=1) if lightest else np.argmax(v, axis=1)
    out[built.v[on, best[on]]] = 1.0
    awake = np.zeros(built.a.size, dtype=bool)
    np.logical_or.at(awake, built.pairs[on, 1], True)
    cols = built.a[built.a >= 0]
    out[cols] = awake[built.a >= 0]
    return out


def solve_slot(
    system: System,
    inputs: SlotInputs,
    *,
    kappas: tuple[float, ...] = DEFAULT_KAPPAS,
    network_utilisation: float = 0.8,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-3,
    warm: Decision | None = None,
    optimistic: bool = False,
    relax: bool = False,
    amortise_slots: float = 1.0,
) -> Solution:
    """Build and solve one slot; ``relax`` solves the LP relaxation instead of the MILP.

    The MILP is solved in three steps: the LP relaxation (a valid dual bound); incumbents from
    rounding it (and from ``warm``), each completed by an LP with the integers fixed; and, only
    when the best incumbent is not within ``mip_rel_gap`` of the bound, HiGHS's branch and cut
    started from that incumbent, within ``time_limit`` seconds in all.
    """
    start = time.perf_counter()
    built = build_model(system, inputs, kappas, network_utilisation, optimistic, amortise_slots)
    n = built.model.n_cols
    lp, integer = built.model.to_lp(relax=True)
    built_at = time.perf_counter()
    h = _new_solver(time_limit, mip_rel_gap)
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    relaxed = _primal(h, n)
    bound = float(h.getInfo().objective_function_value) if relaxed is not None else -np.inf
    best, best_obj = (relaxed, bound) if relaxed is not None else (None, np.inf)
    is_mip = bool(integer.any()) and not relax
    gap = 0.0
    if is_mip and relaxed is not None:
        ints = np.flatnonzero(integer)
        starts = [_rounded(built, relaxed, t, light) for t in (0.5, 1e-6) for light in (0, 1)]
        if warm is not None:
            starts.append(_rounded(built, _warm_values(built, warm, n), 0.5, True))
        best, best_obj = None, np.inf
        for fixed in starts:
            h.changeColsBounds(ints.size, ints, fixed[ints], fixed[ints])
            h.run()
            values = _primal(h, n)
            if values is not None and h.getInfo().objective_function_value < best_obj:
                best, best_obj = values, float(h.getInfo().objective_function_value)
        status = "Optimal (rounded LP)"

        def left() -> float:
            return time_limit - (time.perf_counter() - built_at)

        def open_gap() -> bool:
            return best is None or best_obj - bound > mip_rel_gap * abs(best_obj)

        sleepers = built.a[built.a >= 0]
        if open_gap() and sleepers.size and left() > 0:
            # Which nodes are awake makes the problem a facility-location MILP with a weak
            # relaxation; with the awake set fixed (as the relaxation suggests, then all
            # awake) the rest solves fast and gives branch and cut a good incumbent.
            mip, _ = built.model.to_lp(relax=False)
            hosted = _rounded(built, relaxed, 0.5, False)[sleepers] > 0.5
            awake_sets = [hosted | (relaxed[sleepers] >= 0.5), np.ones(sleepers.size, bool)]
            if warm is not None:  # the nodes awake last slot: usually the best guess online
                was_awake = np.asarray(warm.deployment, dtype=bool).any(axis=0)
                sleeper_nodes = np.flatnonzero(built.a >= 0)
                awake_sets.insert(0, was_awake[sleeper_nodes])
            for i, awake in enumerate(awake_sets):
                share = 0.5 if i == 0 else 1.0 / (len(awake_sets) - i + 1)
                hf = _new_solver(max(left() * share, 0.05), mip_rel_gap)
                hf.passModel(mip)
                hf.changeColsBounds(sleepers.size, sleepers, awake * 1.0, awake * 1.0)
                hf.run()
                values = _primal(hf, n)
                if values is not None and hf.getInfo().objective_function_value < best_obj:
                    best, best_obj = values, float(hf.getInfo().objective_function_value)
                    status = "Optimal (awake set fixed)"
        if open_gap() and left() > 0:
            mip, _ = built.model.to_lp(relax=False)
            hm = _new_solver(left(), mip_rel_gap)
            hm.passModel(mip)
            if best is not None:
                from highspy._core import HighsSolution

                sol = HighsSolution()
                sol.col_value = best
                sol.value_valid = True
                hm.setSolution(sol)
            hm.run()
            status = hm.modelStatusToString(hm.getModelStatus())
            values = _primal(hm, n)
            if values is not None and hm.getInfo().objective_function_value <= best_obj:
                best, best_obj = values, float(hm.getInfo().objective_function_value)
            bound = max(bound, float(hm.getInfo().mip_dual_bound))
        gap = (best_obj - bound) / max(abs(best_obj), 1e-9) if best is not None else np.inf
    solved_at = time.perf_counter()
    slot_objective = np.inf
    notes = built.notes
    if best is not None:
        decision = _decision(system, built, best)
        slot_objective = float(built.model.slot_costs @ best + built.model.offset)
    elif warm is not None:
        decision = warm
        notes = (*notes, f"no solution within {time_limit} s: kept the previous decision")
    else:
        decision = Decision(
            deployment=np.zeros((system.n_services, system.n_nodes), dtype=bool),
            routing=np.zeros((system.n_origins, system.n_services, system.n_candidates)),
        )
        notes = (*notes, f"no solution within {time_limit} s: nothing deployed")
    return Solution(
        decision=decision,
        objective=slot_objective,
        bound=float(bound),
        gap=float(max(gap, 0.0)) if best is not None else float("inf"),
        status=status,
        build_ms=(built_at - start) * 1e3,
        solve_ms=(solved_at - built_at) * 1e3,
        notes=notes,
        columns=n,
        rows=built.model.n_rows,
        integers=int(integer.sum()),
    )


def lower_bound(system: System, inputs: SlotInputs) -> float:
    """A lower bound on the twin's objective of any decision for this slot, J.

    The LP relaxation of the optimistic model: every task served counts as satisfied, capacities
    are at the admission utilisation, transfers at zero load, instances and awake nodes may be
    fractional.
    """
    return solve_slot(system, inputs, optimistic=True, relax=True).objective


class OptimalPolicy(Policy):
    """OPT: solve the slot's MILP with global information (HiGHS).

    Args:
        time_limit: seconds per slot; the best decision found so far is used when it runs out.
        mip_rel_gap: relative gap at which HiGHS stops.
        kappas: headroom levels of the piecewise satisfaction model.
        network_utilisation: utilisation cap of radio and wired links in the plan.
        warm_start: also try the previous slot's decision as a starting incumbent.
        amortise_slots: slots over which the plan spreads the cost of starting an instance.
    """

    name = "opt"

    def __init__(
        self,
        time_limit: float = 5.0,
        mip_rel_gap: float = 1e-3,
        kappas: tuple[float, ...] = DEFAULT_KAPPAS,
        network_utilisation: float = 0.8,
        warm_start: bool = True,
        amortise_slots: float = 10.0,
    ) -> None:
        if time_limit <= 0 or not 0 <= mip_rel_gap < 1:
            raise ValueError("time_limit must be > 0 and mip_rel_gap in [0, 1)")
        if not kappas or min(kappas) <= 0:
            raise ValueError("kappas must be positive")
        if not 0 < network_utilisation < 1:
            raise ValueError("network_utilisation must be in (0, 1)")
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.kappas = tuple(kappas)
        self.network_utilisation = network_utilisation
        self.warm_start = warm_start
        if amortise_slots < 1:
            raise ValueError("amortise_slots must be >= 1")
        self.amortise_slots = amortise_slots

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the previous solution."""
        super().reset(system, seed)
        self._last: Decision | None = None
        self.last_solution: Solution | None = None

    def decide(self, obs: Observation) -> Decision:
        """Solve this slot's MILP."""
        solution = solve_slot(
            self.system,
            SlotInputs.from_observation(obs),
            kappas=self.kappas,
            network_utilisation=self.network_utilisation,
            time_limit=self.time_limit,
            mip_rel_gap=self.mip_rel_gap,
            warm=self._last if self.warm_start else None,
            amortise_slots=self.amortise_slots,
        )
        self.last_solution = solution
        self._last = solution.decision
        return solution.decision

    def info(self) -> dict[str, float]:
        """Solver figures of the last slot (collected by the runner)."""
        s = self.last_solution
        if s is None:
            return {}
        return {
            "opt_solve_ms": s.solve_ms,
            "opt_build_ms": s.build_ms,
            "opt_gap": s.gap,
            "opt_time_limit_hit": float(s.status == "Time limit reached"),
            "opt_objective_j": s.objective,
            "opt_bound_j": s.bound,
        }
