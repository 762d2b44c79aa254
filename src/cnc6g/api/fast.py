"""The unified service request's route without the router and the dependency machinery.

``POST /service-requests/v0.1/requests`` is the request a terminal sends most. FastAPI answers it
through its route table (a match per route until this one), its dependency resolution (the
plane, the caller and its scope, the ``Idempotency-Key`` header, the body) and its exception
middlewares: about half of the event loop's work on such a request. :class:`UnifiedRequest`
answers a request the route would accept as the route does, with the same steps in the same
order and the same answer; every other request goes on to the route, which answers it (its
OpenAPI operation stays the route's).

A request is taken here only when nothing about it can fail before the caller is authenticated:
a JSON object body that validates as a :class:`~cnc6g.control.schemas.ServiceRequest`, an
``Idempotency-Key`` absent or well formed, and a bearer token given. The rest is the route's
own sequence: authenticate (which takes a token from the client's rate limit), check the scope,
run the operation in the thread pool, answer ``201`` with ``Location``; an error the operation
or the check raises gets its error body as the API's handler writes it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from cnc6g.api.deps import IDEMPOTENCY_KEY
from cnc6g.api.problems import error_response, replay_body
from cnc6g.api.routes.common import answer_created, idempotency
from cnc6g.control import sessions
from cnc6g.control.errors import ControlError
from cnc6g.control.plane import ControlPlane
from cnc6g.control.schemas import ServiceRequest

log = logging.getLogger(__name__)

PATH = "/service-requests/v0.1/requests"
SCOPE = "service-requests:requests:create"
"""The route's scope (:func:`cnc6g.api.routes.terminals.request_service`)."""
_KEY = re.compile(IDEMPOTENCY_KEY)


def _location(data: dict[str, Any]) -> str:
    return f"{PATH}/{data['requestId']}"


class UnifiedRequest:
    """ASGI middleware: the unified service request answered as its route answers it.

    Args:
        app: the rest of the app (the route answers what is not taken here).
        plane: the control plane.
    """

    def __init__(self, app: ASGIApp, plane: ControlPlane) -> None:
        self.app = app
        self.plane = plane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a well-formed unified service request; pass anything else on."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        request = Request(scope)
        taken = self._well_formed(request, raw)
        if taken is None:
            await self.app(scope, replay_body(raw, receive), send)
            return
        body, token, key = taken
        try:
            principal = self.plane.authenticate(token)
            principal.require(SCOPE)
            idem = idempotency(request, principal, key, body, 201)
            result, replayed = await run_in_threadpool(
                self.plane.run, sessions.request_service, principal, body, idempotency=idem
            )
            response = answer_created(result, replayed, 201, _location)
        except ControlError as err:
            response = error_response(err.status, err.code, err.message, request)
        except Exception as err:
            log.exception("unexpected error", exc_info=err)
            response = error_response(500, "INTERNAL", "unexpected error; it was logged", request)
        await response(scope, receive, send)

    @staticmethod
    def _well_formed(request: Request, raw: bytes) -> tuple[ServiceRequest, str, str | None] | None:
        """The body, the bearer token and the idempotency key; None: leave it to the route."""
        authorization = request.headers.get("authorization")
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        key = request.headers.get("idempotency-key")
        if key is not None and not _KEY.fullmatch(key):
            return None
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        try:
            body = ServiceRequest.model_validate(data)
        except ValidationError:
            return None
        return body, authorization[7:].strip(), key
