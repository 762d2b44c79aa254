"""OPT by region: each slot decomposed (:mod:`~cnc6g.policies.opt.decompose`), with its bound."""

from __future__ import annotations

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.opt.decompose import (
    DEFAULT_ITERATIONS,
    DEFAULT_NODE_LIMIT,
    DEFAULT_REGION_CELLS,
    METHODS,
    Decomposition,
    RegionSolver,
    Solver,
    decompose_slot,
)
from cnc6g.policies.opt.model import SlotInputs
from cnc6g.policies.opt.policy import check_model_options, twin_scores
from cnc6g.twin.costs import REMOVAL_WEIGHT
from cnc6g.twin.system import System


class RegionalOptimalPolicy(Policy):
    """OPT at scale: each slot's model solved by region, with a certified gap to its bound.

    Args:
        region_cells: cells per region (whole RAN domains kept together).
        iterations: subgradient iterations per slot, on models too large for their whole LP
            relaxation (``decompose.LP_COLUMNS``; work, not time: the same decisions on any
            machine for a seed); with ``method="master"``, the most solves of the regions' LPs.
        method: where each slot's bound and the point its decision is recovered from come
            from (``decompose.METHODS``: ``auto``, the whole LP up to ``LP_COLUMNS`` columns
            and the subgradient method above; ``lp``, ``priced``, ``lagrangian``, ``master``).
        node_limit: branch-and-bound nodes of each region's MILP in the recovery.
        mip_rel_gap: relative gap at which a region's MILP stops.
        tiers: utilisation tiers of the model (default none: every node plans at the admission
            limit; tiers make each region's LP about 25 times slower).
        network_utilisation: utilisation cap of radio and wired links in the plan.
        amortise_slots: slots over which the plan spreads the cost of starting an instance.
        removal_weight: share of the restart cost charged for removing an instance that ran.
        workers: Ray actors that solve the regions (0: in this process).
        address: a running Ray cluster to join (``None``: one started on this machine).
        twin_check: apply GRD's decision or the previous one instead where the twin scores it
            lower (as OPT's ``twin_check``).
    """

    name = "opt-regions"

    def __init__(
        self,
        region_cells: int = DEFAULT_REGION_CELLS,
        iterations: int = DEFAULT_ITERATIONS,
        node_limit: int = DEFAULT_NODE_LIMIT,
        mip_rel_gap: float = 1e-3,
        tiers: tuple[float, ...] = (),
        network_utilisation: float = 0.8,
        amortise_slots: float = 10.0,
        removal_weight: float = REMOVAL_WEIGHT,
        workers: int = 0,
        address: str | None = None,
        twin_check: bool = True,
        method: str = "auto",
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if region_cells < 1:
            raise ValueError("region_cells must be >= 1")
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        if node_limit < 1:
            raise ValueError("node_limit must be >= 1")
        if not 0 <= mip_rel_gap < 1:
            raise ValueError("mip_rel_gap must be in [0, 1)")
        check_model_options(tiers, network_utilisation, amortise_slots, removal_weight)
        if workers < 0:
            raise ValueError("workers must be >= 0")
        self.region_cells = region_cells
        self.iterations = iterations
        self.node_limit = node_limit
        self.mip_rel_gap = mip_rel_gap
        self.tiers = tuple(tiers)
        self.network_utilisation = network_utilisation
        self.amortise_slots = amortise_slots
        self.removal_weight = removal_weight
        self.workers = workers
        self.address = address
        self.twin_check = twin_check
        self.method = method

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the previous slot."""
        super().reset(system, seed)
        self._last: Decision | None = None
        self._greedy = GreedyPolicy()
        self._greedy.reset(system, seed)
        self._picked = "solver"
        self.last: Decomposition | None = None

    def _solver(self) -> Solver:
        if self.workers == 0:
            return RegionSolver
        from cnc6g.policies.opt.decompose_ray import ray_solver

        return ray_solver(self.workers, self.address)

    def decide(self, obs: Observation) -> Decision:
        """Solve this slot by region; keep GRD's or the previous decision if the twin prefers."""
        result = decompose_slot(
            self.system,
            SlotInputs.from_observation(obs),
            region_cells=self.region_cells,
            iterations=self.iterations,
            node_limit=self.node_limit,
            mip_rel_gap=self.mip_rel_gap,
            tiers=self.tiers,
            network_utilisation=self.network_utilisation,
            amortise_slots=self.amortise_slots,
            removal_weight=self.removal_weight,
            solver=self._solver(),
            method=self.method,
        )
        self.last = result
        decision, self._picked = result.decision, "solver"
        if self.twin_check:
            others = [self._greedy.decide(obs)] + ([self._last] if self._last else [])
            scores = twin_scores(
                self.system,
                obs,
                [decision, *others],
                self.amortise_slots,
                self.removal_weight,
            )
            best = int(np.argmin(scores))
            if best > 0 and scores[best] < scores[0] * (1 - 1e-9):
                decision = others[best - 1]
                self._picked = "grd" if best == 1 else "previous"
        self._last = decision
        return decision

    def info(self) -> dict[str, float]:
        """The last slot's bound, decision objective, gap and times (collected by the runner)."""
        r = self.last
        if r is None:
            return {}
        return {
            "opt_objective_j": r.optimised,
            "opt_bound_j": r.bound,
            "opt_gap": r.gap,
            "opt_build_ms": r.build_ms,
            "opt_solve_ms": r.bound_ms + r.primal_ms,
            "opt_bound_ms": r.bound_ms,
            "opt_primal_ms": r.primal_ms,
            "opt_regions": float(r.regions),
            "opt_twin_kept_grd": float(self._picked == "grd"),
            "opt_twin_kept_previous": float(self._picked == "previous"),
        }
