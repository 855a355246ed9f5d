"""Thresholds the KPIs depend on: settings, never constants in formulas.

Service level and short abandons count calls whose wait is *at most* a threshold. Interval rows
and the Prometheus wait histogram keep a count at each of the standard bounds below, so any
threshold chosen from them gives an exact figure with no interpolation, live and historically.
"""

from __future__ import annotations

from dataclasses import dataclass

WAIT_BOUNDS: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120)
"""Seconds at which "answered/abandoned within" counts are kept (every service-level T)."""


def check_bound(seconds: float, what: str) -> int:
    """Return ``seconds`` as a kept bound, or raise naming the bounds that are available."""
    if seconds not in WAIT_BOUNDS:
        raise ValueError(f"{what} must be one of {list(WAIT_BOUNDS)} seconds, got {seconds}")
    return int(seconds)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The service-level threshold T, the short-abandon threshold and the targets."""

    service_level_seconds: int = 20
    short_abandon_seconds: int = 5
    service_level_target: float = 0.80
    abandon_rate_limit: float = 0.05
    longest_wait_limit_seconds: float = 120.0

    def __post_init__(self) -> None:
        check_bound(self.service_level_seconds, "service-level threshold")
        check_bound(self.short_abandon_seconds, "short-abandon threshold")
        for name in ("service_level_target", "abandon_rate_limit"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a ratio between 0 and 1, got {value}")
        if self.longest_wait_limit_seconds <= 0:
            raise ValueError("longest_wait_limit_seconds must be positive")
