"""Clients, service registration and discovery (seed 000, sections 5.2.1, 5.2.2 and 5.2.4).

A provider registers a service as a workflow of steps, each running a function (a service type
of the live system) with its own placement rules, and QoS targets; it sees and changes only its
own services. Terminals discover active services with filters and get offers ranked by the
latency the network can give them where they are, each with a lifetime.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cnc6g.control.errors import Conflict, NotFound, Unprocessable
from cnc6g.control.events import emit
from cnc6g.control.plane import ControlPlane
from cnc6g.control.schemas import (
    ClientCreate,
    ClientCreated,
    ClientInfo,
    DiscoveryRequest,
    DiscoveryResponse,
    Offer,
    Role,
    ServiceCreate,
    ServiceInfo,
    ServicePatch,
    Workflow,
)
from cnc6g.control.security import Principal, hash_secret, new_secret
from cnc6g.storage.db import page_of
from cnc6g.storage.tables import Client, Instance, Node, Service, Terminal


def create_client(
    plane: ControlPlane, s: Session, principal: Principal | None, body: ClientCreate
) -> ClientCreated:
    """A new client and its secret (``principal`` None: the first operator, from the CLI)."""
    del plane
    if principal is not None:
        principal.require("client-registry:clients:create")
    client_id = f"{body.role.value[:4]}-{uuid.uuid4().hex[:16]}"
    secret = new_secret()
    s.add(
        Client(
            client_id=client_id,
            secret_hash=hash_secret(secret),
            role=body.role.value,
            name=body.name,
            created_at=datetime.now(UTC),
        )
    )
    return ClientCreated(client_id=client_id, client_secret=secret, name=body.name, role=body.role)


def list_clients(plane: ControlPlane, s: Session, principal: Principal) -> list[ClientInfo]:
    """Every client (operators)."""
    del plane
    principal.require("client-registry:clients:read")
    rows = s.scalars(select(Client).order_by(Client.created_at)).all()
    return [
        ClientInfo(client_id=c.client_id, name=c.name, role=Role(c.role), created_at=c.created_at)
        for c in rows
    ]


def _check_workflow(plane: ControlPlane, workflow: Workflow) -> None:
    live = plane.live
    for i, step in enumerate(workflow.steps):
        where = f"workflow.steps[{i}]"
        if not live.has_function(step.function):
            raise Unprocessable(
                f"{where}.function: the live system has no function {step.function!r}; it has "
                f"{', '.join(live.functions)}",
                field=f"{where}.function",
                code="SERVICE_CATALOG.UNKNOWN_FUNCTION",
            )
        hostable = live.function_tiers(step.function)
        if step.pin_to_terminal and "terminal" not in hostable:
            raise Unprocessable(
                f"{where}.pinToTerminal: function {step.function!r} cannot run on a terminal",
                field=f"{where}.pinToTerminal",
                code="SERVICE_CATALOG.WORKFLOW_INVALID",
            )
        if step.allowed_tiers is not None:
            allowed = {t.value for t in step.allowed_tiers}
            if not allowed & hostable:
                raise Unprocessable(
                    f"{where}.allowedTiers: no node of {sorted(allowed)} can host "
                    f"{step.function!r} (it runs on {sorted(hostable)})",
                    field=f"{where}.allowedTiers",
                    code="SERVICE_CATALOG.WORKFLOW_INVALID",
                )


def _check_area(plane: ControlPlane, area: list[str] | None, field: str) -> None:
    for i, cell in enumerate(area or []):
        plane.check_cell(cell, f"{field}[{i}]")


def service_info(row: Service) -> ServiceInfo:
    """The API view of a stored service."""
    return ServiceInfo.model_validate(
        {
            "name": row.name,
            "version": row.version,
            "providerKind": row.provider_kind,
            "category": row.category,
            "description": row.description,
            "workflow": row.workflow,
            "qos": row.qos,
            "area": row.area,
            "state": row.state,
            "serviceId": row.service_id,
            "provider": row.owner,
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
            "revision": row.version_id,
        }
    )


def _availability(s: Session, row: Service, change: str, now: datetime) -> None:
    emit(
        s,
        "service-catalog",
        "service-availability-changed",
        {"serviceId": row.service_id, "name": row.name, "changeType": change, "state": row.state},
        owner=row.owner,
        subject=row.service_id,
        now=now,
    )


def register_service(
    plane: ControlPlane, s: Session, principal: Principal, body: ServiceCreate
) -> ServiceInfo:
    """Register a service for the calling provider (an operator registers as itself)."""
    principal.require("service-catalog:services:create")
    _check_workflow(plane, body.workflow)
    _check_area(plane, body.area, "area")
    duplicate = s.scalar(
        select(Service.service_id).where(
            Service.owner == principal.client_id,
            Service.name == body.name,
            Service.version == body.version,
        )
    )
    if duplicate is not None:
        raise Conflict(
            f"name, version: {body.name} {body.version} is registered already ({duplicate})",
            code="ALREADY_EXISTS",
        )
    _, now = plane.clock(s)
    data = body.model_dump(mode="json", by_alias=True)
    row = Service(
        service_id=str(uuid.uuid4()),
        owner=principal.client_id,
        name=body.name,
        version=body.version,
        provider_kind=body.provider_kind.value,
        category=body.category.value,
        description=body.description,
        workflow=data["workflow"],
        qos=data["qos"],
        area=body.area,
        state=body.state.value,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.flush()
    _availability(s, row, "ADDED", now)
    return service_info(row)


def get_service_row(s: Session, principal: Principal, service_id: str, any_owner: bool) -> Service:
    """A service the principal may see (``any_owner``: every active one, as for discovery).

    Raises:
        NotFound: no such service, or one of another provider.
    """
    row = s.get(Service, service_id)
    visible = row is not None and (
        principal.is_operator
        or row.owner == principal.client_id
        or (any_owner and row.state == "ACTIVE")
    )
    if not visible:
        raise NotFound(f"no service {service_id}")
    assert row is not None
    return row


def list_services(
    plane: ControlPlane, s: Session, principal: Principal, page: int, per_page: int
) -> tuple[list[ServiceInfo], int]:
    """The caller's services (every one for an operator), oldest first, and their count."""
    del plane
    principal.require("service-catalog:services:read")
    query = select(Service)
    if not principal.is_operator:
        query = query.where(Service.owner == principal.client_id)
    rows, total = page_of(s, query, (Service.created_at, Service.service_id), page, per_page)
    return [service_info(r) for r in rows], total


def get_service(
    plane: ControlPlane, s: Session, principal: Principal, service_id: str
) -> ServiceInfo:
    """One of the caller's services."""
    del plane
    principal.require("service-catalog:services:read")
    return service_info(get_service_row(s, principal, service_id, any_owner=False))


def patch_service(
    plane: ControlPlane,
    s: Session,
    principal: Principal,
    service_id: str,
    body: ServicePatch,
    if_match: int | None,
) -> ServiceInfo:
    """Change a service (merge patch); ``if_match`` is the revision the caller last read.

    Raises:
        Conflict: the service changed since that revision.
    """
    principal.require("service-catalog:services:update")
    row = get_service_row(s, principal, service_id, any_owner=False)
    if if_match is not None and if_match != row.version_id:
        raise Conflict(
            f"service {service_id} is at revision {row.version_id}, not {if_match}",
            code="ABORTED",
        )
    changes: dict[str, Any] = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if not changes:
        return service_info(row)
    if "area" in changes:
        _check_area(plane, body.area, "area")
    _, now = plane.clock(s)
    old_state = row.state
    if body.description is not None:
        row.description = body.description
    if "qos" in changes and body.qos is not None:
        row.qos = changes["qos"]
    if "area" in changes:
        row.area = body.area
    if body.state is not None:
        row.state = body.state.value
    row.updated_at = now
    s.flush()
    _availability(s, row, "STATE_CHANGED" if row.state != old_state else "ATTRIBUTES_CHANGED", now)
    return service_info(row)


def delete_service(plane: ControlPlane, s: Session, principal: Principal, service_id: str) -> None:
    """Deregister a service: it is set INACTIVE and can no longer be found or requested.

    Its sessions run on until they end; its row stays for accounting.
    """
    principal.require("service-catalog:services:delete")
    row = get_service_row(s, principal, service_id, any_owner=False)
    _, now = plane.clock(s)
    row.state = "INACTIVE"
    row.updated_at = now
    s.flush()
    _availability(s, row, "REMOVED", now)


def terminal_cell(plane: ControlPlane, s: Session, principal: Principal, given: str | None) -> str:
    """The cell a request is about: the one given, the terminal's, or the first cell."""
    if given is not None:
        plane.check_cell(given, "cell")
        return given
    row = s.get(Terminal, principal.client_id)
    return row.cell if row is not None else plane.live.cells[0]


def expected_latency(
    plane: ControlPlane,
    s: Session,
    cell: str,
    workflow: dict[str, Any],
    pinned: set[str] = frozenset(),  # type: ignore[assignment]
) -> float | None:
    """Estimated latency of a workflow for a terminal in ``cell``, ms (None: no placement).

    Each step takes the fastest node that runs its function now (or could, when none does),
    pinned steps the terminal; the steps of a chain add up (the longest path of a DAG).
    """
    wf = Workflow.model_validate(workflow)
    util = {n.node: n.utilisation for n in s.scalars(select(Node)).all()}
    running = {(i.function, i.node) for i in s.scalars(select(Instance)).all()}
    live = plane.live
    finish: dict[str, float] = {}
    parents: dict[str, list[str]] = {st.step_id: [] for st in wf.steps}
    for edge in wf.edges:
        parents[edge.to_step_id].append(edge.from_step_id)
    u = np.array([util.get(n, 0.0) for n in live.nodes])
    for step in wf.order():
        tiers = {t.value for t in step.allowed_tiers} if step.allowed_tiers else None
        if step.pin_to_terminal or step.step_id in pinned:
            tiers = {"terminal"}
        options = live.options(cell, step.function, u, tiers)
        if not options:
            return None
        up = [o for o in options if (step.function, o.node) in running] or options
        start = max((finish[p] for p in parents[step.step_id]), default=0.0)
        finish[step.step_id] = start + up[0].latency_ms
    return max(finish.values())


def discover(
    plane: ControlPlane, s: Session, principal: Principal, body: DiscoveryRequest
) -> DiscoveryResponse:
    """Active services matching the filters, best expected latency first."""
    principal.require("service-catalog:services:discover")
    cell = terminal_cell(plane, s, principal, body.cell)
    query = select(Service).where(Service.state == "ACTIVE")
    if body.categories:
        query = query.where(Service.category.in_([c.value for c in body.categories]))
    if body.names:
        query = query.where(Service.name.in_(body.names))
    offers = []
    for row in s.scalars(query).all():
        if row.area is not None and cell not in row.area:
            continue
        latency = expected_latency(plane, s, cell, row.workflow)
        if latency is None:
            continue
        target = float(row.qos["latencyMs"])
        if body.max_latency_ms is not None and latency > body.max_latency_ms:
            continue
        offers.append(
            Offer(
                service_id=row.service_id,
                name=row.name,
                version=row.version,
                category=row.category,  # type: ignore[arg-type]
                provider=row.owner,
                expected_latency_ms=round(latency, 3),
                meets_qos=latency <= target,
                lifetime_s=plane.settings.offer_lifetime_s,
            )
        )
    offers.sort(key=lambda o: (not o.meets_qos, o.expected_latency_ms, o.name))
    return DiscoveryResponse(cell=cell, offers=offers[: body.limit])
