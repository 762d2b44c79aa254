"""The OpenAPI document: every error an operation can answer, each with the ``ErrorInfo`` body.

FastAPI documents what routes declare, and a 422 with its own validation body that this API
never sends. :func:`document_errors` makes the document say what the API does: every operation
may answer 400 (a bad ``x-correlator``, a query or header off its schema); one that needs a
token 401, 403 and 429; one with a request body 413, 415 and 422 (too large, another media type,
a body that keeps to its schema but makes no sense); one that takes an ``Idempotency-Key`` 409
(the key used for another request). Every error response has the one ``ErrorInfo`` body.

FastAPI also documents an optional query or header parameter as "a string or null"; a header or
a query has no null, it is left out. :func:`plain_parameters` documents such a parameter as what
it is when given.
"""

from __future__ import annotations

from typing import Any

from cnc6g.api.problems import STATUS_CODES

ERROR_TEXT = {
    "400": "invalid argument: a value off its schema (the message names it)",
    "401": "no valid credentials",
    "403": "the token lacks the operation's scope",
    "404": "no such object, or one of another client",
    "409": "changed since read, already exists, in the wrong state, or an Idempotency-Key "
    "used for another request",
    "413": "the request body is over 1 MiB",
    "415": "the request body is not in the media type the operation reads",
    "422": "keeps to the schema but cannot be done (the code says why)",
    "429": "too many requests",
}
"""What each error status means, for the document."""

ERROR_REF = {"$ref": "#/components/schemas/ErrorInfo"}

FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
"""FastAPI's validation error bodies, which this API does not send."""


def _error(code: str) -> dict[str, Any]:
    return {
        "description": ERROR_TEXT.get(code, STATUS_CODES.get(int(code), "error")),
        "content": {"application/json": {"schema": ERROR_REF}},
    }


def document_errors(document: dict[str, Any], error_schema: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every operation's errors documented (see the module's text).

    Args:
        document: the OpenAPI document FastAPI made (changed in place).
        error_schema: the JSON schema of ``ErrorInfo``.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas["ErrorInfo"] = error_schema
    for operations in document.get("paths", {}).values():
        for op in operations.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses: dict[str, Any] = op["responses"]
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]  # FastAPI's own, for a body this API answers 400 or 422
            codes = {"400"}
            if op.get("security"):
                codes |= {"401", "403", "429"}
            if "requestBody" in op:
                codes |= {"413", "415", "422"}
            names = {p.get("name", "").lower() for p in op.get("parameters", [])}
            if "idempotency-key" in names:
                codes.add("409")
            codes |= {c for c in responses if c.startswith("4")}
            for code in sorted(codes):
                responses[code] = _error(code)
    return document


def plain_parameters(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each optional parameter's schema the value's, without ``null``.

    Args:
        document: the OpenAPI document (changed in place).
    """
    for operations in document.get("paths", {}).values():
        for op in operations.values():
            if not isinstance(op, dict):
                continue
            for parameter in op.get("parameters", []):
                schema = parameter.get("schema", {})
                options = schema.get("anyOf")
                if not options:
                    continue
                values = [o for o in options if o.get("type") != "null"]
                if len(values) == 1 and len(values) < len(options):
                    del schema["anyOf"]
                    schema.update(values[0])
    return document
