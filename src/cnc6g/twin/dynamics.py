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
- **Admission.** A radio cell direction or wired link direction offered utilisation ``rho`` above
  ``admission_utilisation`` (``rho_max``) admits the fraction ``rho_max / rho`` of the tasks that
  cross it; a flow's network admission is the product over its path. The tasks the network
  admits reach their node, which in turn admits up to ``rho_max`` of its capacity (an instance
  with a hard quota, up to ``rho_max`` of its quota). Admission is decided at ingress, so
  rejected tasks consume nothing; the radio and link loads are those offered by the routed
  flows. Shared links are processor-sharing: a transfer of ``d`` Mbit over a link of rate ``c``
  at utilisation ``rho`` takes ``d / (c (1 - rho))``.
- **Cold start.** An instance started this slot serves from ``t_cold`` on: the fraction
  ``min(t_cold / tau, 1)`` of its tasks (those that arrive before) waits for the rest of the
  start-up time.
- **Satisfaction.** A task is satisfied when admitted and its E2E latency (radio up + wired
  path + queueing and execution + wired and radio down, with the propagation and access delay
  paid both ways) is within its deadline. The probability
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
    cold_fraction: FloatArray | None  # [B, O, S, K] share meeting a cold start; None: no start
    cold_start_s: FloatArray  # [S] start-up time of an instance of each service
    slot_s: float

    @property
    def flow_cold_fraction(self) -> FloatArray:
        """Share of each flow's tasks that meet a cold start, ``[B, O, S, K]``."""
        if self.cold_fraction is None:
            return np.zeros_like(self.flow_rate)
        return self.cold_fraction

    @property
    def flow_cold_start_s(self) -> FloatArray:
        """Start-up time of the instance each flow goes to, ``[B, O, S, K]``."""
        return np.broadcast_to(self.cold_start_s[None, None, :, None], self.flow_rate.shape)

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


@dataclass(frozen=True, eq=False)
class _Constants:
    """Per-system arrays the slot arithmetic reuses, shaped for broadcasting."""

    remote: FloatArray  # [O, K] 1 where the candidate is reached over the radio
    remote_bool: BoolArray  # [O, K]
    input4: FloatArray  # [1, 1, S, 1]
    output4: FloatArray  # [1, 1, S, 1]
    deadline4: FloatArray  # [1, 1, S, 1]
    budget4: FloatArray  # [1, O, S, K] deadline minus round-trip propagation and access
    cold4: FloatArray  # [1, 1, S, 1]
    delay4: FloatArray  # [1, O, 1, K] round-trip propagation and access delay
    cold_fraction: FloatArray  # [1, S, 1] share of a new instance's tasks that wait
    inv_work3: FloatArray  # [1, S, 1]
    asleep_power: FloatArray  # [N] sleep power, 0 where the node cannot sleep
    dynamic_power: FloatArray  # [N] peak - idle
    io_mbit: FloatArray  # [2, S] input and output size


def _constants(system: System) -> _Constants:
    cached = system._cache.get("constants")
    if isinstance(cached, _Constants):
        return cached
    remote = ~system.candidate_local & system.candidate_valid
    ft = system.float_dtype
    c = _Constants(
        remote=remote.astype(float),
        remote_bool=remote,
        input4=system.input_mbit[None, None, :, None].astype(ft),
        output4=system.output_mbit[None, None, :, None].astype(ft),
        deadline4=system.deadline_s[None, None, :, None].astype(ft),
        budget4=(
            system.deadline_s[None, None, :, None]
            - 2.0 * system.candidate_delay_s[None, :, None, :]
        ).astype(ft),
        cold4=system.cold_start_s[None, None, :, None].astype(ft),
        delay4=(2.0 * system.candidate_delay_s[None, :, None, :]).astype(ft),
        cold_fraction=np.minimum(system.cold_start_s / system.slot_s, 1.0)[None, :, None],
        inv_work3=(1.0 / system.work)[None, :, None],
        asleep_power=np.nan_to_num(system.sleep_power),
        dynamic_power=system.peak_power - system.idle_power,
        io_mbit=np.stack([system.input_mbit, system.output_mbit]).astype(ft),
    )
    system._cache["constants"] = c
    return c


def clean_routing(routing: FloatArray) -> FloatArray:
    """Routing with negative shares set to 0 and rows summing above 1 scaled down to 1."""
    y = np.maximum(routing, 0.0)
    row = y.sum(axis=-1, keepdims=True)
    if row.max(initial=0.0) > 1.0:
        y /= np.maximum(row, 1.0)
    return y


def _hop_index(system: System, batch: int) -> IntArray:
    """Flat index into ``[B, 2, L + 1]`` of every hop of every path, for both directions."""
    key = f"hop_index_{batch}"
    cached = system._cache.get(key)
    if cached is None:
        row = np.arange(batch * 2).reshape(batch, 2, 1, 1) * (system.n_links + 1)
        cached = (row + system.path_links[None, None, :, :]).ravel()
        system._cache[key] = cached
    assert isinstance(cached, np.ndarray)
    return cached


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
            what is left of 1 is rejected. Shares must be >= 0 with rows summing to <= 1 (see
            :func:`clean_routing`); this hot path does not check.
        cpu_share: optional hard CPU quota of each instance as a fraction of its node,
            ``[B, S, N]``.

    Returns:
        The slot's outcome, see :class:`SlotOutcome`.
    """
    c = _constants(system)
    tau = system.slot_s
    rho_max = system.admission_utilisation
    B = demand.shape[0]
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    cand = system.candidates

    deployment = deployment.astype(bool, copy=False)
    new = deployment & ~previous.astype(bool, copy=False)
    per_node = deployment.sum(axis=1)  # [B, N]

    ft = system.float_dtype
    y = routing.astype(ft, copy=False)
    deployed = deployment[:, :, cand].transpose(0, 2, 1, 3)  # [B, O, S, K]
    flow = demand.astype(ft, copy=False)[..., None] * y
    flow_ok = flow * (deployed & system.admissible)

    # Traffic per (origin, candidate), Mbit per slot in each direction.
    bits = c.io_mbit @ flow_ok  # [B, O, 2, K]
    bits_in, bits_out = bits[:, :, 0, :], bits[:, :, 1, :]

    # Radio cells (only remote candidates use them).
    rho_up = (bits_in * c.remote).sum(axis=-1) / (uplink_mbps * tau)
    rho_dn = (bits_out * c.remote).sum(axis=-1) / (downlink_mbps * tau)
    radio_admit = (rho_max / np.maximum(rho_up, rho_max)) * (rho_max / np.maximum(rho_dn, rho_max))
    t_up = 1.0 / (uplink_mbps * (1.0 - np.minimum(rho_up, rho_max)))  # s per Mbit
    t_dn = 1.0 / (downlink_mbps * (1.0 - np.minimum(rho_dn, rho_max)))

    # Wired links: per-direction load, delay per Mbit and admission, gathered along each path.
    if system.n_links:
        L = system.n_links
        n_hops = system.path_links.shape[1]
        weights = np.broadcast_to(bits.transpose(0, 2, 1, 3)[..., None], (B, 2, O, K, n_hops))
        carried = np.bincount(
            _hop_index(system, B), weights=weights.ravel(), minlength=B * 2 * (L + 1)
        ).reshape(B, 2, L + 1)
        rho_l = carried[:, :, :L] / (system.link_capacity * tau)  # [B, 2, L]
        per_link = np.zeros((B, 4, L + 1))  # s per Mbit up, down; log admitted up, down
        per_link[:, :2, :L] = 1.0 / (system.link_capacity * (1.0 - np.minimum(rho_l, rho_max)))
        per_link[:, 2:, :L] = np.log(rho_max / np.maximum(rho_l, rho_max))
        along = per_link[:, :, system.path_links].sum(axis=-1).reshape(B, 4, O, K)
        per_in, per_out = along[:, 0], along[:, 1]
        net_admit = np.exp(along[:, 2] + along[:, 3])
        link_util = rho_l.max(axis=1)
    else:
        per_in = np.zeros((B, O, K))
        per_out = np.zeros((B, O, K))
        net_admit = np.ones((B, O, K))
        link_util = np.zeros((B, 0))
    per_in = (per_in + t_up[:, :, None] * c.remote).astype(ft, copy=False)
    per_out = (per_out + t_dn[:, :, None] * c.remote).astype(ft, copy=False)
    net_admit = net_admit * np.where(c.remote_bool, radio_admit[:, :, None], 1.0)  # [B, O, K]

    # Compute: the tasks the network admitted reach their node, which admits up to rho_max.
    reach = flow_ok * net_admit.astype(ft, copy=False)[:, :, None, :]
    arrivals = np.bincount(
        _flow_index(system, B), weights=reach.ravel(), minlength=B * S * N
    ).reshape(B, S, N)  # tasks per slot
    if cpu_share is None:
        # One processor-sharing server per node.
        load = (system.work @ arrivals) / tau  # gigacycles/s, [B, N]
        node_admit = rho_max / np.maximum(load / system.capacity, rho_max)
        admitted_load = node_admit * load
        rate_sn = (system.capacity - admitted_load)[:, None, :] * c.inv_work3
        node_admit_g = node_admit[:, cand]  # [B, O, K]
        served = reach * node_admit_g.astype(ft, copy=False)[:, :, None, :]
        path_admit = net_admit * node_admit_g
        served_in = bits_in * path_admit
        served_out = bits_out * path_admit
    else:
        # Hard quotas: each instance is its own M/M/1 queue admitting up to rho_max of it.
        quota = np.maximum(cpu_share, 0.0) * system.capacity  # gigacycles/s
        offered_work = arrivals * system.work[None, :, None] / tau
        with np.errstate(divide="ignore", invalid="ignore"):
            inst_admit = np.where(
                quota > 0, rho_max / np.maximum(offered_work / quota, rho_max), 0.0
            )
        admitted_load = (inst_admit * offered_work).sum(axis=1)
        rate_sn = np.maximum(quota * c.inv_work3 - inst_admit * arrivals / tau, 0.0)
        inst_g = inst_admit[:, :, cand].transpose(0, 2, 1, 3).astype(ft, copy=False)
        served = reach * inst_g
        served_in = np.einsum("bosk,s->bok", served, system.input_mbit)
        served_out = np.einsum("bosk,s->bok", served, system.output_mbit)
    rate_sn = (rate_sn * deployment).astype(ft, copy=False)
    flow_rate = rate_sn[:, :, cand].transpose(0, 2, 1, 3)  # [B, O, S, K]

    transfer = c.input4 * per_in[:, :, None, :]
    transfer += c.output4 * per_out[:, :, None, :]
    slack = c.budget4 - transfer  # time left for queueing and execution
    p_sat = np.maximum(slack, 0.0)
    p_sat *= flow_rate
    np.negative(p_sat, out=p_sat)
    np.expm1(p_sat, out=p_sat)
    np.negative(p_sat, out=p_sat)  # P(sojourn <= slack), 0 where slack <= 0
    cold = None
    if new.any():
        cold = (new * c.cold_fraction)[:, :, cand].transpose(0, 2, 1, 3).astype(ft)
        p_sat = (1.0 - cold) * p_sat + cold * _p_after_cold_start(flow_rate, slack, c.cold4, tau)
    satisfied = served * p_sat

    # Energy.
    awake = np.where(system.can_sleep, per_node > 0, True)
    util = admitted_load / system.capacity
    idle = tau * np.where(awake, system.idle_power, c.asleep_power).sum(axis=1)
    dynamic = tau * (awake * util) @ c.dynamic_power
    instances = tau * (system.instance_power @ deployment).sum(axis=1)
    cold_j = (system.instantiation_energy @ new).sum(axis=1)
    radio_j = (system.tx_power * (served_in * c.remote).sum(axis=-1) / uplink_mbps).sum(axis=1) + (
        system.bs_j_per_mbit * (served_out * c.remote).sum(axis=-1)
    ).sum(axis=1)
    transport_j = ((served_in + served_out) * system.candidate_j_per_mbit).sum(
        axis=(1, 2), dtype=np.float64
    )

    offered = demand.sum(axis=(1, 2), dtype=np.float64)
    served_total = served.sum(axis=(1, 2, 3), dtype=np.float64)
    return SlotOutcome(
        offered=offered,
        served=served_total,
        satisfied=satisfied.sum(axis=(1, 2, 3), dtype=np.float64),
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
        flow_network_s=transfer + c.delay4,
        flow_rate=flow_rate,
        cold_fraction=cold,
        cold_start_s=system.cold_start_s,
        slot_s=tau,
    )


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
