"""The one error body of the HTTP API and what guards every request before its route runs.

Every error is CAMARA's ``ErrorInfo``, ``{status, code, message}``. :class:`BodyGuard` refuses,
before any route reads them, a request body over :data:`MAX_BODY_BYTES` (413) and one in a media
type the route does not read (415): JSON everywhere, a form at the OAuth token endpoint.
:class:`Correlator` echoes a request's ``x-correlator`` on its answer and refuses a malformed one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORRELATOR = re.compile(r"^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$")
"""What an ``x-correlator`` header may be (CAMARA's pattern)."""

STATUS_CODES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
}
"""The code of an error body for each status that has no more specific one."""

MAX_BODY_BYTES = 1 << 20
"""The largest request body taken (1 MiB); a larger one is answered 413."""

TOKEN_PATH = "/oauth/token"
"""The OAuth2 token endpoint, which reads a form instead of JSON."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def error_response(
    status: int,
    code: str,
    message: str,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error answer: the ``ErrorInfo`` body, the request's ``x-correlator`` echoed back.

    A 401 carries a ``WWW-Authenticate`` challenge (``Bearer`` unless ``headers`` gives one).
    """
    out = dict(headers or {})
    if request is not None and "x-correlator" in request.headers:
        value = request.headers["x-correlator"]
        if CORRELATOR.match(value):
            out["x-correlator"] = value
    if status == 401:
        out.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(
        {"status": status, "code": code, "message": message[:512]},
        status_code=status,
        headers=out,
    )


def _media_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return None


def _accepts(path: str, media_type: str) -> bool:
    if path == TOKEN_PATH:
        return media_type == "application/x-www-form-urlencoded"
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving ``body`` (the request body, read whole), then what ``receive`` gives."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyGuard:
    """ASGI middleware: a request body too large (413) or in another media type (415) is refused.

    A body is at most :data:`MAX_BODY_BYTES` and in the media type the API reads, or the request
    is answered before a route sees it. The body is read here (up to one byte over the limit,
    also when it comes in chunks without a ``Content-Length``) and handed on as it came.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the body of an HTTP request, then pass the request on."""
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse_size(request, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse_size(request, scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        media_type = _media_type(scope)
        if body and (media_type is None or not _accepts(scope["path"], media_type)):
            wanted = (
                "application/x-www-form-urlencoded"
                if scope["path"] == TOKEN_PATH
                else "application/json"
            )
            response = error_response(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Content-Type: send {wanted}, not {media_type or 'none'}",
                request,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)

    async def _refuse_size(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = error_response(
            413,
            "PAYLOAD_TOO_LARGE",
            f"the request body is over {self.max_bytes} bytes",
            request,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class Correlator:
    """ASGI middleware: the request's ``x-correlator`` is echoed on the answer (CAMARA).

    A value off :data:`CORRELATOR` is answered 400 before a route sees the request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the header, then pass the request on and echo it on the answer."""
        value = None
        if scope["type"] == "http":
            for name, raw in scope.get("headers", ()):
                if name == b"x-correlator":
                    value = raw.decode("latin-1")
                    break
        if value is None:
            await self.app(scope, receive, send)
            return
        if not CORRELATOR.match(value):
            response = error_response(400, "INVALID_ARGUMENT", "x-correlator: invalid value")
            await response(scope, receive, send)
            return
        echoed = value.encode("latin-1")

        async def echo(message: Message) -> None:
            if message["type"] == "http.response.start" and echoed:
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-correlator"]
                message = {**message, "headers": [*headers, (b"x-correlator", echoed)]}
            await send(message)

        await self.app(scope, receive, echo)
