"""Reports of experiment results: figures (matplotlib, Agg) and tables."""

from cnc6g.report.figures import FIGURES, sweep_figure

__all__ = ["FIGURES", "sweep_figure"]
