"""What the server answered 2xx survives a SIGKILL, on SQLite and on PostgreSQL.

Threads register services, subscribe terminals and open and release sessions (with a webhook
sink each) while the slot loop runs; the server is killed with SIGKILL in the middle and started
again on the same database. Every write that was answered 2xx is there, the compute held on
nodes adds up and stays within each node's admission limit, a retried request gets its first
answer again, and every event of the outbox with a sink reaches the sink (with its bearer
credential) after the restart.
"""

import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from harness import TRANSLATION, Sink, credential, hold_problems, outbox, service_create_client

SERVICES = "/service-catalog/v0.1/services"
SUBSCRIPTIONS = "/service-subscriptions/v0.1/service-subscriptions"
REQUESTS = "/service-requests/v0.1/requests"
SESSIONS = "/compute-sessions/v0.1/sessions"
LOCATION = "/service-subscriptions/v0.1/location"
CELLS = ("T0", "T1", "T2")


@dataclass
class Written:
    """The writes answered 2xx, and the answers that were neither 2xx nor a conflict."""

    services: dict[str, str] = field(default_factory=dict)  # id: name
    subscriptions: set[str] = field(default_factory=set)
    sessions: dict[str, tuple[str, dict, dict]] = field(default_factory=dict)  # id: key, body, who
    released: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self) -> None:
        with self.lock:
            self.count += 1


def writer(url, n, provider, terminal, operator, services, sink_url, written, stop):
    """Write as ``provider`` and ``terminal`` until the server goes away (or ``stop`` is set)."""
    mine: list[str] = []
    with httpx.Client(base_url=url, timeout=30.0) as http:

        def call(method, path, who, headers=None, **kwargs):
            for _ in range(5):  # a lost optimistic lock is retried, as a client would
                r = http.request(method, path, headers={**who.headers, **(headers or {})}, **kwargs)
                if r.status_code != 409 or r.json().get("code") != "ABORTED":
                    break
            if r.status_code >= 300:
                written.unexpected.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
                return None
            written.done()
            return r

        k = 0
        try:
            while not stop.is_set():
                k += 1
                name = f"svc-{n}-{k}"
                r = call("POST", SERVICES, provider, json={**TRANSLATION, "name": name})
                if r is not None:
                    written.services[r.json()["serviceId"]] = name
                token = uuid.uuid4().hex
                sid = services[(n + k) % len(services)]
                sink = {"sink": sink_url, "sinkCredential": credential(token)}
                sub = {"serviceId": sid, **sink}
                if k <= 5:  # a few in an area (each move tells every one of them)
                    sub["area"] = [CELLS[n % 3]]
                r = call("POST", SUBSCRIPTIONS, terminal, json=sub)
                if r is not None:
                    written.subscriptions.add(r.json()["subscriptionId"])
                req = {"serviceId": sid, "ratePerSecond": 0.5, "duration": 3600, **sink}
                key = f"req-{n}-{k}"
                r = call("POST", REQUESTS, terminal, headers={"Idempotency-Key": key}, json=req)
                if r is not None:
                    session = r.json()["session"]["sessionId"]
                    written.sessions[session] = (key, req, terminal.headers)
                    mine.append(session)
                if k % 2 == 0 and mine:
                    gone = mine.pop(0)
                    if call("DELETE", f"{SESSIONS}/{gone}", terminal) is not None:
                        written.released.add(gone)
                if k % 5 == 0:  # out of the area and back: area events to the sink
                    for cell in (CELLS[(n + 1) % 3], CELLS[n % 3]):
                        call("PUT", LOCATION, terminal, json={"cell": cell})
                if n == 0 and k % 2:
                    call("POST", "/slot-clock/v0.1/clock/advance", operator, json={"slots": 1})
        except httpx.TransportError:  # the server was killed
            return


def crash_and_restart(servers, database_url, threads, kill_after):
    sink = Sink().start()
    apis = []
    try:
        first = servers()
        ops = first.client(service_create_client(database_url))
        providers = [first.client(ops.new_client("provider")) for _ in range(2)]
        terminals = [first.client(ops.new_client("terminal")) for _ in range(threads)]
        apis = [ops, *providers, *terminals]
        for n, terminal in enumerate(terminals):
            terminal.ok("PUT", LOCATION, json={"cell": CELLS[n % 3]})
        ops.advance(3)
        services = [
            p.ok("POST", SERVICES, json={**TRANSLATION, "name": "base"})["serviceId"]
            for p in providers
        ]
        written = Written()
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=writer,
                args=(first.url, n, providers[n % 2], terminals[n], ops, services, sink.url),
                kwargs={"written": written, "stop": stop},
                daemon=True,
            )
            for n in range(threads)
        ]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 120
        while written.count < kill_after and time.monotonic() < deadline:
            if written.count >= 0.7 * kill_after:  # events pile up until after the restart
                sink.refusing = True
            time.sleep(0.01)
        first.kill()
        stop.set()
        for w in workers:
            w.join(timeout=60)
        assert written.count >= kill_after, written.unexpected[:5]
        assert not written.unexpected, written.unexpected[:10]
        assert [e for e in outbox(database_url) if not e["delivered"]]  # refused, for now

        second = servers()
        for api in apis:  # the tokens issued before the crash still hold
            api.to(second)
        for sid, name in written.services.items():
            assert ops.ok("GET", f"{SERVICES}/{sid}")["name"] == name
        for sub in written.subscriptions:
            assert ops.ok("GET", f"{SUBSCRIPTIONS}/{sub}")["subscriptionId"] == sub
        for session in written.sessions:
            got = ops.ok("GET", f"{SESSIONS}/{session}")
            if session in written.released:  # unless the network had ended it first
                assert got["status"] == "UNAVAILABLE"
                assert got["statusInfo"] in ("DELETE_REQUESTED", "NETWORK_TERMINATED")
        with second.client() as anyone:  # a retry gets the answer given before the crash
            for session, (key, body, headers) in list(written.sessions.items())[:10]:
                r = anyone.http.post(
                    REQUESTS, json=body, headers={**headers, "Idempotency-Key": key}
                )
                assert r.status_code == 201, r.text
                assert r.headers["Idempotent-Replayed"] == "true"
                assert r.json()["session"]["sessionId"] == session
        # Every acknowledged session is there; a kill between a commit and its answer may leave
        # one the client never heard of, at most one per writer (each has one call in flight).
        listed = ops.get(SESSIONS, params={"perPage": 1})
        stored = int(listed.headers["X-Total-Count"])
        assert len(written.sessions) <= stored <= len(written.sessions) + threads
        assert hold_problems(database_url) == []
        for node in ops.nodes().values():
            assert node["reservedGcps"] <= node["capacityGcps"]

        # Every event with a sink reaches it after the restart, with its credential.
        sink.refusing = False
        deadline = time.monotonic() + 60
        while pending := [e for e in outbox(database_url) if not e["delivered"]]:
            assert time.monotonic() < deadline, pending[:3]
            time.sleep(0.2)
        got = {d.body["id"]: d for d in sink.received() if d.status == 204}
        events = outbox(database_url)
        for e in events:
            assert e["id"] in got, e
            d = got[e["id"]]
            assert d.headers["authorization"] == f"Bearer {e['token']}"
            assert d.headers["content-type"].startswith("application/cloudevents+json")
            assert (d.body["specversion"], d.body["type"]) == ("1.0", e["type"])
        kinds = {e["type"].rsplit(".", 1)[1] for e in events}
        assert kinds >= {"session-status-changed", "area-left", "area-entered"}
    finally:
        for api in apis:
            api.close()
        sink.stop()


def test_writes_survive_a_kill(servers, database_url):
    crash_and_restart(servers, database_url, threads=4, kill_after=200)


@pytest.mark.slow
def test_many_writes_survive_a_kill(servers, database_url):
    crash_and_restart(servers, database_url, threads=8, kill_after=1500)
