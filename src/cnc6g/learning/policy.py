"""HMARL as an orchestration policy: trained agents acting (and, online, learning) per slot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnc6g.learning.checkpoint import load_agents, shipped_path
from cnc6g.learning.executor import execute
from cnc6g.learning.hmarl import MODES, Agents, Step
from cnc6g.learning.trainer import TrainConfig, difference_rewards, slot_rewards, train
from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.twin.dynamics import SlotOutcome
from cnc6g.twin.system import System


class HMARLPolicy(Policy):
    """The hierarchical multi-agent orchestrator of seed 002 (or one of its ablations).

    Args:
        mode: ``hmarl`` (distributor + domain agents), ``central`` or ``independent``.
        checkpoint: file of trained agents; default: the one shipped for the scenario.
        retrain: train afresh in :meth:`reset` (with its seed) instead of loading a checkpoint.
        train_steps: training steps when retraining (default: :class:`TrainConfig`'s).
        online: keep learning while acting: every slot's outcome is stored and each learner
            takes one gradient step (exploration ``online_eps`` / ``online_noise``).
        online_eps: epsilon of the DQNs while learning online.
        online_noise: noise of the DDPGs while learning online.
    """

    name = "hmarl"

    def __init__(
        self,
        mode: str = "hmarl",
        checkpoint: str | Path | None = None,
        retrain: bool = False,
        train_steps: int | None = None,
        online: bool = False,
        online_eps: float = 0.02,
        online_noise: float = 0.02,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if train_steps is not None and train_steps < 1:
            raise ValueError("train_steps must be >= 1")
        if not (0 <= online_eps <= 1 and online_noise >= 0):
            raise ValueError("online_eps must be in [0, 1] and online_noise >= 0")
        self.mode = mode
        self.checkpoint = checkpoint
        self.retrain = retrain
        self.train_steps = train_steps
        self.online = online
        self.online_eps = online_eps
        self.online_noise = online_noise
        if mode != "hmarl":
            self.name = f"hmarl-{mode}"

    def reset(self, system: System, seed: int | None = None) -> None:
        """Load (or train) the agents for ``system``."""
        super().reset(system, seed)
        if self.retrain:
            steps = {} if self.train_steps is None else {"steps": self.train_steps}
            cfg = TrainConfig(mode=self.mode, seed=int(seed or 0), **steps)
            self.agents: Agents = train(system.scenario, cfg).agents
            self._train_config = cfg
            self.meta = {"trained": "in reset", "seed": cfg.seed, "steps": cfg.steps}
        else:
            path = self.checkpoint or shipped_path(system.scenario.name, self.mode)
            if self.checkpoint is None and not Path(path).is_file():
                raise ValueError(
                    f"no {self.mode} checkpoint ships for scenario {system.scenario.name!r}: "
                    f"train one with `cnc6g train {self.mode} --scenario ...` and pass it, "
                    "or retrain"
                )
            self.agents, self._train_config, self.meta = load_agents(system, path)
        # Agents act on the compiled arrays only; the running system may be another load.
        self.agents.system = system
        self._idle: np.ndarray | None = None
        self._pending: tuple[Step, np.ndarray, np.ndarray] | None = None
        self._last: tuple[Step, np.ndarray] | None = None
        self.updates = 0

    def decide(self, obs: Observation) -> Decision:
        """The agents' knobs for this slot, executed into a decision."""
        sy = self.system
        demand = obs.demand[None].astype(float)
        previous = obs.deployment[None]
        eps, noise = (self.online_eps, self.online_noise) if self.online else (0.0, 0.0)
        step = self.agents.act(
            demand, obs.uplink_mbps[None], previous, obs.utilisation[None], eps, noise, self.rng
        )
        idle_before = self._idle
        inputs = (demand, obs.uplink_mbps[None], obs.downlink_mbps[None], previous)
        executed = execute(sy, *inputs[:3], previous, step.knobs, self._idle)
        x, y, self._idle = executed.deployment, executed.routing, executed.idle
        if self.online and self._pending is not None:
            done, reward, domain_reward = self._pending
            self.agents.remember(done, step, reward, domain_reward)
            self._pending = None
        if self.online and self.mode == "hmarl":  # difference rewards, as in training
            gains = difference_rewards(
                self.agents,
                [sy],
                [slice(0, 1)],
                inputs,
                idle_before,
                step.knobs,
                executed,
                self._train_config,
                self.rng,
            )
            self.agents.remember_differences(step, *gains)
        self._last = (step, previous.copy())
        return Decision(deployment=x[0], routing=y[0])

    def feedback(self, obs: Observation, decision: Decision, outcome: SlotOutcome) -> None:
        """Online: store the slot's rewards and take one gradient step per learner."""
        del obs
        if not self.online or self._last is None:
            return
        step, previous = self._last
        if self.mode != "hmarl":  # the ablations learn from the global and local rewards
            r, rd, _ = slot_rewards(self.system, outcome, decision.deployment[None], previous)
            self._pending = (step, r, rd)
        losses = self.agents.update()
        self.updates += int(any(np.isfinite(v) for v in losses.values()))
