"""A control plane on a fresh SQLite database, driven in process through its HTTP API."""

import pytest
from fastapi.testclient import TestClient

from cnc6g.api import create_app
from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import create_client
from cnc6g.control.schemas import ClientCreate, Role

TRANSLATION = {
    "name": "translate",
    "description": "speech translation: ASR on the phone, LLM translation and TTS in the network",
    "category": "AI_INFERENCE",
    "workflow": {
        "steps": [
            {"stepId": "asr", "function": "asr", "pinToTerminal": True},
            {"stepId": "llm", "function": "llm-translate"},
            {"stepId": "tts", "function": "tts"},
        ],
        "edges": [
            {"fromStepId": "asr", "toStepId": "llm"},
            {"fromStepId": "llm", "toStepId": "tts"},
        ],
    },
    "qos": {"latencyMs": 1000},
}


class Api:
    """A test client with a token per role."""

    def __init__(self, client, plane):
        self.client, self.plane = client, plane
        op = plane.run(create_client, None, ClientCreate(name="ops", role=Role.operator))[0]
        self.operator = self.login(op.client_id, op.client_secret)
        self.provider = self.new("provider")
        self.terminal = self.new("terminal")

    def login(self, client_id, secret):
        r = self.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def new(self, role, name=None):
        r = self.client.post(
            "/client-registry/v0.1/clients",
            json={"name": name or role, "role": role},
            headers=self.operator,
        )
        assert r.status_code == 201, r.text
        return self.login(r.json()["clientId"], r.json()["clientSecret"])

    def advance(self, slots=1):
        r = self.client.post(
            "/slot-clock/v0.1/clock/advance", json={"slots": slots}, headers=self.operator
        )
        assert r.status_code == 200, r.text
        return r.json()["slot"]


@pytest.fixture
def api(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'cp.db'}", clock="manual", move_probability=0.0
    )
    plane = ControlPlane(settings)
    with TestClient(create_app(plane)) as client:
        yield Api(client, plane)
