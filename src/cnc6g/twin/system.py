"""Compile a :class:`~cnc6g.model.Scenario` into flat NumPy arrays the twin computes on.

Index conventions used throughout the twin:

- ``o`` origin = terminal domain (requests start there), ``O`` of them;
- ``s`` service type, ``S`` of them;
- ``n`` node, ``N`` of them (all domains' nodes, in scenario order);
- ``k`` candidate slot of an origin: ``candidates[o, k]`` is a node index, ``K`` per origin;
- ``l`` wired link, ``L`` of them.

Traffic is routed in candidate layout ``[O, S, K]``: an origin can reach the nodes of its own
terminal domain (no radio hop) and the nodes of RAN and transport domains (radio uplink to its
RAN domain, then the shortest wired path by delay). Units inside the twin are SI: seconds, Mbit,
Mbit/s, gigacycles, joules, watts.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray

from cnc6g.model import DomainKind, Scenario

if TYPE_CHECKING:
    from cnc6g.twin.chains import ChainSpec

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class System:
    """The scenario as arrays (immutable). Build it with :func:`compile_scenario`."""

    scenario: Scenario
    slot_s: float
    admission_utilisation: float
    unsatisfied_penalty_j: float
    # names
    origin_names: tuple[str, ...]
    service_names: tuple[str, ...]
    node_names: tuple[str, ...]
    link_names: tuple[str, ...]
    # nodes [N]
    node_domain_kind: tuple[DomainKind, ...]
    node_domain: IntArray
    capacity: FloatArray  # gigacycles/s
    memory: FloatArray  # GB of one device (the node's memory over its devices)
    devices: FloatArray  # devices the node pools; a task runs on one, at capacity / devices
    idle_power: FloatArray  # W
    peak_power: FloatArray  # W
    sleep_power: FloatArray  # W, NaN where the node cannot sleep
    can_sleep: BoolArray
    wake_s: FloatArray  # time to wake from sleep, 0 where the node cannot sleep
    wake_energy: FloatArray  # J per wake-up
    # services [S]
    work: FloatArray  # gigacycles per task
    input_mbit: FloatArray
    output_mbit: FloatArray
    service_memory: FloatArray  # GB
    instance_power: FloatArray  # W
    instantiation_energy: FloatArray  # J
    cold_start_s: FloatArray
    deadline_s: FloatArray
    work_cv: FloatArray  # coefficient of variation of a task's work (twin.sojourn = mg1)
    input_cv: FloatArray  # coefficient of variation of a request's input data size
    output_cv: FloatArray  # coefficient of variation of a request's output data size
    can_host: BoolArray  # [S, N] tier, processor and memory allow an instance
    # origins [O]
    origin_ran: IntArray  # index into node_domain space of the RAN domain
    uplink_mhz: FloatArray
    downlink_mhz: FloatArray
    mean_snr_db: FloatArray
    shadowing_std_db: FloatArray
    tx_power: FloatArray  # W
    bs_j_per_mbit: FloatArray  # J per Mbit on the downlink
    # candidates [O, K]
    candidates: IntArray
    candidate_valid: BoolArray
    candidate_local: BoolArray
    candidate_delay_s: FloatArray  # propagation + access, one way
    candidate_j_per_mbit: FloatArray  # wired + access energy per Mbit, per direction
    admissible: BoolArray  # [O, S, K]
    # wired links [L]
    link_capacity: FloatArray  # Mbit/s per direction
    link_incidence: FloatArray  # [L, O*K] 1 where the path to (o, k) crosses link l
    path_links: IntArray  # [O*K, H] links on the path to (o, k), padded with L
    float_dtype: type[np.floating] = np.float64  # of the per-flow arrays of the slot arithmetic
    chains: ChainSpec | None = None  # the services whose steps are placed separately (or None)

    @property
    def n_origins(self) -> int:
        """Number of origins O."""
        return len(self.origin_names)

    @property
    def n_services(self) -> int:
        """Number of service types S."""
        return len(self.service_names)

    @property
    def n_nodes(self) -> int:
        """Number of nodes N."""
        return len(self.node_names)

    @property
    def n_candidates(self) -> int:
        """Candidates per origin K."""
        return int(self.candidates.shape[1])

    @property
    def n_links(self) -> int:
        """Number of wired links L."""
        return len(self.link_names)

    def dense_routing(self, routing: FloatArray) -> FloatArray:
        """Expand routing ``[..., O, S, K]`` to node layout ``[..., O, S, N]``."""
        out = np.zeros((*routing.shape[:-1], self.n_nodes))
        for o in range(self.n_origins):
            for k in np.flatnonzero(self.candidate_valid[o]):
                out[..., o, :, self.candidates[o, k]] += routing[..., o, :, k]
        return out

    def compress_routing(self, dense: FloatArray) -> FloatArray:
        """Take routing ``[..., O, S, N]`` to candidate layout ``[..., O, S, K]``.

        Shares on nodes that are not candidates of the origin are dropped.
        """
        out = np.zeros((*dense.shape[:-1], self.n_candidates))
        for o in range(self.n_origins):
            for k in np.flatnonzero(self.candidate_valid[o]):
                out[..., o, :, k] = dense[..., o, :, self.candidates[o, k]]
        return out


P = ParamSpec("P")
R = TypeVar("R")


def per_system(fn: Callable[Concatenate[System, P], R]) -> Callable[Concatenate[System, P], R]:
    """Memoise ``fn(system, *args)`` for each system, in a cache owned by ``fn``.

    Values derived from a :class:`System`'s arrays are computed once per system (and per value of
    the other, hashable, arguments). The cache holds the systems weakly, so a system that is no
    longer used frees its entries; a copy of a system (such as :func:`without_node` makes) starts
    with none.
    """
    store: weakref.WeakKeyDictionary[System, dict[Any, R]] = weakref.WeakKeyDictionary()

    @functools.wraps(fn)
    def cached(system: System, /, *args: P.args, **kwargs: P.kwargs) -> R:
        entries = store.setdefault(system, {})
        key = (args, tuple(sorted(kwargs.items())))
        if key not in entries:
            entries[key] = fn(system, *args, **kwargs)
        return entries[key]

    return cached


@per_system
def wired_s_per_mbit(system: System) -> FloatArray:
    """Sum over each candidate's wired path of 1 / link rate, ``[O, K]`` (s per Mbit when idle)."""
    inv: FloatArray = np.append(1.0 / system.link_capacity, 0.0)  # padding index L adds nothing
    out: FloatArray = inv[system.path_links].sum(axis=1).reshape(system.n_origins, -1)
    return out


def requests_for_load(system: System, load: float) -> float:
    """Mean requests per slot that put utilisation ``load`` on the reference capacity.

    The reference capacity is the RAN nodes plus the transport nodes except the largest one (the
    cloud), the definition of offered load L in the project's load sweep. The expected work of a
    request is taken over the Zipf popularity of the services.
    """
    reference = _reference_capacity(system)
    mean_work = float(system.work @ popularity_weights(system))
    return load * reference * system.slot_s / mean_work


def load_for_requests(system: System, requests: float) -> float:
    """Inverse of :func:`requests_for_load`."""
    return requests / requests_for_load(system, 1.0)


def _reference_capacity(system: System) -> float:
    kinds = np.array([k.value for k in system.node_domain_kind])
    ran = system.capacity[kinds == DomainKind.RAN.value].sum()
    transport = np.sort(system.capacity[kinds == DomainKind.TRANSPORT.value])
    return float(ran + transport[:-1].sum()) if transport.size > 1 else float(ran + transport.sum())


def popularity_weights(system: System) -> FloatArray:
    """Probability of each service under the scenario's initial Zipf ranking, ``[S]``."""
    wl = system.scenario.workload
    ranks = np.arange(1, system.n_services + 1, dtype=float)
    p_rank = ranks ** (-wl.zipf_exponent)
    p_rank /= p_rank.sum()
    order = (
        [system.service_names.index(n) for n in wl.popularity]
        if wl.popularity is not None
        else list(range(system.n_services))
    )
    p = np.empty(system.n_services)
    p[order] = p_rank
    return p


@dataclass(frozen=True, eq=False)
class DomainRoutes:
    """Shortest wired paths between the scenario's domains, by delay (Floyd-Warshall).

    Between two adjacent domains a path takes their fastest link (the first of equals). A
    domain without links (a terminal) lies on no path and reaches only itself.
    """

    dist_s: FloatArray  # [D, D] one-way propagation delay, inf where unreachable
    next_hop: IntArray  # [D, D] the next domain on a shortest path (-1 where unreachable)
    link_of: dict[tuple[int, int], int]  # the fastest link between two adjacent domains

    def links(self, src: int, dst: int) -> list[int]:
        """The wired links of the shortest path from domain ``src`` to domain ``dst``."""
        out: list[int] = []
        cur = src
        while cur != dst:
            hop = int(self.next_hop[cur, dst])
            out.append(self.link_of[(cur, hop)])
            cur = hop
        return out


def domain_routes(scenario: Scenario) -> DomainRoutes:
    """The :class:`DomainRoutes` of ``scenario`` (domains in scenario order)."""
    domains = scenario.domains
    dom_index = {d.name: i for i, d in enumerate(domains)}
    D = len(domains)
    links = scenario.wired_links
    dist = np.full((D, D), np.inf)
    np.fill_diagonal(dist, 0.0)
    for wl in links:
        a, b = dom_index[wl.a], dom_index[wl.b]
        d = wl.delay_ms / 1000.0
        for i, j in ((a, b), (b, a)):
            if d < dist[i, j]:
                dist[i, j] = d
    nxt = np.where(np.isfinite(dist), np.arange(D)[None, :], -1)
    # The relaxation runs over the linked domains only; the result is the same as over all.
    linked = np.unique([dom_index[name] for wl in links for name in (wl.a, wl.b)]).astype(int)
    sub = np.ix_(linked, linked)
    d_sub, n_sub = dist[sub], nxt[sub]
    for m in range(linked.size):
        via = d_sub[:, m : m + 1] + d_sub[m : m + 1, :]
        shorter = via < d_sub - 1e-15
        np.copyto(d_sub, via, where=shorter)
        np.copyto(n_sub, np.broadcast_to(n_sub[:, m : m + 1], n_sub.shape), where=shorter)
    dist[sub], nxt[sub] = d_sub, n_sub
    link_of: dict[tuple[int, int], int] = {}
    for li, wl in enumerate(links):
        a, b = dom_index[wl.a], dom_index[wl.b]
        for key in ((a, b), (b, a)):
            best = link_of.get(key)
            if best is None or links[best].delay_ms > wl.delay_ms:
                link_of[key] = li
    return DomainRoutes(dist_s=dist, next_hop=nxt, link_of=link_of)


@per_system
def system_routes(system: System) -> DomainRoutes:
    """:func:`domain_routes` of ``system``'s scenario, computed once per system."""
    return domain_routes(system.scenario)


def compile_scenario(scenario: Scenario, precision: str = "double") -> System:
    """Turn a validated scenario into a :class:`System`.

    Shortest wired paths (by propagation delay) are computed once here; the per-slot twin
    only does array arithmetic.

    Args:
        scenario: the validated scenario.
        precision: ``"double"`` (default) or ``"single"``: the float width of the per-flow
            ``[B, O, S, K]`` arithmetic. Single precision is faster for large batches
            (learning, throughput runs); totals are summed in double either way.
    """
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    from cnc6g.twin.chains import build_chains  # it builds on this module

    chains = build_chains(scenario)
    domains = scenario.domains
    dom_index = {d.name: i for i, d in enumerate(domains)}
    nodes = [(di, n) for di, d in enumerate(domains) for n in d.nodes]
    node_domain = np.array([di for di, _ in nodes], dtype=np.int64)
    node_kind = tuple(domains[di].kind for di, _ in nodes)

    services = scenario.services
    S, N = len(services), len(nodes)
    can_host = np.zeros((S, N), dtype=bool)
    for si, service in enumerate(services):
        for ni, (di, node) in enumerate(nodes):
            can_host[si, ni] = (
                domains[di].kind in service.tiers
                and node.processor in service.processors
                and service.memory_gb <= node.memory_gb / node.devices
            )

    terminals = [d for d in domains if d.kind is DomainKind.TERMINAL]
    radio = {r.terminal: r for r in scenario.radio_links}
    O = len(terminals)

    routes = domain_routes(scenario)
    dist = routes.dist_s
    links = scenario.wired_links
    L = len(links)
    shortest_path = routes.links

    k_limit = scenario.twin.candidates_per_origin
    cand_rows: list[list[int]] = []
    local_rows: list[list[bool]] = []
    delay_rows: list[list[float]] = []
    energy_rows: list[list[float]] = []
    path_rows: list[list[list[int]]] = []
    origin_ran = np.zeros(O, dtype=np.int64)
    link_j_per_mbit = np.array([wl.energy_nj_per_bit * 1e-3 for wl in links])
    # The radio model's one-way air-interface and user-plane latency, on every radio hop.
    air_s = 0.0 if scenario.radio is None else scenario.radio.air_latency_ms / 1e3
    for oi, term in enumerate(terminals):
        ran = dom_index[radio[term.name].ran]
        origin_ran[oi] = ran
        own = [ni for ni, (di, _) in enumerate(nodes) if di == dom_index[term.name]]
        remote = [
            ni
            for ni, (di, _) in enumerate(nodes)
            if domains[di].kind is not DomainKind.TERMINAL and np.isfinite(dist[ran, di])
        ]
        remote.sort(
            key=lambda ni: (dist[ran, node_domain[ni]] + nodes[ni][1].access_delay_ms / 1e3, ni)
        )
        if k_limit is not None:
            remote = remote[:k_limit]
        row = own + remote
        cand_rows.append(row)
        local_rows.append([True] * len(own) + [False] * len(remote))
        delays: list[float] = []
        energies: list[float] = []
        paths: list[list[int]] = []
        for ni in row:
            node = nodes[ni][1]
            if ni in own:
                delays.append(node.access_delay_ms / 1e3)
                energies.append(node.access_energy_nj_per_bit * 1e-3)
                paths.append([])
            else:
                p = shortest_path(ran, int(node_domain[ni]))
                delays.append(
                    float(dist[ran, node_domain[ni]]) + node.access_delay_ms / 1e3 + air_s
                )
                energies.append(
                    float(link_j_per_mbit[p].sum()) + node.access_energy_nj_per_bit * 1e-3
                )
                paths.append(p)
        delay_rows.append(delays)
        energy_rows.append(energies)
        path_rows.append(paths)

    K = max(len(r) for r in cand_rows)
    candidates = np.zeros((O, K), dtype=np.int64)
    valid = np.zeros((O, K), dtype=bool)
    local = np.zeros((O, K), dtype=bool)
    cdelay = np.zeros((O, K))
    cenergy = np.zeros((O, K))
    incidence = np.zeros((L, O * K))
    hops = max((len(p) for rows in path_rows for p in rows), default=0)
    path_links = np.full((O * K, max(hops, 1)), L, dtype=np.int64)
    for oi in range(O):
        k = len(cand_rows[oi])
        candidates[oi, :k] = cand_rows[oi]
        valid[oi, :k] = True
        local[oi, :k] = local_rows[oi]
        cdelay[oi, :k] = delay_rows[oi]
        cenergy[oi, :k] = energy_rows[oi]
        for ki, p in enumerate(path_rows[oi]):
            for li in p:
                incidence[li, oi * K + ki] = 1.0
            path_links[oi * K + ki, : len(p)] = p

    admissible = valid[:, None, :] & can_host[:, candidates].transpose(1, 0, 2)

    def svc(attr: str, scale: float = 1.0) -> FloatArray:
        return np.array([float(getattr(s, attr)) * scale for s in services])

    return System(
        scenario=scenario,
        slot_s=scenario.twin.slot_ms / 1000.0,
        admission_utilisation=scenario.twin.admission_utilisation,
        unsatisfied_penalty_j=scenario.objective.unsatisfied_penalty_j,
        origin_names=tuple(t.name for t in terminals),
        service_names=tuple(s.name for s in services),
        node_names=tuple(n.name for _, n in nodes),
        link_names=tuple(f"{wl.a}-{wl.b}" for wl in links),
        node_domain_kind=node_kind,
        node_domain=node_domain,
        capacity=np.array([n.capacity_gcps for _, n in nodes]),
        memory=np.array([n.memory_gb / n.devices for _, n in nodes]),
        devices=np.array([float(n.devices) for _, n in nodes]),
        idle_power=np.array([n.idle_power_w for _, n in nodes]),
        peak_power=np.array([n.peak_power_w for _, n in nodes]),
        sleep_power=np.array(
            [np.nan if n.sleep_power_w is None else n.sleep_power_w for _, n in nodes]
        ),
        can_sleep=np.array([n.sleep_power_w is not None for _, n in nodes]),
        wake_s=np.array([n.wake_ms / 1e3 for _, n in nodes]),
        wake_energy=np.array([n.wake_energy_j for _, n in nodes]),
        work=np.array([s.work for s in services]),
        input_mbit=svc("input_mbit"),
        output_mbit=svc("output_mbit"),
        service_memory=svc("memory_gb"),
        instance_power=svc("instance_power_w"),
        instantiation_energy=svc("instantiation_energy_j"),
        cold_start_s=svc("cold_start_ms", 1e-3),
        deadline_s=svc("deadline_ms", 1e-3),
        work_cv=svc("work_cv"),
        input_cv=svc("input_cv"),
        output_cv=svc("output_cv"),
        can_host=can_host,
        origin_ran=origin_ran,
        uplink_mhz=np.array([radio[t.name].uplink_mhz for t in terminals]),
        downlink_mhz=np.array([radio[t.name].downlink_mhz for t in terminals]),
        mean_snr_db=np.array([radio[t.name].mean_snr_db for t in terminals]),
        shadowing_std_db=np.array([radio[t.name].shadowing_std_db for t in terminals]),
        tx_power=np.array([radio[t.name].tx_power_w for t in terminals]),
        bs_j_per_mbit=np.array([radio[t.name].bs_energy_nj_per_bit * 1e-3 for t in terminals]),
        candidates=candidates,
        candidate_valid=valid,
        candidate_local=local,
        candidate_delay_s=cdelay,
        candidate_j_per_mbit=cenergy,
        admissible=admissible,
        link_capacity=np.array([wl.bandwidth_gbps * 1e3 for wl in links]),
        link_incidence=incidence,
        path_links=path_links,
        float_dtype=np.float64 if precision == "double" else np.float32,
        chains=chains,
    )


def without_node(system: System, node: int | str) -> System:
    """A copy of ``system`` in which ``node`` has failed: nothing may run on it or be sent to it.

    The node keeps its place in every array (so decisions, observations and learned agents keep
    their shapes); only its hosting is taken away: ``can_host[:, n]`` and the admissibility of
    every candidate that points to it are false. Values cached per system (:func:`per_system`)
    are rebuilt for the copy. ``system`` itself is not changed.

    Args:
        system: the compiled scenario.
        node: index or name of the node that fails.

    Raises:
        ValueError: ``node`` names no node of ``system``.
    """
    if isinstance(node, str):
        if node not in system.node_names:
            raise ValueError(f"unknown node {node!r}: the nodes are {', '.join(system.node_names)}")
        n = system.node_names.index(node)
    else:
        n = int(node)
        if not 0 <= n < system.n_nodes:
            raise ValueError(f"node index {n} out of range 0..{system.n_nodes - 1}")
    can_host = system.can_host.copy()
    can_host[:, n] = False
    admissible = (
        system.admissible & ~(system.candidate_valid & (system.candidates == n))[:, None, :]
    )
    return replace(system, can_host=can_host, admissible=admissible)
