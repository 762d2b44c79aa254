"""The generated HTTP API reference: the served OpenAPI document, every operation on the page."""

import re

from fastapi.testclient import TestClient

from cnc6g.api import create_app
from cnc6g.api.reference import METHODS, http_reference, openapi_document
from cnc6g.control import ControlPlane, Settings
from cnc6g.control.security import SCOPES
from cnc6g.storage import Database


def test_the_document_is_the_one_the_app_serves(tmp_path):
    url = f"sqlite:///{tmp_path / 'control.db'}"
    settings = Settings(scenario="speech-translation", policy="grd", database_url=url)
    plane = ControlPlane(settings, Database(url))
    with TestClient(create_app(plane, run_background=False)) as client:
        served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document()


def test_every_operation_is_listed_with_its_scope_roles_and_answers():
    document = openapi_document()
    page = http_reference(document)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([A-Z]+ [^`]+)` \|.*$", page, re.M)}
    listed = 0
    for path, operations in document["paths"].items():
        for method in METHODS:
            if method not in operations:
                continue
            listed += 1
            row = rows[f"{method.upper()} {path}"]
            op = operations[method]
            for status in op["responses"]:
                assert status in row
            scopes = [s for entry in op.get("security") or [] for v in entry.values() for s in v]
            if not scopes:
                assert path in ("/oauth/token", "/health"), path
                continue
            for scope in scopes:
                assert f"`{scope}`" in row
                for role in SCOPES[scope]:
                    assert role in row
    assert listed == len(rows) >= 40
    unified = rows["POST /service-requests/v0.1/requests"]
    assert "| terminal |" in unified
    assert "201" in unified
    assert "409" in unified


def test_every_schema_has_a_section_and_every_link_reaches_one():
    document = openapi_document()
    page = http_reference(document)
    sections = set(re.findall(r"^### \S+ \{#(schema-[a-z0-9_-]+)\}$", page, re.M))
    assert sections == {f"schema-{name.lower()}" for name in document["components"]["schemas"]}
    links = set(re.findall(r"\]\(#(schema-[a-z0-9_-]+)\)", page))
    assert links
    assert links <= sections
    request = page[page.index("### ServiceRequest {#schema-servicerequest}") :]
    request = request[: request.index("\n### ")]
    rate = "| `ratePerSecond` | number | yes | tasks the terminal will send per second; > 0"
    assert rate in request
    assert "No other fields" in request
    unified = page[page.index("**`POST /service-requests/v0.1/requests`**") :]
    assert "Body: [ServiceRequest](#schema-servicerequest)" in unified
    assert "| `Idempotency-Key` | header | string | no |" in unified
