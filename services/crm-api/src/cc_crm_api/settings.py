"""Settings of the crm-api service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from cc_common.keys import parse_keys
from cc_common.settings import ServiceSettings


class CrmApiSettings(ServiceSettings):
    """What the crm-api service reads from its environment."""

    service_name: ClassVar[str] = "crm-api"
    default_http_port: ClassVar[int] = 8100

    crm_bootstrap_key: SecretStr | None = Field(
        default=None,
        description="An admin API key installed at start (at least 32 characters); from a secret.",
    )
    crm_routing_url: str = Field(
        default="http://127.0.0.1:8101", description="Base URL of routing's internal API."
    )
    crm_metrics_url: str = Field(
        default="http://127.0.0.1:8104", description="Base URL of metrics' internal API."
    )
    crm_recording_url: str = Field(
        default="http://127.0.0.1:8103",
        description="Base URL of the recording service's internal API (QA evaluations).",
    )
    crm_upstream_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    crm_staffing_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=900,
        description="Timeout of a staffing plan at metrics: above metrics' own time limit "
        "(CC_METRICS_STAFFING_SECONDS, 20 s), so a plan too costly to compute is its 422, "
        "not a timeout here.",
    )
    crm_rate_limit_per_second: float = Field(
        default=50.0, gt=0, description="Sustained requests per second allowed to one API key."
    )
    crm_rate_limit_burst: int = Field(
        default=100, ge=1, description="Requests one API key may make at once before limiting."
    )
    crm_idempotency_hours: float = Field(
        default=24.0, gt=0, description="How long a stored Idempotency-Key response is replayed."
    )
    crm_queue: str | None = Field(
        default=None, description="Its bus queue; default <bus exchange>.crm-api."
    )
    crm_event_log_size: int = Field(
        default=100_000, ge=100, description="Events kept for stream resumption (Last-Event-ID)."
    )
    crm_event_poll_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often streams look for events from replicas."
    )
    crm_stream_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)
    crm_stream_ticket_seconds: float = Field(
        default=60.0, ge=5, le=600, description="How long an unused stream ticket stays valid."
    )
    crm_webhook_keys: SecretStr | None = Field(
        default=None,
        description="Keys sealing webhook signing secrets at rest: `id:base64(32 bytes)`, "
        "comma-separated, the first seals, all open; from a secret. Unset: no new webhooks.",
    )
    crm_webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Private/loopback networks webhook URLs may still point at (operator only).",
    )
    crm_webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    crm_webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    crm_webhook_backoff_seconds: float = Field(default=5.0, gt=0)
    crm_webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    crm_webhook_disable_after: int = Field(
        default=20,
        ge=1,
        description="Consecutive failed attempts after which a subscription stops.",
    )
    crm_webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    crm_webhook_concurrency: int = Field(default=16, ge=1, le=512)

    @field_validator("crm_webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for text in value:
            ip_network(text, strict=False)
        return value

    @field_validator("crm_webhook_keys")
    @classmethod
    def _keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @field_validator("crm_bootstrap_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (use a random secret)")
        return value

    @property
    def consumer_queue(self) -> str:
        """Return the bus queue: named after the exchange so platforms on one broker never clash."""
        return self.crm_queue or f"{self.bus_exchange}.crm-api"

    def webhook_keys(self) -> dict[str, bytes]:
        """Return the keys sealing webhook secrets, the sealing one first."""
        keys = self.crm_webhook_keys
        return parse_keys(keys.get_secret_value()) if keys else {}

    def allowed_networks(self) -> list[IPv4Network | IPv6Network]:
        """Return the operator's exceptions to the private-address rule for webhook URLs."""
        return [ip_network(text, strict=False) for text in self.crm_webhook_allowed_networks]
