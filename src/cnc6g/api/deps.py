"""What the routes depend on: the control plane, the caller, paging, and request headers.

The dependencies that do no I/O are coroutines: FastAPI runs a plain function dependency in its
thread pool, a hand-off between threads per dependency and request, where a coroutine runs on
the event loop at once. (Verifying a token reads the signing key from the database once per
process; the app reads it when it starts.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2, SecurityScopes

from cnc6g.control.errors import Unauthenticated
from cnc6g.control.plane import ControlPlane
from cnc6g.control.security import SCOPES, Principal

oauth2 = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/oauth/token", scopes={s: s for s in SCOPES}
        )
    ),
    scheme_name="oauth2",
    auto_error=False,
)

IDEMPOTENCY_KEY = r"^[A-Za-z0-9_.:-]{1,255}$"
"""What an ``Idempotency-Key`` may be."""

REVISION = r'^(W/)?"[0-9]{1,12}"$'
"""What an ``If-Match`` may be: a revision as its ETag gives it (``"3"``)."""

OBJECT_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
"""What an object's id in a path may be (ids are UUIDs; another id names no object)."""

FUNCTION = r"^[A-Za-z0-9_.-]{1,100}$"
"""What a service type's name in a query may be."""

ObjectId = Annotated[str, Path(pattern=OBJECT_ID, description="the object's id")]
"""A path parameter that names an object."""

FunctionQuery = Annotated[
    str | None, Query(pattern=FUNCTION, description="only this service type of the live system")
]
"""The ``function`` filter of a query."""


async def plane(request: Request) -> ControlPlane:
    """The control plane the app serves."""
    cp: ControlPlane = request.app.state.plane
    return cp


PlaneDep = Annotated[ControlPlane, Depends(plane)]


async def caller(
    security_scopes: SecurityScopes,
    request: Request,
    authorization: Annotated[str | None, Depends(oauth2)],
) -> Principal:
    """The authenticated caller; the operation's scope is checked by the operation."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send an access token: Authorization: Bearer <token>")
    cp: ControlPlane = request.app.state.plane
    principal = cp.authenticate(authorization[7:].strip())
    for scope in security_scopes.scopes:
        principal.require(scope)
    return principal


def scoped(scope: str) -> object:
    """A dependency on a caller whose token carries ``scope``."""
    return Security(caller, scopes=[scope])


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="a retry with the same key and body gets the first answer again",
        ),
    ] = None,
) -> str | None:
    """The request's ``Idempotency-Key`` header (its pattern checked as a header's)."""
    return key


async def if_match(
    value: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=REVISION,
            description='the revision last read, as its ETag gives it ("3")',
        ),
    ] = None,
) -> int | None:
    """The revision an update expects, from ``If-Match: "<revision>"``."""
    if value is None:
        return None
    return int(value.removeprefix("W/").strip('"'))


class Page:
    """CAMARA paging: ``page`` from 1, ``perPage`` 1 to 100 (default 20)."""

    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        per_page: Annotated[int, Query(alias="perPage", ge=1, le=100)] = 20,
    ) -> None:
        self.page = page
        self.per_page = per_page


PageDep = Annotated[Page, Depends()]
