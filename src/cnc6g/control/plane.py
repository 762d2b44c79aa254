"""The control plane: settings, the live system, the database, the transaction of an operation.

An operation of the service layer is a function ``op(plane, session, principal, ...)`` that
reads and writes through ``session`` and returns a response model; :meth:`ControlPlane.run`
gives it one transaction, replays the stored answer of a retried POST (``Idempotency-Key``), and
turns a lost optimistic lock or a duplicate into :class:`~cnc6g.control.errors.Conflict`.
Nothing of an operation that fails is kept.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from cnc6g.control.errors import Conflict, ControlError, TooManyRequests, Unprocessable
from cnc6g.control.live import LiveSystem
from cnc6g.control.security import Principal, VerifiedTokens
from cnc6g.model import DomainKind
from cnc6g.scenarios import ScenarioError, load_scenario
from cnc6g.storage.db import Database, is_retryable, lock_setup
from cnc6g.storage.tables import IdempotencyKey, Lease, Link, Node, ServerKey
from cnc6g.twin import compile_scenario

T = TypeVar("T")

CLOCKS = ("realtime", "accelerated", "manual")
LEASE = "slot-loop"
_lease = Lease.__table__
READ_CLOCK = select(_lease.c.slot, _lease.c.epoch).where(_lease.c.name == LEASE)
"""The slot and the start of the first slot (built once, not per request)."""
CLOCK_SLOT = select(_lease.c.slot).where(_lease.c.name == LEASE).scalar_subquery()
CLOCK_EPOCH = select(_lease.c.epoch).where(_lease.c.name == LEASE).scalar_subquery()
""":data:`READ_CLOCK`'s columns, to read with other things in one statement."""
TRANSACTION_ATTEMPTS = 5
"""Runs of an operation whose transaction the database aborts for a deadlock or a
serialization failure (PostgreSQL) before the caller is told to retry."""


@dataclass(frozen=True)
class Settings:
    """How the control plane runs.

    Attributes:
        scenario: preset name or scenario file of the live system.
        policy: the policy deciding each slot (a built-in name or ``module:Class``).
        database_url: SQLite (default, a file) or PostgreSQL (``postgresql+psycopg://...``).
        clock: ``realtime`` (a slot per slot length), ``accelerated:K`` (K times faster) or
            ``manual`` (slots advance only when asked, for tests and step-by-step use).
        seed: seed of the twin, the policy and the terminals' moves.
        move_probability: chance per slot that a terminal moves to another cell.
        violation_slots: slots in a row a session may miss its QoS before it is moved or ended.
        request_wait_slots: slots a session waits for an instance before it is given up.
        offer_lifetime_s: how long a discovery offer holds.
        rate_per_s: requests per second a client may make (token bucket, per process).
        rate_burst: the bucket's size.
        metrics_slots: slots of per-service figures kept.
        lease_s: how long the slot loop's lease lasts without renewal (another process takes
            over after it).
        window_slots: slots the service states are computed over.
        run_loop: whether this process may run the slot loop (False: API only).
        loop_process: run the slot loop (realtime or accelerated clock) in a process of its
            own, started and stopped with this one, rather than in a thread of this process:
            the slot's work (the policy, the twin, its garbage) then takes no turns of this
            process's interpreter lock from the requests it answers.
    """

    scenario: str = "speech-translation"
    policy: str = "grd"
    database_url: str = "sqlite:///cnc6g.db"
    clock: str = "realtime"
    seed: int = 0
    move_probability: float = 0.01
    violation_slots: int = 3
    request_wait_slots: int = 30
    offer_lifetime_s: int = 300
    rate_per_s: float = 500.0
    rate_burst: int = 1000
    metrics_slots: int = 600
    lease_s: float = 5.0
    window_slots: int = 10
    run_loop: bool = True
    loop_process: bool = False

    def __post_init__(self) -> None:
        mode, _, factor = self.clock.partition(":")
        if mode not in CLOCKS or (mode == "accelerated") != bool(factor):
            raise ValueError(f"clock must be realtime, accelerated:K or manual, got {self.clock!r}")
        if factor:
            try:
                ok = float(factor) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"clock accelerated:K needs a number K > 0, got {factor!r}")
        if not 0 <= self.move_probability <= 1:
            raise ValueError("move_probability must be in [0, 1]")

    @property
    def clock_mode(self) -> str:
        """``realtime``, ``accelerated`` or ``manual``."""
        return self.clock.partition(":")[0]

    @property
    def speed(self) -> float:
        """How many times faster than real time the clock runs (realtime: 1)."""
        _, _, factor = self.clock.partition(":")
        return float(factor) if factor else 1.0


class RateLimiter:
    """A token bucket per client (in this process)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client_id: str) -> None:
        """Take one request's token; raise :class:`TooManyRequests` when there is none."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(client_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[client_id] = (tokens, now)
                raise TooManyRequests(f"client {client_id} exceeds {self.rate:g} requests/s")
            self._buckets[client_id] = (tokens - 1.0, now)


def fingerprint(method: str, path: str, body: BaseModel | dict[str, Any] | None) -> str:
    """What identifies a request for idempotency: method, path and body."""
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    text = json.dumps([method, path, data], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ControlPlane:
    """The control plane of one process over a database shared with other processes.

    Args:
        settings: how it runs.
        db: the database (default: one for ``settings.database_url``).

    Raises:
        ValueError: the scenario or the database URL is bad.
    """

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        try:
            scenario = load_scenario(settings.scenario)
        except ScenarioError as err:
            raise ValueError(str(err)) from None
        self.scenario = scenario
        self.system = compile_scenario(scenario)
        self.live = LiveSystem(self.system)
        self.db = db or Database(settings.database_url)
        self.instance_id = f"{uuid.uuid4().hex[:12]}"
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        self._key: str | None = None
        self._tokens: VerifiedTokens | None = None
        self._slot_seen = 0
        self.cache: dict[str, Any] = {}
        """What this process derives from the database once (keyed so that a change misses)."""

    # -- set-up -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Migrate the schema and create what the live system needs (idempotent).

        Raises:
            ValueError: the database serves another scenario or policy.
        """
        self.db.upgrade()
        now = datetime.now(UTC)
        with self.db.transaction() as s:
            lock_setup(s.connection())  # processes started together: one after the other
            if s.get(ServerKey, "jwt") is None:
                s.add(ServerKey(name="jwt", value=secrets.token_urlsafe(48), created_at=now))
            lease = s.get(Lease, LEASE)
            if lease is None:
                s.add(
                    Lease(
                        name=LEASE,
                        holder=None,
                        expires_at=None,
                        slot=0,
                        epoch=now,
                        scenario=self.scenario.name,
                        policy=self.settings.policy,
                        seed=self.settings.seed,
                    )
                )
            elif lease.scenario != self.scenario.name:
                raise ValueError(
                    f"the database serves scenario {lease.scenario!r}, not "
                    f"{self.scenario.name!r}: use another --database-url"
                )
            known = set(s.scalars(select(Node.node)).all())
            sy = self.system
            for n, name in enumerate(sy.node_names):
                if name in known:
                    continue
                s.add(
                    Node(
                        node=name,
                        domain=self.live.node_domain[n],
                        kind=self.live.node_tier[n],
                        capacity_gcps=float(sy.capacity[n]),
                        admission_gcps=float(sy.capacity[n] * sy.admission_utilisation),
                        background_gcps=0.0,
                        reserved_gcps=0.0,
                        utilisation=0.0,
                        energy_j=0.0,
                        awake=True,
                    )
                )
            known_links = set(s.scalars(select(Link.link)).all())
            for li, wl in enumerate(self.scenario.wired_links):
                if li not in known_links:
                    s.add(
                        Link(
                            link=li,
                            a=wl.a,
                            b=wl.b,
                            capacity_mbps=wl.bandwidth_gbps * 1e3,
                            background_mbps=0.0,
                            reserved_mbps=0.0,
                        )
                    )

    @property
    def key(self) -> str:
        """The key that signs access tokens."""
        if self._key is None:
            with self.db.transaction(write=False) as s:
                row = s.get(ServerKey, "jwt")
                if row is None:
                    raise ControlError("the control plane is not set up (run its setup)")
                self._key = row.value
        return self._key

    def authenticate(self, token: str) -> Principal:
        """The principal of a bearer token (and one request off its client's rate)."""
        tokens = self._tokens
        if tokens is None:
            tokens = self._tokens = VerifiedTokens(self.key)
        principal = tokens.principal(token)
        self.limiter.take(principal.client_id)
        return principal

    # -- time -------------------------------------------------------------------------------

    @property
    def slot_s(self) -> float:
        """Length of a slot of the live system, s."""
        return self.system.slot_s

    def clock(self, s: Session) -> tuple[int, datetime]:
        """The current slot and the control plane's time.

        In real time it is the wall clock; with an accelerated or a manual clock it is the
        time of the twin: the start of the database's first slot plus a slot length per slot.
        """
        key = s.identity_key(Lease, LEASE)
        if key in s.identity_map:  # loaded (and maybe changed) in this transaction
            lease: Any = s.identity_map[key]
        else:  # two columns, without loading an object
            lease = s.connection().execute(READ_CLOCK).first()
        if lease is None:
            raise ControlError("the control plane is not set up (run its setup)")
        return self.clock_of(lease.slot, lease.epoch)

    def clock_of(self, slot: int | None, epoch: datetime | None) -> tuple[int, datetime]:
        """:meth:`clock` from the lease's slot and epoch as read (None: not set up)."""
        if slot is None or epoch is None:
            raise ControlError("the control plane is not set up (run its setup)")
        slot = int(slot)
        self._slot_seen = slot
        if self.settings.clock_mode == "realtime":
            return slot, datetime.now(UTC)
        epoch = epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        return slot, epoch + timedelta(seconds=slot * self.slot_s)

    # -- running operations -----------------------------------------------------------------

    def run(
        self,
        op: Callable[..., T],
        *args: Any,
        write: bool = True,
        idempotency: tuple[str, str, str, int] | None = None,
    ) -> tuple[T | dict[str, Any], bool]:
        """Run ``op(self, session, *args)`` in one transaction.

        Args:
            op: the operation.
            args: its arguments after the plane and the session.
            write: the operation writes.
            idempotency: ``(client_id, key, fingerprint, status)`` of a POST with an
                ``Idempotency-Key`` answered with ``status``: a retry with the same key and
                request gets the first answer again (as stored JSON); the same key with
                another request is a conflict.

        Returns:
            The operation's result and whether it was replayed.

        Raises:
            ControlError: what the operation raised, or :class:`Conflict` when an object
                changed under it or already exists, or when the database kept aborting it
                for conflicts with concurrent transactions (a deadlock or a serialization
                failure is run again first, up to :data:`TRANSACTION_ATTEMPTS` times).
        """
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                return self._run_once(op, args, write, idempotency)
            except DBAPIError as err:
                if not is_retryable(err):
                    raise
                if attempt == TRANSACTION_ATTEMPTS - 1:
                    raise Conflict(
                        "the database aborted the operation to resolve a conflict with "
                        "concurrent ones; retry",
                        code="ABORTED",
                    ) from None
                time.sleep(random.uniform(0.0, 0.02 * 2**attempt))
        raise AssertionError("unreachable")

    def _run_once(
        self,
        op: Callable[..., T],
        args: tuple[Any, ...],
        write: bool,
        idempotency: tuple[str, str, str, int] | None,
    ) -> tuple[T | dict[str, Any], bool]:
        try:
            with self.db.transaction(write=write) as s:
                if idempotency is not None:
                    client, key, fp, _ = idempotency
                    stored = s.get(IdempotencyKey, (client, key))
                    if stored is not None:
                        if stored.fingerprint != fp:
                            raise Conflict(
                                f"Idempotency-Key {key!r} was used for another request",
                                code="CONFLICT",
                            )
                        return stored.body, True
                result = op(self, s, *args)
                if idempotency is not None and isinstance(result, BaseModel):
                    client, key, fp, status = idempotency
                    s.add(
                        IdempotencyKey(
                            client_id=client,
                            key=key,
                            fingerprint=fp,
                            status_code=status,
                            body=result.model_dump(mode="json", by_alias=True),
                            location=None,
                            created_at=datetime.now(UTC),
                        )
                    )
                return result, False
        except StaleDataError:
            raise Conflict(
                "the object changed while it was being updated; read it again and retry",
                code="ABORTED",
            ) from None
        except IntegrityError as err:
            if idempotency is not None:  # a concurrent retry with the same key won the race
                raise Conflict(
                    "a request with this Idempotency-Key is being processed; retry", code="ABORTED"
                ) from None
            raise Conflict(f"conflicts with an existing object: {err.orig}") from None

    # -- checks shared by the operations ------------------------------------------------------

    def check_cell(self, cell: str, field: str) -> None:
        """Raise :class:`Unprocessable` unless ``cell`` is a cell of the live system."""
        if not self.live.has_cell(cell):
            raise Unprocessable(
                f"{field}: unknown cell {cell!r}; the cells are {', '.join(self.live.cells)}",
                field=field,
            )

    def check_domains(self, domains: list[str] | None, field: str) -> None:
        """Raise :class:`Unprocessable` unless every name is a domain with nodes off-terminal."""
        if not domains:
            return
        infra = {d.name for d in self.scenario.domains if d.kind is not DomainKind.TERMINAL}
        unknown = [d for d in domains if d not in infra]
        if unknown:
            raise Unprocessable(
                f"{field}: not a RAN or transport domain: {unknown}; they are "
                f"{', '.join(sorted(infra))}",
                field=field,
            )
