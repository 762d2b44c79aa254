"""``client-registry`` and ``service-catalog``: clients, registration and discovery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from cnc6g.api.deps import ObjectId, PageDep, PlaneDep, idempotency_key, if_match, scoped
from cnc6g.api.routes.common import created, errors, listed, with_etag
from cnc6g.control import catalog
from cnc6g.control.schemas import (
    ClientCreate,
    ClientCreated,
    ClientInfo,
    DiscoveryRequest,
    DiscoveryResponse,
    ServiceCreate,
    ServiceInfo,
    ServicePatch,
)
from cnc6g.control.security import Principal

clients = APIRouter(prefix="/client-registry/v0.1", tags=["client-registry"])
services = APIRouter(prefix="/service-catalog/v0.1", tags=["service-catalog"])

Caller = Annotated[Principal, Depends]


@clients.post(
    "/clients",
    status_code=201,
    response_model=ClientCreated,
    responses=errors(400, 401, 403, 429),
    operation_id="createClient",
)
def create_client(
    body: ClientCreate,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("client-registry:clients:create")],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Any:
    """Create a client (operators); its secret is in this answer only."""
    return created(
        plane,
        request,
        principal,
        key,
        body,
        catalog.create_client,
        (principal, body),
        201,
        lambda d: f"/client-registry/v0.1/clients/{d['clientId']}",
    )


@clients.get(
    "/clients",
    response_model=list[ClientInfo],
    responses=errors(401, 403, 429),
    operation_id="listClients",
)
def list_clients(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("client-registry:clients:read")],
) -> Any:
    """Every client (operators)."""
    return plane.run(catalog.list_clients, principal, write=False)[0]


@services.post(
    "/services",
    status_code=201,
    response_model=ServiceInfo,
    responses=errors(400, 401, 403, 409, 422, 429),
    operation_id="registerService",
)
def register_service(
    body: ServiceCreate,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:create")],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Any:
    """Register a service: its workflow of steps, QoS targets and area."""
    return created(
        plane,
        request,
        principal,
        key,
        body,
        catalog.register_service,
        (principal, body),
        201,
        lambda d: f"/service-catalog/v0.1/services/{d['serviceId']}",
        etag=lambda d: int(d["revision"]),
    )


@services.get(
    "/services",
    response_model=list[ServiceInfo],
    responses=errors(400, 401, 403, 429),
    operation_id="listServices",
)
def list_services(
    response: Response,
    page: PageDep,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:read")],
) -> Any:
    """The caller's services (every one for an operator)."""
    result = plane.run(catalog.list_services, principal, page.page, page.per_page, write=False)
    return listed(response, result[0])


@services.get(
    "/services/{serviceId}",
    response_model=ServiceInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="getService",
)
def get_service(
    serviceId: ObjectId,
    response: Response,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:read")],
) -> Any:
    """One of the caller's services."""
    info = plane.run(catalog.get_service, principal, serviceId, write=False)[0]
    with_etag(response, info.revision)
    return info


@services.patch(
    "/services/{serviceId}",
    response_model=ServiceInfo,
    responses=errors(400, 401, 403, 404, 409, 429),
    operation_id="updateService",
)
def patch_service(
    serviceId: ObjectId,
    body: ServicePatch,
    response: Response,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:update")],
    revision: Annotated[int | None, Depends(if_match)],
) -> Any:
    """Change a service (JSON merge patch); send ``If-Match`` to guard against lost updates."""
    info = plane.run(catalog.patch_service, principal, serviceId, body, revision)[0]
    with_etag(response, info.revision)
    return info


@services.delete(
    "/services/{serviceId}",
    status_code=204,
    responses=errors(401, 403, 404, 429),
    operation_id="deleteService",
)
def delete_service(
    serviceId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:delete")],
) -> Response:
    """Deregister a service (it becomes INACTIVE; running sessions go on)."""
    plane.run(catalog.delete_service, principal, serviceId)
    return Response(status_code=204)


@services.post(
    "/retrieve-services",
    response_model=DiscoveryResponse,
    responses=errors(400, 401, 403, 429),
    operation_id="retrieveServices",
)
def discover(
    body: DiscoveryRequest,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-catalog:services:discover")],
) -> Any:
    """Discover active services: offers ranked by the latency expected where the terminal is."""
    return plane.run(catalog.discover, principal, body, write=False)[0]
