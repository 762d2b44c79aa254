"""Schemathesis over the served OpenAPI document, against ``cnc6g serve`` on loopback.

Every operation of the document gets cases generated from its schema, valid ones and ones that
break it, each sent with the token of a role whose scope allows the operation (an operation
several roles may call is tried with each). Path parameters name real objects (made first, by
their owners) in some cases and made-up ids in the others. Every response is checked with all
of Schemathesis's response checks: no 5xx, the status code documented, the body and headers as
the document says, data off the schema refused, data on it accepted. "Accepted" counts a 422
too: a body can keep to its schema and still not make sense to the live system (a cell it does
not have, a service type that runs nowhere the terminal reaches), and 422 says exactly that; a
400 for data that keeps to the schema fails the test, since it means the document does not say
what the API checks.

The run generates at least :data:`MIN_CASES` cases. Two operations are bounded, not excluded:
the manual clock is advanced by 1 to 3 slots (up to 1000 are allowed, and a case that runs
1000 slots of the twin takes seconds), and the event stream is read with ``maxWaitS=0`` (its
default waits 30 s for events).
"""

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from harness import TRANSLATION, Server, service_create_client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from cnc6g.control.security import SCOPES

EXAMPLES = 25
"""Cases per operation and generation mode (valid, invalid)."""

MIN_CASES = 1000
"""Cases a run must generate in all."""

CONFIG = {
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
        }
    }
}
"""Schemathesis's checks, all on; a schema-valid body may also be answered 422 (see above)."""

PATH_OBJECTS = {
    "serviceId": "service",
    "serviceSubscriptionId": "subscription",
    "requestId": "request",
    "deploymentId": "deployment",
}


def _world(server: Server) -> dict[str, Any]:
    """Tokens of an operator, a provider and a terminal, and an object of each kind."""
    ops = service_create_client(server.database_url, "operator")
    with server.client(ops) as operator:
        provider = server.client(operator.new_client("provider"))
        terminal = server.client(operator.new_client("terminal"))
        operator.advance(2)
        service = provider.ok("POST", "/service-catalog/v0.1/services", json=TRANSLATION)
        sid = service["serviceId"]
        subscription = terminal.ok(
            "POST",
            "/service-subscriptions/v0.1/service-subscriptions",
            json={"serviceId": sid, "cell": "T0"},
        )
        request = terminal.ok(
            "POST",
            "/service-requests/v0.1/requests",
            json={"serviceId": sid, "ratePerSecond": 0.1, "duration": 600},
        )
        sensing = terminal.ok(
            "POST",
            "/sensing-sessions/v0.1/sessions",
            json={"serviceId": sid, "ratePerSecond": 0.1, "duration": 600},
        )
        deployment = provider.ok(
            "POST", "/service-deployments/v0.1/deployments", json={"serviceId": sid}
        )
        headers = {
            "operator": operator.headers,
            "provider": provider.headers,
            "terminal": terminal.headers,
        }
        provider.close()
        terminal.close()
    return {
        "headers": headers,
        "ids": {
            "service": sid,
            "subscription": subscription["subscriptionId"],
            "request": request["requestId"],
            "compute-sessions": request["session"]["sessionId"],
            "sensing-sessions": sensing["sessionId"],
            "deployment": deployment["deploymentId"],
        },
    }


def _real_ids(path: str, names: list[str], ids: dict[str, str]) -> dict[str, str] | None:
    """Path parameters that name the world's objects, or None if some parameter names none."""
    real = {}
    for name in names:
        kind = PATH_OBJECTS.get(name) or (path.split("/")[1] if name == "sessionId" else None)
        if kind not in ids:
            return None
        real[name] = ids[kind]
    return real


def _strategy(operation: Any, mode: GenerationMode, ids: dict[str, str]) -> Any:
    """Cases of ``operation`` in ``mode``, some on real objects."""
    oid = operation.definition.raw.get("operationId")
    if oid == "advanceClock":
        return st.integers(1, 3).flatmap(
            lambda n: operation.as_strategy(generation_mode=mode, body={"slots": n})
        )
    kwargs: dict[str, Any] = {}
    if oid == "streamEvents":
        kwargs["query"] = {"maxWaitS": 0}
    made_up = operation.as_strategy(generation_mode=mode, **kwargs)
    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "path"]
    real = _real_ids(operation.path, names, ids) if names else None
    if real is None:
        return made_up
    return st.one_of(
        made_up, operation.as_strategy(generation_mode=mode, path_parameters=real, **kwargs)
    )


def _roles(operation: Any) -> list[str]:
    """The roles whose tokens carry the operation's scope (none: the operation is public)."""
    security = operation.definition.raw.get("security")
    if not security:
        return ["operator"]
    (scope,) = security[0]["oauth2"]
    return list(SCOPES[scope])


def _title(err: BaseException) -> str:
    failures = getattr(err, "exceptions", None)
    if failures:
        return "; ".join(sorted({getattr(f, "title", type(f).__name__) for f in failures}))
    return f"{type(err).__name__}: {err}"


@pytest.fixture
def fuzzed(database_url, tmp_path):
    """A server on a fresh database, its OpenAPI document loaded, and the world made on it."""
    server = Server(database_url, tmp_path / "server.log")
    server.start()
    try:
        schema = schemathesis.openapi.from_url(
            f"{server.url}/openapi.json", config=schemathesis.Config.from_dict(CONFIG)
        )
        yield server, schema, _world(server)
    finally:
        server.stop()
        sys.stderr.write(f"--- server on {database_url}\n{server.output()}\n")


@dataclass
class Tally:
    """What a run did: cases per operation, statuses answered, failures by kind."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _fuzz(url: str, world: dict[str, Any], operation: Any, mode: GenerationMode, tally: Tally):
    """Run the cases of ``operation`` in ``mode``; every failure goes to ``tally``."""
    oid = operation.definition.raw["operationId"]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, mode, world["ids"]), role=st.sampled_from(_roles(operation)))
    def run(case: Any, role: str) -> None:
        tally.cases[oid] += 1
        try:
            response = case.call_and_validate(
                base_url=url, headers=world["headers"][role], timeout=30
            )
            tally.statuses[response.status_code] += 1
        except Exception as err:  # every failure of every operation is reported
            tally.failures.setdefault((oid, mode.value, _title(err)), str(err)[:3000])

    try:
        run()
    except Unsatisfiable:  # nothing to break: an operation without parameters
        assert mode is GenerationMode.NEGATIVE, oid


def test_generated_requests_are_answered_as_documented(fuzzed):
    server, schema, world = fuzzed
    tally = Tally()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(server.url, world, operation, mode, tally)
    elapsed = time.monotonic() - started
    total = sum(tally.cases.values())
    sys.stderr.write(
        f"{total} cases in {elapsed:.1f} s, {len(tally.cases)} operations, {tally.statuses}\n"
    )
    report = "\n\n".join(
        f"{oid} ({mode}): {title}\n{text}" for (oid, mode, title), text in tally.failures.items()
    )
    assert not tally.failures, f"{len(tally.failures)} kinds of failure:\n{report}"
    assert total >= MIN_CASES
    assert all(code < 500 for code in tally.statuses)
    assert any(200 <= code < 300 for code in tally.statuses)
