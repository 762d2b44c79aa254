"""The slot model's LP relaxation by route pricing (column generation).

Most of the model's columns are routes: each origin's demand for a service may go to any of its
candidates (16 from 20 cells on), and each route brings a row pairing it with its instance. The
LP's optimum uses few of them. :func:`solve_priced` solves the LP over a restricted set of route
columns (per origin and service the :data:`CHEAPEST` cheapest, and those to an instance that ran
before), prices every other one at the restricted LP's row duals, adds those whose reduced cost
is negative and solves again, until none prices out. Its optimum is then the whole LP's (to the
solver's tolerance), and its bound :func:`~cnc6g.policies.opt.bound.dual_bound` over *every*
column at those duals, which holds for any prices: a route left out with a negative reduced
cost (one the tolerance let through) only lowers it.

A row is left out of the restricted LP where the columns left out, at zero, make it hold for
every value of the others within their bounds (a route's row ``y_r <= x_p``): the restricted LP
is then exactly the whole LP with those columns at zero, and the rows left out price at zero.

On the scale curve's systems it is slower than the whole LP: while the restricted LP turns
demand away, nearly every route prices out (``docs/opt.md``, *The whole LP by route pricing*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.policies.opt.bound import dual_bound
from cnc6g.policies.opt.highs import HighsLp, new_solver
from cnc6g.policies.opt.model import BuiltModel, SlotInputs
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System

CHEAPEST = 4
"""Routes (or paths) per origin and service in the first restricted LP: the cheapest."""

TOLERANCE = 1e-7
"""Reduced cost (relative to the column's cost, at least absolute) below which a column is added."""

MAX_ROUNDS = 50
"""Pricing rounds after which every column left is added (a safeguard: it never came near)."""

ADD = 4
"""Groups per origin and service added in a pricing round: those of the most negative
reduced costs (relative to the column's cost)."""

IPM_FROM = 5_000
"""Columns of the restricted LP from which it is solved by the interior-point method."""


@dataclass(frozen=True, eq=False)
class PricedLp:
    """The LP relaxation's optimum found by pricing: its point, row prices and bound."""

    values: FloatArray  # [n_cols] the point (zero on the columns never added)
    duals: FloatArray  # [n_rows] row prices (zero on the rows left out)
    bound: float  # dual_bound over every column at ``duals``
    objective: float  # the restricted LP's objective
    rounds: int  # restricted LPs solved
    columns: int  # columns of the last restricted LP
    rows: int  # rows of the last restricted LP


def route_groups(built: BuiltModel) -> tuple[IntArray, IntArray, IntArray]:
    """The priced columns by group: ``(group of each column, its origin, its service)``.

    A group is a route (its column and its tier shares) or a path (likewise); the group of a
    column that is not priced is -1. The origin and service are per group.
    """
    n = built.model.n_cols
    group = np.full(n, -1, dtype=np.int64)
    ro, rs, _ = built.routes
    R = ro.size
    group[built.y] = np.arange(R)
    if built.h.size:
        group[built.h] = built.tiered_routes[:, None]
    origin, service = [ro], [rs]
    pp = built.paths
    if pp is not None and pp.size:
        group[built.path_cols] = R + np.arange(pp.size)
        if built.path_h.size:
            group[built.path_h] = R + built.path_tiered[:, None]
        origin.append(pp.origin)
        service.append(pp.service)
    return group, np.concatenate(origin), np.concatenate(service)


def initial_groups(
    system: System, inputs: SlotInputs, built: BuiltModel, cost: FloatArray
) -> BoolArray:
    """The groups of the first restricted LP (``[groups]``, see :func:`route_groups`).

    Per origin and service the :data:`CHEAPEST` cheapest (by their own column's cost), and
    every route to an instance that ran before this slot.
    """
    _, origin, service = route_groups(built)
    G = origin.size
    R = built.y.size
    head = np.concatenate([cost[built.y], cost[built.path_cols]])  # a group's own column
    key = origin * system.n_services + service
    order = np.lexsort((np.arange(G), head, key))
    first = np.searchsorted(key[order], key[order], side="left")
    rank = np.empty(G, dtype=np.int64)
    rank[order] = np.arange(G) - first
    chosen = rank < CHEAPEST
    ro, rs, rk = built.routes
    previous = np.asarray(inputs.previous, dtype=bool)
    chosen[:R] |= previous[rs, system.candidates[ro, rk]]
    return chosen


def solve_priced(built: BuiltModel, lp: HighsLp, chosen: BoolArray) -> PricedLp:
    """``built``'s LP relaxation ``lp`` by pricing, from the groups ``chosen`` (see the module)."""
    model = built.model
    group, origin, service = route_groups(built)
    key = origin * (int(service.max(initial=0)) + 1) + service
    chosen = np.asarray(chosen, dtype=bool).copy()
    start, cols, vals = model.rows_csr
    n_rows = start.size - 1
    row_of = np.repeat(np.arange(n_rows), np.diff(start))
    cost = np.asarray(lp.col_cost_, dtype=float)
    col_lo = np.asarray(lp.col_lower_, dtype=float)
    col_hi = np.asarray(lp.col_upper_, dtype=float)
    row_lo = np.asarray(lp.row_lower_, dtype=float)
    row_hi = np.asarray(lp.row_upper_, dtype=float)
    if (col_lo[group >= 0] != 0.0).any():
        raise ValueError("a priced column has a nonzero lower bound")
    # each entry's least and most activity over its column's bounds
    with np.errstate(invalid="ignore"):
        least = np.where(vals > 0, vals * col_lo[cols], vals * col_hi[cols])
        most = np.where(vals > 0, vals * col_hi[cols], vals * col_lo[cols])
    tol = TOLERANCE * np.maximum(1.0, np.abs(cost))
    by_col = np.argsort(cols, kind="stable")  # the entries column by column
    col_start = np.searchsorted(cols[by_col], np.arange(cost.size + 1))
    slack = 1e-9 * max(1.0, float(np.abs(row_hi[np.isfinite(row_hi)]).max(initial=1.0)))
    in_h_col = np.full(cost.size, -1, dtype=np.int64)  # each column's position in the solver
    in_h_row = np.full(n_rows, -1, dtype=np.int64)
    h_cols = np.zeros(0, dtype=np.int64)
    h_rows = np.zeros(0, dtype=np.int64)
    h = new_solver(1e9, 0.0)
    active = np.zeros(cost.size, dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        now = (group < 0) | chosen[np.maximum(group, 0)]
        on = now[cols]
        lo_act = np.bincount(row_of[on], least[on], n_rows)
        hi_act = np.bincount(row_of[on], most[on], n_rows)
        holds = (row_lo <= lo_act + slack) & (hi_act <= row_hi + slack)
        new_cols = np.flatnonzero(now & ~active)
        new_rows = np.flatnonzero(~holds & (in_h_row < 0))
        # the new columns with their entries in the rows already there, then the new rows
        ent = _entries(col_start, new_cols)
        ent = by_col[ent]
        there = in_h_row[row_of[ent]] >= 0
        counts = np.bincount(np.searchsorted(new_cols, cols[ent[there]]), minlength=new_cols.size)
        order = np.lexsort((in_h_row[row_of[ent[there]]], cols[ent[there]]))
        placed = ent[there][order]
        h.addCols(
            new_cols.size,
            cost[new_cols],
            col_lo[new_cols],
            col_hi[new_cols],
            int(placed.size),
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
            in_h_row[row_of[placed]].astype(np.int32),
            vals[placed],
        )
        in_h_col[new_cols] = h_cols.size + np.arange(new_cols.size)
        h_cols = np.concatenate([h_cols, new_cols])
        active = now
        rent = _entries(start, new_rows)
        rent = rent[active[cols[rent]]]
        rcounts = np.bincount(np.searchsorted(new_rows, row_of[rent]), minlength=new_rows.size)
        h.addRows(
            new_rows.size,
            row_lo[new_rows],
            row_hi[new_rows],
            int(rent.size),
            np.concatenate([[0], np.cumsum(rcounts)[:-1]]).astype(np.int32),
            in_h_col[cols[rent]].astype(np.int32),
            vals[rent],
        )
        in_h_row[new_rows] = h_rows.size + np.arange(new_rows.size)
        h_rows = np.concatenate([h_rows, new_rows])
        if h_cols.size >= IPM_FROM:  # as the whole LP: no basis is kept between rounds
            h.setOptionValue("solver", "ipm")
            h.setOptionValue("run_crossover", "off")
        else:
            h.setOptionValue("solver", "simplex")
            h.setOptionValue("simplex_strategy", 1)
        h.run()
        solution = h.getSolution()
        values = np.asarray(solution.col_value, dtype=float)
        row_dual = np.asarray(solution.row_dual, dtype=float)
        if values.size != h_cols.size or row_dual.size != h_rows.size:
            raise RuntimeError("a restricted LP of the slot model was not solved")
        duals = np.zeros(n_rows)
        duals[h_rows] = row_dual
        reduced = cost - np.bincount(cols, vals * duals[row_of], cost.size)
        prices_out = (group >= 0) & ~active & (reduced < -tol)
        if not prices_out.any():
            break
        if rounds >= MAX_ROUNDS:
            chosen[:] = True
            continue
        # per origin and service, the groups of the most negative reduced costs
        relative = reduced / np.maximum(1.0, np.abs(cost))
        worst = np.zeros(chosen.size)
        np.minimum.at(worst, group[prices_out], relative[prices_out])
        new = np.flatnonzero(worst < 0)
        new = new[np.lexsort((new, worst[new], key[new]))]
        first = np.searchsorted(key[new], key[new], side="left")
        chosen[new[np.arange(new.size) - first < ADD]] = True
    full = np.zeros(cost.size)
    full[h_cols] = np.clip(values, col_lo[h_cols], col_hi[h_cols])
    return PricedLp(
        values=full,
        duals=duals,
        bound=dual_bound(model, lp, duals),
        objective=float(h.getInfo().objective_function_value + lp.offset_),
        rounds=rounds,
        columns=int(h_cols.size),
        rows=int(h_rows.size),
    )


def _entries(start: IntArray, which: IntArray) -> IntArray:
    """Positions of the entries of rows (or columns) ``which`` of a matrix with starts ``start``."""
    length = start[which + 1] - start[which]
    first = np.repeat(start[which] - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return first + np.arange(int(length.sum()))
