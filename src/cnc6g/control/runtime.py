"""The E2E orchestrator's slow loop behind the control plane: one slot of the live twin at a time.

One process on the database runs the loop: it holds a lease, renewed every slot, and another
process takes over when the lease lapses (the holder died); the new holder goes on from the last
slot written, with the instances that were running. The loop runs in a thread of the process
that serves the API, or (``Settings.loop_process``, ``cnc6g serve --loop-process``) in a process
of its own that it spawns and stops (:func:`run_loop_process`). A slot has three phases, so that
the database's write lock is never held while the policy decides:

1. **read** the sessions that load the twin, the deployments to keep, what nodes hold, the live
   sessions (with their revisions) and the instances running;
2. **decide and step** (no database): the sessions' tasks are added to the twin's demand, the
   policy decides (the deployments' instances are kept in its decision), the twin steps, and the
   slot's figures are computed: per service type latency percentiles and satisfaction, per node
   utilisation and energy, per session its measured latency and its usage, and the instances
   to stop, start and mark ready;
3. **write** it all in one transaction: instances, routes, node states, figures, sessions'
   usage and status (bound, moved, ended), deployments' status, re-orchestration triggers,
   terminals' moves, and the events of each change (outbox). The transaction runs statements
   worked out before it: of the sessions it reads only their revisions, and in full only the
   ones that changed since the read (or came meanwhile); the instances are the ones read, as
   only the lease's holder writes them and the write goes on only at the slot read. On SQLite
   it begins with ``BEGIN IMMEDIATE`` (the database's write lock from its first statement), so
   it is kept short, rather than deferred: a deferred transaction that read before its first
   write would fail, not wait, when another writer committed in between.

Session latency is the mean latency of the twin's flows of its cell and each network step's
service type (weighted by what each flow served) plus, for a step pinned to the terminal, the
step's time on the terminal's own node; steps of a chain add up. Usage charges each task its
step's work, the data it sends and receives, and its marginal energy (load-proportional compute
on its node, wired and radio transfer); idle power is the operator's, not a session's.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import multiprocessing
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm.exc import StaleDataError

from cnc6g.control.errors import Conflict, Unprocessable
from cnc6g.control.events import emit, emit_all
from cnc6g.control.plane import LEASE, TRANSACTION_ATTEMPTS, ControlPlane, Settings
from cnc6g.control.schemas import SessionStatus, StatusInfo, Workflow
from cnc6g.control.sessions import (
    ADD_HOLDS,
    ADD_LINK_HOLDS,
    DROP_LINK_HOLDS,
    IN_BATCH,
    INSTANCES,
    LINK_HOLDS,
    LINK_HOLDS_OF,
    LINKS,
    READ_LINK_ROOM,
    READ_ROOM,
    RESERVATIONS,
    SESSIONS,
    TERMINALS,
    Room,
    end_rows,
    end_session,
    keep_holds,
    lock_nodes,
    place,
    release,
    release_holds,
    slot_view,
    status_event,
)
from cnc6g.control.subscriptions import set_location
from cnc6g.model.decision import Decision
from cnc6g.orchestration import SlotLoop, make_policy
from cnc6g.storage.db import is_retryable
from cnc6g.storage.tables import (
    Deployment,
    Instance,
    Lease,
    Node,
    Reorchestration,
    Route,
    Service,
    ServiceMetric,
    Terminal,
)
from cnc6g.storage.tables import Session as SessionRow
from cnc6g.twin import Twin, node_energy, sample_requests
from cnc6g.twin.system import System

log = logging.getLogger(__name__)

NODE_STATE = (
    update(Node.__table__)
    .where(Node.__table__.c.node == bindparam("b_node"))
    .values(
        utilisation=bindparam("b_util"),
        energy_j=bindparam("b_energy"),
        awake=bindparam("b_awake"),
        background_gcps=bindparam("b_background"),
    )
)
"""What a slot writes on each node (the compute held there is left to requests)."""
LINK_STATE = (
    update(LINKS)
    .where(LINKS.c.link == bindparam("b_link"))
    .values(background_mbps=bindparam("b_background"))
)
"""What a slot writes on each wired link: the twin's load on it less what sessions hold."""

_c = SESSIONS.c
LIVE_SESSIONS = select(
    _c.session_id,
    _c.kind,
    _c.owner,
    _c.service_id,
    _c.origin,
    _c.status,
    _c.status_info,
    _c.plan,
    _c.qos,
    _c.rate_per_s,
    _c.expires_at,
    _c.violations,
    _c.migrations,
    _c.compute_gcycles,
    _c.compute_s,
    _c.bytes_up,
    _c.bytes_down,
    _c.energy_j,
    _c.tasks,
    _c.sink,
    _c.sink_credential,
    _c.version_id,
)
_LIVE = _c.status.in_([SessionStatus.available.value, SessionStatus.requested.value])
LIVE_SESSIONS = LIVE_SESSIONS.where(_LIVE)
"""The sessions a slot meters, ends, binds or moves, as rows of the table (read before the
write, with their revision)."""
LIVE_BY_ID = LIVE_SESSIONS.where(_c.session_id.in_(bindparam("b_ids", expanding=True)))
"""Those of ``LIVE_SESSIONS`` with the given ids: the ones that changed since the slot read."""
LIVE_VERSIONS = select(_c.session_id, _c.version_id).where(_LIVE)
"""What the write checks of the live sessions: their revision (in ``LIVE_SESSIONS``' order)."""
_METERED = {
    name: bindparam(f"b_{name}")
    for name in (
        "compute_gcycles",
        "compute_s",
        "energy_j",
        "bytes_up",
        "bytes_down",
        "tasks",
        "latency_ms",
        "violations",
    )
}
"""The columns a slot meters, each from its ``b_``-prefixed parameter."""
_STAMPED = {
    "usage_updated_at": bindparam("b_at"),
    "updated_at": bindparam("b_at"),
    "version_id": _c.version_id + 1,
}
METER = update(SESSIONS).where(_c.session_id == bindparam("b_id")).values(**_METERED, **_STAMPED)
"""A slot's metering of a session left where it is (executemany); its revision moves on."""
METER_BATCH = 200
"""Sessions metered per transaction after the slot's write (:meth:`SlotEngine._meter_later`)."""
LIVE_VERSIONS_OF = (
    select(_c.session_id, _c.version_id)
    .where(_LIVE, _c.session_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(_c.session_id)
    .with_for_update()
)
"""The revisions of some live sessions, locked in id order on PostgreSQL (a metering batch)."""
MOVE = (
    update(SESSIONS)
    .where(_c.session_id == bindparam("b_id"))
    .values(
        **_METERED,
        status=bindparam("b_status"),
        status_info=bindparam("b_status_info"),
        origin=bindparam("b_origin"),
        plan=bindparam("b_plan"),
        migrations=bindparam("b_migrations"),
        **_STAMPED,
    )
)
"""A slot's move (or end) of a session that kept missing its QoS or lost its placement
(executemany): its metering, where it runs now and its status; its revision moves on."""


def _network_steps(plan: dict[str, Any]) -> set[tuple[str, str]]:
    """The (function, node) pairs of a plan's steps placed in the network: a move avoids them."""
    return {(st["function"], st["node"]) for st in plan["steps"] if st["placement"] == "NETWORK"}


DROP_HOLDS = delete(RESERVATIONS).where(
    RESERVATIONS.c.session_id.in_(bindparam("b_ids", expanding=True))
)
HOLDS_OF = select(RESERVATIONS.c.session_id, RESERVATIONS.c.node, RESERVATIONS.c.gcps).where(
    RESERVATIONS.c.session_id.in_(bindparam("b_ids", expanding=True))
)
LOADING = select(_c.session_id, _c.origin, _c.rate_per_s, _c.plan).where(
    _c.status == SessionStatus.available.value
)
"""The sessions whose tasks load the twin in a slot."""
HELD = select(RESERVATIONS.c.node, func.sum(RESERVATIONS.c.gcps)).group_by(RESERVATIONS.c.node)
"""The compute held on each node."""
HELD_LINKS = select(LINK_HOLDS.c.link, func.sum(LINK_HOLDS.c.mbps)).group_by(LINK_HOLDS.c.link)
"""The bandwidth held on each wired link."""
INSTANCE_ROWS = select(
    INSTANCES.c.function, INSTANCES.c.node, INSTANCES.c.since_slot, INSTANCES.c.status
)
"""The instances running, as rows of the table."""
STOP_INSTANCE = delete(INSTANCES).where(
    INSTANCES.c.function == bindparam("b_function"), INSTANCES.c.node == bindparam("b_node")
)
READY_INSTANCE = (
    update(INSTANCES)
    .where(INSTANCES.c.function == bindparam("b_function"), INSTANCES.c.node == bindparam("b_node"))
    .values(status="ready")
)
TERMINAL_CELLS = select(TERMINALS.c.client_id, TERMINALS.c.cell).where(
    TERMINALS.c.client_id.in_(bindparam("b_owners", expanding=True))
)

OVERLOAD = 0.9
"""Utilisation above which a node counts as overloaded."""

HOTSPOT_DIVERGENCE = 0.1
"""Jensen-Shannon divergence (bits) between the cells' demand shares of two windows that counts
as a shift of the traffic hotspot."""


@dataclass
class _Read:
    """Phase 1: what the slot needs from the database."""

    slot: int
    sessions: list[dict[str, Any]]
    keep: list[tuple[str, list[str] | None, int]]  # (function, zones, count)
    reserved: dict[str, float]
    live: list[Any] = field(default_factory=list)  # LIVE_SESSIONS' rows
    instances: list[Any] = field(default_factory=list)  # INSTANCE_ROWS' rows
    ends: datetime | None = None  # the slot's end as read: the write's, or before it (realtime)
    reserved_links: dict[int, float] = field(default_factory=dict)  # bandwidth held per link


@dataclass(frozen=True)
class _Instance:
    """An instance after the slot (as the write leaves its row)."""

    function: str
    node: str
    since_slot: int
    status: str


@dataclass
class _InstanceChanges:
    """What the write does to the instances, worked out before it."""

    after: list[_Instance]
    stop: list[dict[str, str]]  # STOP_INSTANCE's parameters
    add: list[dict[str, Any]]  # rows to insert
    ready: list[dict[str, str]]  # READY_INSTANCE's parameters
    started: list[str]  # function@node
    stopped: list[str]


@dataclass
class _Result:
    """Phase 2: what the slot did, to be written."""

    slot: int
    deployment: np.ndarray  # [S, N]
    previous: np.ndarray  # [S, N]
    utilisation: np.ndarray  # [N]
    load_gcps: np.ndarray  # [N]
    energy: np.ndarray  # [N]
    awake: np.ndarray  # [N]
    routes: list[tuple[str, str, str, float, float]]
    metrics: list[tuple[str, float, float, float | None, float | None, float | None]]
    session_latency: dict[str, float | None]
    origin_demand: np.ndarray  # [O]
    energy_total: float
    satisfaction: float
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)  # session id -> _meter's
    instances: _InstanceChanges | None = None
    link_load_mbps: np.ndarray | None = None  # [L] the twin's load on each wired link


@dataclass
class _Watch:
    """Counters of the re-orchestration triggers."""

    late: dict[str, int] = field(default_factory=dict)
    hot: dict[str, int] = field(default_factory=dict)
    demand: list[np.ndarray] = field(default_factory=list)
    fired: set[tuple[str, str]] = field(default_factory=set)


def _js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two distributions, bits."""
    p = p / max(p.sum(), 1e-12)
    q = q / max(q.sum(), 1e-12)
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / b[mask])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def freeze_heap() -> None:
    """Collect the garbage, then move every object left to the collector's permanent generation.

    A process of the control plane holds about 250,000 objects the collector tracks once it has
    compiled the scenario and built the twin and the policy, nearly all of them kept for its
    life; a full collection walks them all, 130 to 200 ms with the interpreter lock held (the
    requests of the process wait, and the slot's write holds SQLite's lock meanwhile). Frozen,
    they are not walked again (a full collection of what is made after: well under a
    millisecond); an object frozen is freed when its count drops, but a cycle among frozen
    objects is never collected, so it is done once the long-lived objects are built.
    """
    gc.collect()
    gc.freeze()


def run_loop_process(settings: Settings, pipe: Any, shared: tuple[Any, Any]) -> None:
    """The slot loop's own process (:meth:`SlotEngine.start` with ``loop_process``).

    It runs the loop of a control plane of its own over the same database until it is told to
    stop through ``pipe``, or the pipe closes (the process that started it ended, even killed),
    or it gets ``SIGTERM``; then it gives the lease up. ``SIGINT`` is left to the process that
    started it (a terminal's Ctrl-C reaches both). ``shared`` is ``(leader, slots run)``,
    written after each slot.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    plane = ControlPlane(replace(settings, loop_process=False))
    engine = SlotEngine(plane)
    engine._shared = shared
    engine.freeze_after_build = True

    def stop_when_told() -> None:
        with contextlib.suppress(EOFError, OSError):
            pipe.recv()
        engine._stop.set()

    signal.signal(signal.SIGTERM, lambda *_: engine._stop.set())
    threading.Thread(target=stop_when_told, name="cnc6g-slot-loop-stop", daemon=True).start()
    try:
        engine._run()
    finally:
        engine.stop()
        shared[0].value = False
        plane.db.dispose()


class SlotEngine:
    """Runs the live twin slot by slot for a control plane (see the module's text).

    Args:
        plane: the control plane.
    """

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._loop: SlotLoop | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch = _Watch()
        self._rng = np.random.default_rng(plane.settings.seed)
        self._keep_now: list[tuple[str, list[str] | None, int]] = []
        self._costs: dict[tuple[str, str, str], tuple[float, float, float, float, float]] = {}
        self._leader = False
        self._slots_run = 0
        self._process: Any = None
        self._pipe: Any = None
        self._shared: tuple[Any, Any] | None = None
        """``(leader, slots run)`` in shared memory: written by the loop's process, read by the
        API process that started it (:meth:`start` with ``loop_process``)."""
        self.freeze_after_build = False
        """After building the twin and the policy (the first slot, or a slot after a lost
        lease or a failure), collect the garbage and freeze what is left (:func:`freeze_heap`):
        for a process that serves, not for one that makes many engines (tests)."""
        self._to_meter: list[dict[str, Any]] = []
        """The sessions a slot's write left where they are, metered after it (its usage and
        revision as read): :meth:`_meter_later`."""
        self.move_one_by_one = False
        """Move sessions as ORM objects one at a time (:meth:`_migrate`), each placement with
        its own statements, instead of together (:meth:`_move_all`): the reference the
        combined write is checked against."""

    # -- the clock ----------------------------------------------------------------------------

    @property
    def leader(self) -> bool:
        """Whether this process (or the loop's process it started) holds the loop's lease."""
        if self._process is not None and self._shared is not None:
            return bool(self._shared[0].value)
        return self._leader

    @leader.setter
    def leader(self, value: bool) -> None:
        self._leader = value

    @property
    def slots_run(self) -> int:
        """Slots this process (or the loop's process it started) has run."""
        if self._process is not None and self._shared is not None:
            return int(self._shared[1].value)
        return self._slots_run

    @slots_run.setter
    def slots_run(self, value: int) -> None:
        self._slots_run = value

    def start(self) -> None:
        """Start the clock (realtime or accelerated; a manual clock has none).

        In a thread of this process, or with ``loop_process`` in a process of its own (spawned,
        so that it shares nothing with this one but the database), stopped by :meth:`stop` or
        when this process ends: it gives the lease up then.
        """
        settings = self.plane.settings
        if settings.clock_mode == "manual" or not settings.run_loop:
            return
        if settings.loop_process:
            if self._process is None:
                ctx = multiprocessing.get_context("spawn")
                self._shared = (ctx.Value("b", 0, lock=False), ctx.Value("q", 0, lock=False))
                self._pipe, theirs = ctx.Pipe()
                self._process = ctx.Process(
                    target=run_loop_process,
                    args=(settings, theirs, self._shared),
                    name="cnc6g-slot-loop",
                    daemon=True,
                )
                self._process.start()
                theirs.close()  # the child's end: it sees the pipe close when this process ends
            return
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cnc6g-slots", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the clock and give the lease up."""
        if self._process is not None:  # it gives the lease up itself
            with contextlib.suppress(OSError):
                self._pipe.send("stop")
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
            self._pipe.close()
            self._process = self._pipe = None
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.leader:
            try:
                with self.plane.db.transaction() as s:
                    s.execute(
                        update(Lease)
                        .where(Lease.name == LEASE, Lease.holder == self.plane.instance_id)
                        .values(holder=None, expires_at=None)
                    )
            except Exception:  # the database may be gone at shutdown
                log.exception("could not give the lease up")
            self.leader = False

    def _run(self) -> None:
        period = self.plane.slot_s / self.plane.settings.speed
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # keep the clock alive; the slot is retried
                log.exception("slot failed")
                self._loop = None
            if self._shared is not None:  # the loop's own process: what its starter reads
                self._shared[0].value = self._leader
                self._shared[1].value = self._slots_run
            next_at += period
            wait = next_at - time.monotonic()
            if wait < 0:
                next_at = time.monotonic()
                wait = 0.0
            self._stop.wait(wait if self.leader else min(period, self.plane.settings.lease_s / 2))

    def advance(self, slots: int) -> int:
        """Run ``slots`` slots now (the manual clock); the slot reached.

        Raises:
            Conflict: another process runs the slot loop.
        """
        if not self.plane.settings.run_loop:
            raise Conflict("this process does not run the slot loop", code="INCOMPATIBLE_STATE")
        for _ in range(slots):
            if not self._step_again_if_aborted():
                raise Conflict(
                    "another process runs the slot loop (its lease has not lapsed)",
                    code="INCOMPATIBLE_STATE",
                )
        with self.plane.db.transaction(write=False) as s:
            slot, _ = self.plane.clock(s)
        return slot

    def _step_again_if_aborted(self) -> bool:
        """One slot, run again when its write lost to concurrent operations.

        The database may abort the slot's transaction for a deadlock with a request that holds
        compute on the same nodes, and a session the slot updates may change under it; nothing
        of the slot is kept then, and it is run again from what the database holds.

        Raises:
            Conflict: it lost every time.
        """
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                return self.step()
            except (DBAPIError, StaleDataError) as err:
                if isinstance(err, DBAPIError) and not is_retryable(err):
                    raise
                self._loop = None
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise Conflict(
                        "the slot kept conflicting with concurrent operations; retry",
                        code="ABORTED",
                    ) from None
                time.sleep(random.uniform(0.0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    # -- the lease ------------------------------------------------------------------------------

    def _acquire(self, s: DbSession) -> bool:
        now = datetime.now(UTC)
        me = self.plane.instance_id
        taken = s.execute(
            update(Lease)
            .where(Lease.name == LEASE)
            .where(or_(Lease.holder.is_(None), Lease.holder == me, Lease.expires_at < now))
            .values(holder=me, expires_at=now + timedelta(seconds=self.plane.settings.lease_s))
        ).rowcount
        if not taken:
            if self.leader:
                log.warning("lost the slot loop's lease")
            self.leader = False
            self._loop = None
            return False
        if not self.leader:
            log.info("runs the slot loop")
        self.leader = True
        return True

    def _build(self, s: DbSession, slot: int) -> SlotLoop:
        plane = self.plane
        sy = plane.system
        twin = Twin(sy, seed=plane.settings.seed)
        if slot > 0:
            x = np.zeros((1, sy.n_services, sy.n_nodes), dtype=bool)
            for inst in s.scalars(select(Instance)).all():
                if plane.live.has_function(inst.function):
                    x[0, plane.live.function(inst.function), plane.live.node(inst.node)] = True
            twin.resume(slot, x, seed=[plane.settings.seed, slot])
            self._rng = np.random.default_rng([plane.settings.seed, slot, 1])
        policy = make_policy(plane.settings.policy)
        return SlotLoop(twin, policy, plane.settings.seed, adjust=self._keep)

    # -- one slot --------------------------------------------------------------------------------

    def step(self) -> bool:
        """Run one slot if this process holds (or gets) the lease; whether it ran."""
        with self._lock:
            plane = self.plane
            with plane.db.transaction() as s:  # the write lock only to renew the lease
                if not self._acquire(s):
                    return False
            with plane.db.transaction(write=False) as s:  # what the slot starts from
                lease = s.get(Lease, LEASE)
                assert lease is not None
                if self._loop is None or self._loop.twin.slot != lease.slot:
                    self._loop = self._build(s, lease.slot)
                    if self.freeze_after_build:
                        freeze_heap()
                read = self._read(s, lease.slot)
            result = self._compute(read)
            with plane.db.transaction() as s:
                # The lease stays locked until the slot is written: a process that finds it
                # lapsed meanwhile waits, then sees it renewed, instead of running the slot too.
                lease = s.scalars(
                    select(Lease).where(Lease.name == LEASE).with_for_update()
                ).first()
                if lease is None or lease.holder != plane.instance_id or lease.slot != read.slot:
                    self.leader = False
                    self._loop = None
                    return False
                self._to_meter = []
                self._write(s, read, result)
                lease.slot = read.slot + 1
                lease.expires_at = datetime.now(UTC) + timedelta(seconds=plane.settings.lease_s)
            self._meter_later(self._to_meter, result)
            self._to_meter = []
            self.slots_run += 1
            return True

    def _meter_later(self, metered: list[dict[str, Any]], res: _Result) -> None:
        """Meter the sessions the slot left where they are, :data:`METER_BATCH` a transaction.

        The slot's write has committed (the slot number has moved on); each batch is a short
        write transaction of its own, so that requests wait for the database's write lock for
        one batch at most. A batch locks the nodes (:func:`lock_nodes`, as the slot's write and
        every change of a session do) and reads the revisions of its sessions again: a session
        unchanged since the slot read it is metered as worked out, one changed meanwhile
        (extended, its rate changed) is metered from the row as it is now, and one no longer
        live (released meanwhile) is not metered. A batch that the database keeps aborting, or
        a process that dies between batches, leaves the sessions of the batches not written
        without this slot's usage (each session's usage is written whole, in one statement, or
        not at all; see the docs' control plane, "Behind the API").
        """
        for start in range(0, len(metered), METER_BATCH):
            batch = metered[start : start + METER_BATCH]
            for attempt in range(TRANSACTION_ATTEMPTS):
                try:
                    with self.plane.db.transaction() as s:
                        self._meter_batch(s, batch, res)
                    break
                except DBAPIError as err:
                    if not is_retryable(err) or attempt == TRANSACTION_ATTEMPTS - 1:
                        log.exception("a slot's metering batch was not written")
                        break
                    time.sleep(random.uniform(0.0, 0.02 * 2**attempt))

    def _meter_batch(self, s: DbSession, batch: list[dict[str, Any]], res: _Result) -> None:
        # Every node first, as the slot's write: a transaction that changes a session reads it
        # after locking them (PostgreSQL), so the revision it read is the one it writes over.
        lock_nodes(s)
        conn = s.connection()
        ids = [m["b_id"] for m in batch]
        now_version = dict(conn.execute(LIVE_VERSIONS_OF, {"b_ids": ids}).all())
        rows: list[dict[str, Any]] = []
        changed: list[str] = []
        at = batch[0]["b_at"]
        for m in batch:
            version = now_version.get(m["b_id"])
            if version is None:
                continue
            if version != m["version"]:
                changed.append(m["b_id"])
                continue
            rows.append({k: v for k, v in m.items() if k != "version"})
        if changed:
            for row in conn.execute(LIVE_BY_ID, {"b_ids": changed}):
                if row.status == SessionStatus.available.value:
                    usage = self._meter(row, res)
                    rows.append(
                        {"b_id": row.session_id, "b_at": at}
                        | {f"b_{c}": v for c, v in usage.items()}
                    )
        if rows:
            conn.execute(METER, rows)

    def _read(self, s: DbSession, slot: int) -> _Read:
        conn = s.connection()
        sessions = [
            {"id": r.session_id, "origin": r.origin, "rate": r.rate_per_s, "plan": r.plan}
            for r in conn.execute(LOADING)
        ]
        keep: list[tuple[str, list[str] | None, int]] = []
        services = {r.service_id: r for r in s.scalars(select(Service)).all()}
        for d in s.scalars(
            select(Deployment).where(Deployment.status.in_(["instantiating", "ready"]))
        ).all():
            service = services.get(d.service_id)
            if service is None:
                continue
            for step in service.workflow["steps"]:
                if not step.get("pinToTerminal"):
                    keep.append((step["function"], d.zones, d.min_instances))
        reserved = {node: float(gcps) for node, gcps in conn.execute(HELD)}
        live = conn.execute(LIVE_SESSIONS).all()
        instances = conn.execute(INSTANCE_ROWS).all()
        _, now = self.plane.clock(s)
        ends = now + timedelta(seconds=self.plane.slot_s)
        held_links = {int(li): float(mbps) for li, mbps in conn.execute(HELD_LINKS)}
        return _Read(
            slot, sessions, keep, reserved, live, instances, ends, reserved_links=held_links
        )

    def _keep(self, system: System, decision: Decision) -> Decision:
        """The policy's decision with the deployments' instances added where they fit."""
        keep = self._keep_now
        if not keep:
            return decision
        live = self.plane.live
        x = np.array(decision.deployment, dtype=bool, copy=True)
        used = (x * system.service_memory[:, None]).sum(axis=0)
        util = (
            self._loop.twin.utilisation[0] if self._loop is not None else np.zeros(len(live.nodes))
        )
        for function, zones, count in keep:
            f = live.function(function)
            allowed = system.can_host[f].copy()
            if zones:
                allowed &= np.isin(np.array(live.node_domain), zones)
            have = int((x[f] & allowed).sum())
            order = sorted(
                np.flatnonzero(allowed & ~x[f]),
                key=lambda n: (util[n], -system.capacity[n], n),
            )
            for n in order:
                if have >= count:
                    break
                if used[n] + system.service_memory[f] <= system.memory[n] + 1e-9:
                    x[f, n] = True
                    used[n] += system.service_memory[f]
                    have += 1
        return Decision(deployment=x, routing=decision.routing, cpu_share=decision.cpu_share)

    def _compute(self, read: _Read) -> _Result:
        plane = self.plane
        live, sy = plane.live, plane.system
        loop = self._loop
        assert loop is not None
        twin = loop.twin
        extra = np.zeros((sy.n_origins, sy.n_services), dtype=np.int64)
        for sess in read.sessions:
            o = live.cell(sess["origin"])
            for step in sess["plan"]["steps"]:
                if step["placement"] == "NETWORK":
                    extra[o, live.function(step["function"])] += self._rng.poisson(
                        sess["rate"] * sy.slot_s
                    )
        previous = twin.deployment[0].copy()
        twin.add_demand(extra[None])
        self._keep_now = read.keep
        record = loop.step()
        out = record.outcome
        x = record.decision.deployment
        demand = record.demand
        sample = sample_requests(out, demand[None], sy.deadline_s, self._rng)
        metrics = []
        served_sat = out.satisfied_by_demand[0]  # [O, S], tasks of chains too
        for f in range(sy.n_services):
            lat = sample.latency_s[sample.service == f] * 1e3
            pct = np.percentile(lat, [50, 95, 99]) if lat.size else [None, None, None]
            metrics.append(
                (
                    live.functions[f],
                    float(demand[:, f].sum()),
                    float(served_sat[:, f].sum()),
                    None if pct[0] is None else float(pct[0]),
                    None if pct[1] is None else float(pct[1]),
                    None if pct[2] is None else float(pct[2]),
                )
            )
        mean_latency = out.flow_latency_mean_s[0]  # [O, S, K]
        served = out.flow_served[0]
        routing = record.decision.routing
        where = np.argwhere(routing > 1e-9)
        o_, f_, k_ = where[:, 0], where[:, 1], where[:, 2]
        route_ms = mean_latency[o_, f_, k_]
        keep = np.isfinite(route_ms)
        routes = [
            (live.cells[o], live.functions[f], live.nodes[n], share, lat * 1e3)
            for o, f, n, share, lat in zip(
                o_[keep].tolist(),
                f_[keep].tolist(),
                sy.candidates[o_, k_][keep].tolist(),
                routing[o_, f_, k_][keep].tolist(),
                route_ms[keep].tolist(),
                strict=True,
            )
        ]
        util = out.utilisation[0]
        step_ms: dict[tuple[str, str, str], float] = {}  # the same for every session of a cell

        def step_latency(origin: str, function: str, placement: str) -> float:
            key = (origin, function, placement)
            value = step_ms.get(key)
            if value is None:
                if placement == "TERMINAL":
                    opts = live.options(origin, function, util, {"terminal"})
                    value = opts[0].latency_ms if opts else math.inf
                else:
                    o, f = live.cell(origin), live.function(function)
                    finite = np.isfinite(mean_latency[o, f])
                    weights = served[o, f][finite]
                    if weights.sum() <= 0:
                        value = math.inf
                    else:
                        mean = (mean_latency[o, f][finite] * weights).sum() / weights.sum()
                        value = float(mean) * 1e3
                step_ms[key] = value
            return value

        session_latency: dict[str, float | None] = {}
        for sess in read.sessions:
            total = 0.0
            for step in sess["plan"]["steps"]:
                total += step_latency(sess["origin"], step["function"], step["placement"])
            session_latency[sess["id"]] = total if math.isfinite(total) else None
        energy = node_energy(sy, out, x[None], previous[None])[0]
        offered = float(out.offered[0])
        result = _Result(
            slot=read.slot,
            deployment=x.copy(),
            previous=previous,
            utilisation=util.copy(),
            load_gcps=util * sy.capacity,
            energy=energy,
            awake=out.awake[0].copy(),
            routes=routes,
            metrics=metrics,
            session_latency=session_latency,
            origin_demand=demand.sum(axis=1).astype(float),
            energy_total=float(out.energy_total[0]),
            satisfaction=float(out.satisfied[0]) / offered if offered > 0 else 1.0,
        )
        # The metering of the sessions read, done here so that the write only checks that
        # they did not change meanwhile.
        result.usage = {
            row.session_id: self._meter(row, result)
            for row in read.live
            if row.status == SessionStatus.available.value
            and (read.ends is None or row.expires_at > read.ends)  # not ended by the write
        }
        result.instances = self._instance_changes(read, x)
        link_util = out.link_utilisation[0]
        if link_util.shape[0] == sy.n_links:  # offered load, the larger of the two directions
            result.link_load_mbps = link_util * sy.link_capacity
        return result

    def _instance_changes(self, read: _Read, deployment: np.ndarray) -> _InstanceChanges:
        """What runs after the slot, and since when, from the instances read before it.

        Only the process that holds the lease writes instances, and the write goes on only if
        the lease is still at the slot read: the rows the write would find are the ones read.
        """
        live, sy = self.plane.live, self.plane.system
        want = {(live.functions[f], live.nodes[n]) for f, n in np.argwhere(deployment)}
        running = {(r.function, r.node): r for r in read.instances}
        changes = _InstanceChanges([], [], [], [], [], [])
        for key in running:
            if key not in want:
                changes.stop.append({"b_function": key[0], "b_node": key[1]})
                changes.stopped.append(f"{key[0]}@{key[1]}")
        for key in sorted(want - set(running)):
            cold = float(sy.cold_start_s[live.function(key[0])])
            status = "instantiating" if cold > 0 else "ready"
            changes.add.append(
                {"function": key[0], "node": key[1], "since_slot": read.slot, "status": status}
            )
            changes.after.append(_Instance(key[0], key[1], read.slot, status))
            changes.started.append(f"{key[0]}@{key[1]}")
        for key, row in running.items():
            if key not in want:
                continue
            status = row.status
            if status == "instantiating":
                f = live.function(key[0])
                if (read.slot - row.since_slot + 1) * sy.slot_s >= float(sy.cold_start_s[f]):
                    status = "ready"
                    changes.ready.append({"b_function": key[0], "b_node": key[1]})
            changes.after.append(_Instance(key[0], key[1], int(row.since_slot), status))
        return changes

    # -- phase 3 --------------------------------------------------------------------------------

    def _write(self, s: DbSession, read: _Read, res: _Result) -> None:
        plane = self.plane
        live = plane.live
        slot = res.slot
        _, now = plane.clock(s)
        now = now + timedelta(seconds=plane.slot_s)  # the end of the slot just run
        lock_nodes(s)  # before any other row: requests take the nodes first too
        # Instances: what runs now, and since when (worked out before the write).
        changes = res.instances
        assert changes is not None
        conn = s.connection()
        if changes.stop:
            conn.execute(STOP_INSTANCE, changes.stop)
        if changes.add:
            conn.execute(INSTANCES.insert(), changes.add)
        if changes.ready:
            conn.execute(READY_INSTANCE, changes.ready)
        # Routes of the current distribution.
        s.execute(delete(Route))
        if res.routes:
            s.execute(
                Route.__table__.insert(),
                [
                    {"origin": o, "function": f, "node": n, "share": share, "latency_ms": lat}
                    for o, f, n, share, lat in res.routes
                ],
            )
        # Nodes.
        reserved = read.reserved
        s.execute(
            NODE_STATE,
            [
                {
                    "b_node": name,
                    "b_util": float(res.utilisation[n]),
                    "b_energy": float(res.energy[n]),
                    "b_awake": bool(res.awake[n]),
                    "b_background": max(float(res.load_gcps[n]) - reserved.get(name, 0.0), 0.0),
                }
                for n, name in enumerate(live.nodes)
            ],
        )  # one statement for every node (executemany), without the ORM's synchronisation
        if res.link_load_mbps is not None and len(res.link_load_mbps):
            held_links = read.reserved_links
            s.execute(
                LINK_STATE,
                [
                    {
                        "b_link": li,
                        "b_background": max(float(load) - held_links.get(li, 0.0), 0.0),
                    }
                    for li, load in enumerate(res.link_load_mbps)
                ],
            )
        # Per service type figures.
        s.execute(
            ServiceMetric.__table__.insert(),
            [
                {
                    "slot": slot,
                    "function": f,
                    "offered": off,
                    "satisfied": sat,
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "p99_ms": p99,
                }
                for f, off, sat, p50, p95, p99 in res.metrics
            ],
        )
        s.execute(
            delete(ServiceMetric).where(ServiceMetric.slot < slot - plane.settings.metrics_slots)
        )
        self._sessions(s, read, res, now)
        self._deployments(s, changes.after, now)
        self._triggers(s, res, now, changes.started, changes.stopped)
        self._move_terminals(s)

    def _sessions(self, s: DbSession, read: _Read, res: _Result, now: datetime) -> None:
        """Meter, end, bind and move the live sessions (under the node lock).

        The sessions were read as rows of the table before the write, and metered with the
        slot's figures; the write reads only their revisions, and reads in full (and meters)
        just the ones that changed or came meanwhile. The common case, a session metered for
        the slot and left where it is, is one update for all of them (executemany), as is the
        end of every session whose time is up. Only a session to bind or to move is loaded as
        an ORM object, after those updates, and goes through placement.
        """
        plane = self.plane
        conn = s.connection()
        before = {r.session_id: r for r in read.live}
        usage_of = res.usage
        order: list[str] = []
        changed: list[str] = []
        for session_id, version in conn.execute(LIVE_VERSIONS):
            order.append(session_id)
            row = before.get(session_id)
            if row is None or row.version_id != version:
                changed.append(session_id)
        if changed:
            usage_of = dict(usage_of)
            for start in range(0, len(changed), IN_BATCH):
                for row in conn.execute(LIVE_BY_ID, {"b_ids": changed[start : start + IN_BATCH]}):
                    before[row.session_id] = row
                    if row.status == SessionStatus.available.value:
                        usage_of[row.session_id] = self._meter(row, res)
        rows = [before[session_id] for session_id in order]
        k = plane.settings.violation_slots
        expired = [r for r in rows if r.expires_at <= now]
        end_rows(s, expired, StatusInfo.duration_expired, now)
        ended = {r.session_id for r in expired}
        rows = [r for r in rows if r.session_id not in ended]
        if not rows:
            return
        assert res.instances is not None
        running = {(i.function, i.node) for i in res.instances.after}  # as the write left them
        cells: dict[str, str] = {}
        owners = sorted({r.owner for r in rows})
        for start in range(0, len(owners), IN_BATCH):
            batch = owners[start : start + IN_BATCH]
            for client_id, cell in s.connection().execute(TERMINAL_CELLS, {"b_owners": batch}):
                cells[client_id] = cell
        metered: list[dict[str, Any]] = []
        later: list[tuple[str, dict[str, Any] | None, bool]] = []  # (id, usage, avoid current)
        for row in rows:
            cell = cells.get(row.owner, row.origin)
            if row.status == SessionStatus.requested.value:
                later.append((row.session_id, None, False))
                continue
            usage = usage_of.get(row.session_id)
            if usage is None:  # read as ending with the slot, extended or late meanwhile
                usage = self._meter(row, res)
            moved_terminal = cell != row.origin
            lost = any(
                st["placement"] == "NETWORK" and (st["function"], st["node"]) not in running
                for st in row.plan["steps"]
            )
            if moved_terminal or lost:
                later.append((row.session_id, usage, False))
            elif usage["violations"] >= k:
                later.append((row.session_id, usage, True))
            else:
                metered.append(
                    {"b_id": row.session_id, "b_at": now, "version": row.version_id}
                    | {f"b_{c}": v for c, v in usage.items()}
                )
        self._to_meter = metered  # written after the slot's write, in batches
        if not later:
            return
        services = {r.service_id: r for r in s.scalars(select(Service)).all()}
        workflows: dict[str, Workflow] = {}
        if not self.move_one_by_one:
            self._move_all(s, later, before, cells, services, workflows, now)
            return
        for session_id, usage, avoid_current in later:
            orm = s.get(SessionRow, session_id)
            assert orm is not None  # the nodes are locked: no one else changed it
            service = services[orm.service_id]
            workflow = workflows.get(service.service_id)
            if workflow is None:
                workflow = workflows[service.service_id] = Workflow.model_validate(service.workflow)
            pinned = set(orm.plan.get("pinned", []))
            cell = cells.get(orm.owner, orm.origin)
            if usage is None:
                self._bind(s, orm, service, workflow, pinned, cell, now)
                continue
            for key, value in usage.items():
                setattr(orm, key, value)
            orm.usage_updated_at = now
            self._migrate(s, orm, workflow, pinned, cell, now, avoid_current=avoid_current)
            orm.updated_at = now

    def _move_all(
        self,
        s: DbSession,
        later: list[tuple[str, dict[str, Any] | None, bool]],
        before: dict[str, Any],
        cells: dict[str, str],
        services: dict[str, Service],
        workflows: dict[str, Workflow],
        now: datetime,
    ) -> None:
        """Bind and move sessions as :meth:`_bind` and :meth:`_migrate` do, writing moves at once.

        ``later``'s sessions are taken in their order, with the same results as one by one.

        The write holds every node locked, so the moves are placed one after the other against
        the nodes' compute read once (:class:`~cnc6g.control.sessions.Room`), with the running
        instances and utilisation read once; then the compute held on the nodes, the holds of
        the sessions, the sessions and their events are written with one statement each. A
        session to bind (rare) still goes through the database: the moves before it are
        written first and the nodes read again after it.
        """
        plane = self.plane
        conn = s.connection()
        moving = [sid for sid, usage, _ in later if usage is not None]
        held: dict[str, list[tuple[str, float]]] = {}
        held_links: dict[str, dict[int, float]] = {}
        for start in range(0, len(moving), IN_BATCH):
            batch = moving[start : start + IN_BATCH]
            for sid, node, gcps in conn.execute(HOLDS_OF, {"b_ids": batch}):
                held.setdefault(sid, []).append((node, gcps))
            for sid, li, mbps in conn.execute(LINK_HOLDS_OF, {"b_ids": batch}):
                held_links.setdefault(sid, {})[li] = mbps
        any_links = bool(held_links)  # some session to move holds bandwidth on links
        room: Room | None = None
        view = None
        updates: list[dict[str, Any]] = []
        adds: list[dict[str, Any]] = []
        link_adds: list[dict[str, Any]] = []
        dropped: list[str] = []
        events: list[dict[str, Any]] = []

        def flush() -> None:
            if room is not None:
                room.write(s)
            for start in range(0, len(dropped), IN_BATCH):
                conn.execute(DROP_HOLDS, {"b_ids": dropped[start : start + IN_BATCH]})
                if any_links:
                    conn.execute(DROP_LINK_HOLDS, {"b_ids": dropped[start : start + IN_BATCH]})
            if adds:
                conn.execute(ADD_HOLDS, adds)
            if link_adds:
                conn.execute(ADD_LINK_HOLDS, link_adds)
            if updates:
                conn.execute(MOVE, updates)
            emit_all(s, events)
            for pending in (updates, adds, link_adds, dropped, events):
                pending.clear()

        for session_id, usage, avoid_current in later:
            if usage is None:  # to bind: through the database, after the moves before it
                flush()
                room = None
                orm = s.get(SessionRow, session_id)
                assert orm is not None  # the nodes are locked: no one else changed it
                service = services[orm.service_id]
                workflow = self._workflow(workflows, service)
                cell = cells.get(orm.owner, orm.origin)
                self._bind(s, orm, service, workflow, set(orm.plan.get("pinned", [])), cell, now)
                continue
            if room is None:
                room = Room(conn.execute(READ_ROOM), conn.execute(READ_LINK_ROOM))
                view = slot_view(plane, s, None)
            row = before[session_id]
            workflow = self._workflow(workflows, services[row.service_id])
            pinned = set(row.plan.get("pinned", []))
            cell = cells.get(row.owner, row.origin)
            avoid = _network_steps(row.plan) if avoid_current else set()
            given: dict[str, float] = {}  # release(): what it holds, summed per node
            for node, gcps in held.get(session_id, []):
                given[node] = given.get(node, 0.0) + gcps
            release_holds(s, given, room, held_links.pop(session_id, None))
            dropped.append(session_id)
            after: dict[str, Any] = {
                "status": row.status,
                "status_info": row.status_info,
                "origin": row.origin,
                "plan": row.plan,
                "migrations": row.migrations,
            } | usage
            target = float(row.qos["latencyMs"])
            try:
                placed = place(
                    plane,
                    s,
                    cell,
                    workflow,
                    target,
                    row.rate_per_s,
                    pinned,
                    True,
                    avoid,
                    room=room,
                    view=view,
                )
            except Unprocessable:  # the new cell reaches no node for a step (nothing held)
                placed = None
            if placed is not None and (
                placed.missing or (avoid_current and not placed.plan.meets_qos)
            ):
                release_holds(s, placed.holds, room, placed.links)
                placed = None
            if placed is None:  # ended, as end_session() ends it
                if row.status != SessionStatus.unavailable.value:
                    after["status"] = SessionStatus.unavailable.value
                    after["status_info"] = StatusInfo.network_terminated.value
                    status_event(
                        s, SimpleNamespace(**(row._asdict() | after)), now, row.status, events
                    )
            else:
                adds.extend(
                    {"session_id": session_id, "node": n, "gcps": g}
                    for n, g in placed.holds.items()
                )
                link_adds.extend(
                    {"session_id": session_id, "link": li, "mbps": m}
                    for li, m in placed.links.items()
                )
                old = [(st["function"], st["node"]) for st in row.plan["steps"]]
                after["plan"] = placed.plan.model_dump(mode="json", by_alias=True) | {
                    "pinned": sorted(pinned),
                    "waitedSlots": row.plan.get("waitedSlots", 0),
                }
                new = [(st["function"], st["node"]) for st in after["plan"]["steps"]]
                after["origin"] = cell
                if old != new or cell != row.origin:
                    after["migrations"] = row.migrations + 1
                    after["violations"] = 0
                    after["status_info"] = StatusInfo.migrated.value
                    status_event(
                        s, SimpleNamespace(**(row._asdict() | after)), now, row.status, events
                    )
            updates.append(
                {"b_id": session_id, "b_at": now} | {f"b_{k}": v for k, v in after.items()}
            )
        flush()

    @staticmethod
    def _workflow(workflows: dict[str, Workflow], service: Service) -> Workflow:
        workflow = workflows.get(service.service_id)
        if workflow is None:
            workflow = workflows[service.service_id] = Workflow.model_validate(service.workflow)
        return workflow

    def _meter(self, row: Any, res: _Result) -> dict[str, Any]:
        """A live session's usage after this slot, its measured latency and QoS misses.

        A session that was not part of the slot's load (opened after the slot read what it
        computes) is charged nothing for it and keeps its count of misses: the twin carried
        none of its tasks, so it has neither usage nor a latency to judge; it is metered from
        the next slot on.
        """
        if row.session_id not in res.session_latency:
            return {
                "compute_gcycles": row.compute_gcycles,
                "compute_s": row.compute_s,
                "energy_j": row.energy_j,
                "bytes_up": row.bytes_up,
                "bytes_down": row.bytes_down,
                "tasks": row.tasks,
                "latency_ms": None,
                "violations": row.violations,
            }
        sy = self.plane.system
        tasks = row.rate_per_s * sy.slot_s
        gcycles, seconds, energy = row.compute_gcycles, row.compute_s, row.energy_j
        up, down = row.bytes_up, row.bytes_down
        for step in row.plan["steps"]:
            work_f, capacity, task_j, in_mbit, out_mbit = self._step_costs(
                row.origin, step["function"], step["node"]
            )
            work = tasks * work_f  # the same arithmetic as the twin's figures, in this order
            gcycles += work
            seconds += work / capacity
            energy += tasks * task_j
            if step["placement"] == "NETWORK":
                up += tasks * in_mbit * 1e6 / 8
                down += tasks * out_mbit * 1e6 / 8
        latency = res.session_latency.get(row.session_id)
        late = latency is None or latency > float(row.qos["latencyMs"])
        return {
            "compute_gcycles": gcycles,
            "compute_s": seconds,
            "energy_j": energy,
            "bytes_up": up,
            "bytes_down": down,
            "tasks": row.tasks + tasks,
            "latency_ms": latency,
            "violations": row.violations + 1 if late else 0,
        }

    def _step_costs(
        self, origin: str, function: str, node: str
    ) -> tuple[float, float, float, float, float]:
        """What metering charges a task of a step, computed once per (cell, function, node).

        Work per task (Gcycles), the node's capacity (Gcycles/s), energy per task (J), data per
        task up and down (Mbit).
        """
        key = (origin, function, node)
        costs = self._costs.get(key)
        if costs is None:
            live, sy = self.plane.live, self.plane.system
            f = live.function(function)
            costs = self._costs[key] = (
                float(sy.work[f]),
                float(sy.capacity[live.node(node)]),
                live.task_energy_j(origin, function, node),
                float(sy.input_mbit[f]),
                float(sy.output_mbit[f]),
            )
        return costs

    def _bind(
        self,
        s: DbSession,
        row: SessionRow,
        service: Service,
        workflow: Workflow,
        pinned: set[str],
        cell: str,
        now: datetime,
    ) -> None:
        """Try to start a REQUESTED session; give it up after ``request_wait_slots``."""
        plane = self.plane
        try:
            placed = place(
                plane, s, cell, workflow, float(row.qos["latencyMs"]), row.rate_per_s, pinned, True
            )
        except Unprocessable:  # its terminal moved where a step can run nowhere
            end_session(plane, s, row, StatusInfo.network_terminated, now)
            return
        waited = int(row.plan.get("waitedSlots", 0)) + 1
        if placed.missing:
            row.plan = dict(row.plan) | {"waitedSlots": waited}
            if waited >= plane.settings.request_wait_slots:
                end_session(plane, s, row, StatusInfo.network_terminated, now)
            return
        keep_holds(s, row.session_id, placed.holds, placed.links)
        previous = row.status
        row.origin = cell
        row.plan = placed.plan.model_dump(mode="json", by_alias=True) | {
            "pinned": sorted(pinned),
            "waitedSlots": waited,
        }
        row.status = SessionStatus.available.value
        row.started_at = now
        row.updated_at = now
        status_event(s, row, now, previous)
        del service

    def _migrate(
        self,
        s: DbSession,
        row: SessionRow,
        workflow: Workflow,
        pinned: set[str],
        cell: str,
        now: datetime,
        avoid_current: bool,
    ) -> None:
        """Move a session to a placement that serves it, or end it when there is none.

        A session whose terminal moved or whose instance went is placed anew (from where the
        terminal is); one that kept missing its QoS is moved off its nodes to a placement
        expected to meet it, or ended when there is none.
        """
        plane = self.plane
        avoid = _network_steps(row.plan) if avoid_current else set()
        release(s, row)
        s.flush()
        target = float(row.qos["latencyMs"])
        try:
            placed = place(plane, s, cell, workflow, target, row.rate_per_s, pinned, True, avoid)
        except Unprocessable:  # the new cell reaches no node for a step (place held nothing)
            end_session(plane, s, row, StatusInfo.network_terminated, now)
            return
        if placed.missing or (avoid_current and not placed.plan.meets_qos):
            release_holds(s, placed.holds, links=placed.links)
            end_session(plane, s, row, StatusInfo.network_terminated, now)
            return
        keep_holds(s, row.session_id, placed.holds, placed.links)
        old = [(st["function"], st["node"]) for st in row.plan["steps"]]
        row.plan = placed.plan.model_dump(mode="json", by_alias=True) | {
            "pinned": sorted(pinned),
            "waitedSlots": row.plan.get("waitedSlots", 0),
        }
        new = [(st["function"], st["node"]) for st in row.plan["steps"]]
        moved = old != new or cell != row.origin
        row.origin = cell
        if moved:
            row.migrations += 1
            row.violations = 0
            row.status_info = StatusInfo.migrated.value
            status_event(s, row, now, row.status)

    def _deployments(self, s: DbSession, instances: list[_Instance], now: datetime) -> None:
        live = self.plane.live
        services = {r.service_id: r for r in s.scalars(select(Service)).all()}
        for d in s.scalars(select(Deployment)).all():
            if d.status == "terminating":
                emit(
                    s,
                    "service-deployments",
                    "instance-status-changed",
                    {"deploymentId": d.deployment_id, "status": "terminating", "instances": []},
                    owner=d.owner,
                    subject=d.deployment_id,
                    sink=d.sink,
                    sink_credential=d.sink_credential,
                    now=now,
                )
                s.delete(d)
                continue
            if d.status == "failed":
                continue
            service = services.get(d.service_id)
            if service is None:
                continue
            functions = [
                st["function"] for st in service.workflow["steps"] if not st.get("pinToTerminal")
            ]
            mine = [
                i
                for i in instances
                if i.function in functions
                and (not d.zones or live.node_domain[live.node(i.node)] in d.zones)
            ]
            listing = [
                {
                    "function": i.function,
                    "node": i.node,
                    "domain": live.node_domain[live.node(i.node)],
                    "status": i.status,
                    "sinceSlot": i.since_slot,
                }
                for i in sorted(mine, key=lambda i: (i.function, i.node))
            ]
            need = d.min_instances if not d.on_demand else 1
            ready = all(
                sum(1 for i in mine if i.function == f and i.status == "ready") >= need
                for f in functions
            )
            status = "ready" if ready else "instantiating"
            if d.on_demand and ready:  # served its purpose: the policy keeps what is used
                d.status = "terminating"
            if listing != d.instances or status != d.status:
                changed = status != d.status
                d.instances = listing
                if d.status != "terminating":
                    d.status = status
                d.updated_at = now
                if changed:
                    emit(
                        s,
                        "service-deployments",
                        "instance-status-changed",
                        {"deploymentId": d.deployment_id, "status": status, "instances": listing},
                        owner=d.owner,
                        subject=d.deployment_id,
                        sink=d.sink,
                        sink_credential=d.sink_credential,
                        now=now,
                    )

    def _triggers(
        self, s: DbSession, res: _Result, now: datetime, started: list[str], stopped: list[str]
    ) -> None:
        plane = self.plane
        live, sy = plane.live, plane.system
        k = plane.settings.violation_slots
        watch = self._watch
        fired: list[tuple[str, dict[str, Any]]] = []
        for f, _off, _sat, _p50, p95, _p99 in res.metrics:
            deadline = float(sy.deadline_s[live.function(f)] * 1e3)
            late = p95 is not None and p95 > deadline
            watch.late[f] = watch.late.get(f, 0) + 1 if late else 0
            key = ("SLA_VIOLATION", f)
            if watch.late[f] >= k and key not in watch.fired:
                watch.fired.add(key)
                fired.append(
                    (
                        "SLA_VIOLATION",
                        {
                            "function": f,
                            "metric": "p95LatencyMs",
                            "value": p95,
                            "threshold": deadline,
                            "consecutiveSlots": watch.late[f],
                        },
                    )
                )
            elif watch.late[f] == 0:
                watch.fired.discard(key)
        for n, name in enumerate(live.nodes):
            hot = res.utilisation[n] > OVERLOAD
            watch.hot[name] = watch.hot.get(name, 0) + 1 if hot else 0
            key = ("OVERLOAD", name)
            if watch.hot[name] >= k and key not in watch.fired:
                watch.fired.add(key)
                fired.append(
                    (
                        "OVERLOAD",
                        {
                            "node": name,
                            "metric": "utilisation",
                            "value": float(res.utilisation[n]),
                            "threshold": OVERLOAD,
                            "consecutiveSlots": watch.hot[name],
                        },
                    )
                )
            elif watch.hot[name] == 0:
                watch.fired.discard(key)
        window = plane.settings.window_slots
        watch.demand.append(res.origin_demand)
        watch.demand = watch.demand[-2 * window :]
        if len(watch.demand) == 2 * window:
            before = np.sum(watch.demand[:window], axis=0)
            after = np.sum(watch.demand[window:], axis=0)
            divergence = _js_divergence(before, after)
            key = ("HOTSPOT_SHIFT", "cells")
            if divergence > HOTSPOT_DIVERGENCE and key not in watch.fired:
                watch.fired.add(key)
                fired.append(
                    (
                        "HOTSPOT_SHIFT",
                        {
                            "metric": "jsDivergenceBits",
                            "value": divergence,
                            "threshold": HOTSPOT_DIVERGENCE,
                            "windowSlots": window,
                        },
                    )
                )
            elif divergence <= HOTSPOT_DIVERGENCE / 2:
                watch.fired.discard(key)
        for trigger, evidence in fired:
            row = Reorchestration(
                reorchestration_id=str(uuid.uuid4()),
                slot=res.slot,
                trigger=trigger,
                evidence=evidence,
                changes={"started": sorted(started), "stopped": sorted(stopped)},
                created_at=now,
            )
            s.add(row)
            emit(
                s,
                "service-monitoring",
                {
                    "SLA_VIOLATION": "sla-violated",
                    "OVERLOAD": "node-overloaded",
                    "HOTSPOT_SHIFT": "hotspot-shifted",
                }[trigger],
                {
                    "reorchestrationId": row.reorchestration_id,
                    "slot": res.slot,
                    "trigger": trigger,
                    "evidence": evidence,
                    "changes": row.changes,
                },
                owner=None,
                subject=row.reorchestration_id,
                now=now,
            )

    def _move_terminals(self, s: DbSession) -> None:
        plane = self.plane
        p = plane.settings.move_probability
        if p <= 0 or len(plane.live.cells) < 2:
            return
        for t in s.scalars(
            select(Terminal).where(Terminal.moves.is_(True)).order_by(Terminal.client_id)
        ).all():
            if self._rng.random() >= p:
                continue
            others = [c for c in plane.live.cells if c != t.cell]
            set_location(plane, s, t.client_id, others[int(self._rng.integers(len(others)))])
