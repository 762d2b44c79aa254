"""The control plane's per-service figures count the tasks of services placed step by step."""

import pytest
from conftest import Api
from fastapi.testclient import TestClient

from cnc6g.api import create_app
from cnc6g.control import ControlPlane, Settings


@pytest.fixture
def windfarm(tmp_path):
    settings = Settings(
        scenario="windfarm-assistant",
        policy="grd",
        database_url=f"sqlite:///{tmp_path / 'cp.db'}",
        clock="manual",
        move_probability=0.0,
    )
    plane = ControlPlane(settings)
    with TestClient(create_app(plane)) as client:
        yield Api(client, plane)


def test_a_chain_service_is_measured_by_its_paths(windfarm):
    windfarm.advance(6)
    r = windfarm.client.get("/service-monitoring/v0.1/service-states", headers=windfarm.operator)
    assert r.status_code == 200, r.text
    states = {s["function"]: s for s in r.json()}
    task = states["wf-task"]  # placed step by step: its tasks are paths, not flows
    assert task["offered"] > 0
    assert task["satisfactionRate"] > 0.0
    assert task["latencyMs"]["p95"] is not None
