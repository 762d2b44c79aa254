"""Services whose steps are placed separately (``place_steps``): the twin's chain model.

A service with ``place_steps`` runs its workflow's stages (steps) on separate nodes: each step on
the requesting terminal or on a network node that holds an instance of the service. A task of
such a service follows one *path*: a node for each step. Its transfers are the service's input
from the terminal to each first step, each step's ``output_mbit`` to the steps after it, and each
last step's output back to the terminal. A transfer between the terminal and a network node is
the twin's usual (origin, candidate) transfer: it loads the cell's radio and the wired links of
the candidate's path and pays the candidate's propagation and access delay; a transfer between
two network nodes loads the wired links of the shortest path (by delay) between their domains,
in the direction away from the origin when the receiver is farther from it (by its candidate's
delay) and towards it otherwise, and pays both nodes' access delays and the path's propagation
delay; a transfer between two steps on one node is free.

Per slot, with a path's tasks admitted at ingress (the product of the admissions of every radio
cell direction and wired link direction its transfers cross, and of every node its steps use):

- every step's node gets the step's work from the path's admitted tasks, so the node's
  utilisation, admission and headroom count every step; a node admits the share of the
  path's tasks it admits of all its load, once however many of the path's steps it runs;
- a step's sojourn is exponential with rate ``headroom / work`` of the step (the twin's
  processor-sharing mean), independently of the other steps;
- a *route* is a sequence of steps from a first step to a last one; its latency is its
  transfers' delays and times (size times time per Mbit at the slot's loads) plus the sum of its
  steps' sojourns (hypoexponential: its distribution function comes from the matrix exponential
  of the phase-type generator). The task's latency is the largest over its routes (the critical
  path). For a chain there is one route and the probability of meeting the deadline is exact
  for the model; for a DAG it is taken as the product over the routes, a lower bound (the routes
  share steps, so their latencies are positively associated);
- where the service's data sizes vary (``input_cv``, ``output_cv``), a route's transfers from the
  terminal take the request's input factor times their time at the mean size and those back to
  it its output factor times theirs (the data passed between steps keeps its size), and each
  route's probability is integrated over them (:mod:`cnc6g.twin.sizes`) before the product;
- a task meets a cold start with the largest start-up time of its steps' instances starting
  this slot (the share ``min(t_start / tau, 1)`` of its tasks, as for one step), its extra wait
  uniform as in the one-step model and integrated numerically;
- energy: every step's work is in its node's dynamic energy; every transfer's bits are charged
  on the radio (terminal transmit energy, base station) and the wired links and node accesses it
  crosses.

A service without ``place_steps`` is evaluated exactly as before; a scenario with none has no
chain arithmetic at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from cnc6g.model import DomainKind, Scenario
from cnc6g.twin.sizes import expected, transfer_moments
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system, system_routes

MAX_ROUTES = 64
"""Most first-to-last routes a placed workflow may have."""


@dataclass(frozen=True, eq=False)
class ChainSpec:
    """The placed workflows of a system, padded to ``Q`` steps, ``T`` transfers, ``R`` routes.

    Step ``q`` of service ``s`` is the ``q``-th stage its workflow lists. A transfer goes from
    ``src`` to ``dst``, step indices where ``-1`` is the terminal.
    """

    is_chain: BoolArray  # [S] the service's steps are placed separately
    n_steps: IntArray  # [S] (0 for the other services)
    step_names: tuple[tuple[str, ...], ...]  # [S] names of its steps
    step_work: FloatArray  # [S, Q] gigacycles (0: padding)
    step_pinned: BoolArray  # [S, Q] pinned to the terminal
    step_valid: BoolArray  # [S, Q]
    src: IntArray  # [S, T]
    dst: IntArray  # [S, T]
    mbit: FloatArray  # [S, T] data of the transfer
    transfer_valid: BoolArray  # [S, T]
    route_transfers: BoolArray  # [S, R, T] transfers on each route
    route_steps: BoolArray  # [S, R, Q] steps on each route
    route_valid: BoolArray  # [S, R]

    @property
    def n_max_steps(self) -> int:
        """Steps of the longest placed workflow, ``Q``."""
        return int(self.step_work.shape[1])


def build_chains(scenario: Scenario) -> ChainSpec | None:
    """The :class:`ChainSpec` of a scenario's ``place_steps`` services (None: it has none).

    Raises:
        ValueError: a placed workflow has more than :data:`MAX_ROUTES` routes, or the scenario's
            twin uses the M/G/1 sojourn (chains use the exponential one).
    """
    services = scenario.services
    placed = [bool(s.place_steps) for s in services]
    if not any(placed):
        return None
    if scenario.twin.sojourn != "exponential":
        raise ValueError(
            "services with place_steps need twin.sojourn = 'exponential' (the chain model "
            "takes every step's sojourn exponential)"
        )
    S = len(services)
    steps: list[list[str]] = [[] for _ in range(S)]
    transfers: list[list[tuple[int, int, float]]] = [[] for _ in range(S)]
    routes: list[list[tuple[list[int], list[int]]]] = [[] for _ in range(S)]
    for si, svc in enumerate(services):
        if not svc.place_steps:
            continue
        assert svc.workflow is not None
        stages = svc.workflow.stages
        names = [st.name for st in stages]
        steps[si] = names
        tr = transfers[si]
        children: dict[int, list[int]] = {q: [] for q in range(len(stages))}
        into: dict[int, list[int]] = {q: [] for q in range(len(stages))}
        for q, st in enumerate(stages):
            if not st.after:
                into[q].append(len(tr))
                tr.append((-1, q, svc.input_mbit))
            for parent in st.after:
                p = names.index(parent)
                children[p].append(q)
                into[q].append(len(tr))
                tr.append((p, q, svc.stage_output_mbit(stages[p])))
        back: dict[int, int] = {}
        for q, st in enumerate(stages):
            if not children[q]:
                back[q] = len(tr)
                tr.append((q, -1, svc.stage_output_mbit(st)))
        edge = {(a, b): t for t, (a, b, _) in enumerate(tr)}

        found: list[list[int]] = []
        for q, st in enumerate(stages):
            if not st.after:
                _walk(children, q, [], found, svc.name)
        for seq in found:
            ts = [edge[-1, seq[0]], *(edge[a, b] for a, b in pairwise(seq)), back[seq[-1]]]
            routes[si].append((seq, ts))
    Q = max(len(n) for n in steps)
    T = max(len(t) for t in transfers)
    R = max(len(r) for r in routes)
    step_work = np.zeros((S, Q))
    pinned = np.zeros((S, Q), dtype=bool)
    step_valid = np.zeros((S, Q), dtype=bool)
    src = np.full((S, T), -1, dtype=np.int64)
    dst = np.full((S, T), -1, dtype=np.int64)
    mbit = np.zeros((S, T))
    t_valid = np.zeros((S, T), dtype=bool)
    r_tr = np.zeros((S, R, T), dtype=bool)
    r_st = np.zeros((S, R, Q), dtype=bool)
    r_valid = np.zeros((S, R), dtype=bool)
    for si, svc in enumerate(services):
        if not svc.place_steps:
            continue
        assert svc.workflow is not None
        for q, st in enumerate(svc.workflow.stages):
            step_work[si, q] = st.compute_gcycles
            pinned[si, q] = bool(st.pin_to_terminal)
            step_valid[si, q] = True
        for t, (a, b, m) in enumerate(transfers[si]):
            src[si, t], dst[si, t], mbit[si, t], t_valid[si, t] = a, b, m, True
        for r, (seq, ts) in enumerate(routes[si]):
            r_st[si, r, seq] = True
            r_tr[si, r, ts] = True
            r_valid[si, r] = True
    return ChainSpec(
        is_chain=np.array(placed, dtype=bool),
        n_steps=np.array([len(n) for n in steps], dtype=np.int64),
        step_names=tuple(tuple(n) for n in steps),
        step_work=step_work,
        step_pinned=pinned,
        step_valid=step_valid,
        src=src,
        dst=dst,
        mbit=mbit,
        transfer_valid=t_valid,
        route_transfers=r_tr,
        route_steps=r_st,
        route_valid=r_valid,
    )


def _walk(
    children: dict[int, list[int]], q: int, seq: list[int], out: list[list[int]], name: str
) -> None:
    """Append to ``out`` every route from step ``q`` (after ``seq``) to a last step."""
    seq = [*seq, q]
    if not children[q]:
        out.append(seq)
        if len(out) > MAX_ROUTES:
            raise ValueError(f"service {name!r}: its workflow has more than {MAX_ROUTES} routes")
        return
    for c in children[q]:
        _walk(children, c, seq, out, name)


@dataclass(frozen=True, eq=False)
class _Internode:
    """Transfers between two network nodes: delay, wired links (padded with L), energy."""

    delay_s: FloatArray  # [N, N]
    links: IntArray  # [N, N, H]
    j_per_mbit: FloatArray  # [N, N]
    terminal_k: IntArray  # [O] the origin's first local candidate (-1: none)


@per_system
def internode(system: System) -> _Internode:
    """The node-to-node transfer terms of ``system`` (its network nodes; cached)."""
    sc = system.scenario
    domains = sc.domains
    D = len(domains)
    routes = system_routes(system)
    dist = routes.dist_s
    nodes = [(di, n) for di, d in enumerate(domains) for n in d.nodes]
    N, L = len(nodes), len(sc.wired_links)
    network = np.array([domains[di].kind is not DomainKind.TERMINAL for di, _ in nodes])
    access_s = np.array([n.access_delay_ms / 1e3 for _, n in nodes])
    access_j = np.array([n.access_energy_nj_per_bit * 1e-3 for _, n in nodes])
    link_j = np.array([wl.energy_nj_per_bit * 1e-3 for wl in sc.wired_links] + [0.0])
    paths: dict[tuple[int, int], list[int]] = {}
    for a in range(D):
        for b in range(D):
            if not np.isfinite(dist[a, b]):
                continue
            paths[a, b] = routes.links(a, b)
    H = max((len(p) for p in paths.values()), default=0) or 1
    links = np.full((N, N, H), L, dtype=np.int64)
    delay = np.full((N, N), np.inf)
    energy = np.zeros((N, N))
    for a, (da, _) in enumerate(nodes):
        for b, (db, _) in enumerate(nodes):
            if not (network[a] and network[b]) or (da, db) not in paths:
                continue
            p = paths[da, db]
            links[a, b, : len(p)] = p
            delay[a, b] = access_s[a] + dist[da, db] + access_s[b] if a != b else 0.0
            energy[a, b] = access_j[a] + link_j[p].sum() + access_j[b] if a != b else 0.0
    local = system.candidate_local & system.candidate_valid
    terminal_k = np.where(local.any(axis=1), np.argmax(local, axis=1), -1).astype(np.int64)
    return _Internode(delay_s=delay, links=links, j_per_mbit=energy, terminal_k=terminal_k)


def batched_expm(gen: FloatArray) -> FloatArray:
    """``expm`` of each ``[Q, Q]`` matrix of ``gen`` ``[M, Q, Q]``, batched in NumPy.

    Scaling and squaring of a Taylor polynomial of order 13 (truncation error below 1e-16 once
    every matrix is scaled to norm 1/4), all matrices squared the same number of times. SciPy's
    ``expm`` takes up to a millisecond per small matrix in a batch; the generators here are
    those of chains of phases, whose exponentials have entries in [0, 1], so the squarings are
    stable (within 1e-13 of SciPy's on the chains' generators).
    """
    M, Q, _ = gen.shape
    norm = float(np.abs(gen).sum(axis=2).max(initial=0.0))
    squarings = max(0, int(np.ceil(np.log2(max(norm, 1e-300) / 0.25))))
    a = gen / 2.0**squarings
    out = np.broadcast_to(np.eye(Q), (M, Q, Q)).copy()
    term = out.copy()
    for i in range(1, 14):
        term = term @ a / i
        out += term
    for _ in range(squarings):
        out = out @ out
    result: FloatArray = out
    return result


def hypoexp_cdf(rates: FloatArray, present: BoolArray, t: FloatArray) -> FloatArray:
    """``P(sum of independent Exp(rates[i, j]) over the present j <= t[i])``, ``[M]``.

    From the phase-type form: the sum is the absorption time of a chain of phases, so its
    survival function is the first row of ``expm(G t)`` summed, ``G`` the bidiagonal generator.
    Exact for equal rates too. A present rate of 0 (no headroom) gives 0; no phase gives
    ``t >= 0``.
    """
    M, Q = rates.shape
    if M == 0:
        return np.zeros(0)
    stuck = (present & ~(rates > 0)).any(axis=1)
    order = np.argsort(~present, axis=1, kind="stable")
    r = np.take_along_axis(np.where(present & (rates > 0), rates, 0.0), order, axis=1)
    m = present.sum(axis=1)
    tt = np.maximum(t, 0.0)
    gen = np.zeros((M, Q, Q))
    idx = np.arange(Q)
    gen[:, idx, idx] = -r * tt[:, None]
    if Q > 1:
        moves = (idx[None, 1:] < m[:, None]).astype(float)
        gen[:, idx[:-1], idx[1:]] = r[:, :-1] * tt[:, None] * moves
    survival = batched_expm(gen)[:, 0, :].sum(axis=1)
    p = np.clip(1.0 - survival, 0.0, 1.0)
    p = np.where(m == 0, 1.0, p)
    out: FloatArray = np.where((t < 0) | stuck, 0.0, p)
    return out


_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


@dataclass(frozen=True, eq=False)
class ChainFlows:
    """The slot's chain paths with requests: one entry per (copy, origin, service, path).

    ``steps[f, q]`` is the candidate running step ``q`` (-1 past the service's steps).
    """

    copy: IntArray  # [F]
    origin: IntArray  # [F]
    service: IntArray  # [F]
    steps: IntArray  # [F, Q]
    requests: FloatArray  # [F]
    usable: BoolArray  # [F] every step has an admissible instance (pins respected)
    node: IntArray  # [F, Q] node of each step (0 for padding)
    # transfers [F, T]: the kind (0 none, 1 terminal to network, 2 network to terminal,
    # 3 between the terminal's nodes, 4 between network nodes), candidate, nodes, direction
    kind: IntArray
    cand: IntArray  # [F, T] the network candidate of kinds 1 and 2
    a: IntArray  # [F, T] sending node (kind 4)
    b: IntArray  # [F, T] receiving node (kind 4)
    direction: IntArray  # [F, T] 0 away from the origin, 1 towards it
    mbit: FloatArray  # [F, T]
    fixed_s: FloatArray  # [F, T] delay of kinds 3 and 4


@dataclass(frozen=True, eq=False)
class ChainOutcome:
    """What the slot did to its chain paths (per entry of :class:`ChainFlows`)."""

    flows: ChainFlows
    served: FloatArray  # [F]
    satisfied: FloatArray  # [F]
    rate: FloatArray  # [F, Q] each step's sojourn rate, 1/s
    route_network_s: FloatArray  # [F, R] delays and transfer times of each route (inf: none)
    cold: FloatArray  # [F] share of the tasks meeting a cold start
    start_s: FloatArray  # [F] start-up time of the latest-starting step
    latency_mean_s: FloatArray  # [F] mean latency of the critical route (largest mean)
    # [F, R, 2] each route's transfer time from and to the terminal at the mean sizes, where
    # the service's data sizes vary (None: no path's vary)
    route_sized_s: FloatArray | None = None


def chain_flows(
    system: System,
    demand: FloatArray | IntArray,
    routing: FloatArray,
    deployment: BoolArray,
    paths: IntArray | None,
    path_shares: FloatArray | None,
) -> ChainFlows:
    """The chain paths of a slot: one-unit routing rows and explicit paths of chain services."""
    spec = system.chains
    assert spec is not None
    B = demand.shape[0]
    O, S, K = system.n_origins, system.n_services, system.n_candidates
    Q = spec.n_max_steps
    inter = internode(system)
    wanted = np.asarray(demand).reshape(-1)
    flat_s = np.arange(B * O * S) % S
    rows = np.flatnonzero((wanted > 0) & spec.is_chain[flat_s])
    shares = routing.reshape(-1, K)[rows]
    r, k = np.nonzero(shares)
    bos = rows[r]
    s1 = bos % S
    o1 = (bos // S) % O
    term = inter.terminal_k[o1]
    steps1 = np.where(spec.step_pinned[s1], term[:, None], k[:, None])
    req1 = wanted[bos] * shares[r, k]
    parts = [(bos, steps1, req1)]
    if paths is not None and path_shares is not None:
        P = path_shares.shape[-1]
        ps = path_shares.reshape(B * O * S, P)
        rows2 = np.flatnonzero((wanted > 0) & spec.is_chain[flat_s])
        r2, p2 = np.nonzero(ps[rows2] > 0)
        bos2 = rows2[r2]
        steps2 = paths.reshape(B * O * S, P, -1)[bos2, p2, :Q]
        if steps2.shape[1] < Q:
            steps2 = np.pad(steps2, ((0, 0), (0, Q - steps2.shape[1])), constant_values=-1)
        parts.append((bos2, steps2.astype(np.int64), wanted[bos2] * ps[bos2, p2]))
    bos = np.concatenate([p[0] for p in parts])
    steps = np.concatenate([p[1] for p in parts]).astype(np.int64)
    requests = np.concatenate([p[2] for p in parts]).astype(float)
    s = bos % S
    bo = bos // S
    o = bo % O
    b = bo // O
    valid = spec.step_valid[s]
    steps = np.where(valid, steps, -1)
    k_ok = (steps >= 0) & (steps < K)
    kk = np.where(k_ok, steps, 0)
    node = system.candidates[o[:, None], kk]
    good = (
        k_ok
        & system.candidate_valid[o[:, None], kk]
        & system.admissible[o[:, None], s[:, None], kk]
        & deployment[b[:, None], s[:, None], node]
        & (~spec.step_pinned[s] | system.candidate_local[o[:, None], kk])
    )
    usable = np.asarray(np.where(valid, good, True).all(axis=1), dtype=bool)
    node = np.where(valid, node, 0)
    # Transfers: the sending and receiving candidate (K: the terminal itself).
    src, dst = spec.src[s], spec.dst[s]
    ka = np.where(src >= 0, np.take_along_axis(kk, np.maximum(src, 0), axis=1), K)
    kb = np.where(dst >= 0, np.take_along_axis(kk, np.maximum(dst, 0), axis=1), K)
    local_ext = np.concatenate([system.candidate_local, np.ones((O, 1), dtype=bool)], axis=1)
    delay_ext = np.concatenate([system.candidate_delay_s, np.zeros((O, 1))], axis=1)
    la = local_ext[o[:, None], ka]
    lb = local_ext[o[:, None], kb]
    differ = spec.transfer_valid[s] & (ka != kb)
    kind = np.zeros(ka.shape, dtype=np.int64)
    kind[differ & la & ~lb] = 1
    kind[differ & ~la & lb] = 2
    kind[differ & la & lb] = 3
    kind[differ & ~la & ~lb] = 4
    cand = np.where(kind == 1, kb, np.where(kind == 2, ka, 0))
    na = system.candidates[o[:, None], np.minimum(ka, K - 1)]
    nb = system.candidates[o[:, None], np.minimum(kb, K - 1)]
    da = delay_ext[o[:, None], ka]
    db = delay_ext[o[:, None], kb]
    fixed = np.where(kind == 3, da + db, 0.0)
    fixed = np.where(kind == 4, inter.delay_s[na, nb], fixed)
    direction = np.where(kind == 4, (db < da).astype(np.int64), 0)
    return ChainFlows(
        copy=b,
        origin=o,
        service=s,
        steps=steps,
        requests=requests,
        usable=usable,
        node=node,
        kind=kind,
        cand=cand,
        a=na,
        b=nb,
        direction=direction,
        mbit=np.where(spec.transfer_valid[s], spec.mbit[s], 0.0),
        fixed_s=fixed,
    )


def offered_bits(
    system: System, cf: ChainFlows, weight: FloatArray, B: int
) -> tuple[FloatArray, FloatArray]:
    """Mbit the paths' ``weight`` tasks send over the network.

    Between the terminal and the network per (copy, origin, candidate, direction),
    ``[B, O, K, 2]``; between network nodes per link direction, ``[B, 2, L]``.
    """
    O, K, L = system.n_origins, system.n_candidates, system.n_links
    bits = weight[:, None] * cf.mbit
    out = np.zeros(B * O * K * 2)
    radio = (cf.kind == 1) | (cf.kind == 2)
    f, t = np.nonzero(radio)
    d = (cf.kind[f, t] == 2).astype(np.int64)
    at = ((cf.copy[f] * O + cf.origin[f]) * K + cf.cand[f, t]) * 2 + d
    out += np.bincount(at, bits[f, t], B * O * K * 2)
    links = np.zeros((B, 2, L))
    if L:
        f, t = np.nonzero(cf.kind == 4)
        hops = internode(system).links[cf.a[f, t], cf.b[f, t]]  # [E, H]
        e, h = np.nonzero(hops < L)
        f, t = f[e], t[e]
        idx = (cf.copy[f] * 2 + cf.direction[f, t]) * L + hops[e, h]
        links = np.asarray(np.bincount(idx, bits[f, t], B * 2 * L), dtype=float).reshape(B, 2, L)
    return out.reshape(B, O, K, 2), links


def transfer_terms(
    system: System,
    cf: ChainFlows,
    per_mbit: FloatArray,
    dir_admit: FloatArray,
    per_link: FloatArray | None,
    radio_delay_s: FloatArray | None,
    *,
    sizes: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Each transfer's time, its path's network admission and the time that grows with its size.

    Returns the times, s, ``[F, T]``, the admissions ``[F]`` and (``sizes``; else None) each
    transfer's size over the rate at the slot's load, s, ``[F, T]``. A transfer's time is its
    delay and its size over the rate at the slot's load.

    ``per_mbit`` ``[B, O, K, 2]`` and ``dir_admit`` ``[B, O, K, 2]`` are the terminal-to-network
    terms per direction; ``per_link`` ``[B, 4, L]`` the links' s per Mbit both ways and log
    admissions (None without links).
    """
    o, b = cf.origin[:, None], cf.copy[:, None]
    radio = (cf.kind == 1) | (cf.kind == 2)
    d = (cf.kind == 2).astype(np.int64)
    time = cf.fixed_s.copy()
    admit_log = np.zeros(cf.kind.shape)
    pm = per_mbit[b, o, cf.cand, d]
    delay = system.candidate_delay_s[o, cf.cand]
    if radio_delay_s is not None:
        remote = ~system.candidate_local[o, cf.cand]
        delay = delay + radio_delay_s[b, o] * remote
    size_s = np.where(radio, cf.mbit * pm, 0.0) if sizes else None
    time = np.where(radio, delay + cf.mbit * pm, time)
    with np.errstate(divide="ignore"):
        admit_log = np.where(radio, np.log(dir_admit[b, o, cf.cand, d]), admit_log)
    L = system.n_links
    if per_link is not None and L:
        f, t = np.nonzero(cf.kind == 4)
        hops = internode(system).links[cf.a[f, t], cf.b[f, t]]  # [E, H]
        padded = np.concatenate([per_link, np.zeros((*per_link.shape[:2], 1))], axis=2)
        dirn = cf.direction[f, t]
        copy = cf.copy[f][:, None]
        s_per = padded[copy, dirn[:, None], hops].sum(axis=1)
        log_ok = padded[copy, 2 + dirn[:, None], hops].sum(axis=1)
        time[f, t] += cf.mbit[f, t] * s_per
        admit_log[f, t] += log_ok
        if size_s is not None:
            size_s[f, t] += cf.mbit[f, t] * s_per
    return time, np.exp(admit_log.sum(axis=1)), size_s


def step_work_at(system: System, cf: ChainFlows, reach: FloatArray, B: int) -> FloatArray:
    """Work the paths' admitted tasks bring to each instance, gigacycles per slot, ``[B, S, N]``."""
    spec = system.chains
    assert spec is not None
    S, N = system.n_services, system.n_nodes
    work = spec.step_work[cf.service] * reach[:, None]  # [F, Q], 0 on padding
    idx = (cf.copy[:, None] * S + cf.service[:, None]) * N + cf.node
    out = np.asarray(np.bincount(idx.ravel(), work.ravel(), B * S * N), dtype=float)
    return out.reshape(B, S, N)


def path_outcome(
    system: System,
    cf: ChainFlows,
    reach: FloatArray,
    step_admit: FloatArray,
    step_headroom: FloatArray,
    transfer_s: FloatArray,
    start_sn: FloatArray | None,
    size_s: FloatArray | None = None,
) -> ChainOutcome:
    """Served and satisfied tasks of every path.

    ``step_admit`` and ``step_headroom`` ``[F, Q]``: the admission of each step's node (or
    instance) and its headroom per device, gigacycles/s; ``transfer_s`` ``[F, T]``;
    ``start_sn`` ``[B, S, N]`` start-up time of the instances starting this slot (or None);
    ``size_s`` ``[F, T]`` the part of each transfer's time that grows with its size (None: the
    sizes are fixed). Where the service's ``input_cv`` or ``output_cv`` is positive, a route's
    transfers from the terminal take ``X_in`` times their time at the mean size and those back
    to it ``X_out`` times theirs (the sizes passed between steps stay fixed), each route's
    probability integrated over its transfer time (:mod:`cnc6g.twin.sizes`).
    """
    spec = system.chains
    assert spec is not None
    tau = system.slot_s
    valid = spec.step_valid[cf.service]
    # A node admits a task once, however many of its steps it runs.
    Q = spec.n_max_steps
    earlier = np.tril(np.ones((Q, Q), dtype=bool), -1)  # [q, q'] q' before q
    again = ((cf.node[:, :, None] == cf.node[:, None, :]) & earlier & valid[:, None, :]).any(2)
    served = reach * np.where(valid & ~again, step_admit, 1.0).prod(axis=1)
    work = np.where(valid, spec.step_work[cf.service], 1.0)
    rate = np.where(valid, np.maximum(step_headroom, 0.0) / work, 0.0)
    r_tr = spec.route_transfers[cf.service]  # [F, R, T]
    r_st = spec.route_steps[cf.service] & valid[:, None, :]  # [F, R, Q]
    r_ok = spec.route_valid[cf.service]  # [F, R]
    network = np.where(r_ok, (r_tr * transfer_s[:, None, :]).sum(axis=2), np.inf)
    slack = system.deadline_s[cf.service][:, None] - network  # [F, R]
    F = r_ok.shape[0]
    sized, sized_s = None, None
    if (
        size_s is not None
        and system.input_cv[cf.service].any() | system.output_cv[cf.service].any()
    ):
        first = (spec.src[cf.service] == -1) & spec.transfer_valid[cf.service]  # [F, T]
        last = (spec.dst[cf.service] == -1) & spec.transfer_valid[cf.service]
        sized_s = np.stack(
            [
                np.where(r_ok, (r_tr * (size_s * ends)[:, None, :]).sum(axis=2), 0.0)
                for ends in (first, last)
            ],
            axis=-1,
        )  # [F, R, 2]
        (m1, v1), (m2, v2) = transfer_moments(
            sized_s[..., 0],
            sized_s[..., 1],
            system.input_cv[cf.service][:, None],
            system.output_cv[cf.service][:, None],
        )
        sized = (m1, v1, m2, v2)
    p_sat = _p_routes(spec, cf.service, slack, rate, sized)
    with np.errstate(divide="ignore"):
        mean_soj = np.where(r_st, 1.0 / np.where(rate > 0, rate, np.nan)[:, None, :], 0.0)
    mean_route = np.where(r_ok, network + np.nan_to_num(mean_soj, nan=np.inf).sum(axis=2), -np.inf)
    latency = mean_route.max(axis=1)
    cold = np.zeros(F)
    t_start = np.zeros(F)
    if start_sn is not None:
        st = np.where(valid, start_sn[cf.copy[:, None], cf.service[:, None], cf.node], 0.0)
        t_start = st.max(axis=1)
        cold = np.minimum(t_start / tau, 1.0)
        hit = np.flatnonzero(cold > 0)
        if hit.size:
            lo = np.maximum(t_start[hit] - tau, 0.0)
            hi = t_start[hit]
            # No route meets the deadline once the wait passes its slack (with sizes that vary,
            # its slack at no transfer time: a request's sizes may be small).
            room = slack if sized is None else slack + sized[0] + sized[2]
            top = np.clip(room[hit].min(axis=1), lo, hi)
            half = (top - lo) / 2.0
            acc = np.zeros(hit.size)
            for x, w in zip(_GL_X, _GL_W, strict=True):
                e = lo + half * (x + 1.0)
                acc += w * _p_routes(
                    spec,
                    cf.service[hit],
                    slack[hit] - e[:, None],
                    rate[hit],
                    None
                    if sized is None
                    else (sized[0][hit], sized[1][hit], sized[2][hit], sized[3][hit]),
                )
            p_cold = np.where(hi > lo, acc * half / np.maximum(hi - lo, 1e-300), 0.0)
            p_sat[hit] = (1.0 - cold[hit]) * p_sat[hit] + cold[hit] * np.clip(p_cold, 0.0, 1.0)
            latency[hit] += cold[hit] * (lo + hi) / 2.0
    return ChainOutcome(
        flows=cf,
        served=served,
        satisfied=served * p_sat,
        rate=rate,
        route_network_s=network,
        cold=cold,
        start_s=t_start,
        latency_mean_s=latency,
        route_sized_s=sized_s,
    )


def _p_routes(
    spec: ChainSpec,
    service: IntArray,
    slack: FloatArray,
    rate: FloatArray,
    sized: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None,
) -> FloatArray:
    """``P(every route's sojourns within its slack)`` ``[M]``; ``slack`` ``[M, R]``.

    ``sized``: the means and variances ``[M, R]`` of each route's transfer times from and to
    the terminal, which vary with the data sizes (their means are in ``slack``), integrated
    over (None: fixed sizes).
    """
    r_st = spec.route_steps[service] & spec.step_valid[service][:, None, :]
    r_ok = spec.route_valid[service]
    M, R = r_ok.shape
    Q = spec.n_max_steps
    rates = np.broadcast_to(rate[:, None, :], (M, R, Q)).reshape(-1, Q)
    t = np.where(r_ok, slack, 1.0).reshape(-1)
    if sized is None:
        p = hypoexp_cdf(rates, r_st.reshape(-1, Q), t).reshape(M, R)
    else:
        present = r_st.reshape(-1, Q)

        def p_given(left: FloatArray) -> FloatArray:
            n = left.shape[1]
            at = np.repeat(np.arange(M * R), n)
            return hypoexp_cdf(rates[at], present[at], left.reshape(-1)).reshape(-1, n)

        m1, v1, m2, v2 = (x.reshape(-1) for x in sized)
        p = expected(p_given, t, (m1, v1), (m2, v2)).reshape(M, R)
    out: FloatArray = np.where(r_ok, p, 1.0).prod(axis=1)
    return out
