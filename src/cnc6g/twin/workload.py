"""Request generation: counts per (origin, service) each slot, and the radio channel.

Per slot ``N ~ U{low..high}`` requests, or ``N ~ Poisson(mean x m_t)`` where the workload has
burstiness (``m_t`` the rate of a Markov-modulated state, each copy's chain started in a state
drawn from its stationary distribution, or in the likeliest one) or a diurnal profile (``m_t``
the hour's rate, times the day's with a weekly profile); each request picks a service by Zipf
popularity over a ranking and an origin by the origin weights; the counts are one multinomial
draw. Hotspot shifts change the ranking (a fresh random permutation) or the origin weights from
a given slot on. A trace replaces all of this: its counts are replayed slot by slot in a loop
(scaled, with stochastic rounding, when the workload also asks for an offered load).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.model.workload import MmppStart
from cnc6g.twin.dynamics import shannon_rate_mbps
from cnc6g.twin.jit import kernel
from cnc6g.twin.system import FloatArray, IntArray, System, requests_for_load


@dataclass(frozen=True, eq=False)
class DemandProcess:
    """The scenario's workload as arrays."""

    low: int
    high: int
    zipf: FloatArray  # [S] probability of popularity rank r
    order: IntArray  # [S] service index at each rank
    origin_weights: FloatArray  # [O] normalised
    shifts: tuple[tuple[int, FloatArray | None, bool], ...]  # (slot, weights, reshuffle)
    mean: float = 0.0  # mean requests per slot where the count is Poisson
    poisson: bool = False
    mmpp_rates: FloatArray | None = None  # [M] relative rates, stationary mean 1
    mmpp_cdf: FloatArray | None = None  # [M, M] cumulative transition probabilities
    mmpp_start: int = 0  # the most likely state under the stationary distribution
    mmpp_stationary: FloatArray | None = None  # [M] cumulative stationary distribution
    diurnal: FloatArray | None = None  # [24] hourly rates, mean 1
    weekly: FloatArray | None = None  # [7] daily rates Monday-Sunday, mean 1
    start_day: int = 0
    slots_per_hour: int = 1
    start_hour: int = 0
    trace: FloatArray | None = None  # [T, O, S] counts to replay
    trace_scale: float = 1.0


BUCKETS_PER_CATEGORY = 4
"""Buckets of ``[0, 1)`` per (origin, service) category where one copy's draws start searching."""

MAX_BUCKETS = 1 << 16
"""At most this many buckets, unless there are more categories (then one per category)."""


@dataclass(eq=False)
class DemandState:
    """Current ranking and origin weights of each copy."""

    order: IntArray  # [B, S]
    origin_weights: FloatArray  # [B, O]
    probabilities: FloatArray | None = None  # [B, O*S], rebuilt after a shift
    mmpp_state: IntArray | None = None  # [B] state of the modulating chain (None: not drawn)
    stacked_cdf: FloatArray | None = None  # [B*O*S] cumulative probabilities, copy b + (0, 1]
    bucket_start: IntArray | None = None  # [M] one copy's: where a draw in [j, j + 1) / M starts


def demand_process(system: System) -> DemandProcess:
    """Build the demand process of ``system``'s workload."""
    wl = system.scenario.workload
    if wl.trace is not None:
        return _trace_process(system)
    if wl.requests_per_slot is not None:
        low, high = wl.requests_per_slot
        mean = (low + high) / 2.0
    else:
        assert wl.offered_load is not None
        mean = requests_for_load(system, wl.offered_load)
        low = round((1.0 - wl.load_spread) * mean)
        high = max(low, round((1.0 + wl.load_spread) * mean))
    ranks = np.arange(1, system.n_services + 1, dtype=float)
    zipf = ranks ** (-wl.zipf_exponent)
    zipf /= zipf.sum()
    order = (
        np.array([system.service_names.index(n) for n in wl.popularity])
        if wl.popularity is not None
        else np.arange(system.n_services)
    )

    def weights(spec: dict[str, float] | None) -> FloatArray:
        if spec is None:
            w = np.ones(system.n_origins)
        else:
            w = np.array([spec.get(name, 0.0) for name in system.origin_names])
        normalised: FloatArray = w / w.sum()
        return normalised

    shifts = tuple(
        (
            h.slot,
            None if h.origin_weights is None else weights(h.origin_weights),
            h.reshuffle_popularity,
        )
        for h in wl.hotspots
    )
    extra: dict[str, object] = {}
    if wl.burstiness is not None:
        switch = np.array(wl.burstiness.switch(), dtype=float)
        rates = np.array(wl.burstiness.rates, dtype=float)
        stationary = _stationary(switch)
        extra.update(
            mmpp_rates=rates / float(stationary @ rates),
            mmpp_cdf=np.cumsum(switch, axis=1),
            mmpp_start=int(np.argmax(stationary)),
            mmpp_stationary=None
            if wl.burstiness.start == MmppStart.LIKELIEST
            else np.cumsum(stationary),
        )
    if wl.diurnal is not None:
        profile = np.array(wl.diurnal.profile, dtype=float)
        extra.update(
            diurnal=profile / profile.mean(),
            slots_per_hour=wl.diurnal.slots_per_hour,
            start_hour=wl.diurnal.start_hour,
        )
        if wl.diurnal.weekly is not None:
            week = np.array(wl.diurnal.weekly, dtype=float)
            extra.update(weekly=week / week.mean(), start_day=wl.diurnal.start_day)
    poisson = wl.burstiness is not None or wl.diurnal is not None
    return DemandProcess(
        int(low),
        int(high),
        zipf,
        order,
        weights(wl.origin_weights),
        shifts,
        mean=float(mean),
        poisson=poisson,
        **extra,  # type: ignore[arg-type]
    )


def _stationary(switch: FloatArray) -> FloatArray:
    """Stationary distribution of a transition matrix (left eigenvector for eigenvalue 1)."""
    values, vectors = np.linalg.eig(switch.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    out: FloatArray = np.abs(v) / np.abs(v).sum()
    return out


def _trace_process(system: System) -> DemandProcess:
    wl = system.scenario.workload
    assert wl.trace is not None
    trace = np.zeros((wl.trace.slots, system.n_origins, system.n_services))
    for row in wl.trace.rows:
        o = system.origin_names.index(row.origin)
        s = system.service_names.index(row.service)
        trace[row.slot, o, s] += row.count
    per_slot = float(trace.sum(axis=(1, 2)).mean())
    scale = 1.0
    if wl.offered_load is not None and per_slot > 0:
        scale = requests_for_load(system, wl.offered_load) / per_slot
    S, O = system.n_services, system.n_origins
    return DemandProcess(
        0,
        0,
        np.full(S, 1.0 / S),
        np.arange(S),
        np.full(O, 1.0 / O),
        (),
        mean=per_slot * scale,
        trace=trace,
        trace_scale=scale,
    )


def initial_demand_state(process: DemandProcess, batch: int) -> DemandState:
    """Every copy starts from the scenario's ranking and weights.

    A chain started in its likeliest state is set here; one started in a stationary state is
    drawn by the first :func:`sample_demand`, with the generator of the draws.
    """
    return DemandState(
        order=np.tile(process.order, (batch, 1)),
        origin_weights=np.tile(process.origin_weights, (batch, 1)),
        mmpp_state=None
        if process.mmpp_rates is None or process.mmpp_stationary is not None
        else np.full(batch, process.mmpp_start, dtype=np.int64),
    )


def sample_demand(
    process: DemandProcess, state: DemandState, slot: int, rng: np.random.Generator
) -> IntArray:
    """Draw the requests of ``slot`` for every copy, ``[B, O, S]``; applies hotspot shifts.

    ``state`` is updated in place when a shift starts at ``slot``.
    """
    B: int
    S: int
    B, S = state.order.shape
    O = state.origin_weights.shape[1]
    if process.trace is not None:
        base = process.trace[slot % len(process.trace)]
        if process.trace_scale == 1.0:
            return np.tile(base.astype(np.int64), (B, 1, 1))
        scaled = base[None] * process.trace_scale
        # Stochastic rounding keeps the scaled mean exactly.
        rounded: IntArray = np.floor(scaled + rng.random((B, O, S))).astype(np.int64)
        return rounded
    for at, weights, reshuffle in process.shifts:
        if at == slot:
            if weights is not None:
                state.origin_weights[:] = weights
            if reshuffle:
                state.order[:] = rng.permuted(np.tile(np.arange(S), (B, 1)), axis=1)
            state.probabilities = None
    if state.probabilities is None:
        p_service = np.empty((B, S))
        np.put_along_axis(p_service, state.order, np.broadcast_to(process.zipf, (B, S)), axis=1)
        p = (state.origin_weights[:, :, None] * p_service[:, None, :]).reshape(B, O * S)
        state.probabilities = p / p.sum(axis=1, keepdims=True)
        # Cumulative probabilities of all copies on one axis: copy b occupies (b, b + 1].
        cdf: FloatArray = np.cumsum(state.probabilities, axis=1)
        cdf /= cdf[:, -1:]
        state.stacked_cdf = (cdf + np.arange(B)[:, None]).ravel()
        if B == 1:  # where each of M equal buckets of [0, 1) starts on the cdf
            M = max(O * S, min(BUCKETS_PER_CATEGORY * O * S, MAX_BUCKETS))
            state.bucket_start = np.searchsorted(state.stacked_cdf, np.arange(M) / M, side="right")
    if process.poisson:
        mean = np.full(B, process.mean)
        if process.mmpp_rates is not None:
            if state.mmpp_state is None:  # each copy's start from the stationary distribution
                assert process.mmpp_stationary is not None
                start = (process.mmpp_stationary[None, :] < rng.random(B)[:, None]).sum(axis=1)
                state.mmpp_state = np.minimum(start, process.mmpp_rates.size - 1)
            assert process.mmpp_cdf is not None
            mean *= process.mmpp_rates[state.mmpp_state]
            u = rng.random(B)
            cdf = process.mmpp_cdf[state.mmpp_state]  # [B, M]
            state.mmpp_state = np.minimum((cdf < u[:, None]).sum(axis=1), cdf.shape[1] - 1)
        if process.diurnal is not None:
            hours = process.start_hour + slot // process.slots_per_hour
            mean *= process.diurnal[hours % 24]
            if process.weekly is not None:
                mean *= process.weekly[(process.start_day + hours // 24) % 7]
        total = np.asarray(rng.poisson(mean), dtype=np.int64)
    else:
        # Uniform integer on [low, high] by scaling a uniform float (cheaper than rng.integers).
        total = process.low + (rng.random(B) * (process.high - process.low + 1)).astype(np.int64)
    many = int(total.max(initial=0)) if process.poisson else process.high
    if many >= O * S:
        return rng.multinomial(total, state.probabilities).reshape(B, O, S)
    # Fewer requests than categories: draw each request's category (inverse CDF) and count.
    # Same distribution as the multinomial, far fewer random numbers.
    assert state.stacked_cdf is not None  # rebuilt together with the probabilities
    if B == 1:  # each draw found from its bucket's start: no sort
        assert state.bucket_start is not None
        u = rng.random(int(total[0]))
        counts = np.zeros(O * S, dtype=np.int64)
        _count_bucketed(state.stacked_cdf, state.bucket_start, u, counts)
        return counts.reshape(1, O, S)
    copy = np.repeat(np.arange(B), total)
    u = rng.random(copy.size)
    cell = np.searchsorted(state.stacked_cdf, u + copy, side="right")
    cell = np.minimum(cell, (copy + 1) * O * S - 1)  # guard the top edge of each copy
    return np.bincount(cell, minlength=B * O * S).reshape(B, O, S)


def sample_channel(
    system: System, rng: np.random.Generator, batch: int
) -> tuple[FloatArray, FloatArray]:
    """Uplink and downlink rates ``[B, O]`` in Mbit/s under log-normal shadowing."""
    snr = system.mean_snr_db + system.shadowing_std_db * rng.standard_normal(
        (batch, system.n_origins)
    )
    per_mhz = shannon_rate_mbps(1.0, snr)  # spectral efficiency, bit/s/Hz
    return system.uplink_mhz * per_mhz, system.downlink_mhz * per_mhz


@kernel
def _count_bucketed(cdf: FloatArray, start: IntArray, u: FloatArray, counts: IntArray) -> None:
    """Add to ``counts`` the requests per category of the draws ``u`` (any order) on ``cdf``.

    A draw falls in the first category whose cumulative probability is above it (the last one
    at the top edge), as ``searchsorted(cdf, u, side="right")`` finds it. Its search starts
    where its bucket ``floor(u * M)`` of ``M = start.size`` equal buckets of ``[0, 1)``
    starts and walks from there, back or on, to that category: the start only saves steps.
    """
    size = cdf.size
    M = start.size
    for v in u:
        j = min(int(v * M), M - 1)
        i = start[j]
        while i > 0 and cdf[i - 1] > v:
            i -= 1
        while i < size and cdf[i] <= v:
            i += 1
        counts[min(i, size - 1)] += 1
