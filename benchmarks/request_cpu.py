"""CPU time of one unified service request through the HTTP app, in process, and where it goes.

Run with ``python -m benchmarks.request_cpu [--requests 1500] [--repeats 3] [--profile]``. A
control plane on a fresh SQLite database (manual clock, two slots run) serves seed 000's speech
translation to 16 terminals in cell T0 (each client has its own rate limit), as
``benchmarks.control_plane`` sends it over HTTP (``ratePerSecond`` 0.01, ``duration`` 1), but
without a socket: each request is one call of the ASGI app (``cnc6g.api.create_app``, its
middlewares and the unified request's own path, :class:`cnc6g.api.fast.UnifiedRequest`), and
a slot is run after every 100 requests (not timed) so that sessions end and compute is given
back as under the HTTP benchmark's slot loop. The operation runs in the calling thread instead
of the thread pool (``--thread-pool`` keeps the pool), so that one thread's CPU is the
request's. Reported: the median over ``--repeats`` of the CPU time per answer through the app
(``asgi``) and of the service call alone (``ControlPlane.run(request_service)``, ``service``),
alternated; with ``--profile``, a cProfile of the app's requests with each function's own time
summed by area (SQLAlchemy, SQLite, pydantic, JSON, Starlette/FastAPI, this package's modules),
in ms per answer (cProfile inflates code of many small calls, SQLAlchemy's most of all).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import Any

import cnc6g.api.fast as fast
from benchmarks.control_plane import REQUEST, REQUESTS, TRANSLATION
from benchmarks.request_path import principal
from cnc6g.api import create_app
from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import register_service
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import ServiceCreate, ServiceRequest
from cnc6g.control.security import issue_token
from cnc6g.control.sessions import request_service
from cnc6g.control.subscriptions import set_location

TERMINALS = 16
SLOT_EVERY = 100
"""Requests between two slots (a slot ends the sessions of the one before)."""


def _area(filename: str, name: str) -> str:
    if "sqlalchemy" in filename:
        return "SQLAlchemy"
    if "sqlite3" in name:
        return "SQLite (the driver's calls)"
    if "pydantic" in filename or "pydantic" in name:
        return "pydantic"
    if "starlette" in filename or "fastapi" in filename:
        return "Starlette, FastAPI"
    if "cnc6g" in filename:
        return "cnc6g." + filename.split("cnc6g/")[-1].removesuffix(".py").replace("/", ".")
    if "json" in filename:
        return "json"
    if "asyncio" in filename or "anyio" in filename:
        return "asyncio, anyio"
    return "other"


class Bench:
    """The plane, its app and the terminals' requests, ready to be sent."""

    def __init__(self, folder: Path, thread_pool: bool) -> None:
        url = f"sqlite:///{folder / 'bench.db'}"
        self.plane = ControlPlane(Settings(database_url=url, clock="manual", move_probability=0))
        self.app = create_app(self.plane, run_background=False)
        self.plane.setup()
        self.engine = SlotEngine(self.plane)
        self.engine.advance(2)
        provider = principal(self.plane, "provider")
        spec = ServiceCreate.model_validate(TRANSLATION)
        service = self.plane.run(register_service, provider, spec)[0]
        self.terminals = [principal(self.plane, "terminal") for _ in range(TERMINALS)]
        for t in self.terminals:
            self.plane.run(lambda p, s, t=t: set_location(p, s, t.client_id, "T0"))
        body = {"serviceId": service.service_id, **REQUEST}
        self.body = json.dumps(body).encode()
        self.request = ServiceRequest.model_validate(body)
        self.tokens = [
            issue_token(self.plane.key, t.client_id, "terminal")["access_token"]
            for t in self.terminals
        ]
        self.thread_pool = thread_pool
        self.statuses: Counter[int] = Counter()
        self.pause: tuple[Callable[[], Any], Callable[[], Any]] = (lambda: None, lambda: None)

    async def _one(self, token: str) -> None:
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": REQUESTS,
            "raw_path": REQUESTS.encode(),
            "query_string": b"",
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "headers": headers,
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": self.body, "more_body": False}
            await asyncio.sleep(3600)  # a client that never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.statuses[message["status"]] += 1

        await self.app(scope, receive, send)  # type: ignore[arg-type]

    def _slot(self) -> None:
        self.pause[0]()
        self.engine.advance(1)
        self.pause[1]()

    def asgi(self, requests: int) -> None:
        """``requests`` requests through the app, a slot after every 100."""
        tokens = cycle(self.tokens)

        async def run() -> None:
            for i in range(requests):
                if i % SLOT_EVERY == SLOT_EVERY - 1:
                    self._slot()
                await self._one(next(tokens))

        async def direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        pool = fast.run_in_threadpool
        if not self.thread_pool:  # the operation in this thread: its CPU is this thread's
            fast.run_in_threadpool = direct
        try:
            asyncio.run(run())
        finally:
            fast.run_in_threadpool = pool

    def service(self, requests: int) -> None:
        """``requests`` service calls without the app, a slot after every 100."""
        for i in range(requests):
            if i % SLOT_EVERY == SLOT_EVERY - 1:
                self._slot()
            self.plane.run(request_service, self.terminals[i % TERMINALS], self.request)

    def cpu_ms(self, run: Callable[[int], None], requests: int) -> float:
        """CPU ms per request of ``run``, the slots' left out."""
        slots = [0.0, 0.0]

        def paused() -> None:
            slots[1] = time.process_time()

        def resumed() -> None:
            slots[0] += time.process_time() - slots[1]

        self.pause = (paused, resumed)
        start = time.process_time()
        run(requests)
        return (time.process_time() - start - slots[0]) / requests * 1e3

    def profile(self, requests: int) -> dict[str, float]:
        """Each function's own time under cProfile, summed by area, ms per answer."""
        profiler = cProfile.Profile()
        self.pause = (profiler.disable, profiler.enable)
        profiler.enable()
        self.asgi(requests)
        profiler.disable()
        areas: Counter[str] = Counter()
        stats: Any = pstats.Stats(profiler).stats
        for (filename, _, name), (_, _, own, _, _) in stats.items():
            areas[_area(filename, name)] += own
        return {k: round(v / requests * 1e3, 4) for k, v in areas.most_common()}


def main() -> None:
    """Measure and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile the app's requests")
    parser.add_argument("--thread-pool", action="store_true", help="keep the thread pool")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(Path(folder), args.thread_pool)
        try:
            bench.asgi(SLOT_EVERY)  # caches warm
            asgi: list[float] = []
            service: list[float] = []
            for _ in range(args.repeats):
                asgi.append(bench.cpu_ms(bench.asgi, args.requests))
                service.append(bench.cpu_ms(bench.service, args.requests))
            report: dict[str, Any] = {
                "asgi_cpu_ms_per_answer": round(statistics.median(asgi), 3),
                "asgi_runs": [round(x, 3) for x in asgi],
                "service_cpu_ms_per_request": round(statistics.median(service), 3),
                "service_runs": [round(x, 3) for x in service],
            }
            if args.profile:
                report["profile_ms_per_answer"] = bench.profile(args.requests)
            report["statuses"] = dict(bench.statuses)
        finally:
            bench.plane.db.dispose()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
