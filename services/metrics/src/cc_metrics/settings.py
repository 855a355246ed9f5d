"""Settings of the metrics service (environment prefix ``CC_``, shared with every service)."""

from __future__ import annotations

from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from cc_common.settings import ServiceSettings
from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds


class MetricsSettings(ServiceSettings):
    """What the metrics service reads from its environment; thresholds are settings here."""

    service_name: ClassVar[str] = "metrics"
    default_http_port: ClassVar[int] = 8104

    service_level_seconds: int = Field(
        default=20, description=f"Service-level threshold T, one of {list(WAIT_BOUNDS)} s."
    )
    short_abandon_seconds: int = Field(
        default=5, description=f"Short-abandon threshold, one of {list(WAIT_BOUNDS)} s."
    )
    service_level_target: float = Field(default=0.80, ge=0, le=1)
    abandon_rate_limit: float = Field(default=0.05, ge=0, le=1, description="Alert above this.")
    longest_wait_limit_seconds: float = Field(default=120.0, gt=0, description="Alert above.")
    metrics_queues: list[str] = Field(
        default_factory=list, description="Queues shown before any call."
    )
    metrics_teams: list[str] = Field(
        default_factory=list, description="Teams shown before any agent."
    )
    break_reasons: list[str] = Field(
        default_factory=lambda: ["lunch", "break", "training", "meeting"],
        description="Break reason codes exposed as labels; others show as 'other'.",
    )
    report_time_zone: str = Field(default="UTC", description="Default zone for days and weeks.")
    metrics_queue: str | None = Field(
        default=None, description="Its bus queue; default <bus exchange>.metrics."
    )
    metrics_concurrency: int = Field(default=64, ge=1, le=1024, description="Events in flight.")
    metrics_batch_max: int = Field(
        default=256, ge=1, le=10_000, description="Events per transaction."
    )
    metrics_batch_linger_seconds: float = Field(default=0.002, ge=0, le=1)
    metrics_staffing_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Time limit of one staffing plan."
    )

    @field_validator("service_level_seconds", "short_abandon_seconds")
    @classmethod
    def _kept_bound(cls, value: int) -> int:
        if value not in WAIT_BOUNDS:
            raise ValueError(f"must be one of {list(WAIT_BOUNDS)}")
        return value

    @field_validator("report_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    def thresholds(self) -> Thresholds:
        """Return the thresholds the KPIs are computed with."""
        return Thresholds(
            service_level_seconds=self.service_level_seconds,
            short_abandon_seconds=self.short_abandon_seconds,
            service_level_target=self.service_level_target,
            abandon_rate_limit=self.abandon_rate_limit,
            longest_wait_limit_seconds=self.longest_wait_limit_seconds,
        )

    @property
    def consumer_queue(self) -> str:
        """Return the bus queue: named after the exchange so platforms on one broker never clash."""
        return self.metrics_queue or f"{self.bus_exchange}.metrics"
