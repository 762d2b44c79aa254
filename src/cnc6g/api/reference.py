"""The HTTP API reference page, generated from the OpenAPI document the server serves.

The documentation site builds ``http-reference.md`` and ``openapi.json`` from here
(``docs/hooks.py``): the document is the one ``cnc6g serve`` answers at ``/openapi.json``, made
by the same app over an in-memory database that is never set up (nothing is written, no
server starts), and the page lists every operation with its scope, the roles whose tokens
carry that scope and the statuses it answers.
"""

from __future__ import annotations

from typing import Any

from cnc6g.control.security import SCOPES

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
                f"| `{method.upper()} {path}` | {_cell(_what(op))} "
                f"| {', '.join(f'`{s}`' for s in scopes) or 'none'} "
                f"| {', '.join(roles) or 'anyone'} "
                f"| {', '.join(sorted(op.get('responses', {})))} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _what(op: dict[str, Any]) -> str:
    """The operation's summary and the first paragraph of its description."""
    summary = str(op.get("summary", "")).strip()
    first = str(op.get("description", "")).strip().split("\n\n")[0]
    text = " ".join(first.split()).replace("``", "`")
    if summary and text and not text.lower().startswith(summary.lower()):
        return f"{summary}: {text}"
    return text or summary


def _cell(value: str) -> str:
    return value.replace("|", "\\|")
