"""Terminal subscriptions and locations (seed 000, sections 5.2.1 and 5.2.4).

A terminal subscribes to a service, or to the services of some categories, optionally within an
area (a list of cells). The subscription answers with its id and a credential for the service.
It is ``ACTIVE`` while the terminal is in the area and ``PENDING_AREA`` while it is not; moving
in or out (the twin moves terminals between cells, and a terminal may report its cell) sends an
``area-entered`` or ``area-left`` event.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from cnc6g.control.catalog import get_service_row, terminal_cell
from cnc6g.control.errors import NotFound
from cnc6g.control.events import emit
from cnc6g.control.plane import ControlPlane
from cnc6g.control.schemas import (
    LocationInfo,
    LocationUpdate,
    SubscriptionCreate,
    SubscriptionInfo,
    SubscriptionStatus,
    TokenResponse,
)
from cnc6g.control.security import Principal, issue_token
from cnc6g.storage.db import page_of
from cnc6g.storage.tables import Subscription, Terminal


def _info(
    row: Subscription, cell: str, credential: TokenResponse | None = None
) -> SubscriptionInfo:
    return SubscriptionInfo.model_validate(
        {
            "subscriptionId": row.subscription_id,
            "serviceId": row.service_id,
            "categories": row.filters.get("categories"),
            "area": row.area,
            "preferences": row.preferences,
            "privacy": row.privacy,
            "status": row.status,
            "cell": cell,
            "sink": row.sink,
            "createdAt": row.created_at,
            "credential": credential,
        }
    )


def _cell_of(s: Session, client_id: str, default: str) -> str:
    row = s.get(Terminal, client_id)
    return row.cell if row is not None else default


def set_location(
    plane: ControlPlane, s: Session, client_id: str, cell: str, moves: bool | None = None
) -> None:
    """Put terminal ``client_id`` in ``cell``; update its area subscriptions and tell it."""
    _, now = plane.clock(s)
    row = s.get(Terminal, client_id)
    if row is None:
        row = Terminal(client_id=client_id, cell=cell, moves=True if moves is None else moves)
        row.updated_at = now
        s.add(row)
        before = None
    else:
        before = row.cell
        row.cell = cell
        row.updated_at = now
        if moves is not None:
            row.moves = moves
    if before == cell:
        return
    subs = s.scalars(
        select(Subscription).where(
            Subscription.owner == client_id, Subscription.status != SubscriptionStatus.ended.value
        )
    ).all()
    for sub in subs:
        if sub.area is None:
            continue
        inside = cell in sub.area
        if inside == sub.in_area:
            continue
        sub.in_area = inside
        sub.status = (
            SubscriptionStatus.active if inside else SubscriptionStatus.pending_area
        ).value
        emit(
            s,
            "service-subscriptions",
            "area-entered" if inside else "area-left",
            {
                "subscriptionId": sub.subscription_id,
                "serviceId": sub.service_id,
                "cell": cell,
                "previousCell": before,
                "status": sub.status,
            },
            owner=client_id,
            subject=sub.subscription_id,
            sink=sub.sink,
            sink_credential=sub.sink_credential,
            now=now,
        )


def update_location(
    plane: ControlPlane, s: Session, principal: Principal, body: LocationUpdate
) -> LocationInfo:
    """The terminal reports its cell (it then stops moving on its own in the twin)."""
    principal.require("service-subscriptions:locations:update")
    plane.check_cell(body.cell, "cell")
    set_location(plane, s, principal.client_id, body.cell, moves=False)
    row = s.get(Terminal, principal.client_id)
    assert row is not None
    return LocationInfo(cell=row.cell, updated_at=row.updated_at)


def get_location(plane: ControlPlane, s: Session, principal: Principal) -> LocationInfo:
    """Where the calling terminal is."""
    principal.require("service-subscriptions:locations:read")
    row = s.get(Terminal, principal.client_id)
    if row is None:
        raise NotFound("the terminal has not been placed in a cell yet (subscribe or report one)")
    del plane
    return LocationInfo(cell=row.cell, updated_at=row.updated_at)


def subscribe(
    plane: ControlPlane, s: Session, principal: Principal, body: SubscriptionCreate
) -> SubscriptionInfo:
    """Subscribe the calling terminal; the answer carries a credential for the service."""
    principal.require("service-subscriptions:subscriptions:create")
    if body.service_id is not None:
        get_service_row(s, principal, body.service_id, any_owner=True)
    for i, cell in enumerate(body.area or []):
        plane.check_cell(cell, f"area[{i}]")
    if body.privacy.data_residency:
        plane.check_domains(body.privacy.data_residency, "privacy.dataResidency")
    cell = terminal_cell(plane, s, principal, body.cell)
    if body.cell is not None or s.get(Terminal, principal.client_id) is None:
        set_location(plane, s, principal.client_id, cell)
    _, now = plane.clock(s)
    inside = body.area is None or cell in body.area
    data = body.model_dump(mode="json", by_alias=True)
    row = Subscription(
        subscription_id=str(uuid.uuid4()),
        owner=principal.client_id,
        service_id=body.service_id,
        filters={"categories": data["categories"]},
        area=body.area,
        preferences=data["preferences"],
        privacy=data["privacy"],
        status=(SubscriptionStatus.active if inside else SubscriptionStatus.pending_area).value,
        in_area=inside,
        sink=None if body.sink is None else str(body.sink),
        sink_credential=data["sinkCredential"],
        created_at=now,
    )
    s.add(row)
    s.flush()
    token = TokenResponse.model_validate(
        issue_token(plane.key, principal.client_id, principal.role)
    )
    return _info(row, cell, token)


def _own(s: Session, principal: Principal, subscription_id: str) -> Subscription:
    row = s.get(Subscription, subscription_id)
    if row is None or not (principal.is_operator or row.owner == principal.client_id):
        raise NotFound(f"no subscription {subscription_id}")
    return row


def get_subscription(
    plane: ControlPlane, s: Session, principal: Principal, subscription_id: str
) -> SubscriptionInfo:
    """One of the caller's subscriptions."""
    principal.require("service-subscriptions:subscriptions:read")
    row = _own(s, principal, subscription_id)
    return _info(row, _cell_of(s, row.owner, plane.live.cells[0]))


def list_subscriptions(
    plane: ControlPlane, s: Session, principal: Principal, page: int, per_page: int
) -> tuple[list[SubscriptionInfo], int]:
    """The caller's subscriptions (every one for an operator)."""
    principal.require("service-subscriptions:subscriptions:read")
    query = select(Subscription)
    if not principal.is_operator:
        query = query.where(Subscription.owner == principal.client_id)
    rows, total = page_of(
        s, query, (Subscription.created_at, Subscription.subscription_id), page, per_page
    )
    return [_info(r, _cell_of(s, r.owner, plane.live.cells[0])) for r in rows], total


def unsubscribe(
    plane: ControlPlane, s: Session, principal: Principal, subscription_id: str
) -> None:
    """End a subscription."""
    principal.require("service-subscriptions:subscriptions:delete")
    row = _own(s, principal, subscription_id)
    row.status = SubscriptionStatus.ended.value
    del plane
