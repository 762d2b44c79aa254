"""The terminal-network coordination flow through the API, in process, on SQLite."""

from conftest import TRANSLATION


def test_translation_register_subscribe_discover_request_meter_release(api):
    c = api.client
    api.advance(3)
    r = c.post("/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider)
    assert r.status_code == 201, r.text
    service = r.json()
    assert r.headers["Location"].endswith(service["serviceId"])
    r = c.post(
        "/service-subscriptions/v0.1/service-subscriptions",
        json={"serviceId": service["serviceId"], "cell": "T1"},
        headers=api.terminal,
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "ACTIVE"
    assert r.json()["credential"]["token_type"] == "Bearer"
    r = c.post("/service-catalog/v0.1/retrieve-services", json={}, headers=api.terminal)
    offers = r.json()["offers"]
    assert [o["serviceId"] for o in offers] == [service["serviceId"]]
    assert offers[0]["meetsQos"]
    assert offers[0]["lifetimeS"] > 0
    r = c.post(
        "/service-requests/v0.1/requests",
        json={"intent": "translate what I say", "ratePerSecond": 2, "duration": 30},
        headers=api.terminal,
    )
    assert r.status_code == 201, r.text
    session = r.json()["session"]
    assert r.json()["matchedBy"] == "intent"
    assert session["status"] == "AVAILABLE"
    steps = {s["stepId"]: s for s in session["plan"]["steps"]}
    assert steps["asr"]["placement"] == "TERMINAL"
    assert steps["asr"]["node"] == "T1-devices"
    assert steps["llm"]["placement"] == "NETWORK"
    api.advance(4)
    url = f"/compute-sessions/v0.1/sessions/{session['sessionId']}"
    got = c.get(url, headers=api.terminal).json()
    assert got["usage"]["tasks"] == 8.0
    assert got["measuredLatencyMs"] > 0
    usage = c.get("/usage/v0.1/usage-reports?by=provider", headers=api.provider).json()
    assert usage["items"][0]["tasks"] == 8.0
    assert c.delete(url, headers=api.terminal).status_code == 204
    got = c.get(url, headers=api.terminal).json()
    assert (got["status"], got["statusInfo"]) == ("UNAVAILABLE", "DELETE_REQUESTED")
    events = c.get("/service-monitoring/v0.1/event-log", headers=api.terminal).json()
    assert events[-1]["type"] == "org.cnc6g.compute-sessions.v0.session-status-changed"
    assert events[-1]["specversion"] == "1.0"


def test_errors_name_the_field_and_change_nothing(api):
    c = api.client
    bad = {**TRANSLATION, "qos": {"latencyMs": -1}}
    r = c.post("/service-catalog/v0.1/services", json=bad, headers=api.provider)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_ARGUMENT"
    assert "qos.latencyMs" in r.json()["message"]
    r = c.post("/service-catalog/v0.1/services", json={**TRANSLATION, "x": 1}, headers=api.provider)
    assert r.status_code == 400
    assert "x: unknown field" in r.json()["message"]
    unknown = {**TRANSLATION, "workflow": {"steps": [{"stepId": "a", "function": "nope"}]}}
    r = c.post("/service-catalog/v0.1/services", json=unknown, headers=api.provider)
    assert r.status_code == 422
    assert r.json()["code"] == "SERVICE_CATALOG.UNKNOWN_FUNCTION"
    assert c.get("/service-catalog/v0.1/services", headers=api.provider).json() == []


def test_another_providers_service_is_not_found(api):
    c = api.client
    sid = c.post("/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider).json()[
        "serviceId"
    ]
    other = api.new("provider", "other")
    r = c.get(f"/service-catalog/v0.1/services/{sid}", headers=other)
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
    r = c.get(f"/service-catalog/v0.1/services/{sid}", headers=api.terminal)
    assert r.status_code == 403


def test_a_retried_request_with_its_idempotency_key_opens_one_session(api):
    c = api.client
    sid = c.post("/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider).json()[
        "serviceId"
    ]
    api.advance(2)
    body = {"serviceId": sid, "ratePerSecond": 1, "duration": 60}
    headers = {**api.terminal, "Idempotency-Key": "req-1"}
    a = c.post("/service-requests/v0.1/requests", json=body, headers=headers)
    b = c.post("/service-requests/v0.1/requests", json=body, headers=headers)
    assert a.status_code == b.status_code == 201
    assert a.json() == b.json()
    assert b.headers["Idempotent-Replayed"] == "true"
    other = c.post(
        "/service-requests/v0.1/requests", json={**body, "ratePerSecond": 3}, headers=headers
    )
    assert other.status_code == 409
    sessions = c.get("/compute-sessions/v0.1/sessions", headers=api.terminal)
    assert sessions.headers["X-Total-Count"] == "1"


def test_a_stale_update_is_refused(api):
    c = api.client
    r = c.post("/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider)
    url = f"/service-catalog/v0.1/services/{r.json()['serviceId']}"
    etag = r.headers["ETag"]
    ok = c.patch(url, json={"description": "v2"}, headers={**api.provider, "If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["ETag"] != etag
    stale = c.patch(url, json={"description": "v3"}, headers={**api.provider, "If-Match": etag})
    assert stale.status_code == 409
    assert stale.json()["code"] == "ABORTED"
    assert c.get(url, headers=api.provider).json()["description"] == "v2"


def test_the_correlator_is_echoed(api):
    r = api.client.get(
        "/slot-clock/v0.1/clock", headers={**api.terminal, "x-correlator": "abc-123"}
    )
    assert r.headers["x-correlator"] == "abc-123"
    r = api.client.get("/slot-clock/v0.1/clock", headers={"x-correlator": "bad value!"})
    assert r.status_code == 400
