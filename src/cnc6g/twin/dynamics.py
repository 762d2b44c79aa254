"""One slot of the twin: the fluid (mean-value) model of latency, admission and energy.

Everything here is pure array arithmetic over a leading batch dimension ``B`` (independent copies
of the system), origins ``O``, services ``S``, candidate nodes ``K`` and nodes ``N``.

The model, per slot of length ``tau``:

- **Compute.** By default a node is one processor-sharing server for the tasks of all its
  instances (work-conserving CPU shares, as Linux CFS gives containers): a task of ``w``
  gigacycles on a node of capacity ``C`` at admitted utilisation ``rho`` stays ``w / (C (1 - rho))``
  on average (M/G/1-PS, insensitive to the work distribution). Its sojourn is drawn as
  exponential with that mean, ``rate = C (1 - rho) / w``. A policy may instead give instances
  hard CPU quotas (``cpu_share``); each instance is then its own M/M/1 queue,
  ``rate = share * C / w - arrivals``, exact for exponential work.
- **Admission.** A node, radio cell direction or wired link direction offered utilisation
  ``rho`` above ``admission_utilisation`` (``rho_max``) admits the fraction ``rho_max / rho`` of
  the tasks that cross it and drops the rest; a flow's admitted fraction is the product over the
  resources on its path. Shared links are processor-sharing: a transfer of ``d`` Mbit over a link
  of rate ``c`` at utilisation ``rho`` takes ``d / (c (1 - rho))``.
- **Cold start.** An instance started this slot serves from ``t_cold`` on: the fraction
  ``min(t_cold / tau, 1)`` of its tasks (those that arrive before) waits for the rest of the
  start-up time.
- **Satisfaction.** A task is satisfied when admitted and its E2E latency (radio up + wired
  path + queueing and execution + wired and radio down) is within its deadline. The probability
  is exact for the model above (exponential sojourn, uniform arrival within the slot).
- **Energy (J per slot).** Awake nodes ``tau (P_idle + (P_peak - P_idle) rho)``; sleeping nodes
  ``tau P_sleep``; instances ``tau p_inst``; cold starts ``e_dep``; radio: terminals' transmit
  power times air time plus the base station's energy per bit on the downlink; wired: energy per
  bit on every link and node access on the path. Dropped tasks consume nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System

ENERGY_PARTS = ("idle", "dynamic", "instances", "cold_start", "radio", "transport")


@dataclass(frozen=True, eq=False)
class SlotOutcome:
    """What one slot did, for each of ``B`` copies. Counts are expected numbers of tasks."""

    offered: FloatArray  # [B] requests that arrived
    served: FloatArray  # [B] admitted and executed
    satisfied: FloatArray  # [B] served within the deadline
    dropped: FloatArray  # [B] not served: rejected, no instance, or over capacity
    energy: dict[str, FloatArray]  # part -> [B] joules, parts in ENERGY_PARTS
    cold_starts: FloatArray  # [B] instances started
    instances: FloatArray  # [B] instances running
    utilisation: FloatArray  # [B, N] admitted compute load / capacity
    awake: BoolArray  # [B, N]
    link_utilisation: FloatArray  # [B, L] max over the two directions, offered
    radio_utilisation: FloatArray  # [B, O] max over uplink and downlink, offered
    # per flow (origin, service, candidate) [B, O, S, K]
    flow_requests: FloatArray
    flow_served: FloatArray
    flow_satisfied: FloatArray
    flow_network_s: FloatArray  # deterministic part of the latency
    flow_rate: FloatArray  # rate of the exponential sojourn, 1/s (0 where unusable)
    flow_cold_fraction: FloatArray  # share of the flow's tasks that meet a cold start
    flow_cold_start_s: FloatArray  # start-up time of the instance the flow goes to
    slot_s: float

    @property
    def energy_total(self) -> FloatArray:
        """Total energy per copy, J, ``[B]``."""
        return np.sum([self.energy[p] for p in ENERGY_PARTS], axis=0)

    @property
    def late(self) -> FloatArray:
        """Tasks served after their deadline, ``[B]``."""
        return self.served - self.satisfied

    @property
    def flow_latency_mean_s(self) -> FloatArray:
        """Mean E2E latency of each flow's served tasks, s, ``[B, O, S, K]`` (inf if unusable)."""
        with np.errstate(divide="ignore"):
            queue = np.where(self.flow_rate > 0, 1.0 / np.maximum(self.flow_rate, 1e-300), np.inf)
        lo, hi = cold_wait_bounds(self.flow_cold_start_s, self.slot_s)
        cold = self.flow_cold_fraction * (lo + hi) / 2.0
        return self.flow_network_s + queue + cold

    def objective(self, penalty_j: float) -> FloatArray:
        """Scalarised objective: energy + ``penalty_j`` per unsatisfied task, J, ``[B]``."""
        return self.energy_total + penalty_j * (self.offered - self.satisfied)


def shannon_rate_mbps(mhz: FloatArray, snr_db: FloatArray) -> FloatArray:
    """Shannon rate ``B log2(1 + SNR)`` in Mbit/s for bandwidth in MHz and SNR in dB."""
    return mhz * np.log2(1.0 + 10.0 ** (snr_db / 10.0))


def _flow_index(system: System, batch: int) -> IntArray:
    """Flat index ``(b * S + s) * N + candidates[o, k]`` for every flow ``[B, O, S, K]``."""
    key = f"flow_index_{batch}"
    cached = system._cache.get(key)
    if cached is None:
        S, N = system.n_services, system.n_nodes
        b = np.arange(batch)[:, None, None, None]
        s = np.arange(S)[None, None, :, None]
        cand = system.candidates[None, :, None, :]
        cached = ((b * S + s) * N + cand).ravel()
        system._cache[key] = cached
    assert isinstance(cached, np.ndarray)
    return cached


def evaluate_slot(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    deployment: BoolArray,
    previous: BoolArray,
    routing: FloatArray,
    cpu_share: FloatArray | None = None,
) -> SlotOutcome:
    """Evaluate one slot for ``B`` copies.

    Args:
        system: the compiled scenario.
        demand: requests arriving this slot, ``[B, O, S]``.
        uplink_mbps: radio uplink rate of each origin this slot, ``[B, O]``.
        downlink_mbps: radio downlink rate, ``[B, O]``.
        deployment: instances running this slot, ``[B, S, N]``.
        previous: instances running the slot before, ``[B, S, N]`` (cold starts are the new ones).
        routing: share of each (origin, service) demand sent to each candidate, ``[B, O, S, K]``;
            what is left of 1 is rejected. Negative shares count as 0 and rows summing above 1
            are scaled down to 1.
        cpu_share: optional CPU quota of each instance as a fraction of its node, ``[B, S, N]``.

    Returns:
        The slot's outcome, see :class:`SlotOutcome`.
    """
    tau = system.slot_s
    rho_max = system.admission_utilisation
    B = demand.shape[0]
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    cand = system.candidates
    nonlocal_ = (~system.candidate_local & system.candidate_valid).astype(float)  # [O, K]

    deployment = deployment.astype(bool, copy=False)
    previous = previous.astype(bool, copy=False)
    new = deployment & ~previous
    per_node = deployment.sum(axis=1)  # [B, N]

    y = np.maximum(routing, 0.0)
    row = y.sum(axis=-1, keepdims=True)
    y = y / np.maximum(row, 1.0)
    usable = deployment[:, :, cand].transpose(0, 2, 1, 3) & system.admissible  # [B, O, S, K]
    flow = demand[..., None] * y
    flow_ok = flow * usable

    # Compute nodes.
    arrivals = np.bincount(
        _flow_index(system, B), weights=flow_ok.ravel(), minlength=B * S * N
    ).reshape(B, S, N)  # tasks per slot
    load = np.einsum("bsn,s->bn", arrivals, system.work) / tau  # gigacycles/s
    rho = load / system.capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        node_admit = np.where(rho > rho_max, rho_max / rho, 1.0)
    admitted_load = node_admit * load
    headroom = system.capacity - admitted_load
    if cpu_share is None:
        rate_sn = headroom[:, None, :] / system.work[None, :, None]
    else:
        quota = np.maximum(cpu_share, 0.0) * system.capacity
        rate_sn = quota / system.work[None, :, None] - node_admit[:, None, :] * arrivals / tau
    rate_sn = np.where(deployment, np.maximum(rate_sn, 0.0), 0.0)

    # Radio cells (only remote candidates use them).
    up_mbit = np.einsum("bosk,s,ok->bo", flow_ok, system.input_mbit, nonlocal_)
    dn_mbit = np.einsum("bosk,s,ok->bo", flow_ok, system.output_mbit, nonlocal_)
    rho_up = up_mbit / (uplink_mbps * tau)
    rho_dn = dn_mbit / (downlink_mbps * tau)
    radio_admit = _admit(rho_up, rho_max) * _admit(rho_dn, rho_max)  # [B, O]
    t_up = 1.0 / (uplink_mbps * (1.0 - np.minimum(rho_up, rho_max)))  # s per Mbit
    t_dn = 1.0 / (downlink_mbps * (1.0 - np.minimum(rho_dn, rho_max)))

    # Wired links.
    inc = system.link_incidence  # [L, O*K]
    if system.n_links:
        bits_in = np.einsum("bosk,s->bok", flow_ok, system.input_mbit).reshape(B, O * K)
        bits_out = np.einsum("bosk,s->bok", flow_ok, system.output_mbit).reshape(B, O * K)
        rho_l_up = (bits_in @ inc.T) / (system.link_capacity * tau)
        rho_l_dn = (bits_out @ inc.T) / (system.link_capacity * tau)
        inv_up = 1.0 / (system.link_capacity * (1.0 - np.minimum(rho_l_up, rho_max)))
        inv_dn = 1.0 / (system.link_capacity * (1.0 - np.minimum(rho_l_dn, rho_max)))
        g_up = (inv_up @ inc).reshape(B, O, K)
        g_dn = (inv_dn @ inc).reshape(B, O, K)
        log_admit = np.log(_admit(rho_l_up, rho_max) * _admit(rho_l_dn, rho_max))
        wired_admit = np.exp(log_admit @ inc).reshape(B, O, K)
        link_util = np.maximum(rho_l_up, rho_l_dn)
    else:
        g_up = g_dn = np.zeros((B, O, K))
        wired_admit = np.ones((B, O, K))
        link_util = np.zeros((B, 0))

    path_admit = (
        node_admit[:, cand] * np.where(nonlocal_ > 0, radio_admit[:, :, None], 1.0) * wired_admit
    )  # [B, O, K]
    flow_rate = rate_sn[:, :, cand].transpose(0, 2, 1, 3)  # [B, O, S, K]
    admitted = np.where(flow_rate > 0, path_admit[:, :, None, :], 0.0)
    served = flow_ok * admitted

    per_in = t_up[:, :, None] * nonlocal_ + g_up  # [B, O, K] s per Mbit sent
    per_out = t_dn[:, :, None] * nonlocal_ + g_dn
    network = (
        system.input_mbit[None, None, :, None] * per_in[:, :, None, :]
        + system.output_mbit[None, None, :, None] * per_out[:, :, None, :]
        + system.candidate_delay_s[None, :, None, :]
    )
    slack = system.deadline_s[None, None, :, None] - network
    with np.errstate(over="ignore", invalid="ignore"):
        p_warm = np.where(slack > 0, -np.expm1(-flow_rate * np.maximum(slack, 0.0)), 0.0)
    t_cold = system.cold_start_s[None, None, :, None]
    cold_sn = new * np.minimum(system.cold_start_s / tau, 1.0)[None, :, None]
    if new.any():
        cold = cold_sn[:, :, cand].transpose(0, 2, 1, 3)
        p_sat = (1.0 - cold) * p_warm + cold * _p_after_cold_start(flow_rate, slack, t_cold, tau)
    else:
        cold = np.zeros_like(flow_rate)
        p_sat = p_warm
    satisfied = served * p_sat

    # Energy.
    awake = np.where(system.can_sleep, per_node > 0, True)
    util = admitted_load / system.capacity
    idle = tau * np.where(awake, system.idle_power, np.nan_to_num(system.sleep_power)).sum(axis=1)
    dynamic = tau * (awake * (system.peak_power - system.idle_power) * util).sum(axis=1)
    instances = tau * np.einsum("bsn,s->b", deployment, system.instance_power)
    cold_j = np.einsum("bsn,s->b", new, system.instantiation_energy)
    served_up = np.einsum("bosk,s,ok->bo", served, system.input_mbit, nonlocal_)
    served_dn = np.einsum("bosk,s,ok->bo", served, system.output_mbit, nonlocal_)
    radio_j = (system.tx_power * served_up / uplink_mbps + system.bs_j_per_mbit * served_dn).sum(
        axis=1
    )
    served_bits = np.einsum("bosk,s->bok", served, system.input_mbit + system.output_mbit)
    transport_j = np.einsum("bok,ok->b", served_bits, system.candidate_j_per_mbit)

    offered = demand.sum(axis=(1, 2))
    served_total = served.sum(axis=(1, 2, 3))
    return SlotOutcome(
        offered=offered.astype(float),
        served=served_total,
        satisfied=satisfied.sum(axis=(1, 2, 3)),
        dropped=offered - served_total,
        energy={
            "idle": idle,
            "dynamic": dynamic,
            "instances": instances,
            "cold_start": cold_j,
            "radio": radio_j,
            "transport": transport_j,
        },
        cold_starts=new.sum(axis=(1, 2)).astype(float),
        instances=per_node.sum(axis=1).astype(float),
        utilisation=util,
        awake=awake,
        link_utilisation=link_util,
        radio_utilisation=np.maximum(rho_up, rho_dn),
        flow_requests=flow,
        flow_served=served,
        flow_satisfied=satisfied,
        flow_network_s=network,
        flow_rate=flow_rate,
        flow_cold_fraction=cold,
        flow_cold_start_s=np.broadcast_to(t_cold, flow_rate.shape),
        slot_s=tau,
    )


def _admit(rho: FloatArray, rho_max: float) -> FloatArray:
    """Admitted fraction of a resource offered utilisation ``rho``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rho > rho_max, rho_max / rho, 1.0)


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
