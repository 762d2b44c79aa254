"""HMARL's agents as one group: who observes what, who sets which knob, who learns from what.

Three organisations of the same learners (seed 002, section III-E, and its two ablations):

- ``hmarl``: the E2E **distributor** (branched double DQN on the global state, one branch per
  domain kind, over the capacity levels of :data:`~cnc6g.policies.hmarl.executor.LEVELS`) allocates
  capacity across the terminal, RAN and transport domains; each domain orchestrator has a
  **deployment** agent (double DQN over the start thresholds of
  :data:`~cnc6g.policies.hmarl.executor.THRESHOLDS`) and a **distribution** agent (DDPG over its
  nodes' prices and capacity trims) on its own state. The domain agents of one kind share their
  networks. The global reward is decomposed by the twin into **difference rewards** (Wolpert
  and Tumer, 2002): each decision is credited with what it gained over the neutral knobs in the
  same slot, all else equal (see :mod:`cnc6g.policies.hmarl.rewards`).
- ``central``: one agent sees the global state and sets every knob (a branched DQN for the
  levels and thresholds of all domains and a DDPG for all prices and trims), from the global
  reward.
- ``independent``: no distributor; each domain's deployment agent also picks its own capacity
  level, and every domain learns from its local reward only.

Rewards are minus costs (see :mod:`cnc6g.policies.hmarl.rewards`) per request of the slot, in units
of the unsatisfied-task penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.policies.hmarl.agents import DDPG, DQN, LearnerConfig
from cnc6g.policies.hmarl.executor import DEFAULT_THRESHOLD, LEVELS, THRESHOLDS, Knobs
from cnc6g.policies.hmarl.features import (
    domain_observations,
    global_observation,
    layout,
    set_levels,
)
from cnc6g.twin.system import BoolArray, FloatArray, System

MODES = ("hmarl", "central", "independent")
"""Organisations of the learners: the paper's hierarchy and its two ablations."""


@dataclass(eq=False)
class Step:
    """What the agents saw and did in one slot, for ``B`` copies (kept for learning)."""

    global_obs: np.ndarray  # [B, G]
    domain_obs: list[np.ndarray]  # per kind [B, D_k, size_k]
    discrete: np.ndarray  # [B, branches] of the distributor / central DQN (empty otherwise)
    deploy: list[np.ndarray]  # per kind [B, D_k, branches]
    route: list[np.ndarray]  # per kind [B, D_k, act] or, central, [B, 2N]
    knobs: Knobs


class Agents:
    """The learners of one mode for one system's layout.

    Args:
        system: the compiled scenario (its layout fixes the networks' sizes).
        mode: one of :data:`MODES`.
        cfg: learner hyper-parameters.
        seed: seeds the networks' initialisation and the replay sampling.
    """

    arch = "sized"
    """The networks' architecture: ``sized`` networks fit this system's layout only."""

    def __init__(self, system: System, mode: str, cfg: LearnerConfig, seed: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.system, self.mode, self.cfg = system, mode, cfg
        lay = layout(system)
        self.layout = lay
        D, L, T = lay.n_domains, len(LEVELS), len(THRESHOLDS)
        self.kinds = [k for k in range(3) if (lay.domain_kind == k).any()]
        self.kind_domains = {k: np.flatnonzero(lay.domain_kind == k) for k in self.kinds}
        self.learners: dict[str, DQN | DDPG] = {}
        if mode == "central":
            default = (L - 1,) * D + (DEFAULT_THRESHOLD,) * D
            self.learners["central_q"] = DQN(
                lay.global_size, 2 * D, max(L, T), cfg, seed, default=default
            )
            self.learners["central_pg"] = DDPG(lay.global_size, 2 * system.n_nodes, cfg, seed + 1)
        else:
            if mode == "hmarl":
                n_kinds = len(self.kinds)
                self.learners["distributor"] = DQN(
                    lay.global_size, n_kinds, L, cfg, seed, default=(L - 1,) * n_kinds
                )
            default = (DEFAULT_THRESHOLD,) if mode == "hmarl" else (DEFAULT_THRESHOLD, L - 1)
            for k in self.kinds:
                size = lay.domain_size[k]
                self.learners[f"deploy_{k}"] = DQN(
                    size, len(default), max(L, T), cfg, seed + 10 + k, default=default
                )
                self.learners[f"route_{k}"] = DDPG(size, 2 * lay.max_nodes[k], cfg, seed + 20 + k)
        # Node -> (index of its domain among its kind's, position within the domain).
        self._node_j = np.zeros(system.n_nodes, dtype=np.int64)
        for k in self.kinds:
            for j, d in enumerate(self.kind_domains[k]):
                self._node_j[lay.domain_nodes[d]] = j
        # Per kind its nodes, and each one's domain (among the kind's) and position in it.
        self._kind_places: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for k in self.kinds:
            nodes = np.concatenate([lay.domain_nodes[d] for d in self.kind_domains[k]])
            self._kind_places[k] = (nodes, self._node_j[nodes], lay.node_slot[nodes])
        self._last_level: np.ndarray | None = None

    def bind(self, system: System) -> None:
        """Act on ``system`` from now on (the same layout: another load, a failed node)."""
        self.system = system

    def signature(self) -> dict[str, object]:
        """Sizes a checkpoint must match to be loaded for this system."""
        lay = self.layout
        return {
            "mode": self.mode,
            "global_size": lay.global_size,
            "domain_size": list(lay.domain_size),
            "n_domains": lay.n_domains,
            "n_nodes": self.system.n_nodes,
            "hidden": self.cfg.hidden,
        }

    def act(
        self,
        demand: FloatArray,
        uplink_mbps: FloatArray,
        previous: BoolArray,
        utilisation: FloatArray,
        eps: float,
        noise: float,
        rng: np.random.Generator,
    ) -> Step:
        """Every agent's action for ``B`` copies (greedy when ``eps`` and ``noise`` are 0)."""
        sy, lay = self.system, self.layout
        B = demand.shape[0]
        D, N = lay.n_domains, sy.n_nodes
        g = global_observation(sy, demand, uplink_mbps, previous, utilisation)
        knobs = Knobs.neutral(sy, B)
        level, threshold = knobs.level.copy(), knobs.threshold.copy()
        price, trim = knobs.price.copy(), knobs.trim.copy()
        discrete = np.zeros((B, 0), dtype=np.int64)
        deploy: list[np.ndarray] = []
        route: list[np.ndarray] = []
        if self.mode == "central":
            q = self.learners["central_q"]
            pg = self.learners["central_pg"]
            assert isinstance(q, DQN)
            assert isinstance(pg, DDPG)
            discrete = q.act(g, eps, rng)
            level = np.minimum(discrete[:, :D], len(LEVELS) - 1)
            threshold = np.minimum(discrete[:, D:], len(THRESHOLDS) - 1)
            a = pg.act(g, noise, rng)
            route = [a]
            price, trim = a[:, :N], a[:, N:]
            dom_obs: list[np.ndarray] = []
        else:
            dom_obs = domain_observations(sy, demand, uplink_mbps, previous, utilisation)
            if self.mode == "hmarl":
                dist = self.learners["distributor"]
                assert isinstance(dist, DQN)
                discrete = dist.act(g, eps, rng)  # [B, kinds]
                for i, k in enumerate(self.kinds):
                    level[:, self.kind_domains[k]] = discrete[:, i : i + 1]
                seen = level
            else:  # independent: a domain sees the level it chose last slot
                seen = self._last_level if self._last_level is not None else level
                if seen.shape[0] != B:
                    seen = level
            set_levels(sy, dom_obs, seen)
            for k in self.kinds:
                doms = self.kind_domains[k]
                obs_k = dom_obs[k].reshape(B * doms.size, -1)
                dq, pg = self.learners[f"deploy_{k}"], self.learners[f"route_{k}"]
                assert isinstance(dq, DQN)
                assert isinstance(pg, DDPG)
                d_act = dq.act(obs_k, eps, rng).reshape(B, doms.size, -1)
                deploy.append(d_act)
                threshold[:, doms] = np.minimum(d_act[..., 0], len(THRESHOLDS) - 1)
                if self.mode == "independent":
                    level[:, doms] = np.minimum(d_act[..., 1], len(LEVELS) - 1)
                r_act = pg.act(obs_k, noise, rng).reshape(B, doms.size, -1, 2)
                route.append(r_act)
                nodes, j, slot = self._kind_places[k]
                price[:, nodes] = r_act[:, j, slot, 0]
                trim[:, nodes] = r_act[:, j, slot, 1]
            self._last_level = level.copy()
        knobs = Knobs(level=level, threshold=threshold, price=price, trim=trim)
        return Step(g, dom_obs, discrete, deploy, route, knobs)

    def remember(
        self, step: Step, after: Step, reward: FloatArray, domain_reward: FloatArray
    ) -> None:
        """Store the ablations' transitions from ``step`` to ``after`` (``step``'s rewards).

        ``reward`` is ``[B]`` (global), ``domain_reward`` ``[B, D]`` (local). The hierarchy
        learns from difference rewards instead (:meth:`remember_differences`).
        """
        if self.mode == "hmarl":
            raise ValueError("hmarl learns from remember_differences, not remember")
        B = reward.shape[0]
        if self.mode == "central":
            for name, act in (("central_q", step.discrete), ("central_pg", step.route[0])):
                self.learners[name].store(o=step.global_obs, a=act, r=reward, o2=after.global_obs)
            return
        for i, k in enumerate(self.kinds):
            doms = self.kind_domains[k]
            o = step.domain_obs[k].reshape(B * doms.size, -1)
            o2 = after.domain_obs[k].reshape(B * doms.size, -1)
            r = domain_reward[:, doms].reshape(-1)
            self.learners[f"deploy_{k}"].store(
                o=o, a=step.deploy[i].reshape(B * doms.size, -1), r=r, o2=o2
            )
            self.learners[f"route_{k}"].store(
                o=o, a=step.route[i].reshape(B * doms.size, -1), r=r, o2=o2
            )

    def remember_differences(
        self,
        step: Step,
        level_gain: FloatArray,
        domain: np.ndarray,
        gains: dict[str, FloatArray],
    ) -> None:
        """Store the bandit transitions of one slot's difference rewards.

        ``level_gain`` ``[B, kinds]`` is what each kind's level gained over the neutral level;
        ``gains[group][b]`` (group ``threshold`` or ``route``) what domain ``domain[b]``'s own
        knobs of that group gained over neutral ones in copy ``b``.
        """
        B = domain.size
        rows = np.arange(B)
        g = step.global_obs
        self.learners["distributor"].store(o=g, a=step.discrete, r=level_gain, o2=g)
        lay = self.layout
        for i, k in enumerate(self.kinds):
            doms = self.kind_domains[k]
            mine = lay.domain_kind[domain] == k
            if not mine.any():
                continue
            b = rows[mine]
            j = np.searchsorted(doms, domain[mine])
            o = step.domain_obs[k][b, j]
            self.learners[f"deploy_{k}"].store(
                o=o, a=step.deploy[i][b, j], r=gains["threshold"][b], o2=o
            )
            self.learners[f"route_{k}"].store(
                o=o, a=step.route[i][b, j].reshape(b.size, -1), r=gains["route"][b], o2=o
            )

    def update(self) -> dict[str, float]:
        """One gradient step of every learner; the losses by learner."""
        return {name: learner.update() for name, learner in self.learners.items()}

    def state(self) -> dict[str, object]:
        """Networks of every learner, by name."""
        return {name: learner.state() for name, learner in self.learners.items()}

    def load(self, state: dict[str, object]) -> None:
        """Restore :meth:`state`."""
        missing = set(self.learners) - set(state)
        if missing:
            raise ValueError(f"checkpoint lacks the learners {sorted(missing)}")
        for name, learner in self.learners.items():
            learner.load(state[name])  # type: ignore[arg-type]

    def reset_episode(self) -> None:
        """Forget per-episode memory (the independent domains' last levels)."""
        self._last_level = None
