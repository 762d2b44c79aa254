"""The regions of a decomposed slot solved by Ray actors, each holding some regions' solvers.

Each actor keeps its regions' HiGHS instances between the subgradient iterations, so that a
change of prices re-optimises from the last basis, as in process. With no running Ray instance
one is started on this machine (``workers`` CPUs); ``address`` joins a running cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cnc6g.policies.opt.decompose import (
    CopyData,
    PrimalSpec,
    RegionSolver,
    RegionWorker,
    Solver,
)
from cnc6g.twin.system import FloatArray


class RaySolver(RegionSolver):
    """The copies spread over ``workers`` Ray actors (whole copies, in order)."""

    def __init__(
        self, copies: Sequence[CopyData], workers: int, address: str | None = None
    ) -> None:
        import ray

        if workers < 1:
            raise ValueError("workers must be >= 1")
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                options["num_cpus"] = workers
            else:
                options["address"] = address
            ray.init(**options)
        actor = ray.remote(num_cpus=1)(RegionWorker)
        parts = [p for p in np.array_split(np.arange(len(copies)), workers) if p.size]
        self._parts = parts
        self._actors = [actor.remote([copies[i] for i in part]) for part in parts]

    def _gather(self, method: str, items: Sequence[Any]) -> list[Any]:
        import ray

        refs = [
            getattr(a, method).remote([items[i] for i in part])
            for a, part in zip(self._actors, self._parts, strict=True)
        ]
        return [item for chunk in ray.get(refs) for item in chunk]

    def solve_lps(self, costs: Sequence[FloatArray]) -> list[tuple[float, FloatArray | None]]:
        """Each copy's LP optimum at ``costs``, solved by the actors in parallel."""
        return self._gather("solve_lps", costs)

    def solve_milps(self, specs: Sequence[PrimalSpec | None]) -> list[FloatArray | None]:
        """Each copy's MILP under ``specs``, solved by the actors in parallel."""
        return self._gather("solve_milps", specs)

    def close(self) -> None:
        """Stop the actors."""
        import ray

        for a in self._actors:
            ray.kill(a)  # type: ignore[arg-type]
        self._actors = []


def ray_solver(workers: int, address: str | None = None) -> Solver:
    """What :func:`~cnc6g.policies.opt.decompose.decompose_slot` takes to use Ray actors."""

    def make(copies: Sequence[CopyData]) -> RegionSolver:
        return RaySolver(copies, workers, address)

    return make
