"""HiGHS for OPT: a quiet solver with OPT's options, and its primal point.

Every solve of OPT starts from :func:`new_solver`, so that each phase runs HiGHS with the same
seed, heuristics and limits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cnc6g.twin.system import FloatArray

try:  # the core class does not print HiGHS's banner on construction (highspy.Highs does)
    from highspy._core import HighsLp, HighsModelStatus, HighsVarType, MatrixFormat
    from highspy._core import _Highs as Highs
except ImportError:  # pragma: no cover - other highspy layouts
    from highspy import Highs, HighsLp, HighsModelStatus, HighsVarType, MatrixFormat

Columns = NDArray[np.int32]
"""Column indices as OPT passes them to HiGHS."""

HEURISTIC_EFFORT = 0.05
"""HiGHS's ``mip_heuristic_effort`` (its default; more did not help at the case-study scale)."""

SKIPPED_HEURISTICS = ("rins", "rens")
"""HiGHS's sub-MIP heuristics left out (OPT's own RENS and neighbourhood run before them)."""


def new_solver(time_limit: float, mip_rel_gap: float, node_limit: int | None = None) -> Highs:
    """A HiGHS instance without output, with OPT's seed, heuristics and limits.

    ``node_limit`` (``None``: none) is HiGHS's ``mip_max_nodes``: the branch-and-bound nodes a
    MILP solve may take.
    """
    h = Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 1e-3))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_heuristic_effort", HEURISTIC_EFFORT)
    for heuristic in SKIPPED_HEURISTICS:
        h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
    if node_limit is not None:
        h.setOptionValue("mip_max_nodes", int(node_limit))
    return h


def sparse_lp(
    cost: FloatArray,
    bounds: tuple[FloatArray, FloatArray],
    row_bounds: tuple[FloatArray, FloatArray],
    matrix: tuple[MatrixFormat, NDArray[np.integer], NDArray[np.integer], FloatArray],
) -> HighsLp:
    """A HiGHS LP from its arrays: column costs and bounds, row bounds, sparse matrix.

    ``matrix`` is ``(format, start, index, value)``, row-wise or column-wise.
    """
    fmt, start, index, value = matrix
    lp = HighsLp()
    lp.num_col_ = cost.size
    lp.num_row_ = row_bounds[0].size
    lp.col_cost_ = cost
    lp.col_lower_, lp.col_upper_ = bounds
    lp.row_lower_, lp.row_upper_ = row_bounds
    lp.a_matrix_.format_ = fmt
    lp.a_matrix_.num_col_ = cost.size
    lp.a_matrix_.num_row_ = row_bounds[0].size
    lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=float)
    return lp


def primal(h: Highs, n_cols: int) -> FloatArray | None:
    """The solver's primal values if it found a feasible point."""
    values = np.asarray(h.getSolution().col_value, dtype=float)
    return values if values.size == n_cols and h.getInfo().primal_solution_status == 2 else None


__all__ = [
    "HEURISTIC_EFFORT",
    "SKIPPED_HEURISTICS",
    "Columns",
    "Highs",
    "HighsLp",
    "HighsModelStatus",
    "HighsVarType",
    "MatrixFormat",
    "new_solver",
    "primal",
    "sparse_lp",
]
