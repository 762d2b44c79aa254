"""A Gymnasium environment over the twin: one agent decides for the whole system each slot.

The centralised single-agent view of seed 002 (the ablation the paper reports as unstable). The
observation is the slot's global state (demand, radio rates, running instances, utilisation);
the action scores instances and routes and is decoded into a feasible decision by
:func:`cnc6g.envs.decode.decode_action`; the reward is minus the twin's objective (energy plus
the penalty per unsatisfied task), scaled by the penalty times the mean requests per slot.
Episodes end by truncation after ``horizon`` slots (the system itself never terminates).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from cnc6g.envs.decode import action_size, decode_action
from cnc6g.twin import System, Twin


class CentralEnv(gym.Env[np.ndarray, np.ndarray]):
    """Single-agent environment over one copy of the twin.

    Args:
        system: the compiled scenario.
        horizon: slots per episode.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, system: System, horizon: int = 200) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.system = system
        self.horizon = horizon
        self.render_mode = None
        S, N, O = system.n_services, system.n_nodes, system.n_origins
        # Demand (scaled so its maximum is O * S), radio rates in Gbit/s (capped at 10),
        # running instances, utilisation.
        self._high = np.concatenate(
            [np.full(O * S, float(O * S)), np.full(2 * O, 10.0), np.ones(S * N), np.ones(N)]
        ).astype(np.float32)
        self.observation_space = gym.spaces.Box(
            np.zeros_like(self._high), self._high, dtype=np.float32
        )
        n_inst, n_route = action_size(system)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n_inst + n_route,), np.float32)
        self._twin = Twin(system, batch=1, seed=0)
        high = self._twin.process.high
        self._demand_scale = O * S / max(high, 1)
        self._reward_scale = system.unsatisfied_penalty_j * max(
            (self._twin.process.low + high) / 2, 1.0
        )

    def _observation(self) -> np.ndarray:
        t = self._twin
        parts = [
            t.demand[0].ravel() * self._demand_scale,
            t.uplink_mbps[0] / 1000.0,
            t.downlink_mbps[0] / 1000.0,
            t.deployment[0].ravel(),
            t.utilisation[0],
        ]
        return np.minimum(np.concatenate(parts), self._high).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode from an empty deployment; ``seed`` seeds demand and channel."""
        super().reset(seed=seed, options=options)
        twin_seed = int(self.np_random.integers(2**31))
        self._twin = Twin(self.system, batch=1, seed=twin_seed)
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the decoded decision to the current slot."""
        decision = decode_action(self.system, action)
        outcome = self._twin.step(decision)
        objective = float(outcome.objective(self.system.unsatisfied_penalty_j)[0])
        info = {
            "energy_j": float(outcome.energy_total[0]),
            "satisfied": float(outcome.satisfied[0]),
            "offered": float(outcome.offered[0]),
            "objective_j": objective,
        }
        truncated = self._twin.slot >= self.horizon
        return self._observation(), -objective / self._reward_scale, False, truncated, info
