"""What HMARL's agents observe (pure, batched over copies).

Observations follow seed 002, section III-D: the distributor sees the global state (demand per
service and per origin, radio rates, each node's utilisation, instances and whether it is awake,
and the offered load), a domain orchestrator sees its own nodes, the demand of the origins it
serves, the offered load and the capacity level the distributor gave it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cnc6g.model import DomainKind
from cnc6g.policies.hmarl.executor import LEVELS
from cnc6g.twin.jit import kernel
from cnc6g.twin.system import (
    BoolArray,
    FloatArray,
    IntArray,
    System,
    per_system,
    popularity_weights,
    requests_for_load,
)

Float32Array = NDArray[np.float32]
"""Observations are single precision, what the agents' networks take."""

KINDS = (DomainKind.TERMINAL, DomainKind.RAN, DomainKind.TRANSPORT)
"""Domain kinds; the domain agents of one kind share their networks."""

NODE_FEATURES = 4
"""Per node: utilisation last slot, instances / services, awake, capacity / the kind's largest."""


@dataclass(frozen=True, eq=False)
class Layout:
    """Which domains, nodes and origins each agent sees, for one system."""

    n_domains: int
    domain_kind: IntArray  # [D] index into KINDS
    domain_nodes: tuple[IntArray, ...]  # nodes of each domain
    domain_origins: tuple[IntArray, ...]  # origins whose requests the domain can serve
    max_nodes: tuple[int, ...]  # per kind, most nodes in one domain
    node_slot: IntArray  # [N] position of the node within its domain
    capacity_share: FloatArray  # [N] capacity / the largest node of its kind
    demand_scale: float  # 1 / mean requests per slot at load 1
    reference_work: float  # mean gigacycles per slot at load 1
    global_size: int  # length of the distributor's observation
    domain_size: tuple[int, ...]  # per kind, length of a domain agent's observation


@per_system
def layout(system: System) -> Layout:
    """The observation layout of ``system`` (computed once per system)."""
    sy = system
    domains = sy.scenario.domains
    D = len(domains)
    kind = np.array([KINDS.index(d.kind) for d in domains])
    nodes = tuple(np.flatnonzero(sy.node_domain == d) for d in range(D))
    cand_domain = np.where(sy.candidate_valid, sy.node_domain[sy.candidates], -1)
    origins = tuple(np.flatnonzero((cand_domain == d).any(axis=1)) for d in range(D))
    max_nodes = tuple(
        max([nodes[d].size for d in range(D) if kind[d] == k], default=0) for k in range(3)
    )
    node_slot = np.zeros(sy.n_nodes, dtype=np.int64)
    for d in range(D):
        node_slot[nodes[d]] = np.arange(nodes[d].size)
    node_kind = kind[sy.node_domain]
    biggest = np.array([sy.capacity[node_kind == k].max(initial=1.0) for k in range(3)])
    ref = max(requests_for_load(sy, 1.0), 1.0)
    S, O, N = sy.n_services, sy.n_origins, sy.n_nodes
    global_size = S + 2 * O + NODE_FEATURES * N + 1
    domain_size = tuple(len(LEVELS) + NODE_FEATURES * max_nodes[k] + S + 2 for k in range(3))
    return Layout(
        n_domains=D,
        domain_kind=kind,
        domain_nodes=nodes,
        domain_origins=origins,
        max_nodes=max_nodes,
        node_slot=node_slot,
        capacity_share=sy.capacity / biggest[node_kind],
        demand_scale=1.0 / ref,
        reference_work=ref * float(sy.work @ popularity_weights(sy)),
        global_size=global_size,
        domain_size=domain_size,
    )


def _node_features(
    sy: System, lay: Layout, previous: BoolArray, utilisation: FloatArray
) -> FloatArray:
    """``[B, N, NODE_FEATURES]``."""
    B = previous.shape[0]
    out = np.empty((B, sy.n_nodes, NODE_FEATURES))
    out[..., 0] = utilisation
    out[..., 1] = previous.sum(axis=1) / sy.n_services
    out[..., 2] = previous.any(axis=1) | ~sy.can_sleep
    out[..., 3] = lay.capacity_share
    return out


def global_observation(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    previous: BoolArray,
    utilisation: FloatArray,
) -> Float32Array:
    """The distributor's observation, ``[B, global_size]`` (float32)."""
    sy = system
    lay = layout(sy)
    B = demand.shape[0]
    work = demand @ sy.work  # [B, O] gigacycles per slot
    load = work.sum(axis=1, keepdims=True) / lay.reference_work
    parts = [
        demand.sum(axis=1) * lay.demand_scale * sy.n_services / 4.0,
        demand.sum(axis=2) * lay.demand_scale * sy.n_origins,
        uplink_mbps / 1000.0,
        _node_features(sy, lay, previous, utilisation).reshape(B, -1),
        load,
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(frozen=True, eq=False)
class _DomainPlan:
    """Where each kind's domain observations take their parts from, for one system."""

    doms: tuple[IntArray, ...]  # per kind, its domains
    node_at: tuple[IntArray, ...]  # per kind [D_k, F * max_nodes]: flat (node, feature), 0 pad
    node_pad: tuple[BoolArray, ...]  # per kind [D_k, F * max_nodes]: the padding
    group: IntArray  # [D] the domain's set of origins, index into ``groups``
    groups: tuple[IntArray, ...]  # the distinct sets of origins, singletons first
    singles: IntArray  # the origin of each singleton set
    share: FloatArray  # [D] scale of the demand part
    kind_group: tuple[IntArray, ...]  # per kind [D_k] its domains' ``group``
    kind_share: tuple[FloatArray, ...]  # per kind [D_k] its domains' ``share``


@per_system
def _domain_plan(system: System) -> _DomainPlan:
    sy = system
    lay = layout(sy)
    doms, node_at, node_pad = [], [], []
    for k in range(3):
        ds = np.flatnonzero(lay.domain_kind == k)
        width = NODE_FEATURES * lay.max_nodes[k]
        at = np.zeros((ds.size, width), dtype=np.int64)
        pad = np.ones((ds.size, width), dtype=bool)
        for j, d in enumerate(ds):
            flat = lay.domain_nodes[d][:, None] * NODE_FEATURES + np.arange(NODE_FEATURES)
            at[j, : flat.size] = flat.ravel()
            pad[j, : flat.size] = False
        doms.append(ds)
        node_at.append(at)
        node_pad.append(pad)
    sets = sorted({tuple(o.tolist()) for o in lay.domain_origins}, key=lambda o: (len(o) != 1, o))
    index = {o: i for i, o in enumerate(sets)}
    group = np.array([index[tuple(o.tolist())] for o in lay.domain_origins], dtype=np.int64)
    share = np.array(
        [
            sy.n_services / 4.0 * lay.demand_scale * sy.n_origins / max(o.size, 1)
            for o in lay.domain_origins
        ]
    )
    return _DomainPlan(
        doms=tuple(doms),
        node_at=tuple(node_at),
        node_pad=tuple(node_pad),
        group=group,
        groups=tuple(np.array(o, dtype=np.int64) for o in sets),
        singles=np.array([o[0] for o in sets if len(o) == 1], dtype=np.int64),
        share=share,
        kind_group=tuple(group[ds] for ds in doms),
        kind_share=tuple(share[ds] for ds in doms),
    )


def domain_observations(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    previous: BoolArray,
    utilisation: FloatArray,
    level: IntArray | None = None,
) -> list[Float32Array]:
    """Per kind, the observations of its domains, ``[B, D_k, domain_size_k]`` (float32).

    ``level`` ``[B, D]`` is the distributor's choice for this slot (its one-hot part is left
    at zero when ``None``; :func:`set_levels` fills it in later).

    The domains of a kind are filled at once; the demand and radio rates of each distinct set
    of origins are summed once, as :func:`domain_observations_reference` sums them per domain
    (the same values to the last bit).
    """
    sy = system
    lay = layout(sy)
    plan = _domain_plan(sy)
    B = demand.shape[0]
    S = sy.n_services
    nodes = _node_features(sy, lay, previous, utilisation).reshape(B, -1)  # [B, N * F]
    load = (demand @ sy.work).sum(axis=1) / lay.reference_work  # [B]
    # Per set of origins its demand per service and mean uplink rate (0 without origins).
    G, n1 = len(plan.groups), plan.singles.size
    demand_g = np.zeros((B, G, S))
    uplink_g = np.zeros((B, G))
    demand_g[:, :n1] = demand[:, plan.singles]
    uplink_g[:, :n1] = uplink_mbps[:, plan.singles]
    for g in range(n1, G):
        origins = plan.groups[g]
        if origins.size:
            demand_g[:, g] = demand[:, origins].sum(axis=1)
            uplink_g[:, g] = uplink_mbps[:, origins].mean(axis=1)
    L = len(LEVELS)
    out = []
    for k in range(3):
        doms = plan.doms[k]
        obs = np.zeros((B, doms.size, lay.domain_size[k]), dtype=np.float32)
        if level is not None:
            obs[:, :, :L] = np.eye(L)[level[:, doms]]
        parts = (plan.node_at[k], plan.node_pad[k], plan.kind_group[k], plan.kind_share[k])
        _fill_domains(obs, L, nodes, *parts, demand_g, load, uplink_g)
        out.append(obs)
    return out


def _fill_domains_numpy(
    obs: Float32Array,
    start: int,
    nodes: FloatArray,
    node_at: IntArray,
    node_pad: BoolArray,
    group: IntArray,
    share: FloatArray,
    demand_g: FloatArray,
    load: FloatArray,
    uplink_g: FloatArray,
) -> None:
    """:func:`_fill_domains` as NumPy expressions, its reference."""
    at = start + node_at.shape[1]
    S = demand_g.shape[2]
    obs[:, :, start:at] = np.where(node_pad, 0.0, nodes[:, node_at])
    obs[:, :, at : at + S] = demand_g[:, group] * share[:, None]
    obs[:, :, -2] = load[:, None]
    obs[:, :, -1] = uplink_g[:, group] / 1000.0


@kernel
def _fill_domains(
    obs: Float32Array,
    start: int,
    nodes: FloatArray,
    node_at: IntArray,
    node_pad: BoolArray,
    group: IntArray,
    share: FloatArray,
    demand_g: FloatArray,
    load: FloatArray,
    uplink_g: FloatArray,
) -> None:
    """One kind's domain observations ``[B, D_k, size]`` from ``start`` on, in one pass.

    Per domain its nodes' features (0 in the padding), its set of origins' demand times its
    share, the load and its origins' uplink rate in Gbit/s: the values of
    :func:`_fill_domains_numpy` (double precision, then single), to the last bit.
    """
    B, D, size = obs.shape
    W = node_at.shape[1]
    S = demand_g.shape[2]
    at = start + W
    for b in range(B):
        for j in range(D):
            row = obs[b, j]
            for i in range(W):
                row[start + i] = 0.0 if node_pad[j, i] else np.float32(nodes[b, node_at[j, i]])
            g = group[j]
            for s in range(S):
                row[at + s] = np.float32(demand_g[b, g, s] * share[j])
            row[size - 2] = np.float32(load[b])
            row[size - 1] = np.float32(uplink_g[b, g] / 1000.0)


def domain_observations_reference(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    previous: BoolArray,
    utilisation: FloatArray,
    level: IntArray | None = None,
) -> list[Float32Array]:
    """:func:`domain_observations` domain by domain, its reference."""
    sy = system
    lay = layout(sy)
    B = demand.shape[0]
    nodes = _node_features(sy, lay, previous, utilisation)  # [B, N, F]
    load = (demand @ sy.work).sum(axis=1) / lay.reference_work  # [B]
    out = []
    for k in range(3):
        doms = np.flatnonzero(lay.domain_kind == k)
        size = lay.domain_size[k]
        obs = np.zeros((B, doms.size, size), dtype=np.float32)
        L = len(LEVELS)
        for j, d in enumerate(doms):
            if level is not None:
                obs[:, j, :L] = np.eye(L)[level[:, d]]
            nd = lay.domain_nodes[d]
            at = L
            block = nodes[:, nd].reshape(B, -1)
            obs[:, j, at : at + block.shape[1]] = block
            at = L + NODE_FEATURES * lay.max_nodes[k]
            origins = lay.domain_origins[d]
            share = sy.n_services / 4.0 * lay.demand_scale * sy.n_origins / max(origins.size, 1)
            obs[:, j, at : at + sy.n_services] = demand[:, origins].sum(axis=1) * share
            obs[:, j, -2] = load
            obs[:, j, -1] = uplink_mbps[:, origins].mean(axis=1) / 1000.0 if origins.size else 0
        out.append(obs)
    return out


_LEVEL_EYE = np.eye(len(LEVELS), dtype=np.float32)
_LEVEL_EYE.flags.writeable = False
"""The one-hot rows of the levels (read only: shared by every call)."""


def set_levels(system: System, domain_obs: list[Float32Array], level: IntArray) -> None:
    """Write the distributor's levels ``[B, D]`` into the domain observations, in place."""
    doms = _domain_plan(system).doms  # per kind its domains, as np.flatnonzero gives them
    for k, obs in enumerate(domain_obs):
        obs[:, :, : len(LEVELS)] = _LEVEL_EYE[level[:, doms[k]]]
