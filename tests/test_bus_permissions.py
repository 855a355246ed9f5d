"""Each service has its own RabbitMQ user whose topic permissions let it publish only its own
routing keys: a forged event sent with another service's credentials is refused by the broker.

The test makes a vhost and one user per service with ``rabbitmqctl`` (the least-privilege
permissions and topic permissions from ``cc_common.publishers``, as deploy/k8s grants them),
drives the project's bus with them, and removes them afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import pytest

from cc_common.bus import Bus, connect_bus
from cc_common.publishers import PUBLISHES, resource_pattern, write_pattern
from cc_common.testing import eventually
from cc_proto import Envelope, EventData, make_event, routing_key
from cc_proto.envelope import event_types
from cc_proto.events import AgentLoggedIn, CallOffered, DialerAttempted, RecordingCompleted

pytestmark = pytest.mark.integration

TENANT = "perm"


async def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl (the broker's own admin tool) and return its output; fail loudly."""
    tool = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    process = await asyncio.create_subprocess_exec(
        tool, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, f"rabbitmqctl {args[0]}: {err.decode()}{out.decode()}"
    return out.decode()


@dataclass(frozen=True)
class Broker:
    """A vhost of the test's own with one user per service."""

    vhost: str
    exchange: str
    urls: dict[str, str]


@pytest.fixture
async def broker(amqp_url: str, unique_name: Callable[[str], str]) -> AsyncIterator[Broker]:
    base = urlsplit(amqp_url)
    vhost, exchange = unique_name("perm-vhost"), unique_name("perm-ex")
    users = {service: unique_name(f"perm-{service}") for service in ("routing", "metrics")}
    await rabbitmqctl("add_vhost", vhost)
    urls = {}
    try:
        for service, user in users.items():
            password = secrets.token_urlsafe(16)
            await rabbitmqctl("add_user", user, password)
            resources = resource_pattern(service, exchange)
            await rabbitmqctl("set_permissions", "-p", vhost, user, resources, resources, resources)
            await rabbitmqctl(
                "set_topic_permissions", "-p", vhost, user, exchange, write_pattern(service), ".*"
            )
            urls[service] = (
                f"amqp://{user}:{password}@{base.hostname}:{base.port or 5672}/{quote(vhost, '')}"
            )
        yield Broker(vhost, exchange, urls)
    finally:
        for user in users.values():
            await rabbitmqctl("delete_user", user)
        await rabbitmqctl("delete_vhost", vhost)  # its exchanges and queues go with it


async def forge(url: str, exchange: str, event: Envelope[Any]) -> str:
    """Publish ``event`` with publisher confirms; return how the broker answered."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        message = aio_pika.Message(event.to_json(), delivery_mode=2)
        try:
            await target.publish(message, routing_key=routing_key(event))
        except aio_pika.exceptions.AMQPError as exc:
            return f"refused: {exc}"
    return "accepted"


async def test_a_forged_event_with_another_services_credentials_is_refused(
    broker: Broker,
) -> None:
    routing = connect_bus(broker.urls["routing"], service="routing", exchange=broker.exchange)
    metrics = connect_bus(broker.urls["metrics"], service="metrics", exchange=broker.exchange)
    received: list[Envelope[EventData]] = []

    async def handle(event: Envelope[EventData]) -> None:
        received.append(event)

    buses: list[Bus] = [routing, metrics]
    try:
        await metrics.consume(
            f"{broker.exchange}.metrics", bindings=[f"{TENANT}.#"], handler=handle
        )
        # Routing publishes its own events through the project's bus: allowed.
        offered = make_event(CallOffered(queue="sales"), tenant=TENANT, call_id="c1")
        await routing.publish(offered)
        # The outbound dialer runs inside routing: its events go out as routing's.
        attempted = DialerAttempted(
            campaign="renewals", lead_id="l1", number="+33142687301", attempt=1
        )
        await routing.publish(make_event(attempted, tenant=TENANT))
        await eventually(lambda: len(received) == 2, within=20)
        # The metrics user forges routing's agent.logged_in, routing forges a recording event.
        forged_login = make_event(AgentLoggedIn(queues=["sales"]), tenant=TENANT, agent_id="x")
        refused = await forge(broker.urls["metrics"], broker.exchange, forged_login)
        assert refused.startswith("refused"), refused
        assert "ACCESS_REFUSED" in refused
        forged_recording = make_event(
            RecordingCompleted(
                recording_id="r1", uri="file:///r1.wav", duration_seconds=1, size_bytes=1
            ),
            tenant=TENANT,
            call_id="c1",
        )
        refused = await forge(broker.urls["routing"], broker.exchange, forged_recording)
        assert "ACCESS_REFUSED" in refused
        # A routing key routing does own still goes through with the same raw client.
        ended = make_event(CallOffered(queue="sales"), tenant=TENANT, call_id="c2")
        assert await forge(broker.urls["routing"], broker.exchange, ended) == "accepted"
        await eventually(lambda: len(received) == 3, within=20)
        await asyncio.sleep(0.5)  # nothing forged arrives late either
        assert [e.type for e in received] == ["call.offered", "dialer.attempted", "call.offered"]
    finally:
        for bus in buses:
            await bus.close()


def test_every_event_type_has_a_publisher_and_metrics_publishes_none() -> None:
    owned = set().union(*PUBLISHES.values())
    assert {name for name, _ in event_types()} == owned
    assert write_pattern("metrics") == "(?!)"
    dialer = {
        "dialer.attempted",
        "dialer.connected",
        "dialer.dropped",
        "dialer.machine_detected",
        "dialer.dispositioned",
    }
    assert dialer <= PUBLISHES["routing"]  # the dialer runs in the routing service
    pattern = write_pattern("recording", tenant="acme")
    kinds = (
        r"qa\.evaluated|recording\.completed|recording\.deleted|recording\.flagged"
        r"|recording\.paused|recording\.resumed|recording\.started"
    )
    assert pattern == rf"^acme\.({kinds})$"
