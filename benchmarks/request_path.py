"""Statements and CPU time of one unified service request, in process, by what its plan crosses.

Run with ``python -m benchmarks.request_path [--databases sqlite,postgres] [--requests 300]
[--repeats 5]``. A control plane on a fresh database (manual clock, two slots run) serves seed
000's speech translation (its LLM and TTS steps beyond the cell's RAN domain: the plan's
transfers cross a wired link) and a one-step service whose step runs at the cell's own RAN
node (no wired link crossed), each asked for by a terminal in cell T0 through
``cnc6g.control.sessions.request_service`` (the unified request's service call, without HTTP).
Reported per service: the statements between ``BEGIN`` and ``COMMIT`` of one request (counted
with SQLAlchemy's ``before_cursor_execute``) and the median over ``--repeats`` of the CPU time
per request of ``--requests`` requests (each opens a session; ``time.process_time``). Compare
two commits by running this on each, alternated, in the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from benchmarks.control_plane import TRANSLATION, database
from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import create_client, register_service
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import ClientCreate, Role, ServiceCreate, ServiceRequest
from cnc6g.control.security import Principal, role_scopes
from cnc6g.control.sessions import request_service
from cnc6g.control.subscriptions import set_location

NEAR: dict[str, Any] = {
    "name": "near",
    "description": "one step at the cell's own RAN node",
    "category": "AI_INFERENCE",
    "workflow": {"steps": [{"stepId": "a", "function": "svc00"}], "edges": []},
    "qos": {"latencyMs": 1000},
}


def _statements(plane: ControlPlane, terminal: Principal, body: ServiceRequest) -> Any:
    """One request's answer and the statements it ran (``before_cursor_execute``)."""
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])  # (connection, cursor, statement, ...)

    event.listen(plane.db.engine, "before_cursor_execute", note)
    try:
        info = plane.run(request_service, terminal, body)[0]
    finally:
        event.remove(plane.db.engine, "before_cursor_execute", note)
    return info, seen


def principal(plane: ControlPlane, role: str) -> Principal:
    """A new client of ``role`` on ``plane`` and its principal, as the API would make it."""
    made = plane.run(create_client, None, ClientCreate(name=role, role=Role(role)))[0]
    return Principal(made.client_id, role, frozenset(role_scopes(role)))


def measure(url: str, requests: int, repeats: int) -> dict[str, Any]:
    """Statements and CPU ms per request of each service on the database at ``url``."""
    plane = ControlPlane(Settings(database_url=url, clock="manual", move_probability=0.0))
    plane.setup()
    try:
        SlotEngine(plane).advance(2)
        provider = principal(plane, "provider")
        out: dict[str, Any] = {}
        for label, spec in (("crosses-links", TRANSLATION), ("no-link", NEAR)):
            made = plane.run(register_service, provider, ServiceCreate.model_validate(spec))[0]
            terminal = principal(plane, "terminal")
            plane.run(lambda p, s, t=terminal: set_location(p, s, t.client_id, "T0"))
            body = ServiceRequest(service_id=made.service_id, rate_per_second=0.01, duration=600)
            for _ in range(50):  # caches warm
                plane.run(request_service, terminal, body)
            info, seen = _statements(plane, terminal, body)
            statements = [x for x in seen if x.split()[0].upper() not in ("BEGIN", "COMMIT")]
            per: list[float] = []
            for _ in range(repeats):
                start = time.process_time()
                for _ in range(requests):
                    plane.run(request_service, terminal, body)
                per.append((time.process_time() - start) / requests * 1e3)
            out[label] = {
                "nodes": [st.node for st in info.session.plan.steps],
                "statements": len(statements),
                "cpu_ms_per_request": round(statistics.median(per), 3),
                "cpu_ms_runs": [round(x, 3) for x in per],
            }
        return out
    finally:
        plane.db.dispose()


def main() -> None:
    """Run the measurement on each database and print it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CNC6G_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.databases.split(","):
            with database(kind, args.postgres_url, Path(folder)) as url:
                report[kind] = measure(url, args.requests, args.repeats)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
