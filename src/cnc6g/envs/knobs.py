"""A PettingZoo parallel environment with HMARL's own agents and action spaces.

The hierarchy of :mod:`cnc6g.policies.hmarl.hierarchy` as a multi-agent environment, so that a
learner of your own can take the place of any of HMARL's agents:

- ``e2e`` (the distributor): ``MultiDiscrete``, a capacity level
  (:data:`~cnc6g.policies.hmarl.executor.LEVELS`) per domain kind present; observes the global
  state;
- ``deploy_<domain>``: ``Discrete``, the start threshold
  (:data:`~cnc6g.policies.hmarl.executor.THRESHOLDS`) of the domain's orchestrator;
- ``route_<domain>``: ``Box`` in [-1, 1], a price and a capacity trim per node of the domain.

Domain agents observe their domain (with the level the distributor gave it in the previous
slot: all agents act at once). The executor turns the joint action into a feasible decision.
The distributor's reward is the global one, minus the twin's objective per request in units of
the penalty; a domain's two agents get minus its own cost (its nodes' energy and the penalty of
the tasks routed to it that failed, less the penalty of those it satisfied), same units; the
domain costs and the remainder add up to the global cost exactly
(:func:`cnc6g.policies.hmarl.rewards.decompose_cost`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from cnc6g.policies.hmarl.executor import LEVELS, THRESHOLDS, Knobs, execute
from cnc6g.policies.hmarl.features import domain_observations, global_observation, layout
from cnc6g.policies.hmarl.rewards import decompose_cost
from cnc6g.twin import System, Twin


class KnobsEnv(ParallelEnv):
    """HMARL's agents over one copy of the twin (PettingZoo parallel API).

    Args:
        system: the compiled scenario.
        horizon: slots per episode (episodes end by truncation).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "cnc6g_knobs_v0", "render_modes": []}

    def __init__(self, system: System, horizon: int = 200) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.system, self.horizon = system, horizon
        self.render_mode = None
        lay = layout(system)
        self._layout = lay
        self.kinds = sorted(set(lay.domain_kind.tolist()))
        names = [d.name for d in system.scenario.domains]
        self.domain_names = names
        self.possible_agents = [
            "e2e",
            *(f"deploy_{n}" for n in names),
            *(f"route_{n}" for n in names),
        ]
        self.agents: list[str] = []
        box = gym.spaces.Box
        self._obs: dict[str, gym.Space[Any]] = {
            "e2e": box(-np.inf, np.inf, (lay.global_size,), np.float32)
        }
        self._act: dict[str, gym.Space[Any]] = {
            "e2e": gym.spaces.MultiDiscrete([len(LEVELS)] * len(self.kinds))
        }
        for d, n in enumerate(names):
            size = lay.domain_size[lay.domain_kind[d]]
            space = box(-np.inf, np.inf, (size,), np.float32)
            self._obs[f"deploy_{n}"] = self._obs[f"route_{n}"] = space
            self._act[f"deploy_{n}"] = gym.spaces.Discrete(len(THRESHOLDS))
            self._act[f"route_{n}"] = box(-1.0, 1.0, (2 * lay.domain_nodes[d].size,), np.float32)
        self._twin = Twin(system, seed=0)

    def observation_space(self, agent: str) -> gym.Space[Any]:
        """Observation space of ``agent`` (the same object on every call)."""
        return self._obs[agent]

    def action_space(self, agent: str) -> gym.Space[Any]:
        """Action space of ``agent`` (the same object on every call)."""
        return self._act[agent]

    def _observations(self) -> dict[str, np.ndarray]:
        t, sy = self._twin, self.system
        demand = t.demand.astype(float)
        obs = {"e2e": global_observation(sy, demand, t.uplink_mbps, t.deployment, t.utilisation)[0]}
        dom = domain_observations(
            sy, demand, t.uplink_mbps, t.deployment, t.utilisation, self._level
        )
        for d, n in enumerate(self.domain_names):
            k = self._layout.domain_kind[d]
            j = int(np.searchsorted(np.flatnonzero(self._layout.domain_kind == k), d))
            obs[f"deploy_{n}"] = obs[f"route_{n}"] = dom[k][0, j]
        return {a: obs[a] for a in self.agents}

    def state(self) -> np.ndarray:
        """The global state (the distributor's observation)."""
        t = self._twin
        return global_observation(
            self.system, t.demand.astype(float), t.uplink_mbps, t.deployment, t.utilisation
        )[0]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode from an empty deployment; ``seed`` seeds demand and channel."""
        del options
        self._twin = Twin(self.system, seed=seed)
        self._idle: np.ndarray | None = None
        self._level = Knobs.neutral(self.system).level
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def knobs(self, actions: dict[str, np.ndarray]) -> Knobs:
        """The executor's knobs the agents' actions give (missing agents: neutral)."""
        sy, lay = self.system, self._layout
        k = Knobs.neutral(sy)
        if "e2e" in actions:
            levels = np.asarray(actions["e2e"]).reshape(-1)
            for i, kind in enumerate(self.kinds):
                k.level[0, lay.domain_kind == kind] = int(levels[i])
        for d, n in enumerate(self.domain_names):
            if f"deploy_{n}" in actions:
                k.threshold[0, d] = int(np.asarray(actions[f"deploy_{n}"]).reshape(-1)[0])
            if f"route_{n}" in actions:
                a = np.clip(np.asarray(actions[f"route_{n}"], dtype=float), -1, 1).reshape(-1, 2)
                k.price[0, lay.domain_nodes[d]] = a[:, 0]
                k.trim[0, lay.domain_nodes[d]] = a[:, 1]
        return k

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Execute the agents' knobs in the current slot."""
        t, sy = self._twin, self.system
        knobs = self.knobs(actions)
        previous = t.deployment.copy()
        x, y, self._idle, _ = execute(
            sy, t.demand.astype(float), t.uplink_mbps, t.downlink_mbps, previous, knobs, self._idle
        )
        outcome = t.step_arrays(x, y, clean=False)
        total, per_domain, remainder = decompose_cost(sy, outcome, x, previous)
        scale = sy.unsatisfied_penalty_j * max(float(outcome.offered[0]), 1.0)
        rewards = {"e2e": -float(total[0]) / scale}
        for d, n in enumerate(self.domain_names):
            rewards[f"deploy_{n}"] = rewards[f"route_{n}"] = -float(per_domain[0, d]) / scale
        self._level = knobs.level
        truncated = t.slot >= self.horizon
        info = {"objective_j": float(total[0]), "unowned_j": float(remainder[0])}
        agents = list(self.agents)
        obs = self._observations()
        if truncated:
            self.agents = []
        return (
            obs,
            {a: rewards[a] for a in agents},
            dict.fromkeys(agents, False),
            dict.fromkeys(agents, truncated),
            {a: dict(info) for a in agents},
        )
