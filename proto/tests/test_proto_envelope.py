"""The envelope and event models: round trips, and every way a message can break the contract."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cc_proto import (
    ContractError,
    Envelope,
    EventData,
    encode_event,
    event_types,
    make_event,
    parse_event,
    routing_key,
)
from cc_proto.events import AgentState, CallAbandoned, CallOffered

# The events DESIGN.md promises; each must exist at version 1.
DESIGNED = [
    "call.offered",
    "call.blocked",
    "call.ivr_completed",
    "call.queued",
    "call.agent_offered",
    "call.agent_missed",
    "call.answered",
    "call.held",
    "call.resumed",
    "call.transferred",
    "call.overflowed",
    "call.abandoned",
    "call.callback_requested",
    "call.ended",
    "agent.logged_in",
    "agent.state_changed",
    "agent.logged_out",
    "recording.started",
    "recording.paused",
    "recording.completed",
    "survey.completed",
    "dialer.attempted",
    "dialer.connected",
    "dialer.dropped",
    "dialer.machine_detected",
    "dialer.dispositioned",
    "config.changed",
]

EXAMPLES: dict[str, dict[str, Any]] = {
    "call.offered": {"queue": "sales", "priority": 5, "caller_number": "+4930123"},
    "call.placed": {"queue": "sales", "dialed_number": "+4930123", "customer_id": "CRM-42"},
    "call.queued": {"queue": "sales", "position": 3, "estimated_wait_seconds": 42.5},
    "call.blocked": {"queue": "sales", "reason": "queue_full", "routed_to": "voicemail"},
    "call.ivr_started": {"flow": "main", "flow_version": 3, "dialed_number": "8000"},
    "call.ivr_completed": {
        "flow": "main",
        "outcome": "queued",
        "queue": "sales",
        "duration_seconds": 12,
    },
    "call.agent_offered": {
        "queue": "sales",
        "agent_leg_uuid": "u1",
        "contact": "user/1001",
        "ring_timeout_seconds": 15,
    },
    "call.agent_missed": {
        "queue": "sales",
        "agent_leg_uuid": "u1",
        "cause": "NO_ANSWER",
        "ring_seconds": 15,
    },
    "call.answered": {
        "queue": "sales",
        "agent_leg_uuid": "u1",
        "wait_seconds": 12.5,
        "ring_seconds": 3,
    },
    "call.held": {"queue": "sales"},
    "call.resumed": {"queue": "sales", "hold_seconds": 30},
    "call.transferred": {"kind": "blind", "target_kind": "queue", "target": "billing"},
    "call.overflowed": {"queue": "sales", "to_queue": "overflow", "wait_seconds": 120},
    "call.abandoned": {"queue": "sales", "wait_seconds": 33, "position": 2},
    "call.callback_requested": {
        "queue": "sales",
        "callback_number": "+4930123",
        "wait_seconds": 60,
        "position": 4,
    },
    "call.dispositioned": {"code": "sale", "resolved": True},
    "call.ended": {
        "outcome": "answered",
        "hangup_cause": "NORMAL_CLEARING",
        "duration_seconds": 300,
        "talk_seconds": 250,
    },
    "agent.logged_in": {"queues": ["sales"], "skills": {"fr": 4}, "team": "a"},
    "agent.state_changed": {
        "from_state": "available",
        "to_state": "on_call",
        "from_state_since": "2026-11-22T10:00:00Z",
    },
    "agent.logged_out": {"reason": "end of shift"},
    "recording.started": {"recording_id": "r1", "channel_uuid": "u1"},
    "recording.paused": {"recording_id": "r1", "reason": "pci"},
    "recording.completed": {
        "recording_id": "r1",
        "uri": "s3://b/r1.wav",
        "duration_seconds": 60,
        "size_bytes": 960044,
    },
    "recording.resumed": {"recording_id": "r1", "paused_seconds": 12.5},
    "recording.flagged": {"recording_id": "r1", "reason": "file_missing", "attempt": 2},
    "recording.deleted": {"recording_id": "r1", "reason": "erased"},
    "qa.evaluated": {
        "evaluation_id": "e1",
        "recording_id": "r1",
        "scorecard": "basic",
        "scorecard_version": 2,
        "evaluator": "eve",
        "percent": 87.5,
        "passed": True,
    },
    "survey.completed": {"csat": 1, "nps": 9, "fcr": True},
    "dialer.attempted": {
        "campaign": "renewals",
        "lead_id": "l1",
        "number": "+4930123",
        "attempt": 1,
    },
    "dialer.connected": {"campaign": "renewals", "lead_id": "l1", "answered_by": "human"},
    "dialer.dropped": {"campaign": "renewals", "lead_id": "l1", "wait_seconds": 2.5},
    "dialer.machine_detected": {
        "campaign": "renewals",
        "lead_id": "l1",
        "attempt": 1,
        "leg": "3f1c2a9e-0d6b-4c57-9a51-0e2b7c1d4f60",
        "after_bridge": True,
        "connected_at": "2026-03-02T09:00:01.500000Z",
        "connected_wait_seconds": 0.4,
    },
    "dialer.dispositioned": {
        "campaign": "renewals",
        "lead_id": "l1",
        "attempt": 1,
        "disposition": "sale",
        "right_party": True,
        "outcome": "connected",
    },
    "config.changed": {"entity": "queue", "entity_id": "sales", "action": "updated"},
}


def wire(event_type: str, data: dict[str, Any], **overrides: Any) -> bytes:
    doc = {
        "id": "6f1c1d2e-2c1a-4c4e-9a53-0e6c8a2b1f00",
        "type": event_type,
        "version": 1,
        "occurred_at": "2026-11-22T10:00:00.123456Z",
        "tenant": "acme",
        "call_id": "c1",
        "agent_id": None,
        "data": data,
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


def test_every_designed_event_exists_and_has_an_example() -> None:
    known = {event_type for event_type, _ in event_types()}
    assert set(DESIGNED) <= known
    assert known == set(EXAMPLES)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_event_round_trips_through_the_wire(event_type: str) -> None:
    parsed = parse_event(wire(event_type, EXAMPLES[event_type]))
    assert parsed.type == event_type
    assert isinstance(parsed.data, event_types()[(event_type, 1)])
    again = parse_event(parsed.to_json())
    assert again == parsed


def test_make_event_fills_the_envelope_and_the_routing_key() -> None:
    when = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    event = make_event(CallOffered(queue="sales"), tenant="acme", call_id="c1", occurred_at=when)
    assert (event.type, event.version, event.occurred_at) == ("call.offered", 1, when)
    assert routing_key(event) == "acme.call.offered"
    assert json.loads(event.to_json())["data"]["queue"] == "sales"


ODD_HEADS = [
    ("c1", None, datetime(2026, 11, 22, 10, 0, tzinfo=UTC)),
    (None, "agent-7", datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)),
    ('q"\\/é\u2028\x01', "ä\n", datetime(2026, 11, 22, 10, 0, 0, 500000, tzinfo=UTC)),
    ("c2", "a2", datetime(2026, 11, 22, 12, 0, 0, 7, tzinfo=timezone(timedelta(hours=2)))),
    ("c3", "a3", datetime.fromtimestamp(1_700_000_000.1234567, UTC)),
]


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
@pytest.mark.parametrize(("call_id", "agent_id", "when"), ODD_HEADS)
def test_encode_event_is_byte_for_byte_the_envelopes_json(
    event_type: str, call_id: str | None, agent_id: str | None, when: datetime
) -> None:
    data = parse_event(wire(event_type, EXAMPLES[event_type])).data
    event_id = uuid.uuid4()
    head = {"tenant": "acme-2", "occurred_at": when, "call_id": call_id, "agent_id": agent_id}
    envelope = make_event(data, event_id=event_id, **head)  # type: ignore[arg-type]
    encoded = encode_event(data, event_id=event_id, **head)  # type: ignore[arg-type]
    assert encoded.body == envelope.to_json()
    assert (encoded.id, encoded.routing_key) == (event_id, routing_key(envelope))


def test_encode_event_refuses_what_the_envelope_refuses() -> None:
    data = CallOffered(queue="sales")
    with pytest.raises(ContractError, match="tenant"):
        encode_event(data, tenant="Acme.Corp", occurred_at=datetime.now(UTC))
    with pytest.raises(ContractError, match="time zone"):
        encode_event(data, tenant="acme", occurred_at=datetime(2026, 11, 22))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (wire("call.unknown", {}), "unknown event type/version: 'call.unknown' v1"),
        (wire("call.offered", EXAMPLES["call.offered"], version=2), "unknown event type/version"),
        (wire("call.offered", EXAMPLES["call.offered"], version="1"), "unknown event type/version"),
        (wire("call.offered", {"queue": ""}), "data.queue"),
        (wire("call.offered", {"queue": "s", "surprise": 1}), "data.surprise"),
        (wire("call.offered", {"queue": "s"}, tenant="Acme.Corp"), "tenant"),
        (wire("call.offered", {"queue": "s"}, occurred_at="2026-11-22T10:00:00"), "time zone"),
        (wire("call.offered", {"queue": "s"}, extra=1), "unknown envelope fields: ['extra']"),
        (
            wire("call.abandoned", {"queue": "s", "wait_seconds": -1, "position": 1}),
            "data.wait_seconds",
        ),
        (wire("survey.completed", {"csat": 4}), "data.csat"),
    ],
)
def test_messages_that_break_the_contract_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_event(raw)
    assert reason in caught.value.reason


def test_agent_states_are_the_acd_vocabulary() -> None:
    assert [s.value for s in AgentState] == [
        "logged_out",
        "available",
        "reserved",
        "on_call",
        "wrap_up",
        "break",
        "not_ready",
    ]


def test_envelope_is_generic_over_the_data_model() -> None:
    event: Envelope[EventData] = parse_event(wire("call.abandoned", EXAMPLES["call.abandoned"]))
    assert isinstance(event.data, CallAbandoned)
    assert event.data.wait_seconds == 33
