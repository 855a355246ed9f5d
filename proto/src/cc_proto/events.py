"""Every domain event the platform publishes, as versioned pydantic models.

Names are past tense: something that happened. The envelope carries ``call_id`` (the caller
leg's FreeSWITCH Unique-ID), ``agent_id`` and ``tenant``; ``data`` carries the rest. Times are
seconds as floats; instants are timezone-aware datetimes. To change a model incompatibly, add a
new class with ``event_version = 2`` and keep the old one until no producer sends it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from cc_proto.envelope import EventData, register

Seconds = float
Name = Annotated[str, Field(min_length=1, max_length=200)]
"""A non-empty identifier: queue, agent, campaign, recording ..."""


class AgentState(StrEnum):
    """Where an agent is; the ACD and the KPIs share this vocabulary."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    BREAK = "break"
    NOT_READY = "not_ready"


class CallOutcome(StrEnum):
    """How a call ended, from the contact center's point of view; each call has exactly one."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    BLOCKED = "blocked"
    OVERFLOWED = "overflowed"
    CALLBACK = "callback"
    ENDED_IN_IVR = "ended_in_ivr"
    TRANSFERRED_OUT = "transferred_out"
    FAILED = "failed"


# --- calls -------------------------------------------------------------------------------------


@register
class CallOffered(EventData):
    event_type = "call.offered"
    summary = "The call entered a queue: an offered call in KPI terms."
    queue: Name
    priority: int = Field(default=0, ge=0, le=100, description="Higher is served first.")
    caller_number: str | None = None
    dialed_number: str | None = None
    customer_id: str | None = None


@register
class CallPlaced(EventData):
    event_type = "call.placed"
    summary = (
        "An agent placed an outbound call (click-to-call): their phone rings first, then the "
        "number is dialled; not an offered call in KPI terms."
    )
    direction: Literal["outbound"] = "outbound"
    queue: Name = Field(description="The queue the call is reported and wrapped up in.")
    dialed_number: str = Field(description="The customer's number, E.164.")
    customer_id: str | None = None


@register
class CallQueued(EventData):
    event_type = "call.queued"
    summary = "The call had to wait: no agent could take it on entry."
    queue: Name
    position: int = Field(ge=1)
    estimated_wait_seconds: Seconds | None = Field(default=None, ge=0)


@register
class CallBlocked(EventData):
    event_type = "call.blocked"
    summary = "The call was refused before it could wait in a queue."
    queue: str | None = None
    reason: Literal["queue_full", "no_agents", "closed", "no_capacity", "unknown_queue"]
    routed_to: str | None = Field(default=None, description="Where the call was sent instead.")


@register
class CallIvrStarted(EventData):
    event_type = "call.ivr_started"
    summary = "The call entered an IVR flow (the version it runs on to the end)."
    flow: Name
    flow_version: int = Field(ge=1)
    caller_number: str | None = None
    dialed_number: str | None = None


@register
class CallIvrCompleted(EventData):
    event_type = "call.ivr_completed"
    summary = "The caller left the IVR: to a queue, to a transfer, or by hanging up there."
    flow: Name
    outcome: Literal[
        "queued", "ended", "transferred", "self_served", "voicemail", "callback", "abandoned"
    ] = Field(
        description="self_served: the IVR did the job (containment); abandoned: the caller hung "
        "up in the IVR; ended: the flow hung up without serving (e.g. closed)."
    )
    queue: str | None = None
    duration_seconds: Seconds = Field(ge=0)
    selections: list[str] = Field(default_factory=list, description="Menu choices, in order.")
    customer_id: str | None = None
    flow_version: int | None = Field(default=None, ge=1)
    path: list[str] = Field(default_factory=list, description="Nodes visited, in order.")
    language: str | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    skills: list[str] = Field(default_factory=list)
    voicemail_file: str | None = Field(default=None, description="The message left, if any.")


@register
class CallAgentOffered(EventData):
    event_type = "call.agent_offered"
    summary = "An agent's phone started ringing for this call."
    queue: Name
    agent_leg_uuid: Name
    contact: Name = Field(description="The FreeSWITCH dial string that was rung.")
    ring_timeout_seconds: Seconds = Field(gt=0)
    attempt: int = Field(default=1, ge=1)


@register
class CallAgentMissed(EventData):
    event_type = "call.agent_missed"
    summary = "The offered agent did not take the call; the cause is FreeSWITCH's."
    queue: Name
    agent_leg_uuid: Name
    cause: Name = Field(description="NO_ANSWER, USER_BUSY, CALL_REJECTED, ...")
    ring_seconds: Seconds = Field(ge=0)


@register
class CallAnswered(EventData):
    event_type = "call.answered"
    summary = "An agent answered and was bridged to the caller."
    queue: Name
    agent_leg_uuid: Name
    wait_seconds: Seconds = Field(ge=0, description="Queue wait: entry to answer.")
    ring_seconds: Seconds = Field(ge=0, description="Offer to answer, for this agent.")
    queue_answer: bool = Field(
        default=True,
        description="False for an answer that is not the queue's: a click-to-call, or a call "
        "an agent transferred to another agent after it was answered in this queue. It counts "
        "for the agent, never as an answered call of the queue.",
    )


@register
class CallHeld(EventData):
    event_type = "call.held"
    summary = "The agent put the caller on hold."
    queue: str | None = None


@register
class CallResumed(EventData):
    event_type = "call.resumed"
    summary = "The caller came off hold."
    queue: str | None = None
    hold_seconds: Seconds = Field(ge=0)


@register
class CallTransferred(EventData):
    event_type = "call.transferred"
    summary = "The call was handed on by an agent."
    kind: Literal["blind", "consultative"]
    target_kind: Literal["queue", "agent", "number"]
    target: Name
    queue: str | None = None
    talk_seconds: Seconds | None = Field(
        default=None,
        ge=0,
        description="The transferring agent's part of the call when it goes on to a queue or an "
        "agent: their talk, from their answer to the transfer (the envelope's agent_id is theirs). "
        "call.ended then carries the last agent's part only. None for a transfer to a number, "
        "whose call.ended (the same agent's) carries the part, and from older producers.",
    )
    hold_seconds: Seconds | None = Field(
        default=None,
        ge=0,
        description="The transferring agent's hold time on the call, as talk_seconds.",
    )


@register
class CallOverflowed(EventData):
    event_type = "call.overflowed"
    summary = "The call left its queue for another after waiting too long."
    queue: Name
    to_queue: Name
    wait_seconds: Seconds = Field(ge=0)


@register
class CallAbandoned(EventData):
    event_type = "call.abandoned"
    summary = "The caller hung up while waiting (or while an agent was being rung)."
    queue: Name
    wait_seconds: Seconds = Field(ge=0)
    position: int = Field(ge=1)
    while_ringing: bool = False


@register
class CallCallbackRequested(EventData):
    event_type = "call.callback_requested"
    summary = "The caller left the queue asking to be called back, keeping their place."
    queue: Name
    callback_number: Name
    wait_seconds: Seconds = Field(ge=0)
    position: int = Field(ge=1)
    callback_call_id: str | None = Field(
        default=None, description="The callback's own call id, used by its later events."
    )
    priority: int = Field(default=0, ge=0, le=100)


@register
class CallDispositioned(EventData):
    event_type = "call.dispositioned"
    summary = "The agent recorded the call's outcome during wrap-up."
    code: Name
    resolved: bool | None = Field(default=None, description="Resolved on first contact (FCR).")
    queue: str | None = None


@register
class CallEnded(EventData):
    event_type = "call.ended"
    summary = "The caller's leg is gone; the last event of every call."
    outcome: CallOutcome
    hangup_cause: Name
    hangup_by: Literal["caller", "agent", "system"] | None = None
    queue: str | None = None
    duration_seconds: Seconds = Field(ge=0)
    talk_seconds: Seconds = Field(
        default=0,
        ge=0,
        description="Talk of the agent who ended the call, since their answer (the envelope's "
        "agent_id). An agent who transferred the call on reported their part on call.transferred.",
    )
    hold_seconds: Seconds = Field(
        default=0, ge=0, description="Hold time since the last answer, as talk_seconds."
    )


# --- agents ------------------------------------------------------------------------------------


@register
class AgentLoggedIn(EventData):
    event_type = "agent.logged_in"
    summary = "The agent started a shift."
    queues: list[str] = Field(default_factory=list)
    skills: dict[str, int] = Field(default_factory=dict, description="Skill to proficiency 1-5.")
    team: str | None = None
    contact: str | None = None


@register
class AgentStateChanged(EventData):
    event_type = "agent.state_changed"
    summary = "The agent changed state; the envelope's call_id names the call that caused it."
    from_state: AgentState
    to_state: AgentState
    from_state_since: datetime | None = Field(
        default=None, description="When from_state began, so time in state needs no history."
    )
    reason: str | None = Field(default=None, description="Break or not-ready reason code.")
    team: str | None = None


@register
class AgentLoggedOut(EventData):
    event_type = "agent.logged_out"
    summary = "The agent ended a shift."
    reason: str | None = None
    team: str | None = None


# --- recording, QA, surveys --------------------------------------------------------------------


@register
class RecordingStarted(EventData):
    event_type = "recording.started"
    summary = "Recording of the call began."
    recording_id: Name
    channel_uuid: Name


@register
class RecordingPaused(EventData):
    event_type = "recording.paused"
    summary = "Recording paused, e.g. while a card number is taken (PCI DSS)."
    recording_id: Name
    reason: str | None = None


@register
class RecordingResumed(EventData):
    event_type = "recording.resumed"
    summary = "Recording resumed after a pause; the paused stretch is silence in the file."
    recording_id: Name
    paused_seconds: Seconds = Field(ge=0)


@register
class RecordingFlagged(EventData):
    event_type = "recording.flagged"
    summary = "A recording could not be moved to storage (missing, empty, checksum); retried."
    recording_id: Name
    reason: Name
    attempt: int = Field(ge=1)
    final: bool = Field(default=False, description="True when no further attempt will be made.")


@register
class RecordingDeleted(EventData):
    event_type = "recording.deleted"
    summary = "A recording was deleted from storage: expired by retention or erased on request."
    recording_id: Name
    reason: Literal["expired", "erased"]


@register
class RecordingCompleted(EventData):
    event_type = "recording.completed"
    summary = "The recording is finished and stored."
    recording_id: Name
    uri: Name
    duration_seconds: Seconds = Field(ge=0)
    size_bytes: int = Field(ge=0)


@register
class QaEvaluated(EventData):
    event_type = "qa.evaluated"
    summary = (
        "An evaluator scored a recorded call against a versioned scorecard, or a reviewer"
        " resolved the agent's dispute of that score (the one QA event: metrics reads the"
        " agent's score from it, the highest revision of each evaluation_id replacing the"
        " earlier ones)."
    )
    evaluation_id: Name
    revision: int = Field(
        default=0,
        ge=0,
        description=(
            "0 for the evaluator's score; 1 for the final score after a reviewer resolved a"
            " dispute (upheld or amended with corrected answers). A consumer keeps one score"
            " per evaluation_id: the one of the highest revision."
        ),
    )
    recording_id: Name
    scorecard: Name
    scorecard_version: int = Field(ge=1)
    evaluator: Name
    queue: str | None = None
    percent: float = Field(ge=0, le=100, description="0 when a critical question failed.")
    passed: bool
    critical_failed: list[str] = Field(default_factory=list)
    calibration: str | None = Field(
        default=None, description="Set for calibration scores, which are not the agent's result."
    )


@register
class SurveyCompleted(EventData):
    event_type = "survey.completed"
    summary = "The caller answered the post-call survey (any question may be skipped)."
    queue: str | None = None
    csat: int | None = Field(default=None, ge=1, le=3, description="1 very satisfied .. 3 not.")
    nps: int | None = Field(default=None, ge=0, le=10)
    fcr: bool | None = None


# --- outbound dialer ---------------------------------------------------------------------------


@register
class DialerAttempted(EventData):
    event_type = "dialer.attempted"
    summary = "The dialer placed a call to a lead."
    campaign: Name
    lead_id: Name
    number: Name
    attempt: int = Field(ge=1)


@register
class DialerConnected(EventData):
    event_type = "dialer.connected"
    summary = "A dialled lead answered and was connected to an agent."
    campaign: Name
    lead_id: Name
    answered_by: Literal["human", "machine", "unknown"] = "unknown"
    wait_seconds: Seconds = Field(default=0, ge=0)
    attempt: int | None = Field(
        default=None, ge=1, description="The dial attempt (absent from older producers)."
    )


@register
class DialerDropped(EventData):
    event_type = "dialer.dropped"
    summary = "A lead answered but no agent was free: an abandoned outbound call."
    campaign: Name
    lead_id: Name
    wait_seconds: Seconds = Field(ge=0)


@register
class DialerMachineDetected(EventData):
    event_type = "dialer.machine_detected"
    summary = (
        "Answering-machine detection (mod_avmd's beep) found a machine on a dialled lead; the "
        "attempt's outcome is machine. With after_bridge the answer was already published as "
        "dialer.connected (bridged at once by the 2-second rule): that answer was a machine, "
        "not a live one. Without it no dialer.connected or dialer.dropped went out for it."
    )
    campaign: Name
    lead_id: Name
    attempt: int = Field(ge=1)
    leg: Name = Field(description="The customer leg's FreeSWITCH Unique-ID.")
    after_bridge: bool = Field(
        description="The beep came after the customer was bridged to an agent."
    )
    connected_at: datetime | None = Field(
        default=None,
        description="With after_bridge: the time of the dialer.connected this answer was "
        "published as (its occurred_at), so consumers correct the right interval.",
    )
    connected_wait_seconds: Seconds = Field(
        default=0, ge=0, description="With after_bridge: that dialer.connected's wait_seconds."
    )


@register
class DialerDispositioned(EventData):
    event_type = "dialer.dispositioned"
    summary = "The agent recorded the disposition of an outbound call (in wrap-up)."
    campaign: Name
    lead_id: Name
    attempt: int = Field(ge=1, description="The dial attempt the disposition is about.")
    disposition: Name
    right_party: bool = Field(
        description="The campaign counts this disposition as a right-party contact."
    )
    outcome: Literal["connected", "abandoned", "busy", "no_answer", "machine", "failed"]


# --- configuration and workforce inputs --------------------------------------------------------


@register
class ConfigChanged(EventData):
    event_type = "config.changed"
    summary = "An administrator created, changed or deleted a configuration entity."
    entity: Literal["tenant", "agent", "skill", "queue", "team", "flow", "campaign", "webhook"]
    entity_id: Name
    action: Literal["created", "updated", "deleted"]
