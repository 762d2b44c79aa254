"""RAND: random deployment and random traffic distribution (seed 002, section IV baseline 1).

Every ``redeploy_every`` slots (the same cadence as GRD, so the two differ in how they place,
not in how often) each service gets ``U{min..max}`` instances on random nodes that can host it
and still have memory. Every slot each origin splits each service's demand over its usable
instances with Dirichlet(1) weights. A service placed step by step (``place_steps``) gets, per
origin, a few random paths (each step on a random usable instance, a step pinned to the terminal
on the terminal's node, where RAND also deploys such services) with Dirichlet(1) shares.
"""

from __future__ import annotations

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy, usable_candidates
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System


class RandomPolicy(Policy):
    """RAND baseline.

    Args:
        min_instances: fewest instances per service.
        max_instances: most instances per service.
        redeploy_every: slots between new random deployments.
        paths_per_demand: random paths each (origin, service) demand of a service placed step
            by step (``place_steps``) is split over.
    """

    name = "rand"

    def __init__(
        self,
        min_instances: int = 1,
        max_instances: int = 3,
        redeploy_every: int = 10,
        paths_per_demand: int = 3,
    ) -> None:
        if not 1 <= min_instances <= max_instances:
            raise ValueError("need 1 <= min_instances <= max_instances")
        if redeploy_every < 1:
            raise ValueError("redeploy_every must be >= 1")
        if paths_per_demand < 1:
            raise ValueError("paths_per_demand must be >= 1")
        self.min_instances = min_instances
        self.max_instances = max_instances
        self.redeploy_every = redeploy_every
        self.paths_per_demand = paths_per_demand

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget the current deployment."""
        super().reset(system, seed)
        self._deployment: BoolArray | None = None

    def decide(self, obs: Observation) -> Decision:
        """A random deployment when due, and a random split of every demand."""
        sy, rng = self.system, self.rng
        if self._deployment is None or obs.slot % self.redeploy_every == 0:
            self._deployment = self._deploy()
        x = self._deployment
        usable = usable_candidates(sy, x)
        weights = rng.gamma(1.0, size=usable.shape) * usable
        total = weights.sum(axis=-1, keepdims=True)
        routing = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
        if sy.chains is None:
            return Decision(deployment=x.copy(), routing=routing)
        routing[:, sy.chains.is_chain] = 0.0
        paths, shares = self._paths(x)
        return Decision(deployment=x.copy(), routing=routing, paths=paths, path_shares=shares)

    def _paths(self, x: BoolArray) -> tuple[IntArray, FloatArray]:
        """``paths_per_demand`` random paths per (origin, step-placed service), random shares.

        Each step runs on a random usable candidate (an instance there, admissible), a pinned
        step on the origin's terminal node; a path with a step that has none is left out.
        """
        sy, rng = self.system, self.rng
        spec = sy.chains
        assert spec is not None
        O, S, Q, P = sy.n_origins, sy.n_services, spec.n_max_steps, self.paths_per_demand
        usable = usable_candidates(sy, x)  # [O, S, K]
        local = sy.candidate_local & sy.candidate_valid
        paths = np.full((O, S, P, Q), -1, dtype=np.int64)
        shares = np.zeros((O, S, P))
        for s in np.flatnonzero(spec.is_chain):
            n = int(spec.n_steps[s])
            for o in range(O):
                anywhere = np.flatnonzero(usable[o, s])
                pinned_at = np.flatnonzero(usable[o, s] & local[o])
                options = [pinned_at if spec.step_pinned[s, q] else anywhere for q in range(n)]
                if any(opt.size == 0 for opt in options):
                    continue
                for q, opt in enumerate(options):
                    paths[o, s, :, q] = rng.choice(opt, size=P)
                w = rng.gamma(1.0, size=P)
                shares[o, s] = w / w.sum()
        return paths, shares

    def _deploy(self) -> BoolArray:
        sy, rng = self.system, self.rng
        x = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
        free = sy.memory.copy()
        for s in rng.permutation(sy.n_services):
            want = int(rng.integers(self.min_instances, self.max_instances + 1))
            for n in rng.permutation(np.flatnonzero(sy.can_host[s])):
                if free[n] >= sy.service_memory[s]:
                    x[s, n] = True
                    free[n] -= sy.service_memory[s]
                    want -= 1
                    if want == 0:
                        break
        if sy.chains is not None:  # services with steps pinned to the terminal run there too
            local = sy.candidate_local & sy.candidate_valid
            terminals = np.unique(sy.candidates[local])
            for s in np.flatnonzero(sy.chains.step_pinned.any(axis=1)):
                for n in terminals:
                    if not x[s, n] and sy.can_host[s, n] and free[n] >= sy.service_memory[s]:
                        x[s, n] = True
                        free[n] -= sy.service_memory[s]
        return x
