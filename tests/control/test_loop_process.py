"""The slot loop in a process of its own (``Settings.loop_process``, ``cnc6g serve
--loop-process``), and the heap frozen once a serving process has built what it keeps.

The process that starts the loop's sees it as its own loop (the leader and the slots run); it
runs the slots under a lease of its own; it gives the lease up when it is stopped, and also when
the process that started it ends without stopping it (the pipe between them closes), even when
that one is killed.
"""

import gc
import os
import time

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.plane import LEASE
from cnc6g.control.runtime import SlotEngine
from cnc6g.storage.tables import Lease


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def lease(plane):
    with plane.db.transaction(write=False) as s:
        row = s.get(Lease, LEASE)
        return row.holder, row.slot


def started(database_url, **kw):
    settings = Settings(
        database_url=database_url,
        clock="accelerated:20",
        move_probability=0.0,
        lease_s=60.0,  # another holder takes over only if the lease is given up
        loop_process=True,
        **kw,
    )
    plane = ControlPlane(settings)
    plane.setup()
    engine = SlotEngine(plane)
    engine.start()
    return plane, engine


def test_the_loop_runs_in_its_own_process_and_gives_the_lease_up_when_stopped(database_url):
    plane, engine = started(database_url)
    try:
        child = engine._process
        assert child is not None
        assert child.pid != os.getpid()
        wait_for(lambda: engine.slots_run >= 3, 60, "slots run by the loop's process")
        assert engine.leader
        holder, slot = lease(plane)
        assert holder is not None
        assert holder != plane.instance_id
        assert slot >= 3
        assert engine._thread is None  # no slot thread in this process
        engine.stop()
        assert not child.is_alive()
        assert child.exitcode == 0
        assert lease(plane)[0] is None
        assert not engine.leader
    finally:
        engine.stop()
        plane.db.dispose()


def test_the_loop_stops_and_gives_the_lease_up_when_its_starter_goes(sqlite_url):
    plane, engine = started(sqlite_url)
    try:
        child = engine._process
        wait_for(lambda: engine.slots_run >= 1, 60, "a slot")
        engine._pipe.close()  # as when the starting process dies: nothing sent, the pipe closes
        child.join(timeout=30)
        assert not child.is_alive()
        assert child.exitcode == 0
        assert lease(plane)[0] is None
        # Another process takes the loop over at once, from the slot reached.
        slot = lease(plane)[1]
        other = SlotEngine(ControlPlane(plane.settings))
        assert other.step()
        assert lease(plane) == (other.plane.instance_id, slot + 1)
        other.stop()
        other.plane.db.dispose()
    finally:
        engine._process = None
        engine.stop()
        plane.db.dispose()


def test_a_manual_clock_or_an_api_only_process_starts_no_loop_process(sqlite_url):
    for kw in ({"clock": "manual"}, {"run_loop": False}):
        settings = Settings(database_url=sqlite_url, loop_process=True, **kw)
        plane = ControlPlane(settings)
        plane.setup()
        engine = SlotEngine(plane)
        engine.start()
        try:
            assert engine._process is None
            assert engine._thread is None
        finally:
            engine.stop()
            plane.db.dispose()


def test_an_engine_that_serves_freezes_the_heap_once_its_loop_is_built(sqlite_url):
    plane = ControlPlane(Settings(database_url=sqlite_url, clock="manual"))
    plane.setup()
    gc.unfreeze()
    try:
        plain = SlotEngine(plane)
        assert plain.step()
        assert gc.get_freeze_count() == 0  # only when asked (a test process makes many)
        serving = SlotEngine(plane)
        serving.freeze_after_build = True
        assert serving.step()  # builds its twin and policy: then freezes
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        assert serving.step()  # the same loop goes on: nothing more frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        plane.db.dispose()


def test_serve_with_the_loop_process_hands_the_loop_over_when_killed(sqlite_servers):
    # A lease of a minute: the other takes over at once only if the loop's process gives it up
    # when the API process that started it is killed (SIGKILL: it runs no code of its own).
    a = sqlite_servers(clock="accelerated:10", extra=("--lease-s", "60", "--loop-process"))
    wait_for(lambda: a.health()["leader"] and a.health()["slotsRun"] >= 2, 30, "slots")
    b = sqlite_servers(clock="accelerated:10", extra=("--lease-s", "60", "--loop-process"))
    assert not b.health()["leader"]
    a.kill()
    killed = time.monotonic()
    wait_for(lambda: b.health()["leader"], 15, "the other to take over")
    assert time.monotonic() - killed < 10
    wait_for(lambda: b.health()["slotsRun"] >= 2, 15, "slots after the take-over")
