"""The slot's mixed-integer linear programme, and the maps between its columns and a decision.

:func:`build_model` adds the columns (routes, rejections, instances, node loads, awake nodes,
tiers and tier shares) and then the rows (demand, routing to running instances, node load,
tiers, memory and sleep, radio cells, wired links), one builder per section, in that order.
The model is stated in words in ``docs/opt.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.opt.chains import PlanPaths, plan_paths
from cnc6g.policies.opt.highs import HighsLp, HighsVarType, MatrixFormat
from cnc6g.policies.opt.strengthen import add_strengthening_rows
from cnc6g.twin.costs import restart_cost
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, wired_s_per_mbit

DEFAULT_TIERS = (0.6, 0.4, 0.2)
"""Utilisation tiers a node may commit to below the admission limit (which is always a tier)."""

MATERIAL = 1e-3
"""Least saving (share of the penalty per task) for which a route gets a tier column."""


@dataclass(frozen=True, eq=False)
class SlotInputs:
    """What the slot's optimisation knows (global information, one copy)."""

    demand: FloatArray  # [O, S] requests this slot
    uplink_mbps: FloatArray  # [O]
    downlink_mbps: FloatArray  # [O]
    previous: BoolArray  # [S, N] instances running before this slot

    @classmethod
    def from_observation(cls, obs: Observation) -> SlotInputs:
        """The inputs an observation carries."""
        return cls(obs.demand.astype(float), obs.uplink_mbps, obs.downlink_mbps, obs.deployment)


@dataclass
class LinearModel:
    """A linear model under construction: columns with bounds and costs, rows in COO form.

    :meth:`to_lp` also sets the fields after ``amortised_offset``: the slot's own column costs,
    the rows in CSR form as passed to HiGHS, and which rows are lazy.
    """

    cost: list[FloatArray] = field(default_factory=list)
    slot_cost: list[FloatArray] = field(default_factory=list)
    lower: list[FloatArray] = field(default_factory=list)
    upper: list[FloatArray] = field(default_factory=list)
    integer: list[BoolArray] = field(default_factory=list)
    n_cols: int = 0
    rows_r: list[IntArray] = field(default_factory=list)
    rows_c: list[IntArray] = field(default_factory=list)
    rows_v: list[FloatArray] = field(default_factory=list)
    row_lo: list[FloatArray] = field(default_factory=list)
    row_hi: list[FloatArray] = field(default_factory=list)
    row_lazy: list[BoolArray] = field(default_factory=list)
    n_rows: int = 0
    offset: float = 0.0  # constant cost of the slot
    amortised_offset: float = 0.0  # constant added to the optimised objective only
    removal_drop: FloatArray = field(default_factory=lambda: np.zeros(0))  # per instance column
    slot_costs: FloatArray = field(default_factory=lambda: np.zeros(0))
    rows_csr: tuple[IntArray, IntArray, FloatArray] = field(
        default_factory=lambda: (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )  # row starts, columns and values of the rows, as passed to HiGHS
    lazy_rows: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def columns(
        self,
        count: int,
        cost: FloatArray | float,
        lo: float,
        hi: FloatArray | float,
        integer: bool = False,
        slot_cost: FloatArray | float | None = None,
    ) -> IntArray:
        """Add ``count`` columns.

        ``cost`` is optimised; ``slot_cost`` (default: the same) is what they cost in this slot
        alone.
        """
        idx = np.arange(self.n_cols, self.n_cols + count)
        self.cost.append(_full(count, cost))
        self.slot_cost.append(_full(count, cost if slot_cost is None else slot_cost))
        self.lower.append(np.full(count, lo))
        self.upper.append(_full(count, hi))
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
        lazy: bool = False,
    ) -> None:
        """``count`` rows; entry ``i`` puts ``val[i]`` at (row ``row[i]`` of them, ``col[i]``).

        ``lazy`` rows are left out of the LP relaxation until its optimum violates them (see
        :func:`~cnc6g.policies.opt.relaxation.solve_relaxation`); the MILP always has them.
        """
        self.rows_r.append(np.asarray(row, dtype=np.int64) + self.n_rows)
        self.rows_c.append(np.asarray(col, dtype=np.int64))
        self.rows_v.append(np.asarray(val, dtype=float))
        self.row_lo.append(_full(count, lo))
        self.row_hi.append(_full(count, hi))
        self.row_lazy.append(np.full(count, lazy))
        self.n_rows += count

    def entries(self, row: IntArray, col: IntArray, val: FloatArray) -> None:
        """Entry ``i`` puts ``val[i]`` at (row ``row[i]`` of the model, ``col[i]``): rows added."""
        self.rows_r.append(np.asarray(row, dtype=np.int64))
        self.rows_c.append(np.asarray(col, dtype=np.int64))
        self.rows_v.append(np.asarray(val, dtype=float))
        self.row_lo.append(np.zeros(0))
        self.row_hi.append(np.zeros(0))
        self.row_lazy.append(np.zeros(0, dtype=bool))

    def to_lp(self, relax: bool) -> tuple[HighsLp, BoolArray]:
        """The model for HiGHS (the LP relaxation if ``relax``) and which columns are integer."""
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
        lp.offset_ = self.offset + self.amortised_offset
        lp.a_matrix_.format_ = MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = self.n_cols
        lp.a_matrix_.num_row_ = self.n_rows
        lp.a_matrix_.start_ = start.astype(np.int32)
        lp.a_matrix_.index_ = c.astype(np.int32)
        lp.a_matrix_.value_ = v
        self.rows_csr = (start, c, v)
        self.lazy_rows = (
            np.flatnonzero(np.concatenate(self.row_lazy)) if self.row_lazy else start[:0]
        )
        integer = np.concatenate(self.integer)
        if integer.any() and not relax:
            lp.integrality_ = [
                HighsVarType.kInteger if i else HighsVarType.kContinuous for i in integer
            ]
        return lp, integer


@dataclass(frozen=True, eq=False)
class BuiltModel:
    """A built slot model and the maps back to a decision."""

    model: LinearModel
    routes: tuple[IntArray, IntArray, IntArray]  # o, s, k of each route column
    y: IntArray
    pairs: IntArray  # [P, 2] (s, n) of each instance
    x: IntArray  # [P] column of each instance
    a: IntArray  # [N] awake column of each node (-1: always on)
    z: IntArray  # [N, tiers] tier column of each node (-1: untiered; tier 0 is the limit)
    route_pair: IntArray  # [R] instance of each route
    notes: tuple[str, ...]
    u: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # [D] rejection columns
    demand_pairs: IntArray = field(default_factory=lambda: np.zeros((0, 2), np.int64))  # [D, 2]
    load: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # [N] node loads
    h: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # tier shares
    tiered_routes: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # of h's rows
    paths: PlanPaths | None = None  # path columns of the services placed step by step
    path_cols: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # [M] their columns
    path_h: IntArray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # tier shares
    path_tiered: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # of path_h's rows
    row_starts: dict[str, int] = field(default_factory=dict)  # first row of each row builder

    @property
    def deployment_cols(self) -> IntArray:
        """Instance columns, then awake columns: the order of :func:`deployment_columns`."""
        return np.concatenate([self.x, self.a[self.a >= 0]])

    @property
    def integers(self) -> IntArray:
        """Columns of every binary."""
        return np.concatenate([self.deployment_cols, self.z[self.z >= 0]])


@dataclass(frozen=True, eq=False)
class _Slot:
    """What the builders share: the slot's data, its routes and its instances.

    A route ``r`` is an admissible candidate ``rk`` of origin ``ro`` for service ``rs`` with
    demand whose deadline can be met, on node ``rn``; an instance ``p`` is service ``ps`` on
    node ``pn``, for each pair some route uses or that ran before (and may be kept).
    """

    system: System
    inputs: SlotInputs
    lam: FloatArray  # [O, S] demand
    prev: BoolArray  # [S, N] instances running before
    levels: FloatArray  # [T] utilisation of each tier, the admission limit first
    cap: float  # utilisation cap of radio cells and wired links
    demand_pairs: IntArray  # [D, 2] (o, s) with demand
    ro: IntArray  # [R]
    rs: IntArray  # [R]
    rk: IntArray  # [R]
    rn: IntArray  # [R]
    remote: BoolArray  # [R] the route leaves the origin's terminal
    lam_r: FloatArray  # [R] demand of the route's (origin, service)
    ps: IntArray  # [P]
    pn: IntArray  # [P]
    inv: IntArray  # [R] instance of each route
    cold_r: FloatArray  # [R] share of the route's tasks that meet a cold start
    fail: FloatArray  # [R, T] failure bound of the route's tasks at each tier
    paths: PlanPaths | None = None  # path columns of the services placed step by step
    path_inv: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))  # instance entries
    optimistic: bool = False  # the model of the lower bound

    @property
    def saving(self) -> FloatArray:
        """``[R, T]`` penalty saved per task in each tier against the admission limit."""
        beta = self.system.unsatisfied_penalty_j
        return beta * (1.0 - self.cold_r)[:, None] * (self.fail[:, :1] - self.fail)

    @property
    def path_saving(self) -> FloatArray:
        """``[M, T]`` penalty a path saves per task in each tier against the admission limit."""
        pp = self.paths
        assert pp is not None
        beta = self.system.unsatisfied_penalty_j
        return beta * (1.0 - pp.cold)[:, None] * (pp.fail[:, :1] - pp.fail)


@dataclass(frozen=True, eq=False)
class _Columns:
    """Column indices of each kind of variable."""

    y: IntArray  # [R] route shares
    u: IntArray  # [D] rejected shares
    x: IntArray  # [P] instances
    load: IntArray  # [N] node loads
    a: IntArray  # [N] awake (-1: the node cannot sleep)
    z: IntArray  # [N, T] tiers (-1: untiered)
    h: IntArray  # [tiered routes, T] tier shares
    tier_nodes: IntArray  # nodes with tier columns
    tiered_routes: IntArray  # routes to them


def build_model(
    system: System,
    inputs: SlotInputs,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    optimistic: bool = False,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> BuiltModel:
    """The slot's MILP (or, ``optimistic``, the model whose LP relaxation is a lower bound).

    ``amortise_slots`` spreads what starting an instance costs (its cold-start energy and the
    tasks that meet the cold start) over that many slots in the optimised objective, so that a
    one-slot plan still starts instances that pay off later; ``removal_weight`` charges the
    removal of an instance that ran that share of what restarting it would cost. The model's
    ``slot_cost`` and ``offset`` keep the slot's own costs.
    """
    notes: list[str] = []
    slot = _slot(system, inputs, tiers, network_utilisation, optimistic, notes)
    m = LinearModel()
    y, u = _route_columns(m, slot, amortise_slots)
    x = _instance_columns(m, slot, amortise_slots, removal_weight)
    load = _load_columns(m, slot)
    a = _awake_columns(m, slot, _sleep_removal_charge(m, slot, amortise_slots))
    z, h, tier_nodes, tiered_routes = _tier_columns(m, slot)
    path_cols = _path_columns(m, slot, amortise_slots, z)
    cols = _Columns(y, u, x, load, a, z, h, tier_nodes, tiered_routes)
    starts: dict[str, int] = {}
    for add_rows in (
        _demand_rows,
        _running_instance_rows,
        _load_rows,
        _tier_share_rows,
        _tier_capacity_rows,
        _tier_bound_rows,
        _one_tier_rows,
        _memory_rows,
        _awake_instance_rows,
        _asleep_load_rows,
        _radio_rows,
        _wired_rows,
        add_strengthening_rows,
    ):
        starts[add_rows.__name__] = m.n_rows
        add_rows(m, slot, cols)
    if slot.paths is not None:
        _path_rows(m, slot, cols, path_cols, starts)
    return BuiltModel(
        m,
        (slot.ro, slot.rs, slot.rk),
        y,
        np.stack([slot.ps, slot.pn], axis=1),
        x,
        a,
        z,
        slot.inv,
        tuple(notes),
        u=u,
        demand_pairs=slot.demand_pairs,
        load=load,
        h=h,
        tiered_routes=tiered_routes,
        paths=slot.paths,
        path_cols=path_cols.y,
        path_h=path_cols.h,
        path_tiered=path_cols.tiered,
        row_starts=starts,
    )


# ---------------------------------------------------------------------------------------------
# The slot's routes and instances


def _slot(
    system: System,
    inputs: SlotInputs,
    tiers: tuple[float, ...],
    network_utilisation: float,
    optimistic: bool,
    notes: list[str],
) -> _Slot:
    """Routes, instances and failure bounds of the slot; what its demand cannot use is noted."""
    sy = system
    rho_max = sy.admission_utilisation
    levels = np.array([rho_max, *sorted((t for t in tiers if t < rho_max), reverse=True)])
    if optimistic:
        levels = levels[:1]
    lam = np.asarray(inputs.demand, dtype=float)
    prev = np.asarray(inputs.previous, dtype=bool)
    for s in np.flatnonzero(~sy.can_host.any(axis=1) & (lam.sum(axis=0) > 0)):
        notes.append(f"service {sy.service_names[s]}: no node can host it; its requests drop")
    slack = _slack(sy, inputs, 0.0 if optimistic else network_utilisation)
    ok = sy.admissible & (lam[:, :, None] > 0) & (slack > 0)
    paths = None
    chain = np.zeros(sy.n_services, dtype=bool)
    if sy.chains is not None:  # services placed step by step take path columns instead
        chain = sy.chains.is_chain
        ok &= ~chain[None, :, None]
        paths = plan_paths(
            sy,
            lam,
            inputs.uplink_mbps,
            inputs.downlink_mbps,
            prev,
            0.0 if optimistic else network_utilisation,
            levels,
            optimistic,
            notes,
        )
    ro, rs, rk = np.nonzero(ok)
    rn = sy.candidates[ro, rk]
    demand_pairs = np.argwhere(lam > 0)
    for o, s in demand_pairs:
        if not ok[o, s].any() and sy.can_host[s].any() and not chain[s]:
            notes.append(
                f"origin {sy.origin_names[o]} service {sy.service_names[s]}: no candidate can "
                "meet the deadline; its requests drop"
            )
    extra = None if paths is None else paths.service[paths.work_path] * sy.n_nodes + paths.work_node
    ps, pn, inv = _instances(sy, prev, rs, rn, optimistic, extra)
    cold_frac = np.where(prev[ps, pn], 0.0, np.minimum(sy.cold_start_s[ps] / sy.slot_s, 1.0))
    if optimistic:
        cold_frac = np.zeros(ps.size)
    # Failure bound of each route at each tier, [R, T]; none in the optimistic model.
    rate_slack = sy.capacity[rn] * slack[ro, rs, rk] / sy.work[rs]
    fail = np.exp(-(1.0 - levels)[None, :] * rate_slack[:, None])
    if optimistic:
        fail = np.zeros((ro.size, 1))
    return _Slot(
        system=sy,
        inputs=inputs,
        lam=lam,
        prev=prev,
        levels=levels,
        cap=rho_max if optimistic else network_utilisation,
        demand_pairs=demand_pairs,
        ro=ro,
        rs=rs,
        rk=rk,
        rn=rn,
        remote=(~sy.candidate_local & sy.candidate_valid)[ro, rk],
        lam_r=lam[ro, rs],
        ps=ps,
        pn=pn,
        inv=inv,
        cold_r=cold_frac[inv],
        fail=fail,
        paths=paths,
        path_inv=np.zeros(0, np.int64)
        if extra is None
        else np.searchsorted(ps * sy.n_nodes + pn, extra),
        optimistic=optimistic,
    )


def _slack(system: System, inputs: SlotInputs, transfer_util: float) -> FloatArray:
    """``[O, S, K]`` deadline minus round trip and transfers, links at ``transfer_util``."""
    sy = system
    remote = ~sy.candidate_local & sy.candidate_valid
    slow = 1.0 / (1.0 - transfer_util)
    up_s = remote / inputs.uplink_mbps[:, None] * slow  # [O, K] s per Mbit sent
    dn_s = remote / inputs.downlink_mbps[:, None] * slow
    wired = wired_s_per_mbit(sy) * slow
    net = (
        sy.input_mbit[None, :, None] * (up_s + wired)[:, None, :]
        + sy.output_mbit[None, :, None] * (dn_s + wired)[:, None, :]
        + 2.0 * sy.candidate_delay_s[:, None, :]
    )  # [O, S, K]
    slack: FloatArray = sy.deadline_s[None, :, None] - net
    return slack


def _instances(
    system: System,
    prev: BoolArray,
    rs: IntArray,
    rn: IntArray,
    optimistic: bool,
    extra: IntArray | None = None,
) -> tuple[IntArray, IntArray, IntArray]:
    """Instances (s, n) that some route uses, and those running before (which may be kept).

    ``extra`` are more instances (flat ``s * N + n``: those the paths of services placed step
    by step use). Returns their services, their nodes and the instance of each route.
    """
    N = system.n_nodes
    pair_id = rs * N + rn
    kept_ids = np.flatnonzero((prev & system.can_host).ravel()) if not optimistic else pair_id[:0]
    uniq = np.union1d(pair_id, kept_ids)
    if extra is not None:
        uniq = np.union1d(uniq, extra)
    inv = np.searchsorted(uniq, pair_id)
    return uniq // N, uniq % N, inv


# ---------------------------------------------------------------------------------------------
# Columns, in the order they are added


def _route_columns(m: LinearModel, slot: _Slot, amortise_slots: float) -> tuple[IntArray, IntArray]:
    """Route columns y and rejection columns u.

    A route's cost is the energy that scales with the tasks sent, the cold-start charge (spread
    over ``amortise_slots`` in the optimised objective) and the failure bound at the admission
    limit; a rejected task costs the penalty.
    """
    sy, inputs = slot.system, slot.inputs
    beta = sy.unsatisfied_penalty_j
    ro, rs, rk, rn = slot.ro, slot.rs, slot.rk, slot.rn
    dyn = (sy.peak_power - sy.idle_power) / sy.capacity
    d_in, d_out = sy.input_mbit[rs], sy.output_mbit[rs]
    per_task = (
        dyn[rn] * sy.work[rs]
        + slot.remote
        * radio_energy_per_task(sy, inputs, slot.lam, ro, rs, spread_static=slot.optimistic)
        + (d_in + d_out) * sy.candidate_j_per_mbit[ro, rk]
        + beta * (1.0 - slot.cold_r) * slot.fail[:, 0]
    )
    y = m.columns(
        ro.size,
        slot.lam_r * (per_task + beta * slot.cold_r / amortise_slots),
        0.0,
        1.0,
        slot_cost=slot.lam_r * (per_task + beta * slot.cold_r),
    )
    pairs = slot.demand_pairs
    u = m.columns(pairs.shape[0], beta * slot.lam[pairs[:, 0], pairs[:, 1]], 0.0, 1.0)
    return y, u


def radio_energy_per_task(
    system: System,
    inputs: SlotInputs,
    demand: FloatArray,
    ro: IntArray,
    rs: IntArray,
    spread_static: bool = True,
) -> FloatArray:
    """Radio energy the twin charges per task sent over the radio by origin ``ro`` for ``rs``, J.

    Without a radio model: the terminal's transmit power over the uplink's air time and the
    base station's energy per downlink bit. With one (EARTH base stations), never more than
    the twin charges for any share of the slot's ``demand`` sent, so that the plan's LP stays a
    lower bound:

    - the site's load-dependent power, ``n_trx delta_p P_max`` over the task's downlink air
      time (linear in the load up to the full load the radio rows keep it under);
    - the phones' radio (``radio.terminal_power``): power per Mbit/s up and down, the base
      power over the air time less the tail power (the twin's tail term is at least the tail
      less ``tail_w`` x the air time) and the tail's chord: the connected share of the cell's
      users is concave in the tasks sent and zero without any, so it is at least its value at
      the origin's whole demand times the share of that demand sent; without the model the
      transmit power over the uplink air time;
    - with ``spread_static`` (the lower bound's model), the site's static power above its
      sleep floor, ``n_trx (P0 - P_sleep)`` for the slot, spread over the site's tasks that
      return data: a site that sends any downlink is awake, so its static power is at least
      the demand-weighted mean of the shares of its (origin, service) pairs sent, each at most
      1. The plan instead counts it whole for every site with such demand
      (:func:`radio_awake_j`): once a site sends anything, one more task costs none of it, and
      spread per task it would turn tasks away that the site serves at no extra static cost.
      The sleep floor is the slot's constant in both (:func:`radio_floor_j`).
    """
    sy = system
    d_in, d_out = sy.input_mbit[rs], sy.output_mbit[rs]
    up_s = d_in / inputs.uplink_mbps[ro]
    down_s = d_out / inputs.downlink_mbps[ro]
    model = sy.scenario.radio
    if model is None:
        out: FloatArray = (
            sy.tx_power[ro] * d_in / inputs.uplink_mbps[ro] + sy.bs_j_per_mbit[ro] * d_out
        )
        return out
    bs = model.base_station
    load_j = bs.n_trx * bs.delta_p * bs.pmax_w * down_s
    tp = model.terminal_power
    if tp is None:
        phones = sy.tx_power[ro] * up_s
    else:
        air = up_s + down_s
        phones = tp.uplink_w_per_mbps * d_in + tp.downlink_w_per_mbps * d_out
        if tp.base_w >= tp.tail_w:
            tasks = np.asarray(demand, dtype=float).sum(axis=1)  # [O] the most sent
            windows = tasks * (tp.tail_ms / 1e3) / sy.slot_s
            users = float(model.users_per_cell)
            if users > 1:
                connected = users * -np.expm1(windows * np.log1p(-1.0 / users))
            else:
                connected = (windows > 0).astype(float)
            chord = np.divide(
                tp.tail_w * sy.slot_s * connected,
                tasks,
                out=np.zeros_like(tasks),
                where=tasks > 0,
            )
            phones = phones + (tp.base_w - tp.tail_w) * air + chord[ro]
        else:  # the tail term is at least zero
            phones = phones + tp.base_w * air
    out = load_j + phones
    if spread_static:
        site, n_sites = _sites(sy)
        site_demand = np.bincount(site, weights=_returning(sy, demand), minlength=n_sites)
        awake_j = sy.slot_s * bs.n_trx * max(bs.p0_w - bs.p_sleep_w, 0.0)
        out = out + np.divide(
            awake_j,
            site_demand[site[ro]],
            out=np.zeros(ro.size),
            where=(d_out > 0) & (site_demand[site[ro]] > 0),
        )
    return out


def radio_awake_j(system: System, demand: FloatArray) -> float:
    """Static power above sleep of the sites with demand that returns data, for the slot, J.

    The plan's constant (EARTH; 0 without a radio model): a site sends downlink, and so is
    awake, as soon as one such task goes over its radio.
    """
    model = system.scenario.radio
    if model is None:
        return 0.0
    site, n_sites = _sites(system)
    busy = np.bincount(site, weights=_returning(system, demand), minlength=n_sites) > 0
    bs = model.base_station
    return float(system.slot_s * busy.sum() * bs.n_trx * max(bs.p0_w - bs.p_sleep_w, 0.0))


def _returning(system: System, demand: FloatArray) -> FloatArray:
    """``[O]`` tasks of each origin's demand whose service returns data over the downlink."""
    out: FloatArray = np.asarray(demand, dtype=float) @ (system.output_mbit > 0)
    return out


def radio_floor_j(system: System) -> float:
    """Radio energy of the slot whatever is sent, J: every site's sleep power (EARTH); else 0."""
    model = system.scenario.radio
    if model is None:
        return 0.0
    _, n_sites = _sites(system)
    bs = model.base_station
    return float(system.slot_s * n_sites * bs.n_trx * bs.p_sleep_w)


def _sites(system: System) -> tuple[IntArray, int]:
    """The RAN site of each origin and the number of sites (the RAN domains with origins)."""
    _, site = np.unique(system.origin_ran, return_inverse=True)
    return site.astype(np.int64), int(site.max()) + 1 if site.size else 0


def _instance_columns(
    m: LinearModel, slot: _Slot, amortise_slots: float, removal_weight: float
) -> IntArray:
    """Instance columns x: keep-alive power and start energy, less the removal charge.

    Removing an instance that ran is charged ``removal_weight`` times what starting it again
    would cost (its start energy and the cold start met by the service's mean demand per
    instance): without it a one-slot plan drops instances in every dip of their demand and
    restarts them, each time at a cold start. The charge is a constant of the optimised
    objective less a saving on each kept instance.
    """
    sy, ps, pn = slot.system, slot.ps, slot.pn
    tau = sy.slot_s
    ran = slot.prev[ps, pn]
    start_cost = np.where(ran, 0.0, sy.instantiation_energy[ps])
    drop = np.where(ran, removal_weight * restart_cost(sy, slot.lam, slot.prev)[ps], 0.0)
    m.amortised_offset = float(np.sum(drop))
    m.removal_drop = drop
    return m.columns(
        ps.size,
        tau * sy.instance_power[ps] + start_cost / amortise_slots - drop,
        0.0,
        1.0,
        integer=True,
        slot_cost=tau * sy.instance_power[ps] + start_cost,
    )


def _load_columns(m: LinearModel, slot: _Slot) -> IntArray:
    """Node load columns, up to the admission limit."""
    sy = slot.system
    return m.columns(sy.n_nodes, 0.0, 0.0, sy.admission_utilisation * sy.capacity)


def _sleep_removal_charge(m: LinearModel, slot: _Slot, amortise_slots: float) -> FloatArray:
    """Per node, the share of its instances' removal charge a node that sleeps is spared, J.

    Removing the instances that ran on a node that can sleep, so that it sleeps, is charged
    ``1 / amortise_slots`` of their removal charge (as in
    :func:`~cnc6g.twin.costs.removal_cost`): the node saves its idle power in the slots after
    too, as a started instance serves them. The rest of the charge moves from the optimised
    objective's constant to the node's awake column, so that it is paid only while the node is
    awake (and then, as before, only for the instances removed).
    """
    sy = slot.system
    drop = m.removal_drop  # [P] the removal charge of each instance column (0: it did not run)
    spared = np.zeros(sy.n_nodes)
    np.add.at(spared, slot.pn, drop * (1.0 - 1.0 / amortise_slots))
    spared[~sy.can_sleep] = 0.0
    m.amortised_offset -= float(spared.sum())
    return spared


def _awake_columns(m: LinearModel, slot: _Slot, spared: FloatArray | None = None) -> IntArray:
    """Awake columns of the nodes that can sleep (``-1`` for the others).

    Awake costs a slot of idle power over sleep power; the sleep power of every node that can
    sleep, the idle power of the others and the radio's floor (:func:`radio_floor_j`; in the
    plan also :func:`radio_awake_j`) are the slot's constant. The optimised objective adds the
    removal charge a sleeping node is ``spared`` (:func:`_sleep_removal_charge`).
    """
    sy = slot.system
    tau = sy.slot_s
    sleepers = np.flatnonzero(sy.can_sleep)
    a = np.full(sy.n_nodes, -1, dtype=np.int64)
    own = tau * (sy.idle_power[sleepers] - sy.sleep_power[sleepers])
    a[sleepers] = m.columns(
        sleepers.size,
        own + (0.0 if spared is None else spared[sleepers]),
        0.0,
        1.0,
        integer=True,
        slot_cost=own,
    )
    always = ~sy.can_sleep
    m.offset = float(
        tau * sy.idle_power[always].sum() + tau * np.nan_to_num(sy.sleep_power)[sy.can_sleep].sum()
    ) + radio_floor_j(sy)
    if not slot.optimistic:
        m.offset += radio_awake_j(sy, slot.lam)
    return a


def _tier_columns(m: LinearModel, slot: _Slot) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Tier columns z and tier-share columns h.

    Nodes where some route saves materially below the admission limit choose one tier (binary
    ``z[n, l]``, ``l = 0`` the admission limit itself); the share of each of their routes is
    split by tier (``h[r, l]``, which earns the route's saving in that tier). Returns z
    (``[N, T]``, ``-1`` where untiered), h (``[tiered routes, T]``), the tiered nodes and the
    routes to them.
    """
    sy = slot.system
    beta = sy.unsatisfied_penalty_j
    T = slot.levels.size
    saving = slot.saving
    tiered = np.zeros(sy.n_nodes, dtype=bool)
    np.logical_or.at(tiered, slot.rn, (saving > MATERIAL * beta).any(axis=1))
    if slot.paths is not None:  # and the nodes of the paths that save materially
        material = np.asarray((slot.path_saving > MATERIAL * beta).any(axis=1), dtype=bool)
        np.logical_or.at(tiered, slot.paths.work_node, material[slot.paths.work_path])
    tier_nodes = np.flatnonzero(tiered)
    z = np.full((sy.n_nodes, T), -1, dtype=np.int64)
    tr = np.flatnonzero(tiered[slot.rn])  # routes to tiered nodes
    if T > 1 and tier_nodes.size:
        z[tier_nodes] = m.columns(tier_nodes.size * T, 0.0, 0.0, 1.0, integer=True).reshape(-1, T)
        h = m.columns(tr.size * T, -(slot.lam_r[tr, None] * saving[tr]).ravel(), 0.0, 1.0)
        return z, h.reshape(-1, T), tier_nodes, tr
    return z, np.zeros((0, T), dtype=np.int64), tier_nodes[:0], tr[:0]


@dataclass(frozen=True, eq=False)
class PathColumns:
    """Columns of the paths of services placed step by step (see :mod:`.chains`)."""

    y: IntArray  # [M] share of each path
    h: IntArray  # [tiered paths, T] tier shares
    tiered: IntArray  # paths whose every node is tiered and that save in some tier


def _path_columns(m: LinearModel, slot: _Slot, amortise_slots: float, z: IntArray) -> PathColumns:
    """Path columns of the services placed step by step (none without them).

    Like a route's, a path's cost is its tasks' energy (every step and transfer), the cold-start
    charge (spread over ``amortise_slots`` in the optimised objective) and the failure bound
    at the admission limit. A path whose every node has tier columns, and that saves materially
    in some tier, is split by tier like a route (``h[p, l]``, which earns its saving in tier
    ``l``): the share in tier ``l`` needs every node of the path at tier ``l`` or tighter.
    """
    pp = slot.paths
    none = np.zeros(0, np.int64)
    if pp is None:
        return PathColumns(none, np.zeros((0, slot.levels.size), np.int64), none)
    beta = slot.system.unsatisfied_penalty_j
    lam = slot.lam[pp.origin, pp.service]
    per_task = pp.energy_j + beta * (1.0 - pp.cold) * pp.fail[:, 0]
    y = m.columns(
        pp.size,
        lam * (per_task + beta * pp.cold / amortise_slots),
        0.0,
        1.0,
        slot_cost=lam * (per_task + beta * pp.cold),
    )
    T = slot.levels.size
    saving = slot.path_saving
    untiered = np.zeros(pp.size, dtype=bool)
    np.logical_or.at(untiered, pp.work_path, z[pp.work_node, 0] < 0)
    tiered = np.flatnonzero(~untiered & (saving > MATERIAL * beta).any(axis=1))
    if T == 1 or not tiered.size:
        return PathColumns(y, np.zeros((0, T), np.int64), none)
    h = m.columns(tiered.size * T, -(lam[tiered, None] * saving[tiered]).ravel(), 0.0, 1.0)
    return PathColumns(y, h.reshape(-1, T), tiered)


# ---------------------------------------------------------------------------------------------
# Rows, in the order they are added


def _demand_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(1) Demand: ``sum_k y + u = 1`` for every (origin, service) with demand."""
    sy, pairs = slot.system, slot.demand_pairs
    D, R = pairs.shape[0], slot.ro.size
    pair_row = np.full((sy.n_origins, sy.n_services), -1, dtype=np.int64)
    pair_row[pairs[:, 0], pairs[:, 1]] = np.arange(D)
    m.rows(
        D,
        np.concatenate([pair_row[slot.ro, slot.rs], np.arange(D)]),
        np.concatenate([cols.y, cols.u]),
        np.ones(R + D),
        1.0,
        1.0,
    )


def _running_instance_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(2) A route only to a running instance: ``y_r - x_p(r) <= 0``."""
    R = slot.ro.size
    ar = np.arange(R)
    m.rows(
        R,
        np.concatenate([ar, ar]),
        np.concatenate([cols.y, cols.x[slot.inv]]),
        _pm(R),
        -np.inf,
        0.0,
    )


def _load_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(3) Node load: ``load_n - sum_r lam w y / tau = 0``."""
    sy = slot.system
    N = sy.n_nodes
    m.rows(
        N,
        np.concatenate([np.arange(N), slot.rn]),
        np.concatenate([cols.load, cols.y]),
        np.concatenate([np.ones(N), -slot.lam_r * sy.work[slot.rs] / sy.slot_s]),
        0.0,
        0.0,
    )


def _tier_share_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(4a) A tiered route's share is split by tier: ``y_r = sum_l h[r, l]``."""
    _split_by_tier(m, cols.y[cols.tiered_routes], cols.h, slot.levels.size)


def _split_by_tier(m: LinearModel, share: IntArray, h: IntArray, T: int) -> None:
    """Rows ``share[i] = sum_l h[i, l]``: each tiered column's share split over ``T`` tiers."""
    kt = share.size
    if not kt:
        return
    ak = np.arange(kt)
    m.rows(
        kt,
        np.concatenate([ak, np.repeat(ak, T)]),
        np.concatenate([share, h.ravel()]),
        np.concatenate([np.ones(kt), -np.ones(kt * T)]),
        0.0,
        0.0,
    )


def _tier_capacity_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(4b) A tier's load fits under it: ``sum_r lam w h[r, l] / tau <= t_l C_n z[n, l]``."""
    tr, tier_nodes = cols.tiered_routes, cols.tier_nodes
    if not tr.size:
        return
    sy, levels = slot.system, slot.levels
    T, nt = levels.size, tier_nodes.size
    tier_row = np.full((sy.n_nodes, T), -1, dtype=np.int64)
    tier_row[tier_nodes] = np.arange(nt * T).reshape(nt, T)
    work_r = np.repeat(slot.lam_r[tr] * sy.work[slot.rs[tr]] / sy.slot_s, T)
    m.rows(
        nt * T,
        np.concatenate([tier_row[slot.rn[tr]].ravel(), tier_row[tier_nodes].ravel()]),
        np.concatenate([cols.h.ravel(), cols.z[tier_nodes].ravel()]),
        np.concatenate([work_r, -(sy.capacity[tier_nodes][:, None] * levels[None, :]).ravel()]),
        -np.inf,
        0.0,
    )


def _tier_bound_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(4c) ``h[r, l] <= z[n, l]``, lazy in the LP relaxation.

    Redundant for the MILP, but without these variable upper bounds the relaxation spreads a
    route over tiers its node barely takes, and HiGHS spends most of the root node on cuts that
    restore them. A few hundred of the 12 k of a case-study slot bind at the relaxation's
    optimum.
    """
    tr = cols.tiered_routes
    if not tr.size:
        return
    kk = tr.size * slot.levels.size
    ak = np.arange(kk)
    m.rows(
        kk,
        np.concatenate([ak, ak]),
        np.concatenate([cols.h.ravel(), cols.z[slot.rn[tr]].ravel()]),
        _pm(kk),
        -np.inf,
        0.0,
        lazy=True,
    )


def _one_tier_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(4d) One tier per node: ``sum_l z[n, l] <= 1``, or ``<= a[n]`` where the node can sleep."""
    if not cols.tier_nodes.size:
        return
    T, tier_nodes = slot.levels.size, cols.tier_nodes
    nt = tier_nodes.size
    sleeps = cols.a[tier_nodes] >= 0
    m.rows(
        nt,
        np.concatenate([np.repeat(np.arange(nt), T), np.flatnonzero(sleeps)]),
        np.concatenate([cols.z[tier_nodes].ravel(), cols.a[tier_nodes][sleeps]]),
        np.concatenate([np.ones(nt * T), -np.ones(int(sleeps.sum()))]),
        -np.inf,
        np.where(sleeps, 0.0, 1.0),
    )


def _memory_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(5a) Memory of each node; a node that can sleep has it only while awake."""
    sy = slot.system
    sleepers = np.flatnonzero(sy.can_sleep)
    m.rows(
        sy.n_nodes,
        np.concatenate([slot.pn, sleepers]),
        np.concatenate([cols.x, cols.a[sleepers]]),
        np.concatenate([sy.service_memory[slot.ps], -sy.memory[sleepers]]),
        -np.inf,
        np.where(sy.can_sleep, 0.0, sy.memory),
    )


def _awake_instance_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(5b) An instance keeps its node awake: ``x_p - a_n(p) <= 0``."""
    idx = np.flatnonzero(slot.system.can_sleep[slot.pn])
    ai = np.arange(idx.size)
    m.rows(
        idx.size,
        np.concatenate([ai, ai]),
        np.concatenate([cols.x[idx], cols.a[slot.pn[idx]]]),
        _pm(idx.size),
        -np.inf,
        0.0,
    )


def _asleep_load_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(5c) A sleeping node carries no load: ``load_n <= rho_max C_n a_n``."""
    sy = slot.system
    sleepers = np.flatnonzero(sy.can_sleep)
    ns = sleepers.size
    an = np.arange(ns)
    m.rows(
        ns,
        np.concatenate([an, an]),
        np.concatenate([cols.load[sleepers], cols.a[sleepers]]),
        np.concatenate([np.ones(ns), -sy.admission_utilisation * sy.capacity[sleepers]]),
        -np.inf,
        0.0,
    )


def _radio_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(6) Radio cells, uplink then downlink: the bits sent fit at the network cap."""
    sy, inputs = slot.system, slot.inputs
    rem_r = np.flatnonzero(slot.remote)
    ro, lam_r = slot.ro[rem_r], slot.lam_r[rem_r]
    for mbit, rate in (
        (sy.input_mbit[slot.rs], inputs.uplink_mbps),
        (sy.output_mbit[slot.rs], inputs.downlink_mbps),
    ):
        m.rows(
            sy.n_origins,
            ro,
            cols.y[rem_r],
            lam_r * mbit[rem_r],
            -np.inf,
            slot.cap * rate * sy.slot_s,
        )


def _wired_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """(7) Wired links, both directions: the bits sent fit at the network cap."""
    sy = slot.system
    if not sy.n_links:
        return
    R = slot.ro.size
    hops = sy.path_links[slot.ro * sy.n_candidates + slot.rk]  # [R, H]
    real = hops < sy.n_links
    hr = np.repeat(np.arange(R), real.sum(axis=1))
    for mbit in (sy.input_mbit[slot.rs], sy.output_mbit[slot.rs]):
        m.rows(
            sy.n_links,
            hops[real],
            cols.y[hr],
            (slot.lam_r * mbit)[hr],
            -np.inf,
            slot.cap * sy.link_capacity * sy.slot_s,
        )


def _path_rows(
    m: LinearModel, slot: _Slot, cols: _Columns, pc: PathColumns, starts: dict[str, int]
) -> None:
    """The path columns in the rows above, and their own rows.

    Each path's share joins its demand row (1), its steps' work the load rows of their nodes
    (3), its radio transfers the cell's rows (6) and its wired transfers the links' rows (7).
    Its own rows: (8) paths only through running instances: per (origin, service) demand and
    node, the paths using the node send at most the instance, ``sum_p y_p - x_i <= 0`` (their
    shares sum to at most 1; tighter than one row per path); (9) on a tiered node the whole
    load (paths included) fits under the node's tier, ``load_n - sum_l t_l C_n z[n, l] <= 0``,
    so that the failure bounds at that tier hold with every load on the node; (10) a tiered
    path's share is split by tier, ``y_p = sum_l h[p, l]``; (11) its share in tier ``l`` needs
    each of its nodes at tier ``l`` or tighter, per demand and node as in (8),
    ``sum_p h[p, l] - sum_{l' >= l} z[n, l'] <= 0`` (tiers run loosest first).
    """
    pp = slot.paths
    assert pp is not None
    if not pp.size:
        return
    path_cols = pc.y
    sy = slot.system
    O, N, L = sy.n_origins, sy.n_nodes, sy.n_links
    lam = slot.lam[pp.origin, pp.service]
    pairs = slot.demand_pairs
    pair_row = np.full((O, sy.n_services), -1, dtype=np.int64)
    pair_row[pairs[:, 0], pairs[:, 1]] = np.arange(pairs.shape[0])
    m.entries(starts["_demand_rows"] + pair_row[pp.origin, pp.service], path_cols, np.ones(pp.size))
    wp = pp.work_path
    m.entries(
        starts["_load_rows"] + pp.work_node,
        path_cols[wp],
        -lam[wp] * pp.work_gcycles / sy.slot_s,
    )
    radio = starts["_radio_rows"]
    m.entries(radio + pp.origin, path_cols, lam * pp.up_mbit)
    m.entries(radio + O + pp.origin, path_cols, lam * pp.down_mbit)
    if L:
        lk = pp.link_path
        m.entries(
            starts["_wired_rows"] + pp.link_dir * L + pp.link,
            path_cols[lk],
            lam[lk] * pp.link_mbit,
        )
    key, first, of = _demand_node_groups(slot)
    G = key.size
    m.rows(
        G,
        np.concatenate([of, np.arange(G)]),
        np.concatenate([path_cols[wp], cols.x[slot.path_inv[first]]]),
        np.concatenate([np.ones(wp.size), -np.ones(G)]),
        -np.inf,
        0.0,
    )
    tier_nodes = cols.tier_nodes
    if tier_nodes.size:
        used = np.zeros(N, dtype=bool)
        used[pp.work_node] = True
        tn = tier_nodes[used[tier_nodes]]
        T = slot.levels.size
        at = np.arange(tn.size)
        m.rows(
            tn.size,
            np.concatenate([at, np.repeat(at, T)]),
            np.concatenate([cols.load[tn], cols.z[tn].ravel()]),
            np.concatenate(
                [np.ones(tn.size), -(sy.capacity[tn][:, None] * slot.levels[None, :]).ravel()]
            ),
            -np.inf,
            0.0,
        )
    _path_tier_rows(m, slot, cols, pc)


def _path_tier_rows(m: LinearModel, slot: _Slot, cols: _Columns, pc: PathColumns) -> None:
    """Rows (10) and (11) of :func:`_path_rows`."""
    pp = slot.paths
    assert pp is not None
    tp = pc.tiered
    if not tp.size:
        return
    T = slot.levels.size
    _split_by_tier(m, pc.y[tp], pc.h, T)
    row_of = np.full(pp.size, -1, dtype=np.int64)
    row_of[tp] = np.arange(tp.size)
    _, first, of = _demand_node_groups(slot)
    e = np.flatnonzero(row_of[pp.work_path] >= 0)  # (tiered path, node) entries
    groups, g_of = np.unique(of[e], return_inverse=True)  # (demand, node) groups with them
    n = pp.work_node[first[groups]]
    ll, lp = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    pairs_l, pairs_lp = ll[lp >= ll], lp[lp >= ll]  # (l, l' >= l)
    G = groups.size
    row = np.arange(G * T).reshape(G, T)
    m.rows(
        G * T,
        np.concatenate([row[g_of].ravel(), row[:, pairs_l].ravel()]),
        np.concatenate([pc.h[row_of[pp.work_path[e]]].ravel(), cols.z[n][:, pairs_lp].ravel()]),
        np.concatenate([np.ones(e.size * T), -np.ones(G * pairs_l.size)]),
        -np.inf,
        0.0,
    )


def _demand_node_groups(slot: _Slot) -> tuple[IntArray, IntArray, IntArray]:
    """The (origin, service, node) groups of the paths' instance entries.

    Returns each group's key, its first entry and the group of each entry.
    """
    pp = slot.paths
    assert pp is not None
    sy = slot.system
    wp = pp.work_path
    flat = (pp.origin[wp] * sy.n_services + pp.service[wp]) * sy.n_nodes + pp.work_node
    key, first, of = np.unique(flat, return_index=True, return_inverse=True)
    return key, first, of


def _pm(k: int) -> FloatArray:
    """``k`` ones then ``k`` minus ones: the values of ``k`` rows ``col_a - col_b``."""
    return np.concatenate([np.ones(k), -np.ones(k)])


def _full(count: int, value: FloatArray | float) -> FloatArray:
    """``value`` as ``count`` floats (a copy)."""
    return np.broadcast_to(np.asarray(value, dtype=float), (count,)).copy()


# ---------------------------------------------------------------------------------------------
# Between column values and decisions


def decision_of(system: System, built: BuiltModel, values: FloatArray) -> Decision:
    """The decision that column ``values`` encode (routing only to the instances it runs)."""
    ro, rs, rk = built.routes
    x = np.zeros((system.n_services, system.n_nodes), dtype=bool)
    on = values[built.x] > 0.5
    x[built.pairs[on, 0], built.pairs[on, 1]] = True
    routing = np.zeros((system.n_origins, system.n_services, system.n_candidates))
    share = np.clip(values[built.y], 0.0, 1.0)
    share = np.where(x[rs, system.candidates[ro, rk]], share, 0.0)
    routing[ro, rs, rk] = share
    total = routing.sum(axis=-1, keepdims=True)
    routing /= np.maximum(total, 1.0)
    if built.paths is None:
        return Decision(deployment=x, routing=routing)
    paths, path_shares = _paths_of(system, built, values, x)
    return Decision(deployment=x, routing=routing, paths=paths, path_shares=path_shares)


PATH_SHARE = 1e-9
"""Least share of a path column that the decision sends along the path."""


def _paths_of(
    system: System, built: BuiltModel, values: FloatArray, x: BoolArray
) -> tuple[IntArray, FloatArray]:
    """The twin's ``paths [O, S, P, Q]`` and ``path_shares [O, S, P]`` of the path columns.

    Only paths whose every instance runs in ``x``; each demand's shares sum to at most 1.
    """
    pp = built.paths
    assert pp is not None
    assert system.chains is not None
    O, S = system.n_origins, system.n_services
    Q = system.chains.n_max_steps
    share = np.clip(values[built.path_cols], 0.0, 1.0)
    missing = ~x[pp.service[pp.work_path], pp.work_node]
    runs = np.ones(pp.size, dtype=bool)
    runs[pp.work_path[missing]] = False
    take = np.flatnonzero(runs & (share > PATH_SHARE))
    group = pp.origin[take] * S + pp.service[take]
    order = np.argsort(group, kind="stable")
    take, group = take[order], group[order]
    first = np.searchsorted(group, group)  # first entry of each one's group
    rank = np.arange(take.size) - first
    P = int(rank.max()) + 1 if take.size else 1
    paths = np.full((O, S, P, Q), -1, dtype=np.int64)
    shares = np.zeros((O, S, P))
    paths[pp.origin[take], pp.service[take], rank] = pp.steps[take]
    shares[pp.origin[take], pp.service[take], rank] = share[take]
    total = shares.sum(axis=-1, keepdims=True)
    shares /= np.maximum(total, 1.0)
    return paths, shares


def deployment_columns(built: BuiltModel, deployment: BoolArray) -> FloatArray:
    """Values of the instance and awake columns that encode ``deployment``.

    Instances the model has no column for are left out.
    """
    on = np.asarray(deployment, dtype=bool)[built.pairs[:, 0], built.pairs[:, 1]]
    awake = np.zeros(built.a.size, dtype=bool)
    np.logical_or.at(awake, built.pairs[on, 1], True)
    return np.concatenate([on * 1.0, awake[built.a >= 0] * 1.0])


def deployment_values(built: BuiltModel, deployment: BoolArray) -> FloatArray:
    """Column values of ``deployment`` with nothing routed (every demand rejected)."""
    values = np.zeros(built.model.n_cols)
    values[built.deployment_cols] = deployment_columns(built, deployment)
    return values
