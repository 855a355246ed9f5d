"""Settings of the routing service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from cc_common.settings import ServiceSettings
from cc_routing.core import ConfigError, Destination
from cc_routing.core.config import check_destination, dial_string_problem, sound_problem


class RoutingSettings(ServiceSettings):
    """What the routing service reads from its environment."""

    service_name: ClassVar[str] = "routing"
    default_http_port: ClassVar[int] = 8101

    routing_context: str = Field(
        default="contact-center", description="Dialplan context for transfers out of a queue."
    )
    routing_transfer_context: str = Field(
        default="cc-transfer-out",
        description="Dialplan context that reaches a number an agent blind-transfers a call to.",
    )
    routing_hold_music: str = Field(
        default="local_stream://moh", description="What queued callers hear between announcements."
    )
    routing_fallback: str = Field(
        default="hangup",
        description="Where calls routing cannot queue go: queue:<name>, transfer:<ext>, hangup.",
    )
    routing_callback_dial: str = Field(
        default="sofia/gateway/carrier/{number}",
        description="Dial string for callback customers; {number} is replaced.",
    )
    routing_dialer_dial: str = Field(
        default="sofia/gateway/carrier/{number}",
        description="Dial string for the dialer's customers; {number} is the lead's E.164 number.",
    )
    routing_dialer: bool = Field(
        default=True, description="Run the outbound dialer's running campaigns (leader only)."
    )
    routing_lease: bool = Field(
        default=True, description="Hold a PostgreSQL advisory lock so one instance per tenant acts."
    )

    @field_validator("routing_fallback")
    @classmethod
    def _destination(cls, value: str) -> str:
        try:
            check_destination(Destination.parse(value), "fallback")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("routing_callback_dial", "routing_dialer_dial")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("must contain {number}")
        problem = dial_string_problem(value.replace("{number}", "0", 1))
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("routing_hold_music")
    @classmethod
    def _sound(cls, value: str) -> str:
        problem = sound_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
