"""A slot meters the sessions it leaves where they are after its write, in short transactions
of a few sessions each: every session is metered once, one changed between the slot's write
and its batch is metered as it is then, and a batch not written (the process died, the database
kept aborting it) leaves its sessions without that slot's usage and everything else consistent
(the service layer and the slot engine on SQLite and PostgreSQL)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import TRANSLATION, hold_problems, principal

from cnc6g.control import ControlPlane, Settings
from cnc6g.control import runtime as runtime_module
from cnc6g.control.catalog import register_service
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import (
    ExtendRequest,
    ServiceCreate,
    ServiceRequest,
    SessionKind,
)
from cnc6g.control.sessions import _own, extend_session, request_service
from cnc6g.storage.tables import Session as SessionRow

SESSIONS = 5
TIMEOUT_S = 30.0


@pytest.fixture
def live(database_url, monkeypatch):
    """A plane on a manual clock with five sessions metered by the last slot, two a batch."""
    monkeypatch.setattr(runtime_module, "METER_BATCH", 2)
    plane = ControlPlane(Settings(database_url=database_url, clock="manual", move_probability=0.0))
    plane.setup()
    engine = SlotEngine(plane)
    engine.advance(2)
    provider = principal(plane, "provider")
    service = plane.run(register_service, provider, ServiceCreate.model_validate(TRANSLATION))[0]
    terminal = principal(plane, "terminal")
    body = ServiceRequest(service_id=service.service_id, rate_per_second=1.0, duration=600)
    ids = [plane.run(request_service, terminal, body)[0].session for _ in range(SESSIONS)]
    ids = [info.session_id for info in ids]
    engine.advance(1)  # opened before it: charged from the next slot on
    yield plane, engine, terminal, ids
    plane.db.dispose()


def _tasks(plane, ids):
    rows = plane.run(lambda p, s: {i: s.get(SessionRow, i) for i in ids}, write=False)[0]
    return {i: (r.tasks, r.version_id) for i, r in rows.items()}


def _write_transactions(plane, monkeypatch):
    """The write transactions begun from now on (a list that grows)."""
    begun = []
    transaction = plane.db.transaction

    def counted(write=True):
        if write:
            begun.append(write)
        return transaction(write=write)

    monkeypatch.setattr(plane.db, "transaction", counted)
    return begun


def test_the_sessions_are_metered_after_the_slot_a_batch_a_transaction(live, monkeypatch):
    plane, engine, _terminal, ids = live
    before = _tasks(plane, ids)
    begun = _write_transactions(plane, monkeypatch)
    engine.advance(1)
    # the lease's renewal, the slot's write, then three batches of at most two sessions
    assert len(begun) == 2 + 3
    after = _tasks(plane, ids)
    tasks = plane.slot_s * 1.0
    for i in ids:
        assert after[i][0] == pytest.approx(before[i][0] + tasks)
        assert after[i][1] == before[i][1] + 1  # metered once: one new revision
    assert hold_problems(plane.settings.database_url) == []


def test_a_session_changed_before_its_batch_is_metered_as_it_is_then(live):
    plane, engine, terminal, ids = live
    before = _tasks(plane, ids)
    meter_later = engine._meter_later
    batches = []

    def extend_first(metered, res):  # between the slot's write and its batches
        batches.extend([m["b_id"] for m in metered])
        more = ExtendRequest(requested_additional_duration=60)
        plane.run(extend_session, terminal, SessionKind.compute, ids[0], more)
        return meter_later(metered, res)

    engine._meter_later = extend_first
    engine.advance(1)
    assert sorted(batches) == sorted(ids)
    row = plane.run(lambda p, s: s.get(SessionRow, ids[0]), write=False)[0]
    assert row.duration_s == 660  # the extension kept
    assert row.tasks == pytest.approx(before[ids[0]][0] + plane.slot_s)  # and metered
    assert row.version_id == before[ids[0]][1] + 2  # the extension, then the metering
    assert hold_problems(plane.settings.database_url) == []


def test_a_batch_not_written_leaves_its_sessions_unmetered_for_that_slot(live):
    plane, engine, _terminal, ids = live
    before = _tasks(plane, ids)
    meter_batch = engine._meter_batch
    calls = []

    def die_after_first(s, batch, res):
        calls.append(batch)
        if len(calls) > 1:
            raise RuntimeError("the process died")
        return meter_batch(s, batch, res)

    engine._meter_batch = die_after_first
    with pytest.raises(RuntimeError):
        engine.advance(1)
    first = {m["b_id"] for m in calls[0]}
    after = _tasks(plane, ids)
    tasks = plane.slot_s * 1.0
    for i in ids:  # the first batch metered, the others left as they were
        assert after[i][0] == pytest.approx(before[i][0] + (tasks if i in first else 0.0))
    slot = plane.run(lambda p, s: p.clock(s)[0], write=False)[0]
    engine._meter_batch = meter_batch
    engine._loop = None  # a process that takes over builds the twin again
    assert engine.advance(1) == slot + 1  # the next slot goes on, metering everyone
    again = _tasks(plane, ids)
    for i in ids:
        assert again[i][0] == pytest.approx(after[i][0] + tasks)
    assert hold_problems(plane.settings.database_url) == []


def test_a_batch_waits_for_a_change_of_a_session_under_way(live):
    """A change of a session reads it after locking the nodes; a batch locks them too, so it
    meters the session once the change is written instead of under it (on PostgreSQL the
    change would otherwise find its revision gone and fail)."""
    plane, engine, terminal, ids = live
    before = _tasks(plane, ids)
    kept = []
    engine._meter_later = lambda metered, res: kept.append((metered, res))
    engine.advance(1)  # the slot's write; its batches kept for later
    del engine._meter_later
    ((metered, res),) = kept
    read, go = threading.Event(), threading.Event()

    def change(p, s):
        row = _own(s, terminal, SessionKind.compute, ids[0], change=True)
        read.set()
        assert go.wait(TIMEOUT_S)
        row.duration_s += 1

    with ThreadPoolExecutor(2) as pool:
        changing = pool.submit(plane.run, change)
        assert read.wait(TIMEOUT_S)
        batches = pool.submit(engine._meter_later, metered, res)
        time.sleep(0.5)  # the batch goes on or waits meanwhile
        go.set()
        changing.result(timeout=TIMEOUT_S)
        batches.result(timeout=TIMEOUT_S)
    row = plane.run(lambda p, s: s.get(SessionRow, ids[0]), write=False)[0]
    assert row.duration_s == 601
    assert row.tasks == pytest.approx(before[ids[0]][0] + plane.slot_s)
    assert row.version_id == before[ids[0]][1] + 2
    assert hold_problems(plane.settings.database_url) == []
