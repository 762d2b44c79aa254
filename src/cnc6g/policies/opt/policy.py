"""OPT as a policy: each slot's MILP solved with global information, checked in the twin."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.opt.model import DEFAULT_TIERS, SlotInputs
from cnc6g.policies.opt.phases import PHASES, Solution, solve_slot
from cnc6g.policies.opt.refine import Refinement, refine_decision
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


def check_model_options(
    tiers: Sequence[float],
    network_utilisation: float,
    amortise_slots: float,
    removal_weight: float,
) -> None:
    """Raise ``ValueError`` naming the first option of OPT's model that is out of range."""
    if not all(0 < t < 1 for t in tiers):
        raise ValueError("tiers must be utilisations in (0, 1)")
    if not 0 < network_utilisation < 1:
        raise ValueError("network_utilisation must be in (0, 1)")
    if amortise_slots < 1:
        raise ValueError("amortise_slots must be >= 1")
    if removal_weight < 0:
        raise ValueError("removal_weight must be >= 0")


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
        refine: refine the applied decision against the twin's own objective (the one
            ``twin_check`` scores): its routing, and the deployments one instance away where
            they are few (:func:`~cnc6g.policies.opt.refine.refine_decision`). Never worse in
            the twin than the decision it starts from. Not applied on systems with services
            placed step by step (the refinement moves one-unit routing only).
        refine_evaluations: twin evaluations the refinement of a slot may take (work, not
            time: the same on any machine); 0 turns the refinement off, ``None`` takes
            :func:`~cnc6g.policies.opt.refine.default_evaluations`.
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
        refine: bool = True,
        refine_evaluations: int | None = None,
    ) -> None:
        if time_limit <= 0 or not 0 <= mip_rel_gap < 1:
            raise ValueError("time_limit must be > 0 and mip_rel_gap in [0, 1)")
        if node_limit is not None and node_limit < 1:
            raise ValueError("node_limit must be >= 1 (or None)")
        if not tiers:
            raise ValueError("tiers must be utilisations in (0, 1)")
        check_model_options(tiers, network_utilisation, amortise_slots, removal_weight)
        if refine_evaluations is not None and refine_evaluations < 0:
            raise ValueError("refine_evaluations must be >= 0")
        self.time_limit = time_limit
        self.mip_rel_gap = mip_rel_gap
        self.node_limit = node_limit
        self.tiers = tuple(tiers)
        self.network_utilisation = network_utilisation
        self.warm_start = warm_start
        self.amortise_slots = amortise_slots
        self.removal_weight = removal_weight
        self.twin_check = twin_check
        self.refine = refine
        self.refine_evaluations = refine_evaluations

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the previous solution."""
        super().reset(system, seed)
        self._last: Decision | None = None
        self._greedy = GreedyPolicy()
        self._greedy.reset(system, seed)
        self._picked = "solver"
        self.last_solution: Solution | None = None
        self.last_refinement: Refinement | None = None
        self._refine_ms = 0.0

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
        objective = TwinObjective.from_observation(
            self.system, obs, self.amortise_slots, self.removal_weight
        )
        if self.twin_check and warm:
            own = objective.score(decision)
            if scores[0] < own * (1 - 1e-9):
                decision = warm[0]
                self._picked = "previous" if warm[0] is self._last else "grd"
        self.last_refinement = None
        if self.refine and self.refine_evaluations != 0 and self.system.chains is None:
            start = time.perf_counter()
            self.last_refinement = refine_decision(objective, decision, self.refine_evaluations)
            self._refine_ms = (time.perf_counter() - start) * 1e3
            decision = self.last_refinement.decision
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
            **self._refinement_info(),
        }

    def _refinement_info(self) -> dict[str, float]:
        """What the refinement of the last slot did (nothing when it is off)."""
        r = self.last_refinement
        if r is None:
            return {}
        return {
            "opt_refine_ms": self._refine_ms,
            "opt_refine_evaluations": float(r.evaluations),
            "opt_refine_gain": (r.start_objective - r.objective)
            / max(abs(r.start_objective), 1e-9),
            "opt_refine_neighbour": float(r.source == "deployment neighbour"),
            "opt_twin_j": r.objective,
        }
