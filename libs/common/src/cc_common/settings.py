"""Settings every service shares, read from the environment (prefix ``CC_``) or secret files.

Secrets (passwords, URLs with credentials) may come from files: set ``CC_SECRETS_DIR`` to a
directory holding one file per variable, named like it (``CC_DATABASE_URL``, ``CC_AMQP_URL``,
``CC_ESL_PASSWORD``, ``CC_SERVICE_TOKEN`` ...), the layout a mounted Kubernetes Secret gives.
Variables win over files.
"""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cc_proto.envelope import TENANT_PATTERN

ENV_PREFIX = "CC_"


class ServiceSettings(BaseSettings):
    """The settings of one service process; subclasses add their own fields."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        validate_default=True,
    )

    service_name: ClassVar[str] = "service"
    default_http_port: ClassVar[int] = 8000

    tenant: str = Field(
        default="default", pattern=TENANT_PATTERN, description="Tenant this process serves."
    )
    database_url: SecretStr = Field(
        default=SecretStr("sqlite+aiosqlite:///var/cc.sqlite3"),
        description="SQLAlchemy async URL; postgresql+asyncpg://... in production.",
    )
    db_pool_size: int = Field(
        default=5, ge=1, le=1000, description="PostgreSQL connections the process keeps open."
    )
    db_pool_max_overflow: int = Field(
        default=10, ge=0, le=1000, description="Extra connections opened at peaks, then closed."
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Wait for a free connection before answering 503 with Retry-After.",
    )
    amqp_url: SecretStr = Field(
        default=SecretStr("memory://local"),
        description="amqp://user:pass@host:5672/vhost for RabbitMQ, or memory://<name> in-process.",
    )
    bus_exchange: str = Field(
        default="cc.events", min_length=1, description="Topic exchange for events."
    )
    bus_delivery_limit: int = Field(
        default=5, ge=1, le=1000, description="Deliveries before dead-lettering."
    )
    bus_prefetch: int = Field(
        default=64, ge=1, le=65535, description="Unacked messages per consumer."
    )
    esl_host: str = Field(default="127.0.0.1", description="FreeSWITCH event socket host.")
    esl_port: int = Field(default=8021, ge=1, le=65535, description="FreeSWITCH event socket port.")
    esl_password: SecretStr = Field(
        default=SecretStr("ClueCon"), description="Event socket password."
    )
    service_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Bearer token internal APIs require and clients send; unset: nobody gets in.",
    )
    http_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=1_073_741_824, description="Largest request body accepted."
    )
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    http_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port; service default if unset."
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @property
    def port(self) -> int:
        """Return the port to serve on: the setting, or the service's default."""
        return self.default_http_port if self.http_port is None else self.http_port


S = TypeVar("S", bound=BaseSettings)


class SettingsError(SystemExit):
    """Start-up configuration is wrong; exits non-zero with every bad variable named."""


def describe_errors(exc: ValidationError, *, prefix: str = ENV_PREFIX) -> list[str]:
    """Turn a validation error into one line per variable: ``CC_HTTP_PORT: <what is wrong>``."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "?"
        lines.append(f"{prefix}{field.upper()}: {err['msg']} (got {err.get('input')!r})")
    return lines


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings or exit with status 2 naming each bad variable, before anything starts."""
    secrets_dir = os.environ.get("CC_SECRETS_DIR")
    if secrets_dir:
        overrides.setdefault("_secrets_dir", secrets_dir)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        message = "configuration error:\n  " + "\n  ".join(describe_errors(exc))
        print(message, file=sys.stderr)
        raise SettingsError(2) from None
