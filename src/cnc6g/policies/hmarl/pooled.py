"""HMARL with observations and actions whose sizes do not depend on the system (pure, batched).

The ``sized`` agents of :class:`~cnc6g.policies.hmarl.hierarchy.Agents` observe every node,
origin and service of one system, so their networks fit that system only. The ``pooled``
agents here see the same state through fixed-size summaries and act through shared heads, so
one set of networks runs on any scenario of the case study's shape (any number of domains,
nodes, origins and services):

- the **distributor** sees, per domain kind, the mean and the maximum of its nodes' features
  (utilisation, instances, awake, capacity share), the kind's capacity against the offered
  work and its idle power; and the offered load, how skewed the demand is over origins (max and
  spread of the origins' shares) and over services (share of the top one and the top five, the
  normalised entropy), the radio rates (mean, minimum) and the system's size. It picks one
  capacity level per kind (three branches, whatever the number of domains);
- a **domain** agent sees its level, the mean and maximum of its nodes' features, its demand
  (requests, work against its capacity, service skew), the offered load, its radio rate and its
  power; the deployment agent picks its start threshold as before;
- the **distribution** agent is one actor shared by every node of a kind: it sees its domain's
  observation and the node's own features and sets that node's price and trim, and its critic
  judges one node's action. A domain's routing difference reward is credited to each of its
  nodes.

The agents of every kind exist whether or not a system has domains of that kind, so that a
checkpoint holds the same networks for every system.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.policies.hmarl.agents import DDPG, DQN, LearnerConfig
from cnc6g.policies.hmarl.executor import DEFAULT_THRESHOLD, LEVELS, THRESHOLDS, Knobs
from cnc6g.policies.hmarl.features import (
    KINDS,
    NODE_FEATURES,
    Float32Array,
    _node_features,
    layout,
)
from cnc6g.policies.hmarl.hierarchy import Agents, Step
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system

ARCHS = ("sized", "pooled")
"""Agent architectures: ``sized`` networks fit one system; ``pooled`` ones fit any."""

KIND_FEATURES = 2 * NODE_FEATURES + 2
"""Per kind in the global view: mean and max of the node features, capacity, idle power."""

GLOBAL_SIZE = len(KINDS) * KIND_FEATURES + 11
"""Length of the pooled distributor's observation."""

DOMAIN_SIZE = len(LEVELS) + 2 * NODE_FEATURES + 9
"""Length of a pooled domain agent's observation."""

NODE_SIZE = DOMAIN_SIZE + NODE_FEATURES + 2
"""Length of what the shared distribution actor sees of one node."""

POWER_SCALE = 10.0
"""Idle power is observed as W per slot over this many penalties of one unsatisfied task."""


@dataclass(frozen=True, eq=False)
class PooledLayout:
    """Per-system arrays the pooled observations are computed from."""

    domain_origin: FloatArray  # [D, O] 1 where the domain can serve the origin
    domain_capacity: FloatArray  # [D] gigacycles/s
    domain_power: FloatArray  # [D] mean idle power of its nodes, scaled
    domain_size: FloatArray  # [D] nodes / 4
    node_power: FloatArray  # [N] idle power, scaled
    node_share: FloatArray  # [N] capacity / its domain's
    kind_capacity: FloatArray  # [3] capacity of the kind / reference work
    kind_power: FloatArray  # [3] mean idle power of the kind's nodes, scaled
    kind_nodes: tuple[IntArray, ...]  # nodes of each kind
    shape: FloatArray  # [2] log-size of the system, services / 50


@per_system
def pooled_layout(system: System) -> PooledLayout:
    """The pooled observations' arrays of ``system`` (computed once per system)."""
    sy = system
    lay = layout(sy)
    D = lay.n_domains
    origin = np.zeros((D, sy.n_origins))
    for d in range(D):
        origin[d, lay.domain_origins[d]] = 1.0
    power = sy.idle_power / (POWER_SCALE * sy.unsatisfied_penalty_j)
    cap = np.array([sy.capacity[lay.domain_nodes[d]].sum() for d in range(D)])
    node_kind = lay.domain_kind[sy.node_domain]
    kind_nodes = tuple(np.flatnonzero(node_kind == k) for k in range(len(KINDS)))
    ref = max(lay.reference_work, 1e-9)
    return PooledLayout(
        domain_origin=origin,
        domain_capacity=cap,
        domain_power=np.array([power[lay.domain_nodes[d]].mean() for d in range(D)]),
        domain_size=np.array([lay.domain_nodes[d].size / 4.0 for d in range(D)]),
        node_power=power,
        node_share=sy.capacity / np.maximum(cap[sy.node_domain], 1e-9),
        kind_capacity=np.array([sy.capacity[n].sum() / ref for n in kind_nodes]),
        kind_power=np.array([power[n].mean() if n.size else 0.0 for n in kind_nodes]),
        kind_nodes=kind_nodes,
        shape=np.array([np.log1p(D) / np.log(64.0), sy.n_services / 50.0]),
    )


def _skew(counts: FloatArray) -> FloatArray:
    """Top-1 share, top-5 share and normalised entropy of ``counts`` ``[..., S]``, ``[..., 3]``."""
    total = counts.sum(axis=-1, keepdims=True)
    share = counts / np.maximum(total, 1e-9)
    ranked = -np.sort(-share, axis=-1)
    S = counts.shape[-1]
    logs = np.log(np.where(share > 0, share, 1.0))
    entropy = -(share * logs).sum(axis=-1) / max(np.log(S), 1e-9)
    return np.stack([ranked[..., 0], ranked[..., :5].sum(axis=-1), entropy], axis=-1)


def pooled_global_observation(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    previous: BoolArray,
    utilisation: FloatArray,
) -> Float32Array:
    """The pooled distributor's observation, ``[B, GLOBAL_SIZE]`` (float32)."""
    sy = system
    lay, pl = layout(sy), pooled_layout(sy)
    B = demand.shape[0]
    nodes = _node_features(sy, lay, previous, utilisation)  # [B, N, F]
    parts: list[FloatArray] = []
    for k in range(len(KINDS)):
        idx = pl.kind_nodes[k]
        if idx.size:
            parts += [nodes[:, idx].mean(axis=1), nodes[:, idx].max(axis=1)]
        else:
            parts += [np.zeros((B, NODE_FEATURES))] * 2
        parts.append(np.full((B, 2), [pl.kind_capacity[k], pl.kind_power[k]]))
    per_origin = demand.sum(axis=2)  # [B, O]
    total = np.maximum(per_origin.sum(axis=1, keepdims=True), 1e-9)
    origin_share = per_origin / total * sy.n_origins  # 1 for every origin when even
    load = (demand @ sy.work).sum(axis=1, keepdims=True) / lay.reference_work
    parts += [
        load,
        origin_share.max(axis=1, keepdims=True) / 4.0,
        origin_share.std(axis=1, keepdims=True) / 2.0,
        _skew(demand.sum(axis=1)),
        uplink_mbps.mean(axis=1, keepdims=True) / 1000.0,
        uplink_mbps.min(axis=1, keepdims=True) / 1000.0,
        np.broadcast_to(pl.shape, (B, 2)),
        per_origin.sum(axis=1, keepdims=True) * lay.demand_scale,
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def pooled_domain_observations(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    previous: BoolArray,
    utilisation: FloatArray,
    level: IntArray,
) -> tuple[Float32Array, FloatArray]:
    """Every domain's observation ``[B, D, DOMAIN_SIZE]`` and the node features ``[B, N, F]``."""
    sy = system
    lay, pl = layout(sy), pooled_layout(sy)
    B, D = demand.shape[0], lay.n_domains
    nodes = _node_features(sy, lay, previous, utilisation)
    out = np.zeros((B, D, DOMAIN_SIZE), dtype=np.float32)
    L = len(LEVELS)
    out[..., :L] = np.eye(L)[level]
    for d in range(D):
        nd = lay.domain_nodes[d]
        out[:, d, L : L + NODE_FEATURES] = nodes[:, nd].mean(axis=1)
        out[:, d, L + NODE_FEATURES : L + 2 * NODE_FEATURES] = nodes[:, nd].max(axis=1)
    at = L + 2 * NODE_FEATURES
    svc = np.einsum("bos,do->bds", demand, pl.domain_origin)  # [B, D, S]
    requests = svc.sum(axis=2)
    work = svc @ sy.work  # [B, D] gigacycles per slot
    served = np.maximum(pl.domain_origin.sum(axis=1), 1.0)
    load = (demand @ sy.work).sum(axis=1) / lay.reference_work
    uplink = (uplink_mbps @ pl.domain_origin.T) / served / 1000.0
    out[:, :, at] = requests * lay.demand_scale
    out[:, :, at + 1] = work / np.maximum(pl.domain_capacity, 1e-9) / 4.0
    out[:, :, at + 2 : at + 5] = _skew(svc)
    out[:, :, at + 5] = load[:, None]
    out[:, :, at + 6] = uplink
    out[:, :, at + 7] = pl.domain_power
    out[:, :, at + 8] = pl.domain_size
    return out, nodes


class PooledAgents(Agents):
    """The hierarchy (mode ``hmarl``) with the pooled observations and shared heads.

    Args:
        system: the compiled scenario it acts on first (:meth:`bind` moves it to another).
        mode: only ``hmarl``.
        cfg: learner hyper-parameters.
        seed: seeds the networks' initialisation and the replay sampling.
    """

    arch = "pooled"

    def __init__(self, system: System, mode: str, cfg: LearnerConfig, seed: int = 0) -> None:
        if mode != "hmarl":
            raise ValueError(f"the pooled agents have mode hmarl only, not {mode!r}")
        self.mode, self.cfg = mode, cfg
        L, T = len(LEVELS), len(THRESHOLDS)
        self.learners: dict[str, DQN | DDPG] = {
            "distributor": DQN(GLOBAL_SIZE, len(KINDS), L, cfg, seed, default=(L - 1,) * len(KINDS))
        }
        for k in range(len(KINDS)):
            self.learners[f"deploy_{k}"] = DQN(
                DOMAIN_SIZE, 1, max(L, T), cfg, seed + 10 + k, default=(DEFAULT_THRESHOLD,)
            )
            self.learners[f"route_{k}"] = DDPG(NODE_SIZE, 2, cfg, seed + 20 + k)
        self._last_level: np.ndarray | None = None
        self.bind(system)

    def bind(self, system: System) -> None:
        """Act on ``system`` from now on (any size: the networks are kept)."""
        self.system = system
        lay = layout(system)
        self.layout = lay
        self.kinds = [k for k in range(len(KINDS)) if (lay.domain_kind == k).any()]
        self.kind_domains = {k: np.flatnonzero(lay.domain_kind == k) for k in self.kinds}
        # Per kind: its nodes, and the index of each one's domain among the kind's domains.
        self._kind_nodes: dict[int, IntArray] = {}
        self._kind_node_j: dict[int, IntArray] = {}
        for k in self.kinds:
            doms = self.kind_domains[k]
            nodes = np.concatenate([lay.domain_nodes[d] for d in doms])
            j = np.concatenate([np.full(lay.domain_nodes[d].size, i) for i, d in enumerate(doms)])
            self._kind_nodes[k], self._kind_node_j[k] = nodes, j
        self._last_level = None

    def signature(self) -> dict[str, object]:
        """Sizes a checkpoint must match (none of the system's)."""
        return {
            "mode": self.mode,
            "arch": self.arch,
            "global_size": GLOBAL_SIZE,
            "domain_size": DOMAIN_SIZE,
            "node_size": NODE_SIZE,
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
        sy = self.system
        B = demand.shape[0]
        g = pooled_global_observation(sy, demand, uplink_mbps, previous, utilisation)
        knobs = Knobs.neutral(sy, B)
        level, threshold = knobs.level.copy(), knobs.threshold.copy()
        price, trim = knobs.price.copy(), knobs.trim.copy()
        dist = self.learners["distributor"]
        assert isinstance(dist, DQN)
        discrete = dist.act(g, eps, rng)  # [B, 3]
        for k in self.kinds:
            level[:, self.kind_domains[k]] = discrete[:, k : k + 1]
        dom_obs, node_obs = self.observe(demand, uplink_mbps, previous, utilisation, level)
        empty = np.zeros((B, 0, 1))
        deploy: list[np.ndarray] = [empty] * len(KINDS)
        route: list[np.ndarray] = [empty] * len(KINDS)
        for k in self.kinds:
            doms, kn = self.kind_domains[k], self._kind_nodes[k]
            obs_k, n_obs = dom_obs[k], node_obs[k]
            dq, pg = self.learners[f"deploy_{k}"], self.learners[f"route_{k}"]
            assert isinstance(dq, DQN)
            assert isinstance(pg, DDPG)
            d_act = dq.act(obs_k.reshape(B * doms.size, -1), eps, rng).reshape(B, doms.size, 1)
            deploy[k] = d_act
            threshold[:, doms] = np.minimum(d_act[..., 0], len(THRESHOLDS) - 1)
            a = pg.act(n_obs.reshape(B * kn.size, -1), noise, rng).reshape(B, kn.size, 2)
            route[k] = a
            price[:, kn] = a[..., 0]
            trim[:, kn] = a[..., 1]
        self._last_level = level.copy()
        knobs = Knobs(level=level, threshold=threshold, price=price, trim=trim)
        return PooledStep(g, dom_obs, discrete, deploy, route, knobs, node_obs)

    def observe(
        self,
        demand: FloatArray,
        uplink_mbps: FloatArray,
        previous: BoolArray,
        utilisation: FloatArray,
        level: IntArray,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per kind, its domains' and its nodes' observations under the levels ``level``.

        ``level`` is ``[B, D]``; the domains' are ``[B, D_k, DOMAIN_SIZE]``, the nodes'
        ``[B, N_k, NODE_SIZE]`` (empty for a kind the system lacks; nodes in the order of
        :meth:`kind_nodes`).
        """
        sy = self.system
        B = demand.shape[0]
        dom, nodes = pooled_domain_observations(
            sy, demand, uplink_mbps, previous, utilisation, level
        )
        pl = pooled_layout(sy)
        dom_obs: list[np.ndarray] = [np.zeros((B, 0, DOMAIN_SIZE), np.float32)] * len(KINDS)
        node_obs: list[np.ndarray] = [np.zeros((B, 0, NODE_SIZE), np.float32)] * len(KINDS)
        for k in self.kinds:
            obs_k = dom[:, self.kind_domains[k]]
            kn, j = self._kind_nodes[k], self._kind_node_j[k]
            own = np.stack(
                [
                    *np.moveaxis(nodes[:, kn], 2, 0),
                    np.broadcast_to(pl.node_power[kn], (B, kn.size)),
                    np.broadcast_to(pl.node_share[kn], (B, kn.size)),
                ],
                axis=2,
            )
            dom_obs[k] = obs_k
            node_obs[k] = np.concatenate([obs_k[:, j], own], axis=2).astype(np.float32)
        return dom_obs, node_obs

    def kind_nodes(self, kind: int) -> IntArray:
        """The nodes of ``kind``'s domains, in the order the shared actor sees them."""
        return self._kind_nodes.get(kind, np.zeros(0, dtype=np.int64))

    def remember(
        self, step: Step, after: Step, reward: FloatArray, domain_reward: FloatArray
    ) -> None:
        """Not used: the pooled hierarchy learns from :meth:`remember_differences`."""
        del step, after, reward, domain_reward
        raise ValueError("the pooled agents learn from remember_differences, not remember")

    def remember_differences(
        self,
        step: Step,
        level_gain: FloatArray,
        domain: np.ndarray,
        gains: dict[str, FloatArray],
    ) -> None:
        """Store one slot's difference rewards (see :meth:`Agents.remember_differences`).

        The distributor's branches of kinds the system lacks are rewarded 0; every node of
        the drawn domain stores the domain's routing gain for its own action.
        """
        assert isinstance(step, PooledStep)
        B = domain.size
        rows = np.arange(B)
        g = step.global_obs
        full = np.zeros((B, len(KINDS)))
        full[:, self.kinds] = level_gain
        self.learners["distributor"].store(o=g, a=step.discrete, r=full, o2=g)
        for k in self.kinds:
            doms = self.kind_domains[k]
            mine = self.layout.domain_kind[domain] == k
            if not mine.any():
                continue
            b = rows[mine]
            j = np.searchsorted(doms, domain[mine])
            o = step.domain_obs[k][b, j]
            self.learners[f"deploy_{k}"].store(
                o=o, a=step.deploy[k][b, j], r=gains["threshold"][b], o2=o
            )
            node_j = self._kind_node_j[k]
            hit = node_j[None, :] == j[:, None]  # [n, nodes of the kind]
            rb, rn = np.nonzero(hit)
            copy = b[rb]
            o_n = step.node_obs[k][copy, rn]
            self.learners[f"route_{k}"].store(
                o=o_n, a=step.route[k][copy, rn], r=gains["route"][copy], o2=o_n
            )


@dataclass(eq=False)
class PooledStep(Step):
    """A :class:`Step` of the pooled agents, with what the shared actor saw of every node."""

    node_obs: list[np.ndarray]  # per kind [B, nodes of the kind, NODE_SIZE]


def make_agents(
    system: System, mode: str, cfg: LearnerConfig, seed: int = 0, arch: str = "sized"
) -> Agents:
    """Agents of ``mode`` in architecture ``arch`` (see :data:`ARCHS`) for ``system``."""
    if arch == "sized":
        return Agents(system, mode, cfg, seed)
    if arch == "pooled":
        return PooledAgents(system, mode, cfg, seed)
    raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
