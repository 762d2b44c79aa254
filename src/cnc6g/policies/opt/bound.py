"""A lower bound on the twin's objective of any decision for a slot."""

from __future__ import annotations

import numpy as np

from cnc6g.policies.opt.highs import HighsLp
from cnc6g.policies.opt.model import LinearModel, SlotInputs
from cnc6g.policies.opt.phases import solve_slot
from cnc6g.twin.system import FloatArray, System


def lower_bound(system: System, inputs: SlotInputs) -> float:
    """A lower bound on the twin's objective of any decision for this slot, J.

    The LP relaxation of the optimistic model: every task served counts as satisfied, capacities
    are at the admission utilisation, transfers at zero load, instances and awake nodes may be
    fractional. No decision from the same previous deployment scores below it in the twin.
    """
    return solve_slot(system, inputs, optimistic=True, relax=True).objective


def dual_bound(model: LinearModel, lp: HighsLp, row_dual: FloatArray) -> float:
    """A lower bound on the optimum of ``lp`` (``model``'s LP relaxation) from any row prices.

    The Lagrangian of the rows at prices ``row_dual`` (HiGHS's sign: positive where a row's
    lower side binds): for any point within the rows, ``c x >= sum_i pi_i b_i + (c - A' pi) x``
    with ``b_i`` the row's lower bound where ``pi_i > 0`` and its upper bound where
    ``pi_i < 0``, and the last term is at least its least value over the column bounds. A price
    whose side of the row is unbounded is taken as zero. Any prices give a bound (so that an
    interior-point solution without crossover, or one stopped early, still gives a certified
    one); an optimal dual gives the LP's optimum. ``-inf`` where a column with an unbounded side
    has a reduced cost of the wrong sign.
    """
    start, cols, vals = model.rows_csr
    lo = np.asarray(lp.row_lower_, dtype=float)
    hi = np.asarray(lp.row_upper_, dtype=float)
    pi = np.asarray(row_dual, dtype=float).copy()
    pi[(pi > 0) & ~np.isfinite(lo)] = 0.0
    pi[(pi < 0) & ~np.isfinite(hi)] = 0.0
    rows_part = float(np.sum(np.where(pi > 0, pi * np.where(pi > 0, lo, 0.0), 0.0)))
    rows_part += float(np.sum(np.where(pi < 0, pi * np.where(pi < 0, hi, 0.0), 0.0)))
    row_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    reduced = np.asarray(lp.col_cost_, dtype=float) - np.bincount(
        cols, vals * pi[row_of], lp.num_col_
    )
    col_lo = np.asarray(lp.col_lower_, dtype=float)
    col_hi = np.asarray(lp.col_upper_, dtype=float)
    at = np.where(reduced > 0, col_lo, np.where(reduced < 0, col_hi, 0.0))
    if not np.isfinite(at[reduced != 0]).all():
        return -np.inf
    return float(lp.offset_ + rows_part + reduced @ at)
