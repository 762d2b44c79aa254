"""The unified service request places a workflow's steps jointly (the service path scheduler):
a step with a heavy output is pulled toward its consumer, only nodes running a step's function
are used, pins hold, and the plan's latency is the scheduler's (the service layer on a real
database)."""

from importlib import resources

import pytest
from harness import TRANSLATION, hold_problems, principal
from sqlalchemy import insert

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.schemas import ServiceCreate, ServiceRequest
from cnc6g.control.sessions import INSTANCES, JOINT_PLANS, request_service
from cnc6g.policies import paths

HEAVY_MBIT = 40.0
"""The output of the first step (its TTS), Mbit per task: 40 ms on the 1 Gbit/s backhaul."""

RENDER_THEN_TRANSLATE = {
    "name": "render-translate",
    "description": "a step with a heavy output feeding a step that runs on one node only",
    "category": "AI_INFERENCE",
    "workflow": {
        "steps": [
            {"stepId": "render", "function": "tts"},
            {"stepId": "translate", "function": "llm-translate"},
        ],
        "edges": [{"fromStepId": "render", "toStepId": "translate"}],
    },
    "qos": {"latencyMs": 1000},
}


def _heavy_scenario(tmp_path):
    """The default scenario with the TTS output made heavy."""
    text = (resources.files("cnc6g.scenarios") / "presets" / "speech-translation.toml").read_text(
        encoding="utf-8"
    )
    assert text.count("output_mbit = 0.256") == 1  # the TTS's
    path = tmp_path / "heavy.toml"
    path.write_text(text.replace("output_mbit = 0.256", f"output_mbit = {HEAVY_MBIT}"))
    return path


def _plane(database_url, scenario, running, service):
    plane = ControlPlane(
        Settings(
            database_url=database_url, clock="manual", move_probability=0.0, scenario=str(scenario)
        )
    )
    plane.setup()
    with plane.db.transaction() as s:
        s.connection().execute(
            insert(INSTANCES),
            [{"function": f, "node": n, "since_slot": 0, "status": "ready"} for f, n in running],
        )
    provider = principal(plane, "provider")
    sid = plane.run(register_service, provider, ServiceCreate.model_validate(service))[0]
    return plane, sid.service_id


def test_a_heavy_output_is_pulled_toward_its_consumer(database_url, tmp_path):
    running = [("tts", "R0-mec"), ("tts", "X-dc"), ("llm-translate", "X-dc")]
    plane, sid = _plane(database_url, _heavy_scenario(tmp_path), running, RENDER_THEN_TRANSLATE)
    try:
        # The premise: alone, the render step is fastest near the terminal (its output comes
        # back over the radio only), far from the one node that translates.
        fastest = [o.node for o in plane.live.options("T0", "tts") if o.node in ("R0-mec", "X-dc")]
        assert fastest[0] == "R0-mec"
        terminal = principal(plane, "terminal")
        body = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=600)
        session = plane.run(request_service, terminal, body)[0].session
        assert session.status == "AVAILABLE"
        nodes = {st.step_id: st.node for st in session.plan.steps}
        # Joint: rendering next to the translation saves the 40 Mbit backhaul transfer.
        assert nodes == {"render": "X-dc", "translate": "X-dc"}
        sy = plane.system
        req = paths.Request(
            plane.live.cell("T0"),
            paths.chain([sy.service_names.index("tts"), sy.service_names.index("llm-translate")]),
        )
        x, r0 = sy.node_names.index("X-dc"), sy.node_names.index("R0-mec")
        joint = paths.evaluate(sy, req, (x, x)).latency_s * 1e3
        per_step = paths.evaluate(sy, req, (r0, x)).latency_s * 1e3
        assert joint < per_step - HEAVY_MBIT / 2  # the transfer it saves
        assert session.plan.expected_latency_ms == pytest.approx(joint, abs=1e-3)
        parts = [st.expected_latency_ms for st in session.plan.steps]
        assert sum(parts) == pytest.approx(session.plan.expected_latency_ms, abs=1e-2)
        assert hold_problems(plane.settings.database_url) == []
    finally:
        plane.db.dispose()


def test_only_nodes_running_the_function_are_chosen(sqlite_url, tmp_path):
    # X-dc would be best for both steps, but only R0-mec runs the render step.
    running = [("tts", "R0-mec"), ("llm-translate", "X-dc")]
    plane, sid = _plane(sqlite_url, _heavy_scenario(tmp_path), running, RENDER_THEN_TRANSLATE)
    try:
        terminal = principal(plane, "terminal")
        body = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=600)
        session = plane.run(request_service, terminal, body)[0].session
        assert session.status == "AVAILABLE"
        assert [st.node for st in session.plan.steps] == ["R0-mec", "X-dc"]
    finally:
        plane.db.dispose()


def test_pins_are_respected(database_url):
    running = [(f, n) for f in ("asr", "llm-translate", "tts") for n in ("R0-mec", "X-dc")]
    plane, pinned_sid = _plane(database_url, "speech-translation", running, TRANSLATION)
    try:
        provider = principal(plane, "provider")
        free = dict(TRANSLATION, name="translate-free")
        free["workflow"] = {
            "steps": [dict(st, pinToTerminal=False) for st in TRANSLATION["workflow"]["steps"]],
            "edges": TRANSLATION["workflow"]["edges"],
        }
        free_sid = plane.run(register_service, provider, ServiceCreate.model_validate(free))[0]
        terminal = principal(plane, "terminal")
        local = plane.live.local_node("T0")
        cases = [  # (service, pinStepIds, ASR on the terminal)
            (pinned_sid, [], True),  # the workflow's pin
            (free_sid.service_id, ["asr"], True),  # the request's pin
            (free_sid.service_id, [], False),  # no pin: X-dc's ASR is faster than the phone
        ]
        for sid, pin, on_terminal in cases:
            body = ServiceRequest(
                service_id=sid, rate_per_second=0.5, duration=600, pin_step_ids=pin
            )
            session = plane.run(request_service, terminal, body)[0].session
            assert session.status == "AVAILABLE"
            steps = {st.step_id: st for st in session.plan.steps}
            assert (steps["asr"].node == local) is on_terminal
            assert (steps["asr"].placement == "TERMINAL") is on_terminal
            for st in session.plan.steps:
                if st.placement == "NETWORK":
                    assert (st.function, st.node) in running
        assert hold_problems(plane.settings.database_url) == []
    finally:
        plane.db.dispose()


def test_steps_sharing_a_node_share_its_room(sqlite_url, tmp_path):
    """Two steps on one node need its room for both: the scheduler splits them when not."""
    running = [("tts", "R0-mec"), ("tts", "X-dc"), ("llm-translate", "X-dc")]
    plane, sid = _plane(sqlite_url, _heavy_scenario(tmp_path), running, RENDER_THEN_TRANSLATE)
    try:
        sy = plane.system
        llm = float(sy.work[sy.service_names.index("llm-translate")])
        tts = float(sy.work[sy.service_names.index("tts")])
        rate = 1.0
        with plane.db.transaction() as s:  # room on X-dc for the translation, not both
            s.connection().exec_driver_sql(
                "UPDATE nodes SET background_gcps = admission_gcps - ? WHERE node = 'X-dc'",
                (rate * (llm + tts / 2),),
            )
        terminal = principal(plane, "terminal")
        body = ServiceRequest(service_id=sid, rate_per_second=rate, duration=600)
        session = plane.run(request_service, terminal, body)[0].session
        assert session.status == "AVAILABLE"
        assert [st.node for st in session.plan.steps] == ["R0-mec", "X-dc"]
        assert hold_problems(plane.settings.database_url) == []
    finally:
        plane.db.dispose()


def test_a_plan_kept_in_the_slot_is_given_again_only_when_it_fits(sqlite_url, tmp_path):
    """The slot's kept plan (X-dc for both steps) is not given again once X-dc has room for
    either step but not both: the second request renders near the terminal."""
    running = [("tts", "R0-mec"), ("tts", "X-dc"), ("llm-translate", "X-dc")]
    plane, sid = _plane(sqlite_url, _heavy_scenario(tmp_path), running, RENDER_THEN_TRANSLATE)
    try:
        sy = plane.system
        llm = float(sy.work[sy.service_names.index("llm-translate")])
        tts = float(sy.work[sy.service_names.index("tts")])
        assert llm >= tts / 2  # after one session, X-dc has room for each step alone
        with plane.db.transaction() as s:
            s.connection().exec_driver_sql(
                "UPDATE nodes SET background_gcps = admission_gcps - ? WHERE node = 'X-dc'",
                (2 * (llm + tts) - tts / 2,),
            )
        terminal = principal(plane, "terminal")
        body = ServiceRequest(service_id=sid, rate_per_second=1.0, duration=600)
        first = plane.run(request_service, terminal, body)[0].session
        assert [st.node for st in first.plan.steps] == ["X-dc", "X-dc"]
        assert len(plane.cache[JOINT_PLANS]) == 2  # the slot and the plan kept
        second = plane.run(request_service, terminal, body)[0].session
        assert second.status == "AVAILABLE"
        assert [st.node for st in second.plan.steps] == ["R0-mec", "X-dc"]
        req = paths.Request(
            plane.live.cell("T0"),
            paths.chain([sy.service_names.index("tts"), sy.service_names.index("llm-translate")]),
        )
        nodes = (sy.node_names.index("R0-mec"), sy.node_names.index("X-dc"))
        joint = paths.evaluate(sy, req, nodes).latency_s * 1e3  # the scheduler's, not a fallback
        assert second.plan.expected_latency_ms == pytest.approx(joint, abs=1e-3)
        assert hold_problems(plane.settings.database_url) == []
    finally:
        plane.db.dispose()
