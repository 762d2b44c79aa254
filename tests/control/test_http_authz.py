"""Who may do what: every operation of the OpenAPI document, every kind of caller, over HTTP.

The expected status of each case follows from the operation's scope (read from the document)
and :data:`cnc6g.control.security.SCOPES`: 401 without a valid token (none, malformed, signed
with another key, expired), 403 when the caller's role lacks the scope, 404 for an object of
another client (operators see every object), and the operation's documented 2xx otherwise.
Objects are made fresh for each case, owned by the caller ("own") or by another client of the
owning role ("other"). An operation of the document missing from :data:`OPS` fails the suite.
"""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from harness import TRANSLATION, Server, fresh_database, service_create_client
from sqlalchemy import create_engine, text

from cnc6g.control.security import ISSUER, ROLES, SCOPES, issue_token, role_scopes

PUBLIC = {"issueToken", "health"}
"""Operations anyone may call."""

RESOURCE_OF_PARAM = {
    "serviceId": "service",
    "serviceSubscriptionId": "subscription",
    "requestId": "request",
    "deploymentId": "deployment",
}
"""The kind of object a path parameter names (``sessionId``: by the path's API)."""

CREATE_SCOPE = {
    "service": "service-catalog:services:create",
    "subscription": "service-subscriptions:subscriptions:create",
    "request": "service-requests:requests:create",
    "compute-session": "compute-sessions:sessions:create",
    "sensing-session": "sensing-sessions:sessions:create",
    "deployment": "service-deployments:deployments:create",
}
"""The scope that makes each kind of object: the roles that may own one."""


@dataclass(frozen=True)
class Spec:
    """How to call an operation: its body and query (given the object it is about, if any)."""

    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    resource: str | None = None  # the object the body names (its owner decides the outcome)
    place_caller: bool = False  # the caller reports its cell first (it reads its own location)


SESSION = {"ratePerSecond": 0.01, "duration": 600}


def _unique(body):
    return lambda _world, _rid: {**body, "name": f"svc-{uuid.uuid4().hex[:10]}"}


OPS: dict[str, Spec] = {
    "createClient": Spec(body={"name": "made", "role": "terminal"}),
    "listClients": Spec(),
    "registerService": Spec(body=_unique(TRANSLATION)),
    "listServices": Spec(),
    "getService": Spec(),
    "updateService": Spec(body={"description": "changed"}),
    "deleteService": Spec(),
    "retrieveServices": Spec(body={}),
    "createServiceSubscription": Spec(
        body=lambda w, _: {"serviceId": w.public_service, "cell": "T0"}
    ),
    "listServiceSubscriptions": Spec(),
    "getServiceSubscription": Spec(),
    "deleteServiceSubscription": Spec(),
    "getLocation": Spec(place_caller=True),
    "updateLocation": Spec(body={"cell": "T2"}),
    "requestService": Spec(body=lambda w, _: {"serviceId": w.public_service, **SESSION}),
    "getRequest": Spec(),
    "createComputeSession": Spec(body=lambda w, _: {"serviceId": w.public_service, **SESSION}),
    "listComputeSessions": Spec(),
    "getComputeSession": Spec(),
    "updateComputeSession": Spec(body={"qos": {"latencyMs": 2000}}),
    "deleteComputeSession": Spec(),
    "extendComputeSession": Spec(body={"requestedAdditionalDuration": 10}),
    "createSensingSession": Spec(body=lambda w, _: {"serviceId": w.public_service, **SESSION}),
    "listSensingSessions": Spec(),
    "getSensingSession": Spec(),
    "updateSensingSession": Spec(body={"qos": {"latencyMs": 900}}),
    "deleteSensingSession": Spec(),
    "extendSensingSession": Spec(body={"requestedAdditionalDuration": 10}),
    "createDeployment": Spec(resource="service", body=lambda _, rid: {"serviceId": rid}),
    "listDeployments": Spec(),
    "getDeployment": Spec(),
    "deleteDeployment": Spec(),
    "listInstances": Spec(),
    "getUsageReport": Spec(params={"by": "provider"}),
    "listServiceStates": Spec(),
    "listNodeStates": Spec(),
    "listLinkStates": Spec(),
    "listReorchestrations": Spec(),
    "listEvents": Spec(),
    "streamEvents": Spec(params={"maxWaitS": 0}),
    "getClock": Spec(),
    "advanceClock": Spec(body={"slots": 1}),
}
"""Every secured operation of the API and how the matrix calls it."""


@dataclass(frozen=True)
class Operation:
    """An operation as the OpenAPI document has it."""

    operation_id: str
    method: str
    path: str
    scope: str | None
    success: int


def operations(document: dict[str, Any]) -> dict[str, Operation]:
    """The operations of an OpenAPI document by operationId."""
    out = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            security = op.get("security") or []
            scopes = [s for req in security for s in req.get("oauth2", [])]
            assert len(scopes) <= 1, f"{op['operationId']} needs one scope, has {scopes}"
            ok = sorted(int(c) for c in op["responses"] if str(c).startswith("2"))
            assert ok, f"{op['operationId']} documents no 2xx answer"
            out[op["operationId"]] = Operation(
                op["operationId"], method.upper(), path, scopes[0] if scopes else None, ok[0]
            )
    return out


class World:
    """A server with an operator, two providers and two terminals, and objects made on demand."""

    def __init__(self, server: Server) -> None:
        self.server = server
        url = server.database_url
        self.operator = server.client(service_create_client(url))
        self.apis = {"operator": [self.operator]}
        for role in ("provider", "terminal"):
            self.apis[role] = [server.client(self.operator.new_client(role)) for _ in range(2)]
        self.operator.advance(3)
        self.public_service = self.make("service", self.apis["provider"][1])
        self.document = self.operator.ok("GET", "/openapi.json")
        self.operations = operations(self.document)
        engine = create_engine(url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT value FROM server_keys WHERE name = 'jwt'")).one()
        self.key = row[0]
        engine.dispose()

    def close(self) -> None:
        for apis in self.apis.values():
            for api in apis:
                api.close()

    def make(self, kind: str, owner) -> str:
        """A fresh object of ``kind`` owned by ``owner``; its id."""
        if kind == "service":
            body = {**TRANSLATION, "name": f"svc-{uuid.uuid4().hex[:10]}"}
            return owner.ok("POST", "/service-catalog/v0.1/services", json=body)["serviceId"]
        if kind == "subscription":
            body = {"serviceId": self.public_service, "cell": "T0"}
            made = owner.ok("POST", "/service-subscriptions/v0.1/service-subscriptions", json=body)
            return made["subscriptionId"]
        if kind == "request":
            body = {"serviceId": self.public_service, **SESSION}
            return owner.ok("POST", "/service-requests/v0.1/requests", json=body)["requestId"]
        if kind in ("compute-session", "sensing-session"):
            api = f"/{kind}s/v0.1/sessions"
            body = {"serviceId": self.public_service, **SESSION}
            return owner.ok("POST", api, json=body)["sessionId"]
        if kind == "deployment":
            service = self.make("service", owner)
            body = {"serviceId": service}
            return owner.ok("POST", "/service-deployments/v0.1/deployments", json=body)[
                "deploymentId"
            ]
        raise AssertionError(kind)

    def other_owner(self, kind: str):
        """A client that owns objects of ``kind`` and never calls in the matrix."""
        role = next(r for r in SCOPES[CREATE_SCOPE[kind]] if r != "operator")
        return self.apis[role][1]

    def bad_tokens(self) -> dict[str, dict[str, str]]:
        """Headers of callers without a valid token."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": ISSUER,
            "sub": self.operator.client_id,
            "role": "operator",
            "scope": " ".join(SCOPES),
            "iat": now,
            "exp": now + 600,
        }
        forged = jwt.encode(claims, "x" * 64, algorithm="HS256")  # another key
        expired = issue_token(self.key, self.operator.client_id, "operator", ttl_s=-60)
        return {
            "no token": {},
            "malformed": {"Authorization": "Bearer not-a-token"},
            "basic": {"Authorization": "Basic b3BzOnNlY3JldA=="},
            "forged": {"Authorization": f"Bearer {forged}"},
            "expired": {"Authorization": f"Bearer {expired['access_token']}"},
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("authz")
    with fresh_database("sqlite", tmp) as url:
        server = Server(url, tmp / "server.log").start()
        try:
            w = World(server)
            yield w
            w.close()
        finally:
            server.stop()


def resource_of(op: Operation, spec: Spec) -> tuple[str | None, str | None]:
    """The kind of object the operation is about and the path parameter naming it."""
    params = [p.strip("{}") for p in op.path.split("/") if p.startswith("{")]
    assert len(params) <= 1, op
    if not params:
        return spec.resource, None
    param = params[0]
    if param == "sessionId":
        return op.path.split("/")[1].removesuffix("s"), param
    return RESOURCE_OF_PARAM[param], param


def expected(op: Operation, role: str | None, relation: str) -> int:
    """The status the matrix expects: from the scope and the roles that carry it."""
    if role is None:
        return 401
    if op.scope is not None and role not in SCOPES[op.scope]:
        return 403
    if relation == "other" and role != "operator":
        return 404
    return op.success


def test_every_operation_is_in_the_matrix(world):
    found = world.operations
    secured = {name for name, op in found.items() if op.scope is not None}
    assert secured == set(OPS), (
        f"not in the matrix: {sorted(secured - set(OPS))}; gone from the API: "
        f"{sorted(set(OPS) - secured)}"
    )
    assert set(found) - secured == PUBLIC
    for op in found.values():
        assert op.scope is None or op.scope in SCOPES, op
    assert {op.scope for op in found.values() if op.scope} == set(SCOPES)
    declared = world.document["components"]["securitySchemes"]["oauth2"]["flows"]
    assert set(declared["clientCredentials"]["scopes"]) == set(SCOPES)


def test_a_token_carries_its_roles_scopes(world):
    for role in ROLES:
        for api in world.apis[role]:
            token = api.headers["Authorization"].removeprefix("Bearer ")
            claims = jwt.decode(token, options={"verify_signature": False})
            assert claims["role"] == role
            assert set(claims["scope"].split()) == set(role_scopes(role))


@pytest.mark.parametrize("operation_id", sorted(OPS))
def test_authorisation(world, operation_id):
    op = world.operations[operation_id]
    spec = OPS[operation_id]
    kind, param = resource_of(op, spec)
    cases: list[tuple[str, Any, str | None, str]] = []  # (who, api or headers, role, relation)
    for role in ROLES:
        caller = world.apis[role][0]
        if kind is None:
            cases.append((role, caller, role, "-"))
            continue
        if role in SCOPES[CREATE_SCOPE[kind]]:
            cases.append((role, caller, role, "own"))
        cases.append((role, caller, role, "other"))
    for who, headers in world.bad_tokens().items():
        cases.append((who, headers, None, "other" if kind else "-"))

    wrong = []
    for who, caller, role, relation in cases:
        rid = None
        if kind is not None:
            owner = caller if relation == "own" else world.other_owner(kind)
            rid = world.make(kind, owner)
        path = op.path if param is None else op.path.replace(f"{{{param}}}", rid)
        body = spec.body(world, rid) if callable(spec.body) else spec.body
        if (
            spec.place_caller
            and role is not None
            and role in SCOPES["service-subscriptions:locations:update"]
        ):
            caller.ok("PUT", "/service-subscriptions/v0.1/location", json={"cell": "T1"})
        kwargs: dict[str, Any] = {"params": spec.params}
        if body is not None:
            kwargs["json"] = body
        if role is None:
            r = world.operator.http.request(op.method, path, headers=caller, **kwargs)
        else:
            r = caller.request(op.method, path, **kwargs)
        want = expected(op, role, relation)
        problem = None
        if r.status_code != want:
            problem = f"got {r.status_code}: {r.text[:300]}"
        elif want >= 400:
            code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}[want]
            if r.json().get("code") != code:
                problem = f"code {r.json().get('code')}, not {code}"
            elif want == 401 and r.headers.get("www-authenticate") != "Bearer":
                problem = "401 without WWW-Authenticate: Bearer"
        if problem:
            wrong.append(f"{who} ({relation}): expected {want}, {problem}")
    assert not wrong, f"{op.method} {op.path} (scope {op.scope}):\n" + "\n".join(wrong)


LISTS = {
    "/service-catalog/v0.1/services": ("service", "serviceId"),
    "/service-subscriptions/v0.1/service-subscriptions": ("subscription", "subscriptionId"),
    "/compute-sessions/v0.1/sessions": ("compute-session", "sessionId"),
    "/sensing-sessions/v0.1/sessions": ("sensing-session", "sessionId"),
    "/service-deployments/v0.1/deployments": ("deployment", "deploymentId"),
}


@pytest.mark.parametrize("path", sorted(LISTS))
def test_a_list_shows_a_client_its_own_objects_only(world, path):
    kind, key = LISTS[path]
    role = next(r for r in SCOPES[CREATE_SCOPE[kind]] if r != "operator")
    mine, theirs = world.apis[role]
    a, b = world.make(kind, mine), world.make(kind, theirs)
    seen = {x[key] for x in mine.ok("GET", path, params={"perPage": 100})}
    assert a in seen
    assert b not in seen
    total = int(world.operator.get(path, params={"perPage": 1}).headers["X-Total-Count"])
    assert total >= 2
