"""Partition of a DAG-shaped model between the terminal and one server tier as an s-t min cut.

DADS (Hu et al., INFOCOM 2019) puts a model whose blocks form a DAG on a device and a server with
one minimum cut. The graph here: a source ``s`` (the terminal's side) and a sink ``t`` (the
server's), and for each block ``v`` an edge ``s -> v`` weighing its cost on the server (paid when
``v`` ends on the server's side) and ``v -> t`` its cost on the terminal. Each block's output gets
a node ``v'`` with ``v -> v'`` weighing the cost of sending it and ``v' -> w`` of infinite weight
for each reader ``w``: an output read by several server blocks is sent once. The raw input is such
an output of ``s``, and a node fed from ``s`` by the one-way delay, with infinite edges to every
block, charges that delay once if anything runs on the server. Infinite edges ``w -> v`` for each
data edge ``v -> w`` keep data from flowing back to the terminal, and the return of the result is
added to the last block's server cost.
The cut's weight is then exactly the plan's cost, for latency (seconds) or for the terminal's
energy (joules: compute, air time; the server side costs the terminal ``wait_w`` x its time),
both without a deadline. A chain gives the same optimum as the DP of :mod:`cnc6g.ai.split`
restricted to the same two tiers; a DAG may do better than any prefix of the table's order.

The max flow is Dinic's algorithm on a few hundred nodes (pure Python, no dependency).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cnc6g.ai.processors import Processor, block_costs
from cnc6g.ai.profiles import FloatArray, ModelProfile
from cnc6g.ai.split import MBIT, Network, Objective

INF = float("inf")


class _Flow:
    """Dinic's max flow on an adjacency list with paired residual edges."""

    def __init__(self, nodes: int) -> None:
        self.head: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[float] = []

    def add(self, u: int, v: int, cap: float) -> None:
        self.head[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(cap)
        self.head[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0.0)

    def _levels(self, s: int, t: int) -> list[int] | None:
        level = [-1] * len(self.head)
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self.head[u]:
                if self.cap[e] > 1e-15 and level[self.to[e]] < 0:
                    level[self.to[e]] = level[u] + 1
                    queue.append(self.to[e])
        return level if level[t] >= 0 else None

    def _push(self, u: int, t: int, f: float, level: list[int], it: list[int]) -> float:
        if u == t:
            return f
        while it[u] < len(self.head[u]):
            e = self.head[u][it[u]]
            v = self.to[e]
            if self.cap[e] > 1e-15 and level[v] == level[u] + 1:
                got = self._push(v, t, min(f, self.cap[e]), level, it)
                if got > 0:
                    self.cap[e] -= got
                    self.cap[e ^ 1] += got
                    return got
            it[u] += 1
        return 0.0

    def max_flow(self, s: int, t: int) -> float:
        total = 0.0
        while (level := self._levels(s, t)) is not None:
            it = [0] * len(self.head)
            while (f := self._push(s, t, INF, level, it)) > 0:
                total += f
        return total

    def source_side(self, s: int) -> set[int]:
        seen = {s}
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for e in self.head[u]:
                if self.cap[e] > 1e-15 and self.to[e] not in seen:
                    seen.add(self.to[e])
                    queue.append(self.to[e])
        return seen


@dataclass(frozen=True)
class CutPlan:
    """A two-tier plan of one request."""

    on_server: tuple[bool, ...]
    """Per block: whether it runs on the server tier."""
    cost: float
    """Latency (s) or terminal energy (J), as the objective."""


def min_cut(
    profile: ModelProfile,
    terminal: Processor,
    server: Processor,
    net: Network,
    server_tier: str = "edge",
    objective: Objective = "latency",
    relay: Processor | None = None,
) -> CutPlan:
    """The optimal terminal/server partition of one request (DADS; see the module).

    Args:
        profile: the model, without a decode loop (its edges make the DAG).
        terminal: the terminal's processor.
        server: the server's processor.
        net: links (scalars): the uplink, and with ``server_tier="cloud"`` the wired path too.
        server_tier: ``edge`` or ``cloud``.
        objective: ``latency`` or terminal ``energy``.
        relay: with ``server_tier="cloud"``, the edge processor that forwards the data (its
            activation precision sets the bytes on the wired path, as in :mod:`cnc6g.ai.split`).
    """
    if server_tier not in ("edge", "cloud"):
        raise ValueError("server_tier is edge or cloud")
    if profile.loop.any():
        raise ValueError("min_cut prices one-pass models; use split.solve for decode loops")
    cloud = server_tier == "cloud"
    if cloud and relay is None:
        raise ValueError("a cloud server needs the relay (edge) processor")
    links = net.arrays(1)
    up = float(links["uplink_mbps"][0]) * MBIT
    wired = float(links["wired_mbps"][0]) * MBIT
    dn = float(links["downlink_mbps"][0]) * MBIT
    d_r, d_w = float(links["radio_delay_s"][0]), float(links["wired_delay_s"][0])
    res_bits = 8.0 * profile.result_bytes
    dn_air = res_bits / dn
    ret = dn_air + d_r + (res_bits / wired + d_w if cloud else 0.0)
    delay = d_r + (d_w if cloud else 0.0)
    t_term = block_costs(profile, terminal).total_s
    t_serv = block_costs(profile, server).total_s
    s_term = terminal.act_bits / 32.0
    s_relay = relay.act_bits / 32.0 if relay is not None else s_term

    def send_cost(u: int) -> float:
        """Cost of sending block ``u``'s output (-1: the raw input) to the server."""
        raw = u < 0
        size = profile.input_bytes if raw else float(profile.out_bytes[u])
        air = 8.0 * size * (1.0 if raw else s_term) / up
        seconds = air + (8.0 * size * (1.0 if raw else s_relay) / wired if cloud else 0.0)
        if objective == "latency":
            return seconds
        return net.tx_w * air + net.wait_w * (seconds - air)

    if objective == "latency":
        dev, srv, back, once = t_term, t_serv, ret, delay
    else:
        dev = terminal.active_w * t_term
        srv = net.wait_w * t_serv
        back = net.rx_w * dn_air + net.wait_w * (ret - dn_air)
        once = net.wait_w * delay

    # Nodes: blocks 0..n-1, their outputs n..2n-1, the input's gate 2n, the delay node 2n + 1.
    n = profile.n
    s, t = 2 * n + 2, 2 * n + 3
    g = _Flow(2 * n + 4)
    gate, delay_node = 2 * n, 2 * n + 1
    readers: dict[int, list[int]] = {}
    for u, v in profile.edges:
        readers.setdefault(u, []).append(v)
        if u >= 0:
            g.add(v, u, INF)  # no data back to the terminal
    for v in range(n):
        g.add(s, v, float(srv[v]) + (back if v == n - 1 else 0.0))
        g.add(v, t, float(dev[v]))
        g.add(delay_node, v, INF)  # any server block pays the one-way delay once
    g.add(s, delay_node, once)
    for u, vs in readers.items():
        node = gate if u < 0 else n + u
        g.add(s if u < 0 else u, node, send_cost(u))  # sent once, whatever reads it
        for v in vs:
            g.add(node, v, INF)
    g.max_flow(s, t)
    side = g.source_side(s)
    on_server = tuple(v not in side for v in range(n))
    return CutPlan(on_server, _price(profile, on_server, dev, srv, back, once, send_cost))


def _price(
    profile: ModelProfile,
    on_server: Sequence[bool],
    dev: FloatArray,
    srv: FloatArray,
    back: float,
    once: float,
    send_cost: Callable[[int], float],
) -> float:
    """The objective of a two-tier plan, priced from the model's edges."""
    n = profile.n
    cost = sum(float(srv[v]) if on_server[v] else float(dev[v]) for v in range(n))
    sent = {u for u, v in profile.edges if on_server[v] and (u < 0 or not on_server[u])}
    cost += sum(send_cost(u) for u in sent)
    if any(on_server):
        cost += once
    if on_server[n - 1]:
        cost += back
    return cost
