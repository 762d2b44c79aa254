"""Where a unified service request's tail comes from: the server's own timings, with the slot's.

Run with ``python -m benchmarks.control_plane_trace [--rates 25,100,250] [--seconds 5]
[--loop-apart] [--serve-args=...]``. Like :mod:`benchmarks.control_plane` (SQLite, one API
process, the slot loop on ``accelerated:10``), but each ``cnc6g serve`` process runs with
hooks that note, on the machine's monotonic clock (``time.perf_counter``, the same in every
process):

- each ``POST`` from the moment the ASGI app is called to the end of its answer (the server's
  time, without the client's and the kernel's share);
- each slot (``SlotEngine.step``), from its start to its end;
- each hold of the SQLite writers' lock (:class:`cnc6g.storage.db._SqliteWriters`, the
  outermost acquisition of a thread): when it was asked for, taken and released, and whether
  by the slot loop's thread;
- each garbage collection (``gc.callbacks``) with its generation.

It then prints the server's time per offered rate, split into the requests whose time overlaps
a slot and the others, how long the slot's and the requests' transactions held the writers'
lock and waited for it, and the collections of generation 2 and their length. With
``--loop-apart`` the slot loop runs in a ``cnc6g serve`` process of its own that is sent no
requests (the API process ``--no-loop``): the slot's interpreter lock is then not the API
process's, and what is left of the overlap is the database's lock and the machine's cores.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import control_plane as bench

SERVE = "serve-traced"
"""The first argument that makes this module a traced ``cnc6g`` command line (the server side)."""


# -- the server side -------------------------------------------------------------------------


def _serve_traced(argv: list[str]) -> None:
    """``cnc6g`` with the hooks of the module's text; the notes go to ``$TRACE_OUT`` at stop."""
    import cnc6g.api
    import cnc6g.control.runtime as runtime
    import cnc6g.storage.db as storage
    from cnc6g.cli.main import app as cli

    notes: dict[str, list[Any]] = {"requests": [], "slots": [], "gcs": [], "locks": []}
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["gc"] = time.perf_counter()
        else:
            notes["gcs"].append((started.get("gc", 0.0), time.perf_counter(), info["generation"]))

    gc.callbacks.append(on_gc)

    step = runtime.SlotEngine.step

    def timed_step(self: Any) -> bool:
        start = time.perf_counter()
        ran = step(self)
        notes["slots"].append((start, time.perf_counter()))
        return ran

    runtime.SlotEngine.step = timed_step  # type: ignore[method-assign]

    local = threading.local()
    enter, leave = storage._SqliteWriters.__enter__, storage._SqliteWriters.__exit__

    def timed_enter(self: Any) -> None:
        asked = time.perf_counter()
        enter(self)
        if self._depth == 1:
            local.hold = (asked, time.perf_counter())

    def timed_exit(self: Any, *exc: object) -> None:
        outermost = self._depth == 1
        leave(self, *exc)
        if outermost:
            slot = threading.current_thread().name == "cnc6g-slots"
            notes["locks"].append((*local.hold, time.perf_counter(), slot))

    storage._SqliteWriters.__enter__ = timed_enter  # type: ignore[method-assign]
    storage._SqliteWriters.__exit__ = timed_exit  # type: ignore[method-assign]

    create_app = cnc6g.api.create_app

    def traced_app(plane: Any, *args: Any, **kwargs: Any) -> Any:
        inner = create_app(plane, *args, **kwargs)

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["method"] != "POST":
                await inner(scope, receive, send)
                return
            start = time.perf_counter()

            async def timed_send(message: Any) -> None:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    notes["requests"].append((start, time.perf_counter()))
                await send(message)

            await inner(scope, receive, timed_send)

        app.state = inner.state  # type: ignore[attr-defined]
        return app

    cnc6g.api.create_app = traced_app  # type: ignore[assignment]

    stop = runtime.SlotEngine.stop

    def stop_and_write(self: Any) -> None:
        stop(self)
        Path(os.environ["TRACE_OUT"]).write_text(json.dumps(notes))

    runtime.SlotEngine.stop = stop_and_write  # type: ignore[method-assign]
    sys.argv = ["cnc6g", *argv]
    cli()


# -- the load and the analysis ----------------------------------------------------------------


def _overlaps(start: float, end: float, spans: list[tuple[float, float]]) -> bool:
    return any(a < end and b > start for a, b in spans)


def _pct(values: list[float]) -> str:
    if not values:
        return "none"
    p = np.percentile(values, [50, 90, 99, 100])
    return f"p50 {p[0]:.1f} p90 {p[1]:.1f} p99 {p[2]:.1f} max {p[3]:.1f} ms (n {len(values)})"


def analyse(notes: dict[str, dict[str, Any]], api: str, marks: list[Any]) -> None:
    """Print the figures of the module's text."""
    slots = [(a, b) for n in notes.values() for a, b in n["slots"]]
    print(f"slots: {_pct([(b - a) * 1e3 for a, b in slots])}")
    for name, n in notes.items():
        role = "API process" if name == api else "the loop's process"
        full = [(b - a) * 1e3 for a, b, generation in n["gcs"] if generation == 2]
        counts = np.bincount([g for _, _, g in n["gcs"]], minlength=3).tolist()
        print(f"{role}: collections by generation {counts}, generation 2 ms {np.round(full, 1)}")
        mine = [x for x in n["locks"] if x[3]]
        others = [x for x in n["locks"] if not x[3]]
        for who, rows in (("slot loop", mine), ("requests", others)):
            if rows:
                held = _pct([(c - b) * 1e3 for _, b, c, _ in rows])
                print(f"  writers' lock held by the {who}: {held}")
                print(f"  waited for by the {who}: {_pct([(b - a) * 1e3 for a, b, _, _ in rows])}")
    slot_writes = [(b, c) for n in notes.values() for _, b, c, slot in n["locks"] if slot]
    for rate, start, end in marks:
        rows = [(a, b) for a, b in notes[api]["requests"] if start <= a <= end + 3]
        during = [(b - a) * 1e3 for a, b in rows if _overlaps(a, b, slots)]
        outside = [(b - a) * 1e3 for a, b in rows if not _overlaps(a, b, slots)]
        locked = sum(_overlaps(a, b, slot_writes) for a, b in rows)
        print(f"offered {rate:g}/s: server time {_pct(during + outside)}")
        print(f"  overlapping a slot: {_pct(during)}")
        print(f"  overlapping no slot: {_pct(outside)}")
        print(f"  overlapping a hold of the writers' lock by the slot loop: {locked}")


def main() -> None:
    """Start the traced servers, send the offered rates, print the analysis."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="25,100,250")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop-apart", action="store_true")
    parser.add_argument("--serve-args", default="")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    popen = subprocess.Popen
    outputs: dict[str, str] = {}

    def traced(command: list[str], **kwargs: Any) -> Any:  # cnc6g serve, with the hooks
        if command[1:3] == ["-m", "cnc6g"]:
            port = command[command.index("--port") + 1]
            outputs[port] = kwargs["env"]["TRACE_OUT"] = str(folder / f"trace-{port}.json")
            command = [command[0], "-m", "benchmarks.control_plane_trace", SERVE, *command[3:]]
            kwargs["env"]["PYTHONPATH"] += os.pathsep + str(Path(__file__).resolve().parent.parent)
        return popen(command, **kwargs)

    bench.subprocess.Popen = traced  # type: ignore[misc]
    extra = tuple(args.serve_args.split())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with bench.database("sqlite", "", folder) as url:
            api = bench.Server(url, bench._port(), folder / "api.log", extra=extra)
            servers = [api]
            if args.loop_apart:
                api.extra = (*extra, "--no-loop")
                servers = [bench.Server(url, bench._port(), folder / "loop.log", extra=extra), api]
            marks = []
            try:
                for server in servers:
                    server.start()
                pids = [s.proc.pid for s in servers if s.proc is not None]
                sid, tokens = bench.set_up(url, api.port)
                body = {"serviceId": sid, **bench.REQUEST}
                bench.closed([api.port], pids, tokens, body, 4, 2.0)  # warm-up
                for rate in rates:
                    start = time.perf_counter()
                    run = bench.offered([api.port], pids, tokens, body, rate, args.seconds)
                    marks.append((rate, start, time.perf_counter()))
                    f = run.figures()
                    print(
                        f"client: offered {rate:g}/s: {f['rate_per_s']}/s, p50 {f['p50_ms']} "
                        f"p90 {f['p90_ms']} p99 {f['p99_ms']} max {f['max_ms']} ms",
                        flush=True,
                    )
            finally:
                for server in servers:
                    server.stop()
            notes = {port: json.loads(Path(out).read_text()) for port, out in outputs.items()}
    analyse(notes, str(api.port), marks)
    print(f"load average {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == SERVE:
        _serve_traced(sys.argv[2:])
    else:
        main()
