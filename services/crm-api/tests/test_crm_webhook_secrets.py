"""Webhook signing secrets at rest: sealed under the operator's key, never in the database in
plaintext; rows from before sealing (plaintext) and rows under an older key are re-sealed at
start; deliveries still verify with the reference library."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cc_common.keys import parse_keys
from cc_common.testing import eventually
from cc_crm_api.adapters.db import webhooks
from cc_crm_api.adapters.sealing import (
    PREFIX,
    SealError,
    SecretBox,
    bound_to,
    new_key_text,
)
from cc_crm_api.testing import Crm, CrmFactory, WebhookReceiver, serve
from cc_proto import make_event
from cc_proto.events import CallEnded, CallOutcome

LOOPBACK = {"crm_webhook_allowed_networks": ["127.0.0.1/32"]}


async def end_call(crm: Crm, call_id: str) -> None:
    ended = CallEnded(
        outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=30
    )
    await crm.publisher.publish(make_event(ended, tenant="acme", call_id=call_id, agent_id="a1"))


async def stored(crm: Crm) -> dict[str, str]:
    """Every subscription's stored secret column, by id."""
    async with crm.db.session() as session:
        rows = (await session.execute(select(webhooks.c.webhook_id, webhooks.c.secret))).all()
    return {r.webhook_id: r.secret for r in rows}


async def whole_rows(crm: Crm) -> str:
    async with crm.db.session() as session:
        rows = (await session.execute(select(webhooks))).all()
    return repr([tuple(r) for r in rows])


def secret_forms(secret: str) -> list[str]:
    """The secret as shown and its raw key bytes' encodings: none may be in the row."""
    raw = base64.b64decode(secret.removeprefix("whsec_"))
    return [secret, secret.removeprefix("whsec_"), raw.hex(), base64.b64encode(raw).decode()]


async def verified_delivery(
    crm: Crm, receiver: WebhookReceiver, secret: str, call_id: str
) -> dict[str, Any]:
    """Make an event, wait for its delivery and verify it with the reference library."""
    before = len(receiver.received)
    await end_call(crm, call_id)
    await eventually(lambda: len(receiver.received) > before, within=30)
    got = receiver.received[before]
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    assert payload["call_id"] == call_id
    return payload


@pytest.mark.integration
async def test_the_secret_is_sealed_in_the_database_and_deliveries_verify(
    start_crm: CrmFactory,
) -> None:
    receiver = WebhookReceiver()
    async with serve(receiver) as url:
        crm = await start_crm(**LOOPBACK)
        reply = await crm.client.post(
            "/v1/webhooks", json={"url": url, "events": ["call.ended"]}, headers=crm.auth()
        )
        assert reply.status_code == 201, reply.text
        hook = reply.json()
        secret = hook["secret"]
        assert secret.startswith("whsec_")
        column = (await stored(crm))[hook["webhook_id"]]
        assert column.startswith(PREFIX + "test1:")
        everything = await whole_rows(crm)
        for form in secret_forms(secret):
            assert form not in everything
        # Shown once: no read gives it back.
        one = await crm.client.get(f"/v1/webhooks/{hook['webhook_id']}", headers=crm.auth())
        listed = await crm.client.get("/v1/webhooks", headers=crm.auth())
        assert "secret" not in one.json()
        assert secret not in one.text + listed.text
        await verified_delivery(crm, receiver, secret, "call-sealed")


@pytest.mark.integration
async def test_plaintext_rows_and_an_older_key_are_resealed_at_start(
    start_crm: CrmFactory,
) -> None:
    receiver = WebhookReceiver()
    old_keys = new_key_text("old")
    async with serve(receiver) as url:
        first = await start_crm(**LOOPBACK, crm_webhook_keys=old_keys)
        created = []
        for _ in range(2):
            reply = await first.client.post(
                "/v1/webhooks", json={"url": url, "events": ["call.ended"]}, headers=first.auth()
            )
            created.append(reply.json())
        legacy, rotated = created
        # A row as written before secrets were sealed: the secret itself.
        async with first.db.session() as session:
            await session.execute(
                update(webhooks)
                .where(webhooks.c.webhook_id == legacy["webhook_id"])
                .values(secret=legacy["secret"])
            )
        await first.stop()
        # The operator puts a new key first and keeps the old one for opening.
        second = await start_crm(**LOOPBACK, crm_webhook_keys=f"{new_key_text('new')},{old_keys}")
        columns = await stored(second)
        assert all(c.startswith(PREFIX + "new:") for c in columns.values()), columns
        everything = await whole_rows(second)
        for hook in created:
            for form in secret_forms(hook["secret"]):
                assert form not in everything
        # Both subscriptions deliver, each signed with the secret it was given at creation.
        payloads = []
        before = len(receiver.received)
        await end_call(second, "call-resealed")
        await eventually(lambda: len(receiver.received) >= before + 2, within=30)
        for got in receiver.received[before:]:
            verified = []
            for hook in created:
                try:
                    verified.append(Webhook(hook["secret"]).verify(got.body, got.headers))
                except WebhookVerificationError:  # signed for the other subscription
                    continue
            assert len(verified) == 1
            payloads.append(verified[0])
        assert [p["call_id"] for p in payloads] == ["call-resealed", "call-resealed"]
        assert rotated["webhook_id"] != legacy["webhook_id"]


@pytest.mark.integration
async def test_without_a_key_no_webhook_is_created(start_crm: CrmFactory) -> None:
    crm = await start_crm(**LOOPBACK, crm_webhook_keys=None)
    reply = await crm.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/in", "events": ["*"]},
        headers=crm.auth(),
    )
    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/problem+json"
    assert "CC_CRM_WEBHOOK_KEYS" in reply.json()["detail"]
    assert await stored(crm) == {}


def test_a_sealed_secret_opens_only_for_its_row_and_with_its_key() -> None:
    box = SecretBox(parse_keys(new_key_text("a")))
    sealed = box.seal("whsec_abc", bound_to("acme", "wh_1"))
    assert "whsec_abc" not in sealed
    assert box.open(sealed, bound_to("acme", "wh_1")) == "whsec_abc"
    with pytest.raises(SealError):
        box.open(sealed, bound_to("acme", "wh_2"))  # copied onto another subscription
    with pytest.raises(SealError):
        box.open(sealed, bound_to("other", "wh_1"))  # or another tenant
    with pytest.raises(SealError, match="not configured"):
        SecretBox(parse_keys(new_key_text("b"))).open(sealed, bound_to("acme", "wh_1"))
    assert box.open("whsec_legacy", "acme/wh_1") == "whsec_legacy"  # plaintext from before
    assert not box.needs_reseal(sealed)
    assert box.needs_reseal("whsec_legacy")
    with pytest.raises(ValueError, match="32 bytes"):
        parse_keys("k:" + base64.b64encode(b"short").decode())
