"""Split inference along terminal -> RAN edge -> cloud: exact DP, brute force and baselines.

A request's blocks run in the table's (topological) order on tiers that never go back:
terminal (0), edge (1), cloud (2). A *cut* before block ``k`` that moves from tier ``t`` to a
higher one carries every tensor made before ``k`` and read at or after it
(:attr:`ModelProfile.live_bytes`) over the links between the tiers: the uplink (terminal -> edge)
and the wired path (edge -> cloud), each ``8 bytes / rate + one-way delay``. A cut inside an
autoregressive loop is crossed at every decode step and the generated token comes back, one round
trip per step and link. The result returns to the terminal over the same links. Tensors leave a
tier at that tier's activation precision; the raw input leaves the terminal as it is.

Latency is the sum of compute, transfers and return (no pipelining between tiers). The terminal's
energy is its compute energy, ``tx_w`` x uplink air time, ``rx_w`` x downlink air time and
``wait_w`` x the rest of the time it waits.

:func:`solve` is exact for both objectives. A backward DP over (block x tier) gives, for every
block ``a``, the least time ``N[a]`` to finish the request from ``a`` on with the network tiers,
the input of ``a`` being on the terminal. Any plan is a terminal prefix of ``a`` blocks followed by
such a remainder, and for a fixed ``a`` the terminal's energy grows with the remainder's time
(compute and uplink bytes are fixed by ``a``), so the least-time remainder is also the
least-energy one: minimum latency is ``min_a T[a] + N[a]``, minimum energy under a deadline is
the least ``E[a]`` among the ``a`` whose latency meets it (none: the least latency). Everything is
vectorised over a slot's requests of one model (arrays over requests).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from cnc6g.ai.processors import Processor, block_costs
from cnc6g.ai.profiles import FloatArray, ModelProfile

IntArray = npt.NDArray[np.int64]
Objective = Literal["latency", "energy"]
OBJECTIVES: tuple[Objective, ...] = ("latency", "energy")
BASELINES = ("local", "edge", "cloud", "neurosurgeon-edge", "neurosurgeon-cloud")
"""Fixed plans and Neurosurgeon's single best split to one server tier (Kang et al., 2017)."""

TERMINAL, EDGE, CLOUD = 0, 1, 2
MBIT = 1e6


@dataclass(frozen=True)
class Network:
    """Links and the terminal's radio power, per request (scalars or arrays over requests)."""

    uplink_mbps: FloatArray | float = 20.0
    downlink_mbps: FloatArray | float = 100.0
    wired_mbps: FloatArray | float = 1000.0
    radio_delay_s: FloatArray | float = 0.005
    """One-way delay of the air interface."""
    wired_delay_s: FloatArray | float = 0.015
    """One-way delay from the RAN edge to the cloud."""
    tx_w: float = 1.2
    """Terminal's transmit power while sending (5G NR phone class, an assumption)."""
    rx_w: float = 0.9
    wait_w: float = 0.0
    """Terminal's power while it waits for the network (0: its idle draw is not counted)."""

    def arrays(self, r: int) -> dict[str, FloatArray]:
        """Each link parameter broadcast to ``r`` requests."""
        names = ("uplink_mbps", "downlink_mbps", "wired_mbps", "radio_delay_s", "wired_delay_s")
        out = {k: np.broadcast_to(np.asarray(getattr(self, k), dtype=float), (r,)) for k in names}
        for k in ("uplink_mbps", "downlink_mbps", "wired_mbps"):
            if not np.all(out[k] > 0):
                raise ValueError(f"{k} must be > 0")
        return out


@dataclass(frozen=True)
class Plan:
    """Decisions for ``R`` requests of one model, with what they cost."""

    tiers: npt.NDArray[np.int8]
    """(R, n): tier of every block."""
    latency_s: FloatArray
    energy_j: FloatArray
    """Terminal energy."""
    meets_deadline: npt.NDArray[np.bool_]
    uplink_bytes: FloatArray
    edge_s: FloatArray
    """Edge compute seconds (at the request's share)."""

    @property
    def local_blocks(self) -> IntArray:
        """Blocks on the terminal, per request (the first split point)."""
        out: IntArray = (self.tiers == TERMINAL).sum(axis=1).astype(np.int64)
        return out


@dataclass(frozen=True)
class _Instance:
    """Per-request arrays the solvers share (R requests, n blocks, cuts k = 0..n)."""

    # Requests run along the last axis, so that the DP's per-block slices are contiguous.
    c: FloatArray  # (3, n, R) compute seconds
    cum: FloatArray  # (3, n + 1, R) compute seconds of blocks before k
    up: FloatArray  # (n + 1, R) seconds to send cut k's data terminal -> edge
    wired: FloatArray  # (n + 1, R) seconds to send cut k's data edge -> cloud
    up_tx: FloatArray  # (n + 1, R) uplink air time of cut k's data
    up_bytes: FloatArray  # (n + 1,)
    ret: FloatArray  # (3, R) seconds to return the result from tier t
    dn_tx: FloatArray  # (R,) downlink air time of the result
    term_w: float
    net: Network


def _instance(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    r: int,
    speed: FloatArray | None = None,
) -> _Instance:
    if len(tiers) != 3:
        raise ValueError("give three processors: terminal, edge, cloud")
    base = np.stack([block_costs(profile, p).total_s for p in tiers])  # (3, n)
    cum_base = np.zeros((3, profile.n + 1))
    np.cumsum(base, axis=1, out=cum_base[:, 1:])
    if speed is None:
        c = np.broadcast_to(base[:, :, None], (*base.shape, r))
        cum = np.broadcast_to(cum_base[:, :, None], (*cum_base.shape, r))
    else:
        sp = np.broadcast_to(np.asarray(speed, dtype=float), (r, 3))
        if not np.all(sp > 0):
            raise ValueError("speed shares must be > 0")
        inv = np.ascontiguousarray((1.0 / sp).T)  # (3, R)
        c = base[:, :, None] * inv[:, None, :]
        cum = cum_base[:, :, None] * inv[:, None, :]
    links = net.arrays(r)
    up_bps = links["uplink_mbps"] * MBIT
    dn_bps = links["downlink_mbps"] * MBIT
    w_bps = links["wired_mbps"] * MBIT
    d_r, d_w = links["radio_delay_s"], links["wired_delay_s"]
    g = profile.decode_steps
    raw = np.where(profile.input_live, profile.input_bytes, 0.0)

    def cut_bytes(sender: Processor) -> FloatArray:
        act = (profile.live_bytes + g * profile.live_step_bytes) * (sender.act_bits / 32.0)
        return act + raw

    trips = 1.0 + 2.0 * g * profile.in_loop.astype(float)  # (n + 1,) delays per link
    up_bytes = cut_bytes(tiers[TERMINAL])
    up_tx = (8.0 * up_bytes)[:, None] / up_bps[None, :]
    up = up_tx + trips[:, None] * d_r[None, :]
    wired = (8.0 * cut_bytes(tiers[EDGE]))[:, None] / w_bps[None, :] + trips[:, None] * d_w
    res_bits = 8.0 * profile.result_bytes
    dn_tx = res_bits / dn_bps
    ret = np.zeros((3, r))
    ret[EDGE] = dn_tx + d_r
    ret[CLOUD] = ret[EDGE] + res_bits / w_bps + d_w
    return _Instance(c, cum, up, wired, up_tx, up_bytes, ret, dn_tx, tiers[0].active_w, net)


def _backward(inst: _Instance) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_], FloatArray]:
    """The DP over (block x tier), backwards.

    ``G1[i]`` and ``G2[i]`` (arrays over requests) are the least times to run blocks ``i..`` with
    block ``i`` on the edge (cloud) and return the result; ``go[i]`` whether, on the edge at block
    ``i``, the rest goes to the cloud. The last value returned is the whole request's least
    latency (from the terminal, where the input is).
    """
    _, n, r = inst.c.shape
    g1 = np.empty((n + 1, r))
    g2 = np.empty((n + 1, r))
    go = np.zeros((n, r), dtype=np.bool_)
    g0 = np.zeros(r)
    g1[n], g2[n] = inst.ret[EDGE], inst.ret[CLOUD]
    c, up, wired = inst.c, inst.up, inst.wired
    to_cloud = np.empty(r)
    best = np.empty(r)
    for i in range(n - 1, -1, -1):
        k = i + 1
        np.add(wired[k], g2[k], out=to_cloud)
        np.less(to_cloud, g1[k], out=go[i])
        np.minimum(g1[k], to_cloud, out=best)
        np.add(c[CLOUD, i], g2[k], out=g2[i])
        np.add(c[EDGE, i], best, out=g1[i])
        np.add(up[k], best, out=best)
        np.minimum(g0, best, out=best)
        np.add(c[TERMINAL, i], best, out=g0)
    start = np.minimum(g0, inst.up[0] + np.minimum(g1[0], inst.wired[0] + g2[0]))
    return g1, g2, go, start


def _per_prefix(
    inst: _Instance, g1: FloatArray, g2: FloatArray
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Latency and terminal energy of the best plan with a terminal prefix of ``a`` blocks.

    For every ``a = 0..n`` (arrays (n + 1, R)), with whether its first network tier is the cloud.
    """
    n = inst.c.shape[1]
    to_cloud = inst.wired + g2
    direct = to_cloud < g1
    rest = inst.up + np.minimum(g1, to_cloud)
    rest[n] = 0.0
    t_term = inst.cum[TERMINAL]
    latency = t_term + rest
    net = inst.net
    energy = inst.term_w * t_term + net.tx_w * inst.up_tx + net.rx_w * inst.dn_tx
    if net.wait_w:
        energy += net.wait_w * (rest - inst.up_tx - inst.dn_tx)
    energy[n] = inst.term_w * t_term[n]
    return latency, energy, direct


def _choose(
    latency: FloatArray, energy: FloatArray, objective: Objective, deadline: FloatArray
) -> IntArray:
    fastest: IntArray = np.argmin(latency, axis=0).astype(np.int64)
    if objective == "latency":
        return fastest
    ok = latency <= deadline[None, :]
    by_energy = np.argmin(np.where(ok, energy, np.inf), axis=0)
    chosen: IntArray = np.where(ok.any(axis=0), by_energy, fastest).astype(np.int64)
    return chosen


def _cloud_start(go: npt.NDArray[np.bool_], a: IntArray, direct: npt.NDArray[np.bool_]) -> IntArray:
    """First cloud block ``b`` (n: none) of the plan that starts on the network at block ``a``."""
    n = go.shape[0]
    idx = np.arange(n)[:, None]
    leave = go & (idx >= a[None, :])
    b = np.where(leave.any(axis=0), np.argmax(leave, axis=0) + 1, n)
    b = np.where(direct, a, b)
    return np.where(a >= n, n, b).astype(np.int64)


def tiers_of(a: IntArray, b: IntArray, n: int) -> npt.NDArray[np.int8]:
    """Plans from their cuts (arrays over requests).

    Blocks before ``a`` run on the terminal, ``a..b-1`` on the edge, the rest in the cloud.
    """
    idx = np.arange(n)[None, :]
    out = np.full((len(a), n), EDGE, dtype=np.int8)
    out[idx < a[:, None]] = TERMINAL
    out[idx >= np.maximum(a, b)[:, None]] = CLOUD
    return out


CHUNK = 8192
"""Requests solved at once (bounds the memory of the (R, n) arrays)."""


def solve(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    requests: int = 1,
    objective: Objective = "latency",
    deadline_s: FloatArray | float = np.inf,
    speed: FloatArray | None = None,
) -> Plan:
    """The best plan of each of ``requests`` requests of ``profile`` (exact; see the module).

    Args:
        profile: the model.
        tiers: processors of terminal, edge and cloud.
        net: links (scalars or arrays over the requests).
        requests: how many requests (the arrays' length).
        objective: ``latency``, or terminal ``energy`` under ``deadline_s``.
        deadline_s: per request; ``energy`` falls back to the least latency where none meets it.
        speed: (R, 3) share of each tier's processor a request gets (1: all of it).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, not {objective!r}")
    deadline = np.broadcast_to(np.asarray(deadline_s, dtype=float), (requests,))
    if requests > CHUNK:
        parts = []
        for lo in range(0, requests, CHUNK):
            hi = min(lo + CHUNK, requests)
            parts.append(
                solve(
                    profile,
                    tiers,
                    _slice(net, lo, hi, requests),
                    hi - lo,
                    objective,
                    deadline[lo:hi],
                    None if speed is None else _rows(speed, lo, hi, requests),
                )
            )
        return _concat(parts)
    inst = _instance(profile, tiers, net, requests, speed)
    g1, g2, go, _ = _backward(inst)
    latency, energy, direct = _per_prefix(inst, g1, g2)
    a = _choose(latency, energy, objective, deadline)
    rows = np.arange(requests)
    b = _cloud_start(go, a, direct[a, rows])
    return _plan(inst, a, b, latency[a, rows], energy[a, rows], deadline)


@dataclass(frozen=True)
class SplitPoints:
    """The best plan for every first split point ``a = 0..n``: arrays (R, n + 1).

    Blocks before ``a`` run on the terminal, the rest at its least-time placement on the network.
    """

    latency_s: FloatArray
    energy_j: FloatArray
    first_tier: IntArray
    """Network tier the remainder starts on (terminal for ``a = n``)."""
    uplink_bytes: FloatArray
    """(n + 1,): bytes sent over the uplink at each split point."""


def split_points(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    requests: int = 1,
    speed: FloatArray | None = None,
) -> SplitPoints:
    """Latency and terminal energy of the best plan at every split point.

    See :class:`SplitPoints`; :func:`solve` picks among them.
    """
    inst = _instance(profile, tiers, net, requests, speed)
    g1, g2, _, _ = _backward(inst)
    latency, energy, direct = _per_prefix(inst, g1, g2)
    first = np.where(direct, CLOUD, EDGE).astype(np.int64)
    first[-1] = TERMINAL
    return SplitPoints(latency.T.copy(), energy.T.copy(), first.T.copy(), inst.up_bytes.copy())


def least_latency(
    profile: ModelProfile, tiers: Sequence[Processor], net: Network, requests: int = 1
) -> FloatArray:
    """The DP's optimum read at its start (block 0, from the terminal).

    Without the prefix decomposition: the same value as :func:`solve`'s latency (a check of both).
    """
    return _backward(_instance(profile, tiers, net, requests))[3]


def _rows(x: FloatArray | float, lo: int, hi: int, r: int) -> FloatArray:
    arr = np.asarray(x, dtype=float)
    return arr[lo:hi] if arr.ndim >= 1 and arr.shape[0] == r else arr


def _slice(net: Network, lo: int, hi: int, r: int) -> Network:
    return replace(
        net,
        uplink_mbps=_rows(net.uplink_mbps, lo, hi, r),
        downlink_mbps=_rows(net.downlink_mbps, lo, hi, r),
        wired_mbps=_rows(net.wired_mbps, lo, hi, r),
        radio_delay_s=_rows(net.radio_delay_s, lo, hi, r),
        wired_delay_s=_rows(net.wired_delay_s, lo, hi, r),
    )


def _concat(parts: list[Plan]) -> Plan:
    return Plan(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Plan)))


def _plan(
    inst: _Instance,
    a: IntArray,
    b: IntArray,
    latency: FloatArray,
    energy: FloatArray,
    deadline: FloatArray,
) -> Plan:
    _, n, r = inst.c.shape
    rows = np.arange(r)
    up_bytes = np.where(a < n, inst.up_bytes[a], 0.0)
    edge_s = inst.cum[EDGE, np.maximum(a, b), rows] - inst.cum[EDGE, a, rows]
    return Plan(tiers_of(a, b, n), latency, energy, latency <= deadline, up_bytes, edge_s)


def evaluate(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    plan_tiers: npt.NDArray[np.integer],
    deadline_s: FloatArray | float = np.inf,
    speed: FloatArray | None = None,
) -> Plan:
    """Latency and terminal energy of given monotone plans ``plan_tiers`` (R, n)."""
    plan_tiers = np.asarray(plan_tiers, dtype=np.int8)
    if np.any(np.diff(plan_tiers.astype(int), axis=1) < 0):
        raise ValueError("plans must not go back to a lower tier")
    a = (plan_tiers == TERMINAL).sum(axis=1).astype(np.int64)
    b = (plan_tiers <= EDGE).sum(axis=1).astype(np.int64)
    return evaluate_cuts(profile, tiers, net, a, b, deadline_s, speed)


def evaluate_cuts(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    a: IntArray,
    b: IntArray,
    deadline_s: FloatArray | float = np.inf,
    speed: FloatArray | None = None,
) -> Plan:
    """Plans given by their cuts ``a <= b`` (see :func:`tiers_of`), per request."""
    r = len(a)
    inst = _instance(profile, tiers, net, r, speed)
    n = profile.n
    rows = np.arange(r)
    a = np.asarray(a, dtype=np.int64)
    b = np.maximum(np.asarray(b, dtype=np.int64), a)
    cum = inst.cum
    compute = (
        cum[TERMINAL, a, rows]
        + cum[EDGE, b, rows]
        - cum[EDGE, a, rows]
        + cum[CLOUD, n, rows]
        - cum[CLOUD, b, rows]
    )
    on_edge = b > a
    in_cloud = b < n
    moves = np.where(a < n, inst.up[np.minimum(a, n), rows], 0.0)
    moves += np.where(in_cloud, inst.wired[b, rows], 0.0)
    last = np.where(in_cloud, CLOUD, np.where(on_edge, EDGE, TERMINAL))
    latency = compute + moves + inst.ret[last, rows]
    t_term = cum[TERMINAL, a, rows]
    offloaded = a < n
    up_tx = np.where(offloaded, inst.up_tx[a, rows], 0.0)
    dn_tx = np.where(offloaded, inst.dn_tx, 0.0)
    radio = inst.net.tx_w * up_tx + inst.net.rx_w * dn_tx
    wait = np.where(offloaded, latency - t_term - up_tx - dn_tx, 0.0)
    energy = inst.term_w * t_term + radio + inst.net.wait_w * wait
    deadline = np.broadcast_to(np.asarray(deadline_s, dtype=float), (r,))
    return _plan(inst, a, b, latency, energy, deadline)


def baseline(
    name: str,
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    requests: int = 1,
    objective: Objective = "latency",
    deadline_s: FloatArray | float = np.inf,
    speed: FloatArray | None = None,
) -> Plan:
    """A baseline plan.

    ``local``, ``edge``, ``cloud`` put every block there; ``neurosurgeon-edge`` and
    ``neurosurgeon-cloud`` take Neurosurgeon's best single split between the terminal and that
    server tier.
    """
    n = profile.n
    full = np.full(requests, n, dtype=np.int64)
    zero = np.zeros(requests, dtype=np.int64)
    fixed = {"local": (full, full), "edge": (zero, full), "cloud": (zero, zero)}
    if name in fixed:
        a, b = fixed[name]
        return evaluate_cuts(profile, tiers, net, a, b, deadline_s, speed)
    if name not in ("neurosurgeon-edge", "neurosurgeon-cloud"):
        raise ValueError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)}")
    to_edge = name.endswith("edge")
    best: Plan | None = None
    best_score = np.full(requests, np.inf)
    for cut in range(n + 1):
        a = np.full(requests, cut, dtype=np.int64)
        plan = evaluate_cuts(profile, tiers, net, a, full if to_edge else a, deadline_s, speed)
        score = plan.latency_s if objective == "latency" else plan.energy_j
        if objective == "energy":
            score = np.where(plan.meets_deadline, score, np.inf)
        better = score < best_score
        best = plan if best is None else _merge(best, plan, better)
        best_score = np.where(better, score, best_score)
    assert best is not None
    if objective == "energy":  # none meets the deadline: Neurosurgeon's least latency
        fallback = baseline(name, profile, tiers, net, requests, "latency", deadline_s, speed)
        best = _merge(best, fallback, ~np.isfinite(best_score))
    return best


def _merge(a: Plan, b: Plan, take_b: npt.NDArray[np.bool_]) -> Plan:
    return Plan(
        np.where(take_b[:, None], b.tiers, a.tiers),
        np.where(take_b, b.latency_s, a.latency_s),
        np.where(take_b, b.energy_j, a.energy_j),
        np.where(take_b, b.meets_deadline, a.meets_deadline),
        np.where(take_b, b.uplink_bytes, a.uplink_bytes),
        np.where(take_b, b.edge_s, a.edge_s),
    )


def brute_force(
    profile: ModelProfile,
    tiers: Sequence[Processor],
    net: Network,
    objective: Objective = "latency",
    deadline_s: float = np.inf,
) -> tuple[tuple[int, ...], float, float]:
    """The best plan of one request by enumerating every tier per block (small models only).

    It prices plans from the model's edges, not from the cut arrays the DP uses: each tensor
    crosses every link between its producer's tier and its farthest reader's; each tier change
    costs the links' delays once (times the decode round trips where it splits the loop).

    Returns:
        (tiers per block, latency, terminal energy).
    """
    n = profile.n
    if n > 10:
        raise ValueError("brute force is for models of at most 10 blocks")
    base = np.stack([block_costs(profile, p).total_s for p in tiers], axis=1)
    links = net.arrays(1)
    rate = [links["uplink_mbps"][0] * MBIT, links["wired_mbps"][0] * MBIT]
    delay = [links["radio_delay_s"][0], links["wired_delay_s"][0]]
    dn = links["downlink_mbps"][0] * MBIT
    g = profile.decode_steps
    out = profile.out_bytes
    step_out = profile.decode_out_bytes
    best: tuple[tuple[int, ...], float, float] | None = None
    best_key = (np.inf, np.inf)
    for assign in itertools.product(range(3), repeat=n):
        if any(b < a for a, b in itertools.pairwise(assign)):
            continue
        latency = float(sum(base[i, t] for i, t in enumerate(assign)))
        up_bits = 0.0
        readers: dict[int, int] = {}
        for u, v in profile.edges:
            readers[u] = max(readers.get(u, 0), assign[v])
        for u, far in readers.items():
            src = TERMINAL if u < 0 else assign[u]
            for link in range(src, far):  # link 0 is sent by the terminal, 1 by the edge
                if u < 0:
                    size = profile.input_bytes
                else:
                    size = (out[u] + g * step_out[u]) * tiers[link].act_bits / 32.0
                latency += 8.0 * size / rate[link]
                if link == 0:
                    up_bits += 8.0 * size
        tiers_seq = (TERMINAL, *assign)
        for k in range(n):  # a tier change before block k
            lo, hi = tiers_seq[k], tiers_seq[k + 1]
            trips = 1 + 2 * g * int(profile.in_loop[k])
            latency += sum(delay[link] * trips for link in range(lo, hi))
        last = assign[-1]
        res_bits = 8.0 * profile.result_bytes
        if last >= EDGE:
            latency += res_bits / dn + delay[0]
        if last == CLOUD:
            latency += res_bits / rate[1] + delay[1]
        t_term = float(sum(base[i, 0] for i, t in enumerate(assign) if t == TERMINAL))
        energy = tiers[0].active_w * t_term
        if last != TERMINAL:
            up_tx = up_bits / rate[0]
            dn_tx = res_bits / dn
            energy += net.tx_w * up_tx + net.rx_w * dn_tx
            energy += net.wait_w * (latency - t_term - up_tx - dn_tx)
        if objective == "latency":
            key = (latency, 0.0)
        else:
            key = (energy, 0.0) if latency <= deadline_s else (np.inf, latency)
        if best is None or key < best_key:
            best, best_key = (assign, latency, energy), key
    assert best is not None
    return best
