"""Two tenants on one database and one broker never see each other's keys, events, webhooks or
deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from cc_common.testing import eventually
from cc_crm_api.adapters.db import deliveries, event_log
from cc_crm_api.testing import CrmFactory, WebhookReceiver, serve
from cc_proto import make_event
from cc_proto.events import AgentState, AgentStateChanged

pytestmark = pytest.mark.integration


async def test_two_tenants_share_nothing(
    start_crm: CrmFactory, unique_name: Callable[[str], str], rabbit_cleanup: Any
) -> None:
    allow = {"crm_webhook_allowed_networks": ["127.0.0.1/32"]}
    acme = await start_crm(**allow)
    globex = await start_crm(
        tenant="globex", crm_queue=rabbit_cleanup.queue(unique_name("crm")), **allow
    )
    # Keys: each tenant's own, even with the same bootstrap secret.
    token = await acme.key("admin")
    assert (await globex.client.get("/v1/api-keys", headers=globex.auth(token))).status_code == 401
    acme_keys = (await acme.client.get("/v1/api-keys", headers=acme.auth())).json()
    globex_keys = (await globex.client.get("/v1/api-keys", headers=globex.auth())).json()
    assert token.split("_")[1] in {k["key_id"] for k in acme_keys}
    assert token.split("_")[1] not in {k["key_id"] for k in globex_keys}
    receiver_a, receiver_g = WebhookReceiver(), WebhookReceiver()
    async with serve(receiver_a) as url_a, serve(receiver_g) as url_g:
        for crm, url in ((acme, url_a), (globex, url_g)):
            made = await crm.client.post(
                "/v1/webhooks", json={"url": url, "events": ["*"]}, headers=crm.auth()
            )
            assert made.status_code == 201, made.text
        assert len((await acme.client.get("/v1/webhooks", headers=acme.auth())).json()) == 1
        change = AgentStateChanged(from_state=AgentState.AVAILABLE, to_state=AgentState.BREAK)
        await acme.publisher.publish(make_event(change, tenant="acme", agent_id="a1"))
        await acme.publisher.publish(make_event(change, tenant="globex", agent_id="g1"))
        await eventually(lambda: len(receiver_a.received) == 1 and len(receiver_g.received) == 1)
        await asyncio.sleep(0.5)
        assert b'"agent_id":"a1"' in receiver_a.received[0].body
        assert b'"agent_id":"g1"' in receiver_g.received[0].body
        assert [len(receiver_a.received), len(receiver_g.received)] == [1, 1]
    async with acme.db.session() as session:
        logged = (await session.execute(select(event_log.c.tenant, event_log.c.agent_id))).all()
        sent = (await session.execute(select(deliveries.c.tenant))).scalars().all()
    assert sorted(tuple(r) for r in logged) == [("acme", "a1"), ("globex", "g1")]
    assert sorted(sent) == ["acme", "globex"]
    history = await acme.client.get("/v1/webhooks", headers=acme.auth())
    hook = history.json()[0]["webhook_id"]
    foreign = await globex.client.get(f"/v1/webhooks/{hook}/deliveries", headers=globex.auth())
    assert foreign.status_code == 404
