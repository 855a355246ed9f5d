"""Which service may publish which events: the source of each service's RabbitMQ topic permissions.

Each service connects to RabbitMQ as its own user. RabbitMQ's topic authorisation checks every
publish to the topic exchange against the user's write pattern, so a service can publish only
the routing keys (``<tenant>.<event type>``) it owns, and an event forged with another service's
credentials is refused by the broker (``ACCESS_REFUSED``). Reading (binding) is not restricted.
Apply with ``rabbitmqctl set_topic_permissions -p <vhost> <user> <exchange> <write> <read>``, or
the Messaging Topology Operator's ``TopicPermission`` (deploy/k8s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cc_proto.envelope import TENANT_PATTERN

PUBLISHES: Mapping[str, frozenset[str]] = {
    "routing": frozenset(
        {
            "call.offered",
            "call.placed",
            "call.queued",
            "call.blocked",
            "call.agent_offered",
            "call.agent_missed",
            "call.answered",
            "call.held",
            "call.resumed",
            "call.transferred",
            "call.overflowed",
            "call.abandoned",
            "call.callback_requested",
            "call.dispositioned",
            "call.ended",
            "agent.logged_in",
            "agent.state_changed",
            "agent.logged_out",
            "config.changed",
            "dialer.attempted",
            "dialer.connected",
            "dialer.dropped",
            "dialer.machine_detected",
            "dialer.dispositioned",
        }
    ),
    "ivr": frozenset({"call.ivr_started", "call.ivr_completed", "survey.completed"}),
    "recording": frozenset(
        {
            "recording.started",
            "recording.paused",
            "recording.resumed",
            "recording.completed",
            "recording.flagged",
            "recording.deleted",
            "qa.evaluated",
        }
    ),
    "crm-api": frozenset({"config.changed"}),
    "metrics": frozenset(),
}
"""Event types each service publishes; metrics only consumes."""

NOTHING = "(?!)"
"""A write pattern no routing key matches, not even the empty one."""


def resource_pattern(service: str, exchange: str = "cc.events") -> str:
    """Exchanges and queues ``service`` may configure, write and read (``set_permissions``).

    The events exchange, its dead-letter exchange, and the service's own queue
    (``<exchange>.<service>``) with its dead letters: nothing of another service's.
    """
    own = re.escape(service)
    return rf"^{re.escape(exchange)}(\.dlx|\.{own}|\.{own}\.dead)?$"


def write_pattern(service: str, *, tenant: str | None = None) -> str:
    """The regular expression of routing keys ``service`` may publish (one tenant, or any)."""
    types = sorted(PUBLISHES[service])
    if not types:
        return NOTHING
    tenants = re.escape(tenant) if tenant is not None else TENANT_PATTERN.strip("^$")
    return rf"^{tenants}\.({'|'.join(re.escape(t) for t in types)})$"
