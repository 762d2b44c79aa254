"""The stateful twin: ``B`` independent copies of a system stepped slot by slot.

:class:`Twin` keeps the state between slots (running instances, demand ranking, the RNG) and
delegates each slot's arithmetic to :func:`~cnc6g.twin.dynamics.evaluate_slot`. Same system, same
seed and same batch size give the same trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.twin.dynamics import (
    SlotCache,
    SlotOutcome,
    clean_routing,
    clean_with_paths,
    evaluate_slot,
)
from cnc6g.twin.events import NodeFailure, TwinEvent, drop_failed
from cnc6g.twin.radio import RadioChannel
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System
from cnc6g.twin.workload import (
    DemandProcess,
    demand_process,
    initial_demand_state,
    sample_channel,
    sample_demand,
)


class Twin:
    """Time-slotted digital twin of a compiled scenario.

    Args:
        system: the compiled scenario.
        batch: number of independent copies stepped together.
        seed: seed of the twin's random generator (demand and channel).
    """

    _system: System  # set by reset, replaced by apply
    _failed: list[int]
    rng: np.random.Generator
    slot: int
    deployment: BoolArray
    utilisation: FloatArray
    demand: IntArray
    _last_satisfied: FloatArray | None  # [B, O, S] tasks satisfied in the last slot
    _last_demand: IntArray | None
    _radio: RadioChannel | None  # the geometry-based channel, where the scenario has one
    _radio_load: FloatArray | None  # [B, O] radio utilisation of the last slot
    _starting: FloatArray | None  # [B, S, N] start-up time left (twin.carry_over_start_up)
    _radio_delay: FloatArray | None  # [B, O] this slot's air-latency jitter
    _background_gcps: FloatArray | None  # [B, N] compute from outside the twin's services
    _background_mbps: FloatArray | None  # [B, O, 2] radio traffic from outside them
    _background_second: FloatArray | None  # [B, N] its sum lambda E[x^2] per device
    _cache: SlotCache  # what the slots computed from the deployment alone

    def __init__(self, system: System, batch: int = 1, seed: int | None = None) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self._initial = system
        self.batch = batch
        self.process: DemandProcess = demand_process(system)
        self.reset(seed)

    @property
    def system(self) -> System:
        """The system the twin runs now (its initial one less the nodes that failed)."""
        return self._system

    @property
    def failed(self) -> tuple[int, ...]:
        """Indices of the nodes that failed, in the order they did."""
        return tuple(self._failed)

    @property
    def radio(self) -> RadioChannel | None:
        """The geometry-based radio channel (its drop and per-user SINR); ``None`` without one."""
        return self._radio

    def apply(self, event: TwinEvent) -> System:
        """Apply ``event`` from the current slot on; the system the twin runs from now.

        Raises:
            ValueError: the event does not fit the system (an unknown node).
        """
        self._system = event.apply(self._system)
        if isinstance(event, NodeFailure):
            self._failed.append(self._system.node_names.index(event.node))
        if self._radio is not None:
            self._radio.set_bandwidth(self._system.uplink_mhz, self._system.downlink_mhz)
        return self._system

    def repair(self, decision: Decision) -> tuple[Decision, bool]:
        """``decision`` without what it puts on failed nodes, and whether it put anything there."""
        if not self._failed:
            return decision, False
        return drop_failed(self._system, decision, self._failed)

    def add_demand(self, extra: IntArray) -> None:
        """Add requests ``[B, O, S]`` to the current slot (the control plane's sessions)."""
        extra = np.asarray(extra, dtype=np.int64)
        if extra.shape != self.demand.shape or (extra < 0).any():
            raise ValueError(f"extra demand must be >= 0 with shape {self.demand.shape}")
        self.demand = self.demand + extra

    def set_background(
        self,
        node_gcps: FloatArray | None = None,
        uplink_mbps: FloatArray | None = None,
        downlink_mbps: FloatArray | None = None,
        node_second_s: FloatArray | None = None,
    ) -> None:
        """Load from outside the twin's services, from the next step on until set again.

        Work the nodes run and traffic the cells carry beside the twin's tasks (inference
        sessions sharing them, say): the twin's tasks get a higher utilisation and longer
        sojourns on those nodes and a lower rate in those cells, and the energy counts the
        background's dynamic power and downlink (see :mod:`cnc6g.twin.dynamics`). What a policy
        observes of it is the nodes' utilisation of the last slot. :meth:`reset` clears it.

        Args:
            node_gcps: gigacycles/s on each node, ``[N]`` or ``[B, N]`` (None: 0).
            uplink_mbps: uplink Mbit/s in each cell (origin), ``[O]`` or ``[B, O]`` (None: 0).
            downlink_mbps: downlink Mbit/s in each cell, ``[O]`` or ``[B, O]`` (None: 0).
            node_second_s: the background's ``sum lambda E[x^2]`` per device on each node, s,
                ``[N]`` or ``[B, N]``: its part of the M/G/1 wait (``twin.sojourn = "mg1"``;
                None: its tasks are taken to be like the twin's tasks there).

        Raises:
            ValueError: an argument of another shape, negative or not finite (named).
        """
        s = self.system
        gcps = _background("node_gcps", node_gcps, (self.batch, s.n_nodes))
        up = _background("uplink_mbps", uplink_mbps, (self.batch, s.n_origins))
        down = _background("downlink_mbps", downlink_mbps, (self.batch, s.n_origins))
        second = (
            None
            if node_second_s is None
            else _background("node_second_s", node_second_s, (self.batch, s.n_nodes))
        )
        # All zero is no background at all: the slot's arithmetic is then the plain one.
        self._background_gcps = gcps if gcps.any() else None
        self._background_second = second if self._background_gcps is not None else None
        self._background_mbps = np.stack([up, down], axis=-1) if up.any() or down.any() else None

    @property
    def background(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The background set now: node gigacycles/s ``[B, N]``, uplink and downlink ``[B, O]``."""
        s = self.system
        gcps = self._background_gcps
        radio = self._background_mbps
        nodes = np.zeros((self.batch, s.n_nodes)) if gcps is None else gcps.copy()
        if radio is None:
            return nodes, np.zeros((self.batch, s.n_origins)), np.zeros((self.batch, s.n_origins))
        return nodes, radio[..., 0].copy(), radio[..., 1].copy()

    def resume(self, slot: int, deployment: BoolArray, seed: int | None = None) -> None:
        """Go on from ``slot`` with ``deployment`` ``[B, S, N]`` running (a restarted loop).

        The random draws start afresh from ``seed``; the demand process (rankings, hotspot
        shifts) is at ``slot``.
        """
        s = self.system
        if deployment.shape != (self.batch, s.n_services, s.n_nodes):
            raise ValueError(f"deployment has shape {deployment.shape}")
        self.rng = np.random.default_rng(seed)
        self.slot = int(slot)
        self.deployment = np.asarray(deployment, dtype=bool).copy()
        self.utilisation = np.zeros((self.batch, s.n_nodes))
        self._last_satisfied = None
        self._last_demand = None
        self._starting = None
        self._cache = SlotCache()
        self._demand_state = initial_demand_state(self.process, self.batch)
        self._start_radio()
        self._draw()

    def reset(self, seed: int | None = None) -> None:
        """Start again from slot 0 with no instance running and no node failed."""
        self._system = s = self._initial
        self._failed = []
        self._background_gcps = None
        self._background_mbps = None
        self._background_second = None
        self.rng = np.random.default_rng(seed)
        self.slot = 0
        self.deployment = np.zeros((self.batch, s.n_services, s.n_nodes), dtype=bool)
        self.utilisation = np.zeros((self.batch, s.n_nodes))
        self._last_satisfied = None
        self._last_demand = None
        self._starting = None
        self._cache = SlotCache()
        self._demand_state = initial_demand_state(self.process, self.batch)
        self._start_radio()
        self._draw()

    def _start_radio(self) -> None:
        s = self.system
        self._radio = None if s.scenario.radio is None else RadioChannel(s, self.rng, self.batch)
        self._radio_load = None

    def _draw(self) -> None:
        self.demand = sample_demand(self.process, self._demand_state, self.slot, self.rng)
        if self._radio is None:
            self.uplink_mbps, self.downlink_mbps = sample_channel(self.system, self.rng, self.batch)
        else:
            self.uplink_mbps, self.downlink_mbps = self._radio.draw(self.rng, self._radio_load)
        self._radio_delay = None
        model = self.system.scenario.radio
        if model is not None and model.air_jitter_ms > 0:
            # A cell's one-way air delay this slot, never below zero in all.
            jitter = model.air_jitter_ms / 1e3 * self.rng.standard_normal(self.uplink_mbps.shape)
            self._radio_delay = np.maximum(jitter, -model.air_latency_ms / 1e3)

    @property
    def satisfied_share(self) -> FloatArray:
        """Share of each (origin, service) demand satisfied in the last slot, ``[B, O, S]``."""
        if self._last_satisfied is None or self._last_demand is None:
            s = self.system
            return np.ones((self.batch, s.n_origins, s.n_services))
        got = self._last_satisfied
        demand = self._last_demand
        share: FloatArray = np.divide(got, demand, out=np.ones_like(got), where=demand > 0)
        return share

    def observe(self, copy: int = 0) -> Observation:
        """What a policy sees for copy ``copy`` before deciding the current slot."""

        def ro(a: np.ndarray) -> np.ndarray:
            out = np.array(a[copy])
            out.flags.writeable = False
            return out

        return Observation(
            slot=self.slot,
            demand=ro(self.demand),
            uplink_mbps=ro(self.uplink_mbps),
            downlink_mbps=ro(self.downlink_mbps),
            deployment=ro(self.deployment),
            utilisation=ro(self.utilisation),
            satisfied_share=ro(self.satisfied_share),
        )

    def step(self, decisions: Decision | Sequence[Decision]) -> SlotOutcome:
        """Apply one decision per copy (or one for all) to the current slot and advance."""
        if isinstance(decisions, Decision):
            decisions = [decisions] * self.batch
        if len(decisions) != self.batch:
            raise ValueError(f"need {self.batch} decisions, got {len(decisions)}")
        if len(decisions) == 1:  # views, no copies: the slot arithmetic does not write to them
            deployment = np.asarray(decisions[0].deployment, dtype=bool)[None]
            routing = np.asarray(decisions[0].routing, dtype=float)[None]
        else:
            deployment = np.stack([np.asarray(d.deployment, dtype=bool) for d in decisions])
            routing = np.stack([np.asarray(d.routing, dtype=float) for d in decisions])
        shares = [d.cpu_share for d in decisions]
        given = [c is not None for c in shares]
        if any(given) and not all(given):
            raise ValueError("give cpu_share in every decision of a batch or in none")
        cpu_share = np.stack([np.asarray(c, float) for c in shares]) if all(given) else None
        paths, path_shares = stack_paths(self.system, decisions)
        return self.step_arrays(
            deployment, routing, cpu_share, paths=paths, path_shares=path_shares
        )

    def step_arrays(
        self,
        deployment: BoolArray,
        routing: FloatArray,
        cpu_share: FloatArray | None = None,
        clean: bool = True,
        paths: IntArray | None = None,
        path_shares: FloatArray | None = None,
    ) -> SlotOutcome:
        """Batched form of :meth:`step`: ``deployment [B, S, N]``, ``routing [B, O, S, K]``.

        Negative shares count as 0 and routing rows summing above 1 are scaled down to 1; pass
        ``clean=False`` to skip that when the caller guarantees valid shares (learning loops).
        ``paths [B, O, S, P, Q]`` and ``path_shares [B, O, S, P]`` place the steps of services
        with ``place_steps`` (see :class:`~cnc6g.model.Decision`); their shares count in the
        rows' sums.
        """
        s = self.system
        want_d = (self.batch, s.n_services, s.n_nodes)
        want_r = (self.batch, s.n_origins, s.n_services, s.n_candidates)
        if deployment.shape != want_d:
            raise ValueError(f"deployment has shape {deployment.shape}, expected {want_d}")
        if routing.shape != want_r:
            raise ValueError(f"routing has shape {routing.shape}, expected {want_r}")
        if cpu_share is not None and cpu_share.shape != want_d:
            raise ValueError(f"cpu_share has shape {cpu_share.shape}, expected {want_d}")
        if (paths is None) != (path_shares is None):
            raise ValueError("give paths and path_shares together")
        if paths is not None and path_shares is not None:
            if paths.shape[:4] != path_shares.shape or path_shares.shape[:3] != want_r[:3]:
                raise ValueError(
                    f"paths {paths.shape} and path_shares {path_shares.shape} must be "
                    f"[B, O, S, P, Q] and [B, O, S, P] with B, O, S = {want_r[:3]}"
                )
            if clean:
                routing, path_shares = clean_with_paths(routing, path_shares)
                clean = False
        outcome = evaluate_slot(
            s,
            self.demand,
            self.uplink_mbps,
            self.downlink_mbps,
            deployment,
            self.deployment,
            clean_routing(routing) if clean else routing,
            cpu_share,
            self._starting,
            self._radio_delay,
            paths,
            path_shares,
            self._background_gcps,
            self._background_mbps,
            self._background_second,
            cache=self._cache,
        )
        self.deployment = deployment.astype(bool, copy=True)
        if s.scenario.twin.carry_over_start_up:
            self._starting = outcome.start_left_sn
        self.utilisation = outcome.utilisation
        self._last_satisfied = outcome.satisfied_by_demand
        self._last_demand = self.demand
        self._radio_load = (
            outcome.radio_utilisation
            if outcome.cell_utilisation is None
            else outcome.cell_utilisation
        )
        self.slot += 1
        self._draw()
        return outcome


def _background(name: str, value: FloatArray | None, shape: tuple[int, int]) -> FloatArray:
    """``value`` ``[n]`` or ``[B, n]`` as a ``[B, n]`` float array (zeros for None), checked."""
    if value is None:
        return np.zeros(shape)
    a = np.asarray(value, dtype=float)
    if a.shape not in (shape[1:], shape):
        raise ValueError(f"{name} must have shape {shape[1:]} or {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise ValueError(f"{name} must be finite and >= 0")
    return np.array(np.broadcast_to(a, shape))


def stack_paths(
    system: System, decisions: Sequence[Decision]
) -> tuple[IntArray | None, FloatArray | None]:
    """The decisions' paths and shares as ``[B, O, S, P, Q]`` and ``[B, O, S, P]`` (None: none).

    Decisions with fewer paths (or none) are padded with paths of share 0.
    """
    given = [
        (d.paths, d.path_shares)
        for d in decisions
        if d.paths is not None and d.path_shares is not None
    ]
    if not given:
        return None, None
    O, S = system.n_origins, system.n_services
    P = max(np.shape(w)[-1] for _, w in given)
    Q = max(np.shape(p)[-1] for p, _ in given)
    paths = np.full((len(decisions), O, S, P, Q), -1, dtype=np.int64)
    shares = np.zeros((len(decisions), O, S, P))
    for i, d in enumerate(decisions):
        if d.paths is None or d.path_shares is None:
            continue
        p = np.asarray(d.paths, dtype=np.int64)
        w = np.asarray(d.path_shares, dtype=float)
        if p.ndim != 4 or p.shape[:2] != (O, S) or w.shape != p.shape[:3]:
            raise ValueError(
                f"paths {p.shape} and path_shares {w.shape} must be [O, S, P, Q] and [O, S, P] "
                f"with O, S = {(O, S)}"
            )
        paths[i, :, :, : p.shape[2], : p.shape[3]] = p
        shares[i, :, :, : w.shape[2]] = w
    return paths, shares
