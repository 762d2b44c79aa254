"""Monitoring: how each service type and node does, the re-orchestrations, the event stream.

The slot loop writes each slot's figures; these operations read them: a service type's p50,
p95 and p99 latency and satisfaction over the last slots against its deadline, each node's
utilisation, energy and held compute in the last slot, the re-orchestration triggers that fired
(persistent p95 violation, sustained overload, a shift of the traffic hotspot) with what changed,
and the events a client may see.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cnc6g.control.errors import NotFound
from cnc6g.control.events import cloudevent
from cnc6g.control.plane import ControlPlane
from cnc6g.control.schemas import (
    LatencyFigures,
    LinkStateInfo,
    NodeStateInfo,
    ReorchestrationInfo,
    ServiceTypeState,
)
from cnc6g.control.security import Principal
from cnc6g.storage.db import page_of
from cnc6g.storage.tables import (
    Instance,
    Link,
    Node,
    OutboxEvent,
    Reorchestration,
    ServiceMetric,
)


def _state(
    plane: ControlPlane, rows: list[ServiceMetric], function: str, slot: int
) -> ServiceTypeState:
    window = plane.settings.window_slots
    deadline = float(plane.system.deadline_s[plane.live.function(function)] * 1e3)
    offered = sum(r.offered for r in rows)
    satisfied = sum(r.satisfied for r in rows)
    p95 = [r.p95_ms for r in rows if r.p95_ms is not None]

    def mean(values: list[float | None]) -> float | None:
        got = [v for v in values if v is not None]
        return round(sum(got) / len(got), 3) if got else None

    figures = LatencyFigures(
        p50=mean([r.p50_ms for r in rows]),
        p95=mean([r.p95_ms for r in rows]),
        p99=mean([r.p99_ms for r in rows]),
    )
    status = "NO_DATA" if not p95 else ("MET" if max(p95) <= deadline else "VIOLATED")
    return ServiceTypeState(
        function=function,
        from_slot=max(slot - window, 0),
        to_slot=slot,
        offered=offered,
        satisfaction_rate=None if offered <= 0 else satisfied / offered,
        latency_ms=figures,
        deadline_ms=deadline,
        sla_status=status,  # type: ignore[arg-type]
    )


def service_states(
    plane: ControlPlane, s: Session, principal: Principal, function: str | None
) -> list[ServiceTypeState]:
    """Each service type's figures over the last ``window_slots`` slots (means of slots)."""
    principal.require("service-monitoring:states:read")
    if function is not None and not plane.live.has_function(function):
        raise NotFound(f"no service type {function}")
    slot, _ = plane.clock(s)
    start = slot - plane.settings.window_slots
    query = select(ServiceMetric).where(ServiceMetric.slot >= start)
    if function is not None:
        query = query.where(ServiceMetric.function == function)
    by: dict[str, list[ServiceMetric]] = {}
    for row in s.scalars(query).all():
        by.setdefault(row.function, []).append(row)
    names = [function] if function is not None else list(plane.live.functions)
    return [_state(plane, by.get(f, []), f, slot) for f in names]


def node_states(plane: ControlPlane, s: Session, principal: Principal) -> list[NodeStateInfo]:
    """Every node's state in the last slot."""
    del plane
    principal.require("service-monitoring:states:read")
    instances: dict[str, list[str]] = {}
    for i in s.scalars(select(Instance)).all():
        instances.setdefault(i.node, []).append(i.function)
    return [
        NodeStateInfo(
            node=n.node,
            domain=n.domain,
            kind=n.kind,
            capacity_gcps=n.capacity_gcps,
            utilisation=n.utilisation,
            energy_j=n.energy_j,
            reserved_gcps=n.reserved_gcps,
            awake=n.awake,
            instances=sorted(instances.get(n.node, [])),
        )
        for n in s.scalars(select(Node).order_by(Node.node)).all()
    ]


def link_states(plane: ControlPlane, s: Session, principal: Principal) -> list[LinkStateInfo]:
    """Every wired link's load, held bandwidth and room in the last slot."""
    del plane
    principal.require("service-monitoring:states:read")
    return [
        LinkStateInfo(
            link=li.link,
            a=li.a,
            b=li.b,
            capacity_mbps=li.capacity_mbps,
            carried_mbps=li.background_mbps,
            reserved_mbps=li.reserved_mbps,
            room_mbps=max(0.0, li.capacity_mbps - li.background_mbps - li.reserved_mbps),
            utilisation=(li.background_mbps + li.reserved_mbps) / li.capacity_mbps,
        )
        for li in s.scalars(select(Link).order_by(Link.link)).all()
    ]


def reorchestrations(
    plane: ControlPlane, s: Session, principal: Principal, page: int, per_page: int
) -> tuple[list[ReorchestrationInfo], int]:
    """The re-orchestration triggers that fired, newest first."""
    del plane
    principal.require("service-monitoring:reorchestrations:read")
    order = (Reorchestration.slot.desc(), Reorchestration.reorchestration_id)
    rows, total = page_of(s, select(Reorchestration), order, page, per_page)
    return [
        ReorchestrationInfo(
            reorchestration_id=r.reorchestration_id,
            slot=r.slot,
            trigger=r.trigger,  # type: ignore[arg-type]
            evidence=r.evidence,
            changes=r.changes,
            created_at=r.created_at,
        )
        for r in rows
    ], int(total)


def events_after(
    plane: ControlPlane, s: Session, principal: Principal, after: int, limit: int = 100
) -> list[tuple[int, dict[str, Any]]]:
    """The events the caller may see with a sequence number above ``after``, oldest first."""
    del plane
    principal.require("service-monitoring:events:read")
    query = select(OutboxEvent).where(OutboxEvent.seq > after)
    if not principal.is_operator:
        query = query.where(OutboxEvent.owner == principal.client_id)
    rows = s.scalars(query.order_by(OutboxEvent.seq).limit(limit)).all()
    return [(r.seq, cloudevent(r)) for r in rows]
