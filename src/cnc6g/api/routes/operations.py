"""``service-deployments``, ``usage``, ``service-monitoring`` and ``slot-clock``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from cnc6g.api.deps import FunctionQuery, ObjectId, PageDep, PlaneDep, idempotency_key, scoped
from cnc6g.api.routes.common import created, errors, listed
from cnc6g.control import deployments, monitoring, sessions
from cnc6g.control.plane import LEASE
from cnc6g.control.schemas import (
    AdvanceRequest,
    ClockInfo,
    DeploymentCreate,
    DeploymentInfo,
    InstanceInfo,
    LinkStateInfo,
    NodeStateInfo,
    ReorchestrationInfo,
    ServiceTypeState,
    UsageReport,
)
from cnc6g.control.security import Principal
from cnc6g.storage.tables import Lease

deploys = APIRouter(prefix="/service-deployments/v0.1", tags=["service-deployments"])
usage = APIRouter(prefix="/usage/v0.1", tags=["usage"])
monitor = APIRouter(prefix="/service-monitoring/v0.1", tags=["service-monitoring"])
clock = APIRouter(prefix="/slot-clock/v0.1", tags=["slot-clock"])

STREAM_BATCH = 100
"""Events the stream reads at a time."""

MAX_SEQUENCE = 2**31 - 1
"""The largest sequence number an event can have (the outbox numbers events with a 32-bit
integer); a larger ``after`` or ``Last-Event-ID`` is after every event there can be."""


@deploys.post(
    "/deployments",
    status_code=202,
    response_model=DeploymentInfo,
    responses=errors(400, 401, 403, 404, 422, 429),
    operation_id="createDeployment",
)
def create_deployment(
    body: DeploymentCreate,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-deployments:deployments:create")],
    key: Annotated[str | None, Depends(idempotency_key)],
) -> Any:
    """Ask for instances of a service's network steps; the slot loop places them (202)."""
    return created(
        plane,
        request,
        principal,
        key,
        body,
        deployments.create_deployment,
        (principal, body),
        202,
        lambda d: f"/service-deployments/v0.1/deployments/{d['deploymentId']}",
    )


@deploys.get(
    "/deployments",
    response_model=list[DeploymentInfo],
    responses=errors(400, 401, 403, 429),
    operation_id="listDeployments",
)
def list_deployments(
    response: Response,
    page: PageDep,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-deployments:deployments:read")],
) -> Any:
    """The caller's deployments."""
    result = plane.run(
        deployments.list_deployments, principal, page.page, page.per_page, write=False
    )
    return listed(response, result[0])


@deploys.get(
    "/deployments/{deploymentId}",
    response_model=DeploymentInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="getDeployment",
)
def get_deployment(
    deploymentId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-deployments:deployments:read")],
) -> Any:
    """A deployment and its instances."""
    return plane.run(deployments.get_deployment, principal, deploymentId, write=False)[0]


@deploys.delete(
    "/deployments/{deploymentId}",
    status_code=202,
    response_model=DeploymentInfo,
    responses=errors(401, 403, 404, 429),
    operation_id="deleteDeployment",
)
def delete_deployment(
    deploymentId: ObjectId,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-deployments:deployments:delete")],
) -> Any:
    """Stop keeping a deployment's instances (202: ``terminating``)."""
    return plane.run(deployments.delete_deployment, principal, deploymentId)[0]


@deploys.get(
    "/instances",
    response_model=list[InstanceInfo],
    responses=errors(400, 401, 403, 429),
    operation_id="listInstances",
)
def list_instances(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-deployments:instances:read")],
    function: FunctionQuery = None,
) -> Any:
    """The instances running in the current slot."""
    return plane.run(deployments.list_instances, principal, function, write=False)[0]


@usage.get(
    "/usage-reports",
    response_model=UsageReport,
    responses=errors(400, 401, 403, 429),
    operation_id="getUsageReport",
)
def usage_report(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("usage:reports:read")],
    by: Literal["subscriber", "provider"] = "subscriber",
) -> Any:
    """Usage per subscriber or per provider, for accounting (a client sees its own)."""
    return plane.run(sessions.usage_report, principal, by, write=False)[0]


@monitor.get(
    "/service-states",
    response_model=list[ServiceTypeState],
    responses=errors(400, 401, 403, 404, 429),
    operation_id="listServiceStates",
)
def service_states(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:states:read")],
    function: FunctionQuery = None,
) -> Any:
    """Each service type's latency percentiles and satisfaction over the last slots."""
    return plane.run(monitoring.service_states, principal, function, write=False)[0]


@monitor.get(
    "/node-states",
    response_model=list[NodeStateInfo],
    responses=errors(401, 403, 429),
    operation_id="listNodeStates",
)
def node_states(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:states:read")],
) -> Any:
    """Each node's utilisation, energy and held compute in the last slot."""
    return plane.run(monitoring.node_states, principal, write=False)[0]


@monitor.get(
    "/link-states",
    response_model=list[LinkStateInfo],
    responses=errors(401, 403, 429),
    operation_id="listLinkStates",
)
def link_states(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:states:read")],
) -> Any:
    """Each wired link's load in the last slot, the bandwidth sessions hold on it, its room."""
    return plane.run(monitoring.link_states, principal, write=False)[0]


@monitor.get(
    "/reorchestrations",
    response_model=list[ReorchestrationInfo],
    responses=errors(400, 401, 403, 429),
    operation_id="listReorchestrations",
)
def reorchestrations(
    response: Response,
    page: PageDep,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:reorchestrations:read")],
) -> Any:
    """The re-orchestration triggers that fired, newest first, with their evidence."""
    result = plane.run(
        monitoring.reorchestrations, principal, page.page, page.per_page, write=False
    )
    return listed(response, result[0])


@monitor.get(
    "/event-log",
    responses=errors(400, 401, 403, 429),
    operation_id="listEvents",
)
def event_log(
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:events:read")],
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The events the caller may see after sequence number ``after`` (CloudEvents 1.0)."""
    rows = plane.run(monitoring.events_after, principal, after, limit, write=False)[0]
    return [event | {"sequence": seq} for seq, event in rows]


@monitor.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 401, 403, 429)},
    operation_id="streamEvents",
)
async def stream_events(
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("service-monitoring:events:read")],
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$", description="the last id seen"),
    ] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
    max_wait_s: Annotated[float, Query(alias="maxWaitS", ge=0, le=3600)] = 30.0,
) -> StreamingResponse:
    """Server-sent events: the caller's events as they happen, until ``maxWaitS`` passes.

    The events already waiting are all given first, however many, even with ``maxWaitS=0``.
    """
    start = after
    if last_event_id is not None:
        start = min(int(last_event_id), MAX_SEQUENCE)

    async def events() -> AsyncIterator[str]:
        seen = start
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_s
        while True:
            result, _ = await run_in_threadpool(
                plane.run, monitoring.events_after, principal, seen, STREAM_BATCH, write=False
            )
            rows: list[tuple[int, dict[str, Any]]] = result  # type: ignore[assignment]
            for seq, event in rows:
                seen = seq
                yield f"id: {seq}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
            if await request.is_disconnected():
                return
            if len(rows) == STREAM_BATCH:  # more are waiting: give them before the deadline
                continue
            if loop.time() >= deadline:
                return
            if not rows:
                yield ": keep-alive\n\n"
                await asyncio.sleep(min(0.5, max(deadline - loop.time(), 0.0)))

    return StreamingResponse(events(), media_type="text/event-stream")


@clock.get(
    "/clock",
    response_model=ClockInfo,
    responses=errors(401, 403, 429),
    operation_id="getClock",
)
def get_clock(
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("slot-clock:clock:read")],
) -> Any:
    """The slot clock: its mode, the current slot, and whether this process runs the loop."""
    del principal

    def read(p: Any, s: Any) -> ClockInfo:
        lease = s.get(Lease, LEASE)
        return ClockInfo(
            mode=p.settings.clock,
            slot=lease.slot if lease else 0,
            slot_ms=p.slot_s * 1e3,
            leader=request.app.state.engine.leader,
            scenario=p.scenario.name,
            policy=lease.policy if lease else p.settings.policy,
        )

    return plane.run(read, write=False)[0]


@clock.post(
    "/clock/advance",
    response_model=ClockInfo,
    responses=errors(400, 401, 403, 409, 429),
    operation_id="advanceClock",
)
def advance(
    body: AdvanceRequest,
    request: Request,
    plane: PlaneDep,
    principal: Annotated[Principal, scoped("slot-clock:clock:advance")],
) -> Any:
    """Run slots now (manual clock; operators)."""
    if plane.settings.clock_mode != "manual":
        from cnc6g.control.errors import Conflict

        raise Conflict(
            f"the clock is {plane.settings.clock}; slots advance only on a manual clock",
            code="INCOMPATIBLE_STATE",
        )
    request.app.state.engine.advance(body.slots)
    return get_clock(request, plane, principal)
