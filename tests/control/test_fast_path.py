"""What the decision path and the slot's write take as read once: the running instances and the
nodes' utilisation per slot, a bearer token's check until it expires; and that a request locks
only the nodes it may hold compute on (the service layer on a real database)."""

import threading
import time

import jwt
import pytest
from harness import TRANSLATION, hold_problems, principal
from sqlalchemy import create_engine, select, text

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.errors import Unauthenticated
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import ServiceCreate, ServiceRequest
from cnc6g.control.security import ISSUER, VerifiedTokens, issue_token
from cnc6g.control.sessions import request_service
from cnc6g.storage.tables import OutboxEvent, Reservation
from cnc6g.storage.tables import Session as SessionRow


@pytest.fixture
def plane(database_url):
    """A set-up plane on a manual clock (no slot run yet) and the translation service."""
    plane = ControlPlane(Settings(database_url=database_url, clock="manual", move_probability=0.0))
    plane.setup()
    provider = principal(plane, "provider")
    service = plane.run(register_service, provider, ServiceCreate.model_validate(TRANSLATION))[0]
    yield plane, service.service_id
    plane.db.dispose()


def test_a_request_sees_the_instances_the_last_slot_started(plane):
    plane, sid = plane
    terminal = principal(plane, "terminal")
    body = ServiceRequest(service_id=sid, rate_per_second=0.01, duration=600)
    first = plane.run(request_service, terminal, body)[0].session
    assert first.status == "REQUESTED"  # nothing runs before the first slot
    SlotEngine(plane).advance(3)
    second = plane.run(request_service, terminal, body)[0].session
    assert second.status == "AVAILABLE"  # what was read at slot 0 is not used at slot 3
    with plane.db.transaction(write=False) as s:
        running = {(i.function, i.node) for i in s.execute(text("SELECT * FROM instances"))}
    network = [st for st in second.plan.steps if st.placement == "NETWORK"]
    assert network
    assert all((st.function, st.node) in running for st in network)


def test_a_slot_meters_ends_and_moves_the_revision_of_every_live_session(plane):
    plane, sid = plane
    engine = SlotEngine(plane)
    engine.advance(3)
    terminal = principal(plane, "terminal")
    short = ServiceRequest(service_id=sid, rate_per_second=2.0, duration=1)
    long = ServiceRequest(service_id=sid, rate_per_second=2.0, duration=600)
    ending = plane.run(request_service, terminal, short)[0].session
    staying = plane.run(request_service, terminal, long)[0].session
    assert ending.status == staying.status == "AVAILABLE"
    engine.advance(1)
    with plane.db.transaction(write=False) as s:
        ended = s.get(SessionRow, ending.session_id)
        metered = s.get(SessionRow, staying.session_id)
        held = {r.session_id for r in s.scalars(select(Reservation))}
        events = [
            e.data
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.subject == ended.session_id))
        ]
    assert (ended.status, ended.status_info) == ("UNAVAILABLE", "DURATION_EXPIRED")
    assert ended.version_id == ending.revision + 1
    assert ended.session_id not in held
    assert events[-1]["status"] == "UNAVAILABLE"
    assert events[-1]["previousStatus"] == "AVAILABLE"
    assert metered.status == "AVAILABLE"
    assert metered.session_id in held
    assert metered.version_id == staying.revision + 1
    assert metered.tasks == pytest.approx(2.0 * plane.slot_s)
    assert metered.compute_gcycles > 0
    assert metered.bytes_up > 0
    assert metered.latency_ms is not None
    assert hold_problems(plane.settings.database_url) == []


def test_a_request_locks_only_the_nodes_it_may_hold_compute_on(plane):
    plane, sid = plane
    if plane.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock is the database's, not a node's")
    SlotEngine(plane).advance(3)
    terminal = principal(plane, "terminal")
    live = plane.live
    reachable = {o.node for f in ("llm-translate", "tts") for o in live.options("T0", f)}
    others = sorted(set(live.nodes) - reachable)
    assert others, "every node is a candidate: the test needs one that is not"
    other = create_engine(plane.settings.database_url)
    done = threading.Event()
    answers = []

    def request():
        body = ServiceRequest(service_id=sid, rate_per_second=0.01, duration=600)
        answers.append(plane.run(request_service, terminal, body)[0].session.status)
        done.set()

    try:
        with other.begin() as conn:  # another transaction holds the other nodes
            conn.execute(
                text("SELECT node FROM nodes WHERE node = ANY(:n) FOR UPDATE"), {"n": others}
            )
            thread = threading.Thread(target=request)
            thread.start()
            assert done.wait(30), "the request waited for nodes it does not use"
        thread.join()
    finally:
        other.dispose()
    assert answers == ["AVAILABLE"]


def test_a_token_is_checked_once_until_it_expires():
    key = "k" * 48
    tokens = VerifiedTokens(key)
    token = str(issue_token(key, "client-1", "terminal")["access_token"])
    principal = tokens.principal(token)
    assert principal.client_id == "client-1"
    assert tokens.principal(token) is principal  # the check's result, kept
    with pytest.raises(Unauthenticated):
        VerifiedTokens("another key" * 4).principal(token)
    with pytest.raises(Unauthenticated):
        tokens.principal(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    brief = str(issue_token(key, "client-2", "terminal", ttl_s=1)["access_token"])
    assert tokens.principal(brief).client_id == "client-2"
    expires = jwt.decode(brief, key, algorithms=["HS256"], audience=ISSUER)["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.principal(brief)  # kept, but not past its expiry


def test_verified_tokens_keep_at_most_their_size():
    key = "k" * 48
    tokens = VerifiedTokens(key, size=2)
    for n in range(5):
        token = str(issue_token(key, f"client-{n}", "terminal")["access_token"])
        assert tokens.principal(token).client_id == f"client-{n}"
        assert len(tokens._seen) <= 2
