"""Reports of experiment results: figures (matplotlib, Agg) and tables."""

from cnc6g.report.figures import FIGURES, learning_curves_figure, sweep_figure

__all__ = ["FIGURES", "learning_curves_figure", "sweep_figure"]
