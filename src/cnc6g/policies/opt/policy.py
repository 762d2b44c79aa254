"""OPT as a policy: each slot's MILP solved with global information, checked in the twin."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.opt.model import DEFAULT_TIERS, SlotInputs
from cnc6g.policies.opt.phases import PHASES, Solution, solve_slot
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.twin.costs import REMOVAL_WEIGHT
from cnc6g.twin.system import FloatArray, System


def twin_scores(
    system: System,
    obs: Observation,
    decisions: Sequence[Decision],
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
) -> FloatArray:
    """The twin's objective of each decision for the slot of ``obs``, J, ``[len(decisions)]``.

    Starting and removing instances are charged as in the plan
    (:func:`~cnc6g.twin.costs.amortised_objective`).
    """
    return TwinObjective.from_observation(system, obs, amortise_slots, removal_weight).score_all(
        decisions
    )


class OptimalPolicy(Policy):
    """OPT: solve the slot's MILP with global information (HiGHS).

    Args:
        time_limit: seconds per slot; the best decision found so far is used when it runs out.
        mip_rel_gap: relative gap at which HiGHS stops.
        node_limit: branch-and-bound nodes each MILP phase of a slot may take (``None``: no
            limit; HiGHS's ``mip_max_nodes``; a phase's root node is not counted). A limit on
            work, not on time: with it and a ``time_limit`` the slots never reach, a seed gives
            the same decisions on any machine (``time_limit`` then only guards against a slot
            that runs far too long).
        tiers: utilisation tiers (in (0, 1)) a node may commit to for the satisfaction model.
        network_utilisation: utilisation cap of radio and wired links in the plan.
        warm_start: keep the previous slot's decision and GRD's decision of the same slot at
            hand, ordered by their twin score: the solver's fallback (branch and cut starts
            from the better one's deployment, and it is completed should nothing be found in
            time) and, with ``twin_check``, the decisions the solver's must beat.
        amortise_slots: slots over which the plan spreads the cost of starting an instance.
        removal_weight: share of what restarting an instance would cost
            (:func:`~cnc6g.twin.costs.restart_cost`) charged for removing one that ran. A
            one-slot plan without it removes instances in every dip of their demand and
            restarts them at a cold start each.
        twin_check: score the solver's decision, GRD's decision of the slot and the previous
            decision in the twin (cold starts and removals charged as in the plan) and apply
            the best. The plan is an upper bound on the twin's score and can be
            loose where it rounds a node's load up to its tier; this makes OPT's slot never
            worse in the twin than GRD's on the same inputs.
    """

    name = "opt"

    def __init__(
        self,
        time_limit: float = 5.0,
        mip_rel_gap: float = 1e-3,
        node_limit: int | None = None,
        tiers: tuple[float, ...] = DEFAULT_TIERS,
        network_utilisation: float = 0.8,
        warm_start: bool = True,
        amortise_slots: float = 10.0,
        removal_weight: float = REMOVAL_WEIGHT,
        twin_check: bool = True,
    ) -> None:
        if time_limit <= 0 or not 0 <= mip_rel_gap < 1:
            raise ValueError("time_limit must be > 0 and mip_rel_gap in [0, 1)")
        if node_limit is not None and node_limit < 1:
            raise ValueError("node_limit must be >= 1 (or None)")
        if not tiers or not all(0 < t < 1 for t in tiers):
            raise ValueError("tiers must be utilisations in (0, 1)")
        if not 0 < network_utilisation < 1:
            raise ValueError("network_utilisation must be in (0, 1)")
        if amortise_slots < 1:
            raise ValueError("amortise_slots must be >= 1")
        if removal_weight < 0:
            raise ValueError("removal_weight must be >= 0")
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.node_limit = node_limit
        self.tiers = tuple(tiers)
        self.network_utilisation = network_utilisation
        self.warm_start = warm_start
        self.amortise_slots = amortise_slots
        self.removal_weight = removal_weight
        self.twin_check = twin_check

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the previous solution."""
        super().reset(system, seed)
        self._last: Decision | None = None
        self._greedy = GreedyPolicy()
        self._greedy.reset(system, seed)
        self._picked = "solver"
        self.last_solution: Solution | None = None

    def decide(self, obs: Observation) -> Decision:
        """Solve this slot's MILP."""
        warm: list[Decision] = []
        if self.warm_start:
            warm = [self._greedy.decide(obs)]
            if self._last is not None:
                warm.insert(0, self._last)
        scores = np.zeros(0)
        if warm:  # the better of GRD's and the previous decision in the twin starts the search
            scores = twin_scores(self.system, obs, warm, self.amortise_slots, self.removal_weight)
            order = np.argsort(scores, kind="stable")
            warm, scores = [warm[i] for i in order], scores[order]
        solution = solve_slot(
            self.system,
            SlotInputs.from_observation(obs),
            tiers=self.tiers,
            network_utilisation=self.network_utilisation,
            time_limit=self.time_limit,
            mip_rel_gap=self.mip_rel_gap,
            node_limit=self.node_limit,
            warm=warm,
            amortise_slots=self.amortise_slots,
            removal_weight=self.removal_weight,
        )
        self.last_solution = solution
        decision = solution.decision
        self._picked = "solver"
        if self.twin_check and warm:
            own = twin_scores(
                self.system, obs, [decision], self.amortise_slots, self.removal_weight
            )[0]
            if scores[0] < own * (1 - 1e-9):
                decision = warm[0]
                self._picked = "previous" if warm[0] is self._last else "grd"
        self._last = decision
        return decision

    def info(self) -> dict[str, float]:
        """Solver figures of the last slot (collected by the runner)."""
        s = self.last_solution
        if s is None:
            return {}
        return {
            "opt_solve_ms": s.solve_ms,
            "opt_build_ms": s.build_ms,
            "opt_gap": s.gap,
            "opt_time_limit_hit": float(s.status == "Time limit reached"),
            "opt_objective_j": s.objective,
            "opt_bound_j": s.bound,
            "opt_rens": float(s.source == "rens"),
            "opt_rc_neighbourhood": float(s.source == "rc neighbourhood"),
            "opt_branch_and_cut": float(s.source == "branch and cut"),
            "opt_twin_kept_grd": float(self._picked == "grd"),
            "opt_twin_kept_previous": float(self._picked == "previous"),
            **{f"opt_{phase}_ms": s.phase_ms.get(phase, 0.0) for phase in PHASES},
        }
