"""Unified service requests per second and their decision latency, against ``cnc6g serve``.

Run with ``make bench-control`` or ``python -m benchmarks.control_plane [--quick] [--json PATH]
[--databases sqlite,postgres] [--processes 1,2] [--rates 25,50,100,250,500] [--profile]``; the
table of ``docs/benchmarks.md`` is ``python -m benchmarks.control_plane --table
benchmarks/control_plane_results.json``.

Each configuration (a database, one or two API processes) starts real ``cnc6g serve``
processes on loopback on a fresh database, with the slot loop running on an accelerated clock
(``accelerated:10``: ten one-second slots of the twin per second, in one of the processes, which
holds the loop's lease). An operator makes a provider and terminals, the provider registers seed
000's speech translation (ASR on the terminal, LLM and TTS in the network), and once the loop
has instances of its network steps running the load generator sends unified service requests
(``POST /service-requests/v0.1/requests``): each places the steps, holds compute on two nodes
and opens a session (one task per 100 s, lasting 1 s of twin time, so sessions do not pile up).

- **Offered rates** (open loop): requests are sent at fixed times, ``rate`` per second for
  ``--seconds``, over a pool of keep-alive connections (one request at a time each); a
  request's latency is counted from the time it was due, so a server that falls behind shows
  it (no coordinated omission). Reported: the rate achieved, p50/p90/p99/max latency, answers
  other than 201.
- **Maximum sustained rate** (closed loop): ``--workers`` connections send back to back for
  ``--seconds``; the rate is what was answered 201 per second, with its latency figures.

With two processes the connections go to one of the two, alternately. The load generator runs
on the same machine as the servers and competes with them for its cores, so it does little per
request: one asyncio event loop, each connection's request bytes built once, an answer parsed
only as far as its status, length and (a 201) JSON body. Each run also reports the CPU time the
servers and the load generator used per answer (``server_cpu_ms_per_answer``,
``load_generator_cpu_ms_per_answer``; the servers' from ``/proc``, their child processes
included: the slot loop's with ``--serve-args=--loop-process``, which passes options on to
every ``cnc6g serve``; ``server`` in the JSON records the HTTP parser and event loop the
servers ran on, ``httptools`` and uvloop unless ``--http`` or ``--event-loop`` say otherwise).
``--profile`` also runs the decision path in this process under cProfile (the service layer's
``request_service`` in its database transaction, no HTTP) and times its phases, to say where a
request's time goes, and times a slot and its write transaction with 50 sessions opened per
slot (``slot`` in the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import http.client
import io
import json
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cnc6g

SRC = str(Path(cnc6g.__file__).resolve().parent.parent)
REQUESTS = "/service-requests/v0.1/requests"
CLOCK = "accelerated:10"
"""The slot clock of the servers (``--clock``): ten slots of the twin per second."""
GRACE = 1.5
"""An offered-rate run stops sending after this many times its length (the rest is not sent)."""
TERMINALS = 16
"""Terminals the load is spread over (each client has its own rate limit)."""

TRANSLATION: dict[str, Any] = {
    "name": "translate",
    "category": "AI_INFERENCE",
    "description": "speech translation: ASR on the phone, LLM translation and TTS in the network",
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
REQUEST = {"ratePerSecond": 0.01, "duration": 1}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- databases and servers ---------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, postgres_url: str, folder: Path) -> Iterator[str]:
    """A fresh database of ``kind`` (a SQLite file, or a PostgreSQL database dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"cnc6g_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class Server:
    """A ``cnc6g serve`` process."""

    url: str
    port: int
    log: Path
    clock: str = CLOCK
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start it and wait until it answers."""
        env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cnc6g",
                    "serve",
                    "--port",
                    str(self.port),
                    "--clock",
                    self.clock,
                    "--database-url",
                    self.url,
                    "--log-level",
                    "warning",
                    *self.extra,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                status, _ = call(self.port, "GET", "/health")
                if status == 200:
                    return self
            time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        """Stop it (SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    form: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, Any]:
    """One request; the status and the JSON answer (a connection is kept open when given)."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {}
    data: bytes | None = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        if own:
            c.close()


def _token(port: int, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    status, body = call(port, "POST", "/oauth/token", form=form)
    assert status == 200, body
    return str(body["access_token"])


def set_up(url: str, port: int) -> tuple[str, list[str]]:
    """The translation service's id and the terminals' tokens, once requests are AVAILABLE."""
    from cnc6g.control.catalog import create_client
    from cnc6g.control.schemas import ClientCreate, Role
    from cnc6g.storage import Database

    db = Database(url)
    try:
        with db.transaction() as s:
            ops = create_client(None, s, None, ClientCreate(name="ops", role=Role.operator))  # type: ignore[arg-type]
    finally:
        db.dispose()
    operator = _token(port, ops.client_id, ops.client_secret)

    def client(role: str) -> str:
        status, made = call(
            port, "POST", "/client-registry/v0.1/clients", {"name": role, "role": role}, operator
        )
        assert status == 201, made
        return _token(port, made["clientId"], made["clientSecret"])

    provider = client("provider")
    status, service = call(port, "POST", "/service-catalog/v0.1/services", TRANSLATION, provider)
    assert status == 201, service
    terminals = [client("terminal") for _ in range(TERMINALS)]
    for n, token in enumerate(terminals):
        cell = {"cell": f"T{n % 3}"}
        status, _ = call(port, "PUT", "/service-subscriptions/v0.1/location", cell, token)
        assert status == 200
    body = {"serviceId": service["serviceId"], **REQUEST}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the loop starts instances of the network steps
        status, answer = call(port, "POST", REQUESTS, body, terminals[0])
        assert status == 201, answer
        if answer["session"]["status"] == "AVAILABLE":
            return service["serviceId"], terminals
        time.sleep(0.5)
    raise RuntimeError("no instance of the service's network steps after 60 s")


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one load run measured."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    sessions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    unsent: int = 0
    server_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0

    def record(self, latency_s: float, status: int, answer: Any) -> None:
        """One answer."""
        self.statuses[status] += 1
        if status == 201:
            self.latencies_ms.append(latency_s * 1e3)
            self.sessions[answer["session"]["status"]] += 1

    def figures(self) -> dict[str, Any]:
        """Rate and latency figures."""
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 2)

        return {
            "seconds": round(self.seconds, 2),
            "answered_201": len(lat),
            "rate_per_s": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(50),
            "p90_ms": pct(90),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1], 2) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "other_statuses": {str(k): v for k, v in self.statuses.items() if k != 201},
            "not_sent": self.unsent,
            "sessions": dict(self.sessions),
            "server_cpu_ms_per_answer": round(self.server_cpu_ms, 3),
            "load_generator_cpu_ms_per_answer": round(self.client_cpu_ms, 3),
        }


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends pre-built requests, one at a time.

    The load generator shares the machine's cores with the servers, so it does little per
    request: the request's bytes are built once, and an answer is parsed only as far as its
    status line, its ``Content-Length`` and (for a 201) its JSON body.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(ConnectionError("an answer without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.waiter = None
        waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("the server closed the connection"))

    async def send(self, data: bytes) -> tuple[int, bytes]:
        """Send one request and wait for its answer: its status and body."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def request_bytes(port: int, token: str, body: dict[str, Any]) -> bytes:
    """A unified service request as it goes on the wire (built once per connection)."""
    data = json.dumps(body).encode()
    head = (
        f"POST {REQUESTS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user and system) the processes and their children have used so far (Linux
    ``/proc``)."""
    total = 0
    children = []  # the slot loop's process of each server (``cnc6g serve`` starts one)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) in pids:
                children.append(int(stat.parent.name))
    for pid in [*pids, *children]:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _load(
    ports: list[int], tokens: list[str], body: dict[str, Any], workers: int, job: Any, run: Run
) -> None:
    """``workers`` connections, each sending the requests ``job`` hands it (see :func:`_send`)."""
    loop = asyncio.get_running_loop()
    connections = []
    for n in range(workers):
        port = ports[n % len(ports)]
        _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
        connections.append((conn, request_bytes(port, tokens[n % len(tokens)], body)))
    try:
        await asyncio.gather(*(_send(conn, data, job, run) for conn, data in connections))
    finally:
        for conn, _ in connections:
            if conn.transport is not None:
                conn.transport.close()


async def _send(conn: _Connection, data: bytes, job: Any, run: Run) -> None:
    """Send what ``job`` yields: a due time (wait for it; latency from it) or None (at once)."""
    for due in job():
        if due is not None:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        start = time.perf_counter() if due is None else due
        try:
            status, raw = await conn.send(data)
        except (OSError, ConnectionError):
            run.record(time.perf_counter() - start, -1, None)
            return
        run.record(time.perf_counter() - start, status, json.loads(raw) if status == 201 else None)


def _measure(
    ports: list[int],
    pids: list[int],
    tokens: list[str],
    body: dict[str, Any],
    workers: int,
    job: Any,
    run: Run,
    started: float,
) -> None:
    """Run the load and note the CPU the servers and the load generator used per answer."""
    servers, client = _cpu_s(pids), time.process_time()
    asyncio.run(_load(ports, tokens, body, workers, job, run))
    run.seconds = time.perf_counter() - started
    answered = max(1, sum(run.statuses.values()))
    run.server_cpu_ms = (_cpu_s(pids) - servers) / answered * 1e3
    run.client_cpu_ms = (time.process_time() - client) / answered * 1e3


def offered(
    ports: list[int],
    pids: list[int],
    tokens: list[str],
    body: dict[str, Any],
    rate: float,
    seconds: float,
) -> Run:
    """Open loop: ``rate`` requests per second, each sent when due, for ``seconds``."""
    total = int(rate * seconds)
    workers = min(64, max(8, int(rate / 10)))
    start = time.perf_counter() + 0.2
    counter = iter(range(total))
    run = Run()

    stop = start + seconds * GRACE

    def job() -> Iterator[float]:
        while time.perf_counter() < stop:  # a server far behind is not waited for
            i = next(counter, None)
            if i is None:
                return
            yield start + i / rate

    _measure(ports, pids, tokens, body, workers, job, run, start)
    run.unsent = total - sum(run.statuses.values())
    return run


def closed(
    ports: list[int],
    pids: list[int],
    tokens: list[str],
    body: dict[str, Any],
    workers: int,
    seconds: float,
) -> Run:
    """Closed loop: ``workers`` connections send back to back for ``seconds``."""
    run = Run()
    end = time.perf_counter() + seconds

    def job() -> Iterator[None]:
        while time.perf_counter() < end:
            yield None

    _measure(ports, pids, tokens, body, workers, job, run, time.perf_counter())
    return run


def server_stack(serve_args: str) -> dict[str, str]:
    """The HTTP parser and event loop the servers run on, with their versions.

    Read from ``--http`` and ``--event-loop`` in ``serve_args`` where given, else as uvicorn's
    ``auto`` resolves them in this environment (the servers run on this interpreter).
    """
    from importlib.metadata import version

    import uvicorn

    words = [w for word in serve_args.split() for w in word.split("=", 1)]
    chosen = {"--http": "auto", "--event-loop": "auto"}
    for flag in chosen:
        if flag in words[:-1]:
            chosen[flag] = words[words.index(flag) + 1]
    config = uvicorn.Config(app=None, http=chosen["--http"], loop=chosen["--event-loop"])
    config.load()
    parser = "httptools" if "HttpTools" in config.http_protocol_class.__name__ else "h11"
    factory = config.get_loop_factory()
    loop = "asyncio"
    if factory is not None:
        made = factory()
        loop = "uvloop" if type(made).__module__.startswith("uvloop") else "asyncio"
        made.close()

    def named(package: str) -> str:
        return package if package == "asyncio" else f"{package} {version(package)}"

    return {"uvicorn": version("uvicorn"), "http": named(parser), "event_loop": named(loop)}


def configuration(
    kind: str, processes: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """Every figure of one database and number of API processes."""
    with database(kind, args.postgres_url, folder) as url:
        logs = [folder / f"serve-{kind}-{processes}-{n}.log" for n in range(processes)]
        extra = tuple(args.serve_args.split())
        servers = [Server(url, _port(), log, args.clock, extra) for log in logs]
        try:
            for server in servers:
                server.start()
            ports = [s.port for s in servers]
            pids = [s.proc.pid for s in servers if s.proc is not None]
            sid, tokens = set_up(url, ports[0])
            body = {"serviceId": sid, **REQUEST}
            closed(ports, pids, tokens, body, 4, 2.0)  # warm-up
            out: dict[str, Any] = {
                "database": kind,
                "processes": processes,
                "clock": args.clock,
                "serve_args": args.serve_args,
                "server": server_stack(args.serve_args),
                "offered": {},
            }
            for rate in args.rates:
                figures = offered(ports, pids, tokens, body, rate, args.seconds).figures()
                out["offered"][str(rate)] = figures
                print(f"  {kind} x{processes} offered {rate}/s: {figures}", flush=True)
            figures = closed(ports, pids, tokens, body, args.workers, args.seconds).figures()
            out["max_sustained"] = figures | {"workers": args.workers}
            print(f"  {kind} x{processes} max: {figures}", flush=True)
            slots = [call(p, "GET", "/health")[1]["slotsRun"] for p in ports]
            out["slots_run"] = slots
            return out
        finally:
            for server in servers:
                server.stop()


# -- where the time goes -------------------------------------------------------------------------


def profile(kind: str, postgres_url: str, folder: Path, requests: int) -> dict[str, Any]:
    """The decision path in this process: per request time, its phases, and cProfile's top.

    ``cpu_ms`` is this process's CPU time per request (less sensitive than the wall-clock
    figures to other work on the machine).
    """
    from cnc6g.control import ControlPlane, Settings
    from cnc6g.control.catalog import create_client, register_service
    from cnc6g.control.runtime import SlotEngine
    from cnc6g.control.schemas import ClientCreate, Role, ServiceCreate, ServiceRequest
    from cnc6g.control.security import Principal, role_scopes
    from cnc6g.control.sessions import request_service

    with database(kind, postgres_url, folder) as url:
        plane = ControlPlane(Settings(database_url=url, clock="manual", move_probability=0.0))
        plane.setup()
        try:
            SlotEngine(plane).advance(3)

            def principal(role: str) -> Principal:
                made = plane.run(create_client, None, ClientCreate(name=role, role=Role(role)))[0]
                return Principal(made.client_id, role, frozenset(role_scopes(role)))  # type: ignore[union-attr]

            provider, terminal = principal("provider"), principal("terminal")
            service = ServiceCreate.model_validate(TRANSLATION)
            sid = plane.run(register_service, provider, service)[0].service_id  # type: ignore[union-attr]
            body = ServiceRequest.model_validate({"serviceId": sid, **REQUEST})
            for _ in range(20):
                plane.run(request_service, terminal, body)
            times = []
            cpu = time.process_time()
            for _ in range(requests):
                t = time.perf_counter()
                plane.run(request_service, terminal, body)
                times.append(time.perf_counter() - t)
            cpu = time.process_time() - cpu
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                plane.run(request_service, terminal, body)
            profiler.disable()
        finally:
            plane.db.dispose()
    # File names without their folders: the results are committed and say nothing of a machine.
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(30)
    tottime = io.StringIO()
    pstats.Stats(profiler, stream=tottime).strip_dirs().sort_stats("tottime").print_stats(20)
    times.sort()
    return {
        "database": kind,
        "requests": requests,
        "median_ms": round(statistics.median(times) * 1e3, 3),
        "p99_ms": round(times[int(0.99 * len(times))] * 1e3, 3),
        "cpu_ms": round(cpu / requests * 1e3, 3),
        "cumulative": text.getvalue(),
        "tottime": tottime.getvalue(),
    }


DATABASE_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def table(report: dict[str, Any]) -> str:
    """The docs' Markdown table of a report: per configuration and load, rate and latencies."""

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.1f}" if value < 10 else f"{value:,.0f}"

    def cpu(f: dict[str, Any]) -> str:
        value = f.get("server_cpu_ms_per_answer")
        return "n/a" if value is None else f"{value:.1f}"

    lines = [
        "| database, API processes | load | answered/s | p50 ms | p99 ms | not sent "
        "| server CPU ms/answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report["configurations"]:
        label = DATABASE_LABELS.get(c["database"], c["database"])
        who = f"{label}, {c['processes']} process{'es' if c['processes'] > 1 else ''}"
        for rate, f in c["offered"].items():
            lines.append(
                f"| {who} | {float(rate):g}/s offered | {f['rate_per_s']:,.0f} | "
                f"{ms(f['p50_ms'])} | {ms(f['p99_ms'])} | {f['not_sent']:,} | {cpu(f)} |"
            )
        f = c["max_sustained"]
        lines.append(
            f"| {who} | closed loop, {f['workers']} clients | **{f['rate_per_s']:,.0f}** | "
            f"{ms(f['p50_ms'])} | {ms(f['p99_ms'])} | | {cpu(f)} |"
        )
    return "\n".join(lines) + "\n"


def slot_profile(
    kind: str, postgres_url: str, folder: Path, per_slot: int = 50, slots: int = 20, kept: int = 0
) -> dict[str, Any]:
    """A slot's time with ``per_slot`` sessions opened before it, and its write transaction's.

    ``kept`` sessions lasting a day are opened first: every slot meters them and leaves them
    where they are (the common case of a live session).

    In this process on a manual clock: each slot meters, ends (they last one slot) or binds
    the sessions of the slot before; the write is what holds the database's lock (SQLite) or
    every node row (PostgreSQL), which requests wait for. ``transaction_*`` is the whole write
    transaction, from its ``BEGIN`` (on SQLite, ``BEGIN IMMEDIATE``: the lock is taken there) to
    its ``COMMIT``: the lease's row and the commit too.
    """
    from cnc6g.control import ControlPlane, Settings
    from cnc6g.control.catalog import create_client, register_service
    from cnc6g.control.runtime import SlotEngine
    from cnc6g.control.schemas import ClientCreate, Role, ServiceCreate, ServiceRequest
    from cnc6g.control.security import Principal, role_scopes
    from cnc6g.control.sessions import request_service

    with database(kind, postgres_url, folder) as url:
        plane = ControlPlane(Settings(database_url=url, clock="manual", move_probability=0.0))
        plane.setup()
        try:
            engine = SlotEngine(plane)
            engine.advance(3)

            def principal(role: str) -> Principal:
                made = plane.run(create_client, None, ClientCreate(name=role, role=Role(role)))[0]
                return Principal(made.client_id, role, frozenset(role_scopes(role)))  # type: ignore[union-attr]

            provider = principal("provider")
            terminals = [principal("terminal") for _ in range(4)]
            service = ServiceCreate.model_validate(TRANSLATION)
            sid = plane.run(register_service, provider, service)[0].service_id  # type: ignore[union-attr]
            body = ServiceRequest.model_validate({"serviceId": sid, **REQUEST})
            day = ServiceRequest.model_validate({"serviceId": sid, **REQUEST, "duration": 86400})
            for n in range(kept):
                plane.run(request_service, terminals[n % len(terminals)], day)
            writes: list[float] = []
            locks: list[float] = []
            write = engine._write
            transaction = plane.db.transaction
            in_slot_write: list[bool] = []

            def timed(s: Any, read: Any, res: Any) -> None:
                in_slot_write.append(True)
                start = time.perf_counter()
                write(s, read, res)
                s.flush()
                writes.append(time.perf_counter() - start)

            @contextlib.contextmanager
            def timed_transaction(write: bool = True) -> Iterator[Any]:
                start = time.perf_counter()
                with transaction(write) as s:
                    yield s
                if in_slot_write:  # the slot's write transaction, from its BEGIN to its COMMIT
                    in_slot_write.clear()
                    locks.append(time.perf_counter() - start)

            engine._write = timed  # type: ignore[method-assign]
            plane.db.transaction = timed_transaction  # type: ignore[method-assign]
            steps = []
            for _ in range(slots + 3):
                for n in range(per_slot):
                    plane.run(request_service, terminals[n % len(terminals)], body)
                start = time.perf_counter()
                engine.advance(1)
                steps.append(time.perf_counter() - start)
        finally:
            plane.db.dispose()
    steps, writes, locks = steps[3:], writes[3:], locks[3:]  # the first slots start instances
    return {
        "database": kind,
        "sessions_per_slot": per_slot,
        "sessions_kept": kept,
        "slots": slots,
        "slot_median_ms": round(statistics.median(steps) * 1e3, 2),
        "write_median_ms": round(statistics.median(writes) * 1e3, 2),
        "write_max_ms": round(max(writes) * 1e3, 2),
        "transaction_median_ms": round(statistics.median(locks) * 1e3, 2),
    }


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=SRC
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _postgres_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def main() -> None:
    """Run the configurations and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--rates", default="25,50,100,250,500")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--clock", default=CLOCK, help="the servers' slot clock")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CNC6G_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--serve-args", default="", help="more options of the servers (cnc6g serve), one string"
    )
    parser.add_argument("--profile", action="store_true", help="also profile the decision path")
    parser.add_argument(
        "--slot-kept-sessions",
        type=int,
        default=0,
        help="sessions lasting a day open during the slot profile (metered every slot)",
    )
    parser.add_argument("--quick", action="store_true", help="SQLite, one process, 3 s per rate")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--table", type=Path, default=None, help="print the docs' table of a report and stop"
    )
    args = parser.parse_args()
    if args.table is not None:
        print(table(json.loads(args.table.read_text())), end="")
        return
    if args.quick:
        args.databases, args.processes, args.seconds = "sqlite", "1", 3.0
    args.rates = [float(r) for r in args.rates.split(",")]
    kinds = args.databases.split(",")
    if "postgres" in kinds and not _postgres_reachable(args.postgres_url):
        print(f"PostgreSQL is not reachable at {args.postgres_url}: skipped", flush=True)
        kinds.remove("postgres")
    report: dict[str, Any] = {
        "benchmark": "control_plane",
        "commit": _commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "shared": "other work ran on the same cores",
        },
        "python": platform.python_version(),
        "clock": args.clock,
        "request": REQUEST,
        "terminals": TERMINALS,
        "seconds_per_rate": args.seconds,
        "configurations": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in kinds:
            for processes in (int(p) for p in args.processes.split(",")):
                print(f"{kind}, {processes} API process(es)", flush=True)
                report["configurations"].append(configuration(kind, processes, args, folder))
        if args.profile:
            report["profile"] = [profile(k, args.postgres_url, folder, 300) for k in kinds]
            for p in report["profile"]:
                print(
                    f"decision path on {p['database']}: median {p['median_ms']} ms, "
                    f"CPU {p['cpu_ms']} ms a request"
                )
                print(p["tottime"])
            report["slot"] = [
                slot_profile(k, args.postgres_url, folder, kept=args.slot_kept_sessions)
                for k in kinds
            ]
            for p in report["slot"]:
                print(f"slot on {p['database']}: {p}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
