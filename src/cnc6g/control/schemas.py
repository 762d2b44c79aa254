"""The control plane's request and response bodies (pydantic), shared by the API and agents.

JSON on the wire is camelCase (``serviceId``), Python is snake_case; unknown fields are
rejected at any depth. Request bodies are read as their schema says, without coercion: a number
is a JSON number (not a string, not ``true``), a flag a JSON boolean. A body that breaks its
schema is refused with the error type pydantic gives; one that keeps to the schema but does not
make sense (a workflow with a cycle, both or neither of ``serviceId`` and ``intent``, a NUL
character in a string, which no database column can hold) is refused with the type
:data:`UNPROCESSABLE`, which the HTTP API answers 422. Response models are the service layer's
return values; the HTTP API serialises them as they are.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

UNPROCESSABLE = "unprocessable"
"""Error type of a body that keeps to its schema but cannot be taken as it is (HTTP 422)."""

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
Text = Annotated[str, Field(max_length=2000)]


def unprocessable(message: str) -> PydanticCustomError:
    """The validation error of a body that keeps to its schema but makes no sense."""
    return PydanticCustomError(UNPROCESSABLE, "{reason}", {"reason": message})


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("float_type", "Input should be a number")
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be an integer")
    return value


AS_NUMBER = BeforeValidator(_number)
"""A JSON number (an integer or not); a string or a boolean is refused, not converted. It goes
after a field's constraints: ``Annotated[float, Field(gt=0), AS_NUMBER]`` (so that they show in
the JSON schema)."""
AS_INTEGER = BeforeValidator(_integer)
"""A JSON integer (``2`` or ``2.0``, as JSON Schema has it); strings and booleans are refused.
It goes after a field's constraints, as :data:`AS_NUMBER`."""
Flag = Annotated[bool, Strict()]
"""``true`` or ``false``; ``1`` or ``"yes"`` is refused, not converted."""


def _text_time(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise PydanticCustomError("datetime_type", "Input should be an RFC 3339 date-time string")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_text_time)]
"""An RFC 3339 date-time; a number (seconds since 1970) is refused, not converted."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class ApiModel(BaseModel):
    """Base of every body: camelCase on the wire, unknown fields and NUL characters refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=False
    )

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise unprocessable("NUL characters (U+0000) are not allowed in strings")
        return value


class Role(StrEnum):
    """Roles of API clients."""

    operator = "operator"
    provider = "provider"
    terminal = "terminal"


class ClientCreate(ApiModel):
    """A new API client."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    role: Role


class ClientCreated(ApiModel):
    """A created client with its secret (shown this once)."""

    client_id: str
    client_secret: str
    name: str
    role: Role


class ClientInfo(ApiModel):
    """A client, without its secret."""

    client_id: str
    name: str
    role: Role
    created_at: datetime


class TokenResponse(BaseModel):
    """OAuth2 access token response (RFC 6749, section 5.1; snake_case as the RFC has it)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str


class SinkCredential(ApiModel):
    """How the control plane authenticates to a sink (CAMARA ``sinkCredential``)."""

    credential_type: Literal["ACCESSTOKEN"]
    access_token: Annotated[str, Field(min_length=1, max_length=4096)]
    access_token_expires_utc: Timestamp
    access_token_type: Literal["bearer"]


class Tier(StrEnum):
    """Where a step may run: the kinds of domain of the system."""

    terminal = "terminal"
    ran = "ran"
    transport = "transport"


class WorkflowStep(ApiModel):
    """One step of a service: a function (a service type of the live system) to run."""

    step_id: Name
    function: Name = Field(description="service type of the live system that runs the step")
    pin_to_terminal: Flag = Field(
        default=False, description="the step handles raw user data and runs on the terminal"
    )
    allowed_tiers: list[Tier] | None = Field(
        default=None, min_length=1, description="tiers the step may run on; default: the type's"
    )


class WorkflowEdge(ApiModel):
    """Data flows from one step to the next."""

    from_step_id: Name
    to_step_id: Name


class Workflow(ApiModel):
    """The steps of a service and the order they run in (a DAG)."""

    steps: list[WorkflowStep] = Field(min_length=1, max_length=32)
    edges: list[WorkflowEdge] = Field(default_factory=list, max_length=128)

    @model_validator(mode="after")
    def _a_dag(self) -> Workflow:
        ids = [s.step_id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise unprocessable(f"steps: stepId must be unique, repeated: {dupes}")
        graph: dict[str, list[str]] = {i: [] for i in ids}
        for n, edge in enumerate(self.edges):
            for end in ("from_step_id", "to_step_id"):
                if getattr(edge, end) not in graph:
                    name = "fromStepId" if end == "from_step_id" else "toStepId"
                    raise unprocessable(f"edges[{n}].{name}: unknown stepId {getattr(edge, end)!r}")
            graph[edge.to_step_id].append(edge.from_step_id)
        try:
            tuple(TopologicalSorter(graph).static_order())
        except CycleError as err:
            raise unprocessable(
                f"edges: the workflow has a cycle: {' -> '.join(err.args[1])}"
            ) from None
        return self

    def order(self) -> list[WorkflowStep]:
        """The steps in an order that respects the edges (a chain's order when it is one)."""
        graph: dict[str, list[str]] = {s.step_id: [] for s in self.steps}
        for edge in self.edges:
            graph[edge.to_step_id].append(edge.from_step_id)
        by_id = {s.step_id: s for s in self.steps}
        return [by_id[i] for i in TopologicalSorter(graph).static_order()]


class Qos(ApiModel):
    """QoS targets of a service or a session."""

    latency_ms: Annotated[float, Field(gt=0, le=600_000, allow_inf_nan=False), AS_NUMBER] = Field(
        description="end-to-end latency target of a task (its p95 for a service)"
    )
    satisfaction_target: (
        Annotated[float, Field(gt=0, le=1, allow_inf_nan=False), AS_NUMBER] | None
    ) = None


class ProviderKind(StrEnum):
    """Who provides a service (seed 000, section 5.2)."""

    operator = "OPERATOR"
    third_party = "THIRD_PARTY"
    terminal = "TERMINAL"


class Category(StrEnum):
    """What a service does."""

    ai_inference = "AI_INFERENCE"
    sensing = "SENSING"
    rendering = "RENDERING"
    function = "FUNCTION"
    other = "OTHER"


class ServiceState(StrEnum):
    """Whether a service may be discovered and requested (MEC 011)."""

    active = "ACTIVE"
    inactive = "INACTIVE"


class ServiceCreate(ApiModel):
    """A service a provider registers."""

    name: Name
    version: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.+-]+$")] = (
        "1.0"
    )
    provider_kind: ProviderKind = ProviderKind.third_party
    category: Category = Category.ai_inference
    description: Text = ""
    workflow: Workflow
    qos: Qos
    area: list[Name] | None = Field(
        default=None, min_length=1, description="cells where the service is offered; default all"
    )
    state: ServiceState = ServiceState.active


class ServiceInfo(ServiceCreate):
    """A registered service."""

    service_id: str
    provider: str = Field(description="clientId of the provider")
    created_at: datetime
    updated_at: datetime
    revision: int = Field(description="changes with every update (send it as If-Match)")


class ServicePatch(ApiModel):
    """Changes to a service (JSON merge patch: only the fields given change)."""

    description: Text | None = None
    qos: Qos | None = None
    area: list[Name] | None = Field(default=None, min_length=1)
    state: ServiceState | None = None


class DiscoveryRequest(ApiModel):
    """What a terminal looks for."""

    categories: list[Category] | None = Field(default=None, min_length=1)
    names: list[Name] | None = Field(default=None, min_length=1)
    max_latency_ms: Annotated[float, Field(gt=0, allow_inf_nan=False), AS_NUMBER] | None = None
    cell: Name | None = Field(default=None, description="default: the terminal's cell")
    limit: Annotated[int, Field(ge=1, le=100), AS_INTEGER] = 20


class Offer(ApiModel):
    """A service found by discovery, ranked by the latency it can give where the terminal is."""

    service_id: str
    name: str
    version: str
    category: Category
    provider: str
    expected_latency_ms: float
    meets_qos: bool
    lifetime_s: int = Field(description="how long the offer holds (cache it that long)")


class DiscoveryResponse(ApiModel):
    """Ranked offers, best first."""

    cell: str
    offers: list[Offer]


class SubscriptionStatus(StrEnum):
    """A subscription's state: in its area and usable, waiting for the area, or ended."""

    active = "ACTIVE"
    pending_area = "PENDING_AREA"
    ended = "ENDED"


class Privacy(ApiModel):
    """The terminal's privacy consent."""

    shareable: Flag = Field(default=False, description="the service may be shared with others")
    data_residency: list[Name] | None = Field(
        default=None, min_length=1, description="domains user data may be processed in"
    )


class Preferences(ApiModel):
    """The terminal's preferences."""

    max_latency_ms: Annotated[float, Field(gt=0, allow_inf_nan=False), AS_NUMBER] | None = None
    preferred_tiers: list[Tier] | None = Field(default=None, min_length=1)


class SubscriptionCreate(ApiModel):
    """A terminal's subscription: to a service, or to the services a filter finds."""

    service_id: str | None = None
    categories: list[Category] | None = Field(default=None, min_length=1)
    area: list[Name] | None = Field(
        default=None, min_length=1, description="cells where the subscription applies"
    )
    cell: Name | None = Field(default=None, description="the terminal's cell now")
    preferences: Preferences = Field(default_factory=Preferences)
    privacy: Privacy = Field(default_factory=Privacy)
    sink: AnyHttpUrl | None = None
    sink_credential: SinkCredential | None = None


class SubscriptionInfo(ApiModel):
    """A subscription, with the credential it grants."""

    subscription_id: str
    service_id: str | None
    categories: list[Category] | None
    area: list[str] | None
    preferences: Preferences
    privacy: Privacy
    status: SubscriptionStatus
    cell: str
    sink: str | None = None
    created_at: datetime
    credential: TokenResponse | None = Field(
        default=None, description="a token for the subscribed service (only when created)"
    )


class LocationUpdate(ApiModel):
    """The terminal's cell."""

    cell: Name


class LocationInfo(ApiModel):
    """Where the terminal is."""

    cell: str
    updated_at: datetime


class SessionKind(StrEnum):
    """Compute or sensing session (seed 000, NAS-CSM and NAS-SSM)."""

    compute = "COMPUTE"
    sensing = "SENSING"


class ServiceRequest(ApiModel):
    """The unified service request: name the service (or describe it), the rate and the QoS."""

    service_id: str | None = None
    intent: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        default=None, description="what the terminal needs, in words (matched to the catalogue)"
    )
    kind: SessionKind = SessionKind.compute
    rate_per_second: Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False), AS_NUMBER] = (
        Field(description="tasks the terminal will send per second")
    )
    qos: Qos | None = Field(default=None, description="default: the service's")
    duration: Annotated[int, Field(ge=1, le=86_400), AS_INTEGER] = Field(
        default=3600, description="seconds the session lasts"
    )
    pin_step_ids: list[Name] = Field(
        default_factory=list, description="steps that must run on the terminal (privacy)"
    )
    sink: AnyHttpUrl | None = None
    sink_credential: SinkCredential | None = None

    @model_validator(mode="after")
    def _names_a_service(self) -> ServiceRequest:
        if (self.service_id is None) == (self.intent is None):
            raise unprocessable("give exactly one of serviceId and intent")
        return self


class Placement(StrEnum):
    """Where a step runs."""

    terminal = "TERMINAL"
    network = "NETWORK"


class PlannedStep(ApiModel):
    """One step of a plan."""

    step_id: str
    function: str
    placement: Placement
    node: str
    domain: str
    expected_latency_ms: float


class Plan(ApiModel):
    """Where each step of a request runs and what latency that gives."""

    steps: list[PlannedStep]
    expected_latency_ms: float
    meets_qos: bool


class SessionStatus(StrEnum):
    """QoD's session life cycle."""

    requested = "REQUESTED"
    available = "AVAILABLE"
    unavailable = "UNAVAILABLE"


class StatusInfo(StrEnum):
    """Why a session is UNAVAILABLE (or was moved)."""

    duration_expired = "DURATION_EXPIRED"
    network_terminated = "NETWORK_TERMINATED"
    delete_requested = "DELETE_REQUESTED"
    migrated = "MIGRATED"


class Usage(ApiModel):
    """What a session used, from the twin's slots."""

    tasks: float
    compute_gcycles: float
    compute_seconds: float
    bytes_up: float
    bytes_down: float
    energy_j: float
    updated_at: datetime | None


class SessionInfo(ApiModel):
    """A compute or sensing session."""

    session_id: str
    service_id: str
    kind: SessionKind
    status: SessionStatus
    status_info: StatusInfo | None
    cell: str
    qos: Qos
    rate_per_second: float
    duration: int
    started_at: datetime | None
    expires_at: datetime
    plan: Plan
    measured_latency_ms: float | None
    migrations: int
    usage: Usage
    revision: int


class RequestInfo(ApiModel):
    """The answer to a unified service request."""

    request_id: str
    service_id: str
    matched_by: Literal["serviceId", "intent"]
    session: SessionInfo


class SessionPatch(ApiModel):
    """Changes to a session (merge patch)."""

    qos: Qos | None = None
    rate_per_second: (
        Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False), AS_NUMBER] | None
    ) = None


class ExtendRequest(ApiModel):
    """More time for a session."""

    requested_additional_duration: Annotated[int, Field(ge=1, le=86_400), AS_INTEGER]


class DeploymentStatus(StrEnum):
    """A deployment's state (as EAM's instance status)."""

    instantiating = "instantiating"
    ready = "ready"
    failed = "failed"
    terminating = "terminating"


class DeploymentCreate(ApiModel):
    """Instances of a service's network steps to keep running."""

    service_id: str
    zones: list[Name] | None = Field(
        default=None, min_length=1, description="domains to place them in; default: any"
    )
    min_instances: Annotated[int, Field(ge=1, le=100), AS_INTEGER] = 1
    sink: AnyHttpUrl | None = None
    sink_credential: SinkCredential | None = None


class InstanceInfo(ApiModel):
    """An instance of a service type on a node."""

    function: str
    node: str
    domain: str
    status: Literal["instantiating", "ready"]
    since_slot: int


class DeploymentInfo(ApiModel):
    """A deployment and the instances that fulfil it."""

    deployment_id: str
    service_id: str
    zones: list[str] | None
    min_instances: int
    status: DeploymentStatus
    instances: list[InstanceInfo]
    on_demand: bool
    created_at: datetime
    updated_at: datetime


class UsageLine(ApiModel):
    """Usage of one subscriber or provider."""

    client_id: str
    sessions: int
    tasks: float
    compute_gcycles: float
    compute_seconds: float
    bytes_up: float
    bytes_down: float
    energy_j: float


class UsageReport(ApiModel):
    """Usage for accounting, by subscriber (terminal) or by provider."""

    by: Literal["subscriber", "provider"]
    items: list[UsageLine]


class LatencyFigures(ApiModel):
    """Latency percentiles, ms."""

    p50: float | None
    p95: float | None
    p99: float | None


class ServiceTypeState(ApiModel):
    """How a service type of the live system did over the last slots."""

    function: str
    from_slot: int
    to_slot: int
    offered: float
    satisfaction_rate: float | None
    latency_ms: LatencyFigures
    deadline_ms: float
    sla_status: Literal["MET", "VIOLATED", "NO_DATA"]


class NodeStateInfo(ApiModel):
    """A node's state in the last slot."""

    node: str
    domain: str
    kind: str
    capacity_gcps: float
    utilisation: float
    energy_j: float
    reserved_gcps: float
    awake: bool
    instances: list[str]


class LinkStateInfo(ApiModel):
    """A wired link's state in the last slot, Mbit/s per direction."""

    link: int = Field(description="the link's index in the scenario's wired links")
    a: str = Field(description="one end (a domain)")
    b: str = Field(description="the other end")
    capacity_mbps: float
    carried_mbps: float = Field(description="the twin's own traffic in the last slot")
    reserved_mbps: float = Field(description="held by live sessions' transfers")
    room_mbps: float = Field(description="what a new session's transfers may still hold")
    utilisation: float = Field(description="(carried + reserved) / capacity")


class ReorchestrationInfo(ApiModel):
    """A re-orchestration trigger that fired and what changed."""

    reorchestration_id: str
    slot: int
    trigger: Literal["SLA_VIOLATION", "OVERLOAD", "HOTSPOT_SHIFT"]
    evidence: dict[str, Any]
    changes: dict[str, Any]
    created_at: datetime


class ClockInfo(ApiModel):
    """The slot clock."""

    mode: str
    slot: int
    slot_ms: float
    leader: bool
    scenario: str
    policy: str


class AdvanceRequest(ApiModel):
    """Slots to run now (manual clock)."""

    slots: Annotated[int, Field(ge=1, le=1000), AS_INTEGER] = 1


class ErrorInfo(BaseModel):
    """The one error body (CAMARA ``ErrorInfo``)."""

    status: int
    code: str
    message: str
