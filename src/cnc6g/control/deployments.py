"""Deployments: instances of a service's network steps kept running (EAM's app instances).

An operator or a provider asks for at least ``minInstances`` instances of every network step of
a service, optionally in some zones (domains); the answer is 202 with the deployment
``instantiating``. The E2E orchestrator's slot loop keeps the instances in every decision,
placing them where the domain's nodes have room, and reports the deployment ``ready`` once each
is past its cold start (an ``instance-status-changed`` event). Deleting a deployment sets it
``terminating``; the loop then stops holding its instances and the policy may remove them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from cnc6g.control.catalog import get_service_row
from cnc6g.control.errors import NotFound, Unprocessable
from cnc6g.control.plane import ControlPlane
from cnc6g.control.schemas import DeploymentCreate, DeploymentInfo, InstanceInfo, Workflow
from cnc6g.control.security import Principal
from cnc6g.storage.db import page_of
from cnc6g.storage.tables import Deployment, Instance


def deployment_info(row: Deployment) -> DeploymentInfo:
    """The API view of a stored deployment."""
    return DeploymentInfo.model_validate(
        {
            "deploymentId": row.deployment_id,
            "serviceId": row.service_id,
            "zones": row.zones,
            "minInstances": row.min_instances,
            "status": row.status,
            "instances": row.instances,
            "onDemand": row.on_demand,
            "createdAt": row.created_at,
            "updatedAt": row.updated_at,
        }
    )


def create_deployment(
    plane: ControlPlane, s: Session, principal: Principal, body: DeploymentCreate
) -> DeploymentInfo:
    """Ask for instances of a service's network steps (202: the slot loop places them)."""
    principal.require("service-deployments:deployments:create")
    service = get_service_row(s, principal, body.service_id, any_owner=False)
    plane.check_domains(body.zones, "zones")
    workflow = Workflow.model_validate(service.workflow)
    network = [st for st in workflow.steps if not st.pin_to_terminal]
    if not network:
        raise Unprocessable(
            "serviceId: every step of the service runs on terminals; nothing to deploy",
            field="serviceId",
        )
    if body.zones:
        live = plane.live
        for st in network:
            f = live.function(st.function)
            hosts = {
                live.node_domain[n] for n in range(len(live.nodes)) if plane.system.can_host[f, n]
            }
            if not hosts & set(body.zones):
                raise Unprocessable(
                    f"zones: no node of {body.zones} can host {st.function!r}",
                    field="zones",
                    code="SERVICE_DEPLOYMENTS.NO_HOST_IN_ZONES",
                )
    _, now = plane.clock(s)
    row = Deployment(
        deployment_id=str(uuid.uuid4()),
        owner=principal.client_id,
        service_id=service.service_id,
        zones=body.zones,
        min_instances=body.min_instances,
        status="instantiating",
        instances=[],
        on_demand=False,
        sink=None if body.sink is None else str(body.sink),
        sink_credential=(
            None
            if body.sink_credential is None
            else body.sink_credential.model_dump(mode="json", by_alias=True)
        ),
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    s.flush()
    return deployment_info(row)


def _own(s: Session, principal: Principal, deployment_id: str) -> Deployment:
    row = s.get(Deployment, deployment_id)
    if row is None or not (principal.is_operator or row.owner == principal.client_id):
        raise NotFound(f"no deployment {deployment_id}")
    return row


def get_deployment(
    plane: ControlPlane, s: Session, principal: Principal, deployment_id: str
) -> DeploymentInfo:
    """One of the caller's deployments."""
    del plane
    principal.require("service-deployments:deployments:read")
    return deployment_info(_own(s, principal, deployment_id))


def list_deployments(
    plane: ControlPlane, s: Session, principal: Principal, page: int, per_page: int
) -> tuple[list[DeploymentInfo], int]:
    """The caller's deployments (every one for an operator)."""
    del plane
    principal.require("service-deployments:deployments:read")
    query = select(Deployment)
    if not principal.is_operator:
        query = query.where(Deployment.owner == principal.client_id)
    rows, total = page_of(
        s, query, (Deployment.created_at, Deployment.deployment_id), page, per_page
    )
    return [deployment_info(r) for r in rows], total


def delete_deployment(
    plane: ControlPlane, s: Session, principal: Principal, deployment_id: str
) -> DeploymentInfo:
    """Stop keeping a deployment's instances (``terminating``; the slot loop lets them go)."""
    principal.require("service-deployments:deployments:delete")
    row = _own(s, principal, deployment_id)
    _, now = plane.clock(s)
    if row.status != "terminating":
        row.status = "terminating"
        row.updated_at = now
        s.flush()
    return deployment_info(row)


def list_instances(
    plane: ControlPlane, s: Session, principal: Principal, function: str | None
) -> list[InstanceInfo]:
    """The instances running in the current slot (optionally of one function)."""
    principal.require("service-deployments:instances:read")
    query = select(Instance).order_by(Instance.function, Instance.node)
    if function is not None:
        query = query.where(Instance.function == function)
    live = plane.live
    return [
        InstanceInfo(
            function=i.function,
            node=i.node,
            domain=live.node_domain[live.node(i.node)],
            status=i.status,  # type: ignore[arg-type]
            since_slot=i.since_slot,
        )
        for i in s.scalars(query).all()
    ]
