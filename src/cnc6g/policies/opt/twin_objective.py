"""The twin's expected objective of a slot's decisions, as a deterministic function for a solver.

:class:`TwinObjective` fixes one slot's observed state (demand, radio rates, the deployment
running before) and scores any batch of decisions (deployment, routing) by the twin's own
expected one-slot objective: energy plus the penalty of every task not satisfied, with starts
spread over ``amortise_slots`` and removals charged as in OPT's plan
(:func:`~cnc6g.twin.costs.amortised_objective`). Nothing is re-stated here: every figure comes
from :func:`~cnc6g.twin.dynamics.evaluate_slot` and the cost helpers of
:mod:`cnc6g.twin.costs`, with the observed demand and channel in place of draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.opt.model import SlotInputs
from cnc6g.twin.costs import amortised_objective, removal_cost
from cnc6g.twin.dynamics import evaluate_slot
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System
from cnc6g.twin.twin import stack_paths

CHUNK = 256
"""Most copies scored in one call of the twin (larger batches cost more per copy)."""


@dataclass(frozen=True, eq=False)
class TwinObjective:
    """The twin's objective of decisions for one slot, J: a deterministic function of them.

    Args:
        system: the compiled scenario.
        inputs: the slot's demand, radio rates and previous deployment.
        amortise_slots: slots over which starting an instance is spread (1: the slot's own
            objective).
        removal_weight: share of the restart cost charged for removing an instance that ran;
            with ``amortise_slots``, spread over as many slots where the removals leave a node
            that can sleep empty (:func:`~cnc6g.twin.costs.removal_cost`), as in OPT's plan.
    """

    system: System
    inputs: SlotInputs
    amortise_slots: float = 1.0
    removal_weight: float = 0.0

    @classmethod
    def from_observation(
        cls,
        system: System,
        obs: Observation,
        amortise_slots: float = 1.0,
        removal_weight: float = 0.0,
    ) -> TwinObjective:
        """The objective of the slot ``obs`` observes."""
        return cls(system, SlotInputs.from_observation(obs), amortise_slots, removal_weight)

    def scores(
        self,
        deployments: BoolArray,
        routings: FloatArray,
        paths: IntArray | None = None,
        path_shares: FloatArray | None = None,
    ) -> FloatArray:
        """Objective of each decision, J, ``[B]``.

        ``deployments`` ``[B, S, N]`` (or one ``[S, N]`` for all), ``routings``
        ``[B, O, S, K]`` (shares >= 0, rows summing to at most 1). With ``amortise_slots`` 1
        the twin is called once per copy (the amortised objective's start term vanishes);
        otherwise twice, as :func:`~cnc6g.twin.costs.amortised_objective` does. ``paths``
        ``[B, O, S, P, Q]`` and ``path_shares`` ``[B, O, S, P]`` place the steps of services
        placed step by step (None: none).
        """
        y = np.asarray(routings, dtype=float)
        B = y.shape[0]
        x = np.asarray(deployments, dtype=bool)
        if x.ndim == 2:
            x = np.broadcast_to(x, (B, *x.shape))
        out = np.empty(B)
        for lo in range(0, B, CHUNK):
            hi = min(lo + CHUNK, B)
            if paths is None or path_shares is None:
                out[lo:hi] = self._scores(x[lo:hi], y[lo:hi])
            else:
                out[lo:hi] = self._scores(x[lo:hi], y[lo:hi], paths[lo:hi], path_shares[lo:hi])
        return out

    def score(self, decision: Decision) -> float:
        """Objective of one decision, J."""
        return float(self.score_all([decision])[0])

    def score_all(self, decisions: Sequence[Decision]) -> FloatArray:
        """Objective of each of ``decisions`` (their paths included), J."""
        paths, shares = stack_paths(self.system, list(decisions))
        return self.scores(
            np.stack([np.asarray(d.deployment, dtype=bool) for d in decisions]),
            np.stack([np.asarray(d.routing, dtype=float) for d in decisions]),
            paths,
            shares,
        )

    def _scores(
        self,
        x: BoolArray,
        y: FloatArray,
        paths: IntArray | None = None,
        path_shares: FloatArray | None = None,
    ) -> FloatArray:
        """Objective of ``B`` copies, one batch of the twin."""
        sy, inp = self.system, self.inputs
        B = x.shape[0]

        def rep(a: FloatArray) -> FloatArray:
            out: FloatArray = np.repeat(np.asarray(a)[None], B, axis=0)
            return out

        demand = rep(np.asarray(inp.demand, dtype=float))
        up, down = rep(inp.uplink_mbps), rep(inp.downlink_mbps)
        prev: BoolArray = np.repeat(np.asarray(inp.previous, dtype=bool)[None], B, axis=0)
        if self.amortise_slots != 1.0:  # removals charged below, spread where a node sleeps
            amortised: FloatArray = amortised_objective(
                sy,
                demand,
                up,
                down,
                x,
                prev,
                y,
                self.amortise_slots,
                0.0,
                paths=paths,
                path_shares=path_shares,
            )
            if self.removal_weight:
                amortised = amortised + removal_cost(
                    sy, demand, x, prev, self.removal_weight, self.amortise_slots
                )
            return amortised
        outcome = evaluate_slot(
            sy, demand, up, down, x, prev, y, paths=paths, path_shares=path_shares
        )
        value: FloatArray = outcome.objective(sy.unsatisfied_penalty_j)
        if self.removal_weight:
            charge: FloatArray = removal_cost(sy, demand, x, prev, self.removal_weight)
            value = value + charge
        return value
