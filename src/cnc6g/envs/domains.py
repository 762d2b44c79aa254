"""A PettingZoo parallel environment: the E2E distributor and one agent per domain orchestrator.

The hierarchy of seed 002, section III-E, as agents acting every slot:

- ``e2e`` (the distributor) sees the global state and scores, for every (origin, service), each
  domain and a "reject" option: the cross-domain allocation;
- ``dom_<name>`` (a domain orchestrator) sees its own nodes (utilisation, instances) and the
  demand of the origins that can reach it, and scores the instances on its nodes and, for every
  (origin, service), the routes to its nodes: deployment and intra-domain distribution.

A route's score is the distributor's score of its domain plus the domain agent's score of the
route; :func:`cnc6g.envs.decode.decode_action` turns the sum into a feasible decision.

**Reward decomposition.** The global reward is minus the twin's objective (energy plus the
penalty per unsatisfied task), scaled as in :class:`~cnc6g.envs.central.CentralEnv`; it goes to
``e2e``. Domain ``d`` gets minus its cost in HMARL's decomposition
(:func:`~cnc6g.policies.hmarl.rewards.decompose_cost`): its own nodes' energy, the penalty for the
tasks routed to it and not satisfied, less a credit for those it satisfied, same scale. What no
domain owns (the network's energy, the tasks dropped before a node, the credits) is the
remainder, so the domain rewards and that remainder add up to the global reward exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from cnc6g.envs.central import CentralEnv
from cnc6g.envs.decode import decode_action
from cnc6g.policies.hmarl.rewards import decompose_cost
from cnc6g.twin import System


class DomainsEnv(ParallelEnv):
    """Multi-agent environment over one copy of the twin (PettingZoo parallel API).

    Args:
        system: the compiled scenario.
        horizon: slots per episode (episodes end by truncation).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "cnc6g_domains_v0", "render_modes": []}

    def __init__(self, system: System, horizon: int = 200) -> None:
        self.system = system
        self._central = CentralEnv(system, horizon)
        sy = system
        S, O = sy.n_services, sy.n_origins
        scenario = sy.scenario
        self.domain_names = tuple(d.name for d in scenario.domains)
        D = len(self.domain_names)
        self._cand_domain = np.where(sy.candidate_valid, sy.node_domain[sy.candidates], -1)
        self.possible_agents = ["e2e", *(f"dom_{n}" for n in self.domain_names)]
        self.agents: list[str] = []
        self.render_mode = None
        # Each domain agent: its nodes, and the route slots (o, k) whose candidate is in it.
        self._nodes = [np.flatnonzero(sy.node_domain == d) for d in range(D)]
        self._routes = [np.argwhere(self._cand_domain == d) for d in range(D)]
        self._origins = [np.unique(r[:, 0]) for r in self._routes]
        self._obs_spaces: dict[str, gym.spaces.Box] = {"e2e": self._central.observation_space}
        self._act_spaces: dict[str, gym.spaces.Box] = {
            "e2e": gym.spaces.Box(-1.0, 1.0, (O * S * (D + 1),), np.float32)
        }
        for d, name in enumerate(self.domain_names):
            n_d, r_d, o_d = self._nodes[d].size, self._routes[d].shape[0], self._origins[d].size
            high = np.concatenate([np.ones(n_d + S * n_d), np.full(o_d * S, float(O * S))])
            self._obs_spaces[f"dom_{name}"] = gym.spaces.Box(
                np.zeros_like(high, np.float32), high.astype(np.float32), dtype=np.float32
            )
            self._act_spaces[f"dom_{name}"] = gym.spaces.Box(
                -1.0, 1.0, (S * n_d + r_d * S,), np.float32
            )

    def observation_space(self, agent: str) -> gym.spaces.Box:
        """Observation space of ``agent`` (the same object on every call)."""
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Box:
        """Action space of ``agent`` (the same object on every call)."""
        return self._act_spaces[agent]

    def _observations(self) -> dict[str, np.ndarray]:
        twin = self._central._twin
        global_obs = self._central._observation()
        demand = twin.demand[0] * self._central._demand_scale
        obs = {"e2e": global_obs}
        for d, name in enumerate(self.domain_names):
            nodes = self._nodes[d]
            parts = [
                twin.utilisation[0][nodes],
                twin.deployment[0][:, nodes].ravel(),
                demand[self._origins[d]].ravel(),
            ]
            space = self._obs_spaces[f"dom_{name}"]
            obs[f"dom_{name}"] = np.minimum(np.concatenate(parts), space.high).astype(np.float32)
        return obs

    def state(self) -> np.ndarray:
        """The global state (the distributor's observation)."""
        return self._central._observation()

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode; ``seed`` seeds demand and channel."""
        self._central.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def joint_action(self, actions: dict[str, np.ndarray]) -> np.ndarray:
        """The flat action of :func:`decode_action` the agents' actions add up to."""
        sy = self.system
        S, N, O, K = sy.n_services, sy.n_nodes, sy.n_origins, sy.n_candidates
        D = len(self.domain_names)
        instance = np.full((S, N), -1.0)
        route = np.full((O, S, K + 1), -1.0)
        pref = np.asarray(actions["e2e"], dtype=float).reshape(O, S, D + 1)
        valid = self._cand_domain >= 0
        o_idx, k_idx = np.nonzero(valid)
        route[o_idx, :, k_idx] = pref[o_idx, :, self._cand_domain[o_idx, k_idx]]
        route[:, :, K] = pref[:, :, D]
        for d, name in enumerate(self.domain_names):
            a = np.asarray(actions[f"dom_{name}"], dtype=float)
            nodes, routes = self._nodes[d], self._routes[d]
            instance[:, nodes] = a[: S * nodes.size].reshape(S, nodes.size)
            scores = a[S * nodes.size :].reshape(routes.shape[0], S)
            route[routes[:, 0], :, routes[:, 1]] += scores
        return np.concatenate([instance.ravel(), route.ravel()])

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        """Apply the agents' joint decision to the current slot."""
        twin = self._central._twin
        previous = twin.deployment[0].copy()
        decision = decode_action(self.system, self.joint_action(actions))
        outcome = twin.step(decision)
        totals, domains, remainders = decompose_cost(
            self.system, outcome, decision.deployment[None], previous[None]
        )
        total, per_domain, remainder = float(totals[0]), domains[0], float(remainders[0])
        scale = self._central._reward_scale
        rewards = {"e2e": -total / scale}
        for d, name in enumerate(self.domain_names):
            rewards[f"dom_{name}"] = -float(per_domain[d]) / scale
        truncated = twin.slot >= self._central.horizon
        info = {"objective_j": total, "unowned_j": remainder}
        obs = self._observations()
        truncations = dict.fromkeys(self.agents, truncated)
        terminations = dict.fromkeys(self.agents, False)
        infos = {a: dict(info) for a in self.agents}
        if truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos
