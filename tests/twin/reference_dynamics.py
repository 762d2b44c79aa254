"""The twin's slot arithmetic as it was before it went sparse: a frozen, dense reference.

:func:`evaluate_slot` here computes every ``[B, O, K, S]`` combination, the way
:func:`cnc6g.twin.dynamics.evaluate_slot` did before it computed only the active flows. The
tests compare the two on random systems (``test_sparse.py``); this file is not changed when the
model changes, unless the model's arithmetic is meant to change too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system

DENSE_INCIDENCE_LIMIT = 20_000


@dataclass(frozen=True, eq=False)
class _Constants:
    """Per-system arrays the slot arithmetic reuses, in the ``[O, K, S]`` layout."""

    remote: FloatArray  # [O, K] 1 where the candidate is reached over the radio
    remote_bool: BoolArray  # [O, K]
    admissible: BoolArray  # [O, K, S]
    delay2: FloatArray  # [O, K] round-trip propagation and access delay
    io_mbit: FloatArray  # [S, 2] input and output size
    exponent: FloatArray  # [4, S] rows D/w, -1/w, -d_in/w, -d_out/w
    input_s: FloatArray  # [S]
    output_s: FloatArray  # [S]
    budget: FloatArray  # [O, K, S] deadline minus round-trip delay
    cold_s: FloatArray  # [S] cold-start time
    inv_work: FloatArray  # [S]
    cold_fraction: FloatArray  # [1, S, 1] share of a new instance's tasks that wait
    inv_work3: FloatArray  # [1, S, 1]
    asleep_power: FloatArray  # [N] sleep power, 0 where the node cannot sleep
    dynamic_power: FloatArray  # [N] peak - idle
    instance_power_sn: FloatArray  # [S * N] keep-alive power of an instance
    instantiation_energy_sn: FloatArray  # [S * N] energy of a cold start
    wired_j_per_mbit: FloatArray  # [O * K * 2] wired and access energy per Mbit, both ways
    incidence: FloatArray | None  # [O * K, L] path-link incidence, for small systems only
    incidence_t: FloatArray | None  # [L, O * K]


@per_system
def _constants(system: System) -> _Constants:
    remote = ~system.candidate_local & system.candidate_valid
    ft = system.float_dtype
    inv_work = 1.0 / system.work
    delay2 = 2.0 * system.candidate_delay_s
    # A dense path-link incidence is faster while small; beyond, scatter/gather per hop.
    dense = system.link_incidence.size <= DENSE_INCIDENCE_LIMIT
    return _Constants(
        remote=remote.astype(float),
        remote_bool=remote,
        admissible=np.ascontiguousarray(system.admissible.transpose(0, 2, 1)),
        delay2=delay2,
        io_mbit=np.stack([system.input_mbit, system.output_mbit], axis=1).astype(ft),
        exponent=np.stack(
            [
                system.deadline_s * inv_work,
                -inv_work,
                -system.input_mbit * inv_work,
                -system.output_mbit * inv_work,
            ]
        ).astype(ft),
        input_s=system.input_mbit.astype(ft),
        output_s=system.output_mbit.astype(ft),
        budget=(system.deadline_s[None, None, :] - delay2[:, :, None]).astype(ft),
        cold_s=system.cold_start_s.astype(ft),
        inv_work=inv_work.astype(ft),
        cold_fraction=np.minimum(system.cold_start_s / system.slot_s, 1.0)[None, :, None],
        inv_work3=inv_work[None, :, None],
        asleep_power=np.nan_to_num(system.sleep_power),
        dynamic_power=system.peak_power - system.idle_power,
        instance_power_sn=np.repeat(system.instance_power, system.n_nodes),
        instantiation_energy_sn=np.repeat(system.instantiation_energy, system.n_nodes),
        wired_j_per_mbit=np.repeat(system.candidate_j_per_mbit.ravel(), 2),
        incidence=np.ascontiguousarray(system.link_incidence.T) if dense else None,
        incidence_t=system.link_incidence if dense else None,
    )


def clean_routing(routing: FloatArray) -> FloatArray:
    """Routing with negative shares set to 0 and rows summing above 1 scaled down to 1."""
    y = np.maximum(routing, 0.0)
    row = y.sum(axis=-1, keepdims=True)
    if row.max(initial=0.0) > 1.0:
        y /= np.maximum(row, 1.0)
    return y


@per_system
def _hop_index(system: System, batch: int) -> IntArray:
    """Flat index into ``[B, 2, L + 1]`` of hop ``h`` of every path, ``[B, 2, H, O*K]`` order."""
    row = np.arange(batch * 2).reshape(batch, 2, 1, 1) * (system.n_links + 1)
    return (row + system.path_links.T[None, None, :, :]).ravel()


@per_system
def _flow_index(system: System, batch: int) -> IntArray:
    """Flat index ``(b * S + s) * N + candidates[o, k]`` of every flow, ``[B, O, K, S]`` order."""
    S, N = system.n_services, system.n_nodes
    b = np.arange(batch)[:, None, None, None]
    s = np.arange(S)[None, None, None, :]
    cand = system.candidates[None, :, :, None]
    return ((b * S + s) * N + cand).ravel()


def _gather_oks(per_sn: np.ndarray, system: System) -> np.ndarray:
    """``per_sn[b, s, candidates[o, k]]`` as a ``[B, O, K, S]`` array (rows gathered whole)."""
    B, S, _ = per_sn.shape
    by_node = np.ascontiguousarray(per_sn.transpose(0, 2, 1))  # [B, N, S]
    rows = np.take(by_node, system.candidates.ravel(), axis=1)
    return rows.reshape(B, system.n_origins, system.n_candidates, S)


def evaluate_slot(
    system: System,
    demand: FloatArray | IntArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    deployment: BoolArray,
    previous: BoolArray,
    routing: FloatArray,
    cpu_share: FloatArray | None = None,
) -> dict[str, Any]:
    """Evaluate one slot for ``B`` copies.

    Args:
        system: the compiled scenario.
        demand: requests arriving this slot, ``[B, O, S]`` (integer or float counts).
        uplink_mbps: radio uplink rate of each origin this slot, ``[B, O]``.
        downlink_mbps: radio downlink rate, ``[B, O]``.
        deployment: instances running this slot, ``[B, S, N]``.
        previous: instances running the slot before, ``[B, S, N]`` (cold starts are the new ones).
        routing: share of each (origin, service) demand sent to each candidate, ``[B, O, S, K]``;
            what is left of 1 is rejected. Shares must be >= 0 with rows summing to <= 1 (see
            :func:`clean_routing`); this hot path does not check.
        cpu_share: optional hard CPU quota of each instance as a fraction of its node,
            ``[B, S, N]``.

    Returns:
        The slot's figures by the names of :class:`~cnc6g.twin.dynamics.SlotOutcome`'s fields,
        with the per-flow arrays ``_flow``, ``_served`` and ``_satisfied`` in ``[B, O, K, S]``.
    """
    c = _constants(system)
    ft = system.float_dtype
    tau = system.slot_s
    rho_max = system.admission_utilisation
    B = demand.shape[0]
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    cand = system.candidates

    deployment = deployment.astype(bool, copy=False)
    new = deployment & ~previous.astype(bool, copy=False)
    per_node = deployment.sum(axis=1)  # [B, N]

    # Flows in the [B, O, K, S] layout: services innermost, so per-(origin, candidate) factors
    # broadcast along contiguous rows and sums over services are matrix products.
    usable = np.logical_and(_gather_oks(deployment, system), c.admissible, order="C")
    flow = np.multiply(demand[:, :, None, :], routing.transpose(0, 1, 3, 2), dtype=ft, order="C")
    flow_ok = flow * usable

    # Traffic per (origin, candidate), Mbit per slot sent and received.
    bits = flow_ok @ c.io_mbit  # [B, O, K, 2]

    # Radio cells (only remote candidates use them).
    rates = np.empty((B, O, 2))
    rates[..., 0] = uplink_mbps
    rates[..., 1] = downlink_mbps
    rho_radio = (bits * c.remote[None, :, :, None]).sum(axis=2) / (rates * tau)
    radio_admit = (rho_max / np.maximum(rho_radio, rho_max)).prod(axis=-1)  # [B, O]
    radio_s = 1.0 / (rates * (1.0 - np.minimum(rho_radio, rho_max)))  # s per Mbit

    # Wired links: per-direction load, time per Mbit and admission, summed along each path.
    if system.n_links:
        L = system.n_links
        capacity = system.link_capacity * tau
        if c.incidence is not None:  # small systems: products with the [O*K, L] path-link incidence
            sent = bits.reshape(B, O * K, 2).transpose(0, 2, 1)  # [B, 2, O*K]
            rho_l = (sent @ c.incidence) / capacity  # [B, 2, L]
        else:  # large systems: scatter and gather along padded per-path link lists
            n_hops = system.path_links.shape[1]
            sent = np.ascontiguousarray(bits.transpose(0, 3, 1, 2)).reshape(B, 2, 1, O * K)
            carried = np.bincount(
                _hop_index(system, B),
                weights=np.repeat(sent, n_hops, axis=2).ravel(),
                minlength=B * 2 * (L + 1),
            ).reshape(B, 2, L + 1)
            rho_l = carried[:, :, :L] / capacity  # [B, 2, L]
        per_link = np.empty((B, 4, L))  # s per Mbit sent, received; log admitted both ways
        per_link[:, :2] = 1.0 / (system.link_capacity * (1.0 - np.minimum(rho_l, rho_max)))
        per_link[:, 2:] = np.log(rho_max / np.maximum(rho_l, rho_max))
        if c.incidence_t is not None:  # set together with c.incidence
            along = (per_link @ c.incidence_t).reshape(B, 4, O, K)
        else:
            padded = np.zeros((B, 4, L + 1))
            padded[:, :, :L] = per_link
            hops = np.take(padded, system.path_links.T.ravel(), axis=2)  # [B, 4, H * O * K]
            along = hops.reshape(B, 4, n_hops, O * K).sum(axis=2).reshape(B, 4, O, K)
        per_mbit = along[:, :2].transpose(0, 2, 3, 1)  # [B, O, K, 2]
        net_admit = np.exp(along[:, 2] + along[:, 3])
        link_util = rho_l.max(axis=1)
    else:
        per_mbit = np.zeros((B, O, K, 2))
        net_admit = np.ones((B, O, K))
        link_util = np.zeros((B, 0))
    # Per (origin, candidate): 1, round-trip delay, s per Mbit sent, s per Mbit received.
    timing = np.empty((B, O, K, 4))
    timing[..., 0] = 1.0
    timing[..., 1] = c.delay2
    np.add(per_mbit, radio_s[:, :, None, :] * c.remote[None, :, :, None], out=timing[..., 2:])
    per_mbit = timing[..., 2:]
    net_admit = net_admit * np.where(c.remote_bool, radio_admit[:, :, None], 1.0)  # [B, O, K]

    # Compute: the tasks the network admitted reach their node, which admits up to rho_max.
    reach = flow_ok * net_admit.astype(ft)[..., None]
    arrivals = np.bincount(
        _flow_index(system, B), weights=reach.ravel(), minlength=B * S * N
    ).reshape(B, S, N)  # tasks per slot
    if cpu_share is None:
        # One processor-sharing server per node: a task's sojourn rate is headroom / work, so
        # rate * slack is a sum of (origin, candidate) x service outer products: one matmul.
        load = (system.work @ arrivals) / tau  # gigacycles/s, [B, N]
        node_admit = rho_max / np.maximum(load / system.capacity, rho_max)
        admitted_load = node_admit * load
        headroom = system.capacity - admitted_load
        rate_sn = headroom[:, None, :] * c.inv_work3 * deployment
        admit_g = node_admit[:, cand]  # [B, O, K]
        served = reach * admit_g.astype(ft)[..., None]
        factors = (headroom[:, cand][..., None] * timing).astype(ft, copy=False)
        exponent = factors @ c.exponent  # rate * slack, [B, O, K, S]
        served_bits = bits * (net_admit * admit_g)[..., None]
    else:
        # Hard quotas: each instance is its own M/M/1 queue admitting up to rho_max of it.
        quota = np.maximum(cpu_share, 0.0) * system.capacity  # gigacycles/s
        offered_work = arrivals * system.work[None, :, None] / tau
        with np.errstate(divide="ignore", invalid="ignore"):
            inst_admit = np.where(
                quota > 0, rho_max / np.maximum(offered_work / quota, rho_max), 0.0
            )
        admitted_load = (inst_admit * offered_work).sum(axis=1)
        rate_sn = np.maximum(quota * c.inv_work3 - inst_admit * arrivals / tau, 0.0) * deployment
        served = reach * _gather_oks(inst_admit, system).astype(ft)
        exponent = _gather_oks(rate_sn, system).astype(ft) * _slack(c, per_mbit, ft)
        served_bits = served @ c.io_mbit
    p_sat = np.maximum(exponent, 0.0)
    np.negative(p_sat, out=p_sat)
    np.expm1(p_sat, out=p_sat)
    np.negative(p_sat, out=p_sat)  # P(sojourn <= slack): 0 where slack <= 0
    cold_sn = None
    if new.any():
        cold_sn = new * c.cold_fraction
        cold = _gather_oks(cold_sn, system).astype(ft)
        rate = _gather_oks(rate_sn, system).astype(ft)
        p_cold = _p_after_cold_start(rate, _slack(c, per_mbit, ft), c.cold_s, tau)
        p_sat = (1.0 - cold) * p_sat + cold * p_cold
    satisfied = served * p_sat

    # Energy.
    awake = np.where(system.can_sleep, per_node > 0, True)
    util = admitted_load / system.capacity
    idle = tau * np.where(awake, system.idle_power, c.asleep_power).sum(axis=1)
    dynamic = tau * (awake * util) @ c.dynamic_power
    instances = tau * (deployment.reshape(B, S * N) @ c.instance_power_sn)
    cold_j = new.reshape(B, S * N) @ c.instantiation_energy_sn
    radio_bits = (served_bits * c.remote[None, :, :, None]).sum(axis=2)  # [B, O, 2]
    radio_j = (
        system.tx_power * radio_bits[..., 0] / uplink_mbps
        + system.bs_j_per_mbit * radio_bits[..., 1]
    ).sum(axis=1)
    transport_j = served_bits.reshape(B, O * K * 2) @ c.wired_j_per_mbit

    offered = np.add.reduce(demand.reshape(B, O * S), axis=1, dtype=np.float64)
    served_total = np.add.reduce(served.reshape(B, -1), axis=1, dtype=np.float64)
    return {
        "offered": offered,
        "served": served_total,
        "satisfied": np.add.reduce(satisfied.reshape(B, -1), axis=1, dtype=np.float64),
        "dropped": offered - served_total,
        "energy": {
            "idle": idle,
            "dynamic": dynamic,
            "instances": instances,
            "cold_start": cold_j,
            "radio": radio_j,
            "transport": transport_j,
        },
        "cold_starts": np.add.reduce(new.reshape(B, S * N), axis=1, dtype=np.float64),
        "instances": np.add.reduce(per_node, axis=1, dtype=np.float64),
        "utilisation": util,
        "awake": awake,
        "link_utilisation": link_util,
        "radio_utilisation": rho_radio.max(axis=-1),
        "rate_sn": rate_sn,
        "cold_sn": cold_sn,
        "per_mbit_s": per_mbit,
        "slot_s": tau,
        "_system": system,
        "_flow": flow,
        "_served": served,
        "_satisfied": satisfied,
    }


def _slack(c: _Constants, per_mbit: FloatArray, ft: type[np.floating]) -> FloatArray:
    """Time left for queueing and execution, ``[B, O, K, S]``: budget minus transfers."""
    p = per_mbit.astype(ft)
    return c.budget - p[..., 0:1] * c.input_s - p[..., 1:2] * c.output_s


def cold_wait_bounds(t_cold: FloatArray, tau: float) -> tuple[FloatArray, FloatArray]:
    """Range ``[lo, hi]`` of the uniform extra wait of a task that meets a cold start.

    A task arriving at ``u`` (uniform on the slot) before the instance is up at ``t_cold`` waits
    ``t_cold - u``.
    """
    return np.maximum(t_cold - tau, 0.0), t_cold


def _p_after_cold_start(
    rate: FloatArray, slack: FloatArray, t_cold: FloatArray, tau: float
) -> FloatArray:
    """P(extra + sojourn <= slack) with extra ~ U(lo, hi) and sojourn ~ Exp(rate).

    ``(1 / (hi - lo)) * integral_lo^m (1 - exp(-rate (slack - e))) de`` with
    ``m = min(hi, slack)``.
    """
    lo, hi = cold_wait_bounds(t_cold, tau)
    m = np.minimum(hi, slack)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        integral = (m - lo) - (np.exp(-rate * (slack - m)) - np.exp(-rate * (slack - lo))) / rate
        p = np.where((m > lo) & (rate > 0) & (hi > lo), integral / (hi - lo), 0.0)
    return np.clip(p, 0.0, 1.0)
