"""Errors of the control plane's operations, each with its status and CAMARA-style code.

The service layer raises them; the HTTP API turns them into the one error body
(``status``, ``code``, ``message``) and other front ends (the CLI, agent tools) report them
with the same code.
"""

from __future__ import annotations


class ControlError(Exception):
    """An operation that cannot be done; nothing was changed.

    Attributes:
        status: the HTTP status that reports it.
        code: CAMARA-style code (``INVALID_ARGUMENT``, ``NOT_FOUND``, ``API_NAME.CODE``...).
        message: what is wrong, naming the field where one is at fault.
        field: the field at fault, if any (dotted path in the request body).
    """

    status = 400
    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidArgument(ControlError):
    """A value is not acceptable (400)."""


class Unauthenticated(ControlError):
    """No valid credentials (401)."""

    status, code = 401, "UNAUTHENTICATED"


class PermissionDenied(ControlError):
    """The credentials do not allow the operation (403)."""

    status, code = 403, "PERMISSION_DENIED"


class NotFound(ControlError):
    """No such object, or not one the caller may see (404)."""

    status, code = 404, "NOT_FOUND"


class Conflict(ControlError):
    """The object changed since it was read, already exists, or is in the wrong state (409)."""

    status, code = 409, "CONFLICT"


class Unprocessable(ControlError):
    """A valid request the system cannot satisfy (422)."""

    status, code = 422, "UNPROCESSABLE_ENTITY"


class TooManyRequests(ControlError):
    """The client exceeded its rate (429)."""

    status, code = 429, "TOO_MANY_REQUESTS"


class Unavailable(ControlError):
    """The operation needs something that is not running here now (503)."""

    status, code = 503, "UNAVAILABLE"
