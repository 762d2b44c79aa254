"""Events as CloudEvents 1.0, written to an outbox with the change they report, delivered after.

:func:`emit` adds an event row in the caller's transaction, so an event exists if and only if its
change was committed. The :class:`Deliverer` POSTs pending events to their sinks (webhooks) with
a bearer credential, retrying with exponential backoff until a 2xx; delivery is at least once
(a sink may see an event twice after a crash, never miss one). Every event is also kept for the
event stream of its owner (server-sent events).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from cnc6g.storage.db import Database
from cnc6g.storage.tables import OutboxEvent

log = logging.getLogger(__name__)

TYPE_PREFIX = "org.cnc6g"
"""CloudEvents ``type`` prefix: ``org.cnc6g.<api-name>.v0.<event-name>`` (CAMARA's naming)."""

SOURCE = "/cnc6g"
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Waits before the retries of a delivery; the last repeats."""


ADD_EVENT = insert(OutboxEvent.__table__)
"""The outbox's insert, built once."""


def event_type(api: str, name: str) -> str:
    """The CloudEvents type of event ``name`` of API ``api``."""
    return f"{TYPE_PREFIX}.{api}.v0.{name}"


def emit(
    session: Session,
    api: str,
    name: str,
    data: dict[str, Any],
    *,
    owner: str | None,
    subject: str | None = None,
    sink: str | None = None,
    sink_credential: dict[str, Any] | None = None,
    now: datetime | None = None,
    batch: list[dict[str, Any]] | None = None,
) -> None:
    """Add an event to the outbox in ``session``'s transaction.

    The event is one Core insert on the transaction's connection, at once: it neither flushes
    the ORM's pending changes nor waits for them, and the outbox keeps the order of the calls.

    Args:
        session: the transaction of the change the event reports.
        api: the API the event belongs to (``compute-sessions``...).
        name: the event's name (``session-status-changed``...).
        data: its payload (camelCase keys).
        owner: the client that may see it in its event stream (None: operators only).
        subject: the id of the object it is about.
        sink: where to POST it (None: stream only).
        sink_credential: CAMARA ``sinkCredential`` for the POST.
        now: its time (default: the wall clock).
        batch: collect the event here instead (:func:`emit_all` writes them in one statement).
    """
    when = now or datetime.now(UTC)
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": event_type(api, name),
        "source": f"{SOURCE}/{api}",
        "subject": subject,
        "time": when,
        "data": data,
        "owner": owner,
        "sink": sink,
        "sink_credential": sink_credential,
        "attempts": 0,
        "next_attempt_at": datetime.now(UTC) if sink else None,
    }
    if batch is not None:
        batch.append(values)
    else:
        emit_all(session, [values])


def emit_all(session: Session, events: list[dict[str, Any]]) -> None:
    """Write events collected by :func:`emit` in one statement (executemany), in their order."""
    if events:
        session.connection().execute(ADD_EVENT, events)


def cloudevent(row: OutboxEvent) -> dict[str, Any]:
    """The structured-mode JSON of an outbox row (CloudEvents 1.0)."""
    out: dict[str, Any] = {
        "specversion": "1.0",
        "id": row.event_id,
        "source": row.source,
        "type": row.type,
        "time": row.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": row.data,
    }
    if row.subject:
        out["subject"] = row.subject
    return out


class Deliverer:
    """Delivers the outbox's pending events to their sinks, in a background thread.

    Several processes may run one each: a row is claimed by moving its next attempt forward in
    a conditional update before it is sent, so two deliverers do not send the same attempt. A
    claim lasts twice the POST's timeout from when it is made; an event claimed by a deliverer
    that died is tried again when the claim lapses.

    Args:
        db: the database.
        interval_s: how often to look for pending events.
        timeout_s: HTTP timeout of one delivery.
        batch: most events claimed at once.
    """

    def __init__(
        self, db: Database, interval_s: float = 0.2, timeout_s: float = 5.0, batch: int = 50
    ) -> None:
        self.db = db
        self.interval_s = interval_s
        self.batch = batch
        self.claim_s = 2.0 * timeout_s
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cnc6g-deliverer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (pending events stay in the outbox for the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.deliver_pending()
            except Exception:  # a broken database must not kill the thread; retry later
                log.exception("event delivery failed")
                sent = 0
            if not sent:
                self._stop.wait(self.interval_s)

    def deliver_pending(self) -> int:
        """Try every due event once; the number tried."""
        now = datetime.now(UTC)
        with self.db.transaction(write=False) as s:
            due = s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.delivered_at.is_(None), OutboxEvent.sink.is_not(None))
                .where(OutboxEvent.next_attempt_at <= now)
                .order_by(OutboxEvent.seq)
                .limit(self.batch)
            ).all()
        tried = 0
        for row in due:
            if self._stop.is_set():
                break
            lease = datetime.now(UTC) + timedelta(seconds=self.claim_s)
            with self.db.transaction() as s:  # claim this attempt
                claimed = s.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.seq == row.seq, OutboxEvent.delivered_at.is_(None))
                    .where(
                        or_(
                            OutboxEvent.next_attempt_at == row.next_attempt_at,
                            OutboxEvent.next_attempt_at.is_(None),
                        )
                    )
                    .values(next_attempt_at=lease)
                ).rowcount
            if not claimed:
                continue
            tried += 1
            error = self._post(row)
            with self.db.transaction() as s:
                if error is None:
                    s.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.seq == row.seq)
                        .values(delivered_at=datetime.now(UTC), attempts=row.attempts + 1)
                    )
                else:
                    wait = BACKOFF_S[min(row.attempts, len(BACKOFF_S) - 1)]
                    s.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.seq == row.seq)
                        .values(
                            attempts=row.attempts + 1,
                            last_error=error[:2000],
                            next_attempt_at=datetime.now(UTC) + timedelta(seconds=wait),
                        )
                    )
        return tried

    def _post(self, row: OutboxEvent) -> str | None:
        """POST one event; None when the sink took it, else why not."""
        headers = {"content-type": "application/cloudevents+json"}
        cred = row.sink_credential or {}
        if cred.get("accessToken"):
            headers["authorization"] = f"Bearer {cred['accessToken']}"
        try:
            response = self._client.post(str(row.sink), json=cloudevent(row), headers=headers)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
