"""The unified service request's own path (:mod:`cnc6g.api.fast`) answers as the route does.

The same requests go to the app and to the same app without that path (its route answers them
all), each on a fresh database set up alike; the answers must agree in status, body and headers
(ids and times aside). And the path itself takes the well-formed requests and hands on the rest.
"""

import asyncio
import json
import re

import pytest
from conftest import TRANSLATION, Api
from fastapi.testclient import TestClient

from cnc6g.api import create_app
from cnc6g.api.fast import PATH, UnifiedRequest
from cnc6g.control import ControlPlane, Settings

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
HEADERS = ("location", "idempotent-replayed", "x-correlator", "www-authenticate", "content-type")


def _app(tmp_path, name, own_path, **settings):
    plane = ControlPlane(
        Settings(
            database_url=f"sqlite:///{tmp_path / name}.db",
            clock="manual",
            move_probability=0.0,
            **settings,
        )
    )
    app = create_app(plane)
    if not own_path:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not UnifiedRequest]
    return app, plane


def _seen(r):
    """An answer with its ids and times replaced, to compare two databases' answers."""
    text = TIME.sub("<time>", ID.sub("<id>", r.text))
    headers = {
        h: TIME.sub("<time>", ID.sub("<id>", r.headers[h])) for h in HEADERS if h in r.headers
    }
    return r.status_code, json.loads(text) if text else None, headers


def _script(api, sid):
    """Requests through the unified route's cases: (what it is, headers, body)."""
    terminal, provider = api.terminal, api.provider
    ok = {"serviceId": sid, "ratePerSecond": 1, "duration": 60}
    return [
        ("placed", terminal, ok),
        ("correlated", {**terminal, "x-correlator": "abc-1"}, ok),
        ("keyed", {**terminal, "Idempotency-Key": "k-1"}, ok),
        ("replayed", {**terminal, "Idempotency-Key": "k-1"}, ok),
        ("key reused", {**terminal, "Idempotency-Key": "k-1"}, {**ok, "ratePerSecond": 2}),
        ("bad key", {**terminal, "Idempotency-Key": "a b"}, ok),
        ("no scope", provider, ok),
        ("bad token", {"Authorization": "Bearer nope"}, ok),
        ("no token", {}, ok),
        ("bad token, bad body", {"Authorization": "Bearer nope"}, {"x": 1}),
        ("unknown field", terminal, {**ok, "x": 1}),
        ("not an object", terminal, [ok]),
        ("no such service", terminal, {**ok, "serviceId": "0" * 8}),
        ("both names", terminal, {**ok, "intent": "translate"}),
        ("by intent", terminal, {"intent": "translate what I say", "ratePerSecond": 1}),
        ("correlated error", {**provider, "x-correlator": "abc-2"}, ok),
    ]


def _run(tmp_path, name, own_path, **settings):
    app, plane = _app(tmp_path, name, own_path, **settings)
    with TestClient(app) as client:
        api = Api(client, plane)
        api.advance(3)
        r = client.post("/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider)
        sid = r.json()["serviceId"]
        return [
            (what, _seen(client.post(PATH, json=body, headers=headers)))
            for what, headers, body in _script(api, sid)
        ]


def test_the_unified_request_is_answered_as_its_route_answers_it(tmp_path):
    own = _run(tmp_path, "own", own_path=True)
    route = _run(tmp_path, "route", own_path=False)
    for (what, a), (_, b) in zip(own, route, strict=True):
        assert a == b, what
    statuses = {what: seen[0] for what, seen in own}
    assert statuses["placed"] == statuses["replayed"] == 201
    assert statuses["key reused"] == 409
    assert statuses["no scope"] == 403
    assert statuses["bad token"] == statuses["no token"] == 401
    assert statuses["unknown field"] == statuses["bad key"] == 400


def test_a_request_takes_one_token_of_its_clients_rate_limit(tmp_path):
    for own_path in (True, False):
        app, plane = _app(tmp_path, f"rate-{own_path}", own_path, rate_per_s=0.001, rate_burst=40)
        with TestClient(app) as client:
            api = Api(client, plane)  # its set-up requests take the provider's and operator's
            api.advance(2)
            sid = client.post(
                "/service-catalog/v0.1/services", json=TRANSLATION, headers=api.provider
            ).json()["serviceId"]
            ok = {"serviceId": sid, "ratePerSecond": 0.01, "duration": 1}
            codes = [
                client.post(PATH, json=ok, headers=api.terminal).status_code for _ in range(41)
            ]
        assert codes == [201] * 40 + [429], own_path


@pytest.mark.parametrize(
    ("headers", "body", "taken"),
    [
        ({"authorization": "Bearer t"}, b'{"serviceId": "s", "ratePerSecond": 1}', True),
        ({"authorization": "Basic t"}, b'{"serviceId": "s", "ratePerSecond": 1}', False),
        ({}, b'{"serviceId": "s", "ratePerSecond": 1}', False),
        ({"authorization": "Bearer t"}, b'{"serviceId": "s"}', False),
        ({"authorization": "Bearer t"}, b"[]", False),
        ({"authorization": "Bearer t"}, b"{", False),
        ({"authorization": "Bearer t"}, b"", False),
        (
            {"authorization": "Bearer t", "idempotency-key": "a\tb"},
            b'{"serviceId": "s", "ratePerSecond": 1}',
            False,
        ),
    ],
)
def test_only_a_well_formed_request_is_taken(tmp_path, headers, body, taken):
    """What the route would refuse before authenticating goes on to it, body and all."""
    plane = ControlPlane(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}", clock="manual"))
    plane.setup()
    handed: list[bytes] = []

    async def route(scope, receive, send):
        handed.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def call():
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": PATH,
            "query_string": b"",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
        await UnifiedRequest(route, plane)(scope, receive, send)
        return sent[0]["status"]

    try:
        status = asyncio.run(call())
    finally:
        plane.db.dispose()
    if taken:  # answered here: the token "t" is not one (401), the route never sees it
        assert (status, handed) == (401, [])
    else:
        assert (status, handed) == (418, [body])
