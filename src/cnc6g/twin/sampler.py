"""Request-level sampling: individual task latencies consistent with the fluid model.

Given a slot's :class:`~cnc6g.twin.dynamics.SlotOutcome` and the integer request counts, each
request is routed by a multinomial draw over the flows' served shares (the rest is dropped), then
gets latency ``network + Exp(rate)`` (with ``twin.sojourn = "mg1"``: the node's M/G/1 wait plus
its own gamma-distributed work) plus, with the flow's cold-start probability, a uniform wait for
its instance to start. Where a service's data sizes vary (``input_cv``, ``output_cv``) each
request's transfers take its own sizes' times: its mean-size times scaled by gamma factors of
mean 1. The means agree with the fluid model by construction; the samples give
request-level p95/p99 and satisfaction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.twin.dynamics import SlotOutcome, cold_wait_bounds
from cnc6g.twin.jit import kernel, row_sum
from cnc6g.twin.system import BoolArray, FloatArray, IntArray


@dataclass(frozen=True, eq=False)
class RequestSample:
    """Served requests of one or more slots."""

    latency_s: FloatArray  # [R]
    satisfied: BoolArray  # [R]
    origin: IntArray  # [R]
    service: IntArray  # [R]
    offered: int
    dropped: int


def sample_requests(
    outcome: SlotOutcome,
    demand: IntArray,
    deadline_s: FloatArray,
    rng: np.random.Generator,
    copy: int = 0,
) -> RequestSample:
    """Draw the individual requests of copy ``copy`` of a slot.

    Args:
        outcome: the slot's fluid outcome.
        demand: integer requests ``[B, O, S]`` of the slot.
        deadline_s: deadline of each service ``[S]``.
        rng: random generator.
        copy: which copy of the batch.
    """
    sy = outcome.system
    O = outcome.flows.shape[1]
    counts = demand[copy].reshape(-1)  # [O * S]
    chained = None
    if outcome.chains is not None:  # services placed step by step are drawn by their paths
        assert sy.chains is not None
        chained = np.where(np.tile(sy.chains.is_chain, O), counts, 0)
        counts = counts - chained
    rows = np.flatnonzero(counts > 0)  # the (origin, service) rows with requests
    served = served_by_row(outcome, copy, rows)  # [P, K]
    n = counts[rows]
    # One multinomial per row with requests: the rows without draw nothing, so the draws are
    # those of one multinomial over every (origin, service) row. Each row's categories are its
    # candidates with a share, in order, then the dropped tasks: a category of probability 0
    # draws nothing and leaves the others' probabilities as they are, so the draws are those
    # over all K candidates.
    pvals, column = draw_probabilities(served, n)  # [P, W + 1], [P, W]
    drawn = rng.multinomial(n, pvals)[:, :-1]  # [P, W]
    origin, service, k, node, net, rate = request_terms(outcome, copy, drawn, column, rows)
    size = origin.size
    if sy.input_cv[service].any() or sy.output_cv[service].any():  # each request's own sizes
        per_mbit = outcome.per_mbit_s[copy, origin, k]  # [R, 2]
        x_in, x_out = _size_factors(rng, sy.input_cv[service], sy.output_cv[service])
        net = net + (x_in - 1.0) * sy.input_mbit[service] * per_mbit[:, 0]
        net = net + (x_out - 1.0) * sy.output_mbit[service] * per_mbit[:, 1]
    if outcome.radio_delay_s is not None:
        remote = sy.candidate_valid[origin, k] & ~sy.candidate_local[origin, k]
        net = net + 2.0 * outcome.radio_delay_s[copy, origin] * remote
    if outcome.wait_n is None:
        latency = net + rng.exponential(1.0, size=size) / rate
    else:  # M/G/1: a wait (none with probability 1 - rho) plus the task's own gamma work
        rho = outcome.utilisation[copy, node]
        wait = outcome.wait_n[copy, node]
        tail = np.divide(wait, rho, out=np.zeros_like(wait), where=rho > 0)
        waits = (rng.random(size) < rho) * rng.exponential(1.0, size=size) * tail
        x = sy.work[service] * sy.devices[node] / sy.capacity[node]
        cv = sy.work_cv[service]
        shape = np.divide(1.0, cv**2, out=np.ones_like(cv), where=cv > 0)
        work = np.where(cv > 0, rng.gamma(shape, 1.0, size=size) / shape, 1.0) * x
        latency = net + waits + work
    if outcome.cold_sn is not None:
        cold_p = outcome.cold_sn[copy, service, node]
        if cold_p.any():
            if outcome.start_sn is None:
                t_start = sy.cold_start_s[service]
            else:
                t_start = outcome.start_sn[copy, service, node]
            lo, hi = cold_wait_bounds(t_start, outcome.slot_s)
            hit = rng.random(size) < cold_p
            latency = latency + hit * (lo + (hi - lo) * rng.random(size))
    offered = int(counts.sum())
    if chained is not None:
        extra = _sample_paths(outcome, chained, rng, copy)
        latency = np.concatenate([latency, extra[0]])
        origin = np.concatenate([origin, extra[1]])
        service = np.concatenate([service, extra[2]])
        offered += int(chained.sum())
        served_n = size + extra[0].size
    else:
        served_n = size
    return RequestSample(
        latency_s=latency,
        satisfied=latency <= deadline_s[service],
        origin=origin,
        service=service,
        offered=offered,
        dropped=offered - served_n,
    )


def _size_factors(
    rng: np.random.Generator, cv_in: FloatArray, cv_out: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each request's input and output size over its mean: gamma of mean 1 and the CVs."""
    out = []
    for cv in (cv_in, cv_out):
        factor = np.ones(cv.shape)
        vary = np.flatnonzero(cv > 0)
        if vary.size:
            shape = 1.0 / cv[vary] ** 2
            factor[vary] = rng.gamma(shape, 1.0) / shape
        out.append(factor)
    return out[0], out[1]


def served_by_row_numpy(outcome: SlotOutcome, copy: int, rows: IntArray) -> FloatArray:
    """:func:`served_by_row` with NumPy, its reference."""
    flows = outcome.flows
    _, O, K, S = flows.shape
    row_of = np.full(O * S, -1)
    row_of[rows] = np.arange(rows.size)
    mine = flows.copy == copy
    at = row_of[(flows.origin[mine] * S + flows.service[mine])]
    known = at >= 0
    served = np.zeros((rows.size, K))
    served[at[known], flows.candidate[mine][known]] = flows.served[mine][known]
    return served


def served_by_row(outcome: SlotOutcome, copy: int, rows: IntArray) -> FloatArray:
    """Served tasks of each row's candidates, ``[P, K]``, from copy ``copy``'s active flows.

    ``rows``: the flat (origin, service) rows, in increasing order. The same values as
    :func:`served_by_row_numpy`, in one pass over the flows.
    """
    flows = outcome.flows
    _, O, K, S = flows.shape
    served = np.zeros((rows.size, K))
    _served_into(
        (flows.copy, flows.origin, flows.service, flows.candidate),
        flows.served,
        copy,
        rows,
        (O, S),
        served,
    )
    return served


@kernel
def _served_into(
    where: tuple[IntArray, IntArray, IntArray, IntArray],
    tasks: FloatArray,
    copy: int,
    rows: IntArray,
    shape: tuple[int, int],
    served: FloatArray,
) -> None:
    """:func:`served_by_row` into ``served`` (zeros); ``shape``: origins and services."""
    flow_copy, origin, service, candidate = where
    O, S = shape
    row_of = np.full(O * S, -1)
    for p in range(rows.size):
        row_of[rows[p]] = p
    for f in range(flow_copy.size):
        if flow_copy[f] != copy:
            continue
        r = row_of[origin[f] * S + service[f]]
        if r >= 0:
            served[r, candidate[f]] = tasks[f]


_Terms = tuple[IntArray, IntArray, IntArray, IntArray, FloatArray, FloatArray]
"""Per request drawn: origin, service, candidate, node, network time (s) and sojourn rate."""


def request_terms_numpy(
    outcome: SlotOutcome, copy: int, drawn: IntArray, column: IntArray, rows: IntArray
) -> _Terms:
    """:func:`request_terms` with NumPy, its reference."""
    sy = outcome.system
    S = sy.n_services
    per_flow = drawn.ravel()
    pick = np.repeat(np.arange(per_flow.size), per_flow)
    row, k = pick // column.shape[1], column.ravel()[pick]
    origin = rows[row] // S
    service = rows[row] % S
    per_mbit = outcome.per_mbit_s[copy, origin, k]  # [R, 2]
    net = (
        sy.input_mbit[service] * per_mbit[:, 0]
        + sy.output_mbit[service] * per_mbit[:, 1]
        + 2.0 * sy.candidate_delay_s[origin, k]
    )
    node = sy.candidates[origin, k]
    rate = outcome.rate_sn[copy, service, node]
    return origin, service, k, node, net, rate


def request_terms(
    outcome: SlotOutcome, copy: int, drawn: IntArray, column: IntArray, rows: IntArray
) -> _Terms:
    """The terms of each request drawn onto a candidate, in one pass.

    Per request: its origin, service, candidate, node, network time (transfers and round-trip
    delay, s) and its instance's sojourn rate (1/s). ``drawn`` ``[P, W]`` holds the requests
    of each row (origin and service ``rows[p]``) drawn onto each of its candidates
    ``column[p]`` (:func:`draw_probabilities`), requests in that order. The same values as
    :func:`request_terms_numpy`, to the last bit.
    """
    sy = outcome.system
    size = int(drawn.sum())
    origin, service, k, node = (np.empty(size, dtype=np.int64) for _ in range(4))
    net = np.empty(size)
    rate: FloatArray = np.empty(size, dtype=outcome.rate_sn.dtype)
    _request_terms_into(
        drawn,
        column,
        rows,
        (sy.input_mbit, sy.output_mbit, sy.candidate_delay_s, sy.candidates),
        outcome.per_mbit_s[copy],
        outcome.rate_sn[copy],
        (origin, service, k, node),
        net,
        rate,
    )
    return origin, service, k, node, net, rate


@kernel
def _request_terms_into(
    drawn: IntArray,
    column: IntArray,
    rows: IntArray,
    system: tuple[FloatArray, FloatArray, FloatArray, IntArray],
    per_mbit: FloatArray,
    rate_sn: FloatArray,
    ints: tuple[IntArray, IntArray, IntArray, IntArray],
    net: FloatArray,
    rate: FloatArray,
) -> None:
    """:func:`request_terms` into the arrays it sized."""
    input_mbit, output_mbit, delay, candidates = system
    origin, service, candidate, node = ints
    S = rate_sn.shape[0]
    P, W = drawn.shape
    i = 0
    for p in range(P):
        o, s = rows[p] // S, rows[p] % S
        for w in range(W):
            k = column[p, w]
            for _ in range(drawn[p, w]):
                n = candidates[o, k]
                origin[i], service[i], candidate[i], node[i] = o, s, k, n
                net[i] = (
                    input_mbit[s] * per_mbit[o, k, 0] + output_mbit[s] * per_mbit[o, k, 1]
                ) + 2.0 * delay[o, k]
                rate[i] = rate_sn[s, n]
                i += 1


def draw_probabilities_numpy(served: FloatArray, n: IntArray) -> FloatArray:
    """Each row's multinomial probabilities over its ``K`` candidates and the dropped tasks.

    ``served`` ``[P, K]`` tasks served of the ``n`` ``[P]`` requests of each row; shares
    summing above 1 are scaled down to 1. ``[P, K + 1]``: the reference of
    :func:`draw_probabilities`.
    """
    shares = np.clip(served / n[:, None], 0.0, 1.0)
    total = shares.sum(axis=-1, keepdims=True)
    shares = np.divide(shares, total, out=shares, where=total > 1.0)
    joined = np.concatenate([shares, 1.0 - shares.sum(axis=-1, keepdims=True)], axis=-1)
    pvals: FloatArray = np.clip(joined, 0.0, None)
    pvals /= pvals.sum(axis=-1, keepdims=True)
    return pvals


def draw_probabilities(served: FloatArray, n: IntArray) -> tuple[FloatArray, IntArray]:
    """:func:`draw_probabilities_numpy` of the candidates with a share only, to the last bit.

    Returns ``[P, W + 1]`` probabilities (the candidates served in each row, in order, padded
    with 0; the dropped tasks last) and ``[P, W]`` the candidate of each (-1: padding), ``W``
    the most candidates a row has served (at least 1).
    """
    width = _widest(served)
    pvals = np.zeros((served.shape[0], width + 1))
    column = np.full((served.shape[0], width), -1, dtype=np.int64)
    _draw_probabilities(served, n, pvals, column)
    return pvals, column


@kernel
def _widest(served: FloatArray) -> int:
    """The most non-zero entries a row of ``served`` has, at least 1."""
    P, K = served.shape
    width = 1
    for p in range(P):
        count = 0
        for k in range(K):
            if served[p, k] != 0:
                count += 1
        width = count if count > width else width
    return width


@kernel
def _draw_probabilities(
    served: FloatArray, n: IntArray, pvals: FloatArray, column: IntArray
) -> None:
    """:func:`draw_probabilities` into ``pvals`` (zeros) and ``column`` (-1)."""
    P, K = served.shape
    width = column.shape[1]
    row = np.empty(K + 1)
    for p in range(P):
        for k in range(K):
            share = served[p, k] / n[p]
            share = 0.0 if share < 0.0 else share
            row[k] = 1.0 if share > 1.0 else share
        total = row_sum(row[:K])
        if total > 1.0:
            for k in range(K):
                row[k] = row[k] / total
        drop = 1.0 - row_sum(row[:K])
        row[K] = 0.0 if drop < 0.0 else drop
        total = row_sum(row)
        j = 0
        for k in range(K):
            if served[p, k] != 0:
                pvals[p, j] = row[k] / total
                column[p, j] = k
                j += 1
        pvals[p, width] = row[K] / total


def _sample_paths(
    outcome: SlotOutcome, counts: IntArray, rng: np.random.Generator, copy: int
) -> tuple[FloatArray, IntArray, IntArray]:
    """Latency, origin and service of the requests drawn onto the slot's chain paths.

    Each (origin, service) row's requests go by one multinomial draw over its paths' served
    shares (the rest dropped); a request's latency is the largest over its routes of the route's
    transfers plus its steps' exponential sojourns (one draw per step, shared by the routes),
    plus, with the path's cold-start share, a uniform wait for its latest instance to start.
    """
    sy = outcome.system
    ch = outcome.chains
    assert ch is not None
    assert sy.chains is not None
    cf = ch.flows
    S = sy.n_services
    mine = np.flatnonzero(cf.copy == copy)
    row = cf.origin[mine] * S + cf.service[mine]
    picked: list[IntArray] = []
    for r in np.flatnonzero(counts):
        at = mine[row == r]
        n = int(counts[r])
        shares = np.clip(ch.served[at] / n, 0.0, 1.0)
        if shares.sum() > 1.0:
            shares = shares / shares.sum()
        pvals = np.clip(np.append(shares, 1.0 - shares.sum()), 0.0, None)
        drawn = rng.multinomial(n, pvals / pvals.sum())[:-1]
        picked.append(np.repeat(at, drawn))
    f = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    spec = sy.chains
    s = cf.service[f]
    rate = ch.rate[f]  # [M, Q]
    steps = spec.step_valid[s]
    with np.errstate(divide="ignore"):
        sojourn = np.where(steps, rng.exponential(1.0, size=rate.shape) / rate, 0.0)
    on = spec.route_steps[s] & steps[:, None, :]  # [M, R, Q]
    per_route = ch.route_network_s[f] + (on * sojourn[:, None, :]).sum(axis=2)
    if ch.route_sized_s is not None:  # each request's own input and output sizes
        x_in, x_out = _size_factors(rng, sy.input_cv[s], sy.output_cv[s])
        sized = ch.route_sized_s[f]
        per_route = per_route + (x_in - 1.0)[:, None] * sized[..., 0]
        per_route = per_route + (x_out - 1.0)[:, None] * sized[..., 1]
    per_route = np.where(spec.route_valid[s], per_route, -np.inf)
    latency = per_route.max(axis=1) if f.size else np.zeros(0)
    cold = ch.cold[f]
    if cold.any():
        lo, hi = cold_wait_bounds(ch.start_s[f], outcome.slot_s)
        hit = rng.random(f.size) < cold
        latency = latency + hit * (lo + (hi - lo) * rng.random(f.size))
    return latency, cf.origin[f], s
