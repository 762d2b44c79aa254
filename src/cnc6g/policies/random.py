"""RAND: random deployment and random traffic distribution (seed 002, section IV baseline 1).

Every ``redeploy_every`` slots (the same cadence as GRD, so the two differ in how they place,
not in how often) each service gets ``U{min..max}`` instances on random nodes that can host it
and still have memory. Every slot each origin splits each service's demand over its usable
instances with Dirichlet(1) weights.
"""

from __future__ import annotations

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy, usable_candidates
from cnc6g.twin.system import BoolArray, System


class RandomPolicy(Policy):
    """RAND baseline.

    Args:
        min_instances: fewest instances per service.
        max_instances: most instances per service.
        redeploy_every: slots between new random deployments.
    """

    name = "rand"

    def __init__(self, min_instances: int = 1, max_instances: int = 3, redeploy_every: int = 10):
        if not 1 <= min_instances <= max_instances:
            raise ValueError("need 1 <= min_instances <= max_instances")
        if redeploy_every < 1:
            raise ValueError("redeploy_every must be >= 1")
        self.min_instances = min_instances
        self.max_instances = max_instances
        self.redeploy_every = redeploy_every

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
        return Decision(deployment=x.copy(), routing=routing)

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
        return x
