"""The event stream over WebSocket: the handshake's bearer key is checked, events arrive as
JSON messages, and a client resumes after the last id it saw."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect

with warnings.catch_warnings():
    # Starlette would rather its test client ran on httpx2; httpx is what the project has.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from cc_common.bus._rabbit import RabbitBus
from cc_crm_api.app import create_app
from cc_crm_api.settings import CrmApiSettings
from cc_proto import make_event
from cc_proto.events import AgentState, AgentStateChanged

pytestmark = pytest.mark.integration


def test_agent_events_over_websocket(
    pg_url: str, amqp_url: str, unique_name: Callable[[str], str], rabbit_cleanup: Any
) -> None:
    exchange = unique_name("ex")
    rabbit_cleanup.exchanges.update({exchange, f"{exchange}.dlx"})
    token = secrets.token_urlsafe(32)
    settings = CrmApiSettings(
        tenant="acme",
        database_url=pg_url,
        amqp_url=amqp_url,
        bus_exchange=exchange,
        crm_queue=rabbit_cleanup.queue(unique_name("crm")),
        crm_bootstrap_key=token,
        crm_event_poll_seconds=0.1,
        crm_stream_keepalive_seconds=30,
    )
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        publisher = RabbitBus(amqp_url, service="test", exchange=exchange)
        portal = client.portal
        assert portal is not None

        def publish(n: int, agent: str = "a1") -> None:
            states = (AgentState.AVAILABLE, AgentState.BREAK)
            change = AgentStateChanged(from_state=states[n % 2], to_state=states[(n + 1) % 2])
            portal.call(publisher.publish, make_event(change, tenant="acme", agent_id=agent))

        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/v1/agents/a1/events/ws") as ws,
        ):
            ws.receive_json()
        assert refused.value.code == 1008
        with client.websocket_connect("/v1/agents/a1/events/ws", headers=auth) as ws:
            publish(0, agent="a2")
            publish(1)
            first = ws.receive_json()
        assert (first["type"], first["agent_id"]) == ("agent.state_changed", "a1")
        publish(2)
        publish(3)
        with client.websocket_connect(
            f"/v1/agents/a1/events/ws?after={first['seq']}", headers=auth
        ) as ws:
            rest = [ws.receive_json(), ws.receive_json()]
        assert [m["data"]["to_state"] for m in rest] == ["break", "available"]
        assert first["seq"] < rest[0]["seq"] < rest[1]["seq"]
        portal.call(publisher.close)
