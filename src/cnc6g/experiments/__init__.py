"""Experiments: runs of a policy on the twin and sweeps over load (config in, tables out)."""

from cnc6g.experiments.runner import InfeasibleDecisionError, RunResult, run_policy
from cnc6g.experiments.sweep import DEFAULT_LOADS, compare, scenario_at_load

__all__ = [
    "DEFAULT_LOADS",
    "InfeasibleDecisionError",
    "RunResult",
    "compare",
    "run_policy",
    "scenario_at_load",
]
