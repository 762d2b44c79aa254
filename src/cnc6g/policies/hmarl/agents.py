"""The learners of HMARL, in PyTorch: branched double DQN and DDPG, with replay.

- :class:`DQN` is a double deep Q-network over several discrete branches that share one torso
  (action branching, Tavakoli, Pardo and Kormushev, AAAI 2018): the distributor has one branch
  per domain (its capacity level), a deployment agent one branch (its start threshold). Each
  branch's target is ``r + gamma * Q_target(s', argmax_a Q(s', a))`` (van Hasselt et al., AAAI
  2016), with a Huber loss and Polyak-averaged target networks.
- :class:`DDPG` is deterministic policy gradient with a critic (Lillicrap et al., ICLR 2016):
  tanh actions in [-1, 1], Gaussian exploration noise, Polyak-averaged targets.

Both keep a uniform replay buffer and are seeded through the generator they are given, so the
same seed gives the same training on the same machine.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def mlp(inputs: int, outputs: int, hidden: int, layers: int = 2) -> nn.Sequential:
    """A ReLU perceptron with ``layers`` hidden layers of ``hidden`` units."""
    mods: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, outputs))
    return nn.Sequential(*mods)


class Replay:
    """A ring buffer of transitions, fields fixed at construction."""

    def __init__(self, capacity: int, shapes: dict[str, tuple[int, ...]]) -> None:
        self.capacity = capacity
        self.data = {k: np.zeros((capacity, *s), dtype=np.float32) for k, s in shapes.items()}
        self.size = 0
        self.at = 0

    def add(self, **fields: np.ndarray) -> None:
        """Append a batch of transitions (every field has the same leading size)."""
        n = len(next(iter(fields.values())))
        idx = (self.at + np.arange(n)) % self.capacity
        for k, v in fields.items():
            self.data[k][idx] = np.asarray(v, dtype=np.float32).reshape(n, *self.data[k].shape[1:])
        self.at = int((self.at + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """``n`` transitions drawn uniformly, as tensors."""
        idx = rng.integers(0, self.size, size=n)
        return {k: torch.from_numpy(v[idx]) for k, v in self.data.items()}


_linear = nn.functional.linear

_Plan = tuple[tuple[torch.Tensor, torch.Tensor] | None, ...]
"""What :func:`infer` runs, layer by layer: a linear layer's weight and bias, ``None`` a ReLU."""

_PLANS: weakref.WeakKeyDictionary[nn.Sequential, tuple[tuple[nn.Module, ...], _Plan | None]] = (
    weakref.WeakKeyDictionary()
)
"""Per network, its layers and the plan made of them (``None``: the network has a layer of
another kind, or a ReLU not right after a linear layer). The plan holds the layers' own
parameter tensors, which training and loading change in place."""


def _plan(net: nn.Sequential) -> _Plan | None:
    """``net``'s plan, made again when its layers are not those it was made of."""
    layers = tuple(net._modules.values())
    known = _PLANS.get(net)
    if known is not None and known[0] == layers:  # modules compare by identity
        return known[1]
    steps: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    plan: _Plan | None = None
    for layer in layers:
        if type(layer) is nn.Linear and layer.bias is not None:
            steps.append((layer.weight, layer.bias))
        elif type(layer) is nn.ReLU and steps and steps[-1] is not None:
            steps.append(None)  # in place on what the linear layer before it made
        else:
            break
    else:
        plan = tuple(steps)
    _PLANS[net] = (layers, plan)
    return plan


def infer(net: nn.Sequential, obs: np.ndarray) -> torch.Tensor:
    """``net(obs)`` for acting: no autograd, and the layers' kernels called directly.

    The same kernels as calling the modules, in the same order (the same values to the last
    bit), without the modules' call machinery, which costs more than a small layer's
    arithmetic. A network of linear layers and ReLUs (every one of HMARL's) runs from a plan of
    its parameters kept between calls; a ReLU is applied in place, to the output its linear
    layer just made.
    """
    x = torch.from_numpy(np.asarray(obs, dtype=np.float32))
    plan = _plan(net)
    with torch.inference_mode():
        if plan is None:
            return _infer_layers(net, x)
        for step in plan:
            if step is None:
                x.relu_()
            else:
                x = _linear(x, step[0], step[1])
    return x


def _infer_layers(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """:func:`infer` layer by layer (a network with a layer of another kind)."""
    for layer in net:
        if isinstance(layer, nn.Linear):
            x = nn.functional.linear(x, layer.weight, layer.bias)
        elif isinstance(layer, nn.ReLU):
            x = torch.relu(x)
        else:
            x = layer(x)
    return x


def _polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(o, alpha=tau)


@dataclass(frozen=True)
class LearnerConfig:
    """Hyper-parameters shared by the learners."""

    hidden: int = 128
    gamma: float = 0.0
    tau: float = 0.01
    lr: float = 3e-4
    actor_lr: float = 1e-4
    batch: int = 256
    replay: int = 100_000
    default_bonus: float = 0.05
    min_replay: int = 64


class DQN:
    """Branched double DQN: ``branches`` discrete choices of ``actions`` options each."""

    def __init__(
        self,
        obs_size: int,
        branches: int,
        actions: int,
        cfg: LearnerConfig,
        seed: int,
        default: tuple[int, ...] | None = None,
    ) -> None:
        torch.manual_seed(seed)
        self.branches, self.actions, self.cfg = branches, actions, cfg
        self.net = mlp(obs_size, branches * actions, cfg.hidden)
        if default is not None:  # greedy starts at the default action of each branch
            last = self.net[-1]
            assert isinstance(last, nn.Linear)
            with torch.no_grad():
                last.weight.mul_(0.1)
                bias = torch.zeros(branches, actions)
                bias[torch.arange(branches), torch.tensor(default)] = cfg.default_bonus
                last.bias.copy_(bias.view(-1))
        self.target = mlp(obs_size, branches * actions, cfg.hidden)
        self.target.load_state_dict(self.net.state_dict())
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.replay = Replay(
            cfg.replay, {"o": (obs_size,), "a": (branches,), "r": (branches,), "o2": (obs_size,)}
        )
        self.rng = np.random.default_rng(seed)

    def store(self, o: np.ndarray, a: np.ndarray, r: np.ndarray, o2: np.ndarray) -> None:
        """Add transitions; ``r`` is ``[n]`` (one reward for every branch) or ``[n, branches]``."""
        r = np.asarray(r, dtype=float)
        if r.ndim == 1:
            r = np.repeat(r[:, None], self.branches, axis=1)
        self.replay.add(o=o, a=np.asarray(a).reshape(len(o), self.branches), r=r, o2=o2)

    def q(self, obs: np.ndarray) -> np.ndarray:
        """Q-values ``[n, branches, actions]``."""
        return infer(self.net, obs).view(-1, self.branches, self.actions).numpy()

    def act(self, obs: np.ndarray, eps: float, rng: np.random.Generator) -> np.ndarray:
        """Epsilon-greedy actions ``[n, branches]``, each branch explored on its own."""
        greedy: np.ndarray = self.q(obs).argmax(axis=-1)
        if eps <= 0:
            return greedy
        explore = rng.random(greedy.shape) < eps
        return np.where(explore, rng.integers(0, self.actions, greedy.shape), greedy)

    def update(self) -> float:
        """One gradient step on a replayed batch; returns the loss (nan before ``min_replay``)."""
        if self.replay.size < self.cfg.min_replay:
            return float("nan")
        b = self.replay.sample(min(self.cfg.batch, self.replay.size), self.rng)
        n = b["o"].shape[0]
        q = self.net(b["o"]).view(n, self.branches, self.actions)
        taken = q.gather(2, b["a"].long().unsqueeze(-1)).squeeze(-1)  # [n, branches]
        with torch.no_grad():
            pick = self.net(b["o2"]).view(n, self.branches, self.actions).argmax(-1, keepdim=True)
            nxt = self.target(b["o2"]).view(n, self.branches, self.actions).gather(2, pick)
            target = b["r"] + self.cfg.gamma * nxt.squeeze(-1)
        loss = nn.functional.smooth_l1_loss(taken, target)
        self.opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
        self.opt.step()
        _polyak(self.target, self.net, self.cfg.tau)
        return loss.item()

    def state(self) -> dict[str, object]:
        """What a checkpoint keeps (networks; replay and optimiser are rebuilt)."""
        return {"net": self.net.state_dict(), "target": self.target.state_dict()}

    def load(self, state: dict[str, object]) -> None:
        """Restore :meth:`state`."""
        self.net.load_state_dict(state["net"])  # type: ignore[arg-type]
        self.target.load_state_dict(state["target"])  # type: ignore[arg-type]


class DDPG:
    """Deterministic policy gradient over ``act_size`` actions in [-1, 1]."""

    def __init__(self, obs_size: int, act_size: int, cfg: LearnerConfig, seed: int) -> None:
        torch.manual_seed(seed)
        self.cfg = cfg
        self.act_size = act_size
        self.actor = mlp(obs_size, act_size, cfg.hidden)
        with torch.no_grad():  # start near the neutral action (price 0, full trim)
            last = self.actor[-1]
            assert isinstance(last, nn.Linear)
            last.weight.mul_(0.01)
            last.bias.zero_()
        self.critic = mlp(obs_size + act_size, 1, cfg.hidden)
        self.actor_t = mlp(obs_size, act_size, cfg.hidden)
        self.critic_t = mlp(obs_size + act_size, 1, cfg.hidden)
        self.actor_t.load_state_dict(self.actor.state_dict())
        self.critic_t.load_state_dict(self.critic.state_dict())
        self.opt_a = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.opt_c = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.replay = Replay(
            cfg.replay, {"o": (obs_size,), "a": (act_size,), "r": (), "o2": (obs_size,)}
        )
        self.rng = np.random.default_rng(seed)

    def store(self, o: np.ndarray, a: np.ndarray, r: np.ndarray, o2: np.ndarray) -> None:
        """Add transitions (``r`` is ``[n]``)."""
        self.replay.add(o=o, a=np.asarray(a).reshape(len(o), self.act_size), r=r, o2=o2)

    def act(self, obs: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
        """Actions ``[n, act_size]`` with Gaussian noise of std ``noise``, clipped to [-1, 1]."""
        out: np.ndarray = torch.tanh(infer(self.actor, obs)).numpy()
        if noise <= 0:  # tanh is within [-1, 1] already: clipping would change nothing
            return out
        out = out + noise * rng.standard_normal(out.shape)
        clipped: np.ndarray = np.clip(out, -1.0, 1.0)
        return clipped

    def update(self) -> float:
        """One critic and one actor step; returns the critic loss (nan before ``min_replay``)."""
        if self.replay.size < self.cfg.min_replay:
            return float("nan")
        b = self.replay.sample(min(self.cfg.batch, self.replay.size), self.rng)
        with torch.no_grad():
            a2 = torch.tanh(self.actor_t(b["o2"]))
            q2 = self.critic_t(torch.cat([b["o2"], a2], dim=1)).squeeze(-1)
            target = b["r"] + self.cfg.gamma * q2
        q = self.critic(torch.cat([b["o"], b["a"]], dim=1)).squeeze(-1)
        loss = nn.functional.smooth_l1_loss(q, target)
        self.opt_c.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.critic.parameters(), 10.0)
        self.opt_c.step()
        actor_loss = -self.critic(torch.cat([b["o"], torch.tanh(self.actor(b["o"]))], 1)).mean()
        self.opt_a.zero_grad()
        actor_loss.backward()
        nn.utils.clip_grad_norm_(self.actor.parameters(), 10.0)
        self.opt_a.step()
        _polyak(self.actor_t, self.actor, self.cfg.tau)
        _polyak(self.critic_t, self.critic, self.cfg.tau)
        return loss.item()

    def state(self) -> dict[str, object]:
        """What a checkpoint keeps."""
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_t": self.actor_t.state_dict(),
            "critic_t": self.critic_t.state_dict(),
        }

    def load(self, state: dict[str, object]) -> None:
        """Restore :meth:`state`."""
        for name in ("actor", "critic", "actor_t", "critic_t"):
            getattr(self, name).load_state_dict(state[name])
