"""``service-subscriptions``, ``service-requests`` and the two session APIs."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from cnc6g.api.deps import ObjectId, PageDep, PlaneDep, idempotency_key, if_match, scoped
from cnc6g.api.routes.common import created, errors, listed, with_etag
from cnc6g.control import sessions, subscriptions
from cnc6g.control.schemas import (
    ExtendRequest,
    LocationInfo,
    LocationUpdate,
    RequestInfo,
    ServiceRequest,
    SessionInfo,
    SessionKind,
    SessionPatch,
    SubscriptionCreate,
    SubscriptionInfo,
)
from cnc6g.control.security import Principal

subs = APIRouter(prefix="/service-subscriptions/v0.1", tags=["service-subscriptions"])
requests = APIRouter(prefix="/service-requests/v0.1", tags=["service-requests"])


@subs.post(
    "/service-subscriptions",
    status_code=201,
    response_model=SubscriptionInfo,
    responses=errors(400, 401, 403, 404, 429),
    operation_id="createServiceSubscription",
)
def subscribe(
    body: SubscriptionCreate,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:subscriptions:create")],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Any:
    """Subscribe the terminal to a service or to what a filter finds, in an area."""
    return created(
        plane,
        request,
        principal,
        key,
        body,
        subscriptions.subscribe,
        (principal, body),
        201,
        lambda d: f"/service-subscriptions/v0.1/service-subscriptions/{d['subscriptionId']}",
    )


@subs.get(
    "/service-subscriptions",
    response_model=list[SubscriptionInfo],
    responses=errors(400, 401, 403, 429),
    operation_id="listServiceSubscriptions",
)
def list_subscriptions(
    response: Response,
    page: PageDep,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:subscriptions:read")],
) -> Any:
    """The caller's subscriptions."""
    result = plane.run(
        subscriptions.list_subscriptions, principal, page.page, page.per_page, write=False
    )
    return listed(response, result[0])


@subs.get(
    "/service-subscriptions/{serviceSubscriptionId}",
    response_model=SubscriptionInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="getServiceSubscription",
)
def get_subscription(
    serviceSubscriptionId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:subscriptions:read")],
) -> Any:
    """One of the caller's subscriptions."""
    return plane.run(subscriptions.get_subscription, principal, serviceSubscriptionId, write=False)[
        0
    ]


@subs.delete(
    "/service-subscriptions/{serviceSubscriptionId}",
    status_code=204,
    responses=errors(401, 403, 404, 429),
    operation_id="deleteServiceSubscription",
)
def unsubscribe(
    serviceSubscriptionId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:subscriptions:delete")],
) -> Response:
    """End a subscription."""
    plane.run(subscriptions.unsubscribe, principal, serviceSubscriptionId)
    return Response(status_code=204)


@subs.put(
    "/location",
    response_model=LocationInfo,
    responses=errors(400, 401, 403, 429),
    operation_id="updateLocation",
)
def update_location(
    body: LocationUpdate,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:locations:update")],
) -> Any:
    """Report the terminal's cell (area subscriptions are told when it enters or leaves)."""
    return plane.run(subscriptions.update_location, principal, body)[0]


@subs.get(
    "/location",
    response_model=LocationInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="getLocation",
)
def get_location(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-subscriptions:locations:read")],
) -> Any:
    """Where the terminal is."""
    return plane.run(subscriptions.get_location, principal, write=False)[0]


@requests.post(
    "/requests",
    status_code=201,
    response_model=RequestInfo,
    responses=errors(400, 401, 403, 404, 409, 422, 429),
    operation_id="requestService",
)
def request_service(
    body: ServiceRequest,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-requests:requests:create")],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Any:
    """The unified service request: the network places each step and opens a session."""
    return created(
        plane,
        request,
        principal,
        key,
        body,
        sessions.request_service,
        (principal, body),
        201,
        lambda d: f"/service-requests/v0.1/requests/{d['requestId']}",
    )


@requests.get(
    "/requests/{requestId}",
    response_model=RequestInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="getRequest",
)
def get_request(
    requestId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-requests:requests:read")],
) -> Any:
    """A request and its session as it is now."""
    return plane.run(sessions.get_request, principal, requestId, write=False)[0]


def session_router(kind: SessionKind) -> APIRouter:
    """The routes of compute or sensing sessions (QoD's life cycle)."""
    api = sessions.API[kind]
    router = APIRouter(prefix=f"/{api}/v0.1", tags=[api])
    op = "Compute" if kind is SessionKind.compute else "Sensing"

    @router.post(
        "/sessions",
        status_code=201,
        response_model=SessionInfo,
        responses=errors(400, 401, 403, 404, 409, 422, 429),
        operation_id=f"create{op}Session",
    )
    def create(
        body: ServiceRequest,
        request: Request,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:create")],
        key: Annotated[str | None, Depends(idempotency_key)],
    ) -> Any:
        """Open a session of a named service (its steps are placed as for a request)."""
        return created(
            plane,
            request,
            principal,
            key,
            body,
            sessions.create_session,
            (principal, kind, body),
            201,
            lambda d: f"/{api}/v0.1/sessions/{d['sessionId']}",
            etag=lambda d: int(d["revision"]),
        )

    @router.get(
        "/sessions",
        response_model=list[SessionInfo],
        responses=errors(400, 401, 403, 429),
        operation_id=f"list{op}Sessions",
    )
    def list_all(
        response: Response,
        page: PageDep,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:read")],
    ) -> Any:
        """The caller's sessions."""
        result = plane.run(
            sessions.list_sessions, principal, kind, page.page, page.per_page, write=False
        )
        return listed(response, result[0])

    @router.get(
        "/sessions/{sessionId}",
        response_model=SessionInfo,
        responses=errors(401, 403, 404, 429),
        operation_id=f"get{op}Session",
    )
    def get(
        sessionId: ObjectId,
        response: Response,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:read")],
    ) -> Any:
        """A session: status, plan, measured latency and usage."""
        info = plane.run(sessions.get_session, principal, kind, sessionId, write=False)[0]
        with_etag(response, info.revision)
        return info

    @router.patch(
        "/sessions/{sessionId}",
        response_model=SessionInfo,
        responses=errors(400, 401, 403, 404, 409, 422, 429),
        operation_id=f"update{op}Session",
    )
    def patch(
        sessionId: ObjectId,
        body: SessionPatch,
        response: Response,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:update")],
        revision: Annotated[int | None, Depends(if_match)],
    ) -> Any:
        """Change a session's QoS or rate (JSON merge patch)."""
        info = plane.run(sessions.patch_session, principal, kind, sessionId, body, revision)[0]
        with_etag(response, info.revision)
        return info

    @router.post(
        "/sessions/{sessionId}/extend",
        response_model=SessionInfo,
        responses=errors(400, 401, 403, 404, 409, 422, 429),
        operation_id=f"extend{op}Session",
    )
    def extend(
        sessionId: ObjectId,
        body: ExtendRequest,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:update")],
    ) -> Any:
        """More time for a session."""
        return plane.run(sessions.extend_session, principal, kind, sessionId, body)[0]

    @router.delete(
        "/sessions/{sessionId}",
        status_code=204,
        responses=errors(401, 403, 404, 429),
        operation_id=f"delete{op}Session",
    )
    def release(
        sessionId: ObjectId,
        plane: PlaneDep,
        principal: Annotated[Principal, scoped(f"{api}:sessions:delete")],
    ) -> Response:
        """Release a session (it stays readable as UNAVAILABLE, DELETE_REQUESTED)."""
        plane.run(sessions.delete_session, principal, kind, sessionId)
        return Response(status_code=204)

    return router
