"""Bandwidth held on wired links: a request's transfers must fit in what each link it crosses
has left in the slot, the holds are given back with the session, and the schema migrates to
them (the service layer and the slot engine on SQLite and PostgreSQL)."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import TRANSLATION, env, hold_problems, principal
from sqlalchemy import create_engine, event, func, inspect, select, text

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import ServiceCreate, ServiceRequest, SessionKind
from cnc6g.control.security import Principal, role_scopes
from cnc6g.control.sessions import JOINT_PLANS, SLOT_VIEW, delete_session, request_service
from cnc6g.control.subscriptions import set_location
from cnc6g.storage.db import current_revision, upgrade
from cnc6g.storage.tables import Instance, Link, LinkHold


def link_problems(plane):
    """Where the bandwidth held on links does not add up: each link's ``reserved_mbps`` is the
    sum of its holds and, with the last slot's load, within its capacity."""

    def read(p, s):
        links = list(s.scalars(select(Link)))
        held = dict(
            s.execute(select(LinkHold.link, func.sum(LinkHold.mbps)).group_by(LinkHold.link)).all()
        )
        return [
            f"link {li.link}: {li.reserved_mbps} held, holds {held.get(li.link, 0.0)}, "
            f"load {li.background_mbps} of {li.capacity_mbps}"
            for li in links
            if abs(li.reserved_mbps - held.get(li.link, 0.0)) > 1e-9
            or li.reserved_mbps + li.background_mbps > li.capacity_mbps + 1e-9
        ]

    return plane.run(read)[0]


@pytest.fixture
def live(database_url):
    """A set-up plane on a manual clock whose loop has run, the translation service and a
    terminal in cell T0."""
    plane = ControlPlane(Settings(database_url=database_url, clock="manual", move_probability=0.0))
    plane.setup()
    SlotEngine(plane).advance(2)
    provider = principal(plane, "provider")
    service = plane.run(register_service, provider, ServiceCreate.model_validate(TRANSLATION))[0]
    terminal = principal(plane, "terminal")
    plane.run(lambda p, s: set_location(p, s, terminal.client_id, "T0"))
    yield plane, service.service_id, terminal
    plane.db.dispose()


def _request(plane, service_id, terminal):
    body = ServiceRequest(service_id=service_id, rate_per_second=1.0, duration=600)
    return plane.run(request_service, terminal, body)[0].session


def _holds(plane, session_id):
    def read(p, s):
        rows = s.scalars(select(LinkHold).where(LinkHold.session_id == session_id))
        return {h.link: h.mbps for h in rows}

    return plane.run(read)[0]


def _run_beyond(plane, functions, cell):
    """Instances of ``functions`` on every network node that can run them but the one of
    ``cell``'s RAN domain: every placement's transfers cross a wired link (the next request
    sees them)."""

    def add(p, s):
        live = p.live
        have = {(i.function, i.node): i for i in s.scalars(select(Instance))}
        for f in functions:
            for n in p.system.can_host[live.function(f)].nonzero()[0]:
                name, tier = live.nodes[int(n)], live.node_tier[int(n)]
                if tier == "terminal":
                    continue
                if live.node_domain[int(n)] == f"R{cell[1:]}":
                    if (f, name) in have:
                        s.delete(have[f, name])
                elif (f, name) not in have:
                    s.add(Instance(function=f, node=name, since_slot=0, status="ready"))

    plane.run(add)
    plane.cache.pop(SLOT_VIEW, None)
    plane.cache.pop(JOINT_PLANS, None)


def _fill(plane, links, leave=0.0):
    """Load ``links`` in the last slot so that ``leave`` Mbit/s is left on each."""

    def fill(p, s):
        for li in s.scalars(select(Link).where(Link.link.in_(list(links)))):
            li.background_mbps = li.capacity_mbps - li.reserved_mbps - leave

    plane.run(fill)


def test_a_full_link_sends_the_next_request_elsewhere_then_it_waits(live):
    plane, sid, terminal = live
    _run_beyond(plane, ["llm-translate", "tts"], "T0")
    first = _request(plane, sid, terminal)
    assert first.status == "AVAILABLE"
    crossed = _holds(plane, first.session_id)
    assert crossed, "the first plan crosses wired links"  # else the test proves nothing
    need = max(crossed.values())
    assert need == pytest.approx(1.0 * (0.002 + 0.256))  # text to the LLM, speech back
    _fill(plane, crossed)  # nothing left where the first session's transfers go

    second = _request(plane, sid, terminal)
    assert second.status == "AVAILABLE"
    nodes = lambda info: [st.node for st in info.plan.steps]  # noqa: E731
    assert nodes(second) != nodes(first)  # placed where its transfers fit
    assert not set(_holds(plane, second.session_id)) & set(crossed)
    assert link_problems(plane) == []

    everything = plane.run(lambda p, s: [li.link for li in s.scalars(select(Link))])[0]
    _fill(plane, everything)  # no link has room: the request waits, as for compute
    third = _request(plane, sid, terminal)
    assert third.status == "REQUESTED"
    assert _holds(plane, third.session_id) == {}
    assert link_problems(plane) == []
    assert hold_problems(plane.settings.database_url) == []


def test_link_holds_are_given_back_when_the_session_ends(live):
    plane, sid, terminal = live
    session = _request(plane, sid, terminal)
    held = _holds(plane, session.session_id)
    assert held
    reserved = lambda: {  # noqa: E731
        li.link: li.reserved_mbps
        for li in plane.run(lambda p, s: list(s.scalars(select(Link))))[0]
        if li.link in held
    }
    assert reserved() == pytest.approx(held)
    plane.run(delete_session, terminal, SessionKind.compute, session.session_id)
    assert _holds(plane, session.session_id) == {}
    assert reserved() == pytest.approx(dict.fromkeys(held, 0.0))

    expiring = plane.run(
        request_service,
        terminal,
        ServiceRequest(service_id=sid, rate_per_second=1.0, duration=1),
    )[0].session
    assert _holds(plane, expiring.session_id)
    SlotEngine(plane).advance(2)  # its time is up: the slot ends it
    assert _holds(plane, expiring.session_id) == {}
    assert link_problems(plane) == []
    assert all(v == pytest.approx(0.0) for v in reserved().values())


def test_the_schema_upgrades_from_the_previous_head(database_url):
    engine = create_engine(database_url)
    try:
        upgrade(engine, "0001")
        assert "links" not in inspect(engine).get_table_names()
        with engine.begin() as conn:  # a node with compute held at the previous head
            conn.execute(
                text(
                    "INSERT INTO nodes (node, domain, kind, capacity_gcps, admission_gcps, "
                    "background_gcps, reserved_gcps, utilisation, energy_j, awake) "
                    "VALUES ('R0-mec', 'R0', 'ran', 40, 36, 1, 2, 0.1, 0, true)"
                )
            )
        done = subprocess.run(
            [sys.executable, "-m", "cnc6g", "db", "upgrade", "--database-url", database_url],
            env=env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert current_revision(engine) == "0002"
        tables = inspect(engine).get_table_names()
        assert {"links", "link_holds"} <= set(tables)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT reserved_gcps FROM nodes")).scalar_one() == 2
    finally:
        engine.dispose()
    plane = ControlPlane(Settings(database_url=database_url, clock="manual"))
    try:
        plane.setup()  # fills the links of the live system
        links = plane.run(lambda p, s: list(s.scalars(select(Link).order_by(Link.link))))[0]
        assert [(li.a, li.b) for li in links] == [(wl.a, wl.b) for wl in plane.scenario.wired_links]
        assert all(li.capacity_mbps == 1000.0 and li.reserved_mbps == 0.0 for li in links)
    finally:
        plane.db.dispose()


def test_concurrent_requests_do_not_oversubscribe_a_link(live):
    plane, sid, terminal = live
    first = _request(plane, sid, terminal)
    crossed = _holds(plane, first.session_id)
    assert crossed
    need = max(crossed.values())
    _fill(plane, crossed, leave=2.5 * need)  # room for two more sessions' transfers
    terminals = [principal(plane, "terminal") for _ in range(6)]
    for t in terminals:
        plane.run(lambda p, s, t=t: set_location(p, s, t.client_id, "T0"))
    with ThreadPoolExecutor(len(terminals)) as pool:
        sessions = list(pool.map(lambda t: _request(plane, sid, t), terminals))
    through = [info for info in sessions if set(_holds(plane, info.session_id)) & set(crossed)]
    assert len(through) == 2
    assert all(info.status == "AVAILABLE" for info in through)
    assert link_problems(plane) == []
    assert hold_problems(plane.settings.database_url) == []


SINGLE = {
    "name": "single",
    "description": "one step at the cell's own RAN node",
    "category": "AI_INFERENCE",
    "workflow": {"steps": [{"stepId": "a", "function": "svc00"}], "edges": []},
    "qos": {"latencyMs": 1000},
}


def test_only_a_plan_that_crosses_links_reads_and_holds_them(live):
    plane, sid, terminal = live
    provider = principal(plane, "provider")
    single = plane.run(register_service, provider, ServiceCreate.model_validate(SINGLE))[0]

    def statements(service_id):
        seen = []

        def note(conn, cursor, statement, *args):
            seen.append(" ".join(statement.split()))

        event.listen(plane.db.engine, "before_cursor_execute", note)
        try:
            info = _request(plane, service_id, terminal)
        finally:
            event.remove(plane.db.engine, "before_cursor_execute", note)
        return info, [x for x in seen if " links" in x or " link_holds" in x]

    near, touched = statements(single.service_id)
    assert [st.node for st in near.plan.steps] == ["R0-mec"]  # no wired link on its way
    assert touched == []
    far, touched = statements(sid)
    assert _holds(plane, far.session_id)
    # their bandwidth held (on PostgreSQL the links locked and read first), the holds inserted
    first = ["SELECT"] if plane.db.engine.dialect.name == "postgresql" else []
    assert [x.split()[0] for x in touched] == [*first, "UPDATE", "INSERT"]


def test_link_states_show_the_load_the_holds_and_the_room(live):
    from cnc6g.control.monitoring import link_states

    plane, sid, terminal = live
    _run_beyond(plane, ["llm-translate", "tts"], "T0")
    session = _request(plane, sid, terminal)
    crossed = _holds(plane, session.session_id)
    assert crossed
    link = next(iter(crossed))
    _fill(plane, [link], leave=5.0)
    operator = Principal("ops", "operator", frozenset(role_scopes("operator")))
    states = {st.link: st for st in plane.run(link_states, operator, write=False)[0]}
    assert set(states) == set(range(len(plane.system.scenario.wired_links)))
    full = states[link]
    assert full.reserved_mbps == pytest.approx(crossed[link])
    assert full.room_mbps == pytest.approx(5.0)
    assert full.carried_mbps + full.reserved_mbps + full.room_mbps == pytest.approx(
        full.capacity_mbps
    )
    assert full.utilisation == pytest.approx(1.0 - 5.0 / full.capacity_mbps)
    idle = [st for st in states.values() if st.link not in crossed]
    assert all(st.reserved_mbps == 0.0 for st in idle)
