"""The control plane's tables (SQLAlchemy 2.0): one row class per stored object.

Mutable objects carry ``version`` (SQLAlchemy's version counter): an update made from a stale
copy fails instead of overwriting a newer one (optimistic locking). Times are timezone-aware UTC,
on PostgreSQL and on SQLite alike (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

Json = dict[str, Any]


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back timezone-aware.

    PostgreSQL keeps the offset (``timestamptz``); SQLite keeps none, so a time is stored there
    as naive UTC and given its UTC offset back when read. A naive time given to store is taken
    as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The time in UTC (naive on SQLite, which would drop the offset anyway)."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """The stored time, timezone-aware in UTC."""
        del dialect
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Json: JSON,
        list[Any]: JSON,
        datetime: UtcDateTime(),
    }


class Client(Base):
    """An API client: an operator, a service provider or a terminal (OAuth2 client credentials)."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Service(Base):
    """A registered service: its workflow of steps, QoS targets and state."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("owner", "name", "version", name="uq_service_version"),)

    service_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    provider_kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    workflow: Mapped[Json]
    qos: Mapped[Json]
    area: Mapped[list[Any] | None]
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version_id}


class Terminal(Base):
    """Where a terminal is: the cell (terminal domain of the scenario) it is attached to."""

    __tablename__ = "terminals"

    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), primary_key=True)
    cell: Mapped[str] = mapped_column(String(100))
    moves: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class Subscription(Base):
    """A terminal's subscription to a service or to what a filter finds in an area."""

    __tablename__ = "subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    service_id: Mapped[str | None] = mapped_column(ForeignKey("services.service_id"))
    filters: Mapped[Json]
    area: Mapped[list[Any] | None]
    preferences: Mapped[Json]
    privacy: Mapped[Json]
    status: Mapped[str] = mapped_column(String(16))
    in_area: Mapped[bool] = mapped_column(Boolean, default=True)
    sink: Mapped[str | None] = mapped_column(String(2048))
    sink_credential: Mapped[Json | None]
    created_at: Mapped[datetime]
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version_id}


class Deployment(Base):
    """Instances of a service's steps asked for by an operator or a provider."""

    __tablename__ = "deployments"

    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.service_id"), index=True)
    zones: Mapped[list[Any] | None]
    min_instances: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    instances: Mapped[list[Any]]
    on_demand: Mapped[bool] = mapped_column(Boolean, default=False)
    sink: Mapped[str | None] = mapped_column(String(2048))
    sink_credential: Mapped[Json | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version_id}


class Session(Base):
    """A compute or sensing session: its plan, QoS, life cycle and metered usage."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_status", "status"),)

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    provider: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.service_id"), index=True)
    request_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(100))
    plan: Mapped[Json]
    qos: Mapped[Json]
    rate_per_s: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    status_info: Mapped[str | None] = mapped_column(String(32))
    duration_s: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    violations: Mapped[int] = mapped_column(Integer, default=0)
    migrations: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    compute_gcycles: Mapped[float] = mapped_column(Float, default=0.0)
    compute_s: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_up: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_down: Mapped[float] = mapped_column(Float, default=0.0)
    energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    tasks: Mapped[float] = mapped_column(Float, default=0.0)
    usage_updated_at: Mapped[datetime | None]
    sink: Mapped[str | None] = mapped_column(String(2048))
    sink_credential: Mapped[Json | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version_id: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version_id}


class Reservation(Base):
    """Compute a session holds on a node, gigacycles/s."""

    __tablename__ = "reservations"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.session_id", ondelete="CASCADE"), primary_key=True
    )
    node: Mapped[str] = mapped_column(ForeignKey("nodes.node"), primary_key=True)
    gcps: Mapped[float] = mapped_column(Float)


class Node(Base):
    """A node of the live system: what it can admit, what the last slot used, what is reserved."""

    __tablename__ = "nodes"

    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    domain: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    capacity_gcps: Mapped[float] = mapped_column(Float)
    admission_gcps: Mapped[float] = mapped_column(Float)
    background_gcps: Mapped[float] = mapped_column(Float, default=0.0)
    reserved_gcps: Mapped[float] = mapped_column(Float, default=0.0)
    utilisation: Mapped[float] = mapped_column(Float, default=0.0)
    energy_j: Mapped[float] = mapped_column(Float, default=0.0)
    awake: Mapped[bool] = mapped_column(Boolean, default=True)


class Link(Base):
    """A wired link of the live system: its capacity, what the last slot carried, what is held.

    ``link`` is the link's index in the scenario's ``wired_links``; ``a`` and ``b`` its ends.
    Bandwidth is in Mbit/s, per direction as the scenario gives it.
    """

    __tablename__ = "links"

    link: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    a: Mapped[str] = mapped_column(String(100))
    b: Mapped[str] = mapped_column(String(100))
    capacity_mbps: Mapped[float] = mapped_column(Float)
    background_mbps: Mapped[float] = mapped_column(Float, default=0.0)
    reserved_mbps: Mapped[float] = mapped_column(Float, default=0.0)


class LinkHold(Base):
    """Bandwidth a session holds on a wired link for the transfers of its steps, Mbit/s."""

    __tablename__ = "link_holds"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.session_id", ondelete="CASCADE"), primary_key=True
    )
    link: Mapped[int] = mapped_column(ForeignKey("links.link"), primary_key=True)
    mbps: Mapped[float] = mapped_column(Float)


class Instance(Base):
    """An instance of a service type running on a node in the current slot."""

    __tablename__ = "instances"

    function: Mapped[str] = mapped_column(String(100), primary_key=True)
    node: Mapped[str] = mapped_column(ForeignKey("nodes.node"), primary_key=True)
    since_slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))


class Route(Base):
    """Where the current distribution sends a cell's requests for a service type."""

    __tablename__ = "routes"

    origin: Mapped[str] = mapped_column(String(100), primary_key=True)
    function: Mapped[str] = mapped_column(String(100), primary_key=True)
    node: Mapped[str] = mapped_column(ForeignKey("nodes.node"), primary_key=True)
    share: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)


class ServiceMetric(Base):
    """A service type's figures in one slot."""

    __tablename__ = "service_metrics"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    function: Mapped[str] = mapped_column(String(100), primary_key=True)
    offered: Mapped[float] = mapped_column(Float)
    satisfied: Mapped[float] = mapped_column(Float)
    p50_ms: Mapped[float | None] = mapped_column(Float)
    p95_ms: Mapped[float | None] = mapped_column(Float)
    p99_ms: Mapped[float | None] = mapped_column(Float)


class Reorchestration(Base):
    """A re-orchestration trigger that fired, its evidence and what changed."""

    __tablename__ = "reorchestrations"

    reorchestration_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[Json]
    changes: Mapped[Json]
    created_at: Mapped[datetime]


class ServerKey(Base):
    """The key that signs access tokens, shared by every API process on the database."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class IdempotencyKey(Base):
    """The first answer to a POST sent with an ``Idempotency-Key``, replayed to its retries."""

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Json]
    location: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime]


class OutboxEvent(Base):
    """A CloudEvent written in the transaction of the change it reports, delivered after."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    time: Mapped[datetime]
    data: Mapped[Json]
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    sink: Mapped[str | None] = mapped_column(String(2048))
    sink_credential: Mapped[Json | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Lease(Base):
    """Who runs the slot loop: a lease renewed every slot, taken over when it lapses."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    slot: Mapped[int] = mapped_column(Integer, default=0)
    epoch: Mapped[datetime]
    scenario: Mapped[str] = mapped_column(String(100))
    policy: Mapped[str] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(Integer, default=0)
