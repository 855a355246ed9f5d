"""Routing's API describes what it answers: every success reply of its queue, agent and call
routes has a schema a client can generate types from (the CRM API and supervisors' tools read
these)."""

from __future__ import annotations

from typing import Any

from cc_common.testing import TEST_SERVICE_TOKEN
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings


def openapi() -> dict[str, Any]:
    settings = RoutingSettings(
        tenant="t", database_url="postgresql+asyncpg://unused/x", service_token=TEST_SERVICE_TOKEN
    )
    return create_app(settings).openapi()


def test_every_success_reply_has_a_schema() -> None:
    doc = openapi()
    missing = []
    routed = ("/v1/queues", "/v1/agents", "/v1/calls")
    for path, item in doc["paths"].items():
        if not path.startswith(routed):
            continue
        for method, operation in item.items():
            for code, reply in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                schema = reply.get("content", {}).get("application/json", {}).get("schema", {})
                untyped = (
                    schema in ({}, {"type": "object"})
                    or schema.get("additionalProperties") is True
                    or schema.get("items") in ({}, {"type": "object"})
                )
                if untyped:
                    missing.append(f"{method.upper()} {path} {code}")
    assert missing == [], missing


def test_the_views_are_named_schemas() -> None:
    schemas = openapi()["components"]["schemas"]
    names = {"AgentView", "CallView", "QueueStatus", "CommandAccepted", "DecisionOut"}
    assert names <= set(schemas)
    assert schemas["AgentView"]["required"][:2] == ["agent_id", "state"]
