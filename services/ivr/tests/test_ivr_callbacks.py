"""A caller who asks to be called back: the IVR parks them in the queue and asks routing (its
app over real HTTP, PostgreSQL, RabbitMQ, the same switch) to turn the call into a callback that
keeps their place; routing down for a while, or refusing, leaves them waiting in the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cc_common.testing import TEST_SERVICE_TOKEN, eventually, serve
from cc_ivr.adapters.routing import RoutingCallbacks
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings
from cc_sim.switches import free_port

from .conftest import VIP, Caller, Ivr, Line
from .test_ivr_calls import live, parked

pytestmark = pytest.mark.integration

CLOSED_LINE = "8003"  # the after-hours sample, closed all week: 1 voicemail, 2 callback


@asynccontextmanager
async def routing_over_http(
    settings: RoutingSettings, port: int = 0
) -> AsyncIterator[httpx.AsyncClient]:
    """Run routing's app (lifespan and all) and serve it on 127.0.0.1; yield a client with the
    service token whose base URL is where it listens."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app), serve(app, port=port) as url:
        await eventually(lambda: app.state.routing.live.is_set(), within=30)
        headers = {"Authorization": f"Bearer {TEST_SERVICE_TOKEN}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            yield client


@pytest.fixture
async def routing_settings(
    ivr: Ivr, switch: Any, make_pg_url: Callable[[], Any], amqp_url: str
) -> RoutingSettings:
    """Routing for tenant acme on the switch under test, publishing where the test listens."""
    endpoint = switch.endpoint
    return RoutingSettings(
        tenant="acme",
        database_url=await make_pg_url(),
        amqp_url=amqp_url,
        bus_exchange=ivr.exchange,
        esl_host=endpoint.host,
        esl_port=endpoint.esl_port,
        esl_password=endpoint.password,
        routing_lease=False,
        service_token=TEST_SERVICE_TOKEN,
    )


async def configure_support(api: httpx.AsyncClient) -> None:
    """The callback's queue, with no agent logged in: the callback waits in it."""
    queue = {"name": "support", "ring_timeout_seconds": 10, "wrap_up_seconds": 0}
    reply = await api.put("/v1/queues/support", json=queue)
    assert reply.status_code == 200, reply.text


async def ask_for_a_callback(ivr: Ivr, line: Line) -> Caller:
    """A known caller rings the closed line and presses 2 (call me back)."""
    caller = await line.call(CLOSED_LINE, VIP, ivr.port)
    await line.collecting(caller, 1)
    await caller.press("2")
    variables = await parked(line, caller)
    assert variables["cc_queue"] == "support"
    return caller


async def call_view(api: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    """Routing's view of a call, once routing holds it (it sees the park a moment later)."""
    views: list[httpx.Response] = []
    for _ in range(120):
        views.append(await api.get(f"/v1/calls/{call_id}"))
        if views[-1].status_code == 200:
            break
        await asyncio.sleep(0.25)
    assert views[-1].status_code == 200, views[-1].text
    view: dict[str, Any] = views[-1].json()
    return view


def callback_requested(ivr: Ivr, caller: Caller) -> Any:
    found = [e for e in ivr.of("call.callback_requested") if e.call_id == caller.b_leg]
    return found[0] if found else None


async def test_the_callback_is_booked_in_routing_with_the_callers_number_and_queue(
    ivr: Ivr, line: Line, routing_settings: RoutingSettings
) -> None:
    await live(ivr)
    async with routing_over_http(routing_settings) as api:
        await configure_support(api)
        ivr.runner.callbacks = RoutingCallbacks(str(api.base_url), token=TEST_SERVICE_TOKEN)
        caller = await ask_for_a_callback(ivr, line)

        await eventually(lambda: callback_requested(ivr, caller) is not None, within=30)
        event = callback_requested(ivr, caller)
        assert (event.data.callback_number, event.data.queue) == (VIP, "support")
        view = await call_view(api, event.data.callback_call_id)
        assert (view["callback_number"], view["queue"], view["status"]) == (
            VIP,
            "support",
            "waiting",
        )
        assert view["position"] == 1
        # the caller left the line: routing released them, the callback holds their place
        await eventually(lambda: line.hung_up(caller.b_leg), within=30)
        assert ivr.runner.stats.callbacks == {"booked": 1}


async def test_routing_down_when_the_caller_asks_books_the_callback_once_it_is_back(
    ivr: Ivr, line: Line, routing_settings: RoutingSettings
) -> None:
    await live(ivr)
    port = free_port()
    async with routing_over_http(routing_settings, port) as api:
        await configure_support(api)  # kept in routing's database across the restart
    ivr.runner.callbacks = RoutingCallbacks(
        f"http://127.0.0.1:{port}", token=TEST_SERVICE_TOKEN, patience_seconds=120
    )
    caller = await ask_for_a_callback(ivr, line)
    # routing is down: nothing takes the request, and the caller waits, parked in the queue
    assert not line.hung_up(caller.b_leg)
    assert await caller.variable("cc_callback_number") == VIP
    assert ivr.runner.stats.callbacks == {}  # still trying

    async with routing_over_http(routing_settings, port) as api:  # routing comes back
        await eventually(lambda: callback_requested(ivr, caller) is not None, within=60)
        event = callback_requested(ivr, caller)
        assert (event.data.callback_number, event.data.queue) == (VIP, "support")
        view = await call_view(api, event.data.callback_call_id)
        assert (view["callback_number"], view["status"]) == (VIP, "waiting")
        await eventually(lambda: ivr.runner.stats.callbacks == {"booked": 1}, within=30)


async def test_a_refused_request_leaves_the_caller_waiting_in_the_queue(
    ivr: Ivr, line: Line, routing_settings: RoutingSettings
) -> None:
    await live(ivr)
    async with routing_over_http(routing_settings) as api:
        await configure_support(api)
        ivr.runner.callbacks = RoutingCallbacks(str(api.base_url), token="not-the-token")
        caller = await ask_for_a_callback(ivr, line)

        await eventually(lambda: ivr.runner.stats.callbacks == {"refused": 1}, within=30)
        # routing said 401 and holds the caller as an ordinary waiting call: nothing is lost
        view = await call_view(api, caller.b_leg)
        assert (view["queue"], view["status"], view["callback_number"]) == (
            "support",
            "waiting",
            None,
        )
        assert not line.hung_up(caller.b_leg)
        assert callback_requested(ivr, caller) is None
