"""Seed 000's speech translation over real HTTP, on SQLite and on PostgreSQL.

A provider registers the service (ASR pinned to the terminal, LLM and TTS in the network), a
terminal subscribes in an area, discovers it, requests it by id and in words, the slots run and
meter the sessions, usage is reported per subscriber and per provider, and the sessions are
released. The server is ``cnc6g serve`` in its own process; its first operator is made with
``cnc6g admin create-client``.
"""

import pytest
from harness import TRANSLATION, cli_create_client

SERVICES = "/service-catalog/v0.1/services"
SUBSCRIPTIONS = "/service-subscriptions/v0.1/service-subscriptions"
REQUESTS = "/service-requests/v0.1/requests"
SESSIONS = "/compute-sessions/v0.1/sessions"
USAGE = "/usage/v0.1/usage-reports"


def usage_of(api, session_id):
    return api.ok("GET", f"{SESSIONS}/{session_id}")["usage"]


def test_translation_walkthrough(servers, database_url):
    server = servers()
    ops = server.client(cli_create_client(database_url))
    provider = server.client(ops.new_client("provider"))
    terminal = server.client(ops.new_client("terminal"))
    other = server.client(ops.new_client("terminal", "elsewhere"))
    assert ops.advance(3) == 3  # instances start

    # Registration: the service is offered in T0 and T1.
    r = provider.post(SERVICES, json={**TRANSLATION, "area": ["T0", "T1"]})
    assert r.status_code == 201, r.text
    service = r.json()
    sid = service["serviceId"]
    assert r.headers["Location"] == f"{SERVICES}/{sid}"
    assert r.headers["ETag"] == f'"{service["revision"]}"'
    assert (service["provider"], service["state"]) == (provider.client_id, "ACTIVE")

    # Subscription in an area; the terminal reports its cell, so it stays there.
    r = terminal.post(SUBSCRIPTIONS, json={"serviceId": sid, "cell": "T1", "area": ["T1", "T2"]})
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["status"], sub["cell"], sub["area"]) == ("ACTIVE", "T1", ["T1", "T2"])
    assert sub["credential"]["token_type"] == "Bearer"
    assert terminal.ok("PUT", "/service-subscriptions/v0.1/location", json={"cell": "T1"})
    r = other.post(SUBSCRIPTIONS, json={"serviceId": sid, "cell": "T0", "area": ["T1"]})
    assert r.json()["status"] == "PENDING_AREA"
    assert terminal.ok("GET", f"{SUBSCRIPTIONS}/{sub['subscriptionId']}")["credential"] is None

    # Discovery where the terminal is, and none outside the service's area.
    found = terminal.ok("POST", "/service-catalog/v0.1/retrieve-services", json={})
    assert found["cell"] == "T1"
    assert [o["serviceId"] for o in found["offers"]] == [sid]
    offer = found["offers"][0]
    assert offer["meetsQos"]
    assert 0 < offer["expectedLatencyMs"] <= TRANSLATION["qos"]["latencyMs"]
    assert offer["lifetimeS"] > 0
    outside = terminal.ok("POST", "/service-catalog/v0.1/retrieve-services", json={"cell": "T2"})
    assert outside["offers"] == []

    # The unified request, by id and in words.
    nodes = ops.nodes()
    own_node = next(n for n, st in nodes.items() if st["domain"] == "T1")
    r = terminal.post(REQUESTS, json={"serviceId": sid, "ratePerSecond": 2, "duration": 600})
    assert r.status_code == 201, r.text
    by_id = r.json()
    assert r.headers["Location"] == f"{REQUESTS}/{by_id['requestId']}"
    assert (by_id["matchedBy"], by_id["serviceId"]) == ("serviceId", sid)
    r = terminal.post(REQUESTS, json={"intent": "translate what I say", "ratePerSecond": 1})
    assert r.status_code == 201, r.text
    by_intent = r.json()
    assert (by_intent["matchedBy"], by_intent["serviceId"]) == ("intent", sid)
    for answer in (by_id, by_intent):
        session = answer["session"]
        assert (session["status"], session["cell"]) == ("AVAILABLE", "T1")
        steps = {st["stepId"]: st for st in session["plan"]["steps"]}
        assert (steps["asr"]["placement"], steps["asr"]["node"]) == ("TERMINAL", own_node)
        for step in ("llm", "tts"):
            assert steps[step]["placement"] == "NETWORK"
            assert nodes[steps[step]["node"]]["kind"] != "terminal"
        assert session["plan"]["meetsQos"]
        assert session["usage"]["tasks"] == 0
    assert (
        terminal.ok("GET", f"{REQUESTS}/{by_id['requestId']}")["session"]["sessionId"]
        == (by_id["session"]["sessionId"])
    )
    a, b = by_id["session"]["sessionId"], by_intent["session"]["sessionId"]
    short = other.post(REQUESTS, json={"serviceId": sid, "ratePerSecond": 1, "duration": 2})
    assert short.status_code == 201, short.text
    c = short.json()["session"]["sessionId"]

    # The network holds what the sessions need on the nodes of their plans.
    held = {n: st["reservedGcps"] for n, st in ops.nodes().items() if st["reservedGcps"] > 0}
    answers = (by_id, by_intent, short.json())
    planned = {st["node"] for x in answers for st in x["session"]["plan"]["steps"]}
    assert held
    assert set(held) <= planned - {own_node, next(n for n in nodes if nodes[n]["domain"] == "T0")}

    # Metering: every slot adds the same usage.
    ops.advance(1)
    one = usage_of(terminal, a)
    assert one["tasks"] == pytest.approx(2.0)
    assert one["computeGcycles"] > 0
    assert one["bytesUp"] > 0
    assert one["bytesDown"] > 0
    assert one["energyJ"] > 0
    ops.advance(3)
    four = usage_of(terminal, a)
    for key in ("tasks", "computeGcycles", "computeSeconds", "bytesUp", "bytesDown", "energyJ"):
        assert four[key] == pytest.approx(4 * one[key], rel=1e-6), key
    assert usage_of(terminal, b)["tasks"] == pytest.approx(4.0)
    got = terminal.ok("GET", f"{SESSIONS}/{a}")
    assert got["measuredLatencyMs"] > 0
    assert got["status"] == "AVAILABLE"

    # A session ends when its duration is over, and its usage stops there.
    expired = other.ok("GET", f"{SESSIONS}/{c}")
    assert (expired["status"], expired["statusInfo"]) == ("UNAVAILABLE", "DURATION_EXPIRED")
    assert 0 < expired["usage"]["tasks"] <= 2
    ops.advance(1)
    assert usage_of(other, c) == expired["usage"]
    told = other.ok("GET", "/service-monitoring/v0.1/event-log")[-1]
    assert (told["subject"], told["data"]["statusInfo"]) == (c, "DURATION_EXPIRED")
    five = usage_of(terminal, a)

    # Usage per subscriber and per provider; a client sees its own line only.
    mine = terminal.ok("GET", USAGE, params={"by": "subscriber"})
    assert [line["clientId"] for line in mine["items"]] == [terminal.client_id]
    assert mine["items"][0]["sessions"] == 2
    assert mine["items"][0]["tasks"] == pytest.approx(15.0)  # 5 slots at 2 and at 1 task/s
    served = provider.ok("GET", USAGE, params={"by": "provider"})
    assert [line["clientId"] for line in served["items"]] == [provider.client_id]
    assert served["items"][0]["sessions"] == 3
    assert served["items"][0]["tasks"] == pytest.approx(15.0 + expired["usage"]["tasks"])
    everyone = ops.ok("GET", USAGE, params={"by": "subscriber"})
    lines = {line["clientId"]: line for line in everyone["items"]}
    assert lines.keys() == {terminal.client_id, other.client_id}
    assert lines[other.client_id]["tasks"] == pytest.approx(expired["usage"]["tasks"])
    assert sum(x["computeGcycles"] for x in lines.values()) == pytest.approx(
        served["items"][0]["computeGcycles"]
    )
    assert provider.ok("GET", USAGE, params={"by": "subscriber"})["items"] == []

    # Release: the session ends, stops growing and gives its compute back.
    assert terminal.delete(f"{SESSIONS}/{a}").status_code == 204
    assert terminal.delete(f"{SESSIONS}/{b}").status_code == 204
    ended = terminal.ok("GET", f"{SESSIONS}/{a}")
    assert (ended["status"], ended["statusInfo"]) == ("UNAVAILABLE", "DELETE_REQUESTED")
    ops.advance(2)
    assert usage_of(terminal, a)["tasks"] == pytest.approx(five["tasks"])
    assert all(st["reservedGcps"] == pytest.approx(0, abs=1e-9) for st in ops.nodes().values())
    events = terminal.ok("GET", "/service-monitoring/v0.1/event-log")
    released = [
        e["data"]["sessionId"]
        for e in events
        if e["type"] == "org.cnc6g.compute-sessions.v0.session-status-changed"
        and e["data"]["status"] == "UNAVAILABLE"
    ]
    assert sorted(released) == sorted([a, b])
    for api in (ops, provider, terminal, other):
        api.close()
