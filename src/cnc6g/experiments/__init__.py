"""Experiments: runs of a policy on the twin and sweeps over load (config in, tables out)."""

from cnc6g.experiments.adaptation import AdaptationResult, adapt, recovery_slots
from cnc6g.experiments.backends import (
    BACKENDS,
    Backend,
    BackendError,
    Job,
    LocalBackend,
    RayBackend,
    make_backend,
)
from cnc6g.experiments.runner import RunResult, RunSummary, run_policy
from cnc6g.experiments.sweep import (
    DEFAULT_LOADS,
    FailedRun,
    PolicySpec,
    SweepRow,
    bound_job,
    compare,
    run_job,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_LOADS",
    "AdaptationResult",
    "Backend",
    "BackendError",
    "FailedRun",
    "Job",
    "LocalBackend",
    "PolicySpec",
    "RayBackend",
    "RunResult",
    "RunSummary",
    "SweepRow",
    "adapt",
    "bound_job",
    "compare",
    "make_backend",
    "recovery_slots",
    "run_job",
    "run_policy",
]
