"""Control planes for the tests: in process on SQLite (TestClient), or ``cnc6g serve`` processes
on SQLite and PostgreSQL reached over real HTTP (:mod:`harness`)."""

import sys

import pytest
from fastapi.testclient import TestClient
from harness import TRANSLATION, Server, Sink, fresh_database

from cnc6g.api import create_app
from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import create_client
from cnc6g.control.schemas import ClientCreate, Role

__all__ = ["TRANSLATION"]


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


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """A fresh database: a SQLite file, or a PostgreSQL database dropped after the test."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """A fresh SQLite database."""
    with fresh_database("sqlite", tmp_path) as url:
        yield url


def _servers(url, tmp_path):
    started = []

    def start(clock="manual", extra=(), database_url=None):
        server = Server(
            database_url or url, tmp_path / f"server-{len(started)}.log", clock=clock, extra=extra
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
    for n, server in enumerate(started):
        sys.stderr.write(f"--- server {n} on {server.database_url}\n{server.output()}\n")


@pytest.fixture
def servers(database_url, tmp_path):
    """Start ``cnc6g serve`` processes on ``database_url``; each is stopped after the test."""
    yield from _servers(database_url, tmp_path)


@pytest.fixture
def sqlite_servers(sqlite_url, tmp_path):
    """Start ``cnc6g serve`` processes on a fresh SQLite database."""
    yield from _servers(sqlite_url, tmp_path)


@pytest.fixture
def sink():
    """A webhook receiver on loopback."""
    receiver = Sink().start()
    yield receiver
    receiver.stop()
