"""Solving a slot in phases: relaxation, RENS, reduced-cost neighbourhood, branch and cut.

:func:`solve_slot` runs the phases in order until the gap to the relaxation's bound is closed
or the time is spent, and completes the given deployments should none find a point.
:func:`plan_deployment` solves the same model with a deployment fixed. Why each phase exists,
and what it was measured to do, is in ``docs/opt.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies.opt.highs import Columns, Highs, HighsLp, HighsVarType, new_solver, primal
from cnc6g.policies.opt.model import (
    DEFAULT_TIERS,
    BuiltModel,
    SlotInputs,
    build_model,
    decision_of,
    deployment_columns,
    deployment_values,
)
from cnc6g.policies.opt.relaxation import relaxation_solver, solve_relaxation
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System

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

RC_NEIGHBOURHOOD = 0.7
"""Share of the binaries the reduced-cost neighbourhood fixes (0: the phase is skipped)."""

REDUCED_COST_FIXING = True
"""Fix, before branch and cut, the binaries whose reduced cost in the relaxation exceeds the gap."""

MIN_SEARCH_S = 0.05
"""Least time left (s) for which the neighbourhood or branch and cut is still started."""


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
class _Search:
    """Where a slot's solve stands: the best point so far, the bound, the clock."""

    built_at: float  # time.perf_counter() when the model was built
    time_limit: float
    mip_rel_gap: float
    status: str
    bound: float
    clock: float  # end of the last phase
    best: FloatArray | None = None
    best_obj: float = np.inf
    source: str = "relaxation"
    phase_ms: dict[str, float] = field(default_factory=dict)

    def left(self) -> float:
        """Seconds left of the time limit."""
        return self.time_limit - (time.perf_counter() - self.built_at)

    def lap(self, phase: str) -> None:
        """Record the time since the last phase as ``phase``'s."""
        now = time.perf_counter()
        self.phase_ms[phase] = (now - self.clock) * 1e3
        self.clock = now

    def gap_open(self) -> bool:
        """Whether no point is known or the best is further than the gap from the bound."""
        return self.best is None or self.best_obj - self.bound > self.mip_rel_gap * abs(
            self.best_obj
        )

    def offer(self, values: FloatArray | None, objective: float, source: str) -> None:
        """Keep ``values`` if they improve on the best point."""
        if values is not None and objective < self.best_obj - 1e-9:
            self.best, self.best_obj, self.source = values, objective, source


def solve_slot(
    system: System,
    inputs: SlotInputs,
    *,
    tiers: tuple[float, ...] = DEFAULT_TIERS,
    network_utilisation: float = 0.8,
    time_limit: float = 30.0,
    mip_rel_gap: float = 1e-3,
    node_limit: int | None = None,
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
    and the gap still open, HiGHS's branch and cut over every binary from the best point found
    (``branch_and_cut``; with no point, from the deployment of the first of ``warm`` as a
    partial start), which may also raise the bound. Should nothing be found in time, the
    deployments in ``warm`` are completed in the LP relaxation with their deployment fixed and
    the best is returned (``completion``); with no ``warm`` either, an empty decision.

    ``node_limit`` (``None``: none) bounds the branch-and-bound nodes of each MILP phase (RENS,
    the neighbourhood, branch and cut; HiGHS's ``mip_max_nodes``); the work at a phase's root
    node is not counted. Unlike ``time_limit`` it does not depend on the machine: with a
    ``time_limit`` that is never reached, the same slot gets the same solution on any machine.
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

    # The LP relaxation: the bound, and the point the rounding neighbourhood is taken around.
    h = relaxation_solver(n, time_limit, mip_rel_gap)
    solve_relaxation(h, relaxation, built.model, built_at + time_limit)
    status = h.modelStatusToString(h.getModelStatus())
    lp_values = primal(h, n) if status == "Optimal" else None
    lp_obj = float(h.getInfo().objective_function_value) if lp_values is not None else -np.inf
    search = _Search(built_at, time_limit, mip_rel_gap, status, lp_obj, clock=built_at)
    search.lap("relaxation" if is_mip else "lp")
    if not is_mip:
        search.best, search.best_obj = lp_values, lp_obj
    elif lp_values is not None:
        ints = np.flatnonzero(integer).astype(np.int32)
        reduced = np.asarray(h.getSolution().col_dual, dtype=float)[ints]  # reduced costs
        _search(search, relaxation, built, ints, lp_values, reduced, warm_list, node_limit)
    if is_mip and search.best is None and warm_list:
        _complete_given(search, relaxation, built, warm_list)
    return _solution(system, built, search, integer, is_mip, warm_list, start)


def _search(
    search: _Search,
    relaxation: HighsLp,
    built: BuiltModel,
    ints: Columns,
    lp_values: FloatArray,
    reduced: FloatArray,
    warm_list: list[Decision],
    node_limit: int | None,
) -> None:
    """The phases after the relaxation (whose optimum is ``lp_values``), while the gap is open.

    ``ints`` are the binaries' columns and ``reduced`` their reduced costs in the relaxation.
    """
    n = built.model.n_cols
    lp_obj = search.bound
    point = lp_values[ints]
    if not ((point > INTEGRAL) & (point < 1.0 - INTEGRAL)).any():
        search.best, search.best_obj = lp_values, lp_obj  # the relaxation's optimum is integral
        return
    search.best, search.best_obj, search.status = _rens(
        relaxation, ints, point, search.left(), search.mip_rel_gap, n, node_limit
    )
    if search.best is not None:
        search.source = "rens"
    search.lap("rens")
    gap_open = search.gap_open()
    if (
        RC_NEIGHBOURHOOD > 0
        and gap_open
        and search.best is not None
        and search.left() > MIN_SEARCH_S
    ):
        found, found_obj = _rc_neighbourhood(
            relaxation,
            ints,
            point,
            reduced,
            search.best,
            search.left(),
            search.mip_rel_gap,
            n,
            node_limit,
        )
        search.offer(found, found_obj, "rc neighbourhood")
        search.lap("rc_neighbourhood")
        gap_open = search.gap_open()
    if gap_open and search.left() > MIN_SEARCH_S:
        _branch_and_cut(search, relaxation, built, ints, point, reduced, warm_list, node_limit)
    if not search.gap_open():
        search.status = "Optimal"


def _branch_and_cut(
    search: _Search,
    relaxation: HighsLp,
    built: BuiltModel,
    ints: Columns,
    point: FloatArray,
    reduced: FloatArray,
    warm_list: list[Decision],
    node_limit: int | None,
) -> None:
    """HiGHS's branch and cut over every binary from a (partial) start.

    It starts from the best point found (with no point, from the deployment of the first of
    ``warm_list`` for HiGHS to complete), with the binaries that reduced-cost fixing shows no
    better solution can move fixed; it may raise the bound.
    """
    n = built.model.n_cols
    best = search.best
    start_cols: Columns
    start_values: FloatArray
    if best is not None:  # from the best point found
        start_cols, start_values = np.arange(n, dtype=np.int32), best
    elif warm_list:  # from the first given deployment, for HiGHS to complete
        start_cols = built.deployment_cols.astype(np.int32)
        start_values = deployment_columns(built, np.asarray(warm_list[0].deployment))
    else:
        start_cols, start_values = np.zeros(0, dtype=np.int32), np.zeros(0)
    fix = None
    if REDUCED_COST_FIXING and best is not None:
        fix = (
            ints,
            *_reduced_cost_fixing(point, reduced, best[ints], search.best_obj - search.bound),
        )
    found, found_obj, dual, search.status = _solve_mip(
        relaxation,
        ints,
        search.left(),
        search.mip_rel_gap,
        n,
        fix,
        (start_cols, start_values),
        node_limit,
    )
    search.offer(found, found_obj, "branch and cut")
    search.bound = max(search.bound, dual)
    search.lap("branch_and_cut")


def _complete_given(
    search: _Search, relaxation: HighsLp, built: BuiltModel, warm_list: list[Decision]
) -> None:
    """No point found in time: complete the given deployments (routing and tiers optimised).

    The first is always completed, so that a decision exists; the others while time is left.
    """
    n = built.model.n_cols
    fixed_cols = built.deployment_cols
    hl = new_solver(60.0, search.mip_rel_gap)
    hl.passModel(relaxation)
    for i, given in enumerate(warm_list):
        if search.best is not None and search.left() < 0:
            break
        fixed = deployment_columns(built, np.asarray(given.deployment))
        values = _complete(hl, built, fixed_cols, fixed, n, search.built_at + search.time_limit)
        if values is not None and values[1] < search.best_obj:
            search.best, search.best_obj = values
            search.source = f"given {i} completed"
    search.lap("completion")


def _solution(
    system: System,
    built: BuiltModel,
    search: _Search,
    integer: BoolArray,
    is_mip: bool,
    warm_list: list[Decision],
    start: float,
) -> Solution:
    """The solution of the search: its best point's decision, else the first given one."""
    best, best_obj, bound = search.best, search.best_obj, search.bound
    gap = 0.0
    if is_mip:
        gap = (best_obj - bound) / max(abs(best_obj), 1e-9) if best is not None else np.inf
    solved_at = time.perf_counter()
    slot_objective = np.inf
    notes = built.notes
    if best is not None:
        decision = decision_of(system, built, best)
        slot_objective = float(built.model.slot_costs @ best + built.model.offset)
    elif warm_list:
        decision = warm_list[0]
        notes = (*notes, f"no solution within {search.time_limit} s: kept the given decision")
    else:
        decision = Decision(
            deployment=np.zeros((system.n_services, system.n_nodes), dtype=bool),
            routing=np.zeros((system.n_origins, system.n_services, system.n_candidates)),
        )
        notes = (*notes, f"no solution within {search.time_limit} s: nothing deployed")
    return Solution(
        decision=decision,
        objective=slot_objective,
        bound=float(bound),
        gap=float(max(gap, 0.0)) if best is not None else float("inf"),
        status=search.status,
        build_ms=(search.built_at - start) * 1e3,
        solve_ms=(solved_at - search.built_at) * 1e3,
        notes=notes,
        columns=built.model.n_cols,
        rows=built.model.n_rows,
        integers=int(integer.sum()),
        source=search.source,
        phase_ms=search.phase_ms,
    )


def _solve_mip(
    relaxation: HighsLp,
    ints: Columns,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
    fix: tuple[Columns, FloatArray, FloatArray] | None = None,
    start: tuple[Columns, FloatArray] | None = None,
    node_limit: int | None = None,
) -> tuple[FloatArray | None, float, float, str]:
    """The relaxation with the columns ``ints`` binary again, solved by HiGHS.

    ``fix`` (columns, lower, upper) bounds some columns; ``start`` (columns, values) is a
    (partial) start. Returns the best values found (``None``: none in time), their objective,
    the dual bound and HiGHS's status.
    """
    h = new_solver(max(time_limit, 1e-3), mip_rel_gap, node_limit)
    h.passModel(relaxation)
    kinds = np.full(ints.size, int(HighsVarType.kInteger), dtype=np.uint8)
    h.changeColsIntegrality(ints.size, ints, kinds)
    if fix is not None:
        cols, lower, upper = fix
        h.changeColsBounds(cols.size, cols, lower, upper)
    if start is not None and start[0].size:
        h.setSolution(start[0].size, *start)
    h.run()
    values = primal(h, n)
    info = h.getInfo()
    objective = float(info.objective_function_value) if values is not None else np.inf
    return values, objective, float(info.mip_dual_bound), h.modelStatusToString(h.getModelStatus())


def _rens(
    relaxation: HighsLp,
    ints: Columns,
    point: FloatArray,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
    node_limit: int | None = None,
) -> tuple[FloatArray | None, float, str]:
    """RENS: the MILP with the binaries the relaxation's ``point`` sets to 0 or 1 fixed there.

    HiGHS solves it over the rest (always feasible: dropping the fractional ones rejects their
    tasks). Returns the best values found (``None``: none in time), their objective and HiGHS's
    status.
    """
    lo = np.where(point >= 1.0 - INTEGRAL, 1.0, 0.0)
    hi = np.where(point <= INTEGRAL, 0.0, 1.0)
    values, objective, _, status = _solve_mip(
        relaxation, ints, time_limit, mip_rel_gap, n, fix=(ints, lo, hi), node_limit=node_limit
    )
    return values, objective, status


def _rc_neighbourhood(
    relaxation: HighsLp,
    ints: Columns,
    point: FloatArray,
    reduced: FloatArray,
    incumbent: FloatArray,
    time_limit: float,
    mip_rel_gap: float,
    n: int,
    node_limit: int | None = None,
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
        relaxation, ints, time_limit, mip_rel_gap, n, (ints, lo, hi), start, node_limit
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


def _complete(
    h: Highs,
    built: BuiltModel,
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
    relaxed = primal(h, n)
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
        values = primal(h, n)
        if values is not None and (best is None or h.getInfo().objective_function_value < best[1]):
            best = values, float(h.getInfo().objective_function_value)
    return best


def plan_deployment(
    system: System,
    inputs: SlotInputs,
    deployment: BoolArray,
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
    fixed = deployment_columns(built, deployment)
    h = new_solver(time_limit, 0.0)
    h.passModel(mip)
    h.changeColsBounds(fixed_cols.size, fixed_cols, fixed, fixed)
    h.run()
    values = primal(h, n)
    if values is None:  # only when the time runs out: dropping everything is always feasible
        values = deployment_values(built, deployment)
    return Solution(
        decision=decision_of(system, built, values),
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
