"""Inference sessions inside the twin, re-decided slot by slot from the twin's own radio and queues.

A population of inference sessions (one model, a terminal, edge and cloud processor each, a
deadline, a privacy domain, a state at the edge, a battery and a temperature) lives in the twin's
cells while a policy orchestrates the twin (:class:`~cnc6g.orchestration.loop.SlotLoop`). Every
slot each session's :class:`~cnc6g.ai.offload.SessionController` decides its split from a
:class:`~cnc6g.ai.offload.SlotContext` built from the twin of that slot:

- **Uplink and downlink.** The twin's rate of the session's cell this slot (the geometry-based
  channel where the scenario has radio geometry, the cell's sampled rate otherwise; a
  :class:`~cnc6g.twin.events.RadioDrop` scales it like the twin's own tasks'), times the
  session's own link quality (its user's spectral efficiency over the cell's harmonic mean, from
  the twin's per-user SINR; 1 without geometry), times the share of the air time left: a request
  is a processor-sharing job of the cell, whose mean throughput is the rate times ``1 - rho``,
  ``rho`` being the twin's radio utilisation of the cell in the last slot plus the share the
  sessions' streams take this slot, the rest never below :data:`MIN_AIR_SHARE` of the rate.
- **Queues.** The edge is the largest node of the cell's RAN domain, the cloud the largest
  transport node. Their queueing delay is the mean wait of the twin's own tasks there in the last
  slot: the twin's M/G/1 wait where the scenario uses it (``twin.sojourn = "mg1"``), else the
  M/M/1 wait ``rho / (1 - rho)`` times the mean service time of the services deployed there, at
  the node's measured utilisation (capped at 0.99); a node loaded beyond capacity under M/G/1
  waits :data:`SATURATED_WAIT_SLOTS` slots. Before the first slot is measured they are empty.
  The queue a request meets is that of its current cell's edge, also when its state stays at
  another cell's edge.
- **Links.** The air delay is the twin's one-way delay to the cell's edge; the edge-to-cloud delay
  the difference of the twin's delays to the cloud and to the edge; the wired rate the least
  capacity left (``capacity x (1 - utilisation)``) on the twin's path to the cloud; the detour to
  the anchor cell's edge the difference of the twin's delays to the two edges.
- **Mobility.** After each slot a session moves to a neighbouring cell (the cells' sites on the
  radio layout's hexagonal grid) with probability ``speed x slot / inter-site distance``; its
  state may then migrate (the controller weighs the transfer against the detour of the requests
  left).
- **Device.** The terminal energy of the slot's requests drains the battery; the temperature
  relaxes towards ``ambient + thermal resistance x power`` (first order), so a busy phone heats,
  throttles and the controller turns to saving energy.
- **Modal streams.** Each session may carry streams (:mod:`cnc6g.ai.modal`, e.g. control, audio,
  video); a cell's streams share the air time the twin's tasks leave, by priority
  (:func:`~cnc6g.ai.modal.allocate`), and what ``best_effort`` would have given them is recorded
  beside it.

- **Coupling.** By default the coupling goes both ways: each slot, once the sessions have
  decided, their load goes into the twin as background (:meth:`~cnc6g.twin.Twin.set_background`)
  for the slot the twin then steps, so the twin's tasks and the sessions share the nodes and
  cells. A node's background is the sessions' busy device-seconds per second there (requests
  per second times the run time of their blocks on the edge or cloud processor, a request's
  edge blocks running at the edge that holds its state) times one device's capacity; a cell's
  uplink is the streams' rate plus each offloading session's requests times the bits of its
  cut, its downlink their results. The sessions then meet, in the next slot, the queues their
  own load made. The background the twin gets is an exponential moving average of the slots'
  loads (``smoothing``, the weight of the newest; 1: none), which keeps a crowd of sessions
  from swinging between all offloading and all local in alternate slots. With
  ``coupling=False`` the coupling is one way, as first built: the sessions' work and traffic
  are not added to the twin, whose tasks do not slow down because of them.

The sessions compete with each other through their streams and, coupled, through the twin's
queues of the slot before: a request's own upload is not counted in the air time the sessions
see (counted from the slot before, it made every session of a cell split and fall back in
turn, slot after slot); the twin's radio utilisation they read is its own tasks' only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from cnc6g.ai.modal import Stream, allocate, best_effort
from cnc6g.ai.offload import PRIVACY, DeviceState, Privacy, SessionController, SlotContext
from cnc6g.ai.processors import block_costs, processor
from cnc6g.ai.profiles import ModelProfile, load_profile
from cnc6g.ai.split import Network, evaluate_cuts
from cnc6g.model import DomainKind, Scenario
from cnc6g.orchestration.loop import SlotLoop
from cnc6g.policies.base import Policy
from cnc6g.twin import SlotOutcome, Twin, compile_scenario
from cnc6g.twin.events import RadioDrop
from cnc6g.twin.radio import hex_sites, spectral_efficiency
from cnc6g.twin.system import FloatArray, IntArray, System

BoolArray = npt.NDArray[np.bool_]

MIN_AIR_SHARE = 0.05
"""Share of a cell's rate a request still gets when the cell is loaded beyond capacity."""
DROP_FACTOR = 0.1
"""The uplink drop of the experiment: ten times less bandwidth."""
DEFAULT_ISD_M = 500.0
"""Inter-site distance of the mobility grid when the scenario has no radio geometry."""
DEFAULT_NETWORK = Network()
"""Wired rate and delay to the cloud where the twin has no path to it."""
SATURATED_WAIT_SLOTS = 10.0
"""Queueing delay, in slots, of a node the twin's tasks load beyond capacity."""
SMOOTHING = 0.25
"""Weight of the newest slot in the background the sessions put on the twin (coupled)."""

XR_STREAMS: tuple[Stream, ...] = (
    Stream("control", rate_mbps=0.1, frame_mbit=0.002, budget_s=0.01, priority=0),
    Stream("audio", rate_mbps=0.064, frame_mbit=0.00128, budget_s=0.02, priority=1),
    Stream("video", rate_mbps=2.0, frame_mbit=0.067, budget_s=0.05, priority=2),
)
"""Streams of an interactive session: control, speech (Opus 64 kbit/s in 20 ms frames), 720p
video at 2 Mbit/s and 30 frames/s (assumptions)."""
STREAM_MIXES: dict[str, tuple[Stream, ...]] = {"xr": XR_STREAMS, "none": ()}
"""Stream mixes a session can carry, by name."""


@dataclass(frozen=True)
class SessionConfig:
    """What every session of the population is (the draws vary battery, heat and cell).

    Attributes:
        model: profile name (:func:`cnc6g.ai.profiles.load_profile`).
        sessions: how many.
        terminal: processor of the terminals.
        edge: processor of the RAN edge.
        cloud: processor of the cloud.
        deadline_s: latency target of one request.
        privacy: ``device``, ``operator`` or ``any`` (:mod:`cnc6g.ai.offload`).
        requests_per_s: requests of one session per second.
        state_bytes: the session's state at the edge; ``None``: the KV cache of
            ``context_tokens`` tokens (nothing for a model without one).
        context_tokens: the context a session keeps at the edge, tokens.
        speed_kmh: terminal speed of the mobility model.
        streams: the modal streams each session sends besides its requests.
        battery_wh: battery capacity.
        ambient_c: ambient temperature.
        thermal_c_per_w: steady-state heating per watt drawn (an assumption for phones).
        thermal_tau_s: time constant of the heating.
    """

    model: str = "whisper-base"
    sessions: int = 200
    terminal: str = "sd8g3-cpu"
    edge: str = "l4"
    cloud: str = "a100"
    deadline_s: float = 0.3
    privacy: Privacy = "any"
    requests_per_s: float = 0.5
    state_bytes: float | None = None
    context_tokens: int = 64
    speed_kmh: float = 30.0
    streams: tuple[Stream, ...] = XR_STREAMS
    battery_wh: float = 15.0
    ambient_c: float = 28.0
    thermal_c_per_w: float = 8.0
    thermal_tau_s: float = 120.0

    def check(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.sessions < 1:
            raise ValueError(f"sessions must be >= 1, got {self.sessions}")
        if not self.deadline_s > 0:
            raise ValueError(f"deadline_s must be > 0, got {self.deadline_s}")
        if self.privacy not in PRIVACY:
            raise ValueError(f"privacy must be one of {PRIVACY}, not {self.privacy!r}")
        if not self.requests_per_s > 0:
            raise ValueError(f"requests_per_s must be > 0, got {self.requests_per_s}")
        if not self.speed_kmh >= 0:
            raise ValueError(f"speed_kmh must be >= 0, got {self.speed_kmh}")
        if self.context_tokens < 0:
            raise ValueError(f"context_tokens must be >= 0, got {self.context_tokens}")
        if self.state_bytes is not None and not self.state_bytes >= 0:
            raise ValueError(f"state_bytes must be >= 0, got {self.state_bytes}")


@dataclass(frozen=True)
class SessionRun:
    """Per-slot, per-session record of a run (arrays ``[T, N]`` unless said otherwise).

    Attributes:
        scenario: scenario name.
        policy: the policy orchestrating the twin.
        config: what the sessions are.
        seed: seed of the twin, the policy and the sessions' draws.
        slot_s: slot length, s.
        origin_names: the cells (terminal domains).
        drop_at: slot of the uplink drop (``None``: none).
        drop_cell: index of the cell whose uplink drops.
        cell: cell of each session.
        anchor: cell whose edge holds each session's state after the slot.
        cut_a: blocks on the terminal (the first cut).
        cut_b: blocks on terminal and edge (the second cut).
        n_blocks: blocks of the model.
        migrated: the state moved this slot.
        latency_s: latency of a request.
        meets: within the deadline.
        energy_j: terminal energy of the slot's requests.
        uplink_mbps: the rate the session's requests got.
        cell_uplink_mbps: ``[T, O]`` the twin's uplink rate of each cell.
        battery: charge left after the slot.
        temperature_c: temperature after the slot.
        stream_names: names of the streams ``[M]``.
        stream_met: ``[T, N, M]`` each stream within its budget, shared by priority.
        stream_met_best_effort: ``[T, N, M]`` the same under equal shares.
        coupled: the sessions' load went into the twin (see the module).
        twin_offered: ``[T]`` the twin's tasks that arrived each slot.
        twin_satisfied: ``[T]`` those served within their deadline.
        twin_energy_j: ``[T]`` the twin's energy (with the sessions' compute and downlink when
            coupled).
        background_gcps: ``[T, nodes]`` the compute the sessions put on each node of the twin
            (0 when not coupled).
    """

    scenario: str
    policy: str
    config: SessionConfig
    seed: int
    slot_s: float
    origin_names: tuple[str, ...]
    drop_at: int | None
    drop_cell: int | None
    cell: IntArray
    anchor: IntArray
    cut_a: IntArray
    cut_b: IntArray
    n_blocks: int
    migrated: BoolArray
    latency_s: FloatArray
    meets: BoolArray
    energy_j: FloatArray
    uplink_mbps: FloatArray
    cell_uplink_mbps: FloatArray
    battery: FloatArray
    temperature_c: FloatArray
    stream_names: tuple[str, ...] = ()
    stream_met: BoolArray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))
    stream_met_best_effort: BoolArray = field(
        default_factory=lambda: np.zeros((0, 0, 0), dtype=bool)
    )
    coupled: bool = False
    twin_offered: FloatArray = field(default_factory=lambda: np.zeros(0))
    twin_satisfied: FloatArray = field(default_factory=lambda: np.zeros(0))
    twin_energy_j: FloatArray = field(default_factory=lambda: np.zeros(0))
    background_gcps: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def local(self) -> BoolArray:
        """Everything on the terminal."""
        out: BoolArray = self.cut_a == self.n_blocks
        return out

    @property
    def offloaded(self) -> BoolArray:
        """Nothing on the terminal."""
        out: BoolArray = self.cut_a == 0
        return out

    @property
    def changed(self) -> BoolArray:
        """The plan differs from the session's plan of the slot before (False in slot 0)."""
        out = np.zeros(self.cut_a.shape, dtype=bool)
        out[1:] = (self.cut_a[1:] != self.cut_a[:-1]) | (self.cut_b[1:] != self.cut_b[:-1])
        return out

    @property
    def fallback(self) -> BoolArray:
        """The session used the network the slot before and runs everything locally now."""
        out = np.zeros(self.cut_a.shape, dtype=bool)
        out[1:] = ~self.local[:-1] & self.local[1:]
        return out

    @property
    def resplit(self) -> BoolArray:
        """The plan changed to another one that still uses the network."""
        out: BoolArray = self.changed & ~self.local
        return out

    @property
    def handover(self) -> BoolArray:
        """The session is in another cell than the slot before."""
        out = np.zeros(self.cell.shape, dtype=bool)
        out[1:] = self.cell[1:] != self.cell[:-1]
        return out


def _kv_state_bytes(profile: ModelProfile, tokens: int) -> float:
    """The KV cache of a ``tokens``-token context (0 for a model without one)."""
    return float(np.asarray(profile.kv_bytes_per_token, dtype=float).sum()) * tokens


@dataclass(frozen=True)
class _Cells:
    """What the sessions read of the twin's topology, per cell (origin)."""

    edge: IntArray  # [O] node of the cell's edge
    cloud: int  # the cloud node
    edge_k: IntArray  # [O, O] candidate index of cell j's edge seen from cell i (-1: none)
    cloud_k: IntArray  # [O] candidate index of the cloud
    neighbours: list[IntArray]  # cells a terminal can move to from each cell


def _cells(system: System) -> _Cells:
    kinds = system.node_domain_kind
    O = system.n_origins
    edge = np.zeros(O, dtype=np.int64)
    for o in range(O):
        nodes = np.flatnonzero(system.node_domain == system.origin_ran[o])
        if nodes.size == 0:
            raise ValueError(f"cell {system.origin_names[o]!r} has no RAN node")
        edge[o] = nodes[np.argmax(system.capacity[nodes])]
    transport = np.array([k is DomainKind.TRANSPORT for k in kinds])
    if not transport.any():
        raise ValueError(f"scenario {system.scenario.name!r} has no transport (cloud) node")
    cloud_nodes = np.flatnonzero(transport)
    cloud = int(cloud_nodes[np.argmax(system.capacity[cloud_nodes])])

    def index(o: int, node: int) -> int:
        hit = np.flatnonzero(system.candidate_valid[o] & (system.candidates[o] == node))
        return int(hit[0]) if hit.size else -1

    edge_k = np.array([[index(i, int(edge[j])) for j in range(O)] for i in range(O)])
    cloud_k = np.array([index(o, cloud) for o in range(O)])
    if (np.diagonal(edge_k) < 0).any():
        raise ValueError("every cell's own edge must be one of its candidates")
    _, site = np.unique(system.origin_ran, return_inverse=True)
    radio = system.scenario.radio
    isd = radio.isd_m if radio is not None else DEFAULT_ISD_M
    xy = hex_sites(int(site.max()) + 1, isd)[site]
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    near = (dist <= 1.01 * isd) & ~np.eye(O, dtype=bool)
    return _Cells(edge, cloud, edge_k, cloud_k, [np.flatnonzero(row) for row in near])


def _queue_s(system: System, outcome: SlotOutcome | None, node: int, own_s: float = 0.0) -> float:
    """Mean wait of a request at ``node`` in the last slot (see the module).

    ``own_s``: the sessions' own ``sum lambda x^2`` per device there (coupled), added to the
    M/M/1 estimate as in Pollaczek-Khinchine; the twin's M/G/1 wait has it already (the
    sessions give it to the twin with their load).
    """
    if outcome is None:
        return 0.0
    if outcome.wait_n is not None:
        w = float(outcome.wait_n[0, node])
        return w if np.isfinite(w) else SATURATED_WAIT_SLOTS * system.slot_s
    rho = min(float(outcome.utilisation[0, node]), 0.99)
    own = own_s / (2.0 * (1.0 - rho))
    hosted = np.flatnonzero(outcome.rate_sn[0, :, node] > 0)
    if hosted.size == 0 or rho <= 0:
        return own
    service_s = system.work[hosted] / (system.capacity[node] / system.devices[node])
    return float(rho / (1.0 - rho) * service_s.mean()) + own


def run_sessions(
    scenario: Scenario,
    policy: Policy,
    config: SessionConfig,
    slots: int,
    seed: int = 0,
    drop_at: int | None = None,
    drop_cell: str | None = None,
    on_slot: Callable[[int], None] | None = None,
    coupling: bool = True,
    smoothing: float = SMOOTHING,
) -> SessionRun:
    """Run ``config``'s sessions for ``slots`` slots in the twin of ``scenario`` under ``policy``.

    Args:
        scenario: the scenario.
        policy: orchestrates the twin (reset with ``seed``).
        config: the sessions.
        slots: slots to run.
        seed: seed of the twin, the policy and the sessions' draws.
        drop_at: slot from which the uplink of ``drop_cell`` is ten times lower (a
            :class:`~cnc6g.twin.events.RadioDrop` of the twin, applied at the start of the slot;
            the twin draws a slot's channel at the end of the one before, so its rates, and the
            sessions', carry the drop from slot ``drop_at + 1``).
        drop_cell: the terminal domain whose uplink drops (default: the first).
        on_slot: called with each slot's index when it is done.
        coupling: put the sessions' compute and radio load into the twin (see the module);
            False: the one-way run.
        smoothing: weight of the newest slot in the background's moving average, in (0, 1].

    Raises:
        ValueError: a bad setting, named.
    """
    config.check()
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    if not 0.0 < smoothing <= 1.0:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
    system = compile_scenario(scenario)
    O = system.n_origins
    drop_index: int | None = None
    events = []
    if drop_at is not None:
        if not 0 <= drop_at < slots:
            raise ValueError(f"drop_at must be in 0..{slots - 1}, got {drop_at}")
        name = drop_cell if drop_cell is not None else system.origin_names[0]
        if name not in system.origin_names:
            raise ValueError(
                f"unknown drop cell {name!r}: use one of {', '.join(system.origin_names)}"
            )
        drop_index = system.origin_names.index(name)
        events.append((drop_at, RadioDrop((name,), DROP_FACTOR)))
    elif drop_cell is not None:
        raise ValueError("a drop cell needs drop_at")

    profile = load_profile(config.model)
    tiers = (processor(config.terminal), processor(config.edge), processor(config.cloud))
    state = (
        _kv_state_bytes(profile, config.context_tokens)
        if config.state_bytes is None
        else config.state_bytes
    )
    cells = _cells(system)
    twin = Twin(system, seed=seed)
    loop = SlotLoop(twin, policy, seed, events=events)
    rng = np.random.default_rng([seed, 22])
    N, T, n = config.sessions, slots, profile.n
    controllers = [
        SessionController(profile, tiers, config.deadline_s, config.privacy, state)
        for _ in range(N)
    ]
    cell = rng.integers(0, O, size=N)
    radio = twin.radio
    users = 1 if radio is None else radio.layout.model.users_per_cell
    user = rng.integers(0, users, size=N)  # the radio user whose link the session has
    battery = rng.uniform(0.15, 1.0, size=N)
    temperature = rng.uniform(config.ambient_c, config.ambient_c + 14.0, size=N)
    isd = DEFAULT_ISD_M if system.scenario.radio is None else system.scenario.radio.isd_m
    p_move = min(1.0, config.speed_kmh / 3.6 * system.slot_s / isd)
    streams = list(config.streams)
    M = len(streams)
    requests = config.requests_per_s * system.slot_s
    load = _SessionLoad.of(profile, tiers)
    background: _Background | None = None  # the sessions' load on the twin, a moving average

    rec: dict[str, Any] = {
        "cell": np.zeros((T, N), dtype=np.int64),
        "anchor": np.zeros((T, N), dtype=np.int64),
        "cut_a": np.zeros((T, N), dtype=np.int64),
        "cut_b": np.zeros((T, N), dtype=np.int64),
        "migrated": np.zeros((T, N), dtype=bool),
        "latency_s": np.zeros((T, N)),
        "meets": np.zeros((T, N), dtype=bool),
        "energy_j": np.zeros((T, N)),
        "uplink_mbps": np.zeros((T, N)),
        "cell_uplink_mbps": np.zeros((T, O)),
        "battery": np.zeros((T, N)),
        "temperature_c": np.zeros((T, N)),
        "stream_met": np.zeros((T, N, M), dtype=bool),
        "stream_met_best_effort": np.zeros((T, N, M), dtype=bool),
        "twin_offered": np.zeros(T),
        "twin_satisfied": np.zeros(T),
        "twin_energy_j": np.zeros(T),
        "background_gcps": np.zeros((T, system.n_nodes)),
    }
    last: SlotOutcome | None = None
    for t in range(T):
        obs = loop.observe()  # applies the events due now
        sys_now = twin.system
        cell_up = np.asarray(twin.uplink_mbps[0], dtype=float)
        cell_dn = np.asarray(twin.downlink_mbps[0], dtype=float)
        quality_up, quality_dn = _link_quality(twin, cell, user)
        radio_rho = np.zeros(O) if last is None else np.asarray(last.radio_utilisation[0])
        link_left = (
            sys_now.link_capacity
            if last is None
            else sys_now.link_capacity * np.clip(1.0 - last.link_utilisation[0], 0.01, 1.0)
        )
        own = np.zeros(sys_now.n_nodes) if background is None else background.node_second_s
        edge_q = np.array([_queue_s(sys_now, last, int(e), float(own[e])) for e in cells.edge])
        cloud_q = _queue_s(sys_now, last, cells.cloud, float(own[cells.cloud]))
        # The streams of each cell share the air time the twin's tasks leave.
        stream_rate = np.zeros(O)
        for o in range(O):
            members = np.flatnonzero(cell == o)
            if M == 0 or members.size == 0:
                continue
            capacity = cell_up[o] * max(1.0 - radio_rho[o], MIN_AIR_SHARE)
            flat = streams * members.size
            got = allocate(flat, capacity)
            fair = best_effort(flat, capacity)
            rec["stream_met"][t, members] = got.met.reshape(members.size, M)
            rec["stream_met_best_effort"][t, members] = fair.met.reshape(members.size, M)
            stream_rate[o] = float(got.rate_mbps.sum())
        # Coupled, the cell's requests of the slots before (their moving average) take air too.
        sent = stream_rate if background is None else stream_rate + background.request_uplink_mbps
        air = np.maximum(1.0 - radio_rho - sent / cell_up, MIN_AIR_SHARE)
        remaining = max(1, round(requests * (T - t)))
        # Per cell: the delay to its own edge, the wired delay and capacity on to the cloud.
        delay = sys_now.candidate_delay_s
        base = [float(delay[o, cells.edge_k[o, o]]) for o in range(O)]
        wired_delay = [
            DEFAULT_NETWORK.wired_delay_s
            if cells.cloud_k[o] < 0
            else max(float(delay[o, cells.cloud_k[o]]) - base[o], 0.0)
            for o in range(O)
        ]
        wired = [_path_capacity(sys_now, link_left, o, int(cells.cloud_k[o])) for o in range(O)]
        for i, ctl in enumerate(controllers):
            o = int(cell[i])
            a = o if ctl.anchor is None else ctl.anchor
            ak = int(cells.edge_k[o, a])
            detour = max(float(delay[o, ak]) - base[o], 0.0) if ak >= 0 else 0.0
            up = cell_up[o] * quality_up[i] * air[o]
            ctx = SlotContext(
                network=Network(
                    uplink_mbps=up,
                    downlink_mbps=cell_dn[o] * quality_dn[i] * air[o],
                    wired_mbps=wired[o],
                    radio_delay_s=base[o],
                    wired_delay_s=wired_delay[o],
                ),
                cell=o,
                device=DeviceState(
                    battery_share=float(battery[i]), temperature_c=float(temperature[i])
                ),
                edge_queue_s=float(edge_q[o]),
                cloud_queue_s=cloud_q,
                detour_delay_s=detour if a != o else 0.0,
                remaining_requests=remaining,
            )
            d = ctl.step(ctx)
            cut_a = int((d.tiers == 0).sum())
            cut_b = cut_a + int((d.tiers == 1).sum())
            rec["cut_a"][t, i], rec["cut_b"][t, i] = cut_a, cut_b
            rec["anchor"][t, i] = d.anchor_cell
            rec["migrated"][t, i] = d.migrated
            rec["latency_s"][t, i] = d.latency_s
            rec["meets"][t, i] = d.meets_deadline
            rec["energy_j"][t, i] = d.energy_j * requests
            rec["uplink_mbps"][t, i] = up
        rec["cell"][t] = cell
        rec["cell_uplink_mbps"][t] = cell_up
        if coupling:  # the sessions' load of this slot, served beside the twin's tasks
            gcps, up, down, second = load.of_slot(
                sys_now,
                cells.edge[rec["anchor"][t]],
                cells.cloud,
                cell,
                rec["cut_a"][t],
                rec["cut_b"][t],
                config.requests_per_s,
            )
            now = _Background(gcps, up + stream_rate, down, second, up)
            if background is not None:
                now = _Background(
                    *(
                        smoothing * x + (1.0 - smoothing) * y
                        for x, y in zip(now, background, strict=True)
                    )
                )
            background = now
            twin.set_background(
                background.node_gcps,
                background.uplink_mbps,
                background.downlink_mbps,
                background.node_second_s,
            )
            rec["background_gcps"][t] = background.node_gcps
        last = loop.advance(obs).outcome
        rec["twin_offered"][t] = float(last.offered[0])
        rec["twin_satisfied"][t] = float(last.satisfied[0])
        rec["twin_energy_j"][t] = float(last.energy_total[0])
        # The device after the slot: drained by its energy, heated towards its steady state.
        battery = np.maximum(battery - rec["energy_j"][t] / (config.battery_wh * 3600.0), 0.0)
        power = rec["energy_j"][t] / system.slot_s
        steady = config.ambient_c + config.thermal_c_per_w * power
        temperature = steady + (temperature - steady) * np.exp(
            -system.slot_s / config.thermal_tau_s
        )
        rec["battery"][t], rec["temperature_c"][t] = battery, temperature
        # Mobility: a seeded walk to a neighbouring cell.
        moving = rng.random(N) < p_move
        for mover in np.flatnonzero(moving).tolist():
            options = cells.neighbours[int(cell[mover])]
            if options.size:
                cell[mover] = int(rng.choice(options))
                user[mover] = int(rng.integers(0, users))
        if on_slot is not None:
            on_slot(t)
    return SessionRun(
        scenario=scenario.name,
        policy=policy.name,
        config=config,
        seed=seed,
        slot_s=system.slot_s,
        origin_names=system.origin_names,
        drop_at=drop_at,
        drop_cell=drop_index,
        n_blocks=n,
        stream_names=tuple(s.name for s in streams),
        coupled=coupling,
        **rec,
    )


class _Background(NamedTuple):
    """The sessions' load the twin serves beside its tasks (see :meth:`Twin.set_background`)."""

    node_gcps: FloatArray  # [N] gigacycles/s per node
    uplink_mbps: FloatArray  # [O] per cell: the requests' uplink and the streams
    downlink_mbps: FloatArray  # [O] per cell
    node_second_s: FloatArray  # [N] sum of lambda x^2 per device (the M/G/1 wait's part)
    request_uplink_mbps: FloatArray  # [O] the requests' part of the uplink alone


@dataclass(frozen=True)
class _SessionLoad:
    """Per request of the model: busy seconds of an edge and a cloud device, bits on the air."""

    edge_s: FloatArray  # [n + 1] edge run time of the blocks before each cut
    cloud_s: FloatArray  # [n + 1] cloud run time of the blocks before each cut
    up_mbit: FloatArray  # [n + 1] what crosses the uplink at each first cut (0 at n: local)
    down_mbit: float  # the result

    @classmethod
    def of(cls, profile: ModelProfile, tiers: tuple[Any, Any, Any]) -> _SessionLoad:
        n = profile.n
        cuts = np.arange(n + 1)
        up = evaluate_cuts(profile, tiers, DEFAULT_NETWORK, cuts, np.full(n + 1, n)).uplink_bytes
        return cls(
            edge_s=np.concatenate([[0.0], np.cumsum(block_costs(profile, tiers[1]).total_s)]),
            cloud_s=np.concatenate([[0.0], np.cumsum(block_costs(profile, tiers[2]).total_s)]),
            up_mbit=8e-6 * np.asarray(up, dtype=float),
            down_mbit=8e-6 * float(profile.result_bytes),
        )

    def of_slot(
        self,
        system: System,
        edge_node: IntArray,
        cloud: int,
        cell: IntArray,
        cut_a: IntArray,
        cut_b: IntArray,
        requests_per_s: float,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The sessions' load: gigacycles/s per node, requests' uplink and downlink per cell.

        And per node the sum over the sessions' requests of ``lambda x^2`` per device, s (their
        part of the Pollaczek-Khinchine wait, with ``x`` a request's run time there).
        """
        n = self.edge_s.size - 1
        O = system.n_origins
        edge_x = self.edge_s[cut_b] - self.edge_s[cut_a]
        cloud_x = self.cloud_s[n] - self.cloud_s[cut_b]
        busy = np.bincount(edge_node, weights=requests_per_s * edge_x, minlength=system.n_nodes)
        busy[cloud] += requests_per_s * float(cloud_x.sum())
        second = np.bincount(
            edge_node, weights=requests_per_s * edge_x**2, minlength=system.n_nodes
        )
        second[cloud] += requests_per_s * float((cloud_x**2).sum())
        gcps: FloatArray = busy * system.capacity / system.devices
        sent = cut_a < n
        up = np.bincount(cell, weights=requests_per_s * self.up_mbit[cut_a], minlength=O)
        down = np.bincount(cell, weights=requests_per_s * self.down_mbit * sent, minlength=O)
        return gcps, up, down, second / system.devices


def _link_quality(twin: Twin, cell: IntArray, user: IntArray) -> tuple[FloatArray, FloatArray]:
    """Each session's uplink and downlink spectral efficiency over its cell's harmonic mean."""
    radio = twin.radio
    sinr = None if radio is None else radio.user_sinr_db
    if radio is None or sinr is None:
        ones = np.ones(len(cell))
        return ones, ones
    layout = radio.layout
    per = layout.model.users_per_cell
    out = []
    for sinr_db, layers in (
        (sinr[0][0], layout.model.uplink_layers),
        (sinr[1][0], layout.model.downlink_layers),
    ):
        se = spectral_efficiency(layout.model, sinr_db, layers).reshape(-1, per)  # [O, users]
        harmonic = per / (1.0 / se).sum(axis=1)
        out.append(se[cell, user] / harmonic[cell])
    return out[0], out[1]


def _path_capacity(system: System, left: FloatArray, origin: int, k: int) -> float:
    """Least capacity left (Mbit/s) on the twin's path from ``origin`` to candidate ``k``."""
    if k < 0:
        return float(DEFAULT_NETWORK.wired_mbps)
    links = system.path_links[origin * system.n_candidates + k]
    links = links[links < system.n_links]
    return float(left[links].min()) if links.size else float(DEFAULT_NETWORK.wired_mbps)


def window_rows(run: SessionRun, window: int) -> list[dict[str, Any]]:
    """One row per ``window`` slots: plan shares, deadline met, migrations, fallbacks, energy."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    T = run.cut_a.shape[0]
    rows = []
    for first in range(0, T, window):
        w = slice(first, min(first + window, T))
        local, offloaded = run.local[w], run.offloaded[w]
        rows.append(
            {
                "first_slot": first,
                "last_slot": min(first + window, T) - 1,
                "local": float(local.mean()),
                "split": float((~local & ~offloaded).mean()),
                "offloaded": float(offloaded.mean()),
                "deadline_met": float(run.meets[w].mean()),
                "handovers": int(run.handover[w].sum()),
                "migrations": int(run.migrated[w].sum()),
                "fallbacks": int(run.fallback[w].sum()),
                "resplits": int(run.resplit[w].sum()),
                "terminal_energy_j": float(run.energy_j[w].sum()),
            }
        )
    return rows


def coupling_summary(run: SessionRun) -> dict[str, Any]:
    """The twin's tasks and the sessions over the run, to compare coupled and one-way runs.

    ``local_swing`` is the mean change of the sessions' local share from one slot to the next
    (a crowd swinging between offloading and local shows as a large one).
    """
    local = run.local.mean(axis=1)
    offered = float(run.twin_offered.sum())
    return {
        "coupled": run.coupled,
        "twin_satisfied": float(run.twin_satisfied.sum()) / offered if offered > 0 else None,
        "twin_energy_j": float(run.twin_energy_j.sum()),
        "local": float(run.local.mean()),
        "deadline_met": float(run.meets.mean()),
        "local_swing": float(np.abs(np.diff(local)).mean()) if local.size > 1 else 0.0,
        "background_gcps": float(run.background_gcps.sum(axis=1).mean()),
    }


def drop_report(run: SessionRun, window: int = 10) -> dict[str, Any] | None:
    """What the uplink drop did to the sessions of its cell (``None`` without a drop).

    The first slot whose rates carry the drop is ``drop_at + 1`` (the twin draws a slot's channel
    at the end of the slot before). Affected: sessions in the cell in that slot and the one before
    whose plan used the uplink before. Each of them re-split (another plan that still uses the
    network), fell back (everything local) or kept its plan in that first slot. Deadline met is
    over the cell's sessions, ``window`` slots before and from the first slot after.
    """
    if run.drop_at is None or run.drop_cell is None:
        return None
    t1 = run.drop_at + 1
    c = run.drop_cell
    T = run.cut_a.shape[0]
    report: dict[str, Any] = {
        "drop_at": run.drop_at,
        "first_slot": t1,
        "cell": run.origin_names[c],
    }
    if t1 >= T:
        return {**report, "affected": 0, "resplit": 0, "fell_back": 0, "kept": 0}
    stayed = (run.cell[t1] == c) & (run.cell[t1 - 1] == c)
    affected = stayed & ~run.local[t1 - 1]
    resplit = affected & run.resplit[t1]
    fell = affected & run.fallback[t1]
    others = (run.cell[t1] != c) & (run.cell[t1 - 1] != c)
    before = slice(max(0, t1 - window), t1)
    after = slice(t1, min(T, t1 + window))
    in_cell_before = run.cell[before] == c
    in_cell_after = run.cell[after] == c
    return {
        **report,
        "cell_uplink_before_mbps": float(run.cell_uplink_mbps[t1 - 1, c]),
        "cell_uplink_after_mbps": float(run.cell_uplink_mbps[t1, c]),
        "in_cell": int(stayed.sum()),
        "affected": int(affected.sum()),
        "resplit": int(resplit.sum()),
        "fell_back": int(fell.sum()),
        "kept": int((affected & ~run.changed[t1]).sum()),
        "others_changed": int((others & run.changed[t1]).sum()),
        "others": int(others.sum()),
        "deadline_met_before": _share(run.meets[before], in_cell_before),
        "deadline_met_after": _share(run.meets[after], in_cell_after),
        "local_before": _share(run.local[before], in_cell_before),
        "local_after": _share(run.local[after], in_cell_after),
        "streams_before": stream_rows(run, before, c),
        "streams_after": stream_rows(run, after, c),
    }


def _share(values: BoolArray, where: BoolArray) -> float | None:
    return float(values[where].mean()) if where.any() else None


def stream_rows(
    run: SessionRun, slots: slice | None = None, cell: int | None = None
) -> list[dict[str, Any]]:
    """Per stream class: share of (slot, session) pairs within budget, by priority and equal.

    Over ``slots`` (default: all) and the sessions in ``cell`` then (default: all); a share is
    ``None`` where no session was there.
    """
    w = slots if slots is not None else slice(None)
    where = np.ones(run.cell[w].shape, dtype=bool) if cell is None else run.cell[w] == cell
    return [
        {
            "stream": name,
            "priority": _share(run.stream_met[w][..., m], where),
            "best_effort": _share(run.stream_met_best_effort[w][..., m], where),
        }
        for m, name in enumerate(run.stream_names)
    ]
