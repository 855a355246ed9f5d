"""Webhooks: Standard Webhooks signatures checked by the reference library (a tampered body and
an old timestamp refused), retries with backoff, the delivery log, replay, disabling a
subscription that keeps failing, durability across a restart, and private URLs refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cc_common.testing import eventually
from cc_crm_api.testing import Crm, CrmFactory, WebhookReceiver, serve
from cc_proto import make_event
from cc_proto.events import AgentState, AgentStateChanged, CallEnded, CallOffered, CallOutcome

pytestmark = pytest.mark.integration

LOOPBACK = {"crm_webhook_allowed_networks": ["127.0.0.1/32"]}


async def publish_call(crm: Crm, call_id: str, customer: str = "CRM-7") -> None:
    """A call offered and ended, as routing publishes them."""
    offered = CallOffered(queue="support", caller_number="+4930555", customer_id=customer)
    await crm.publisher.publish(make_event(offered, tenant="acme", call_id=call_id))
    ended = CallEnded(
        outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=30
    )
    await crm.publisher.publish(make_event(ended, tenant="acme", call_id=call_id, agent_id="a1"))


async def subscribe(crm: Crm, url: str, events: list[str]) -> dict[str, Any]:
    reply = await crm.client.post(
        "/v1/webhooks", json={"url": url, "events": events}, headers=crm.auth()
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def deliveries(crm: Crm, webhook_id: str) -> list[dict[str, Any]]:
    reply = await crm.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=crm.auth())
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


async def test_deliveries_are_signed_and_verified_by_the_reference_library(
    start_crm: CrmFactory,
) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver) as url:
        crm = await start_crm(**LOOPBACK)
        hook = await subscribe(crm, f"{url}/in", ["call.ended"])
        await publish_call(crm, "call-1")
        await eventually(lambda: len(receiver.received) == 1, within=30)
        got = receiver.received[0]
        verifier = Webhook(hook["secret"])
        payload = verifier.verify(got.body, got.headers)
        assert payload["type"] == "call.ended"
        assert payload["call"]["customer_id"] == "CRM-7"
        assert payload["call"]["caller_number"] == "+4930555"
        assert got.headers["webhook-id"].startswith("msg_")
        # A tampered body, or a replay of an old message, is refused by the verifier.
        with pytest.raises(WebhookVerificationError):
            verifier.verify(got.body.replace(b"CRM-7", b"CRM-8"), got.headers)
        old = datetime.now(UTC) - timedelta(minutes=10)
        stale = {
            **got.headers,
            "webhook-timestamp": str(int(old.timestamp())),
            "webhook-signature": verifier.sign(got.headers["webhook-id"], old, got.body),
        }
        with pytest.raises(WebhookVerificationError, match="too old"):
            verifier.verify(got.body, stale)
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43).verify(got.body, got.headers)
        # Only the subscribed event type was sent.
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 1


async def test_failures_are_retried_with_backoff_and_logged(start_crm: CrmFactory) -> None:
    receiver = WebhookReceiver(statuses=[500, 503])
    async with serve(receiver) as url:
        crm = await start_crm(**LOOPBACK, crm_webhook_backoff_seconds=0.4)
        hook = await subscribe(crm, url, ["call.ended"])
        await publish_call(crm, "call-2")
        await eventually(lambda: len(receiver.received) >= 3, within=30)

        async def settled() -> list[dict[str, Any]]:
            return [
                d for d in await deliveries(crm, hook["webhook_id"]) if d["status"] != "pending"
            ]

        for _ in range(100):
            if len(await settled()) == 1:
                break
            await asyncio.sleep(0.1)
        log = await deliveries(crm, hook["webhook_id"])
        assert {d["status"] for d in log} == {"succeeded"}
        first = log[0]
        assert [a["status_code"] for a in first["history"]] == [500, 503, 204]
        at = [datetime.fromisoformat(a["at"]) for a in first["history"]]
        # Exponential with jitter: at least half of 0.4 s, then half of 0.8 s.
        assert (at[1] - at[0]).total_seconds() >= 0.2
        assert (at[2] - at[1]).total_seconds() >= 0.4
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert ids.count(ids[0]) == 3  # the same message id on every retry


async def test_a_failing_subscription_is_disabled_with_the_reason_and_can_replay(
    start_crm: CrmFactory,
) -> None:
    receiver = WebhookReceiver(default_status=500)
    async with serve(receiver) as url:
        crm = await start_crm(
            **LOOPBACK,
            crm_webhook_backoff_seconds=0.1,
            crm_webhook_max_attempts=2,
            crm_webhook_disable_after=3,
        )
        hook = await subscribe(crm, url, ["*"])
        wid = hook["webhook_id"]
        await publish_call(crm, "call-3")

        async def state() -> dict[str, Any]:
            body: dict[str, Any] = (
                await crm.client.get(f"/v1/webhooks/{wid}", headers=crm.auth())
            ).json()
            return body

        for _ in range(600):  # a minute at most, on a loaded machine
            if not (await state())["enabled"]:
                break
            await asyncio.sleep(0.1)
        now = await state()
        assert now["enabled"] is False
        assert "3 consecutive failed deliveries" in now["disabled_reason"]
        assert "HTTP 500" in now["disabled_reason"]
        attempts_before = len(receiver.received)
        await publish_call(crm, "call-4")
        await asyncio.sleep(1.0)
        assert len(receiver.received) == attempts_before  # disabled: nothing sent
        log = await deliveries(crm, wid)
        failed = next(d for d in log if d["status"] == "failed")
        assert failed["attempts"] == 2
        # Deliveries cut off by the disabling wait; call-4's events were not queued for it.
        held = {d["message_id"] for d in log if d["status"] == "pending"}
        assert len(log) == 2  # call-3's offer and end, and nothing of call-4
        sent_before = len(receiver.received)
        # The receiver is fixed; the operator re-enables and replays the failed delivery.
        receiver.default_status = 200
        enabled = await crm.client.patch(
            f"/v1/webhooks/{wid}", json={"enabled": True}, headers=crm.auth()
        )
        assert enabled.json()["disabled_reason"] is None
        replay = await crm.client.post(
            f"/v1/webhooks/{wid}/deliveries/{failed['delivery_id']}/replay", headers=crm.auth()
        )
        assert replay.status_code == 202, replay.text
        assert replay.json()["message_id"] == failed["message_id"]
        new_id = replay.json()["delivery_id"]

        async def replayed() -> str:
            found = [d for d in await deliveries(crm, wid) if d["delivery_id"] == new_id]
            return str(found[0]["status"])

        for _ in range(100):
            if await replayed() == "succeeded":
                break
            await asyncio.sleep(0.1)
        assert await replayed() == "succeeded"
        # The replay and what was held while disabled all reach the receiver, in any order.
        await eventually(
            lambda: (
                {failed["message_id"], *held}
                <= {r.headers["webhook-id"] for r in receiver.received[sent_before:]}
            ),
            within=30,
        )
        missing = await crm.client.post(
            f"/v1/webhooks/{wid}/deliveries/dlv_nothing/replay", headers=crm.auth()
        )
        assert missing.status_code == 404


async def test_a_restart_loses_no_pending_delivery(start_crm: CrmFactory) -> None:
    """Stopped mid-attempt, the sender finishes and logs it; the next one retries at once."""
    receiver = WebhookReceiver(default_status=503, answer_after=1.0)
    async with serve(receiver) as url:
        first = await start_crm(**LOOPBACK, crm_webhook_backoff_seconds=0.5)
        hook = await subscribe(first, url, ["call.ended"])
        await publish_call(first, "call-5")
        await eventually(lambda: len(receiver.received) >= 1, within=30)
        await first.stop()  # the receiver holds the attempt for another second
        tried = len(receiver.received)
        receiver.default_status = 204
        receiver.answer_after = 0.0
        second = await start_crm(**LOOPBACK, crm_webhook_backoff_seconds=0.5)
        await eventually(
            lambda: any(r.headers.get("webhook-id") for r in receiver.received[tried:]), within=30
        )
        log = await deliveries(second, hook["webhook_id"])
        for _ in range(50):
            if log[0]["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
            log = await deliveries(second, hook["webhook_id"])
        assert [d["status"] for d in log] == ["succeeded"]
        assert log[0]["history"][0]["status_code"] == 503
        assert log[0]["history"][-1]["status_code"] == 204


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://user:pw@example.com/hook",
        "ftp://example.com/hook",
    ],
)
async def test_private_and_odd_urls_are_refused(start_crm: CrmFactory, url: str) -> None:
    crm = await start_crm()
    reply = await crm.client.post(
        "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=crm.auth()
    )
    assert reply.status_code == 422, reply.text


async def test_unknown_event_types_are_refused_and_filters_apply(start_crm: CrmFactory) -> None:
    crm = await start_crm(**LOOPBACK)
    bad = await crm.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["call.exploded"]},
        headers=crm.auth(),
    )
    assert bad.status_code == 422
    assert "call.exploded" in bad.text
    receiver = WebhookReceiver()
    async with serve(receiver) as url:
        await subscribe(crm, url, ["agent.*"])
        await publish_call(crm, "call-6")
        change = AgentStateChanged(
            from_state=AgentState.AVAILABLE, to_state=AgentState.BREAK, reason="lunch"
        )
        await crm.publisher.publish(make_event(change, tenant="acme", agent_id="a1"))
        await eventually(lambda: len(receiver.received) == 1, within=30)
        await asyncio.sleep(0.5)
        assert [r.body.count(b"agent.state_changed") for r in receiver.received] == [1]
