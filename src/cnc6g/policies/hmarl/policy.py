"""HMARL as an orchestration policy: trained agents acting (and, online, learning) per slot.

The policy does not know where its agents come from: a :class:`AgentSource` gives it trained
agents for the system it is reset on (a checkpoint, a training run: see :mod:`cnc6g.learning`),
so this layer does no file I/O and never trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.policies.hmarl.executor import execute
from cnc6g.policies.hmarl.hierarchy import MODES, Agents, Step
from cnc6g.policies.hmarl.rewards import RewardConfig, difference_rewards, slot_rewards
from cnc6g.twin.dynamics import SlotOutcome
from cnc6g.twin.system import System


@dataclass(eq=False)
class TrainedAgents:
    """Agents ready to act, with how their rewards were computed and where they come from.

    Attributes:
        agents: the learners of one mode, sized for the system.
        rewards: the reward settings they were trained with (online learning keeps them).
        meta: what produced them (scenario, seed, steps, the command), for run records.
    """

    agents: Agents
    rewards: RewardConfig = field(default_factory=RewardConfig)
    meta: dict[str, Any] = field(default_factory=dict)


class AgentSource(Protocol):
    """Gives trained agents of ``mode`` for ``system``; ``seed`` is the run's."""

    def __call__(self, system: System, mode: str, seed: int | None) -> TrainedAgents:
        """The agents; raise ``ValueError`` saying why when there are none for ``system``."""
        ...


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with PyTorch on ``threads`` intra-op threads (``None``: as it is)."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class HMARLPolicy(Policy):
    """The hierarchical multi-agent orchestrator of seed 002 (or one of its ablations).

    Args:
        mode: ``hmarl`` (distributor + domain agents), ``central`` or ``independent``.
        source: gives the trained agents at :meth:`reset` (see :class:`AgentSource`); the
            registry's ``hmarl`` policies (:func:`cnc6g.orchestration.make_policy`) load the
            checkpoint shipped for the scenario.
        online: keep learning while acting: every slot's outcome is stored and each learner
            takes one gradient step (exploration ``online_eps`` / ``online_noise``).
        online_eps: epsilon of the DQNs while learning online.
        online_noise: noise of the DDPGs while learning online.
        threads: PyTorch threads while the agents act and learn (default 1: their networks are
            small, and a forward pass on one thread takes a fraction of what spreading it over
            the cores costs); ``None`` keeps PyTorch's setting. Restored after each call.
    """

    name = "hmarl"

    def __init__(
        self,
        mode: str = "hmarl",
        source: AgentSource | None = None,
        online: bool = False,
        online_eps: float = 0.02,
        online_noise: float = 0.02,
        threads: int | None = 1,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not (0 <= online_eps <= 1 and online_noise >= 0):
            raise ValueError("online_eps must be in [0, 1] and online_noise >= 0")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 or None, got {threads}")
        self.threads = threads
        self.mode = mode
        self.source = source
        self.online = online
        self.online_eps = online_eps
        self.online_noise = online_noise
        if mode != "hmarl":
            self.name = f"hmarl-{mode}"

    def reset(self, system: System, seed: int | None = None) -> None:
        """Get the agents for ``system`` from the source."""
        super().reset(system, seed)
        if self.source is None:
            raise ValueError(
                "HMARLPolicy needs a source of trained agents: build it with "
                "cnc6g.orchestration.make_policy('hmarl') or pass source="
            )
        trained = self.source(system, self.mode, seed)
        if trained.agents.mode != self.mode:
            raise ValueError(f"the source gave {trained.agents.mode} agents, not {self.mode}")
        self.agents: Agents = trained.agents
        self.rewards: RewardConfig = trained.rewards
        self.meta: dict[str, Any] = trained.meta
        # Agents act on the compiled arrays only; the running system may be another load.
        self.agents.bind(system)
        self._idle: np.ndarray | None = None
        self._pending: tuple[Step, np.ndarray, np.ndarray] | None = None
        self._last: tuple[Step, np.ndarray] | None = None
        self.updates = 0

    def system_changed(self, system: System) -> None:
        """Act on ``system`` from now on (same layout: the agents keep their networks)."""
        super().system_changed(system)
        self.agents.bind(system)

    def decide(self, obs: Observation) -> Decision:
        """The agents' knobs for this slot, executed into a decision."""
        if self.threads is None or self.threads == torch.get_num_threads():
            return self._decide(obs)  # the setting wanted already: nothing to set and restore
        with torch_threads(self.threads):
            return self._decide(obs)

    def _decide(self, obs: Observation) -> Decision:
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
                self.rewards,
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
        with torch_threads(self.threads):
            self._learn(decision, outcome)

    def _learn(self, decision: Decision, outcome: SlotOutcome) -> None:
        assert self._last is not None
        step, previous = self._last
        if self.mode != "hmarl":  # the ablations learn from the global and local rewards
            r, rd, _ = slot_rewards(self.system, outcome, decision.deployment[None], previous)
            self._pending = (step, r, rd)
        losses = self.agents.update()
        self.updates += int(any(np.isfinite(v) for v in losses.values()))
