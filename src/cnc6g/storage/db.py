"""Engines, transactions and schema migrations of the control plane's database.

SQLite (the embedded default) runs in WAL mode with foreign keys on; a transaction that writes
starts with ``BEGIN IMMEDIATE``, so concurrent writers queue on the database lock instead of
failing when a read turns into a write. PostgreSQL is reached with psycopg 3
(``postgresql+psycopg://...``). The schema is managed by Alembic (:func:`upgrade`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any, TypeVar

try:
    import fcntl
except ImportError:  # not on Windows: writers of several processes then poll SQLite's lock
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Select, create_engine, event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for the database lock before giving up."""

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""SQLSTATEs of a transaction the database aborted to let others go on (serialization failure,
deadlock): nothing of it was kept, and running it again may succeed."""


class CommitOutcomeUnknown(Exception):
    """The connection was lost while a transaction committed: kept or not, it is not rerun."""


def is_retryable(err: BaseException) -> bool:
    """Whether ``err`` aborted a transaction that may simply be run again.

    A deadlock or a serialization failure, or a connection lost before the transaction began
    to commit (the database then keeps nothing of it; one lost during the commit raises
    :class:`CommitOutcomeUnknown` instead, :meth:`Database.transaction`).
    """
    if not isinstance(err, DBAPIError):
        return False
    return err.connection_invalidated or getattr(err.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


SETUP_LOCK = 0x636E6336
"""Key of the PostgreSQL advisory lock that lets one process at a time set the database up."""


def lock_setup(connection: Connection) -> None:
    """Make ``connection``'s transaction the only one setting the database up until it ends.

    Processes started together on a new database would otherwise all create the tables (and
    the rows every process needs) and all but one fail. PostgreSQL takes a transaction-level
    advisory lock; on SQLite a transaction begun for writing (``BEGIN IMMEDIATE``) already holds
    the database's write lock.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SETUP_LOCK})")


def page_of(
    session: Session, query: Select[tuple[R]], order: tuple[Any, ...], page: int, per_page: int
) -> tuple[list[R], int]:
    """One page of what ``query`` selects in ``order`` (``page`` from 1), and how many in all."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(*order).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), int(total)


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the settings the control plane relies on.

    Raises:
        ValueError: the URL cannot be parsed or names a database the control plane does not
            support (SQLite and PostgreSQL are).
    """
    try:
        parsed = make_url(url)
    except Exception as err:  # SQLAlchemy raises ArgumentError with its own wording
        raise ValueError(f"not a database URL: {url!r} ({err})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://"
        )
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun explicitly below
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # Switching to WAL needs the database to itself and SQLite does not wait for it
            # through the busy handler: several processes opening a new file at once retry.
            deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000.0
            while True:
                try:
                    cur.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            write = conn.get_execution_options().get("write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No ping per checkout (a round trip per transaction): a pooled connection found dead by
    # the transaction's first statement makes SQLAlchemy drop the pool's connections, and the
    # transaction, of which the database kept nothing, is run again (is_retryable).
    return create_engine(url, **kwargs)


class _SqliteWriters:
    """The lock a SQLite database's writers queue on before they take the database's own.

    A thread lock queues the writers of one process; a file lock beside the database file
    (``fcntl.flock``, where the platform has it) queues those of every process that opens it.
    SQLite makes a waiting writer poll, sleeping longer and longer between tries (up to 100 ms),
    so writers contending for the database lock itself wait far longer than the transactions
    before them take; a writer blocked on the file lock wakes when it is released. The kernel
    releases the file lock of a process that dies. Reentrant: the file lock is taken by the
    outermost acquisition of a thread and released with it.
    """

    def __init__(self, database_path: str | None) -> None:
        self._thread = threading.RLock()
        self._depth = 0
        self._file: Any = None
        if database_path and database_path != ":memory:" and fcntl is not None:
            self._path: str | None = database_path + "-writers"
        else:
            self._path = None

    def __enter__(self) -> None:
        self._thread.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                if self._file is None:
                    self._file = open(self._path, "a+b")
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._file is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        """Close the lock file (taken again by the next writer)."""
        with self._thread:
            if self._file is not None and self._depth == 0:
                self._file.close()
                self._file = None


class Database:
    """An engine and the transactions of the control plane on it.

    Args:
        url: the database URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer: Any = (
            _SqliteWriters(self.engine.url.database)
            if is_sqlite(self.engine)
            else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def transaction(self, write: bool = True) -> Iterator[Session]:
        """A session in one transaction, committed on success and rolled back on any error.

        On SQLite the writers queue on a lock of their own before they take the database's,
        the threads of this process on a thread lock and the processes on a file lock beside
        the database (:class:`_SqliteWriters`): SQLite has a waiting writer poll, sleeping
        longer and longer between tries, so writers contending for its lock would wait far
        longer than the transactions before them take.

        Args:
            write: the transaction writes (on SQLite it takes the write lock at its start).
        """
        with self._writer if write else contextlib.nullcontext(), self._sessions() as session:
            session.connection(execution_options={"write": write})
            try:
                yield session
                session.flush()  # what is left to write, before the commit begins
            except BaseException:
                session.rollback()
                raise
            try:
                session.commit()
            except DBAPIError as err:
                session.rollback()
                if err.connection_invalidated:
                    raise CommitOutcomeUnknown(
                        f"the connection to the database was lost while committing: {err.orig}"
                    ) from err
                raise
            except BaseException:
                session.rollback()
                raise

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        upgrade(self.engine)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if isinstance(self._writer, _SqliteWriters):
            self._writer.close()


def alembic_config(engine: Engine) -> Config:
    """Alembic's configuration for the migrations shipped with the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("cnc6g.storage") / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (default: the newest).

    One process at a time (:func:`lock_setup`): another that starts meanwhile waits, then finds
    the schema up to date.
    """
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: none applied)."""
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])
