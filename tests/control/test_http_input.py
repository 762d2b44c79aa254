"""What the API takes and how it refuses the rest, over real HTTP (``cnc6g serve`` on SQLite).

Each case here is one the Schemathesis run (``test_http_fuzz``) found or could find, pinned down:
the body size limit, media types, NUL characters, values of the wrong JSON type, times with their
UTC offset, the token endpoint's challenge, and the error responses the document declares.
"""

import uuid

import pytest
from harness import TRANSLATION, Server, fresh_database, service_create_client

from cnc6g.api.problems import MAX_BODY_BYTES

SERVICES = "/service-catalog/v0.1/services"
REQUESTS = "/service-requests/v0.1/requests"
TOKEN = "/oauth/token"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A server, an operator's credentials, and a provider and a terminal logged in."""
    tmp = tmp_path_factory.mktemp("input")
    with fresh_database("sqlite", tmp) as url:
        server = Server(url, tmp / "server.log").start()
        try:
            ops = service_create_client(url)
            operator = server.client(ops)
            provider = server.client(operator.new_client("provider"))
            terminal = server.client(operator.new_client("terminal"))
            yield server, ops, operator, provider, terminal
            for api in (operator, provider, terminal):
                api.close()
        finally:
            server.stop()


def _error(r, status, code=None):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"status", "code", "message"}
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code
    return body


def _service(**changes):
    return {**TRANSLATION, "name": f"svc-{uuid.uuid4().hex[:8]}", **changes}


# -- the token endpoint --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["wrong secret in the form", "wrong secret in Basic", "no credentials", "bad Basic"]
)
def test_a_client_that_fails_to_authenticate_is_challenged_with_basic(world, how):
    server, ops, *_ = world
    form = {"grant_type": "client_credentials"}
    headers = {}
    if how == "wrong secret in the form":
        form |= {"client_id": ops.client_id, "client_secret": "wrong"}
    elif how == "wrong secret in Basic":
        headers["Authorization"] = "Basic " + _b64(f"{ops.client_id}:wrong")
    elif how == "bad Basic":
        headers["Authorization"] = "Basic !!!not-base64"
    with server.client() as anonymous:
        r = anonymous.http.post(TOKEN, data=form, headers=headers)
    _error(r, 401, "UNAUTHENTICATED")
    assert r.headers["WWW-Authenticate"].startswith("Basic ")
    assert r.headers["Cache-Control"] == "no-store"


def test_a_client_id_with_a_nul_character_is_an_unknown_client(world):
    server, *_ = world
    form = {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"}
    with server.client() as anonymous:
        _error(anonymous.http.post(TOKEN, data=form), 401)


def test_basic_credentials_give_a_token(world):
    server, ops, *_ = world
    with server.client() as anonymous:
        r = anonymous.http.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + _b64(f"{ops.client_id}:{ops.secret}")},
        )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


def _b64(text):
    import base64

    return base64.b64encode(text.encode()).decode()


# -- bodies --------------------------------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_refused_with_413(world):
    _server, _ops, _operator, provider, _terminal = world
    big = _service(description="x" * (MAX_BODY_BYTES + 1))
    _error(provider.post(SERVICES, json=big), 413, "PAYLOAD_TOO_LARGE")

    def chunks():  # no Content-Length: the body comes in chunks
        yield b'{"description": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    r = provider.post(SERVICES, content=chunks(), headers={"Content-Type": "application/json"})
    _error(r, 413, "PAYLOAD_TOO_LARGE")
    assert provider.ok("GET", SERVICES) == []


def test_a_body_in_another_media_type_is_refused_with_415(world):
    _server, _ops, _operator, provider, _terminal = world
    r = provider.post(SERVICES, content=b"name=x", headers={"Content-Type": "text/plain"})
    _error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    r = provider.post(SERVICES, content=b'{"name": "x"}')  # no Content-Type
    _error(r, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    "body",
    [
        _service(description="before\x00after"),
        _service(
            workflow={**TRANSLATION["workflow"], "steps": TRANSLATION["workflow"]["steps"]},
            qos={"latencyMs": 900},
            area=["T0"],
            description="ok",
            version="1.0",
        )
        | {"name": "nul\x00name"},
    ],
    ids=["description", "name"],
)
def test_a_nul_character_is_refused(world, body):
    _server, _ops, _operator, provider, _terminal = world
    r = provider.post(SERVICES, json=body)
    assert r.status_code in (400, 422), r.text  # a name has a pattern (400); free text 422
    if "\x00" in body["description"]:
        assert _error(r, 422, "UNPROCESSABLE_ENTITY")["message"].startswith("description:")


def test_a_nul_character_in_a_path_or_a_query_is_refused(world):
    _server, _ops, operator, provider, _terminal = world
    _error(provider.get(f"{SERVICES}/a%00b"), 400, "INVALID_ARGUMENT")
    r = operator.get("/service-deployments/v0.1/instances", params={"function": "a\x00"})
    _error(r, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ratePerSecond", "1"),
        ("ratePerSecond", True),
        ("duration", "60"),
        ("duration", 1.5),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_converted(world, field, value):
    _server, _ops, _operator, provider, terminal = world
    sid = provider.ok("POST", SERVICES, json=_service())["serviceId"]
    body = {"serviceId": sid, "ratePerSecond": 1, "duration": 60, field: value}
    message = _error(terminal.post(REQUESTS, json=body), 400, "INVALID_ARGUMENT")["message"]
    assert message.startswith(f"{field}:")


def test_a_flag_must_be_a_json_boolean(world):
    _server, _ops, _operator, provider, _terminal = world
    steps = [{"stepId": "a", "function": "asr", "pinToTerminal": 1}]
    body = _service(workflow={"steps": steps})
    message = _error(provider.post(SERVICES, json=body), 400, "INVALID_ARGUMENT")["message"]
    assert "pinToTerminal" in message
    sub = {"privacy": {"shareable": "true"}}
    r = world[4].post("/service-subscriptions/v0.1/service-subscriptions", json=sub)
    assert "privacy.shareable" in _error(r, 400)["message"]


def test_a_whole_number_written_with_a_fraction_is_an_integer(world):
    _server, _ops, _operator, provider, terminal = world
    sid = provider.ok("POST", SERVICES, json=_service())["serviceId"]
    r = terminal.post(REQUESTS, json={"serviceId": sid, "ratePerSecond": 1, "duration": 60.0})
    assert r.status_code == 201, r.text
    assert r.json()["session"]["duration"] == 60


def test_a_body_that_keeps_to_its_schema_but_makes_no_sense_is_422(world):
    _server, _ops, _operator, provider, terminal = world
    both = {"serviceId": "x", "intent": "translate", "ratePerSecond": 1}
    _error(terminal.post(REQUESTS, json=both), 422, "UNPROCESSABLE_ENTITY")
    cycle = _service(
        workflow={
            "steps": [{"stepId": "a", "function": "asr"}, {"stepId": "b", "function": "tts"}],
            "edges": [{"fromStepId": "a", "toStepId": "b"}, {"fromStepId": "b", "toStepId": "a"}],
        }
    )
    body = _error(provider.post(SERVICES, json=cycle), 422, "UNPROCESSABLE_ENTITY")
    assert "cycle" in body["message"]
    r = terminal.put("/service-subscriptions/v0.1/location", json={"cell": "Nowhere"})
    assert "unknown cell" in _error(r, 422)["message"]


# -- answers -------------------------------------------------------------------------------------


def test_times_carry_their_utc_offset(world):
    _server, _ops, operator, provider, _terminal = world
    service = provider.ok("POST", SERVICES, json=_service())
    assert service["createdAt"].endswith("Z")
    assert provider.ok("GET", f"{SERVICES}/{service['serviceId']}")["updatedAt"].endswith("Z")
    assert all(
        c["createdAt"].endswith("Z") for c in operator.ok("GET", "/client-registry/v0.1/clients")
    )


def test_a_method_an_operation_does_not_have_is_405_with_allow(world):
    _server, _ops, _operator, provider, _terminal = world
    r = provider.request("PUT", SERVICES, json={})
    _error(r, 405, "METHOD_NOT_ALLOWED")
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_the_document_declares_every_error_with_the_error_body(world):
    server, *_ = world
    with server.client() as anonymous:
        document = anonymous.http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorInfo"]["required"]) == {"status", "code", "message"}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            where = f"{method.upper()} {path}"
            assert "400" in codes, where
            if op.get("security"):
                assert {"401", "403", "429"} <= codes, where
            if "requestBody" in op:
                assert {"413", "415", "422"} <= codes, where
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorInfo"}, (where, code)
            for parameter in op.get("parameters", []):
                assert "anyOf" not in parameter["schema"], (where, parameter["name"])
