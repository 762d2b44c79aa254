"""Service path scheduling for one request: where each step of a chain or DAG runs, jointly.

Seed 000 (section 5.4) asks the network to choose the service nodes and the paths between them
together. A request from a terminal in cell ``o`` names a workflow of steps, each running a
service type; this module places every step on the terminal's own node or a network node and
takes the paths the twin's wired shortest paths give, minimising the end-to-end latency (then
the energy) under:

- the compute left on each node in the current slot (a step needs ``rate x work``);
- the bandwidth left on each wired link (a transfer needs ``rate x data``);
- privacy pins (a step handling raw user data stays on the terminal);
- where each step's service type may run (tier, processor, memory: ``System.can_host``).

Latency of a placement: the first step's input goes from the terminal to its node, each step's
output to the next steps' nodes and the last step's output back to the terminal; a transfer
takes the one-way propagation and access delay of its path plus its size times the path's time
per Mbit (the cell's mean radio rate where it crosses the radio, each wired link's capacity),
as in the twin at no load; a step takes its work over its node's headroom,
``work / (capacity (1 - utilisation))``. A DAG's latency is its critical path.

Solvers:

- :func:`schedule_chain`: exact dynamic programming over the layered graph of candidate nodes
  (one layer per step), vectorised per layer; exact when no two steps compete for one node's
  compute or one link's bandwidth (each is checked on its own), which :func:`schedule_dag`
  does not assume;
- :func:`schedule_dag`: exact for a DAG with joint capacity, as a MILP (HiGHS);
- :func:`schedule_greedy`: steps in topological order, each on its fastest feasible node given
  its parents', for large DAGs; its optimality gap is measured against the MILP in the tests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from graphlib import TopologicalSorter

import highspy

try:  # the core class does not print HiGHS's banner on construction (highspy.Highs does)
    from highspy._core import _Highs as _HighsSolver
except ImportError:  # pragma: no cover - older highspy
    from highspy import Highs as _HighsSolver
import numpy as np

from cnc6g.model import DomainKind
from cnc6g.twin.dynamics import shannon_rate_mbps
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system, system_routes

ENERGY_TIE = 1e-9
"""Weight of the energy (J) in the objective beside the latency (s): it only breaks ties."""


@dataclass(frozen=True)
class Step:
    """One step of a request's workflow.

    Attributes:
        function: the service type it runs (index into the system's services).
        pinned: it must run on the terminal's own node.
        after: indices of the steps whose output it takes (none: the terminal's input).
    """

    function: int
    pinned: bool = False
    after: tuple[int, ...] = ()


@dataclass(frozen=True)
class Placement:
    """Where the steps run and what that gives.

    Attributes:
        nodes: the node of each step (index into the system's nodes).
        latency_s: end-to-end latency (critical path), s.
        energy_j: marginal energy of one task: compute and transfers, J.
        feasible: every step fits (False: no placement respects the constraints; ``nodes``
            is then empty).
    """

    nodes: tuple[int, ...]
    latency_s: float
    energy_j: float
    feasible: bool = True


@dataclass(frozen=True, eq=False)
class NodeGraph:
    """Node-to-node transfer terms of a system (cached per system).

    ``delay_s[a, b]`` one-way propagation and access delay from node a to node b;
    ``s_per_mbit[a, b]`` time per Mbit at no load (radio and wired); ``j_per_mbit[a, b]`` energy
    per Mbit (wired, access, radio); ``links[a][b]`` the wired links crossed. Terminal-domain
    nodes reach the network through their cell's RAN domain by radio.
    """

    delay_s: FloatArray  # [N, N]
    s_per_mbit: FloatArray  # [N, N]
    j_per_mbit: FloatArray  # [N, N]
    links: tuple[tuple[tuple[int, ...], ...], ...]  # [N][N] wired links on the path
    path_links: IntArray  # [N, N, H] the same, padded with L (no link)
    cost_per_mbit: FloatArray  # [N, N] s_per_mbit + ENERGY_TIE * j_per_mbit
    terminal_of: IntArray  # [O] the terminal-domain node of each origin (-1: none)
    reach: BoolArray  # [O, N] nodes each origin can use (its candidates)
    dynamic_j_per_gcycle: FloatArray  # [N]


@per_system
def node_graph(system: System) -> NodeGraph:
    """The :class:`NodeGraph` of ``system``."""
    sy = system
    sc = sy.scenario
    domains = sc.domains
    index = {d.name: i for i, d in enumerate(domains)}
    routes = system_routes(sy)
    dist = routes.dist_s

    def wired(a: int, b: int) -> tuple[int, ...]:
        return tuple(routes.links(a, b))

    radio = {r.terminal: r for r in sc.radio_links}
    nodes = [(di, n) for di, d in enumerate(domains) for n in d.nodes]
    N = len(nodes)
    access_s = np.array([n.access_delay_ms / 1e3 for _, n in nodes])
    access_j = np.array([n.access_energy_nj_per_bit * 1e-3 for _, n in nodes])
    # Where each node attaches to the wired network, and its radio terms if a terminal's.
    attach = np.zeros(N, dtype=np.int64)
    up_s = np.zeros(N)
    down_s = np.zeros(N)
    up_j = np.zeros(N)
    down_j = np.zeros(N)
    for n, (di, _) in enumerate(nodes):
        dom = domains[di]
        if dom.kind is DomainKind.TERMINAL:
            r = radio[dom.name]
            attach[n] = index[r.ran]
            up = float(shannon_rate_mbps(r.uplink_mhz, np.asarray(r.mean_snr_db)))
            down = float(shannon_rate_mbps(r.downlink_mhz, np.asarray(r.mean_snr_db)))
            up_s[n], down_s[n] = 1.0 / up, 1.0 / down
            up_j[n] = r.tx_power_w / up
            down_j[n] = r.bs_energy_nj_per_bit * 1e-3
        else:
            attach[n] = di
    inv_cap = np.array([1.0 / (wl.bandwidth_gbps * 1e3) for wl in sc.wired_links] + [0.0])
    link_j = np.array([wl.energy_nj_per_bit * 1e-3 for wl in sc.wired_links] + [0.0])
    delay = np.zeros((N, N))
    per_mbit = np.zeros((N, N))
    per_j = np.zeros((N, N))
    links: list[list[tuple[int, ...]]] = []
    for a in range(N):
        row: list[tuple[int, ...]] = []
        for b in range(N):
            if a == b:
                row.append(())
                continue
            path = wired(int(attach[a]), int(attach[b]))
            row.append(path)
            hops = list(path) or [len(sc.wired_links)]
            delay[a, b] = access_s[a] + dist[attach[a], attach[b]] + access_s[b]
            per_mbit[a, b] = up_s[a] + inv_cap[hops].sum() + down_s[b]
            per_j[a, b] = access_j[a] + link_j[hops].sum() + access_j[b] + up_j[a] + down_j[b]
        links.append(row)
    reach = np.zeros((sy.n_origins, N), dtype=bool)
    for o in range(sy.n_origins):
        reach[o, sy.candidates[o][sy.candidate_valid[o]]] = True
    H = max((len(p) for r in links for p in r), default=0) or 1
    padded = np.full((N, N, H), len(sc.wired_links), dtype=np.int64)
    for a in range(N):
        for b in range(N):
            padded[a, b, : len(links[a][b])] = links[a][b]
    terminal_of = np.full(sy.n_origins, -1, dtype=np.int64)
    for o in range(sy.n_origins):
        local = np.flatnonzero(sy.candidate_local[o] & sy.candidate_valid[o])
        if local.size:
            terminal_of[o] = sy.candidates[o, local[0]]
    return NodeGraph(
        delay_s=delay,
        s_per_mbit=per_mbit,
        j_per_mbit=per_j,
        links=tuple(tuple(r) for r in links),
        path_links=padded,
        cost_per_mbit=per_mbit + ENERGY_TIE * per_j,
        terminal_of=terminal_of,
        reach=reach,
        dynamic_j_per_gcycle=(sy.peak_power - sy.idle_power) / sy.capacity,
    )


@dataclass(frozen=True)
class Request:
    """A request to place: who asks, its steps, its rate, what is left in the slot.

    Attributes:
        origin: the terminal's cell (index into the system's origins).
        steps: the workflow's steps, parents before children.
        rate: tasks per second.
        compute_left: ``[N]`` gigacycles/s each node can still take (default: its capacity).
        link_left: ``[L]`` Mbit/s each wired link can still carry (default: its capacity).
        utilisation: ``[N]`` utilisation of each node (default 0), for the steps' sojourn.
        allowed: ``[S, N]`` nodes each step may use besides the other rules (default all), e.g.
            only the nodes running an instance of its service type.
    """

    origin: int
    steps: tuple[Step, ...]
    rate: float = 1.0
    compute_left: FloatArray | None = None
    link_left: FloatArray | None = None
    utilisation: FloatArray | None = None
    allowed: BoolArray | None = None


def _terms(
    system: System, req: Request
) -> tuple[NodeGraph, int, BoolArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The graph, the terminal node, and per step: allowed nodes, compute time and energy."""
    sy = system
    g = node_graph(sy)
    term = int(g.terminal_of[req.origin])
    N = sy.n_nodes
    left = sy.capacity if req.compute_left is None else req.compute_left
    util = np.zeros(N) if req.utilisation is None else req.utilisation
    f = np.array([st.function for st in req.steps], dtype=np.int64)
    pinned = np.array([st.pinned for st in req.steps], dtype=bool)
    work = sy.work[f]
    allowed = (
        sy.can_host[f]
        & g.reach[req.origin][None, :]
        & (left[None, :] >= req.rate * work[:, None] - 1e-12)
    )
    if req.allowed is not None:
        allowed &= req.allowed
    if pinned.any():
        only = np.zeros(N, dtype=bool)
        if term >= 0:
            only[term] = True
        allowed[pinned] &= only
    headroom = sy.capacity * np.maximum(1.0 - util, 0.05)
    compute_s = work[:, None] / headroom[None, :]
    compute_j = work[:, None] * g.dynamic_j_per_gcycle[None, :]
    return g, term, allowed, compute_s, compute_j, sy.input_mbit[f], sy.output_mbit[f]


def _link_ok(req: Request, g: NodeGraph, a: int, b: int, mbit: float) -> bool:
    if req.link_left is None or mbit <= 0:
        return True
    need = req.rate * mbit
    return all(req.link_left[li] >= need - 1e-12 for li in g.links[a][b])


def evaluate(
    system: System,
    req: Request,
    nodes: tuple[int, ...],
    terms: tuple[NodeGraph, int, BoolArray, FloatArray, FloatArray, FloatArray, FloatArray]
    | None = None,
) -> Placement:
    """Latency and energy of placing the steps of ``req`` on ``nodes`` (no feasibility check).

    ``terms``: what :func:`_terms` gave for ``req`` (computed when not given).
    """
    g, term, _, cs, cj, in_mbit, out_mbit = terms if terms is not None else _terms(system, req)
    finish: list[float] = []
    energy = 0.0
    children = {i: [j for j, s in enumerate(req.steps) if i in s.after] for i in range(len(nodes))}
    for i, st in enumerate(req.steps):
        n = nodes[i]
        if st.after:
            ready = max(
                finish[p] + g.delay_s[nodes[p], n] + out_mbit[p] * g.s_per_mbit[nodes[p], n]
                for p in st.after
            )
            energy += sum(out_mbit[p] * g.j_per_mbit[nodes[p], n] for p in st.after)
        else:
            ready = g.delay_s[term, n] + in_mbit[i] * g.s_per_mbit[term, n]
            energy += in_mbit[i] * g.j_per_mbit[term, n]
        finish.append(float(ready + cs[i, n]))
        energy += float(cj[i, n])
    ends = [i for i in range(len(nodes)) if not children[i]]
    latency = max(
        finish[i] + g.delay_s[nodes[i], term] + out_mbit[i] * g.s_per_mbit[nodes[i], term]
        for i in ends
    )
    energy += sum(out_mbit[i] * g.j_per_mbit[nodes[i], term] for i in ends)
    return Placement(tuple(int(n) for n in nodes), float(latency), float(energy))


def step_latencies(system: System, req: Request, nodes: tuple[int, ...]) -> list[float]:
    """Each step's part of the end-to-end latency of placing ``req`` on ``nodes``, s.

    A step's part is the time from its latest parent's finish (the request's start for a first
    step) to its own: the transfer of its input from that parent's node (or the terminal) and
    its compute, plus, for a last step, the transfer of its result back to the terminal. Along
    a chain the parts add up to :func:`evaluate`'s latency.
    """
    sy = system
    g = node_graph(sy)
    term = int(g.terminal_of[req.origin])
    util = np.zeros(sy.n_nodes) if req.utilisation is None else req.utilisation
    finish: list[float] = []
    parts: list[float] = []
    for i, st in enumerate(req.steps):
        n = nodes[i]
        if st.after:
            arrive = {
                p: finish[p]
                + g.delay_s[nodes[p], n]
                + sy.output_mbit[req.steps[p].function] * g.s_per_mbit[nodes[p], n]
                for p in st.after
            }
            last = max(arrive, key=lambda p: arrive[p])
            start, ready = finish[last], arrive[last]
        else:
            start = 0.0
            ready = g.delay_s[term, n] + sy.input_mbit[st.function] * g.s_per_mbit[term, n]
        headroom = sy.capacity[n] * max(1.0 - float(util[n]), 0.05)
        finish.append(float(ready + sy.work[st.function] / headroom))
        part = finish[i] - start
        if not any(i in s.after for s in req.steps):
            part += float(g.delay_s[n, term] + sy.output_mbit[st.function] * g.s_per_mbit[n, term])
        parts.append(part)
    return parts


def _infeasible() -> Placement:
    return Placement((), float("inf"), float("inf"), feasible=False)


def is_chain(req: Request) -> bool:
    """Whether the steps form a chain: each after the one before it."""
    return all(st.after == ((i - 1,) if i else ()) for i, st in enumerate(req.steps))


def schedule_chain(system: System, req: Request) -> Placement:
    """The best placement of a chain: dynamic programming over (step, node), vectorised.

    Each layer works on the nodes its step may use only (the origin's candidates that can host
    it and have room), so a step costs ``O(allowed_prev x allowed)``. The layers check each
    step's compute and each transfer's bandwidth on their own; when the best chain puts steps
    that together need more than a node or a link has, the chain is solved by
    :func:`schedule_dag`, which shares them exactly, so the result is always the optimum.

    Raises:
        ValueError: the steps do not form a chain.
    """
    if not is_chain(req):
        raise ValueError("schedule_chain needs a chain: each step after the one before it")
    g, term, allowed, cs, cj, in_mbit, out_mbit = _terms(system, req)
    n_steps = allowed.shape[0]
    if term < 0 or not allowed.any(axis=1).all():
        return _infeasible()
    nodes_of = [np.flatnonzero(allowed[i]) for i in range(n_steps)]
    # cost[k]: best latency (+ tie-breaking energy) of the steps so far, ending on nodes_of[i][k].
    here = nodes_of[0]
    cost = (
        g.delay_s[term, here]
        + in_mbit[0] * g.s_per_mbit[term, here]
        + cs[0, here]
        + ENERGY_TIE * (in_mbit[0] * g.j_per_mbit[term, here] + cj[0, here])
    )
    terms = (g, term, allowed, cs, cj, in_mbit, out_mbit)
    if req.link_left is not None and in_mbit[0] > 0:
        cost = np.where(_link_matrix(req, g, in_mbit[0])[term, here], cost, np.inf)
    back: list[IntArray] = []
    for i in range(1, n_steps):
        prev, here = nodes_of[i - 1], nodes_of[i]
        cell = np.ix_(prev, here)
        data = out_mbit[i - 1]
        hop = g.delay_s[cell] + data * g.cost_per_mbit[cell]
        if req.link_left is not None and data > 0:
            hop = np.where(_link_matrix(req, g, data)[cell], hop, np.inf)
        total = cost[:, None] + hop  # [prev, here]
        best = np.argmin(total, axis=0)
        back.append(best)
        cost = total[best, np.arange(here.size)] + cs[i, here] + ENERGY_TIE * cj[i, here]
    here = nodes_of[-1]
    last = out_mbit[-1]
    tail = g.delay_s[here, term] + last * (
        g.s_per_mbit[here, term] + ENERGY_TIE * g.j_per_mbit[here, term]
    )
    if req.link_left is not None and last > 0:
        tail = np.where(_link_matrix(req, g, last)[here, term], tail, np.inf)
    end = cost + tail
    k = int(np.argmin(end))
    if not np.isfinite(end[k]):
        return _infeasible()
    picks = [k]
    for i in range(n_steps - 1, 0, -1):
        picks.append(int(back[i - 1][picks[-1]]))
    picks.reverse()
    nodes = tuple(int(nodes_of[i][k]) for i, k in enumerate(picks))
    if not fits_jointly(system, req, nodes):
        return schedule_dag(system, req)
    return evaluate(system, req, nodes, terms)


def fits_jointly(system: System, req: Request, nodes: tuple[int, ...]) -> bool:
    """Whether the steps on ``nodes`` fit together: each node's compute, each link's bandwidth."""
    sy = system
    left = sy.capacity if req.compute_left is None else req.compute_left
    used = np.zeros(sy.n_nodes)
    for step, n in zip(req.steps, nodes, strict=True):
        used[n] += req.rate * sy.work[step.function]
    if (used > left + 1e-9).any():
        return False
    if req.link_left is None:
        return True
    return bool((link_use(system, req, nodes) <= req.link_left + 1e-9).all())


def link_use(system: System, req: Request, nodes: tuple[int, ...]) -> FloatArray:
    """``[L]`` Mbit/s the steps of ``req`` on ``nodes`` carry over each wired link.

    Each transfer (the terminal's input to a first step, a step's output to each next step,
    a last step's output back to the terminal) adds ``rate x data`` to every wired link of its
    path, whichever the direction.
    """
    sy = system
    g = node_graph(sy)
    carried = np.zeros(len(sy.scenario.wired_links))
    term = int(g.terminal_of[req.origin])
    for i, step in enumerate(req.steps):
        sources = [(nodes[p], sy.output_mbit[req.steps[p].function]) for p in step.after]
        if not step.after:
            sources = [(term, sy.input_mbit[step.function])]
        for a, mbit in sources:
            for li in g.links[a][nodes[i]]:
                carried[li] += req.rate * mbit
        if not any(i in s.after for s in req.steps):
            for li in g.links[nodes[i]][term]:
                carried[li] += req.rate * sy.output_mbit[step.function]
    return carried


def _link_matrix(req: Request, g: NodeGraph, mbit: float) -> BoolArray:
    """``[N, N]``: the path from a to b has the bandwidth for ``mbit`` per task."""
    N = g.path_links.shape[0]
    if req.link_left is None or mbit <= 0:
        return np.ones((N, N), dtype=bool)
    left = np.append(req.link_left, np.inf)
    fits: BoolArray = left[g.path_links].min(axis=2) >= req.rate * mbit - 1e-12
    return fits


def _order(req: Request) -> list[int]:
    graph = {i: list(st.after) for i, st in enumerate(req.steps)}
    return list(TopologicalSorter(graph).static_order())


def schedule_greedy(system: System, req: Request) -> Placement:
    """Steps in topological order, each on the node finishing it soonest given its parents'.

    Joint capacity is respected (a node's compute left shrinks as steps land on it).
    """
    g, term, allowed, cs, _, in_mbit, out_mbit = _terms(system, req)
    if term < 0:
        return _infeasible()
    sy = system
    left = (sy.capacity if req.compute_left is None else req.compute_left).astype(float).copy()
    nodes = [-1] * len(req.steps)
    finish = [0.0] * len(req.steps)
    for i in _order(req):
        st = req.steps[i]
        need = req.rate * sy.work[st.function]
        ok = allowed[i] & (left >= need - 1e-12)
        if st.after:
            ready = np.max(
                [
                    finish[p] + g.delay_s[nodes[p]] + out_mbit[p] * g.s_per_mbit[nodes[p]]
                    for p in st.after
                ],
                axis=0,
            )
        else:
            ready = g.delay_s[term] + in_mbit[i] * g.s_per_mbit[term]
        done = np.where(ok, ready + cs[i], np.inf)
        n = int(np.argmin(done))
        if not np.isfinite(done[n]):
            return _infeasible()
        nodes[i], finish[i] = n, float(done[n])
        left[n] -= need
    return evaluate(system, req, tuple(nodes))


def schedule_dag(
    system: System, req: Request, time_limit: float = 10.0, mip_rel_gap: float = 1e-6
) -> Placement:
    """The best placement of a DAG with joint node capacity, as a MILP (HiGHS).

    Variables: ``x[i, n]`` step i on node n; ``y[e, a, b]`` the edge e's data goes from node a
    to node b (linked to the ``x`` of its ends); ``t[i]`` step i's finish time; ``z`` the
    latency. Minimise ``z`` plus the tie-breaking energy subject to each step on one allowed
    node, the finish times along every edge and from the terminal, ``z`` after every step's
    result is back, and each node's compute (and each link's bandwidth) shared by the steps on
    it.
    """
    g, term, allowed, cs, cj, in_mbit, out_mbit = _terms(system, req)
    if term < 0 or not allowed.any(axis=1).all():
        return _infeasible()
    sy = system
    n_steps, N = allowed.shape
    opts = [np.flatnonzero(allowed[i]) for i in range(n_steps)]
    edges = [(p, i) for i, st in enumerate(req.steps) for p in st.after]
    h = _HighsSolver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    inf = highspy.kHighsInf
    col = 0
    x: dict[tuple[int, int], int] = {}
    costs: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    integer: list[int] = []
    for i in range(n_steps):
        for n in opts[i]:
            x[i, int(n)] = col
            costs.append(ENERGY_TIE * float(cj[i, n]))
            lower.append(0.0)
            upper.append(1.0)
            integer.append(col)
            col += 1
    y: dict[tuple[int, int, int], int] = {}
    for e, (p, i) in enumerate(edges):
        for a in opts[p]:
            for b in opts[i]:
                y[e, int(a), int(b)] = col
                costs.append(ENERGY_TIE * float(out_mbit[p] * g.j_per_mbit[a, b]))
                lower.append(0.0)
                upper.append(1.0)
                col += 1
    t = list(range(col, col + n_steps))
    for _ in t:
        costs.append(0.0)
        lower.append(0.0)
        upper.append(inf)
    col += n_steps
    z = col
    costs.append(1.0)
    lower.append(0.0)
    upper.append(inf)
    col += 1
    h.addVars(col, np.array(lower), np.array(upper))
    h.changeColsCost(col, np.arange(col, dtype=np.int32), np.array(costs))
    h.changeColsIntegrality(
        len(integer),
        np.array(integer, dtype=np.int32),
        np.full(len(integer), highspy.HighsVarType.kInteger, dtype=np.uint8),
    )

    def row(lo: float, hi: float, idx: list[int], val: list[float]) -> None:
        h.addRow(lo, hi, len(idx), np.array(idx, dtype=np.int32), np.array(val, dtype=float))

    for i in range(n_steps):  # each step on one node
        row(1.0, 1.0, [x[i, int(n)] for n in opts[i]], [1.0] * len(opts[i]))
    for e, (p, i) in enumerate(edges):  # the edge's route follows its ends' nodes
        for a in opts[p]:
            idx = [y[e, int(a), int(b)] for b in opts[i]]
            row(0.0, 0.0, [*idx, x[p, int(a)]], [1.0] * len(idx) + [-1.0])
        for b in opts[i]:
            idx = [y[e, int(a), int(b)] for a in opts[p]]
            row(0.0, 0.0, [*idx, x[i, int(b)]], [1.0] * len(idx) + [-1.0])
        # t[i] >= t[p] + transfer + compute of i
        idx, val = [t[i], t[p]], [1.0, -1.0]
        for a in opts[p]:
            for b in opts[i]:
                idx.append(y[e, int(a), int(b)])
                val.append(-float(g.delay_s[a, b] + out_mbit[p] * g.s_per_mbit[a, b]))
        for b in opts[i]:
            idx.append(x[i, int(b)])
            val.append(-float(cs[i, b]))
        row(0.0, inf, idx, val)
    for i, st in enumerate(req.steps):
        if not st.after:  # t[i] >= from the terminal + compute
            idx, val = [t[i]], [1.0]
            for n in opts[i]:
                idx.append(x[i, int(n)])
                val.append(
                    -float(g.delay_s[term, n] + in_mbit[i] * g.s_per_mbit[term, n] + cs[i, n])
                )
            row(0.0, inf, idx, val)
        # z >= t[i] + back to the terminal (for every step; only the last ones bind)
        idx, val = [z, t[i]], [1.0, -1.0]
        ends = not any(i in s.after for s in req.steps)
        if ends:
            for n in opts[i]:
                idx.append(x[i, int(n)])
                val.append(-float(g.delay_s[n, term] + out_mbit[i] * g.s_per_mbit[n, term]))
        row(0.0, inf, idx, val)
    left = sy.capacity if req.compute_left is None else req.compute_left
    for node in range(N):  # joint compute
        idx = [x[i, node] for i in range(n_steps) if (i, node) in x]
        if len(idx) > 1:
            val = [
                req.rate * float(sy.work[req.steps[i].function])
                for i in range(n_steps)
                if (i, node) in x
            ]
            row(-inf, float(left[node]), idx, val)
    if req.link_left is not None:  # joint bandwidth of every transfer
        use: dict[int, tuple[list[int], list[float]]] = {}

        def carry(li: int, c: int, mbit: float) -> None:
            use.setdefault(li, ([], []))
            use[li][0].append(c)
            use[li][1].append(req.rate * mbit)

        for i, st in enumerate(req.steps):
            ends = not any(i in s.after for s in req.steps)
            for n in opts[i]:
                if not st.after:
                    for li in g.links[term][int(n)]:
                        carry(li, x[i, int(n)], float(in_mbit[i]))
                if ends:
                    for li in g.links[int(n)][term]:
                        carry(li, x[i, int(n)], float(out_mbit[i]))
        for e, (p, _) in enumerate(edges):
            for (ee, src, dst), c in y.items():
                if ee != e:
                    continue
                for li in g.links[src][dst]:
                    carry(li, c, float(out_mbit[p]))
        for li, (idx, val) in use.items():
            row(-inf, float(req.link_left[li]), idx, val)
    h.run()
    if (
        h.getModelStatus() not in (highspy.HighsModelStatus.kOptimal,)
        and h.getInfo().mip_gap == inf
    ):
        return _infeasible()
    sol = np.array(h.getSolution().col_value)
    nodes = tuple(max(opts[i], key=lambda n: sol[x[i, int(n)]]) for i in range(n_steps))
    return evaluate(system, req, tuple(int(n) for n in nodes))


def best_layered_path(
    first: FloatArray, step: FloatArray, hop: FloatArray, last: FloatArray
) -> tuple[float, IntArray]:
    """The cheapest path through a layered graph: one option per layer, by dynamic programming.

    The cost of options ``k_0 .. k_{Q-1}`` is ``first[k_0] + sum_q step[q, k_q] +
    sum_q hop[q, k_q, k_{q+1}] + last[k_{Q-1}]``; ``inf`` marks what may not be used.

    Args:
        first: ``[K]`` cost of entering each option of layer 0.
        step: ``[Q, K]`` cost of each option of each layer.
        hop: ``[Q - 1, K, K]`` cost of going from an option of layer q to one of layer q + 1.
        last: ``[K]`` cost of leaving from each option of the last layer.

    Returns:
        The cost (``inf``: no path) and the options picked, ``[Q]``.
    """
    Q = step.shape[0]
    cost = first + step[0]
    back = np.zeros((max(Q - 1, 0), step.shape[1]), dtype=np.int64)
    for q in range(1, Q):
        total = cost[:, None] + hop[q - 1]
        back[q - 1] = np.argmin(total, axis=0)
        cost = total[back[q - 1], np.arange(total.shape[1])] + step[q]
    end = cost + last
    picks = np.zeros(Q, dtype=np.int64)
    picks[-1] = int(np.argmin(end))
    for q in range(Q - 1, 0, -1):
        picks[q - 1] = back[q - 1, picks[q]]
    return float(end[picks[-1]]), picks


def brute_force(system: System, req: Request) -> Placement:
    """The best placement by trying every combination of allowed nodes (small cases only)."""
    _, _, allowed, _, _, _, _ = _terms(system, req)
    best = _infeasible()
    for nodes in itertools.product(*[np.flatnonzero(a) for a in allowed]):
        placed = tuple(int(n) for n in nodes)
        if not fits_jointly(system, req, placed):
            continue
        got = evaluate(system, req, placed)
        if (
            got.latency_s + ENERGY_TIE * got.energy_j
            < best.latency_s + ENERGY_TIE * best.energy_j - 1e-15
        ):
            best = got
    return best


def chain(functions: list[int], pinned: set[int] = frozenset()) -> tuple[Step, ...]:  # type: ignore[assignment]
    """The steps of a chain running ``functions`` in order (indices in ``pinned`` pinned)."""
    return tuple(Step(f, i in pinned, (i - 1,) if i else ()) for i, f in enumerate(functions))


def placement_nodes(system: System, placement: Placement) -> list[str]:
    """The names of a placement's nodes."""
    return [system.node_names[n] for n in placement.nodes]


__all__ = [
    "NodeGraph",
    "Placement",
    "Request",
    "Step",
    "best_layered_path",
    "brute_force",
    "chain",
    "evaluate",
    "is_chain",
    "link_use",
    "node_graph",
    "placement_nodes",
    "schedule_chain",
    "schedule_dag",
    "schedule_greedy",
    "step_latencies",
]
