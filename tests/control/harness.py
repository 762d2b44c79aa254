"""Real control-plane servers for the tests: ``cnc6g serve`` subprocesses on loopback ports.

A :class:`Server` runs ``python -m cnc6g serve`` with the sources under test on a fresh database
(a SQLite file, or a PostgreSQL database made for the test and dropped after it) and talks to it
over HTTP with httpx. A :class:`Sink` is a webhook receiver on loopback that records the
CloudEvents POSTed to it.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import cnc6g
from cnc6g.control.catalog import create_client
from cnc6g.control.schemas import ClientCreate, Role
from cnc6g.control.security import Principal, role_scopes
from cnc6g.storage import Database

SRC = str(Path(cnc6g.__file__).resolve().parent.parent)
"""The sources under test: servers run the same code as the tests."""

POSTGRES_ENV = "CNC6G_TEST_POSTGRES"
POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

TRANSLATION: dict[str, Any] = {
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
"""Seed 000's speech translation: ASR pinned to the terminal, LLM and TTS in the network."""


def env() -> dict[str, str]:
    """The environment of a subprocess that runs the sources under test."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": SRC if not path else f"{SRC}{os.pathsep}{path}",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


def principal(plane: Any, role: str) -> Principal:
    """A new client of ``role`` on ``plane`` and its principal, as the API would make it."""
    made = plane.run(create_client, None, ClientCreate(name=role, role=Role(role)))[0]
    return Principal(made.client_id, role, frozenset(role_scopes(role)))


def free_port() -> int:
    """A port nobody listens on now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- databases ---------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    """The PostgreSQL server of the tests; skips when it is not reachable and not required."""
    url = os.environ.get(POSTGRES_ENV) or POSTGRES_DEFAULT
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:
        if os.environ.get(POSTGRES_ENV):
            pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL is unreachable: {err}")
        pytest.skip(f"PostgreSQL is not reachable at {url} (set {POSTGRES_ENV} to require it)")
    finally:
        engine.dispose()
    return url


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of ``kind`` (``sqlite`` or ``postgres``), dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / f'cp-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin = postgres_admin_url()
    name = f"cnc6g_test_{uuid.uuid4().hex}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Credentials:
    """A client's id and secret."""

    client_id: str
    secret: str
    role: str


def cli_create_client(database_url: str, role: str = "operator", name: str = "ops") -> Credentials:
    """A client made with ``cnc6g admin create-client`` (its printed id and secret)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnc6g",
            "admin",
            "create-client",
            "--name",
            name,
            "--role",
            role,
            "--database-url",
            database_url,
        ],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Only spaces and the table's rule between the field and its value: a secret may start with
    # "-" (URL-safe base64), which a pattern like \W+ would take as part of the separator.
    found = dict(re.findall(r"(client_id|client_secret)[\s\u2502]+(\S+)", done.stdout))
    assert found.keys() == {"client_id", "client_secret"}, done.stdout
    return Credentials(found["client_id"], found["client_secret"], role)


def service_create_client(database_url: str, role: str = "operator") -> Credentials:
    """A client made through the service layer, as ``admin create-client`` does."""
    db = Database(database_url)
    try:
        db.upgrade()
        with db.transaction() as s:
            made = create_client(None, s, None, ClientCreate(name=role, role=Role(role)))  # type: ignore[arg-type]
    finally:
        db.dispose()
    return Credentials(made.client_id, made.client_secret, role)


class Server:
    """``cnc6g serve`` on a loopback port over ``database_url``.

    Args:
        database_url: the database (set up by the server on start).
        log: file the server's output goes to.
        clock: the ``--clock`` option.
        extra: more options of ``serve``.
    """

    def __init__(
        self, database_url: str, log: Path, clock: str = "manual", extra: tuple[str, ...] = ()
    ) -> None:
        self.database_url = database_url
        self.log = log
        self.clock = clock
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        """Start the process on a free port (without waiting for it)."""
        self.port = free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cnc6g",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--clock",
                    self.clock,
                    "--database-url",
                    self.database_url,
                    "--log-level",
                    "warning",
                    *self.extra,
                ],
                env=env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def ready(self, timeout_s: float = 60.0) -> Server:
        """Wait until ``/health`` answers; fail the test if the process ends first."""
        if not self._wait_healthy(timeout_s):
            self.stop()
            pytest.fail(f"the server did not start; its output:\n{self.output()}")
        return self

    def start(self, timeout_s: float = 60.0) -> Server:
        """Start the process and wait until ``/health`` answers."""
        for _ in range(3):
            self.launch()
            if self._wait_healthy(timeout_s):
                return self
            self.stop()
            if "address already in use" not in self.output():  # another took the free port
                break
        pytest.fail(f"the server did not start; its output:\n{self.output()}")

    def _wait_healthy(self, timeout_s: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        r = httpx.get(f"{self.url}/health", timeout=5.0)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def kill(self) -> None:
        """SIGKILL: the process ends at once, in the middle of whatever it does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 15 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None

    def output(self, tail: int = 8000) -> str:
        """The end of what the server printed."""
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def client(self, credentials: Credentials | None = None, timeout_s: float = 30.0) -> Api:
        """An API client, logged in as ``credentials`` when given."""
        api = Api(httpx.Client(base_url=self.url, timeout=timeout_s))
        if credentials is not None:
            api.login(credentials)
        return api


class Api:
    """An httpx client of the control plane with a bearer token."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.headers: dict[str, str] = {}
        self.client_id = ""
        self.role = ""

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def to(self, server: Server) -> Api:
        """The same client (and token) on another server."""
        self.http.close()
        self.http = httpx.Client(base_url=server.url, timeout=self.http.timeout)
        return self

    def login(self, credentials: Credentials) -> Api:
        """Get a token for ``credentials`` (OAuth2 client credentials)."""
        r = self.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.secret,
            },
        )
        assert r.status_code == 200, r.text
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        self.client_id, self.role = credentials.client_id, credentials.role
        return self

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with this client's token (``headers`` add to it)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """PUT."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        """PATCH."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a request that must succeed."""
        r = self.request(method, path, **kwargs)
        assert 200 <= r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def new_client(self, role: str, name: str | None = None) -> Credentials:
        """A new client of ``role`` (this client must be an operator)."""
        made = self.ok(
            "POST", "/client-registry/v0.1/clients", json={"name": name or role, "role": role}
        )
        return Credentials(made["clientId"], made["clientSecret"], role)

    def advance(self, slots: int = 1) -> int:
        """Run slots on the manual clock; the slot reached."""
        return int(self.ok("POST", "/slot-clock/v0.1/clock/advance", json={"slots": slots})["slot"])

    def slot(self) -> int:
        """The current slot."""
        return int(self.ok("GET", "/slot-clock/v0.1/clock")["slot"])

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Node states by node name."""
        return {n["node"]: n for n in self.ok("GET", "/service-monitoring/v0.1/node-states")}


# -- a webhook sink ----------------------------------------------------------------------------


@dataclass
class Delivery:
    """One POST the sink received."""

    at: float
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class Sink:
    """A webhook receiver on loopback that records what is POSTed to it.

    Attributes:
        fail_first: how many POSTs to answer with 500 before answering 204.
        refusing: answer every POST with 500 while set.
    """

    fail_first: int = 0
    refusing: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Sink:
        """Listen on a free loopback port."""
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with sink._lock:
                    failing = sink.refusing or len(sink.deliveries) < sink.fail_first
                    status = 500 if failing else 204
                    sink.deliveries.append(
                        Delivery(
                            time.monotonic(),
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            status,
                        )
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """Where to POST events."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/events"

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def received(self) -> list[Delivery]:
        """What was POSTed so far."""
        with self._lock:
            return list(self.deliveries)

    def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> list[Delivery]:
        """Wait until ``predicate(deliveries)`` holds; the deliveries then."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.received()
            if predicate(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.05)


def credential(token: str) -> dict[str, Any]:
    """A CAMARA ``sinkCredential`` with a bearer access token."""
    return {
        "credentialType": "ACCESSTOKEN",
        "accessToken": token,
        "accessTokenExpiresUtc": "2099-01-01T00:00:00Z",
        "accessTokenType": "bearer",
    }


# -- what the database holds -------------------------------------------------------------------


def hold_problems(database_url: str, scenario: str = "speech-translation") -> list[str]:
    """Where the compute held on nodes does not add up, read straight from the database.

    Every node's ``reserved_gcps`` is the sum of its reservations and within its admission
    limit; an AVAILABLE session holds, on each node of a network step, its rate times the
    step's work; any other session holds nothing. Likewise every wired link's
    ``reserved_mbps`` is the sum of its link holds and within its capacity, and only an
    AVAILABLE session holds bandwidth.
    """
    from sqlalchemy import select

    from cnc6g.scenarios import load_scenario
    from cnc6g.storage.tables import Link, LinkHold, Node, Reservation
    from cnc6g.storage.tables import Session as SessionRow
    from cnc6g.twin import compile_scenario

    system = compile_scenario(load_scenario(scenario))
    work = dict(zip(system.service_names, (float(w) for w in system.work), strict=True))
    db = Database(database_url)
    try:
        with db.transaction(write=False) as s:
            if db.engine.dialect.name == "postgresql":  # one snapshot while the slots run
                s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            nodes = list(s.scalars(select(Node)).all())
            reservations = list(s.scalars(select(Reservation)).all())
            links = list(s.scalars(select(Link)).all())
            link_holds = list(s.scalars(select(LinkHold)).all())
            sessions = list(s.scalars(select(SessionRow)).all())
    finally:
        db.dispose()
    problems = []
    by_node: dict[str, float] = {}
    by_session: dict[str, dict[str, float]] = {}
    for r in reservations:
        by_node[r.node] = by_node.get(r.node, 0.0) + r.gcps
        by_session.setdefault(r.session_id, {})[r.node] = r.gcps
    for n in nodes:
        held = by_node.get(n.node, 0.0)
        if abs(n.reserved_gcps - held) > 1e-6:
            problems.append(f"node {n.node}: reserved {n.reserved_gcps}, reservations sum {held}")
        if n.reserved_gcps > n.admission_gcps + 1e-9:
            problems.append(f"node {n.node}: reserved {n.reserved_gcps} > {n.admission_gcps}")
        if n.reserved_gcps < -1e-9:
            problems.append(f"node {n.node}: reserved {n.reserved_gcps} < 0")
    for row in sessions:
        want: dict[str, float] = {}
        if row.status == "AVAILABLE":
            for step in row.plan["steps"]:
                if step["placement"] == "NETWORK":
                    need = row.rate_per_s * work[step["function"]]
                    want[step["node"]] = want.get(step["node"], 0.0) + need
        got = by_session.get(row.session_id, {})
        if got.keys() != want.keys() or any(abs(got[k] - want[k]) > 1e-6 for k in got):
            problems.append(f"session {row.session_id} ({row.status}): holds {got}, needs {want}")
    by_link: dict[int, float] = {}
    status = {row.session_id: row.status for row in sessions}
    for h in link_holds:
        by_link[h.link] = by_link.get(h.link, 0.0) + h.mbps
        if status.get(h.session_id) != "AVAILABLE" or h.mbps <= 0:
            problems.append(f"session {h.session_id}: holds {h.mbps} Mbit/s on link {h.link}")
    for li in links:
        held = by_link.get(li.link, 0.0)
        if abs(li.reserved_mbps - held) > 1e-6:
            problems.append(f"link {li.link}: reserved {li.reserved_mbps}, holds sum {held}")
        if not -1e-9 <= li.reserved_mbps <= li.capacity_mbps + 1e-9:
            problems.append(f"link {li.link}: reserved {li.reserved_mbps} of {li.capacity_mbps}")
    return problems


def outbox(database_url: str) -> list[dict[str, Any]]:
    """The events of the outbox that have a sink."""
    from sqlalchemy import select

    from cnc6g.storage.tables import OutboxEvent

    db = Database(database_url)
    try:
        with db.transaction(write=False) as s:
            rows = s.scalars(
                select(OutboxEvent).where(OutboxEvent.sink.is_not(None)).order_by(OutboxEvent.seq)
            ).all()
            return [
                {
                    "id": r.event_id,
                    "type": r.type,
                    "subject": r.subject,
                    "sink": r.sink,
                    "token": (r.sink_credential or {}).get("accessToken"),
                    "delivered": r.delivered_at is not None,
                    "attempts": r.attempts,
                }
                for r in rows
            ]
    finally:
        db.dispose()


# -- processes setting one database up at once -------------------------------------------------


def _set_up(database_url: str, barrier: Any) -> None:
    from cnc6g.control import ControlPlane, Settings

    plane = ControlPlane(Settings(database_url=database_url, clock="manual"))
    barrier.wait(timeout=120)  # every process is ready: they set up at the same moment
    try:
        plane.setup()
    finally:
        plane.db.dispose()


def set_up_together(database_url: str, processes: int) -> list[int | None]:
    """Set the database up from several processes at the same moment; their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    procs = [ctx.Process(target=_set_up, args=(database_url, barrier)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
        if p.exitcode is None:
            p.kill()
            p.join()
    return [p.exitcode for p in procs]
