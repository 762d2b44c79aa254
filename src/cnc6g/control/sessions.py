"""The unified service request, compute and sensing sessions, and usage (seed 000, 5.2.3, 5.3).

A terminal names a service (or describes it in words), the rate of its tasks and its QoS. The
network places every step, in the workflow's order: a step pinned to the terminal (it handles
raw user data) runs on the terminal's own node; every other step goes to the fastest instance
running its function now that the terminal's cell can reach, if that node has the compute for
the session's rate left in this slot (the node's admission limit less what the last slot used
and what other sessions hold). Holding the compute is one conditional update per node, so
concurrent requests, from one process or several, never over-allocate a node; a transaction
that changes held compute locks the nodes first, in one order (:func:`lock_nodes`).

The session's transfers (the terminal's input to the first step, each step's output to the
next, the result back) hold bandwidth on the wired links they cross the same way: rate times
data on each link, which must fit in the link's capacity less the twin's load on it in the last
slot and what other sessions hold (:func:`link_room`); links are locked after nodes, in link
order.

When a step's function runs nowhere the cell can reach, or nowhere with room (compute, or
bandwidth for the plan's transfers), the session is
``REQUESTED`` and an on-demand deployment asks the orchestrator for an instance (3GPP EDGEAPP's
dynamic instantiation); the slot loop binds the session once one is ready (``AVAILABLE``) or
gives it up. While a session lives, its tasks load the twin; every slot its measured latency is
compared with its QoS, its usage is metered, and it is moved (``MIGRATED``) or ended when the
network can no longer serve it (see :mod:`cnc6g.control.runtime`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import (
    Float,
    Integer,
    String,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session as DbSession

from cnc6g.control.catalog import get_service_row
from cnc6g.control.errors import Conflict, NotFound, Unprocessable
from cnc6g.control.events import emit, emit_all
from cnc6g.control.intent import bm25, clear_winner
from cnc6g.control.live import StepOption
from cnc6g.control.plane import CLOCK_EPOCH, CLOCK_SLOT, ControlPlane
from cnc6g.control.schemas import (
    ExtendRequest,
    Placement,
    Plan,
    PlannedStep,
    RequestInfo,
    ServiceRequest,
    SessionInfo,
    SessionKind,
    SessionPatch,
    SessionStatus,
    StatusInfo,
    UsageLine,
    UsageReport,
    Workflow,
)
from cnc6g.control.security import Principal
from cnc6g.control.subscriptions import set_location
from cnc6g.policies import paths
from cnc6g.storage.db import page_of
from cnc6g.storage.tables import (
    Deployment,
    Instance,
    Link,
    LinkHold,
    Node,
    Reservation,
    Service,
    Terminal,
)
from cnc6g.storage.tables import Session as SessionRow

API = {SessionKind.compute: "compute-sessions", SessionKind.sensing: "sensing-sessions"}

NODES_LOCKED = "cnc6g.nodes-locked"
"""Key in a transaction's ``info``: it has locked every node (:func:`lock_nodes`)."""
SOME_NODES_LOCKED = "cnc6g.some-nodes-locked"
"""Key in a transaction's ``info`` of the nodes it has locked when not all."""
LINKS_LOCKED = "cnc6g.links-locked"
"""Key in a transaction's ``info``: it has locked every wired link (with every node)."""
SOME_LINKS_LOCKED = "cnc6g.some-links-locked"
"""Key in a transaction's ``info`` of the links it has locked when not all."""
SLOT_VIEW = "slot-view"
"""Key in the plane's cache of the last :class:`SlotView`."""

IN_BATCH = 500
"""Ids per ``IN (...)`` list."""
DAG_MILP_STEPS = 8
"""A workflow DAG (not a chain) of at most this many steps is placed exactly (MILP); a larger
one by the scheduler's greedy rule."""
DAG_TIME_LIMIT_S = 0.5
"""Time limit of the MILP of a DAG's placement, s."""
JOINT_PLANS = "joint-plans"
"""Key in the plane's cache of the slot's joint plans (:func:`joint_plan`)."""
JOINT_PLANS_KEPT = 1024
"""Joint plans kept per slot at most (the cache starts afresh beyond)."""
CANDIDATE_LINKS = "candidate-links"
"""Key in the plane's cache of the links each cell's candidates may cross."""

NODES: Table = Node.__table__  # type: ignore[assignment]
INSTANCES: Table = Instance.__table__  # type: ignore[assignment]
RESERVATIONS: Table = Reservation.__table__  # type: ignore[assignment]
SESSIONS: Table = SessionRow.__table__  # type: ignore[assignment]
TERMINALS: Table = Terminal.__table__  # type: ignore[assignment]
"""The tables of the decision path, written with SQLAlchemy Core: one statement per table and
no ORM loading or flush while the nodes are locked."""
SERVICES: Table = Service.__table__  # type: ignore[assignment]
LINKS: Table = Link.__table__  # type: ignore[assignment]
LINK_HOLDS: Table = LinkHold.__table__  # type: ignore[assignment]

_n = NODES.c
HOLD = (
    update(NODES)
    .where(
        _n.node == bindparam("b_node"),
        _n.background_gcps + _n.reserved_gcps + bindparam("b_gcps") <= _n.admission_gcps,
    )
    .values(reserved_gcps=_n.reserved_gcps + bindparam("b_gcps"))
)
"""Hold compute on a node if it has room (the statements are built once, not per request)."""
GIVE_BACK = (
    update(NODES)
    .where(_n.node == bindparam("b_node"))
    .values(reserved_gcps=_n.reserved_gcps - bindparam("b_gcps"))
)
SET_RESERVED = (
    update(NODES)
    .where(_n.node == bindparam("b_node"))
    .values(reserved_gcps=bindparam("b_reserved"))
)
"""The compute held on a node, as a transaction that holds every node locked worked it out."""
_HOLD_ALL: dict[int, Update] = {}


def hold_all_statement(count: int) -> Update:
    """:data:`HOLD` for ``count`` nodes at once (``b_node<i>``, ``b_gcps<i>``).

    It returns the nodes it held compute on, each with the same condition and sum as
    :data:`HOLD`'s; one statement instead of one per node.
    """
    statement = _HOLD_ALL.get(count)
    if statement is None:
        statement = _HOLD_ALL[count] = _hold_many(
            (NODES, _n.node, String(), "b_node", "b_gcps"),
            (_n.background_gcps, _n.reserved_gcps, _n.admission_gcps),
            count,
        )
    return statement


def _hold_many(
    table: tuple[Table, Any, Any, str, str], columns: tuple[Any, Any, Any], count: int
) -> Update:
    """Add ``<amount><i>`` to ``reserved`` of the row keyed ``<key><i>``, ``count`` rows at once.

    ``table`` is the table, its key column, the key's type and the two bind names' prefixes;
    ``columns`` the row's load, reserved and limit columns. A row is held only where its load,
    what is reserved and the amount stay within the limit; the statement returns the keys of the
    rows it held.
    """
    rows, key, key_type, key_bind, amount_bind = table
    load, reserved, limit = columns
    keys = [bindparam(f"{key_bind}{i}", type_=key_type) for i in range(count)]
    need = case(
        *((key == keys[i], bindparam(f"{amount_bind}{i}", type_=Float())) for i in range(count)),
        else_=None,
    )
    return (
        update(rows)
        .where(key.in_(keys), load + reserved + need <= limit)
        .values({reserved.key: reserved + need})
        .returning(key)
    )


LOCK_NODES = select(_n.node).order_by(_n.node).with_for_update()
LOCK_SOME_NODES = (
    select(_n.node)
    .where(_n.node.in_(bindparam("b_nodes", expanding=True)))
    .order_by(_n.node)
    .with_for_update()
)
NODE_UTILISATION = select(_n.node, _n.utilisation)
READ_NODES = select(NODES)
READ_ROOM = select(_n.node, _n.admission_gcps, _n.background_gcps, _n.reserved_gcps)
LOCK_ROOM = (
    READ_ROOM.where(_n.node.in_(bindparam("b_nodes", expanding=True)))
    .order_by(_n.node)
    .with_for_update()
)
""":data:`LOCK_SOME_NODES` that reads the room of the nodes it locks (PostgreSQL returns a row
locked by ``FOR UPDATE`` as it is once the lock is taken)."""
"""The room of every node, read after a request has locked those it may hold compute on (one
statement without parameters: cheaper than a list of the candidates at the systems served)."""
RUNNING = select(INSTANCES.c.function, INSTANCES.c.node)
TERMINAL_CELL = select(TERMINALS.c.cell).where(TERMINALS.c.client_id == bindparam("b_client"))
READ_SERVICE = select(SERVICES).where(SERVICES.c.service_id == bindparam("b_service"))
READ_REQUEST = select(
    SERVICES,
    select(TERMINALS.c.cell)
    .where(TERMINALS.c.client_id == bindparam("b_client"))
    .scalar_subquery()
    .label("terminal_cell"),
    CLOCK_SLOT.label("clock_slot"),
    CLOCK_EPOCH.label("clock_epoch"),
).where(SERVICES.c.service_id == bindparam("b_service"))
"""What a request reads first, in one statement: the service, the caller's cell, the clock."""
ADD_SESSION = insert(SESSIONS)
END_SESSION = (
    update(SESSIONS)
    .where(SESSIONS.c.session_id == bindparam("b_id"))
    .values(
        status=SessionStatus.unavailable.value,
        status_info=bindparam("b_info"),
        updated_at=bindparam("b_at"),
        version_id=SESSIONS.c.version_id + 1,
    )
)
ADD_HOLDS = insert(RESERVATIONS)

_l = LINKS.c
READ_LINK_ROOM = select(_l.link, _l.capacity_mbps, _l.background_mbps, _l.reserved_mbps)
"""The bandwidth of every wired link: its capacity, the last slot's load, what is held."""
LOCK_LINK_ROOM = (
    READ_LINK_ROOM.where(_l.link.in_(bindparam("b_links", expanding=True)))
    .order_by(_l.link)
    .with_for_update()
)
""":data:`READ_LINK_ROOM` of the links given, locked in link order (PostgreSQL)."""
LOCK_LINKS = select(_l.link).order_by(_l.link).with_for_update()
GIVE_BACK_LINK = (
    update(LINKS)
    .where(_l.link == bindparam("b_link"))
    .values(reserved_mbps=_l.reserved_mbps - bindparam("b_mbps"))
)
SET_LINK_RESERVED = (
    update(LINKS)
    .where(_l.link == bindparam("b_link"))
    .values(reserved_mbps=bindparam("b_reserved"))
)
"""The bandwidth held on a link, as a transaction that holds every link locked worked it out."""
ADD_LINK_HOLDS = insert(LINK_HOLDS)
LINK_HOLDS_OF = select(LINK_HOLDS.c.session_id, LINK_HOLDS.c.link, LINK_HOLDS.c.mbps).where(
    LINK_HOLDS.c.session_id.in_(bindparam("b_ids", expanding=True))
)
DROP_LINK_HOLDS = delete(LINK_HOLDS).where(
    LINK_HOLDS.c.session_id.in_(bindparam("b_ids", expanding=True))
)
_HOLD_LINKS: dict[int, Update] = {}


def hold_links_statement(count: int) -> Update:
    """Hold bandwidth on ``count`` links at once (``b_link<i>``, ``b_mbps<i>``) where it fits.

    A link has room for ``mbps`` when its load in the last slot, what is held on it and
    ``mbps`` stay within its capacity; the statement returns the links it held bandwidth on.
    """
    statement = _HOLD_LINKS.get(count)
    if statement is None:
        statement = _HOLD_LINKS[count] = _hold_many(
            (LINKS, _l.link, Integer(), "b_link", "b_mbps"),
            (_l.background_mbps, _l.reserved_mbps, _l.capacity_mbps),
            count,
        )
    return statement


def lock_nodes(s: DbSession, names: Iterable[str] | None = None) -> None:
    """Lock nodes for the rest of the transaction, taken in name order: every one, or ``names``.

    Every transaction that changes the compute held on nodes (a placement, a release, a slot's
    write) locks them first, so two of them never wait for each other's node rows in opposite
    orders (a deadlock on PostgreSQL; SQLite's write lock, taken when the transaction begins,
    already orders them and makes a lock of some nodes needless). A placement locks only the
    nodes it may hold compute on; a slot's write and a change of a session lock them all. A
    transaction takes one set: a later call for nodes it holds locked already changes nothing
    (a placement that fails gives back compute on nodes it locked). Wired links are locked
    after nodes, in link order: locking every node locks every link too on PostgreSQL, and a
    placement locks the links its candidates may cross (:func:`link_room`).
    """
    if s.info.get(NODES_LOCKED):
        return
    if names is None:
        s.execute(LOCK_NODES).all()
        s.info[NODES_LOCKED] = True
        if s.get_bind().dialect.name != "sqlite" and not s.info.get(LINKS_LOCKED):
            s.execute(LOCK_LINKS).all()  # after the nodes, as a request takes them
            s.info[LINKS_LOCKED] = True
        return
    if s.get_bind().dialect.name == "sqlite":
        return
    some: set[str] = s.info.setdefault(SOME_NODES_LOCKED, set())
    new = sorted(set(names) - some)
    if new:
        s.connection().execute(LOCK_SOME_NODES, {"b_nodes": new}).all()
        some.update(new)


def lock_room(s: DbSession, names: set[str]) -> list[Any] | None:
    """Lock nodes as :func:`lock_nodes` does and, when that takes a lock, read their room.

    PostgreSQL locks the nodes not locked yet and reads them in one statement
    (:data:`LOCK_ROOM`): their rows then (None when the transaction held every one already
    locked, or on SQLite, where the write lock taken at ``BEGIN`` needs no lock of rows: the
    caller reads them).
    """
    if s.info.get(NODES_LOCKED) or s.get_bind().dialect.name == "sqlite":
        return None
    some: set[str] = s.info.setdefault(SOME_NODES_LOCKED, set())
    if some & names:
        lock_nodes(s, names)
        return None
    rows = list(s.connection().execute(LOCK_ROOM, {"b_nodes": sorted(names)}))
    some.update(names)
    return rows


def link_room(s: DbSession, links: Iterable[int]) -> dict[int, float]:
    """The bandwidth each wired link has left in this slot, Mbit/s, after locking ``links``.

    A link's room is its capacity less the twin's load on it in the last slot (its
    ``background_mbps``) and what sessions hold. On PostgreSQL the links not locked yet among
    ``links`` are locked in link order and read in one statement (a transaction locks its
    nodes first: :func:`lock_nodes`); on SQLite, whose write lock is taken at ``BEGIN``, and
    where every link is locked already, every link is read.
    """
    conn = s.connection()
    if s.get_bind().dialect.name == "sqlite" or s.info.get(LINKS_LOCKED):
        rows = list(conn.execute(READ_LINK_ROOM))
    else:
        some: set[int] = s.info.setdefault(SOME_LINKS_LOCKED, set())
        wanted = set(links)
        new = sorted(wanted - some)
        if new and not some & wanted:
            rows = list(conn.execute(LOCK_LINK_ROOM, {"b_links": new}))
        else:
            if new:
                conn.execute(LOCK_LINK_ROOM, {"b_links": new}).all()
            rows = list(conn.execute(READ_LINK_ROOM))
        some.update(new)
    return {r.link: r.capacity_mbps - r.background_mbps - r.reserved_mbps for r in rows}


@dataclass(frozen=True)
class SlotView:
    """What placement reads that only a slot's write changes.

    Attributes:
        slot: the slot it is of.
        running: ``(function, node)`` of every instance running.
        nodes: the nodes of the database.
        utilisation: ``[N]`` utilisation of each node of the live system in the last slot.
    """

    slot: int
    running: frozenset[tuple[str, str]]
    nodes: frozenset[str]
    utilisation: np.ndarray


def slot_view(plane: ControlPlane, s: DbSession, slot: int | None) -> SlotView:
    """The running instances and the nodes' utilisation, read once per slot and process.

    A slot's write changes both in the transaction that moves the slot number on, so what
    was read at slot ``slot`` holds until the number changes; it is kept only when the slot
    read again after it is still ``slot`` (on PostgreSQL a slot may commit between two
    statements). ``slot`` None: read them now, for a slot's own write (which changes them).
    """
    cached: SlotView | None = plane.cache.get(SLOT_VIEW)
    if slot is not None and cached is not None and cached.slot == slot:
        return cached
    conn = s.connection()
    running = frozenset((f, n) for f, n in conn.execute(RUNNING))
    util = {n: float(u) for n, u in conn.execute(NODE_UTILISATION)}
    view = SlotView(
        -1 if slot is None else slot,
        running,
        frozenset(util),
        np.array([util.get(n, 0.0) for n in plane.live.nodes]),
    )
    if slot is not None and plane.clock(s)[0] == slot:
        plane.cache[SLOT_VIEW] = view
    return view


class Room:
    """The compute of every node, read once by a transaction that holds them all locked.

    A slot's write locks every node before it moves sessions (:func:`lock_nodes`), so no other
    transaction changes a node's compute until it commits: it reads the nodes once, places the
    sessions to move one after the other against this copy (each hold and give-back the same
    arithmetic as :data:`HOLD` and :data:`GIVE_BACK`, in the same order, so the same doubles),
    and writes the compute held on the nodes that changed in one statement (:meth:`write`).

    The wired links' bandwidth is kept the same way (a slot's write holds every link locked too).

    Args:
        rows: :data:`READ_ROOM`'s rows.
        links: :data:`READ_LINK_ROOM`'s rows.
    """

    def __init__(self, rows: Iterable[Any], links: Iterable[Any] = ()) -> None:
        self.nodes: dict[str, list[float]] = {
            r.node: [r.admission_gcps, r.background_gcps, r.reserved_gcps] for r in rows
        }
        self._read = {n: v[2] for n, v in self.nodes.items()}
        self.links: dict[int, list[float]] = {
            r.link: [r.capacity_mbps, r.background_mbps, r.reserved_mbps] for r in links
        }
        self._links_read = {li: v[2] for li, v in self.links.items()}

    def link_left(self) -> dict[int, float]:
        """Bandwidth each link has left to hold, Mbit/s (as :func:`link_room` reads it)."""
        return {li: c - b - r for li, (c, b, r) in self.links.items()}

    def hold_links(self, use: dict[int, float]) -> dict[int, float]:
        """Hold bandwidth on links where it fits (``hold_links_statement``); what was held."""
        held: dict[int, float] = {}
        for li, mbps in use.items():
            state = self.links.get(li)
            if state is not None and state[1] + state[2] + mbps <= state[0]:
                state[2] = state[2] + mbps
                held[li] = mbps
        return held

    def give_back_links(self, use: dict[int, float]) -> None:
        """Give back bandwidth held on links (:data:`GIVE_BACK_LINK`)."""
        for li, mbps in use.items():
            state = self.links[li]
            state[2] = state[2] - mbps

    def left(self, node: str) -> float:
        """Compute ``node`` has left to hold, Gcycles/s (as :func:`_place` reads it)."""
        admission, background, reserved = self.nodes[node]
        return admission - background - reserved

    def hold(self, node: str, gcps: float) -> bool:
        """Hold ``gcps`` on ``node`` if it has room (:data:`HOLD`'s condition); whether it had."""
        state = self.nodes.get(node)
        if state is None or not state[1] + state[2] + gcps <= state[0]:
            return False
        state[2] = state[2] + gcps
        return True

    def give_back(self, node: str, gcps: float) -> None:
        """Give back ``gcps`` held on ``node`` (:data:`GIVE_BACK`)."""
        state = self.nodes[node]
        state[2] = state[2] - gcps

    def write(self, s: DbSession) -> None:
        """Write the compute held on the nodes that changed since they were read."""
        changed = [
            {"b_node": n, "b_reserved": v[2]}
            for n, v in self.nodes.items()
            if v[2] != self._read[n]
        ]
        if changed:
            s.connection().execute(SET_RESERVED, changed)
            self._read.update({c["b_node"]: c["b_reserved"] for c in changed})
        moved = [
            {"b_link": li, "b_reserved": v[2]}
            for li, v in self.links.items()
            if v[2] != self._links_read[li]
        ]
        if moved:
            s.connection().execute(SET_LINK_RESERVED, moved)
            self._links_read.update({c["b_link"]: c["b_reserved"] for c in moved})


@dataclass(frozen=True)
class Placed:
    """A plan, the compute it holds on each node, and the functions that run nowhere yet.

    ``links``: the bandwidth it holds on each wired link its transfers cross, Mbit/s.
    """

    plan: Plan
    holds: dict[str, float]
    missing: list[str]
    links: dict[int, float] = field(default_factory=dict)


def place(
    plane: ControlPlane,
    s: DbSession,
    cell: str,
    workflow: Workflow,
    qos_ms: float,
    rate: float,
    pinned: set[str],
    hold: bool,
    avoid: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
    slot: int | None = None,
    room: Room | None = None,
    view: SlotView | None = None,
) -> Placed:
    """Place every step of ``workflow`` for a terminal in ``cell`` (see the module's text).

    Args:
        plane: the control plane.
        s: the transaction (holds are made in it).
        cell: where the terminal is.
        workflow: the service's steps.
        qos_ms: the latency target, ms.
        rate: tasks per second.
        pinned: ids of steps that must run on the terminal (besides the workflow's own pins).
        hold: hold the compute of each network step (else only plan).
        avoid: ``(function, node)`` pairs not to use (a session moving away from them).
        slot: the slot the transaction read (the running instances and the nodes' utilisation
            are then read once per slot, :func:`slot_view`); None: read them now.
        room: the nodes' compute as a slot's write keeps it while it holds every node locked
            (:class:`Room`): holds are made and given back there, not in the database.
        view: the running instances and the utilisation already read in this transaction.

    Raises:
        Unprocessable: a step can run nowhere the cell reaches (or a pinned step cannot run on
            the terminal); nothing is held then.
    """
    live = plane.live
    if view is None:
        view = slot_view(plane, s, slot)
    steps = []
    for step in workflow.order():
        on_terminal = step.pin_to_terminal or step.step_id in pinned
        tiers = {"terminal"} if on_terminal else None
        if step.allowed_tiers and not on_terminal:
            tiers = {t.value for t in step.allowed_tiers}
        options = live.options(cell, step.function, view.utilisation, tiers)
        if not on_terminal:
            options = [o for o in options if not o.local]
        if not options:
            where = "on the terminal" if on_terminal else "on a node the cell reaches"
            raise Unprocessable(
                f"step {step.step_id!r}: function {step.function!r} cannot run {where} "
                f"(cell {cell})",
                code="SERVICE_REQUESTS.NO_FEASIBLE_PLACEMENT",
            )
        up = [
            o
            for o in options
            if (step.function, o.node) in view.running
            and (step.function, o.node) not in avoid
            and o.node in view.nodes
        ]
        steps.append((step, on_terminal, options, up))
    return _place(plane, s, cell, workflow, qos_ms, rate, hold, steps, view, room)


def _place(
    plane: ControlPlane,
    s: DbSession,
    cell: str,
    workflow: Workflow,
    qos_ms: float,
    rate: float,
    hold: bool,
    steps: list[tuple[Any, bool, list[StepOption], list[StepOption]]],
    view: SlotView,
    room_kept: Room | None = None,
) -> Placed:
    """:func:`place` once every step's options are known: the joint plan and its holds.

    The nodes a step may be held on are locked (when holding) and their room read; the path
    scheduler places the steps jointly (:func:`joint_plan`) and the compute of each node is
    held with one conditional update. Where it finds no placement, the terminal's cell has no
    terminal node, or a hold is refused (a concurrent request took the room: the rows read
    under the lock make this the exception), the steps are placed one by one
    (:func:`_place_per_step`), which holds step by step and tells what runs nowhere with room.

    Wired links: when the plan's transfers cross links, the links the candidates may cross are
    locked (PostgreSQL) and their bandwidth read; a plan whose transfers do not fit is made
    again under that bandwidth (:func:`joint_plan`'s ``link_left``), and the plan's bandwidth
    is held with one conditional update of the links (:func:`_hold_plan`). On SQLite, whose
    write lock is taken at ``BEGIN``, the conditional update is tried first and the links are
    read (and the plan made again) only when it refuses. A plan still refused is placed step
    by step. A plan that crosses no link reads and holds nothing on links.
    """
    candidates = {o.node for _, on_terminal, _, up in steps if not on_terminal for o in up}
    room: dict[str, float] = {}
    if room_kept is not None:
        room = {n: room_kept.left(n) for n in candidates if n in room_kept.nodes}
    elif candidates:
        rows = lock_room(s, candidates) if hold else None
        for r in s.connection().execute(READ_ROOM) if rows is None else rows:
            if r.node in candidates:
                room[r.node] = r.admission_gcps - r.background_gcps - r.reserved_gcps
    joint = joint_plan(plane, cell, workflow, rate, steps, room, view.utilisation, view.slot)
    left: dict[int, float] | None = None

    def again_under_links() -> Any:
        assert left is not None
        return joint_plan(
            plane,
            cell,
            workflow,
            rate,
            steps,
            room,
            view.utilisation,
            view.slot,
            link_left=_link_array(plane, left),
        )

    # On SQLite (its write lock taken at BEGIN) the links' conditional update is the check: the
    # links are read only when it refuses. Elsewhere they are locked and read before holding.
    at_once = hold and room_kept is None and s.get_bind().dialect.name == "sqlite"
    if joint is not None and joint[3] and not at_once:  # its transfers cross wired links
        left = _links_left(plane, s, cell, candidates, room_kept)
        if not _fits(joint[3], left):
            joint = again_under_links()
    if joint is None:
        return _place_per_step(plane, s, cell, workflow, qos_ms, rate, hold, steps, room_kept)
    held = _hold_plan(plane, s, steps, rate, joint, room_kept) if hold else ({}, {})
    if held is None and left is None and joint[3]:  # refused on SQLite: read the links now
        left = _links_left(plane, s, cell, candidates, room_kept)
        if not _fits(joint[3], left):
            joint = again_under_links()
            held = None if joint is None else _hold_plan(plane, s, steps, rate, joint, room_kept)
    if joint is None or held is None:
        return _place_per_step(plane, s, cell, workflow, qos_ms, rate, hold, steps, room_kept)
    picks, parts, total, _ = joint
    taken, links_taken = held
    chosen = []
    for (step, on_terminal, options, _), node, part in zip(steps, picks, parts, strict=True):
        option = next(o for o in options if o.node == node)
        chosen.append(
            PlannedStep(
                step_id=step.step_id,
                function=step.function,
                placement=Placement.terminal if on_terminal else Placement.network,
                node=node,
                domain=option.domain,
                expected_latency_ms=round(part, 3),
            )
        )
    plan = Plan(steps=chosen, expected_latency_ms=round(total, 3), meets_qos=total <= qos_ms)
    return Placed(plan, taken, [], links_taken)


def _hold_plan(
    plane: ControlPlane,
    s: DbSession,
    steps: list[tuple[Any, bool, list[StepOption], list[StepOption]]],
    rate: float,
    joint: tuple[list[str], list[float], float, dict[int, float]],
    room: Room | None,
) -> tuple[dict[str, float], dict[int, float]] | None:
    """Hold a joint plan's compute on its nodes, then its bandwidth on the links it crosses.

    One conditional update for the nodes and one for the links (or in ``room``): the compute
    and the bandwidth held, or None when a node or a link refused (nothing is held then).
    """
    sy = plane.system
    picks, _, _, use = joint
    holds: dict[str, float] = {}
    for (step, on_terminal, _, _), node in zip(steps, picks, strict=True):
        if not on_terminal:
            need = rate * float(sy.work[plane.live.function(step.function)])
            holds[node] = holds.get(node, 0.0) + need
    taken: dict[str, float] = {}
    if holds:
        if room is not None:
            for node, need in holds.items():  # up to the first node without room
                if not room.hold(node, need):
                    break
                taken[node] = need
        else:
            params: dict[str, Any] = {}
            for i, (node, need) in enumerate(holds.items()):
                params[f"b_node{i}"], params[f"b_gcps{i}"] = node, need
            held = s.connection().execute(hold_all_statement(len(holds)), params).scalars()
            taken = {n: holds[n] for n in held}
        if len(taken) < len(holds):
            release_holds(s, taken, room)
            return None
    links: dict[int, float] = {}
    if use:
        links = _hold_links(s, use, room)
        if len(links) < len(use):
            release_holds(s, taken, room, links)
            return None
    return taken, links


def _hold_links(s: DbSession, use: dict[int, float], room: Room | None) -> dict[int, float]:
    """The bandwidth held per link: ``use`` where it fits, in ``room`` or with one update.

    The update is :func:`hold_links_statement`'s conditional one.
    """
    if room is not None:
        return room.hold_links(use)
    params: dict[str, Any] = {}
    for i, (li, mbps) in enumerate(use.items()):
        params[f"b_link{i}"], params[f"b_mbps{i}"] = li, mbps
    held = s.connection().execute(hold_links_statement(len(use)), params).scalars()
    return {li: use[li] for li in held}


def _candidate_links(plane: ControlPlane, cell: str, candidates: set[str]) -> set[int]:
    """The wired links a transfer between the terminal of ``cell`` and ``candidates`` may cross.

    Kept per cell and set of candidates (the system's paths do not change).
    """
    key = (cell, frozenset(candidates))
    kept: dict[Any, set[int]] = plane.cache.setdefault(CANDIDATE_LINKS, {})
    links = kept.get(key)
    if links is None:
        sy = plane.system
        g = paths.node_graph(sy)
        term = int(g.terminal_of[plane.live.cell(cell)])
        at = [term] + [plane.live.node(n) for n in candidates]
        crossed = np.unique(g.path_links[np.ix_(at, at)])
        if len(kept) >= JOINT_PLANS_KEPT:
            kept.clear()
        links = kept[key] = {int(li) for li in crossed if li < sy.n_links}
    return links


def _links_left(
    plane: ControlPlane, s: DbSession, cell: str, candidates: set[str], room: Room | None
) -> dict[int, float]:
    """Bandwidth left on the links a placement may cross (locked first: :func:`link_room`)."""
    if room is not None:
        return room.link_left()
    return link_room(s, _candidate_links(plane, cell, candidates))


def _fits(use: dict[int, float], left: dict[int, float]) -> bool:
    """Whether the bandwidth ``use`` needs is left on every link it crosses."""
    return all(mbps <= left.get(li, 0.0) for li, mbps in use.items())


def _link_array(plane: ControlPlane, left: dict[int, float]) -> np.ndarray:
    """``[L]`` bandwidth left per link for the scheduler (0 on a link not read)."""
    out = np.zeros(plane.system.n_links)
    for li, mbps in left.items():
        out[li] = mbps
    return out


def _path_steps(
    plane: ControlPlane,
    workflow: Workflow,
    steps: list[tuple[Any, bool, list[StepOption], list[StepOption]]],
) -> tuple[paths.Step, ...]:
    """The scheduler's steps of ``steps`` (in their order), each after its parents."""
    index = {step.step_id: i for i, (step, _, _, _) in enumerate(steps)}
    parents: dict[str, list[int]] = {step.step_id: [] for step, _, _, _ in steps}
    for edge in workflow.edges:
        parents[edge.to_step_id].append(index[edge.from_step_id])
    return tuple(
        paths.Step(plane.live.function(step.function), False, tuple(sorted(parents[step.step_id])))
        for step, _, _, _ in steps
    )


def _link_use(
    plane: ControlPlane, origin: int, path_steps: tuple[paths.Step, ...], rate: float, nodes: Any
) -> dict[int, float]:
    """Mbit/s each wired link carries for the steps on ``nodes`` (those it crosses only)."""
    req = paths.Request(origin, path_steps, rate=rate)
    use = paths.link_use(plane.system, req, tuple(int(n) for n in nodes))
    return {int(li): float(use[li]) for li in np.flatnonzero(use > 0)}


def joint_plan(
    plane: ControlPlane,
    cell: str,
    workflow: Workflow,
    rate: float,
    steps: list[tuple[Any, bool, list[StepOption], list[StepOption]]],
    room: dict[str, float],
    utilisation: np.ndarray | None,
    slot: int = -1,
    link_left: np.ndarray | None = None,
) -> tuple[list[str], list[float], float, dict[int, float]] | None:
    """The steps placed jointly by the service path scheduler (:mod:`cnc6g.policies.paths`).

    A step pinned to the terminal may run on its terminal option only (it holds no compute);
    every other step on a node running an instance of its function (``up``) whose room, the
    gigacycles/s it can still take in this slot, covers the session's rate; steps sharing a
    node share its room. The scheduler minimises the end-to-end latency, then the energy, of
    the terminal's input through every step and transfer back to the terminal (exact: dynamic
    programming for a chain, a MILP for a small DAG). With ``link_left``, the bandwidth each
    wired link has left in this slot (Mbit/s, ``[L]``), the session's transfers (rate times the
    data of each transfer, on every link of its path) must fit in it too, links shared by
    several transfers jointly; without it links are not a constraint (:func:`_place` plans
    without them first and again with them when the plan's transfers do not fit).

    Within a slot (``slot`` >= 0: the utilisation is the slot's), a plan is kept per cell,
    steps, rate and set of nodes each step may use when it is also the best plan without the
    nodes' shared room: a later request with the same keys gets it again when its steps still
    fit together in the room left, which makes it that request's exact answer too (a plan
    under ``link_left`` is neither kept nor taken from there).

    Returns:
        The node of each step, each step's part of the latency (ms), the latency (ms) and the
        bandwidth its transfers need on each wired link they cross (Mbit/s); None when no
        placement fits or the cell has no terminal node.
    """
    live, sy = plane.live, plane.system
    origin = live.cell(cell)
    g = paths.node_graph(sy)
    if g.terminal_of[origin] < 0:
        return None
    path_steps = _path_steps(plane, workflow, steps)
    N = sy.n_nodes
    left = np.zeros(N)
    allowed = np.zeros((len(steps), N), dtype=bool)
    for i, (_, on_terminal, options, up) in enumerate(steps):
        f = path_steps[i].function
        need = rate * float(sy.work[f])
        if on_terminal:
            n = live.node(options[0].node)
            allowed[i, n] = True
            left[n] = np.inf
        else:
            for o in up:
                n = live.node(o.node)
                if room.get(o.node, 0.0) >= need - 1e-12:
                    allowed[i, n] = True
                    left[n] = room[o.node]
        if not allowed[i].any():
            return None
    key = (cell, path_steps, rate, allowed.tobytes())
    kept: dict[Any, Any] = plane.cache.get(JOINT_PLANS, {})
    if link_left is None and slot >= 0 and kept.get("slot") == slot and key in kept:
        plan = kept[key]
        used: dict[int, float] = {}
        for st, n in zip(path_steps, plan[3], strict=True):
            used[n] = used.get(n, 0.0) + rate * float(sy.work[st.function])
        if all(need <= left[n] + 1e-9 for n, need in used.items()):
            return plan[0], plan[1], plan[2], plan[4]
    req = paths.Request(
        origin,
        path_steps,
        rate=rate,
        compute_left=left,
        link_left=link_left,
        utilisation=utilisation,
        allowed=allowed,
    )
    placed = _schedule(sy, req)
    if not placed.feasible:
        return None
    parts = paths.step_latencies(sy, req, placed.nodes)
    plan = (
        paths.placement_nodes(sy, placed),
        [p * 1e3 for p in parts],
        placed.latency_s * 1e3,
        placed.nodes,
        _link_use(plane, origin, path_steps, rate, placed.nodes),
    )
    if slot >= 0 and link_left is None:
        alone = _schedule(sy, replace(req, compute_left=np.where(allowed.any(axis=0), np.inf, 0)))
        if alone.nodes == placed.nodes:  # the best plan whatever the room shared
            if kept.get("slot") != slot or len(kept) > JOINT_PLANS_KEPT:
                kept = {"slot": slot}
                plane.cache[JOINT_PLANS] = kept
            kept[key] = plan
    return plan[0], plan[1], plan[2], plan[4]


def _schedule(system: Any, req: paths.Request) -> paths.Placement:
    """The scheduler's placement: exact for a chain or a small DAG, greedy beyond."""
    if paths.is_chain(req):
        return paths.schedule_chain(system, req)
    if len(req.steps) <= DAG_MILP_STEPS:
        return paths.schedule_dag(system, req, time_limit=DAG_TIME_LIMIT_S)
    return paths.schedule_greedy(system, req)


def _place_per_step(
    plane: ControlPlane,
    s: DbSession,
    cell: str,
    workflow: Workflow,
    qos_ms: float,
    rate: float,
    hold: bool,
    steps: list[tuple[Any, bool, list[StepOption], list[StepOption]]],
    room: Room | None = None,
) -> Placed:
    """The steps one by one in the workflow's order, each on its fastest instance with room.

    A step's latency is its option's (:meth:`LiveSystem.options`: a round trip from the
    terminal); a DAG's is its critical path. When a step has no instance with room, its
    function is ``missing`` and nothing is held. When every step has one but the plan's
    transfers do not fit in the bandwidth left on the wired links they cross, every network
    step's function is ``missing`` (the session waits for room as for compute) and nothing is
    held either.
    """
    live, sy = plane.live, plane.system
    holds: dict[str, float] = {}
    nodes: dict[str, Any] = {}
    if not hold:
        nodes = {n.node: n for n in s.execute(READ_NODES)}
    conn = s.connection()
    chosen: list[PlannedStep] = []
    missing: list[str] = []
    finish: dict[str, float] = {}
    parents: dict[str, list[str]] = {st.step_id: [] for st in workflow.steps}
    for edge in workflow.edges:
        parents[edge.to_step_id].append(edge.from_step_id)
    for step, on_terminal, options, up in steps:
        pick: StepOption | None = options[0]
        if not on_terminal:
            need = rate * float(sy.work[live.function(step.function)])
            pick = None
            for option in up:
                if hold and room is not None:
                    if not room.hold(option.node, need):
                        continue
                    holds[option.node] = holds.get(option.node, 0.0) + need
                elif hold:
                    taken = conn.execute(HOLD, {"b_node": option.node, "b_gcps": need}).rowcount
                    if not taken:
                        continue
                    holds[option.node] = holds.get(option.node, 0.0) + need
                else:
                    row = nodes.get(option.node)
                    if row is None or (
                        row.background_gcps + row.reserved_gcps + need > row.admission_gcps
                    ):
                        continue
                pick = option
                break
            if pick is None:
                missing.append(step.function)
                pick = options[0]
        start = max((finish[p] for p in parents[step.step_id]), default=0.0)
        finish[step.step_id] = start + pick.latency_ms
        chosen.append(
            PlannedStep(
                step_id=step.step_id,
                function=step.function,
                placement=Placement.terminal if on_terminal else Placement.network,
                node=pick.node,
                domain=pick.domain,
                expected_latency_ms=round(pick.latency_ms, 3),
            )
        )
    total = max(finish.values())
    plan = Plan(steps=chosen, expected_latency_ms=round(total, 3), meets_qos=total <= qos_ms)
    links: dict[int, float] = {}
    origin = live.cell(cell)
    if not missing and paths.node_graph(sy).terminal_of[origin] >= 0:
        use = _link_use(
            plane,
            origin,
            _path_steps(plane, workflow, steps),
            rate,
            [live.node(p.node) for p in chosen],
        )
        if use:
            candidates = {o.node for _, on_t, _, up in steps if not on_t for o in up}
            left = _links_left(plane, s, cell, candidates, room)
            if _fits(use, left):
                links = _hold_links(s, use, room) if hold else use
            if len(links) < len(use):
                if hold:
                    release_holds(s, {}, room, links)
                links = {}
                missing = [p.function for p in chosen if p.placement is Placement.network]
    if missing and hold:  # a session that cannot start holds nothing
        release_holds(s, holds, room)
        holds.clear()
    return Placed(plan, dict(holds), missing, links)


def release_holds(
    s: DbSession,
    holds: dict[str, float],
    room: Room | None = None,
    links: dict[int, float] | None = None,
) -> None:
    """Give back compute held on nodes (locking them first, :func:`lock_nodes`), or in ``room``.

    ``links``: bandwidth held on wired links to give back too (the transaction that held it,
    or one that locked every node, holds those links locked).
    """
    if room is not None:
        for node, gcps in holds.items():
            room.give_back(node, gcps)
        if links:
            room.give_back_links(links)
        return
    if holds:
        lock_nodes(s, holds)
        s.connection().execute(GIVE_BACK, [{"b_node": n, "b_gcps": g} for n, g in holds.items()])
    if links:
        s.connection().execute(
            GIVE_BACK_LINK, [{"b_link": li, "b_mbps": m} for li, m in links.items()]
        )


def release(s: DbSession, row: SessionRow) -> None:
    """Give back everything session ``row`` holds."""
    release_all(s, [row.session_id])


def release_all(s: DbSession, session_ids: list[str]) -> None:
    """Give back everything the sessions hold: one update per node and per link held on.

    Compute on nodes and bandwidth on wired links, whatever the number of sessions.
    """
    holds: dict[str, float] = {}
    links: dict[int, float] = {}
    for start in range(0, len(session_ids), IN_BATCH):
        ids = session_ids[start : start + IN_BATCH]
        query = select(RESERVATIONS.c.node, RESERVATIONS.c.gcps).where(
            RESERVATIONS.c.session_id.in_(ids)
        )
        for node, gcps in s.execute(query):
            holds[node] = holds.get(node, 0.0) + gcps
        for _, li, mbps in s.connection().execute(LINK_HOLDS_OF, {"b_ids": ids}):
            links[li] = links.get(li, 0.0) + mbps
    release_holds(s, holds, links=links)
    for start in range(0, len(session_ids), IN_BATCH):
        ids = session_ids[start : start + IN_BATCH]
        s.execute(delete(RESERVATIONS).where(RESERVATIONS.c.session_id.in_(ids)))
        if links:
            s.connection().execute(DROP_LINK_HOLDS, {"b_ids": ids})


def keep_holds(
    s: DbSession,
    session_id: str,
    holds: dict[str, float],
    links: dict[int, float] | None = None,
) -> None:
    """Record what a session holds (so that it is given back when the session ends)."""
    if holds:
        s.connection().execute(
            ADD_HOLDS, [{"session_id": session_id, "node": n, "gcps": g} for n, g in holds.items()]
        )
    if links:
        s.connection().execute(
            ADD_LINK_HOLDS,
            [{"session_id": session_id, "link": li, "mbps": m} for li, m in links.items()],
        )


def on_demand(
    plane: ControlPlane, s: DbSession, service: Service, functions: list[str], now: datetime
) -> None:
    """Ask the orchestrator for instances of ``functions`` (unless one is asked for already)."""
    del plane
    pending = s.scalars(
        select(Deployment).where(
            Deployment.service_id == service.service_id,
            Deployment.on_demand.is_(True),
            Deployment.status == "instantiating",
        )
    ).first()
    if pending is not None:
        return
    s.add(
        Deployment(
            deployment_id=str(uuid.uuid4()),
            owner=service.owner,
            service_id=service.service_id,
            zones=None,
            min_instances=1,
            status="instantiating",
            instances=[],
            on_demand=True,
            sink=None,
            sink_credential=None,
            created_at=now,
            updated_at=now,
        )
    )
    del functions


def public_plan(row: SessionRow) -> dict[str, Any]:
    """A session's plan as clients see it, without what the control plane keeps beside it."""
    return {k: v for k, v in row.plan.items() if k not in ("pinned", "waitedSlots")}


def session_info(row: SessionRow) -> SessionInfo:
    """The API view of a stored session."""
    return SessionInfo.model_validate(
        {
            "sessionId": row.session_id,
            "serviceId": row.service_id,
            "kind": row.kind,
            "status": row.status,
            "statusInfo": row.status_info,
            "cell": row.origin,
            "qos": row.qos,
            "ratePerSecond": row.rate_per_s,
            "duration": row.duration_s,
            "startedAt": row.started_at,
            "expiresAt": row.expires_at,
            "plan": public_plan(row),
            "measuredLatencyMs": row.latency_ms,
            "migrations": row.migrations,
            "usage": {
                "tasks": row.tasks,
                "computeGcycles": row.compute_gcycles,
                "computeSeconds": row.compute_s,
                "bytesUp": row.bytes_up,
                "bytesDown": row.bytes_down,
                "energyJ": row.energy_j,
                "updatedAt": row.usage_updated_at,
            },
            "revision": row.version_id,
        }
    )


def status_event(
    s: DbSession,
    row: Any,
    now: datetime,
    previous: str | None,
    batch: list[dict[str, Any]] | None = None,
    status: str | None = None,
    status_info: str | None = None,
) -> None:
    """Tell the session's owner (and its sink) that its status changed (``batch``: see emit).

    ``row`` is an ORM object or a row of the table; ``status`` and ``status_info``, when given,
    are the new ones (default: the row's).
    """
    emit(
        s,
        API[SessionKind(row.kind)],
        "session-status-changed",
        {
            "sessionId": row.session_id,
            "status": row.status if status is None else status,
            "statusInfo": row.status_info if status is None else status_info,
            "previousStatus": previous,
            "plan": public_plan(row),
        },
        owner=row.owner,
        subject=row.session_id,
        sink=row.sink,
        sink_credential=row.sink_credential,
        now=now,
        batch=batch,
    )


def service_workflow(plane: ControlPlane, service: Any) -> Workflow:
    """A service's workflow, parsed once per revision of the service (and process)."""
    key = (service.service_id, service.version_id)
    cache: dict[tuple[str, int], Workflow] = plane.cache.setdefault("workflows", {})
    workflow = cache.get(key)
    if workflow is None:
        if len(cache) >= 1024:
            cache.clear()
        workflow = cache[key] = Workflow.model_validate(service.workflow)
    return workflow


def read_service(s: DbSession, principal: Principal, service_id: str) -> Any:
    """The row of an active service (or the caller's), as :func:`get_service_row` finds it.

    One Core select, no ORM object: the decision path only reads the service; the same
    statement reads the caller's cell (``terminal_cell``, None when it has none) and the clock
    (``clock_slot``, ``clock_epoch``), for :func:`_open`.

    Raises:
        NotFound: no such service, or an inactive one of another provider.
    """
    row = (
        s.connection()
        .execute(READ_REQUEST, {"b_service": service_id, "b_client": principal.client_id})
        .first()
    )
    visible = row is not None and (
        principal.is_operator or row.owner == principal.client_id or row.state == "ACTIVE"
    )
    if not visible:
        raise NotFound(f"no service {service_id}")
    return row


def _match_intent(plane: ControlPlane, s: DbSession, principal: Principal, text: str) -> Service:
    del plane
    rows = s.scalars(select(Service).where(Service.state == "ACTIVE")).all()
    documents = {
        r.service_id: " ".join(
            [
                r.name,
                r.category.replace("_", " "),
                r.description,
                *(st["function"] for st in r.workflow["steps"]),
            ]
        )
        for r in rows
    }
    matches = bm25(text, documents)
    best = clear_winner(matches)
    if best is None:
        names = {r.service_id: r.name for r in rows}
        shown = ", ".join(f"{names[m.key]} ({m.key}, score {m.score:.2f})" for m in matches[:5])
        raise Unprocessable(
            f"intent: {'no service matches' if not matches else 'ambiguous'} {text!r}"
            + (f"; candidates: {shown}" if shown else "")
            + "; name the service with serviceId",
            field="intent",
            code="SERVICE_REQUESTS.INTENT_NOT_RESOLVED",
        )
    return get_service_row(s, principal, best.key, any_owner=True)


def _open(
    plane: ControlPlane,
    s: DbSession,
    principal: Principal,
    body: ServiceRequest,
    service: Service,
    request_id: str | None = None,
) -> Any:
    """Plan a session of ``service`` for the calling terminal and store it; its columns."""
    if service.state != "ACTIVE":
        raise Unprocessable(
            f"serviceId: service {service.service_id} is INACTIVE",
            field="serviceId",
            code="SERVICE_REQUESTS.SERVICE_INACTIVE",
        )
    workflow = service_workflow(plane, service)
    unknown = sorted(set(body.pin_step_ids) - {st.step_id for st in workflow.steps})
    if unknown:
        raise Unprocessable(f"pinStepIds: the service has no steps {unknown}", field="pinStepIds")
    read = getattr(service, "clock_slot", None) is not None  # by read_service, with the clock
    if read:
        known = service.terminal_cell
    else:
        found = s.connection().execute(TERMINAL_CELL, {"b_client": principal.client_id}).first()
        known = None if found is None else found.cell
    cell = plane.live.cells[0] if known is None else str(known)
    if known is None:
        set_location(plane, s, principal.client_id, cell)
    if service.area is not None and cell not in service.area:
        raise Unprocessable(
            f"the service is not offered in cell {cell} (its area: {service.area})",
            code="SERVICE_REQUESTS.OUT_OF_AREA",
        )
    qos = body.qos.model_dump(mode="json", by_alias=True) if body.qos else dict(service.qos)
    # The clock is read before the nodes are locked: the lock is held less long.
    slot, now = plane.clock_of(service.clock_slot, service.clock_epoch) if read else plane.clock(s)
    placed = place(
        plane,
        s,
        cell,
        workflow,
        float(qos["latencyMs"]),
        body.rate_per_second,
        set(body.pin_step_ids),
        hold=True,
        slot=slot,
    )
    bound = not placed.missing
    values: dict[str, Any] = {
        "session_id": str(uuid.uuid4()),
        "owner": principal.client_id,
        "provider": service.owner,
        "service_id": service.service_id,
        "request_id": request_id,
        "kind": body.kind.value,
        "origin": cell,
        "plan": placed.plan.model_dump(mode="json", by_alias=True)
        | {"pinned": sorted(body.pin_step_ids), "waitedSlots": 0},
        "qos": qos,
        "rate_per_s": body.rate_per_second,
        "status": (SessionStatus.available if bound else SessionStatus.requested).value,
        "status_info": None,
        "duration_s": body.duration,
        "started_at": now if bound else None,
        "expires_at": now + timedelta(seconds=body.duration),
        "violations": 0,
        "migrations": 0,
        "latency_ms": None,
        "compute_gcycles": 0.0,
        "compute_s": 0.0,
        "bytes_up": 0.0,
        "bytes_down": 0.0,
        "energy_j": 0.0,
        "tasks": 0.0,
        "usage_updated_at": None,
        "sink": None if body.sink is None else str(body.sink),
        "sink_credential": (
            None
            if body.sink_credential is None
            else body.sink_credential.model_dump(mode="json", by_alias=True)
        ),
        "created_at": now,
        "updated_at": now,
        "version_id": 1,  # the ORM's first revision
    }
    s.connection().execute(ADD_SESSION, values)  # before its holds, which refer to it
    keep_holds(s, values["session_id"], placed.holds, placed.links)
    row = SimpleNamespace(**values)  # what was written, for the answer and the event
    if bound:  # REQUESTED -> AVAILABLE at once: its owner is told as when the loop binds it
        status_event(s, row, now, SessionStatus.requested.value)
    else:
        on_demand(plane, s, service, placed.missing, now)
    return row


def request_service(
    plane: ControlPlane, s: DbSession, principal: Principal, body: ServiceRequest
) -> RequestInfo:
    """The unified service request: find the service, place its steps, open a session."""
    principal.require("service-requests:requests:create")
    principal.require(f"{API[body.kind]}:sessions:create")
    service: Any
    if body.service_id is not None:
        service = read_service(s, principal, body.service_id)
        matched = "serviceId"
    else:
        assert body.intent is not None
        service = _match_intent(plane, s, principal, body.intent)
        matched = "intent"
    row = _open(plane, s, principal, body, service, request_id=str(uuid.uuid4()))
    return RequestInfo(
        request_id=row.request_id,
        service_id=service.service_id,
        matched_by=matched,  # type: ignore[arg-type]
        session=session_info(row),
    )


def get_request(
    plane: ControlPlane, s: DbSession, principal: Principal, request_id: str
) -> RequestInfo:
    """A request the caller made, with its session as it is now."""
    del plane
    principal.require("service-requests:requests:read")
    row = s.scalars(select(SessionRow).where(SessionRow.request_id == request_id)).first()
    if row is None or not (principal.is_operator or row.owner == principal.client_id):
        raise NotFound(f"no request {request_id}")
    return RequestInfo(
        request_id=request_id,
        service_id=row.service_id,
        matched_by="serviceId",
        session=session_info(row),
    )


def create_session(
    plane: ControlPlane, s: DbSession, principal: Principal, kind: SessionKind, body: ServiceRequest
) -> SessionInfo:
    """Open a session of a named service directly."""
    principal.require(f"{API[kind]}:sessions:create")
    if body.service_id is None:
        raise Unprocessable("serviceId: a session names its service", field="serviceId")
    body = body.model_copy(update={"kind": kind})
    service = get_service_row(s, principal, body.service_id, any_owner=True)
    return session_info(_open(plane, s, principal, body, service))


def _own(
    s: DbSession, principal: Principal, kind: SessionKind, session_id: str, change: bool = False
) -> SessionRow:
    """A session the caller may see; ``change``: one it is about to change.

    A session about to change is read after the nodes are locked (:func:`lock_nodes`): the slot
    loop meters every live session under that lock, so the session read is the one written.
    """
    if change:
        lock_nodes(s)
    row = s.get(SessionRow, session_id)
    if (
        row is None
        or row.kind != kind.value
        or not (principal.is_operator or row.owner == principal.client_id)
    ):
        raise NotFound(f"no session {session_id}")
    return row


def get_session(
    plane: ControlPlane, s: DbSession, principal: Principal, kind: SessionKind, session_id: str
) -> SessionInfo:
    """One of the caller's sessions."""
    del plane
    principal.require(f"{API[kind]}:sessions:read")
    return session_info(_own(s, principal, kind, session_id))


def list_sessions(
    plane: ControlPlane,
    s: DbSession,
    principal: Principal,
    kind: SessionKind,
    page: int,
    per_page: int,
) -> tuple[list[SessionInfo], int]:
    """The caller's sessions of ``kind`` (every one for an operator), oldest first."""
    del plane
    principal.require(f"{API[kind]}:sessions:read")
    query = select(SessionRow).where(SessionRow.kind == kind.value)
    if not principal.is_operator:
        query = query.where(SessionRow.owner == principal.client_id)
    rows, total = page_of(s, query, (SessionRow.created_at, SessionRow.session_id), page, per_page)
    return [session_info(r) for r in rows], total


def _live(row: SessionRow) -> None:
    if row.status == SessionStatus.unavailable.value:
        raise Conflict(
            f"session {row.session_id} is UNAVAILABLE ({row.status_info})",
            code="INCOMPATIBLE_STATE",
        )


def extend_session(
    plane: ControlPlane,
    s: DbSession,
    principal: Principal,
    kind: SessionKind,
    session_id: str,
    body: ExtendRequest,
) -> SessionInfo:
    """More time for a session that has not ended."""
    principal.require(f"{API[kind]}:sessions:update")
    row = _own(s, principal, kind, session_id, change=True)
    _live(row)
    if row.duration_s + body.requested_additional_duration > 86_400:
        raise Unprocessable(
            "requestedAdditionalDuration: a session lasts at most 86400 s in all",
            field="requestedAdditionalDuration",
            code=f"{API[kind].upper().replace('-', '_')}.DURATION_OUT_OF_RANGE",
        )
    _, now = plane.clock(s)
    row.duration_s += body.requested_additional_duration
    row.expires_at = row.expires_at + timedelta(seconds=body.requested_additional_duration)
    row.updated_at = now
    s.flush()
    return session_info(row)


def patch_session(
    plane: ControlPlane,
    s: DbSession,
    principal: Principal,
    kind: SessionKind,
    session_id: str,
    body: SessionPatch,
    if_match: int | None,
) -> SessionInfo:
    """Change a session's QoS or rate (NAS-CSM's update); a new rate is placed anew."""
    principal.require(f"{API[kind]}:sessions:update")
    row = _own(s, principal, kind, session_id, change=True)
    if if_match is not None and if_match != row.version_id:
        raise Conflict(
            f"session {session_id} is at revision {row.version_id}, not {if_match}",
            code="ABORTED",
        )
    _live(row)
    _, now = plane.clock(s)
    if body.qos is not None:
        row.qos = body.qos.model_dump(mode="json", by_alias=True)
    if body.rate_per_second is not None and body.rate_per_second != row.rate_per_s:
        service = s.get(Service, row.service_id)
        assert service is not None
        release(s, row)
        placed = place(
            plane,
            s,
            row.origin,
            Workflow.model_validate(service.workflow),
            float(row.qos["latencyMs"]),
            body.rate_per_second,
            set(row.plan.get("pinned", [])),
            hold=True,
        )
        if placed.missing:
            raise Unprocessable(
                f"ratePerSecond: no room for {body.rate_per_second:g} tasks/s now "
                f"({', '.join(placed.missing)} have no instance with room, or no wired-link "
                "bandwidth left for their transfers)",
                field="ratePerSecond",
                code="COMPUTE_SESSIONS.INSUFFICIENT_CAPACITY",
            )
        keep_holds(s, row.session_id, placed.holds, placed.links)
        row.rate_per_s = body.rate_per_second
        row.plan = placed.plan.model_dump(mode="json", by_alias=True) | {
            "pinned": row.plan.get("pinned", []),
            "waitedSlots": 0,
        }
    row.updated_at = now
    s.flush()
    return session_info(row)


def end_session(
    plane: ControlPlane,
    s: DbSession,
    row: SessionRow,
    info: StatusInfo,
    now: datetime,
) -> None:
    """End a session: give back what it holds, set it UNAVAILABLE and tell its owner."""
    end_sessions(plane, s, [row], info, now)


def end_sessions(
    plane: ControlPlane,
    s: DbSession,
    rows: list[SessionRow],
    info: StatusInfo,
    now: datetime,
) -> None:
    """End sessions as :func:`end_session` does, giving back what they hold all at once."""
    del plane
    rows = [r for r in rows if r.status != SessionStatus.unavailable.value]
    if not rows:
        return
    release_all(s, [r.session_id for r in rows])
    events: list[dict[str, Any]] = []
    for row in rows:
        previous = row.status
        row.status = SessionStatus.unavailable.value
        row.status_info = info.value
        row.updated_at = now
        status_event(s, row, now, previous, batch=events)
    emit_all(s, events)


def end_rows(s: DbSession, rows: list[Any], info: StatusInfo, now: datetime) -> None:
    """End sessions read as rows of the table, as :func:`end_sessions` ends ORM objects.

    What they hold is given back, and their status and events are written with one statement
    each (executemany), the revision of each session moving on as the ORM's would.
    """
    rows = [r for r in rows if r.status != SessionStatus.unavailable.value]
    if not rows:
        return
    release_all(s, [r.session_id for r in rows])
    s.connection().execute(
        END_SESSION,
        [{"b_id": r.session_id, "b_info": info.value, "b_at": now} for r in rows],
    )
    events: list[dict[str, Any]] = []
    for row in rows:
        status_event(
            s,
            row,
            now,
            row.status,
            batch=events,
            status=SessionStatus.unavailable.value,
            status_info=info.value,
        )
    emit_all(s, events)


def delete_session(
    plane: ControlPlane, s: DbSession, principal: Principal, kind: SessionKind, session_id: str
) -> None:
    """Release a session (it stays readable, UNAVAILABLE with DELETE_REQUESTED)."""
    principal.require(f"{API[kind]}:sessions:delete")
    row = _own(s, principal, kind, session_id, change=True)
    _, now = plane.clock(s)
    end_session(plane, s, row, StatusInfo.delete_requested, now)


def usage_report(plane: ControlPlane, s: DbSession, principal: Principal, by: str) -> UsageReport:
    """Usage summed per subscriber or per provider; a client sees its own line only."""
    del plane
    principal.require("usage:reports:read")
    if by not in ("subscriber", "provider"):
        raise Unprocessable("by: subscriber or provider", field="by")
    key = SessionRow.owner if by == "subscriber" else SessionRow.provider
    query = select(
        key,
        func.count(),
        func.sum(SessionRow.tasks),
        func.sum(SessionRow.compute_gcycles),
        func.sum(SessionRow.compute_s),
        func.sum(SessionRow.bytes_up),
        func.sum(SessionRow.bytes_down),
        func.sum(SessionRow.energy_j),
    ).group_by(key)
    if not principal.is_operator:
        query = query.where(key == principal.client_id)
    items = [
        UsageLine(
            client_id=r[0],
            sessions=int(r[1]),
            tasks=float(r[2] or 0.0),
            compute_gcycles=float(r[3] or 0.0),
            compute_seconds=float(r[4] or 0.0),
            bytes_up=float(r[5] or 0.0),
            bytes_down=float(r[6] or 0.0),
            energy_j=float(r[7] or 0.0),
        )
        for r in s.execute(query.order_by(key)).all()
    ]
    return UsageReport(by=by, items=items)  # type: ignore[arg-type]


def plan_of(row: SessionRow) -> dict[str, Any]:
    """The stored plan of a session."""
    return dict(row.plan)
