"""OPT at scale: the slot decomposed by region, a Lagrangian bound and a repaired decision.

The slot's model (:func:`~cnc6g.policies.opt.model.build_model`) is split by region: the
origins are grouped (:func:`region_of_origins`: whole RAN domains, about ``region_cells`` cells
each), each region's *copy* holds the region's own columns (its routes, rejections and tier
shares) and a private copy of the columns of every node its routes reach (instances, load,
awake, tiers). A copy's rows are the model's rows restricted to its columns: the model with
every other region's routes removed. Nodes reached from several regions (the transport and
cloud nodes, and the MEC servers next to a region's border) and the wired links several regions
use are what the regions share; the Lagrangian relaxation prices them:

- the total load of a node (its load column's bound) at a price per gigacycle per second;
- each wired link's capacity at a price per Mbit;
- the agreement of the copies of a shared binary (an instance, an awake node, a tier) by
  splitting its cost among the copies: each copy pays an equal share plus a transfer, the
  transfers of a column summing to zero.

For any prices (loads and links non-negative) the sum of the copies' LP optima, less the priced
capacities, is a lower bound on the model's LP relaxation, hence on its optimum
(:func:`decompose_slot` proves it in its docstring); the prices are improved by a projected
subgradient method with Polyak steps (a fixed number of iterations: work, not time), or taken
from the duals of a master LP over the regions' LP points (``method="master"``,
:mod:`~cnc6g.policies.opt.master`: a bound about three times closer to the LP in the same
iterations, each dearer). The best the prices can give is the model's LP relaxation, so
where that LP fits (``method="lp"``, the default up to :data:`LP_COLUMNS` columns) it is
solved once instead, and the bound certified
from its row duals (:func:`~cnc6g.policies.opt.bound.dual_bound`). The decision is then
recovered from the copies' LP points (the averaged ones of the subgradient method, or each
copy's part of the LP's optimum): the shared binaries some copy wants are the candidates (an
instance wanted at least :data:`SELECT`, within the node's memory), each copy gets a share of
each shared node's capacity and of each shared link's in proportion to its use, and the copies'
MILPs are solved in turn (HiGHS, with a node limit), each opening the candidate instances it
pays for and finding those opened before it running; together they are a feasible point of the
whole model (checked by :func:`row_violation`). Shared instances that carry nothing are then
dropped and idle nodes put to sleep.

Services placed step by step (``place_steps``) take path columns in the model
(:mod:`~cnc6g.policies.opt.chains`); a path column, and its tier shares, belongs to the region
of its origin like a route, and the region's copy holds every node a step of its paths runs on.
A path's terms enter the rows a route's do (its origin's demand and radio rows, the load rows of
its steps' nodes, the wired links its transfers cross) and its own rows pair it with instances
and tiers of its nodes, so the shared nodes and links are coupled and priced exactly as for the
routes, and the bound holds as argued in :func:`decompose_slot`. A path needs an instance on
every node it uses, so a region seldom opens a shared one for its paths alone in the recovery
in turn: with path columns the recovery also solves the copies with every wanted shared
instance running and keeps the cheaper point.

The copies are independent, so they are solved by a :class:`RegionWorker` in this process or,
spread over several, by Ray actors (:mod:`cnc6g.policies.opt.decompose_ray`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies.opt.bound import dual_bound
from cnc6g.policies.opt.highs import (
    HighsLp,
    HighsVarType,
    MatrixFormat,
    new_solver,
    primal,
    sparse_lp,
)
from cnc6g.policies.opt.master import master_prices
from cnc6g.policies.opt.model import (
    DEFAULT_TIERS,
    BuiltModel,
    SlotInputs,
    build_model,
    decision_of,
)
from cnc6g.policies.opt.pricing import initial_groups, solve_priced
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System

DEFAULT_REGION_CELLS = 10
"""Cells (origins) per region, whole RAN domains kept together."""

DEFAULT_ITERATIONS = 30
"""Subgradient iterations of the Lagrangian dual (each solves every region's LP once)."""

DEFAULT_NODE_LIMIT = 200
"""Branch-and-bound nodes each region's MILP may take in the recovery (HiGHS's mip_max_nodes)."""

POLYAK_TARGET = 0.05
"""The Polyak step aims at most this share of its magnitude above the best bound."""

AVERAGE = 0.3
"""Weight of the newest LP point in the moving average the recovery starts from."""

STALL_ITERATIONS = 3
"""Iterations without a better bound after which the step's factor is halved."""

SELECT = 0.05
"""Averaged LP value from which a copy asks for a shared binary."""

REGION_RESTART = False
"""HiGHS's ``mip_allow_restart`` in the recovery's region MILPs. After presolve with the copy's
LP-integral binaries fixed a region MILP is small (at 100 cells about 400 rows and 40 binaries
of 17.5 k rows), and restarting its root after reduced-cost fixing cost more than it saved:
see the docs' scale section for the alternated times."""

RENS_INTEGRAL = 1e-6
"""Distance from 0 or 1 within which a binary of a region's LP is fixed in its MILP."""

SEQUENTIAL = True
"""Whether the recovery solves the copies' MILPs in turn, each opening the shared instances it
pays for (:func:`_open_in_turn`), rather than all at once with every shared instance some copy
wants already running. In turn (one turn) took the gap at 20 cells from 8-11 % to 3-5 % (on the
model without the rows of :mod:`~cnc6g.policies.opt.strengthen`)."""

TURNS = 2
"""Turns the copies take in the recovery in turn (:func:`_open_in_turn`). A second turn took
0.1-0.3 % off the decision at 20 cells, for about a quarter more recovery time."""

METHODS = ("auto", "lp", "priced", "lagrangian", "master")
"""How :func:`decompose_slot` gets its bound and the point the decision is recovered from."""

LP_COLUMNS = 100_000
"""Largest model (columns) whose whole LP relaxation the ``auto`` method solves (about 240 cells
of the scale curve's shape). At 200 cells (83 k columns) the whole LP took 74 s on one core
against 108 s for 30 subgradient iterations and their recovery on two, and certified a gap of
2.4 % against 16.6 %; at 1,000 cells (418 k) it did not end in 34 minutes."""

IPM_FROM = 5_000
"""Columns from which the whole LP relaxation is solved by the interior-point method."""

CROSSOVER = "off"
"""HiGHS's ``run_crossover`` for the interior-point method (the decisions recovered from its
point and from a vertex were the same on the sizes measured; the bound needs no vertex)."""


def region_of_origins(system: System, region_cells: int = DEFAULT_REGION_CELLS) -> IntArray:
    """The region of each origin, ``[O]``: RAN domains in order, about ``region_cells`` each.

    Origins of one RAN domain share its radio and nodes, so they always fall in one region; a
    region is closed once it holds ``region_cells`` origins or more.
    """
    if region_cells < 1:
        raise ValueError("region_cells must be >= 1")
    order = np.lexsort((np.arange(system.n_origins), system.origin_ran))
    labels = np.zeros(system.n_origins, dtype=np.int64)
    region, count, last = 0, 0, -1
    for o in order:
        ran = int(system.origin_ran[o])
        if count >= region_cells and ran != last:
            region, count = region + 1, 0
        labels[o] = region
        count += 1
        last = ran
    return labels


@dataclass(frozen=True, eq=False)
class CopyData:
    """One region's copy of the model, as plain arrays (so that it can be sent to a worker).

    ``cols`` are the model's columns the copy holds (its own first, then the nodes'); its rows
    are the model's rows with an entry among them, restricted to them, in CSR form.
    """

    cols: IntArray
    lower: FloatArray
    upper: FloatArray
    integer: BoolArray
    row_start: IntArray
    row_index: IntArray
    row_value: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    rows: IntArray  # the model's index of each copy row

    def lp(self, cost: FloatArray) -> HighsLp:
        """The copy as a HiGHS LP with column costs ``cost`` (and no offset)."""
        return sparse_lp(
            cost,
            (self.lower, self.upper),
            (self.row_lower, self.row_upper),
            (MatrixFormat.kRowwise, self.row_start, self.row_index, self.row_value),
        )


@dataclass(frozen=True, eq=False)
class PrimalSpec:
    """What a copy's MILP in the recovery is given: costs and bounds of its columns and rows."""

    cost: FloatArray
    lower: FloatArray
    upper: FloatArray
    row_upper: FloatArray
    mip_rel_gap: float
    node_limit: int


class RegionWorker:
    """Solves a set of region copies: their LPs at given costs (warm), and their MILPs.

    Each copy keeps one HiGHS instance for its LP, so that a change of costs starts the
    simplex from the last optimal basis.
    """

    def __init__(self, copies: Sequence[CopyData]) -> None:
        self.copies = list(copies)
        self._lps = []
        for c in self.copies:
            h = new_solver(1e9, 0.0)
            h.passModel(c.lp(np.zeros(c.cols.size)))
            self._lps.append(h)

    def solve_lps(self, costs: Sequence[FloatArray]) -> list[tuple[float, FloatArray | None]]:
        """Each copy's LP optimum at ``costs``: its objective and values (``None``: not optimal)."""
        out: list[tuple[float, FloatArray | None]] = []
        for h, c, cost in zip(self._lps, self.copies, costs, strict=True):
            idx = np.arange(c.cols.size, dtype=np.int32)
            h.changeColsCost(idx.size, idx, np.asarray(cost, dtype=float))
            h.run()
            values = primal(h, c.cols.size)
            if h.modelStatusToString(h.getModelStatus()) != "Optimal" or values is None:
                out.append((-np.inf, None))
                continue
            out.append((float(h.getInfo().objective_function_value), values))
        return out

    def solve_milps(self, specs: Sequence[PrimalSpec | None]) -> list[FloatArray | None]:
        """Each copy's MILP under ``specs`` by RENS: its best values (``None``: none found).

        A copy whose spec is ``None`` is not solved (its result is ``None``).

        The copy's LP is solved first; the binaries it sets to 0 or 1 are fixed there and HiGHS
        solves the MILP over the rest (always feasible: a binary left at 0 only rejects tasks).
        """
        out: list[FloatArray | None] = []
        for c, spec in zip(self.copies, specs, strict=True):
            if spec is None:  # not asked for in this call
                out.append(None)
                continue
            lp = c.lp(spec.cost)
            lp.col_lower_ = spec.lower
            lp.col_upper_ = spec.upper
            lp.row_upper_ = spec.row_upper
            h = new_solver(1e9, 0.0)
            h.passModel(lp)
            h.run()
            relaxed = primal(h, c.cols.size)
            lower, upper = spec.lower.copy(), spec.upper.copy()
            if relaxed is not None:
                ints = c.integer
                lower[ints & (relaxed >= 1.0 - RENS_INTEGRAL)] = 1.0
                upper[ints & (relaxed <= RENS_INTEGRAL)] = 0.0
                lower = np.minimum(lower, upper)
            lp.col_lower_ = lower
            lp.col_upper_ = upper
            if c.integer.any():
                lp.integrality_ = [
                    HighsVarType.kInteger if i else HighsVarType.kContinuous for i in c.integer
                ]
            h = new_solver(1e9, spec.mip_rel_gap, spec.node_limit)
            h.setOptionValue("mip_allow_restart", REGION_RESTART)
            h.passModel(lp)
            h.run()
            out.append(primal(h, c.cols.size))
        return out


Solver = Callable[[Sequence[CopyData]], "RegionSolver"]
"""Makes the solver of a decomposition's copies (in process, or spread over workers)."""


class RegionSolver:
    """Solves all the copies of a decomposition, in this process (one :class:`RegionWorker`)."""

    def __init__(self, copies: Sequence[CopyData]) -> None:
        self.worker = RegionWorker(copies)

    def solve_lps(self, costs: Sequence[FloatArray]) -> list[tuple[float, FloatArray | None]]:
        """See :meth:`RegionWorker.solve_lps`."""
        return self.worker.solve_lps(costs)

    def solve_milps(self, specs: Sequence[PrimalSpec | None]) -> list[FloatArray | None]:
        """See :meth:`RegionWorker.solve_milps`."""
        return self.worker.solve_milps(specs)

    def close(self) -> None:
        """Release the workers (nothing to do in process)."""


@dataclass(frozen=True, eq=False)
class Decomposition:
    """A slot solved by region: the decision, its objective, and the Lagrangian bound."""

    decision: Decision
    objective: float  # the decision's planned cost in this slot, J
    optimised: float  # its value of the optimised (amortised) objective, J
    bound: float  # Lagrangian lower bound on the optimised objective, J
    gap: float  # (optimised - bound) / |optimised|
    regions: int
    iterations: int
    bound_ms: float  # the subgradient iterations
    primal_ms: float  # the recoveries
    build_ms: float
    columns: int
    violation: float  # largest violation of a row or bound by the recovered point
    bounds: tuple[float, ...] = ()  # the Lagrangian value of each iteration
    notes: tuple[str, ...] = ()
    values: FloatArray = field(default_factory=lambda: np.zeros(0))
    method: str = "lagrangian"  # where the bound came from (one of METHODS but "auto")


@dataclass(eq=False)
class _Layout:
    """The model's columns by kind, and the copies of the regions."""

    built: BuiltModel
    cost: FloatArray
    offset: float
    copies: list[CopyData]
    share: list[FloatArray]  # [copy] each column's share of its cost
    multi: list[IntArray]  # [copy] local positions of node binaries other copies hold too
    load_local: list[IntArray]  # [copy] local positions of load columns
    load_node: list[IntArray]  # [copy] their nodes
    in_copies: IntArray  # [n_cols] copies holding each column
    shared_rows: IntArray  # model rows priced in the relaxation (shared link capacities)
    shared_local: list[IntArray]  # [copy] local rows of the shared rows
    shared_which: list[IntArray]  # [copy] their index among the shared rows
    shared_matrix: tuple[IntArray, IntArray, FloatArray]  # shared rows' (row, col, value)
    load_upper: FloatArray  # [N] bound of each node's load column
    col_region: IntArray  # [n_cols] the region of each route-like column (-1: a node's)
    row_regions: tuple[IntArray, IntArray]  # [n_rows] lowest and highest region of each row


def _layout(system: System, built: BuiltModel, regions: IntArray) -> _Layout:
    """Split ``built`` into one copy per region (see the module's docstring)."""
    model = built.model
    lp, integer = model.to_lp(relax=True)
    n = model.n_cols
    cost = np.asarray(lp.col_cost_, dtype=float)
    lower = np.asarray(lp.col_lower_, dtype=float)
    upper = np.asarray(lp.col_upper_, dtype=float)
    G = int(regions.max()) + 1 if regions.size else 1
    ro, _, rk = built.routes
    rn = system.candidates[ro, rk]
    # the region of each route-like column, the node of each node column
    col_region = np.full(n, -1, dtype=np.int64)
    col_region[built.y] = regions[ro]
    col_region[built.u] = regions[built.demand_pairs[:, 0]]
    if built.h.size:
        col_region[built.h] = regions[ro[built.tiered_routes]][:, None]
    pp = built.paths
    if pp is not None:  # a path column (and its tier shares) is its origin's region's
        col_region[built.path_cols] = regions[pp.origin]
        if built.path_h.size:
            col_region[built.path_h] = regions[pp.origin[built.path_tiered]][:, None]
    col_node = np.full(n, -1, dtype=np.int64)
    col_node[built.x] = built.pairs[:, 1]
    col_node[built.load] = np.arange(system.n_nodes)
    awake = built.a >= 0
    col_node[built.a[awake]] = np.flatnonzero(awake)
    tiered = built.z >= 0
    col_node[built.z[tiered]] = np.nonzero(tiered)[0]
    if ((col_region < 0) == (col_node < 0)).any():
        raise RuntimeError("a column of the slot model is neither a region's nor a node's")
    # the nodes each region's copy holds: those its routes and paths reach (a node none reaches
    # goes to one region, so that its columns are in some copy)
    reach = np.zeros((G, system.n_nodes), dtype=bool)
    reach[regions[ro], rn] = True
    if pp is not None:  # and every node a step of its paths runs on
        reach[regions[pp.origin[pp.work_path]], pp.work_node] = True
    unreached = np.flatnonzero(~reach.any(axis=0))
    reach[unreached % G, unreached] = True
    holders = reach.sum(axis=0)  # copies holding each node
    start, rcols, rvals = model.rows_csr
    n_rows = start.size - 1
    row_of = np.repeat(np.arange(n_rows), np.diff(start))
    row_lo = np.asarray(lp.row_lower_, dtype=float)
    row_hi = np.asarray(lp.row_upper_, dtype=float)
    # rows of several regions' routes and no node column: the shared link capacities
    entry_region = col_region[rcols]
    big = np.iinfo(np.int64).max
    lo_region = np.full(n_rows, big)
    np.minimum.at(lo_region, row_of, np.where(entry_region >= 0, entry_region, big))
    hi_region = np.full(n_rows, -1)
    np.maximum.at(hi_region, row_of, entry_region)
    has_node = np.zeros(n_rows, dtype=bool)
    np.logical_or.at(has_node, row_of, col_node[rcols] >= 0)
    shared = (hi_region > lo_region) & (hi_region >= 0) & ~has_node
    if (np.isfinite(row_lo[shared])).any():
        raise RuntimeError("a shared row of the slot model has a lower bound")
    shared_rows = np.flatnonzero(shared)
    shared_id = np.full(n_rows, -1, dtype=np.int64)
    shared_id[shared_rows] = np.arange(shared_rows.size)
    keep = shared[row_of]
    shared_matrix = (shared_id[row_of[keep]], rcols[keep], rvals[keep])
    copies, shares, multis, load_locals, load_nodes = [], [], [], [], []
    shared_locals, shared_whichs = [], []
    in_copies = np.zeros(n, dtype=np.int64)
    for g in range(G):
        own = col_region == g
        mine = own | ((col_node >= 0) & reach[g, np.maximum(col_node, 0)])
        cols = np.flatnonzero(mine)
        in_copies[cols] += 1
        local = np.full(n, -1, dtype=np.int64)
        local[cols] = np.arange(cols.size)
        ent = mine[rcols]
        erow, ecol, eval_ = row_of[ent], local[rcols[ent]], rvals[ent]
        rows = np.unique(erow)
        rlocal = np.searchsorted(rows, erow)
        cstart = np.searchsorted(rlocal, np.arange(rows.size + 1))
        copies.append(
            CopyData(
                cols=cols,
                lower=lower[cols],
                upper=upper[cols],
                integer=integer[cols],
                row_start=cstart,
                row_index=ecol,
                row_value=eval_,
                row_lower=row_lo[rows],
                row_upper=row_hi[rows],
                rows=rows,
            )
        )
        node = col_node[cols]
        share = np.ones(cols.size)
        share[node >= 0] = 1.0 / holders[node[node >= 0]]
        shares.append(share)
        is_load = np.isin(cols, built.load)
        # a node's binaries agree across copies; its load is split among them, not agreed
        multis.append(np.flatnonzero((node >= 0) & ~is_load & (holders[np.maximum(node, 0)] > 1)))
        load_locals.append(np.flatnonzero(is_load))
        load_nodes.append(node[is_load])
        sl = np.flatnonzero(shared[rows])
        shared_locals.append(sl)
        shared_whichs.append(shared_id[rows[sl]])
    return _Layout(
        built=built,
        cost=cost,
        offset=float(lp.offset_),
        copies=copies,
        share=shares,
        multi=multis,
        load_local=load_locals,
        load_node=load_nodes,
        in_copies=in_copies,
        shared_rows=shared_rows,
        shared_local=shared_locals,
        shared_which=shared_whichs,
        shared_matrix=shared_matrix,
        load_upper=upper[built.load],
        col_region=col_region,
        row_regions=(lo_region, hi_region),
    )


def row_violation(built: BuiltModel, values: FloatArray) -> float:
    """The largest violation of a row or column bound of ``built``'s model by ``values``."""
    lp, _ = built.model.to_lp(relax=True)
    start, cols, vals = built.model.rows_csr
    row_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    activity = np.bincount(row_of, vals * values[cols], start.size - 1)
    lo, hi = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    worst = max(
        float(np.max(lo - activity, initial=0.0)),
        float(np.max(activity - hi, initial=0.0)),
        float(np.max(np.asarray(lp.col_lower_) - values, initial=0.0)),
        float(np.max(values - np.asarray(lp.col_upper_), initial=0.0)),
    )
    return worst


def decompose_slot(
    system: System,
    inputs: SlotInputs,
    *,
    regions: IntArray | None = None,
    region_cells: int = DEFAULT_REGION_CELLS,
    iterations: int = DEFAULT_ITERATIONS,
    node_limit: int = DEFAULT_NODE_LIMIT,
    mip_rel_gap: float = 1e-3,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
    optimistic: bool = False,
    solver: Solver = RegionSolver,
    method: str = "auto",
) -> Decomposition:
    """Solve one slot by region: a lower bound and a feasible decision.

    ``regions`` gives the region of each origin (default: :func:`region_of_origins` with
    ``region_cells``); ``iterations`` subgradient iterations price the shared capacities and
    binaries, then each region's MILP (at most ``node_limit`` branch-and-bound nodes, relative
    gap ``mip_rel_gap``) recovers a decision. ``solver`` makes what solves the copies (in this
    process by default; :func:`cnc6g.policies.opt.decompose_ray.ray_solver` spreads them over
    Ray actors). ``optimistic`` decomposes the optimistic model instead (see
    :func:`~cnc6g.policies.opt.bound.lower_bound`): its bound is a bound on the twin's objective
    of any decision, and no decision is recovered (the result's decision is empty and its
    objective infinite). The other arguments are :func:`~cnc6g.policies.opt.model.build_model`'s.

    ``method`` is where the bound and the point the decision is recovered from come from:
    ``"lagrangian"`` the subgradient method on the regions' prices (below), ``"lp"`` the whole
    model's LP relaxation solved once (:func:`_lp_point`: its optimum is the best bound the
    Lagrangian can reach, and on the sizes measured it takes a fraction of the time of the
    subgradient iterations), ``"priced"`` the same LP by route pricing (column generation,
    :mod:`~cnc6g.policies.opt.pricing`: the same optimum and bound; not faster on the systems
    measured), ``"master"`` the regions' prices as the duals of a master LP over the regions'
    LP points (:func:`~cnc6g.policies.opt.master.master_prices`: at most ``iterations`` solves
    of the regions' LPs, as the subgradient method, and it stops where it meets the whole LP),
    ``"auto"`` the LP up to :data:`LP_COLUMNS` columns.

    Why the bound holds: take any point of the model (its LP relaxation) and give each copy its
    region's routes and paths, every node column's value, and the part of each node's load its
    region sends. The copy's rows hold (a node's load, tier and link rows only lose other regions'
    non-negative terms). Each route column is in one copy; each node column's cost is split
    among the copies that hold it, the transfers summing to zero; so the copies' costs sum to
    the point's cost plus, for each priced node and link, its price times its use minus its
    capacity, which is never positive. The copies' optima sum to no more, whatever the prices.
    """
    if iterations < 1:
        raise ValueError("iterations must be >= 1")
    if node_limit < 1:
        raise ValueError("node_limit must be >= 1")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    start = time.perf_counter()
    built = build_model(
        system, inputs, tiers, network_utilisation, optimistic, amortise_slots, removal_weight
    )
    if regions is None:
        regions = region_of_origins(system, region_cells)
    regions = np.asarray(regions, dtype=np.int64)
    if regions.shape != (system.n_origins,) or (regions < 0).any():
        raise ValueError("regions must give a region (>= 0) for each origin")
    _, regions = np.unique(regions, return_inverse=True)
    layout = _layout(system, built, regions)
    built_at = time.perf_counter()
    work = solver(layout.copies)
    try:
        best: list[tuple[float, FloatArray]] = []
        spent = [0.0]  # seconds of the recoveries

        def recover(averages: list[FloatArray]) -> float:
            if optimistic:
                return np.inf
            began = time.perf_counter()
            values = _recover(
                system, layout, work, averages, tiers, mip_rel_gap, node_limit, SEQUENTIAL
            )
            value = float(layout.cost @ values + layout.offset)
            if SEQUENTIAL and built.paths is not None and built.paths.size:
                # A path needs an instance on every node it uses, so that one region seldom
                # pays for a shared one alone: also recover with every wanted one running.
                other = _recover(
                    system, layout, work, averages, tiers, mip_rel_gap, node_limit, False
                )
                other_value = float(layout.cost @ other + layout.offset)
                if other_value < value:
                    values, value = other, other_value
            spent[0] += time.perf_counter() - began
            if not best or value < best[0][0]:
                best[:] = [(value, values)]
            return value

        if method == "auto":
            method = "lp" if built.model.n_cols <= LP_COLUMNS else "lagrangian"
        if method in ("lp", "priced"):
            priced = method == "priced"
            bound, points = _lp_point(system, inputs, layout, regions, priced)
            history = [bound]
            recover(points)
        elif method == "master":
            bound, history = master_prices(layout, work, iterations, recover)
        else:
            bound, history = _dual(layout, work, iterations, recover)
        bound_at = time.perf_counter()
        values = best[0][1] if best else np.zeros(built.model.n_cols)
    finally:
        work.close()
    done = time.perf_counter()
    model = built.model
    optimised = float(layout.cost @ values + layout.offset) if best else np.inf
    objective = float(model.slot_costs @ values + model.offset) if best else np.inf
    return Decomposition(
        decision=decision_of(system, built, values),
        objective=objective,
        optimised=optimised,
        bound=bound,
        gap=max((optimised - bound) / max(abs(optimised), 1e-9), 0.0) if best else np.inf,
        regions=len(layout.copies),
        iterations={"lagrangian": iterations, "master": len(history)}.get(method, 0),
        bound_ms=(bound_at - built_at - spent[0]) * 1e3,
        primal_ms=(done - bound_at + spent[0]) * 1e3,
        build_ms=(built_at - start) * 1e3,
        columns=model.n_cols,
        violation=row_violation(built, values) if best else 0.0,
        bounds=tuple(history),
        notes=built.notes,
        values=values,
        method=method,
    )


def whole_lp(
    system: System, inputs: SlotInputs, built: BuiltModel, priced: bool = False
) -> tuple[float, FloatArray]:
    """``built``'s whole LP relaxation: a certified bound and its optimum (within the bounds).

    Small models are solved by the dual simplex, the others by the interior-point method
    without crossover; ``priced``, by route pricing from a restricted set of routes
    (:func:`~cnc6g.policies.opt.pricing.solve_priced`). The bound is
    :func:`~cnc6g.policies.opt.bound.dual_bound` at the solver's row duals (over every
    column), so that it holds however precise they are.
    """
    model = built.model
    lp, _ = model.to_lp(relax=True)
    if priced:
        chosen = initial_groups(system, inputs, built, np.asarray(lp.col_cost_, dtype=float))
        result = solve_priced(built, lp, chosen)
        return result.bound, result.values
    h = new_solver(1e9, 0.0)
    if model.n_cols >= IPM_FROM:
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", CROSSOVER)
    else:
        h.setOptionValue("simplex_strategy", 1)
    h.passModel(lp)
    h.run()
    solution = h.getSolution()
    values = np.asarray(solution.col_value, dtype=float)
    duals = np.asarray(solution.row_dual, dtype=float)
    if values.size != model.n_cols or duals.size != model.n_rows:
        raise RuntimeError("the slot's LP relaxation was not solved")
    values = np.clip(values, np.asarray(lp.col_lower_), np.asarray(lp.col_upper_))
    return dual_bound(model, lp, duals), values


def _lp_point(
    system: System,
    inputs: SlotInputs,
    layout: _Layout,
    regions: IntArray,
    priced: bool = False,
) -> tuple[float, list[FloatArray]]:
    """The whole model's LP relaxation: a certified bound, and each copy's part of its optimum.

    The LP is :func:`whole_lp`'s. A copy's part is the
    optimum's value of each of its columns, its load columns set to the load its own region's
    routes and paths send (what the recovery splits the shared capacities by).
    """
    built = layout.built
    bound, values = whole_lp(system, inputs, built, priced)
    ro, rs, rk = built.routes
    rn = system.candidates[ro, rk]
    sent = system.work[rs] * np.asarray(inputs.demand, dtype=float)[ro, rs] / system.slot_s
    sent = sent * values[built.y]
    sent_region, sent_node = regions[ro], rn
    pp = built.paths
    if pp is not None:  # each step's work on its node, for the path's origin's region
        wp = pp.work_path
        lam = np.asarray(inputs.demand, dtype=float)[pp.origin[wp], pp.service[wp]]
        steps = lam * pp.work_gcycles / system.slot_s * values[built.path_cols[wp]]
        sent = np.concatenate([sent, steps])
        sent_region = np.concatenate([sent_region, regions[pp.origin[wp]]])
        sent_node = np.concatenate([sent_node, pp.work_node])
    points = []
    for g, c in enumerate(layout.copies):
        point = values[c.cols].copy()
        mine = sent_region == g
        load = np.bincount(sent_node[mine], sent[mine], system.n_nodes)
        point[layout.load_local[g]] = load[layout.load_node[g]]
        points.append(point)
    return bound, points


def _dual(
    layout: _Layout,
    work: RegionSolver,
    iterations: int,
    recover: Callable[[list[FloatArray]], float],
) -> tuple[float, list[float]]:
    """The subgradient method on the prices; returns the best bound and each iteration's.

    ``recover`` is called with the copies' LP points (a moving average, :data:`AVERAGE`) after
    a third of the iterations and after the last; it returns the objective of the decision it
    recovers. The Polyak step aims at the lower of the best such objective and the best bound
    raised by :data:`POLYAK_TARGET` of its magnitude.
    """
    copies = layout.copies
    N = layout.load_upper.size
    n_shared = layout.shared_rows.size
    shared_hi = np.zeros(n_shared)
    for c, sl, which in zip(copies, layout.shared_local, layout.shared_which, strict=True):
        shared_hi[which] = c.row_upper[sl]
    s_row, s_col, s_val = layout.shared_matrix
    price = np.zeros(N)  # per unit of node load
    link = np.zeros(n_shared)  # per unit of a shared row's activity
    transfer = [np.zeros(m.size) for m in layout.multi]
    best, upper = -np.inf, np.inf
    history: list[float] = []
    theta, stall = 1.0, 0
    averages: list[FloatArray] = []
    checkpoints = {max(iterations // 3, 1) - 1, iterations - 1}
    for it in range(iterations):
        link_cost = np.bincount(s_col, s_val * link[s_row], layout.cost.size)
        costs = []
        for g, c in enumerate(copies):
            cost = layout.cost[c.cols] * layout.share[g] + link_cost[c.cols]
            cost[layout.multi[g]] += transfer[g]
            cost[layout.load_local[g]] += price[layout.load_node[g]]
            costs.append(cost)
        results = work.solve_lps(costs)
        vals = [v for _, v in results if v is not None]
        if len(vals) < len(copies):
            raise RuntimeError("a region's LP was not solved to optimality")
        total = float(sum(obj for obj, _ in results))
        value = float(total + layout.offset - price @ layout.load_upper - link @ shared_hi)
        history.append(value)
        if not np.isfinite(best) or value > best + 1e-9 * max(1.0, abs(best)):
            best, stall = value, 0
        else:
            stall += 1
            if stall >= STALL_ITERATIONS:
                theta, stall = theta / 2, 0
        averages = (
            [v.copy() for v in vals]
            if not averages
            else [a + AVERAGE * (v - a) for a, v in zip(averages, vals, strict=True)]
        )
        if it in checkpoints:
            upper = min(upper, recover(averages))
        if it == iterations - 1:
            break
        # subgradients
        load = np.zeros(N)
        full = np.zeros(layout.cost.size)
        mean = np.zeros(layout.cost.size)
        for g, c in enumerate(copies):
            np.add.at(load, layout.load_node[g], vals[g][layout.load_local[g]])
            own = layout.share[g] == 1.0
            full[c.cols[own]] = vals[g][own]
            mean[c.cols[layout.multi[g]]] += vals[g][layout.multi[g]]
        mean /= np.maximum(layout.in_copies, 1)
        g_price = load - layout.load_upper
        g_link = np.bincount(s_row, s_val * full[s_col], n_shared) - shared_hi
        g_transfer = [
            vals[g][layout.multi[g]] - mean[c.cols[layout.multi[g]]] for g, c in enumerate(copies)
        ]
        # a price at zero whose constraint holds does not move: project the step
        g_price = np.where((price <= 0) & (g_price < 0), 0.0, g_price)
        g_link = np.where((link <= 0) & (g_link < 0), 0.0, g_link)
        norm = float(g_price @ g_price + g_link @ g_link + sum(t @ t for t in g_transfer))
        if norm <= 1e-18:  # the copies agree and the capacities hold: the LP's optimum
            if np.isinf(upper):
                recover(averages)
            break
        target = min(upper, best + POLYAK_TARGET * max(abs(best), 1.0))
        step = theta * max(float(target) - value, 0.0) / norm
        price = np.maximum(price + step * g_price, 0.0)
        link = np.maximum(link + step * g_link, 0.0)
        transfer = [t + step * d for t, d in zip(transfer, g_transfer, strict=True)]
    return best, history


def _recover(
    system: System,
    layout: _Layout,
    work: RegionSolver,
    averages: list[FloatArray],
    tiers: tuple[float, ...],
    mip_rel_gap: float,
    node_limit: int,
    sequential: bool = False,
) -> FloatArray:
    """A feasible point of the whole model from what each copy wants (``averages``).

    The shared binaries are set to what some copy wants (at least :data:`SELECT`), the shared
    capacities split in proportion to the copies' wanted loads and link use, and each copy's
    MILP solved with them fixed; ``sequential``, the wanted shared instances are not fixed
    running but opened by the copies in turn (:func:`_open_in_turn`).
    """
    built, copies = layout.built, layout.copies
    n, N = layout.cost.size, system.n_nodes
    G = len(copies)
    # the largest averaged value of each column over its copies
    top = np.zeros(n)
    for g, c in enumerate(copies):
        top[c.cols] = np.maximum(top[c.cols], averages[g])
    shared_col = layout.in_copies > 1
    fixed = np.zeros(n)
    # instances: wanted by some copy, within the node's memory (most wanted first)
    xs = built.x
    run = shared_col[xs] & (top[xs] >= SELECT)
    ps, pn = built.pairs[:, 0], built.pairs[:, 1]
    mem = system.service_memory[ps]
    order = np.argsort(-top[xs], kind="stable")
    used = np.zeros(N)
    for p in order:
        if run[p]:
            if used[pn[p]] + mem[p] > system.memory[pn[p]] + 1e-9:
                run[p] = False
            else:
                used[pn[p]] += mem[p]
    fixed[xs] = run * 1.0
    has_instance = np.zeros(N, dtype=bool)
    np.logical_or.at(has_instance, pn, run)
    awake_col = built.a
    node_shared = np.zeros(N, dtype=bool)
    node_shared[built.pairs[shared_col[xs], 1]] = True
    node_shared[np.flatnonzero(shared_col[built.load])] = True
    awake = np.ones(N, dtype=bool)
    sleepers = awake_col >= 0
    awake[sleepers] = has_instance[sleepers] | (top[awake_col[sleepers]] >= SELECT)
    fixed[awake_col[sleepers]] = awake[sleepers] * 1.0
    # the load the copies want on each node; a shared node takes the tightest tier that holds it
    wanted = np.zeros(N)
    for g in range(G):
        np.add.at(wanted, layout.load_node[g], averages[g][layout.load_local[g]])
    levels = _levels(system, tiers)
    cap = layout.load_upper.copy()
    for node in np.flatnonzero((built.z[:, 0] >= 0) & awake):
        fits = np.flatnonzero(levels * system.capacity[node] >= wanted[node] * (1 - 1e-9))
        pick = int(fits[np.argmin(levels[fits])]) if fits.size else 0
        fixed[built.z[node, pick]] = 1.0
        cap[node] = min(cap[node], levels[pick] * system.capacity[node])
    cap[~awake] = 0.0
    # each copy's share of a shared node's load and of a shared row, from its averaged use
    N_share = np.zeros((G, N))
    for g in range(G):
        N_share[g, layout.load_node[g]] = np.maximum(averages[g][layout.load_local[g]], 0.0) + 1e-9
    holders = N_share > 0
    N_share /= np.maximum(N_share.sum(axis=0, keepdims=True), 1e-300)
    s_row, s_col, s_val = layout.shared_matrix
    n_shared = layout.shared_rows.size
    use = np.zeros((G, n_shared))
    for g, c in enumerate(copies):
        full = np.zeros(n)
        full[c.cols] = averages[g]
        use[g] = np.bincount(s_row, s_val * full[s_col], n_shared) + 1e-9
    use /= use.sum(axis=0, keepdims=True)
    specs = []
    for g, c in enumerate(copies):
        lo, hi = c.lower.copy(), c.upper.copy()
        fix = shared_col[c.cols] & ~np.isin(c.cols, built.load)
        lo[fix] = hi[fix] = fixed[c.cols[fix]]
        ll, nodes = layout.load_local[g], layout.load_node[g]
        hi[ll] = np.where(node_shared[nodes], cap[nodes] * N_share[g, nodes], hi[ll])
        hi[ll] = np.where(holders[g, nodes] | ~node_shared[nodes], hi[ll], 0.0)
        row_hi = c.row_upper.copy()
        row_hi[layout.shared_local[g]] *= use[g, layout.shared_which[g]]
        specs.append(PrimalSpec(layout.cost[c.cols], lo, hi, row_hi, mip_rel_gap, node_limit))
    if sequential:
        found = _open_in_turn(layout, work, specs, fixed, run)
    else:
        found = work.solve_milps(specs)
    values = fixed.copy()
    values[built.load] = 0.0
    for g, (c, v) in enumerate(zip(copies, found, strict=True)):
        if v is None:  # cannot happen: rejecting all the region's demand is feasible
            raise RuntimeError(f"region {g}: no feasible point of its MILP")
        own = ~shared_col[c.cols]
        values[c.cols[own]] = v[own]
        ll = layout.load_local[g]
        values[c.cols[ll]] += v[ll] * shared_col[c.cols[ll]]
    return _prune(system, built, layout, values)


def _open_in_turn(
    layout: _Layout,
    work: RegionSolver,
    specs: list[PrimalSpec],
    fixed: FloatArray,
    wanted: BoolArray,
) -> list[FloatArray | None]:
    """The copies' MILPs one after another, each opening the shared instances it pays for.

    A shared instance some copy wants (``wanted``) is not fixed on for all: a copy may open it
    at its full cost, and finds those the other copies run (opened or routed to in their
    latest solutions) running at no cost. An instance no copy wants stays off. The copies take
    :data:`TURNS` turns, in order then in reverse, so that the first ones may use what the last
    opened and drop what they opened themselves. Every copy's latest solution routes only to
    instances that run at the end: an instance some copy routes to is fixed on for every later
    turn. A copy whose shared instances run as when it was last solved is not solved again
    (its MILP is the same, and HiGHS returns the same point): the copy that ends a turn opens
    the next. ``fixed`` holds the shared binaries as :func:`_recover` set them; its wanted
    instances are set to those that run at the end.
    """
    built, copies = layout.built, layout.copies
    n = layout.cost.size
    candidate = np.zeros(n, dtype=bool)
    candidate[built.x[wanted]] = True
    use_col, use_pair = instance_uses(built)  # the instances each route or path needs
    use_x = built.x[use_pair]
    uses = [np.zeros(n, dtype=bool) for _ in copies]  # instances each copy runs or routes to
    found: list[FloatArray | None] = [None] * len(copies)
    asked: list[BoolArray | None] = [None] * len(copies)  # what each copy's last MILP was given
    order = list(range(len(copies)))
    for turn_ in range(TURNS):
        for g in order if turn_ % 2 == 0 else order[::-1]:
            c, spec = copies[g], specs[g]
            others = np.zeros(n, dtype=bool)
            for h, used in enumerate(uses):
                if h != g:
                    others |= used
            lo, hi, cost = spec.lower.copy(), spec.upper.copy(), spec.cost.copy()
            free = candidate[c.cols] & (layout.in_copies[c.cols] > 1)
            running = free & others[c.cols]
            last = asked[g]
            if last is not None and np.array_equal(last, running):
                continue  # the same MILP as the copy's last: HiGHS would return the same point
            asked[g] = running
            lo[free] = np.where(running[free], 1.0, 0.0)
            hi[free] = 1.0
            cost[running] = 0.0
            turn: list[PrimalSpec | None] = [None] * len(copies)
            turn[g] = PrimalSpec(cost, lo, hi, spec.row_upper, spec.mip_rel_gap, spec.node_limit)
            v = work.solve_milps(turn)[g]
            if v is None:
                continue
            found[g] = v
            mine = np.zeros(n, dtype=bool)
            mine[c.cols[free & ~running & (v > 0.5)]] = True
            full = np.zeros(n)
            full[c.cols] = v
            routed = use_x[full[use_col] > 1e-9]
            mine[routed[candidate[routed]]] = True
            uses[g] = mine
    run = np.zeros(n, dtype=bool)
    for used in uses:
        run |= used
    fixed[built.x] = np.where(candidate[built.x], run[built.x] * 1.0, fixed[built.x])
    return found


def instance_uses(built: BuiltModel) -> tuple[IntArray, IntArray]:
    """Which instances the routes and paths need: ``(column, instance)`` pairs.

    A route needs the instance of its service on its node; a path of a service placed step by
    step needs the service's instance on every node its steps run on.
    """
    cols, pairs = [built.y], [built.route_pair]
    pp = built.paths
    if pp is not None and pp.size:
        N = int(built.pairs[:, 1].max(initial=0)) + 1
        N = max(N, int(pp.work_node.max(initial=0)) + 1)
        key = built.pairs[:, 0] * N + built.pairs[:, 1]
        order = np.argsort(key, kind="stable")
        want = pp.service[pp.work_path] * N + pp.work_node
        pos = np.searchsorted(key, want, sorter=order)
        at = order[np.minimum(pos, max(key.size - 1, 0))]
        if not (key[at] == want).all():
            raise RuntimeError("a path of the slot model uses an instance with no column")
        cols.append(built.path_cols[pp.work_path])
        pairs.append(at)
    return np.concatenate(cols), np.concatenate(pairs)


def _prune(system: System, built: BuiltModel, layout: _Layout, values: FloatArray) -> FloatArray:
    """Drop the shared instances nothing is routed to (where that saves), sleep idle nodes."""
    out = values.copy()
    routed = np.zeros(built.pairs.shape[0])
    use_col, use_pair = instance_uses(built)
    np.add.at(routed, use_pair, out[use_col])
    x = built.x
    drop = (out[x] > 0.5) & (routed <= 1e-9) & (layout.cost[x] > 0) & (layout.in_copies[x] > 1)
    out[x[drop]] = 0.0
    running = np.zeros(system.n_nodes, dtype=bool)
    np.logical_or.at(running, built.pairs[:, 1], out[x] > 0.5)
    for node in np.flatnonzero(built.a >= 0):
        col = built.a[node]
        if out[col] > 0.5 and not running[node] and out[built.load[node]] <= 1e-9:
            out[col] = 0.0
            zc = built.z[node]
            out[zc[zc >= 0]] = 0.0
    if row_violation(built, out) > row_violation(built, values) + 1e-7:
        return values
    return out


def _levels(system: System, tiers: tuple[float, ...]) -> FloatArray:
    """The utilisation of each tier column, the admission limit first (as the model orders)."""
    rho_max = system.admission_utilisation
    return np.array([rho_max, *sorted((t for t in tiers if t < rho_max), reverse=True)])


def regional_lower_bound(
    system: System,
    inputs: SlotInputs,
    *,
    region_cells: int = DEFAULT_REGION_CELLS,
    iterations: int = DEFAULT_ITERATIONS,
    solver: Solver = RegionSolver,
    method: str = "lagrangian",
) -> float:
    """A lower bound on the twin's objective of any decision for this slot, J, by region.

    The Lagrangian bound of the optimistic model (:func:`decompose_slot` with ``optimistic``,
    by default with ``method="lagrangian"``): never above
    :func:`~cnc6g.policies.opt.bound.lower_bound` (the same model's LP), but its regions' LPs
    are small, so that it is at hand where that LP takes too long.
    """
    return decompose_slot(
        system,
        inputs,
        region_cells=region_cells,
        iterations=iterations,
        optimistic=True,
        solver=solver,
        method=method,
    ).bound
