"""The slot's LP relaxation, with its lazy rows added only once its optimum violates them.

Its optimum is OPT's bound, the answer where it is integral, and the point (and reduced costs)
that the later phases start from.
"""

from __future__ import annotations

import time

import numpy as np

from cnc6g.policies.opt.highs import Highs, HighsLp, HighsModelStatus, MatrixFormat, new_solver
from cnc6g.policies.opt.model import LinearModel
from cnc6g.twin.system import FloatArray, IntArray

IPM_COLUMNS = 25_000
"""Relaxations with more columns are solved by the interior-point method (with crossover)."""

SIMPLEX_STRATEGY = 1
"""HiGHS's ``simplex_strategy`` for the relaxation: the serial dual simplex."""

LAZY_ROUNDS = 8
"""Rounds of adding the violated lazy rows to the relaxation before all the rest are added."""

LAZY_TOLERANCE = 1e-7
"""Violation (relative to the row's activity, at least absolute) at which a lazy row is added."""


def relaxation_solver(n_cols: int, time_limit: float, mip_rel_gap: float) -> Highs:
    """A solver for a relaxation of ``n_cols`` columns: interior point when large, else simplex.

    The interior-point method runs with crossover, so that RENS gets a vertex.
    """
    h = new_solver(time_limit, mip_rel_gap)
    if n_cols > IPM_COLUMNS:
        h.setOptionValue("solver", "ipm")
    else:
        h.setOptionValue("simplex_strategy", SIMPLEX_STRATEGY)
    return h


def solve_relaxation(h: Highs, lp: HighsLp, model: LinearModel, deadline: float) -> None:
    """Solve the LP relaxation ``lp`` of ``model`` in ``h``, its lazy rows added once violated.

    The relaxation without the lazy rows is solved first; the lazy rows its optimum violates
    are added and the dual simplex goes on from the optimal basis, until none is violated
    (after :data:`LAZY_ROUNDS` rounds, all the rest are added). The optimum is then the full
    relaxation's, and its duals, with zeros for the rows never added, are optimal for it too.
    ``deadline`` is a :func:`time.perf_counter` value.
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


def _row_entries(start: IntArray, rows: IntArray) -> tuple[IntArray, IntArray]:
    """Where the entries of ``rows`` lie in a row-wise matrix with row starts ``start``.

    Returns their positions, row by row, and the number of entries of each row.
    """
    length = start[rows + 1] - start[rows]
    first = np.repeat(start[rows] - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return first + np.arange(int(length.sum())), length


def _rows_lp(lp: HighsLp, rows: IntArray, csr: tuple[IntArray, IntArray, FloatArray]) -> HighsLp:
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
