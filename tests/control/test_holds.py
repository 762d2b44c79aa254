"""Compute held on nodes: a placement that fails part-way, in a request or in the slot loop,
keeps nothing held (the service layer and the slot engine on a real SQLite database)."""

import pytest
from harness import TRANSLATION, hold_problems, principal
from sqlalchemy import select

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.errors import Unprocessable
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import ServiceCreate, ServiceRequest, Workflow
from cnc6g.control.sessions import place, request_service
from cnc6g.storage.tables import Node
from cnc6g.storage.tables import Session as SessionRow


@pytest.fixture
def live(sqlite_url):
    """A set-up plane on a manual clock whose loop has run, and the translation service."""
    plane = ControlPlane(Settings(database_url=sqlite_url, clock="manual", move_probability=0.0))
    plane.setup()
    engine = SlotEngine(plane)
    engine.advance(3)
    provider = principal(plane, "provider")
    service = plane.run(register_service, provider, ServiceCreate.model_validate(TRANSLATION))[0]
    yield plane, engine, service.service_id
    plane.db.dispose()


def test_a_placement_that_fails_part_way_holds_nothing(live):
    plane, _engine, _sid = live
    workflow = Workflow.model_validate(TRANSLATION["workflow"])

    def attempt(p, s):
        placed = place(p, s, "T0", workflow, 1000.0, 1.0, set(), hold=True)
        assert placed.holds  # the network steps have room
        assert not placed.missing
        for node, gcps in placed.holds.items():  # give it back: only the failure is tested
            s.get(Node, node).reserved_gcps -= gcps
        # tts pinned to the terminal, where it cannot run: llm-translate is held first
        with pytest.raises(Unprocessable, match="tts"):
            place(p, s, "T0", workflow, 1000.0, 1.0, {"tts"}, hold=True)
        return {n.node: n.reserved_gcps for n in s.scalars(select(Node))}

    held = plane.run(attempt)[0]
    assert held == dict.fromkeys(held, 0.0)


def test_a_migration_that_cannot_be_placed_ends_the_session_and_holds_nothing(live):
    plane, engine, sid = live
    terminal = principal(plane, "terminal")
    body = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=600)
    session = plane.run(request_service, terminal, body)[0].session
    assert session.status == "AVAILABLE"
    workflow = Workflow.model_validate(TRANSLATION["workflow"])

    def migrate(p, s):
        row = s.get(SessionRow, session.session_id)
        _, now = p.clock(s)
        # placed anew with tts on the terminal, where it cannot run
        engine._migrate(s, row, workflow, {"asr", "tts"}, "T1", now, avoid_current=False)
        return row.status, row.status_info

    assert plane.run(migrate)[0] == ("UNAVAILABLE", "NETWORK_TERMINATED")
    assert hold_problems(plane.settings.database_url) == []
