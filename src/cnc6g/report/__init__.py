"""Reports of experiment results: figures (matplotlib, Agg) and CSV tables."""

from cnc6g.report.figures import FIGURES, learning_curves_figure, sweep_figure
from cnc6g.report.tables import COMPARE_COLUMNS, atomic_write, read_csv, write_csv

__all__ = [
    "COMPARE_COLUMNS",
    "FIGURES",
    "atomic_write",
    "learning_curves_figure",
    "read_csv",
    "sweep_figure",
    "write_csv",
]
