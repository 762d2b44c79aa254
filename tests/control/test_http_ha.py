"""Several API processes on one database.

Processes started together on a new database set it up one after the other. Two processes on
PostgreSQL with the slot clock running: exactly one runs the slot loop (it holds the lease);
requests sent to both at once never hold more compute on a node than its admission limit, and
what they hold adds up; when the leader is killed, the other takes the loop over within the
lease and the slots go on from where they were.
"""

import sys
import threading
import time

import httpx
import pytest
from harness import (
    TRANSLATION,
    Server,
    fresh_database,
    hold_problems,
    service_create_client,
    set_up_together,
)

REQUESTS = "/service-requests/v0.1/requests"
SESSIONS = "/compute-sessions/v0.1/sessions"
CELLS = ("T0", "T1", "T2")
LEASE_S = 2.0
CLOCK = "accelerated:5"


def leaders(pair):
    return [s.health()["leader"] for s in pair]


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic()


@pytest.fixture
def postgres_url(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def pair(postgres_url, tmp_path):
    made = []
    try:
        for n in range(2):
            server = Server(
                postgres_url,
                tmp_path / f"server-{n}.log",
                clock=CLOCK,
                extra=("--lease-s", str(LEASE_S)),
            )
            made.append(server)
            server.start()
        yield made
    finally:
        for server in made:
            server.stop()
        for server in made:
            sys.stderr.write(f"--- {server.url}\n{server.output()}\n")


def run_requests(servers, ops, terminals, sid, per_thread, rate):
    """Each terminal sends requests, alternating between the servers, and releases some.

    Returns the count of each answer (status code; a release's negated; a session's status)
    and the bodies of the answers that were not 201.
    """
    answers: dict[int | str, int] = {}
    problems: list[str] = []
    lock = threading.Lock()

    def work(n, creds):
        opened: list[str] = []
        apis = [s.client(creds) for s in servers]
        try:
            for k in range(per_thread):
                api = apis[(n + k) % 2]
                r = api.post(REQUESTS, json={"serviceId": sid, "ratePerSecond": rate})
                with lock:
                    answers[r.status_code] = answers.get(r.status_code, 0) + 1
                    if r.status_code != 201:
                        problems.append(r.text[:200])
                    else:
                        opened.append(r.json()["session"]["sessionId"])
                        status = r.json()["session"]["status"]
                        answers[status] = answers.get(status, 0) + 1
                if k % 4 == 3 and opened:  # release one, on the other server
                    gone = opened.pop(0)
                    r = apis[(n + k + 1) % 2].delete(f"{SESSIONS}/{gone}")  # no retry needed
                    with lock:
                        answers[-r.status_code] = answers.get(-r.status_code, 0) + 1
        finally:
            for api in apis:
                api.close()

    threads = [
        threading.Thread(target=work, args=(n, creds), daemon=True)
        for n, creds in enumerate(terminals)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers, problems


def test_two_processes_share_one_database(pair, postgres_url):
    a, b = pair
    wait_for(lambda: sorted(leaders(pair)) == [False, True], 10 * LEASE_S, "one leader")
    ops = a.client(service_create_client(postgres_url))
    try:
        provider = b.client(ops.new_client("provider"))
        terminals = [ops.new_client("terminal") for _ in range(6)]
        for n, creds in enumerate(terminals):
            with b.client(creds) as t:
                t.ok("PUT", "/service-subscriptions/v0.1/location", json={"cell": CELLS[n % 3]})
        sid = provider.ok("POST", "/service-catalog/v0.1/services", json=TRANSLATION)["serviceId"]
        provider.close()
        wait_for(lambda: ops.slot() >= 3, 30, "slots to run")
        assert sorted(leaders(pair)) == [False, True]
        with b.client() as anon:
            anon.headers = ops.headers
            assert anon.slot() >= 3  # both serve the same clock

        answers, problems = run_requests(pair, ops, terminals, sid, per_thread=8, rate=3.0)
        assert set(answers) <= {201, -204, "AVAILABLE", "REQUESTED"}, (answers, problems[:5])
        assert answers.get("REQUESTED", 0) > 0  # the nodes filled up: some had to wait
        for server in pair:
            with server.client() as api:
                api.headers = ops.headers
                for node in api.nodes().values():
                    assert node["reservedGcps"] <= 0.95 * node["capacityGcps"] + 1e-9, node
        assert hold_problems(postgres_url) == []
        by_status = {}
        for s in ops.ok("GET", SESSIONS, params={"perPage": 100}):
            by_status[s["status"]] = by_status.get(s["status"], 0) + 1
        assert by_status.get("AVAILABLE", 0) > 0

        # The leader dies; the other takes over within the lease, from the slot reached.
        leader, follower = (a, b) if a.health()["leader"] else (b, a)
        assert follower.health()["slotsRun"] == 0
        with follower.client() as api:
            api.headers = ops.headers
            before = api.slot()
            leader.kill()
            killed = time.monotonic()
            took = wait_for(lambda: follower.health()["leader"], 10 * LEASE_S, "a new leader")
            assert took - killed < LEASE_S + 2.0
            first = api.slot()
            assert first >= before
            wait_for(lambda: api.slot() >= first + 3, 10, "slots after the take-over")
            assert follower.health()["slotsRun"] >= 3
        assert hold_problems(postgres_url) == []
    finally:
        ops.close()


def test_processes_set_up_a_new_database_at_the_same_moment(database_url):
    assert set_up_together(database_url, 3) == [0, 0, 0]


def test_a_stopped_leader_hands_the_loop_over_at_once(sqlite_servers, sqlite_url):
    # A lease of a minute: the other takes over at once only if the leader gives it up.
    a = sqlite_servers(clock=CLOCK, extra=("--lease-s", "60"))
    wait_for(lambda: a.health()["leader"], 10, "a leader")
    b = sqlite_servers(clock=CLOCK, extra=("--lease-s", "60"))
    ops = a.client(service_create_client(sqlite_url))
    opened = threading.Event()

    def listen():  # an event stream open on the leader while it stops
        try:
            with ops.http.stream(
                "GET",
                "/service-monitoring/v0.1/events",
                params={"maxWaitS": 600},
                headers=ops.headers,
            ) as r:
                opened.set()
                for _ in r.iter_lines():
                    pass
        except httpx.HTTPError:
            pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        assert opened.wait(10)
        assert not b.health()["leader"]
        before = ops.slot()
        stopping = time.monotonic()
        a.proc.terminate()
        a.proc.wait(timeout=30)
        assert time.monotonic() - stopping < 10  # the stream does not hold the process
        wait_for(lambda: b.health()["leader"], 10, "the other to take over")
        with b.client() as api:
            api.headers = ops.headers
            assert api.slot() >= before
    finally:
        listener.join(timeout=30)
        ops.close()
