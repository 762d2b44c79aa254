"""OPT: the per-slot optimum of deployment and traffic distribution, as a MILP solved by HiGHS.

Seed 002 benchmarks its learning orchestrator against an offline "approximate optimal solution".
Here the slot's joint decision is a mixed-integer linear programme over

- ``x[s, n]`` binary: an instance of service ``s`` runs on node ``n``;
- ``y[o, s, k]`` in [0, 1]: the share of origin ``o``'s demand for ``s`` sent to its candidate
  ``k`` (only routes whose deadline can be met); ``u[o, s]`` the rejected share;
- ``z[n, l]`` binary: node ``n`` runs in utilisation tier ``t_l`` (at most one tier per node;
  ``t_0`` is the admission limit), and ``h[r, l]`` in [0, 1] the share of route ``r`` sent
  while its node is in tier ``l`` (``y = sum_l h``); ``load[n]`` the node's compute load;
- ``a[n]`` binary: a node that can sleep is awake.

It minimises the twin's objective, energy + ``penalty`` per unsatisfied task, with the twin's
linear energy terms (idle or sleep, load-proportional, instance keep-alive, cold starts, radio
air time and base-station energy per bit, wired energy per bit), under node memory and compute
capacity (``admission_utilisation``), radio and wired capacity (``network_utilisation``), and
routing only to running instances.

**Satisfaction, per node.** On the twin's processor-sharing node every task's sojourn is
exponential with rate ``(C - load) / w``, so a node's admitted load bounds the queueing of all
its tasks at once: at utilisation ``<= t`` a task of route ``r`` (slack ``q_r``: deadline minus
round-trip delay and transfers at the network utilisation cap) fails with probability at most
``f_r(t) = exp(-(1 - t) C q_r / w)``. A node in tier ``l`` carries at most ``t_l C`` (the
load of its routes' tier-``l`` shares), and each task is charged ``f_r(t_l)``: per route and
tier the charge is linear, and splitting the shares by tier (with ``h[r, l] <= z[n, l]``)
gives a far tighter relaxation than per-instance headroom binaries. Only nodes
where some route saves a material share of the penalty below the admission limit get tiers
(the others are charged ``f_r`` at the limit). Tasks sent to an instance that was not running
before meet its cold start with probability ``min(t_cold / slot, 1)`` and are charged as failed.
The planner's objective is therefore an upper bound on the twin's score of the same decision:
energy and served tasks agree exactly, and the twin satisfies at least as many tasks as
planned; the bound is tight where the failure charge is small (see the tests).

**Across slots.** Starting an instance costs its start energy and the tasks that meet its cold
start, which a one-slot plan would never pay back: the plan spreads it over ``amortise_slots``
slots. Removing an instance that ran is charged ``removal_weight`` times what restarting it
would cost (:func:`restart_cost`), and every instance that ran is a column even when its
service has no demand in the slot; without both the plan removes instances in every dip of
their demand and restarts them a few slots later, each time at a cold start.

**Solving.** The LP relaxation first: its optimum is the slot's bound, and its solution where it is
integral. Each route's tier shares carry variable upper bounds ``h[r, l] <= z[n, l]``: with them
the relaxation of a case-study slot is within a few per cent of the optimum (exact at light load;
1-3 % below it on loaded slots). Those bounds are lazy in the relaxation: it is solved without them
and the ones its optimum violates are added, a few hundred of 12 k, until none is
(:func:`_solve_relaxation`; 0.22 against 0.39 s). Then RENS (Berthold's relaxation enforced
neighbourhood search): the binaries the relaxation sets to 0 or 1 are fixed there and HiGHS solves
the MILP over the fractional ones, a few dozen, exactly. On loaded slots RENS's point is often
0.4-1 % above the optimum, which starts instances the relaxation leaves at 0 or drops ones it
keeps. With the gap open, the reduced-cost neighbourhood solves the MILP again with only the
binaries costliest to move fixed (the 70 % with the largest reduced cost of those the relaxation
sets and the best point agrees with): on eight loaded slots measured it found the optimum or a
point within 0.1 % of it in 0.3-0.9 s, and on three of them closed the gap to the relaxation's
bound. With the gap still open and time left, HiGHS's branch and cut starts from the best point,
with the binaries whose reduced cost in the relaxation exceeds the gap fixed where they are (exact:
moving one costs more than the gap); its own reduced-cost fixing and restarts then shrink the model
and close most loaded slots, at the root node (HiGHS's own RINS and RENS are left out there,
:data:`SKIPPED_HEURISTICS`). The gap of a loaded slot lies in the instance binaries (with the
instances fixed at the optimum's, the relaxation is within 0.05 % of it on the measured slots; with
the tiers fixed, 0.3-1.1 % below), and what closes it is HiGHS's cuts at the root and the restarts
they enable, not branching. HiGHS alone from a partial start spent the whole time limit in the
root's cut loop on loaded slots and kept the start.

**Lower bound.** :func:`lower_bound` solves the LP relaxation of an optimistic version (no
failure charge, capacities at ``admission_utilisation``, transfers at zero load): no decision
from the same previous deployment scores below it in the twin.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.twin.costs import REMOVAL_WEIGHT, amortised_objective, restart_cost
from cnc6g.twin.system import FloatArray, IntArray, System, wired_s_per_mbit

try:  # the core class does not print HiGHS's banner on construction (highspy.Highs does)
    from highspy._core import HighsLp, HighsModelStatus, HighsVarType, MatrixFormat
    from highspy._core import _Highs as _HighsSolver
except ImportError:  # pragma: no cover - other highspy layouts
    from highspy import Highs as _HighsSolver
    from highspy import HighsLp, HighsModelStatus, HighsVarType, MatrixFormat

DEFAULT_TIERS = (0.6, 0.4, 0.2)
"""Utilisation tiers a node may commit to below the admission limit (which is always a tier)."""

MATERIAL = 1e-3
"""Least saving (share of the penalty per task) for which a route gets a tier column."""

HEURISTIC_EFFORT = 0.05
"""HiGHS's ``mip_heuristic_effort`` (its default; more did not help at the case-study scale)."""

SKIPPED_HEURISTICS = ("rins", "rens")
"""HiGHS's sub-MIP heuristics left out: the reduced-cost neighbourhood and RENS run before its
branch and cut, and on the loaded case-study slots that branch and cut needs, its own RINS and
RENS found nothing better and took a fifth of its time (median 2.0 against 2.5 s per slot)."""

PHASES = (
    "relaxation",
    "rens",
    "rc_neighbourhood",
    "branch_and_cut",
    "completion",
)
"""Phases of :func:`solve_slot`, in order, as reported in :attr:`Solution.phase_ms`."""

INTEGRAL = 1e-6
"""Distance from 0 or 1 below which the relaxation's value of a binary counts as integral."""

IPM_COLUMNS = 25_000
"""Relaxations with more columns are solved by the interior-point method (with crossover, so
that RENS gets a vertex): at L = 1.2 it took 5.9 s against the dual simplex's 10 s at 42 k columns
(20 cells) and 25 s against 105 s at 101 k (50 cells), but 1.6 s against 1.0 s at 16 k (10)."""

SIMPLEX_STRATEGY = 1
"""HiGHS's ``simplex_strategy`` for the relaxation: the serial dual simplex. The parallel one
(2) is faster on an idle machine (a median 0.30 s against 0.38 s per case-study slot at
L = 1.2), but with one of two cores busy its threads wait on each other: the same relaxations
took 2-30 s or had not finished after 30 s against 0.4 s serial, and every slot ran out of time
in the relaxation."""

RC_NEIGHBOURHOOD = 0.7
"""Share of the binaries the reduced-cost neighbourhood fixes (0: the phase is skipped; see
:func:`_rc_neighbourhood`)."""

REDUCED_COST_FIXING = True
"""Fix, before branch and cut, the binaries whose reduced cost in the relaxation exceeds the
gap (see :func:`_reduced_cost_fixing`)."""

MIN_SEARCH_S = 0.05
"""Least time left (s) for which branch and cut over every binary is still started."""

LAZY_ROUNDS = 8
"""Rounds of adding the violated lazy rows to the relaxation before all the rest are added."""

LAZY_TOLERANCE = 1e-7
"""Violation (relative to the row's activity, at least absolute) at which a lazy row is added:
HiGHS's primal feasibility tolerance."""


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
    source: str = ""  # where the chosen solution came from
    phase_ms: dict[str, float] = field(default_factory=dict)  # solve time by phase


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
    row_lazy: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0
    offset: float = 0.0  # constant cost of the slot
    amortised_offset: float = 0.0  # constant added to the optimised objective only

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
        lazy: bool = False,
    ) -> None:
        """``count`` rows; entry ``i`` puts ``val[i]`` at (row ``row[i]`` of them, ``col[i]``).

        ``lazy`` rows are left out of the LP relaxation until its optimum violates them (see
        :func:`_solve_relaxation`); the MILP always has them.
        """
        self.rows_r.append(np.asarray(row, dtype=np.int64) + self.n_rows)
        self.rows_c.append(np.asarray(col, dtype=np.int64))
        self.rows_v.append(np.asarray(val, dtype=float))
        self.row_lo.append(np.broadcast_to(np.asarray(lo, dtype=float), (count,)).copy())
        self.row_hi.append(np.broadcast_to(np.asarray(hi, dtype=float), (count,)).copy())
        self.row_lazy.append(np.full(count, lazy))
        self.n_rows += count

    slot_costs: FloatArray = field(default_factory=lambda: np.zeros(0))
    rows_csr: tuple[IntArray, IntArray, FloatArray] = field(
        default_factory=lambda: (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    )  # row starts, columns and values of the rows, as passed to HiGHS
    lazy_rows: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

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
class _Built:
    """A built slot model and the maps back to a decision."""

    model: _Model
    routes: tuple[IntArray, IntArray, IntArray]  # o, s, k of each route column
    y: IntArray
    pairs: IntArray  # [P, 2] (s, n) of each instance
    x: IntArray  # [P] column of each instance
    a: IntArray  # [N] awake column of each node (-1: always on)
    z: IntArray  # [N, tiers] tier column of each node (-1: untiered; tier 0 is the limit)
    route_pair: IntArray  # [R] instance of each route
    notes: tuple[str, ...]

    @property
    def deployment_cols(self) -> IntArray:
        """Instance columns, then awake columns: the order of :func:`_deployment_columns`."""
        return np.concatenate([self.x, self.a[self.a >= 0]])

    @property
    def integers(self) -> IntArray:
        """Columns of every binary."""
        return np.concatenate([self.deployment_cols, self.z[self.z >= 0]])


def build_model(
    system: System,
    inputs: SlotInputs,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    optimistic: bool = False,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> _Built:
    """The slot's MILP (or, ``optimistic``, the model whose LP relaxation is a lower bound).

    ``amortise_slots`` spreads what starting an instance costs (its cold-start energy and the
    tasks that meet the cold start) over that many slots in the optimised objective, so that a
    one-slot plan still starts instances that pay off later; ``removal_weight`` charges the
    removal of an instance that ran that share of what restarting it would cost. The model's
    ``slot_cost`` and ``offset`` keep the slot's own costs.
    """
    sy = system
    tau = sy.slot_s
    beta = sy.unsatisfied_penalty_j
    rho_max = sy.admission_utilisation
    cap = rho_max if optimistic else network_utilisation
    transfer_util = 0.0 if optimistic else network_utilisation
    levels = np.array([rho_max, *sorted((t for t in tiers if t < rho_max), reverse=True)])
    if optimistic:
        levels = levels[:1]
    O, S, N, K = sy.n_origins, sy.n_services, sy.n_nodes, sy.n_candidates
    lam = np.asarray(inputs.demand, dtype=float)
    prev = np.asarray(inputs.previous, dtype=bool)
    remote = ~sy.candidate_local & sy.candidate_valid
    notes: list[str] = []
    for s in np.flatnonzero(~sy.can_host.any(axis=1) & (lam.sum(axis=0) > 0)):
        notes.append(f"service {sy.service_names[s]}: no node can host it; its requests drop")

    # Routes: admissible candidates of (origin, service) pairs with demand whose deadline can
    # be met, with transfers at the network cap.
    slow = 1.0 / (1.0 - transfer_util)
    up_s = remote / inputs.uplink_mbps[:, None] * slow  # [O, K] s per Mbit sent
    dn_s = remote / inputs.downlink_mbps[:, None] * slow
    wired = wired_s_per_mbit(sy) * slow
    net = (
        sy.input_mbit[None, :, None] * (up_s + wired)[:, None, :]
        + sy.output_mbit[None, :, None] * (dn_s + wired)[:, None, :]
        + 2.0 * sy.candidate_delay_s[:, None, :]
    )  # [O, S, K]
    slack = sy.deadline_s[None, :, None] - net
    node = sy.candidates  # [O, K]
    ok = sy.admissible & (lam[:, :, None] > 0) & (slack > 0)
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

    # Instances (s, n) that some route uses, and those running before (which may be kept).
    pair_id = rs * N + rn
    kept_ids = np.flatnonzero((prev & sy.can_host).ravel()) if not optimistic else pair_id[:0]
    uniq = np.union1d(pair_id, kept_ids)
    inv = np.searchsorted(uniq, pair_id)
    P = uniq.size
    ps, pn = uniq // N, uniq % N
    lam_r = lam[ro, rs]
    cold_frac = np.where(prev[ps, pn], 0.0, np.minimum(sy.cold_start_s[ps] / tau, 1.0))
    if optimistic:
        cold_frac = np.zeros(P)
    cold_r = cold_frac[inv]
    # Failure bound of each route at each tier, [R, T]; none in the optimistic model.
    rate_slack = sy.capacity[rn] * slack[ro, rs, rk] / sy.work[rs]
    fail = np.exp(-(1.0 - levels)[None, :] * rate_slack[:, None])
    if optimistic:
        fail = np.zeros((R, 1))

    # Route columns y: energy that scales with the tasks sent, the cold-start charge and the
    # failure bound at the admission limit.
    dyn = (sy.peak_power - sy.idle_power) / sy.capacity
    d_in, d_out = sy.input_mbit[rs], sy.output_mbit[rs]
    rem = remote[ro, rk]
    per_task = (
        dyn[rn] * sy.work[rs]
        + rem * (sy.tx_power[ro] * d_in / inputs.uplink_mbps[ro] + sy.bs_j_per_mbit[ro] * d_out)
        + (d_in + d_out) * sy.candidate_j_per_mbit[ro, rk]
        + beta * (1.0 - cold_r) * fail[:, 0]
    )
    y = m.columns(
        R,
        lam_r * (per_task + beta * cold_r / amortise_slots),
        0.0,
        1.0,
        slot_cost=lam_r * (per_task + beta * cold_r),
    )
    D = demand_pairs.shape[0]
    u = m.columns(D, beta * lam[demand_pairs[:, 0], demand_pairs[:, 1]], 0.0, 1.0)

    # Instance columns x. Removing an instance that ran is charged ``removal_weight`` times
    # what starting it again would cost (its start energy and the cold start met by the
    # service's mean demand per instance): without it a one-slot plan drops instances in every
    # dip of their demand and restarts them, each time at a cold start.
    start_cost = np.where(prev[ps, pn], 0.0, sy.instantiation_energy[ps])
    drop = np.where(prev[ps, pn], removal_weight * restart_cost(sy, lam, prev)[ps], 0.0)
    m.amortised_offset = float(np.sum(drop))
    x = m.columns(
        P,
        tau * sy.instance_power[ps] + start_cost / amortise_slots - drop,
        0.0,
        1.0,
        integer=True,
        slot_cost=tau * sy.instance_power[ps] + start_cost,
    )

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

    # Tiers: nodes where some route saves materially below the admission limit choose one
    # tier (binary z[n, l], l = 0 the admission limit itself); the share of each of their
    # routes is split by tier (h[r, l]), and the load of each tier's share fits under it.
    T = levels.size
    saving = beta * (1.0 - cold_r)[:, None] * (fail[:, :1] - fail)  # [R, T], 0 at l = 0
    tiered = np.zeros(N, dtype=bool)
    np.logical_or.at(tiered, rn, (saving > MATERIAL * beta).any(axis=1))
    tier_nodes = np.flatnonzero(tiered)
    z_col = np.full((N, T), -1, dtype=np.int64)
    tr = np.flatnonzero(tiered[rn])  # routes to tiered nodes
    if T > 1 and tier_nodes.size:
        z_col[tier_nodes] = m.columns(tier_nodes.size * T, 0.0, 0.0, 1.0, integer=True).reshape(
            -1, T
        )
        h_col = m.columns(tr.size * T, -(lam_r[tr, None] * saving[tr]).ravel(), 0.0, 1.0)
        h_col = h_col.reshape(-1, T)
    else:
        tier_nodes, tr = tier_nodes[:0], tr[:0]
        h_col = np.zeros((0, T), dtype=np.int64)

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
    # (2) a route only to a running instance: y_r - x_p(r) <= 0.
    ar = np.arange(R)
    m.rows(R, np.concatenate([ar, ar]), np.concatenate([y, x[inv]]), _pm(R), -np.inf, 0.0)
    # (3) node load: load_n - sum_r lam w y / tau = 0.
    m.rows(
        N,
        np.concatenate([np.arange(N), rn]),
        np.concatenate([load, y]),
        np.concatenate([np.ones(N), -lam_r * sy.work[rs] / tau]),
        0.0,
        0.0,
    )
    # (4) tiers: y_r = sum_l h[r, l]; sum_r lam w h[r, l] / tau <= t_l C_n z[n, l];
    # sum_l z[n, l] <= 1.
    if tr.size:
        nt, kt = tier_nodes.size, tr.size
        ak = np.arange(kt)
        m.rows(
            kt,
            np.concatenate([ak, np.repeat(ak, T)]),
            np.concatenate([y[tr], h_col.ravel()]),
            np.concatenate([np.ones(kt), -np.ones(kt * T)]),
            0.0,
            0.0,
        )
        tier_row = np.full((N, T), -1, dtype=np.int64)
        tier_row[tier_nodes] = np.arange(nt * T).reshape(nt, T)
        work_r = np.repeat(lam_r[tr] * sy.work[rs[tr]] / tau, T)
        m.rows(
            nt * T,
            np.concatenate([tier_row[rn[tr]].ravel(), tier_row[tier_nodes].ravel()]),
            np.concatenate([h_col.ravel(), z_col[tier_nodes].ravel()]),
            np.concatenate([work_r, -(sy.capacity[tier_nodes][:, None] * levels[None, :]).ravel()]),
            -np.inf,
            0.0,
        )
        # h[r, l] <= z[n, l]: redundant for the MILP, but without these variable upper bounds
        # the relaxation spreads a route over tiers its node barely takes, and HiGHS spends
        # most of the root node on cuts that restore them. Lazy in the LP relaxation: a few
        # hundred of the 12 k of a case-study slot bind at its optimum.
        kk = kt * T
        ak = np.arange(kk)
        m.rows(
            kk,
            np.concatenate([ak, ak]),
            np.concatenate([h_col.ravel(), z_col[rn[tr]].ravel()]),
            _pm(kk),
            -np.inf,
            0.0,
            lazy=True,
        )
        # sum_l z[n, l] <= 1, or <= a[n] where the node can sleep
        sleeps = a_col[tier_nodes] >= 0
        m.rows(
            nt,
            np.concatenate([np.repeat(np.arange(nt), T), np.flatnonzero(sleeps)]),
            np.concatenate([z_col[tier_nodes].ravel(), a_col[tier_nodes][sleeps]]),
            np.concatenate([np.ones(nt * T), -np.ones(int(sleeps.sum()))]),
            -np.inf,
            np.where(sleeps, 0.0, 1.0),
        )
    # (5) memory; an instance keeps its node awake; a sleeping node carries no load.
    mem_hi = np.where(sy.can_sleep, 0.0, sy.memory)
    m.rows(
        N,
        np.concatenate([pn, sleepers]),
        np.concatenate([x, a_col[sleepers]]),
        np.concatenate([sy.service_memory[ps], -sy.memory[sleepers]]),
        -np.inf,
        mem_hi,
    )
    idx = np.flatnonzero(sy.can_sleep[pn])
    ai = np.arange(idx.size)
    m.rows(
        idx.size,
        np.concatenate([ai, ai]),
        np.concatenate([x[idx], a_col[pn[idx]]]),
        _pm(idx.size),
        -np.inf,
        0.0,
    )
    ns = sleepers.size
    an = np.arange(ns)
    m.rows(
        ns,
        np.concatenate([an, an]),
        np.concatenate([load[sleepers], a_col[sleepers]]),
        np.concatenate([np.ones(ns), -rho_max * sy.capacity[sleepers]]),
        -np.inf,
        0.0,
    )
    # (6) radio cells, both directions.
    rem_r = np.flatnonzero(rem)
    for mbit, rate in ((d_in, inputs.uplink_mbps), (d_out, inputs.downlink_mbps)):
        m.rows(O, ro[rem_r], y[rem_r], lam_r[rem_r] * mbit[rem_r], -np.inf, cap * rate * tau)
    # (7) wired links, both directions.
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
    return _Built(
        m, (ro, rs, rk), y, np.stack([ps, pn], axis=1), x, a_col, z_col, inv, tuple(notes)
    )


def _pm(k: int) -> FloatArray:
    """``k`` ones then ``k`` minus ones: the values of ``k`` rows ``col_a - col_b``."""
    return np.concatenate([np.ones(k), -np.ones(k)])


def _row_entries(start: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Where the entries of ``rows`` lie in a row-wise matrix with row starts ``start``.

    Returns their positions, row by row, and the number of entries of each row.
    """
    length = start[rows + 1] - start[rows]
    first = np.repeat(start[rows] - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return first + np.arange(int(length.sum())), length


def _rows_lp(lp: Any, rows: IntArray, csr: tuple[IntArray, IntArray, FloatArray]) -> Any:
    """``lp`` with only the rows ``rows`` (its columns, costs and bounds)."""
    start, cols, vals = csr
    entries, length = _row_entries(start, rows)
    out = HighsLp()
    out.num_col_ = lp.num_col_
    out.num_row_ = rows.size
    out.col_cost_ = lp.col_cost_
    out.col_lower_ = lp.col_lower_
    out.col_upper_ = lp.col_upper_
    out.row_lower_ = np.asarray(lp.row_lower_)[rows]
    out.row_upper_ = np.asarray(lp.row_upper_)[rows]
    out.offset_ = lp.offset_
    out.a_matrix_.format_ = MatrixFormat.kRowwise
    out.a_matrix_.num_col_ = lp.num_col_
    out.a_matrix_.num_row_ = rows.size
    out.a_matrix_.start_ = np.concatenate([[0], np.cumsum(length)]).astype(np.int32)
    out.a_matrix_.index_ = cols[entries].astype(np.int32)
    out.a_matrix_.value_ = vals[entries]
    return out


def _solve_relaxation(h: Any, lp: Any, model: _Model, deadline: float) -> None:
    """Solve the LP relaxation ``lp`` of ``model`` in ``h``, its lazy rows added once violated.

    The relaxation without the lazy rows is solved first; the lazy rows its optimum violates
    are added and the dual simplex goes on from the optimal basis, until none is violated
    (after :data:`LAZY_ROUNDS` rounds, all the rest are added). The optimum is then the full
    relaxation's, and its duals, with zeros for the rows never added, are optimal for it too.
    On case-study slots at L = 1.2, 200-400 of the 12 k tier-share bounds are added, in 1-7
    rounds, and the relaxation takes a median 0.22 s against 0.39 s with every row. ``deadline``
    is a :func:`time.perf_counter` value.
    """
    lazy = model.lazy_rows
    if lazy.size == 0:
        h.passModel(lp)
        h.run()
        return
    start, cols, vals = model.rows_csr
    h.passModel(_rows_lp(lp, np.setdiff1d(np.arange(lp.num_row_), lazy), model.rows_csr))
    lower = np.asarray(lp.row_lower_)[lazy]
    upper = np.asarray(lp.row_upper_)[lazy]
    entries, length = _row_entries(start, lazy)
    owner = np.repeat(np.arange(lazy.size), length)
    added = np.zeros(lazy.size, dtype=bool)
    for round_ in range(LAZY_ROUNDS + 2):
        h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 1e-3))
        h.run()
        if round_ == 0:  # with rows added, the dual simplex goes on from the basis
            h.setOptionValue("solver", "simplex")
        if h.getModelStatus() != HighsModelStatus.kOptimal:
            return
        values = np.asarray(h.getSolution().col_value, dtype=float)
        activity = np.bincount(owner, vals[entries] * values[cols[entries]], lazy.size)
        tol = LAZY_TOLERANCE * np.maximum(1.0, np.abs(activity))
        new = ~added & ((activity > upper + tol) | (activity < lower - tol))
        if not new.any():
            return
        if round_ >= LAZY_ROUNDS:
            new = ~added
        added |= new
        picked = np.flatnonzero(new)
        take = np.isin(owner, picked)
        counts = length[picked]
        h.addRows(
            picked.size,
            lower[picked],
            upper[picked],
            int(counts.sum()),
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
            cols[entries[take]].astype(np.int32),
            vals[entries[take]],
        )


def _decision(system: System, built: _Built, values: np.ndarray) -> Decision:
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
    return Decision(deployment=x, routing=routing)


def _deployment_columns(built: _Built, deployment: np.ndarray) -> FloatArray:
    """Values of the instance and awake columns that encode ``deployment``.

    Instances the model has no column for are left out.
    """
    on = np.asarray(deployment, dtype=bool)[built.pairs[:, 0], built.pairs[:, 1]]
    awake = np.zeros(built.a.size, dtype=bool)
    np.logical_or.at(awake, built.pairs[on, 1], True)
    return np.concatenate([on * 1.0, awake[built.a >= 0] * 1.0])


def _deployment_values(built: _Built, deployment: np.ndarray) -> FloatArray:
    """Column values of ``deployment`` with nothing routed (every demand rejected)."""
    values = np.zeros(built.model.n_cols)
    values[built.deployment_cols] = _deployment_columns(built, deployment)
    return values


def _new_solver(time_limit: float, mip_rel_gap: float) -> Any:
    h = _HighsSolver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_heuristic_effort", HEURISTIC_EFFORT)
    for heuristic in SKIPPED_HEURISTICS:
        h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
    return h


def _primal(h: Any, n_cols: int) -> np.ndarray | None:
    """The solver's primal values if it found a feasible point."""
    values = np.asarray(h.getSolution().col_value, dtype=float)
    return values if values.size == n_cols and h.getInfo().primal_solution_status == 2 else None


def _complete(
    h: Any,
    built: _Built,
    fixed_cols: IntArray,
    fixed: FloatArray,
    n: int,
    deadline: float = np.inf,
) -> tuple[FloatArray, float] | None:
    """Best values found with the deployment fixed: routing and tiers optimised.

    ``h`` holds the LP relaxation. With the deployment fixed, each node takes the tier the LP
    gives the largest share (or the loosest it uses at all), and the LP is solved again with
    the tiers fixed; the better of the two is returned (only the first once ``deadline``, a
    :func:`time.perf_counter` value, has passed).
    """
    z = built.z[built.z >= 0]
    h.changeColsBounds(fixed_cols.size, fixed_cols, fixed, fixed)
    h.changeColsBounds(z.size, z, np.zeros(z.size), np.ones(z.size))
    h.run()
    relaxed = _primal(h, n)
    if relaxed is None:
        return None
    if z.size == 0:
        return relaxed, float(h.getInfo().objective_function_value)
    best: tuple[FloatArray, float] | None = None
    tried: set[bytes] = set()
    rows = built.z[built.z[:, 0] >= 0]  # [tiered nodes, T]
    share = relaxed[rows]
    used = share.sum(axis=1, keepdims=True) > 1e-6  # asleep nodes take no tier
    first = np.argmax(share > 1e-6, axis=1)  # the loosest tier the relaxation uses
    for pick in (np.argmax(share, axis=1), first):
        if best is not None and time.perf_counter() > deadline:
            break
        level = ((np.arange(rows.shape[1])[None, :] == pick[:, None]) & used).ravel() * 1.0
        if level.tobytes() in tried:
            continue
        tried.add(level.tobytes())
        h.changeColsBounds(z.size, z, level, level)
        h.run()
        values = _primal(h, n)
        if values is not None and (best is None or h.getInfo().objective_function_value < best[1]):
            best = values, float(h.getInfo().objective_function_value)
    return best


def _solve_mip(
    relaxation: Any,
    ints: IntArray,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
    fix: tuple[IntArray, FloatArray, FloatArray] | None = None,
    start: tuple[IntArray, FloatArray] | None = None,
) -> tuple[FloatArray | None, float, float, str]:
    """The relaxation with the columns ``ints`` binary again, solved by HiGHS.

    ``fix`` (columns, lower, upper) bounds some columns; ``start`` (columns, values) is a
    (partial) start. Returns the best values found (``None``: none in time), their objective,
    the dual bound and HiGHS's status.
    """
    h = _new_solver(max(time_limit, 1e-3), mip_rel_gap)
    h.passModel(relaxation)
    kinds = np.full(ints.size, int(HighsVarType.kInteger), dtype=np.uint8)
    h.changeColsIntegrality(ints.size, ints, kinds)
    if fix is not None:
        cols, lower, upper = fix
        h.changeColsBounds(cols.size, cols, lower, upper)
    if start is not None and start[0].size:
        h.setSolution(start[0].size, *start)
    h.run()
    values = _primal(h, n)
    info = h.getInfo()
    objective = float(info.objective_function_value) if values is not None else np.inf
    return values, objective, float(info.mip_dual_bound), h.modelStatusToString(h.getModelStatus())


def _rens(
    relaxation: Any,
    ints: IntArray,
    point: FloatArray,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
) -> tuple[FloatArray | None, float, str]:
    """RENS: the MILP with the binaries the relaxation's ``point`` sets to 0 or 1 fixed there.

    HiGHS solves it over the rest (always feasible: dropping the fractional ones rejects their
    tasks). Returns the best values found (``None``: none in time), their objective and HiGHS's
    status.
    """
    lo = np.where(point >= 1.0 - INTEGRAL, 1.0, 0.0)
    hi = np.where(point <= INTEGRAL, 0.0, 1.0)
    values, objective, _, status = _solve_mip(
        relaxation, ints, time_limit, mip_rel_gap, n, fix=(ints, lo, hi)
    )
    return values, objective, status


def _rc_neighbourhood(
    relaxation: Any,
    ints: IntArray,
    point: FloatArray,
    reduced: FloatArray,
    incumbent: FloatArray,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
) -> tuple[FloatArray | None, float]:
    """The MILP around the relaxation, wider than RENS's: only the binaries most costly to move.

    Of the binaries the relaxation's ``point`` sets to 0 or 1 and the ``incumbent`` agrees
    with, the share :data:`RC_NEIGHBOURHOOD` with the largest reduced cost (``reduced``, the
    least the relaxation's bound rises per unit moved) is fixed; HiGHS solves the MILP over the
    rest from the incumbent. RENS fixes every binary the relaxation sets, and on loaded slots
    the optimum starts instances the relaxation leaves at 0 or sleeps ones it keeps. Returns
    the best values found (``None``: none) and their objective.
    """
    value = np.round(point)
    integral = np.abs(point - value) <= INTEGRAL
    agree = integral & (np.abs(incumbent[ints] - value) < 0.5)
    score = np.where(agree, np.abs(reduced), -np.inf)
    order = np.argsort(-score, kind="stable")[: int(RC_NEIGHBOURHOOD * ints.size)]
    order = order[np.isfinite(score[order])]
    lo, hi = np.zeros(ints.size), np.ones(ints.size)
    lo[order] = hi[order] = value[order]
    start = (np.arange(n, dtype=np.int32), incumbent)
    values, objective, _, _ = _solve_mip(
        relaxation, ints, time_limit, mip_rel_gap, n, fix=(ints, lo, hi), start=start
    )
    return values, objective


def _reduced_cost_fixing(
    point: FloatArray, reduced: FloatArray, incumbent: FloatArray, gap: float
) -> tuple[FloatArray, FloatArray]:
    """Bounds of the binaries that no solution better than the incumbent can change.

    A binary at a bound of the relaxation's optimum with reduced cost ``d`` costs at least
    ``|d|`` more than the relaxation's bound when moved off it, so where ``|d|`` exceeds
    ``gap`` (incumbent minus bound) every better solution keeps it there (the incumbent too,
    which is checked). Returns the lower and upper bounds of the binaries.
    """
    margin = gap + 1e-7 * max(1.0, abs(gap))
    at0 = (point <= INTEGRAL) & (reduced > margin) & (incumbent < 0.5)
    at1 = (point >= 1.0 - INTEGRAL) & (-reduced > margin) & (incumbent > 0.5)
    return np.where(at1, 1.0, 0.0), np.where(at0, 0.0, 1.0)


def solve_slot(
    system: System,
    inputs: SlotInputs,
    *,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-3,
    warm: Decision | Sequence[Decision] | None = None,
    optimistic: bool = False,
    relax: bool = False,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> Solution:
    """Build and solve one slot; ``relax`` solves the LP relaxation instead of the MILP.

    The MILP is solved in phases within ``time_limit`` seconds after the build, until the
    relative gap to the relaxation's bound is below ``mip_rel_gap``: the LP relaxation
    (``relaxation``; its optimum is the bound, and the answer where it is integral); RENS
    (``rens``: the binaries the relaxation sets to 0 or 1 are fixed there and HiGHS solves the
    rest exactly); with the gap open, the reduced-cost neighbourhood (``rc_neighbourhood``:
    only the binaries costliest to move fixed, :func:`_rc_neighbourhood`); then, with time left
    and the gap still open, HiGHS's branch and cut over
    every binary from the best point found (``branch_and_cut``; with no point, from the
    deployment of the first of ``warm`` as a partial start), which may also raise the bound.
    Should nothing be found in time, the deployments in ``warm`` are completed in the LP
    relaxation with their deployment fixed and the best is returned (``completion``); with no
    ``warm`` either, an empty decision.
    """
    start = time.perf_counter()
    built = build_model(
        system, inputs, tiers, network_utilisation, optimistic, amortise_slots, removal_weight
    )
    n = built.model.n_cols
    relaxation, integer = built.model.to_lp(relax=True)
    built_at = time.perf_counter()
    is_mip = bool(integer.any()) and not relax
    warm_list = [warm] if isinstance(warm, Decision) else list(warm or ())
    fixed_cols = built.deployment_cols

    def left() -> float:
        return time_limit - (time.perf_counter() - built_at)

    phase_ms: dict[str, float] = {}

    def lap(phase: str, since: float) -> float:
        now = time.perf_counter()
        phase_ms[phase] = (now - since) * 1e3
        return now

    # The LP relaxation: the bound, and the point the rounding neighbourhood is taken around.
    h = _new_solver(time_limit, mip_rel_gap)
    if n > IPM_COLUMNS:
        h.setOptionValue("solver", "ipm")
    else:
        h.setOptionValue("simplex_strategy", SIMPLEX_STRATEGY)
    _solve_relaxation(h, relaxation, built.model, built_at + time_limit)
    status = h.modelStatusToString(h.getModelStatus())
    lp_values = _primal(h, n) if status == "Optimal" else None
    lp_obj = float(h.getInfo().objective_function_value) if lp_values is not None else -np.inf
    clock = lap("relaxation" if is_mip else "lp", built_at)
    best: FloatArray | None = None
    best_obj, bound, source = np.inf, lp_obj, "relaxation"
    if not is_mip:
        best, best_obj = lp_values, lp_obj
    elif lp_values is not None:
        ints = np.flatnonzero(integer).astype(np.int32)
        point = lp_values[ints]
        reduced = np.asarray(h.getSolution().col_dual, dtype=float)[ints]  # reduced costs
        if not ((point > INTEGRAL) & (point < 1.0 - INTEGRAL)).any():
            best, best_obj = lp_values, lp_obj  # the relaxation's optimum is integral
        else:
            best, best_obj, status = _rens(relaxation, ints, point, left(), mip_rel_gap, n)
            source = "rens" if best is not None else source
            clock = lap("rens", clock)
            gap_open = best is None or best_obj - bound > mip_rel_gap * abs(best_obj)
            if RC_NEIGHBOURHOOD > 0 and gap_open and best is not None and left() > MIN_SEARCH_S:
                found, found_obj = _rc_neighbourhood(
                    relaxation, ints, point, reduced, best, left(), mip_rel_gap, n
                )
                if found is not None and found_obj < best_obj - 1e-9:
                    best, best_obj, source = found, found_obj, "rc neighbourhood"
                clock = lap("rc_neighbourhood", clock)
                gap_open = best_obj - bound > mip_rel_gap * abs(best_obj)
            if gap_open and left() > MIN_SEARCH_S:
                if best is not None:  # from the best point found
                    start_cols, start_values = np.arange(n, dtype=np.int32), best
                elif warm_list:  # from the first given deployment, for HiGHS to complete
                    start_cols = fixed_cols.astype(np.int32)
                    start_values = _deployment_columns(built, np.asarray(warm_list[0].deployment))
                else:
                    start_cols, start_values = np.zeros(0, dtype=np.int32), np.zeros(0)
                fix = None
                if REDUCED_COST_FIXING and best is not None:
                    fix = (
                        ints,
                        *_reduced_cost_fixing(point, reduced, best[ints], best_obj - lp_obj),
                    )
                # HiGHS's branch and cut over every binary from a (partial) start
                found, found_obj, dual, status = _solve_mip(
                    relaxation, ints, left(), mip_rel_gap, n, fix, (start_cols, start_values)
                )
                if found is not None and found_obj < best_obj - 1e-9:
                    best, best_obj, source = found, found_obj, "branch and cut"
                bound = max(bound, dual)
                clock = lap("branch_and_cut", clock)
            if best is not None and best_obj - bound <= mip_rel_gap * abs(best_obj):
                status = "Optimal"
    if is_mip and best is None and warm_list:
        # No solution in time: complete the given deployments (routing and tiers optimised).
        hl = _new_solver(60.0, mip_rel_gap)
        hl.passModel(relaxation)
        for i, given in enumerate(warm_list):
            if best is not None and left() < 0:
                break  # the first is always completed, so that a decision exists
            fixed = _deployment_columns(built, np.asarray(given.deployment))
            values = _complete(hl, built, fixed_cols, fixed, n, built_at + time_limit)
            if values is not None and values[1] < best_obj:
                best, best_obj = values
                source = f"given {i} completed"
        lap("completion", clock)
    gap = 0.0
    if is_mip:
        gap = (best_obj - bound) / max(abs(best_obj), 1e-9) if best is not None else np.inf
    solved_at = time.perf_counter()
    slot_objective = np.inf
    notes = built.notes
    if best is not None:
        decision = _decision(system, built, best)
        slot_objective = float(built.model.slot_costs @ best + built.model.offset)
    elif warm_list:
        decision = warm_list[0]
        notes = (*notes, f"no solution within {time_limit} s: kept the given decision")
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
        source=source,
        phase_ms=phase_ms,
    )


def plan_deployment(
    system: System,
    inputs: SlotInputs,
    deployment: np.ndarray,
    *,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    time_limit: float = 30.0,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> Solution:
    """The plan's best completion of a fixed ``deployment``: routing and tiers optimised.

    Exact (a MILP over the tier binaries only), so that OPT's plan can be compared with the
    plan of any policy's deployment. Instances the model has no route to are left out.
    """
    start = time.perf_counter()
    built = build_model(
        system, inputs, tiers, network_utilisation, False, amortise_slots, removal_weight
    )
    n = built.model.n_cols
    mip, integer = built.model.to_lp(relax=False)
    built_at = time.perf_counter()
    fixed_cols = built.deployment_cols
    fixed = _deployment_columns(built, deployment)
    h = _new_solver(time_limit, 0.0)
    h.passModel(mip)
    h.changeColsBounds(fixed_cols.size, fixed_cols, fixed, fixed)
    h.run()
    values = _primal(h, n)
    if values is None:  # only when the time runs out: dropping everything is always feasible
        values = _deployment_values(built, deployment)
    return Solution(
        decision=_decision(system, built, values),
        objective=float(built.model.slot_costs @ values + built.model.offset)
        if h.getInfo().primal_solution_status == 2
        else float("inf"),
        bound=float(h.getInfo().mip_dual_bound),
        gap=float(h.getInfo().mip_gap),
        status=h.modelStatusToString(h.getModelStatus()),
        build_ms=(built_at - start) * 1e3,
        solve_ms=(time.perf_counter() - built_at) * 1e3,
        notes=built.notes,
        columns=n,
        rows=built.model.n_rows,
        integers=int(integer.sum()),
        source="deployment fixed",
    )


def lower_bound(system: System, inputs: SlotInputs) -> float:
    """A lower bound on the twin's objective of any decision for this slot, J.

    The LP relaxation of the optimistic model: every task served counts as satisfied, capacities
    are at the admission utilisation, transfers at zero load, instances and awake nodes may be
    fractional.
    """
    return solve_slot(system, inputs, optimistic=True, relax=True).objective


def twin_scores(
    system: System,
    obs: Observation,
    decisions: Sequence[Decision],
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> FloatArray:
    """The twin's objective of each decision for the slot of ``obs``, J, ``[len(decisions)]``.

    Starting and removing instances are charged as in the plan
    (:func:`~cnc6g.twin.dynamics.amortised_objective`).
    """
    x = np.stack([np.asarray(d.deployment, dtype=bool) for d in decisions])
    y = np.stack([np.asarray(d.routing, dtype=float) for d in decisions])
    prev = np.broadcast_to(np.asarray(obs.deployment, dtype=bool), x.shape)

    def rep(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(a, dtype=float)[None], len(decisions), axis=0)

    return amortised_objective(
        system,
        rep(obs.demand),
        rep(obs.uplink_mbps),
        rep(obs.downlink_mbps),
        x,
        prev,
        y,
        amortise_slots,
        removal_weight,
    )


class OptimalPolicy(Policy):
    """OPT: solve the slot's MILP with global information (HiGHS).

    Args:
        time_limit: seconds per slot; the best decision found so far is used when it runs out.
        mip_rel_gap: relative gap at which HiGHS stops.
        tiers: utilisation tiers (in (0, 1)) a node may commit to for the satisfaction model.
        network_utilisation: utilisation cap of radio and wired links in the plan.
        warm_start: keep the previous slot's decision and GRD's decision of the same slot at
            hand, ordered by their twin score: the solver's fallback (branch and cut starts
            from the better one's deployment, and it is completed should nothing be found in
            time) and, with ``twin_check``, the decisions the solver's must beat.
        amortise_slots: slots over which the plan spreads the cost of starting an instance.
        removal_weight: share of what restarting an instance would cost (:func:`restart_cost`)
            charged for removing one that ran. A one-slot plan without it removes instances
            in every dip of their demand and restarts them at a cold start each.
        twin_check: score the solver's decision, GRD's decision of the slot and the previous
            decision in the twin (cold starts and removals charged as in the plan) and apply
            the best. The plan is an upper bound on the twin's score and can be
            loose where it rounds a node's load up to its tier; this makes OPT's slot never
            worse in the twin than GRD's on the same inputs.
    """

    name = "opt"

    def __init__(
        self,
        time_limit: float = 5.0,
        mip_rel_gap: float = 1e-3,
        tiers: tuple[float, ...] = DEFAULT_TIERS,
        network_utilisation: float = 0.8,
        warm_start: bool = True,
        amortise_slots: float = 10.0,
        removal_weight: float = REMOVAL_WEIGHT,
        twin_check: bool = True,
    ) -> None:
        if time_limit <= 0 or not 0 <= mip_rel_gap < 1:
            raise ValueError("time_limit must be > 0 and mip_rel_gap in [0, 1)")
        if not tiers or not all(0 < t < 1 for t in tiers):
            raise ValueError("tiers must be utilisations in (0, 1)")
        if not 0 < network_utilisation < 1:
            raise ValueError("network_utilisation must be in (0, 1)")
        if amortise_slots < 1:
            raise ValueError("amortise_slots must be >= 1")
        if removal_weight < 0:
            raise ValueError("removal_weight must be >= 0")
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.tiers = tuple(tiers)
        self.network_utilisation = network_utilisation
        self.warm_start = warm_start
        self.amortise_slots = amortise_slots
        self.removal_weight = removal_weight
        self.twin_check = twin_check

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the previous solution."""
        super().reset(system, seed)
        self._last: Decision | None = None
        self._greedy = GreedyPolicy()
        self._greedy.reset(system, seed)
        self._picked = "solver"
        self.last_solution: Solution | None = None

    def decide(self, obs: Observation) -> Decision:
        """Solve this slot's MILP."""
        warm: list[Decision] = []
        if self.warm_start:
            warm = [self._greedy.decide(obs)]
            if self._last is not None:
                warm.insert(0, self._last)
        scores = np.zeros(0)
        if warm:  # the better of GRD's and the previous decision in the twin starts the search
            scores = twin_scores(self.system, obs, warm, self.amortise_slots, self.removal_weight)
            order = np.argsort(scores, kind="stable")
            warm, scores = [warm[i] for i in order], scores[order]
        solution = solve_slot(
            self.system,
            SlotInputs.from_observation(obs),
            tiers=self.tiers,
            network_utilisation=self.network_utilisation,
            time_limit=self.time_limit,
            mip_rel_gap=self.mip_rel_gap,
            warm=warm,
            amortise_slots=self.amortise_slots,
            removal_weight=self.removal_weight,
        )
        self.last_solution = solution
        decision = solution.decision
        self._picked = "solver"
        if self.twin_check and warm:
            own = twin_scores(
                self.system, obs, [decision], self.amortise_slots, self.removal_weight
            )[0]
            if scores[0] < own * (1 - 1e-9):
                decision = warm[0]
                self._picked = "previous" if warm[0] is self._last else "grd"
        self._last = decision
        return decision

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
            "opt_rens": float(s.source == "rens"),
            "opt_rc_neighbourhood": float(s.source == "rc neighbourhood"),
            "opt_branch_and_cut": float(s.source == "branch and cut"),
            "opt_twin_kept_grd": float(self._picked == "grd"),
            "opt_twin_kept_previous": float(self._picked == "previous"),
            **{f"opt_{phase}_ms": s.phase_ms.get(phase, 0.0) for phase in PHASES},
        }
