"""The HTTP API reference page, generated from the OpenAPI document the server serves.

The documentation site builds ``http-reference.md`` and ``openapi.json`` from here
(``docs/hooks.py``): the document is the one ``cnc6g serve`` answers at ``/openapi.json``, made
by the same app over an in-memory database that is never set up (nothing is written, no
server starts), and the page lists every operation with its scope, the roles whose tokens
carry that scope and the statuses it answers, then its parameters, body and answer, and every
schema with its fields, their types, constraints and meaning.
"""

from __future__ import annotations

from typing import Any

from cnc6g.control.security import SCOPES
from cnc6g.scenarios.reference import markdown_text, table_cell

METHODS = ("get", "put", "post", "patch", "delete")
"""HTTP methods in the order the page lists an operation's."""


def openapi_document(scenario: str = "speech-translation") -> dict[str, Any]:
    """The OpenAPI document of the control plane over ``scenario`` (``serve``'s default)."""
    from cnc6g.api.app import create_app
    from cnc6g.control import ControlPlane, Settings
    from cnc6g.storage import Database

    url = "sqlite://"  # in memory, never set up: building the document reads nothing
    settings = Settings(scenario=scenario, policy="grd", database_url=url, clock="manual", seed=0)
    plane = ControlPlane(settings, Database(url))
    try:
        document: dict[str, Any] = create_app(plane, run_background=False).openapi()
    finally:
        plane.db.dispose()
    return document


def http_reference(document: dict[str, Any]) -> str:
    """Markdown of every operation of ``document``, grouped by API (the operations' tag)."""
    info = document.get("info", {})
    lines = [
        "# HTTP API reference",
        "",
        f"Generated when the site is built from the OpenAPI document of the "
        f"{info.get('title', 'API')},",
        f"version {info.get('version', '?')}: [openapi.json](openapi.json), the document `cnc6g "
        "serve` answers at",
        "`/openapi.json` (its interactive documentation is at `/docs`). How the APIs are used,",
        "their conventions and security: [the control plane](control-plane.md).",
        "",
        "An operation needs a bearer token (`POST /oauth/token`, OAuth2 client credentials) that",
        "carries its scope; the roles column says whose tokens do. Every error answer has the body",
        "`ErrorInfo` (`status`, `code`, `message`).",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method in METHODS:
            if method in operations:
                op = operations[method]
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append((method, path, op))
    for tag, operations in by_tag.items():
        lines += [
            f"## {tag}",
            "",
            "| operation | what it does | scope | roles | answers |",
            "|---|---|---|---|---|",
        ]
        for method, path, op in operations:
            scopes = [s for entry in op.get("security") or [] for v in entry.values() for s in v]
            roles = sorted({r for s in scopes for r in SCOPES.get(s, ())})
            lines.append(
                f"| `{method.upper()} {path}` | {table_cell(_what(op))} "
                f"| {', '.join(f'`{s}`' for s in scopes) or 'none'} "
                f"| {', '.join(roles) or 'anyone'} "
                f"| {', '.join(sorted(op.get('responses', {})))} |"
            )
        lines.append("")
        for method, path, op in operations:
            lines += _operation_details(method, path, op)
    lines += _schemas(document.get("components", {}).get("schemas", {}))
    return "\n".join(lines).rstrip() + "\n"


def _operation_details(method: str, path: str, op: dict[str, Any]) -> list[str]:
    """An operation's parameters, body and answer schemas (nothing where it has none)."""
    params = [
        f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} "
        f"| {'yes' if p.get('required') else 'no'} | {table_cell(_describe(p))} |"
        for p in op.get("parameters", [])
    ]
    body = _content_schema(op.get("requestBody", {}))
    answers = [
        f"{status} {_content_schema(answer) or 'no body'}"
        for status, answer in sorted(op.get("responses", {}).items())
        if status.startswith("2")
    ]
    if not params and not body and not answers:
        return []
    out = [f"**`{method.upper()} {path}`**", ""]
    if params:
        head = ["| parameter | in | type | required | meaning |", "|---|---|---|---|---|"]
        out += [*head, *params, ""]
    if body:
        out += [f"Body: {body}."]
    out += [f"Answers: {'; '.join(answers)}; errors `ErrorInfo`.", ""]
    return out


def _content_schema(part: dict[str, Any]) -> str:
    """The schema of a request body or an answer, as a link to its section, with its media type."""
    for media, content in part.get("content", {}).items():
        return f"{_type(content.get('schema', {}))} (`{media}`)"
    return ""


def _schemas(schemas: dict[str, Any]) -> list[str]:
    """One section per schema: its fields with type, whether required, constraints and meaning."""
    out = ["## Schemas", ""]
    for name in sorted(schemas):
        schema = schemas[name]
        out += [f"### {name} {{#{_anchor(name)}}}", ""]
        if schema.get("description"):
            out += [table_cell(markdown_text(" ".join(str(schema["description"]).split()))), ""]
        if "enum" in schema:
            out += ["One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
            continue
        properties = schema.get("properties", {})
        if not properties:
            out += [f"Type: {_type(schema)}.", ""]
            continue
        required = set(schema.get("required", []))
        out += ["| field | type | required | meaning |", "|---|---|---|---|"]
        for field, spec in properties.items():
            out.append(
                f"| `{field}` | {_type(spec)} | {'yes' if field in required else 'no'} "
                f"| {table_cell(_describe(spec))} |"
            )
        if schema.get("additionalProperties") is False:
            out += ["", "No other fields (a request body with one is answered 400)."]
        out.append("")
    return out


def _type(schema: dict[str, Any]) -> str:
    """A schema's type in words: a link to a named schema, an array of one, a union."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_type(s) for s in schema[key] if s.get("type") != "null"]
            nullable = any(s.get("type") == "null" for s in schema[key])
            return " or ".join(kinds) + (" or null" if nullable else "")
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _describe(spec: dict[str, Any]) -> str:
    """A field's or parameter's meaning with its constraints and default."""
    inner = spec.get("schema", spec)
    text = markdown_text(
        " ".join(str(spec.get("description") or inner.get("description") or "").split())
    )
    facts = []
    for key, word in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
        ("minLength", "length >="),
        ("maxLength", "length <="),
        ("minItems", "items >="),
        ("maxItems", "items <="),
    ):
        if key in inner:
            facts.append(f"{word} {_number(inner[key])}")
    if "pattern" in inner:
        facts.append(f"pattern `{inner['pattern']}`")
    if "enum" in inner:
        facts.append("one of " + ", ".join(f"`{v}`" for v in inner["enum"]))
    if "default" in inner:
        facts.append(f"default `{inner['default']}`")
    return "; ".join(x for x in (text, ", ".join(facts)) if x)


def _anchor(name: str) -> str:
    """The id of a schema's section (apart from the APIs' sections: ``usage`` is both)."""
    return f"schema-{name.lower()}"


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _what(op: dict[str, Any]) -> str:
    """The operation's summary and the first paragraph of its description."""
    summary = str(op.get("summary", "")).strip()
    first = str(op.get("description", "")).strip().split("\n\n")[0]
    text = markdown_text(" ".join(first.split()))
    if summary and text and not text.lower().startswith(summary.lower()):
        return f"{summary}: {text}"
    return text or summary
