"""The routing service's internal HTTP API: agents, queues, calls, callbacks, explanations.

Used by the CRM API and by supervisors' tools, never by the public directly (the app factory
requires the service token). Every change goes through the runtime's single path (core, then
outbox and FreeSWITCH), so an API call and a FreeSWITCH event can never interleave half-way.
Configuration is checked in full before the core sees it: a refused name, dial string or tier
is a 422 with the reason, and nothing is stored or remembered.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, TypeAdapter

from cc_common.names import Label, Name
from cc_common.problems import problem_doc
from cc_proto.events import AgentState
from cc_routing.adapters.store import Store, configuration_write
from cc_routing.core import (
    AgentConfig,
    AgentView,
    CallView,
    ConfigError,
    QueueConfig,
    QueueStatus,
    RoutingError,
)
from cc_routing.core.config import check_agent, check_queue_input
from cc_routing.dialer.lists import normalise_number
from cc_routing.runtime import RoutingRuntime
from cc_routing.service import RoutingService

router = APIRouter(
    prefix="/v1",
    tags=["routing"],
    responses={503: problem_doc("Routing is not live yet (starting, or another instance leads).")},
)
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: problem_doc("No such queue, agent or call.")}
CONFLICT: Responses = {409: problem_doc("The request does not fit the current state.")}
EITHER: Responses = {**NOT_FOUND, **CONFLICT}
ACCEPTED: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "responses": EITHER,
    "response_model_exclude_none": True,
}
"""How every CTI command route answers: 202 with only the fields of the command given."""


def get_service(request: Request) -> RoutingService:
    """Dependency: the routing service of this app."""
    service: RoutingService = request.app.state.routing
    return service


ServiceDep = Annotated[RoutingService, Depends(get_service)]


def _runtime(service: RoutingService) -> RoutingRuntime:
    if not service.live.is_set():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "routing is not live yet")
    return service.runtime


def _bad(exc: Exception, code: int = status.HTTP_422_UNPROCESSABLE_CONTENT) -> HTTPException:
    return HTTPException(code, str(exc))


# --- configuration -----------------------------------------------------------------------------


def _config_store(
    runtime: RoutingRuntime, kind: Literal["queue", "agent"], key: str, document: Any | None
) -> Store:
    """The configuration write the step runs in its own transaction, under its lock."""
    return configuration_write(runtime.tenant, runtime.outbox, kind, key, document)


QUEUES: TypeAdapter[QueueConfig] = TypeAdapter(QueueConfig)
AGENTS: TypeAdapter[AgentConfig] = TypeAdapter(AgentConfig)


@router.put("/queues/{name}", status_code=status.HTTP_200_OK)
async def put_queue(name: str, config: QueueConfig, service: ServiceDep) -> QueueConfig:
    """Create or change a queue; a bad strategy, number or skill expression is a 422 with why."""
    try:
        check_queue_input(config)
    except ConfigError as exc:
        raise _bad(exc) from None
    if config.name != name:
        raise _bad(ValueError(f"body names queue {config.name!r}, the path another"))
    runtime = _runtime(service)
    document: dict[str, Any] = QUEUES.dump_python(config, mode="json")
    try:
        await runtime.step(
            lambda: runtime.acd.configure_queue(config, runtime.now()),
            store=_config_store(runtime, "queue", name, document),
        )
    except ConfigError as exc:
        raise _bad(exc) from None
    return config


@router.delete("/queues/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=EITHER)
async def delete_queue(name: str, service: ServiceDep) -> Response:
    """Delete an empty queue (409 while it holds calls: nothing may be lost)."""
    runtime = _runtime(service)
    if name not in runtime.acd.queue_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no queue named {name!r}")
    try:
        await runtime.step(
            lambda: runtime.acd.remove_queue(name, runtime.now()),
            store=_config_store(runtime, "queue", name, None),
        )
    except (RoutingError, ConfigError) as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/queues")
async def list_queues(service: ServiceDep) -> list[QueueStatus]:
    """Every queue's live status."""
    runtime = _runtime(service)
    return [_status(runtime, name) for name in runtime.acd.queue_names()]


@router.get("/queues/{name}", responses=NOT_FOUND)
async def queue_status(name: str, service: ServiceDep) -> QueueStatus:
    """One queue's live figures: calls waiting, oldest wait, agents by state, service level."""
    runtime = _runtime(service)
    if name not in runtime.acd.queue_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no queue named {name!r}")
    return _status(runtime, name)


def _status(runtime: RoutingRuntime, name: str) -> QueueStatus:
    return runtime.acd.queue_status(name, runtime.now())


@router.put("/agents/{agent_id}")
async def put_agent(agent_id: str, config: AgentConfig, service: ServiceDep) -> AgentConfig:
    """Create or change an agent: contact (one FreeSWITCH endpoint), skills 1-5, queues as tiers.

    The contact is one endpoint such as ``user/1001`` or ``sofia/gateway/carrier/4930123``: no
    whitespace, ``&``, variable blocks or further endpoints. Tiers name existing queues.
    """
    try:
        check_agent(config)
    except ConfigError as exc:
        raise _bad(exc) from None
    if config.agent_id != agent_id:
        raise _bad(ValueError(f"body names agent {config.agent_id!r}, the path another"))
    runtime = _runtime(service)
    unknown = sorted(set(config.tiers) - set(runtime.acd.queue_names()))
    if unknown:
        raise _bad(ValueError(f"tiers name queues that do not exist: {', '.join(unknown[:10])}"))
    document: dict[str, Any] = AGENTS.dump_python(config, mode="json")
    try:
        await runtime.step(
            lambda: runtime.acd.upsert_agent(config, runtime.now()),
            store=_config_store(runtime, "agent", agent_id, document),
        )
    except (ConfigError, RoutingError) as exc:
        raise _bad(exc) from None
    return config


@router.delete(
    "/agents/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=EITHER,
)
async def delete_agent(agent_id: str, service: ServiceDep) -> Response:
    """Forget a logged-out agent (409 while logged in)."""
    runtime = _runtime(service)
    _known_agent(runtime, agent_id)
    try:
        await runtime.step(
            lambda: runtime.acd.remove_agent(agent_id, runtime.now()),
            store=_config_store(runtime, "agent", agent_id, None),
        )
    except RoutingError as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _known_agent(runtime: RoutingRuntime, agent_id: str) -> None:
    if agent_id not in runtime.acd.agent_ids():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no agent {agent_id!r}")


# --- agent states ------------------------------------------------------------------------------


class StateChange(BaseModel):
    """What an agent (or supervisor) asks for."""

    state: Literal["available", "break", "not_ready"]
    reason: Label | None = None


class Login(BaseModel):
    state: Literal["available", "break", "not_ready"] = "available"
    reason: Label | None = None


class Logout(BaseModel):
    reason: Label | None = None


class WrapUp(BaseModel):
    action: Literal["end", "extend"]
    seconds: float = Field(default=30.0, gt=0, le=3600)


class Disposition(BaseModel):
    code: Label
    resolved: bool | None = None


async def _agent_action(service: RoutingService, agent_id: str, decide: Any) -> AgentView:
    runtime = _runtime(service)
    _known_agent(runtime, agent_id)
    try:
        await runtime.step(lambda: decide(runtime.acd, runtime.now()))
    except (RoutingError, ConfigError) as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    return runtime.acd.agent_view(agent_id)


@router.post("/agents/{agent_id}/login", responses=EITHER)
async def login(agent_id: str, body: Login, service: ServiceDep) -> AgentView:
    """Start a shift, available or straight into a break."""
    state = AgentState(body.state)
    return await _agent_action(
        service,
        agent_id,
        lambda acd, now: acd.login(agent_id, now, state=state, reason=body.reason),
    )


@router.post("/agents/{agent_id}/logout", responses=EITHER)
async def logout(agent_id: str, body: Logout, service: ServiceDep) -> AgentView:
    """End a shift (after the current call, if on one)."""
    return await _agent_action(
        service, agent_id, lambda acd, now: acd.logout(agent_id, now, reason=body.reason)
    )


@router.post("/agents/{agent_id}/state", responses=EITHER)
async def change_state(agent_id: str, body: StateChange, service: ServiceDep) -> AgentView:
    """Go available, on break or not ready (a reason code is required for the last two)."""
    if body.state == "available":
        decide = lambda acd, now: acd.set_available(agent_id, now)  # noqa: E731
    elif body.reason is None:
        raise _bad(ValueError(f"{body.state} needs a reason code"))
    elif body.state == "break":
        decide = lambda acd, now: acd.set_break(agent_id, body.reason, now)  # noqa: E731
    else:
        decide = lambda acd, now: acd.set_not_ready(agent_id, body.reason, now)  # noqa: E731
    return await _agent_action(service, agent_id, decide)


@router.post("/agents/{agent_id}/wrap-up", responses=EITHER)
async def wrap_up(agent_id: str, body: WrapUp, service: ServiceDep) -> AgentView:
    """End wrap-up now, or extend it."""
    if body.action == "end":
        return await _agent_action(
            service, agent_id, lambda acd, now: acd.end_wrap_up(agent_id, now)
        )
    return await _agent_action(
        service, agent_id, lambda acd, now: acd.extend_wrap_up(agent_id, body.seconds, now)
    )


@router.post("/agents/{agent_id}/disposition", responses=EITHER)
async def disposition(agent_id: str, body: Disposition, service: ServiceDep) -> AgentView:
    """Record the outcome of the agent's current (or just ended) call."""
    return await _agent_action(
        service,
        agent_id,
        lambda acd, now: acd.dispose_call(agent_id, body.code, now, resolved=body.resolved),
    )


@router.get("/agents/{agent_id}", responses=NOT_FOUND)
async def agent(agent_id: str, service: ServiceDep) -> AgentView:
    """An agent's live state."""
    runtime = _runtime(service)
    _known_agent(runtime, agent_id)
    return runtime.acd.agent_view(agent_id)


# --- calls -------------------------------------------------------------------------------------


class CallbackRequest(BaseModel):
    number: str = Field(min_length=3, max_length=32, pattern=r"^\+?[0-9*#]+$")


@router.get("/calls/{call_id}", responses=NOT_FOUND)
async def call(call_id: str, service: ServiceDep) -> CallView:
    """Where a call stands: status, position and estimated wait, kept current."""
    runtime = _runtime(service)
    view = runtime.acd.call_view(call_id, runtime.now())
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"routing holds no call {call_id!r}")
    return view


@router.post("/calls/{call_id}/callback", responses=EITHER)
async def callback(call_id: str, body: CallbackRequest, service: ServiceDep) -> CallView | None:
    """The caller leaves the line and keeps their place: they are called back in turn.

    404 while routing holds no such call (the IVR asks a moment after the caller parks, so it
    may be early and tries again); 409 when the call is held but not waiting (answered, or
    already a callback)."""
    runtime = _runtime(service)
    if runtime.acd.call_view(call_id, runtime.now()) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"routing holds no call {call_id!r}")
    try:
        await runtime.step(
            lambda: runtime.acd.request_callback(call_id, body.number, runtime.now())
        )
    except RoutingError as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    return runtime.acd.call_view(call_id, runtime.now())


CommandName = Literal["hangup", "transfer", "hold", "resume", "call"]


class CommandAccepted(BaseModel):
    """A CTI command routing accepted and sent to FreeSWITCH; what it does follows as events.

    Only the fields of the command given are present.
    """

    call_id: str
    command: CommandName
    cause: str | None = None
    target_kind: Literal["number", "queue", "agent"] | None = None
    target: str | None = None
    agent_id: str | None = None
    number: str | None = None
    queue: str | None = None
    customer_id: str | None = None


HangupCause = Literal[
    "NORMAL_CLEARING", "CALL_REJECTED", "USER_BUSY", "NO_ANSWER", "ORIGINATOR_CANCEL"
]
"""Causes a CRM may give (FreeSWITCH's names): a fixed set, never free text on the ESL line."""


class HangupRequest(BaseModel):
    cause: HangupCause = "NORMAL_CLEARING"


@router.post(
    "/calls/{call_id}/hangup",
    **ACCEPTED,
)
async def hangup(call_id: str, body: HangupRequest, service: ServiceDep) -> CommandAccepted:
    """Hang up a call routing holds (``uuid_kill`` with the cause, sent with bgapi).

    Accepted, not done: the leg's hangup event ends the call in routing as any hangup does
    (call.ended published, the agent into wrap-up). 404 for a call routing does not hold;
    409 for a booked callback, which has no line yet.
    """
    return await _call_command(
        service,
        call_id,
        lambda acd, now: acd.hang_up(call_id, body.cause, now),
        "hangup",
        cause=body.cause,
    )


class TransferToNumber(BaseModel):
    """A blind transfer to a number: digits with an optional ``+``, never a dial string."""

    target_kind: Literal["number"]
    target: str = Field(min_length=3, max_length=21, pattern=r"^\+?[0-9]{3,20}$")


class TransferToQueue(BaseModel):
    """A blind transfer to a queue: the caller waits there as a new arrival."""

    target_kind: Literal["queue"]
    target: Label


class TransferToAgent(BaseModel):
    """A blind transfer to one agent (by id), who must be available."""

    target_kind: Literal["agent"]
    target: Name


TransferRequest = Annotated[
    TransferToNumber | TransferToQueue | TransferToAgent, Field(discriminator="target_kind")
]


@router.post(
    "/calls/{call_id}/transfer",
    **ACCEPTED,
)
async def transfer(call_id: str, body: TransferRequest, service: ServiceDep) -> CommandAccepted:
    """Blind-transfer an answered call to a queue or a number (digits and ``+`` only).

    To a queue: the caller is parked out of the bridge (``uuid_park``; the agent leg hangs up
    with it), the agent goes into wrap-up, and the caller enters that queue as any arrival
    (call.offered there, then offered to its agents); the call keeps its id and ends once.
    To a number: the caller leaves routing (``cc_queue`` unset) and is sent with
    ``uuid_transfer`` to the number in the transfer context (``CC_ROUTING_TRANSFER_CONTEXT``),
    which reaches it; call.ended says ``transferred_out``. Either way call.transferred is
    published. To an agent (by id, who must be available, else 409): the caller is parked
    out of the bridge with music while only that agent is rung; if they do not answer, the
    caller goes back to the queue it was answered in as a new arrival. The new answer carries
    ``queue_answer`` false: the agent's, not a second answer of the queue. 404 for a call (or
    queue, or agent) routing does not hold; 409 for a call not answered (waiting, ringing, a
    callback), or a click-to-call sent to a queue or an agent."""
    runtime = _runtime(service)
    target = body.target
    if body.target_kind == "queue":
        if target not in runtime.acd.queue_names():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no queue named {target!r}")
        decide = lambda acd, now: acd.transfer_to_queue(call_id, target, now)  # noqa: E731
    elif body.target_kind == "agent":
        _known_agent(runtime, target)
        decide = lambda acd, now: acd.transfer_to_agent(call_id, target, now)  # noqa: E731
    else:
        decide = lambda acd, now: acd.transfer_to_number(call_id, target, now)  # noqa: E731
    return await _call_command(
        service, call_id, decide, "transfer", target_kind=body.target_kind, target=target
    )


class PlaceCall(BaseModel):
    """Click-to-call: the agent's phone rings, then the number is dialled."""

    number: str = Field(min_length=3, max_length=32, description="E.164, e.g. +33612345678.")
    queue: Name = Field(description="The queue the call is reported and wrapped up in.")
    customer_id: Label | None = None


@router.post(
    "/agents/{agent_id}/calls",
    **ACCEPTED,
)
async def place_call(agent_id: str, body: PlaceCall, service: ServiceDep) -> CommandAccepted:
    """Click-to-call: ring the agent (an originate with a fresh uuid, as for any offer); when
    they answer, dial the number through the callback dial string (``CC_ROUTING_CALLBACK_DIAL``)
    as leg ``call_id`` and bridge. The agent is reserved, then on the call, so no queue offers
    them a call meanwhile; wrap-up follows. call.placed is published first (outbound, the
    number, the customer id), then the usual agent and call events. 422 for a number that is
    not a valid E.164 number; 404 for an unknown agent or queue; 409 for an agent who is not
    available (the reason says in which state)."""
    runtime = _runtime(service)
    _known_agent(runtime, agent_id)
    try:
        number, _, _ = normalise_number(body.number, "ZZ")
    except ValueError as exc:
        raise _bad(exc) from None
    acd = runtime.acd
    if body.queue not in acd.queue_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no queue named {body.queue!r}")
    call_id = acd.new_call_id()
    try:
        await runtime.step(
            lambda: acd.place_call(
                call_id, agent_id, number, body.queue, runtime.now(), customer_id=body.customer_id
            )
        )
    except RoutingError as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    if not acd.holds_call(call_id):
        raise _bad(RoutingError(f"agent {agent_id!r} was offered a call first"), 409)
    return CommandAccepted(
        call_id=call_id,
        command="call",
        agent_id=agent_id,
        number=number,
        queue=body.queue,
        customer_id=body.customer_id,
    )


async def _call_command(
    service: RoutingService, call_id: str, decide: Any, command: CommandName, **fields: Any
) -> CommandAccepted:
    """Run one CTI command on a call: 404 unless routing holds it, 409 when it does not apply;
    the reply names the command and ``fields`` (what it was given)."""
    runtime = _runtime(service)
    if not runtime.acd.holds_call(call_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"routing holds no call {call_id!r}")
    try:
        await runtime.step(lambda: decide(runtime.acd, runtime.now()))
    except RoutingError as exc:
        raise _bad(exc, status.HTTP_409_CONFLICT) from None
    return CommandAccepted(call_id=call_id, command=command, **fields)


@router.post(
    "/calls/{call_id}/hold",
    **ACCEPTED,
)
async def hold(call_id: str, service: ServiceDep) -> CommandAccepted:
    """Put an answered call on hold: ``uuid_hold`` on the agent's leg, so the caller (its
    bridge partner) hears music on hold; call.held is published. 409 unless the call is
    answered and not on hold already."""
    return await _call_command(
        service, call_id, lambda acd, now: acd.hold_call(call_id, now), "hold"
    )


@router.post(
    "/calls/{call_id}/resume",
    **ACCEPTED,
)
async def resume(call_id: str, service: ServiceDep) -> CommandAccepted:
    """Take a held call off hold (``uuid_hold off`` on the agent's leg); call.resumed carries
    the hold's length, and call.ended the call's total ``hold_seconds``. 409 unless on hold."""
    return await _call_command(
        service, call_id, lambda acd, now: acd.resume_call(call_id, now), "resume"
    )


class CandidateOut(BaseModel):
    """An agent who could take the call, with the terms the strategy ranked them by."""

    agent_id: str
    terms: dict[str, float | int | str | None]
    chosen: bool


class SkippedOut(BaseModel):
    """A member of the queue who was not considered, and why."""

    agent_id: str
    reason: str


class QueueChoiceOut(BaseModel):
    """How a queue ranked when a freed agent in several queues picked one."""

    queue: str
    service_level: float
    target: float
    margin: float
    head_call_id: str
    head_enqueued_at: float
    chosen: bool


class DecisionOut(BaseModel):
    """One routing decision for the call: who was considered, ranked, skipped and chosen."""

    at: float
    call_id: str
    queue: str
    trigger: str
    strategy: str
    requirement: str | None
    relaxation_step: int
    chosen: list[str]
    candidates: list[CandidateOut]
    skipped: list[SkippedOut]
    queue_choice: list[QueueChoiceOut]


@router.get("/calls/{call_id}/explain", responses=NOT_FOUND)
async def explain(call_id: str, service: ServiceDep) -> list[DecisionOut]:
    """Why this call went (or did not go) to each agent: candidates, score terms, skips."""
    runtime = _runtime(service)
    decisions = runtime.acd.explain(call_id)
    if not decisions:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no routing decision kept for {call_id!r}")
    return [DecisionOut.model_validate(decision.as_dict()) for decision in decisions]
