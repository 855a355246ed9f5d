"""The pure rules: key parsing and scopes, the rate limit, webhook filters, backoff and
address checks, and the call context that enriches every event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest

from cc_crm_api.core.events import CallContext, event_agent, updated_context
from cc_crm_api.core.keys import (
    BOOTSTRAP_KEY_ID,
    KeyRecord,
    Scope,
    allows,
    new_key,
    parse_token,
    refusal,
    secret_matches,
)
from cc_crm_api.core.ratelimit import Bucket, RateLimit
from cc_crm_api.core.webhooks import backoff_seconds, delivery_id, refused_address, wants
from cc_proto import make_event
from cc_proto.events import (
    CallAnswered,
    CallEnded,
    CallIvrCompleted,
    CallOffered,
    CallOutcome,
    CallPlaced,
)

NOW = datetime(2025, 3, 1, 9, tzinfo=UTC)


def key(*scopes: Scope, **extra: object) -> KeyRecord:
    values: dict[str, object] = {
        "key_id": "k",
        "name": "n",
        "scopes": frozenset(scopes),
        "expires_at": None,
        "revoked_at": None,
        "last_used_at": None,
        **extra,
    }
    return KeyRecord(**values)  # type: ignore[arg-type]


def test_tokens_parse_and_only_the_right_secret_matches() -> None:
    made = new_key()
    key_id, secret = parse_token(made.token)
    assert key_id == made.key_id
    assert secret_matches(secret, made.secret_hash)
    assert not secret_matches(secret + "x", made.secret_hash)
    assert parse_token("an-operator-secret")[0] == BOOTSTRAP_KEY_ID
    assert new_key().token != made.token


def test_scopes_and_refusals() -> None:
    assert allows(key(Scope.WRITE), Scope.READ)
    assert not allows(key(Scope.READ), Scope.WRITE)
    assert allows(key(Scope.ADMIN), Scope.RECORDINGS)
    assert not allows(key(Scope.RECORDINGS), Scope.READ)
    assert refusal(None, NOW) == "unknown API key"
    assert refusal(key(Scope.READ, revoked_at=NOW), NOW) == "API key revoked"
    assert refusal(key(Scope.READ, expires_at=NOW), NOW) == "API key expired"
    assert refusal(key(Scope.READ, expires_at=NOW + timedelta(seconds=1)), NOW) is None


def test_the_rate_limit_allows_a_burst_then_the_rate() -> None:
    limit = RateLimit(rate=2.0, burst=3)
    bucket = None
    waits = []
    for _ in range(4):
        bucket, wait = limit.take(bucket, 100.0)
        waits.append(wait)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.5)
    bucket, wait = limit.take(bucket, 100.5)
    assert wait == 0.0
    # A replica whose clock is behind refills nothing and does not move the bucket back.
    behind, wait = limit.take(bucket, 90.0)
    assert wait == pytest.approx(0.5)
    assert behind.at == 100.5
    assert limit.take(Bucket(0.0, 0.0), 1_000.0)[0].tokens == 2.0  # capped at the burst, less one
    assert RateLimit.retry_after(0.2) == "1"
    assert RateLimit.retry_after(2.1) == "3"


def test_webhook_filters_backoff_and_addresses() -> None:
    assert wants(["call.ended"], "call.ended")
    assert wants(["call.*"], "call.answered")
    assert wants(["*"], "agent.state_changed")
    assert not wants(["call.*"], "agent.state_changed")
    waits = [backoff_seconds(n, base=1, cap=60, uniform=lambda lo, hi: hi) for n in range(1, 9)]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    low = [backoff_seconds(n, base=1, cap=60, uniform=lambda lo, hi: lo) for n in (1, 2, 3)]
    assert low == [0.5, 1, 2]
    assert refused_address("8.8.8.8", []) is None
    for private in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1"):
        assert refused_address(private, []) is not None, private
    assert refused_address("::ffff:127.0.0.1", []) is not None
    assert refused_address("0.0.0.0", []) is not None
    assert refused_address("224.0.0.1", []) is not None
    assert refused_address("127.0.0.1", [ip_network("127.0.0.1/32")]) is None
    assert refused_address("127.0.0.2", [ip_network("127.0.0.1/32")]) is not None
    assert delivery_id(2, "ff") > delivery_id(1, "ff")


def test_the_call_context_keeps_what_the_ivr_and_crm_gave() -> None:
    ivr = make_event(
        CallIvrCompleted(
            flow="main", outcome="queued", duration_seconds=5, selections=["2"], customer_id="C1"
        ),
        tenant="t",
        call_id="c",
    )
    ctx = updated_context(None, ivr)
    offered = make_event(CallOffered(queue="q", caller_number="+49301"), tenant="t", call_id="c")
    ctx = updated_context(ctx, offered)
    answered = make_event(
        CallAnswered(queue="q", agent_leg_uuid="l", wait_seconds=1, ring_seconds=1),
        tenant="t",
        call_id="c",
        agent_id="a1",
    )
    ctx = updated_context(ctx, answered)
    assert ctx == CallContext(
        call_id="c",
        caller_number="+49301",
        customer_id="C1",
        queue="q",
        ivr_selections=("2",),
        agent_id="a1",
    )
    ended = make_event(
        CallEnded(outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=9),
        tenant="t",
        call_id="c",
    )
    assert event_agent(ended, ctx) == "a1"
    assert event_agent(offered, ctx) is None


def test_a_click_to_call_context_is_outbound_with_the_number_and_customer_and_its_agent() -> None:
    placed = make_event(
        CallPlaced(queue="sales", dialed_number="+33612345678", customer_id="CRM-42"),
        tenant="t",
        call_id="out1",
        agent_id="a1",
    )
    ctx = updated_context(None, placed)
    assert ctx is not None
    assert (ctx.direction, ctx.dialed_number, ctx.customer_id) == (
        "outbound",
        "+33612345678",
        "CRM-42",
    )
    assert (ctx.agent_id, ctx.queue, ctx.caller_number) == ("a1", "sales", None)
