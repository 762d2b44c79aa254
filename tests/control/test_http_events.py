"""Events over real HTTP: webhooks with a bearer credential and retries, and the SSE stream."""

import json
import threading
import time
import uuid

import pytest
from harness import (
    TRANSLATION,
    Server,
    Sink,
    credential,
    fresh_database,
    outbox,
    service_create_client,
)

SESSIONS = "/compute-sessions/v0.1/sessions"
STREAM = "/service-monitoring/v0.1/events"
CHANGED = "org.cnc6g.compute-sessions.v0.session-status-changed"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server on SQLite for the module (each test has clients of its own)."""
    tmp = tmp_path_factory.mktemp("events")
    with fresh_database("sqlite", tmp) as url:
        running = Server(url, tmp / "server.log").start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture
def plane(server):
    """The server, an operator, a provider's translation service and two new terminals."""
    ops = server.client(service_create_client(server.database_url))
    provider = server.client(ops.new_client("provider"))
    terminals = [server.client(ops.new_client("terminal")) for _ in range(2)]
    for t in terminals:
        t.ok("PUT", "/service-subscriptions/v0.1/location", json={"cell": "T1"})
    ops.advance(3)
    sid = provider.ok(
        "POST", "/service-catalog/v0.1/services", json={**TRANSLATION, "name": uuid.uuid4().hex}
    )["serviceId"]
    yield server, ops, sid, terminals
    for api in (ops, provider, *terminals):
        api.close()


def open_session(terminal, sid, **extra):
    body = {"serviceId": sid, "ratePerSecond": 1, **extra}
    session = terminal.ok("POST", SESSIONS, json=body)
    assert session["status"] == "AVAILABLE"
    return session["sessionId"]


def _is(delivery, session, status):
    """Whether ``delivery`` is the event of ``session`` becoming ``status``."""
    return delivery.body["subject"] == session and delivery.body["data"]["status"] == status


def test_a_session_available_at_once_tells_its_sink(plane, sink):
    _server, _ops, sid, (terminal, _) = plane
    session = open_session(terminal, sid, sink=sink.url, sinkCredential=credential("sink-token-0"))
    got = sink.wait_for(lambda ds: any(d.body["subject"] == session for d in ds))
    [delivery] = [d for d in got if d.body["subject"] == session]
    assert delivery.body["type"] == CHANGED
    data = delivery.body["data"]
    assert (data["status"], data["statusInfo"], data["previousStatus"]) == (
        "AVAILABLE",
        None,
        "REQUESTED",
    )
    assert data["plan"] == terminal.ok("GET", f"{SESSIONS}/{session}")["plan"]


def test_a_released_session_tells_its_sink(plane, sink):
    _server, _ops, sid, (terminal, _) = plane
    session = open_session(terminal, sid, sink=sink.url, sinkCredential=credential("sink-token-1"))
    plan = terminal.ok("GET", f"{SESSIONS}/{session}")["plan"]
    assert terminal.delete(f"{SESSIONS}/{session}").status_code == 204
    got = sink.wait_for(lambda ds: any(_is(d, session, "UNAVAILABLE") for d in ds))
    [delivery] = [d for d in got if _is(d, session, "UNAVAILABLE")]
    assert delivery.path == "/events"
    assert delivery.headers["authorization"] == "Bearer sink-token-1"
    assert delivery.headers["content-type"].startswith("application/cloudevents+json")
    event = delivery.body
    assert event["specversion"] == "1.0"
    assert event["type"] == CHANGED
    assert event["source"] == "/cnc6g/compute-sessions"
    assert event["id"]
    assert event["time"].endswith("Z")
    assert event["datacontenttype"] == "application/json"
    data = event["data"]
    assert data["sessionId"] == session
    assert (data["status"], data["statusInfo"], data["previousStatus"]) == (
        "UNAVAILABLE",
        "DELETE_REQUESTED",
        "AVAILABLE",
    )
    assert data["plan"] == plan  # as the API shows it


def test_a_failing_sink_gets_the_event_again_with_backoff(plane):
    _server, _ops, sid, (terminal, _) = plane
    sink = Sink(fail_first=2).start()
    try:
        session = open_session(terminal, sid, sink=sink.url, sinkCredential=credential("t2"))
        got = sink.wait_for(lambda ds: any(d.status == 204 for d in ds), timeout_s=20)
    finally:
        sink.stop()
    assert [d.status for d in got] == [500, 500, 204]
    assert len({d.body["id"] for d in got}) == 1
    assert all(d.headers["authorization"] == "Bearer t2" for d in got)
    first, second = got[1].at - got[0].at, got[2].at - got[1].at
    assert first >= 0.45  # the waits before the retries: 0.5 s, then 1 s
    assert second >= 0.95
    assert second > first
    [row] = [e for e in outbox(plane[0].database_url) if e["subject"] == session]
    assert row["delivered"]
    assert row["attempts"] == 3


def read_stream(api, params, headers=None):
    """The events of one SSE response: (id, event, data)."""
    events, current = [], {}
    with api.http.stream(
        "GET", STREAM, params=params, headers={**api.headers, **(headers or {})}
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "id" in current:
                    events.append((int(current["id"]), current["event"], current["data"]))
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value
    return events


def test_the_event_stream_gives_the_callers_events_and_resumes(plane):
    _server, ops, sid, (terminal, other) = plane
    sessions = [open_session(terminal, sid) for _ in range(3)]
    theirs = open_session(other, sid)
    for session in sessions:
        assert terminal.delete(f"{SESSIONS}/{session}").status_code == 204
    assert other.delete(f"{SESSIONS}/{theirs}").status_code == 204

    events = read_stream(terminal, {"maxWaitS": 0})
    ids = [seq for seq, _, _ in events]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    changed = [(seq, data) for seq, kind, data in events if kind == CHANGED]
    assert [(d["subject"], d["data"]["status"]) for _, d in changed] == [
        *((s, "AVAILABLE") for s in sessions),
        *((s, "UNAVAILABLE") for s in sessions),
    ]
    assert all(d["id"] for _, d in changed)
    assert theirs not in {d.get("subject") for _, _, d in events}
    assert {d["subject"] for _, _, d in read_stream(ops, {"maxWaitS": 0})} >= {*sessions, theirs}

    # Reconnecting with Last-Event-ID gives what came after it, nothing before.
    after = changed[0][0]
    resumed = read_stream(terminal, {"maxWaitS": 0}, {"Last-Event-ID": str(after)})
    assert [seq for seq, _, _ in resumed] == [seq for seq in ids if seq > after]
    assert [d["id"] for _, kind, d in resumed if kind == CHANGED] == [
        d["id"] for _, d in changed[1:]
    ]
    r = terminal.get(STREAM, params={"maxWaitS": 0}, headers={"Last-Event-ID": "abc"})
    assert r.status_code == 400


def test_the_event_stream_delivers_as_it_happens(plane):
    _server, _ops, sid, (terminal, _) = plane
    session = open_session(terminal, sid)
    last = read_stream(terminal, {"maxWaitS": 0})
    start = last[-1][0] if last else 0

    def release():
        time.sleep(0.5)
        assert terminal.delete(f"{SESSIONS}/{session}").status_code == 204

    t = threading.Thread(target=release)
    t.start()
    began = time.monotonic()
    events = read_stream(terminal, {"maxWaitS": 3}, {"Last-Event-ID": str(start)})
    t.join()
    assert time.monotonic() - began >= 2.5  # the stream stays open until maxWaitS
    assert [(kind, d["subject"]) for _, kind, d in events] == [(CHANGED, session)]


def test_the_event_stream_gives_the_whole_backlog_before_it_ends(plane):
    _server, _ops, sid, (terminal, _) = plane
    body = {"serviceId": sid, "area": ["T1"]}
    for _ in range(30):
        terminal.ok("POST", "/service-subscriptions/v0.1/service-subscriptions", json=body)
    for cell in ("T0", "T1", "T0", "T1"):  # each move: an event per subscription
        terminal.ok("PUT", "/service-subscriptions/v0.1/location", json={"cell": cell})
    events = read_stream(terminal, {"maxWaitS": 0})
    kinds = [kind.rsplit(".", 1)[1] for _, kind, _ in events]
    assert kinds.count("area-left") == kinds.count("area-entered") == 60
