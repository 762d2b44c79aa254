"""The slot's write with sessions that change between the slot's read and its write.

The slot reads and meters the live sessions before its write transaction; requests that run
meanwhile (a session opened, one extended, one deleted) are seen by the write, which meters
and ends from what the database holds then, as if it had read everything itself (the service
layer and the slot engine on a real database).
"""

import pytest
from harness import TRANSLATION, hold_problems, principal
from sqlalchemy import select

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import (
    ExtendRequest,
    ServiceCreate,
    ServiceRequest,
    SessionKind,
)
from cnc6g.control.sessions import delete_session, extend_session, request_service
from cnc6g.storage.tables import Instance, OutboxEvent
from cnc6g.storage.tables import Session as SessionRow


@pytest.fixture
def live(database_url):
    """A set-up plane on a manual clock whose loop has run, a terminal and the service."""
    plane = ControlPlane(Settings(database_url=database_url, clock="manual", move_probability=0.0))
    plane.setup()
    engine = SlotEngine(plane)
    engine.advance(3)
    provider = principal(plane, "provider")
    service = plane.run(register_service, provider, ServiceCreate.model_validate(TRANSLATION))[0]
    yield plane, engine, principal(plane, "terminal"), service.service_id
    plane.db.dispose()


def _row(plane, session_id):
    return plane.run(lambda p, s: s.get(SessionRow, session_id), write=False)[0]


def _status_events(plane, session_id):
    def read(p, s):
        rows = s.scalars(
            select(OutboxEvent).where(OutboxEvent.subject == session_id).order_by(OutboxEvent.seq)
        )
        return [r.data.get("statusInfo") for r in rows]

    return plane.run(read, write=False)[0]


def test_sessions_changed_between_the_read_and_the_write_are_written_as_they_are_then(live):
    plane, engine, terminal, sid = live
    body = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=600)
    kept, deleted = (
        plane.run(request_service, terminal, body)[0].session.session_id for _ in range(2)
    )
    short = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=1)
    expiring, extended = (
        plane.run(request_service, terminal, short)[0].session.session_id for _ in range(2)
    )
    opened: list[str] = []
    compute = engine._compute

    def meanwhile(read):
        result = compute(read)
        assert {r.session_id for r in read.live} >= {kept, extended, deleted, expiring}
        more = ExtendRequest(requested_additional_duration=60)
        plane.run(extend_session, terminal, SessionKind.compute, extended, more)
        plane.run(delete_session, terminal, SessionKind.compute, deleted)
        opened.append(plane.run(request_service, terminal, body)[0].session.session_id)
        return result

    engine._compute = meanwhile
    engine.advance(1)
    tasks = plane.slot_s * 1.0  # one slot of a session's tasks
    assert _row(plane, kept).tasks == pytest.approx(tasks)
    grown = _row(plane, extended)
    # read as ending with the slot, extended before the write: metered, not ended
    assert (grown.status, grown.duration_s) == ("AVAILABLE", 61)
    assert grown.tasks == pytest.approx(tasks)
    gone = _row(plane, deleted)
    assert (gone.status, gone.status_info, gone.tasks) == ("UNAVAILABLE", "DELETE_REQUESTED", 0)
    assert _status_events(plane, deleted)[-1] == "DELETE_REQUESTED"  # not ended twice
    # live when the write ran but not part of the slot's load: written, charged nothing for the
    # slot and not counted as a QoS miss (the twin carried none of its tasks)
    new = _row(plane, opened[0])
    assert (new.status, new.tasks, new.violations) == ("AVAILABLE", 0, 0)
    assert new.latency_ms is None
    engine._compute = compute
    engine.advance(1)  # the next slot carries it: metered from now on
    assert _row(plane, opened[0]).tasks == pytest.approx(tasks)
    assert _row(plane, opened[0]).latency_ms is not None
    ended = _row(plane, expiring)
    assert (ended.status, ended.status_info) == ("UNAVAILABLE", "DURATION_EXPIRED")
    assert hold_problems(plane.settings.database_url) == []


def test_the_instances_written_are_the_decision(live):
    plane, engine, _terminal, _sid = live
    for _ in range(3):
        engine.advance(1)
        x = engine._loop.twin.deployment[0]
        live_ = plane.live
        want = {(live_.functions[f], live_.nodes[n]) for f, n in zip(*x.nonzero(), strict=True)}
        rows = plane.run(lambda p, s: s.scalars(select(Instance)).all(), write=False)[0]
        assert {(i.function, i.node) for i in rows} == want
        assert all(i.status in ("instantiating", "ready") for i in rows)
