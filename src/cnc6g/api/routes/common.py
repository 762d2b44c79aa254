"""Helpers every router uses: run an operation, answer a creation, list with paging headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cnc6g.control.plane import ControlPlane, fingerprint
from cnc6g.control.security import Principal

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": None, "description": text}
    for code, text in {
        400: "invalid argument (the message names the field)",
        401: "no valid access token",
        403: "the token lacks the operation's scope",
        404: "no such object, or one of another client",
        409: "changed since read, already exists, or in the wrong state",
        422: "valid but cannot be done (the code says why)",
        429: "too many requests",
    }.items()
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of an operation (all with the ``ErrorInfo`` body)."""
    from cnc6g.control.schemas import ErrorInfo

    return {c: {"model": ErrorInfo, "description": ERRORS[c]["description"]} for c in codes}


def dump(model: BaseModel) -> Any:
    """A model as camelCase JSON data."""
    return model.model_dump(mode="json", by_alias=True)


def created(
    plane: ControlPlane,
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel,
    op: Callable[..., BaseModel],
    args: tuple[Any, ...],
    status: int,
    location: Callable[[dict[str, Any]], str],
    etag: Callable[[dict[str, Any]], int] | None = None,
) -> JSONResponse:
    """Run a creating operation (idempotent with ``key``) and answer it with ``Location``."""
    idem = idempotency(request, principal, key, body, status)
    result, replayed = plane.run(op, *args, idempotency=idem)
    return answer_created(result, replayed, status, location, etag)


def idempotency(
    request: Request, principal: Principal, key: str | None, body: BaseModel, status: int
) -> tuple[str, str, str, int] | None:
    """What :meth:`ControlPlane.run` needs of a creation's ``Idempotency-Key`` (None: none)."""
    if key is None:
        return None
    return principal.client_id, key, fingerprint(request.method, request.url.path, body), status


def answer_created(
    result: Any,
    replayed: bool,
    status: int,
    location: Callable[[dict[str, Any]], str],
    etag: Callable[[dict[str, Any]], int] | None = None,
) -> JSONResponse:
    """The answer to a creation: its body, ``Location``, ``ETag`` and whether it was replayed."""
    data = result if replayed else dump(result)
    headers = {"Location": location(data)}
    if etag is not None:
        headers["ETag"] = f'"{etag(data)}"'
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(data, status_code=status, headers=headers)


def listed(response: Response, result: tuple[list[Any], int]) -> list[Any]:
    """Items of one page, with the total count in ``X-Total-Count``."""
    items, total = result
    response.headers["X-Total-Count"] = str(total)
    return items


def with_etag(response: Response, revision: int) -> None:
    """Set the ETag of an object at ``revision``."""
    response.headers["ETag"] = f'"{revision}"'
