"""The control plane's HTTP API: one FastAPI app with several small CAMARA-style APIs.

Every API lives under ``/<api-name>/v0.1``; bodies are camelCase JSON with unknown fields
rejected; every error is one body, ``{status, code, message}`` (CAMARA ``ErrorInfo``), whose
message names the field at fault; an ``x-correlator`` header is echoed back; access is by
OAuth2 client credentials (``POST /oauth/token``) with one scope per operation. Routes are thin:
each calls one operation of the service layer (:mod:`cnc6g.control`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from cnc6g import __version__
from cnc6g.api.fast import UnifiedRequest
from cnc6g.api.openapi import document_errors, plain_parameters
from cnc6g.api.problems import STATUS_CODES, BodyGuard, Correlator, error_response
from cnc6g.api.routes.catalog import clients, services
from cnc6g.api.routes.common import errors
from cnc6g.api.routes.operations import clock, deploys, monitor, usage
from cnc6g.api.routes.terminals import requests, session_router, subs
from cnc6g.control.errors import ControlError, InvalidArgument, Unauthenticated
from cnc6g.control.events import Deliverer
from cnc6g.control.plane import ControlPlane
from cnc6g.control.runtime import SlotEngine
from cnc6g.control.schemas import UNPROCESSABLE, ErrorInfo, SessionKind, TokenResponse
from cnc6g.control.security import check_secret, issue_token
from cnc6g.storage.tables import Client

log = logging.getLogger(__name__)

TOKEN_CHALLENGE = 'Basic realm="cnc6g"'
"""How the token endpoint asks for client credentials (RFC 6749, 5.2: ``invalid_client``)."""


def _field(loc: tuple[Any, ...]) -> str:
    """A validation error's location as a field path: ``body.workflow.steps[0].function``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def create_app(plane: ControlPlane, run_background: bool = True) -> FastAPI:
    """The API over ``plane`` (set up and started with the app's lifespan).

    Args:
        plane: the control plane.
        run_background: start the slot clock and the event deliverer with the app.
    """
    engine = SlotEngine(plane)
    deliverer = Deliverer(plane.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        del app
        plane.setup()
        _ = plane.key  # the signing key, read now rather than by a request on the event loop
        if run_background:
            engine.start()
            deliverer.start()
        try:
            yield
        finally:
            engine.stop()
            deliverer.stop()
            plane.db.dispose()

    app = FastAPI(
        title="cnc6g control plane",
        version=__version__,
        description=(
            "Terminal-network coordination over a live twin: service registration, "
            "subscriptions, discovery, the unified service request, compute and sensing "
            "sessions, deployments, metering and monitoring. CAMARA-style APIs, OAuth2 client "
            "credentials, CloudEvents."
        ),
        lifespan=lifespan,
    )
    app.state.plane = plane
    app.state.engine = engine
    app.state.deliverer = deliverer

    @app.exception_handler(ControlError)
    async def control_error(request: Request, err: ControlError) -> JSONResponse:
        return error_response(err.status, err.code, err.message, request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        """400 for a request off its schema; 422 for one that keeps to it but makes no sense."""
        errors = err.errors()
        semantic = bool(errors) and all(e.get("type") == UNPROCESSABLE for e in errors)
        problems = []
        for e in errors[:5]:
            loc = tuple(e.get("loc", ()))
            where = _field(loc[1:] if loc and loc[0] == "body" else loc)
            message = str(e.get("msg", "invalid"))
            if e.get("type") == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{where}: {message}" if where else message)
        text = "; ".join(problems) or "invalid request"
        if semantic:
            return error_response(422, "UNPROCESSABLE_ENTITY", text, request)
        return error_response(400, "INVALID_ARGUMENT", text, request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(err.status_code, "INVALID_ARGUMENT")
        headers = dict(err.headers or {})
        if err.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(_methods(app, request))
        return error_response(err.status_code, code, str(err.detail), request, headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=err)
        return error_response(500, "INTERNAL", "unexpected error; it was logged", request)

    @app.post(
        "/oauth/token",
        response_model=TokenResponse,
        tags=["oauth"],
        responses=errors(400, 401),
        operation_id="issueToken",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token(request: Request) -> Any:
        """OAuth2 client credentials (RFC 6749, 4.4): a form body, credentials in it or Basic.

        A client that fails to authenticate is answered 401 with a ``Basic`` challenge.
        """
        raw = (await request.body())[:8192].decode("utf-8", errors="replace")
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("grant_type") != "client_credentials":
            raise InvalidArgument("grant_type: must be client_credentials", field="grant_type")
        try:
            client_id, secret = _client_credentials(request, form)
        except Unauthenticated as err:
            headers = {"WWW-Authenticate": TOKEN_CHALLENGE, "Cache-Control": "no-store"}
            return error_response(err.status, err.code, err.message, request, headers)

        def check(p: ControlPlane, s: Any) -> dict[str, object] | None:
            row = s.get(Client, client_id)
            if row is None or not check_secret(secret, row.secret_hash):
                return None
            return issue_token(p.key, row.client_id, row.role)

        from fastapi.concurrency import run_in_threadpool

        result = await run_in_threadpool(lambda: plane.run(check, write=False)[0])
        if result is None:
            return error_response(
                401,
                "UNAUTHENTICATED",
                "unknown client or wrong secret",
                request,
                {"WWW-Authenticate": TOKEN_CHALLENGE, "Cache-Control": "no-store"},
            )
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    @app.get("/health", tags=["health"], operation_id="health")
    def health() -> dict[str, Any]:
        """Liveness: the process answers; whether it runs the slot loop."""
        return {"status": "UP", "leader": engine.leader, "slotsRun": engine.slots_run}

    routers = (
        clients,
        services,
        subs,
        requests,
        session_router(SessionKind.compute),
        session_router(SessionKind.sensing),
        deploys,
        usage,
        monitor,
        clock,
    )
    for router in routers:
        app.include_router(router)
    app.state.operations = [
        route
        for route in [*app.router.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, Route)
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            error_schema = ErrorInfo.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = plain_parameters(document_errors(document, error_schema))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(UnifiedRequest, plane=plane)
    app.add_middleware(Correlator)
    app.add_middleware(BodyGuard)
    return app


def _methods(app: FastAPI, request: Request) -> list[str]:
    """The methods the operations of the request's path take."""
    methods: set[str] = set()
    for route in app.state.operations:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """The client id and secret of a token request: HTTP Basic, or the form's fields.

    Raises:
        Unauthenticated: none given, malformed, or not something a client id can be.
    """
    client_id, secret = form.get("client_id"), form.get("client_secret")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(auth[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        client_id, _, secret = decoded.partition(":")
    if not client_id or not secret:
        raise Unauthenticated("send client_id and client_secret (form fields or HTTP Basic)")
    if len(client_id) > 64 or "\x00" in client_id:
        raise Unauthenticated("unknown client or wrong secret")
    return client_id, secret
