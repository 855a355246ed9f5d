"""Staffing a forecast: agents by Erlang C (Erlang A with patience), trunks by Erlang B.

The formulas live once, in :mod:`cc_common.erlang`; this module turns a forecast into the
questions they answer and adds what planning needs around them: shrinkage (the share of paid
time agents are not on the phones) and the trunks the calls hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from cc_common import erlang


@dataclass(frozen=True, slots=True)
class ForecastInterval:
    """Calls expected in one interval and their average handle time."""

    start: datetime
    calls: float
    aht_seconds: float


@dataclass(frozen=True, slots=True)
class StaffingTarget:
    """What the plan must meet and the assumptions it is made under."""

    service_level: float = 0.80
    threshold_seconds: float = 20.0
    interval_seconds: int = 900
    patience_seconds: float | None = None
    shrinkage: float = 0.0
    trunk_blocking: float | None = None
    trunk_holding_seconds: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.service_level < 1.0:
            raise ValueError("service_level must be between 0 and 1 (exclusive)")
        if self.threshold_seconds < 0 or self.interval_seconds <= 0:
            raise ValueError("threshold_seconds and interval_seconds must be positive")
        if not 0.0 <= self.shrinkage < 1.0:
            raise ValueError("shrinkage must be at least 0 and below 1")
        if self.patience_seconds is not None and self.patience_seconds <= 0:
            raise ValueError("patience_seconds must be positive")
        if self.trunk_blocking is not None and not 0.0 < self.trunk_blocking < 1.0:
            raise ValueError("trunk_blocking must be between 0 and 1 (exclusive)")


@dataclass(frozen=True, slots=True)
class StaffingInterval:
    """The plan for one interval and what the model predicts it will deliver."""

    start: datetime
    calls: float
    aht_seconds: float
    traffic_erlangs: float
    agents: int
    scheduled_agents: int
    service_level: float | None
    asa_seconds: float | None
    occupancy: float | None
    abandon_probability: float | None
    trunks: int | None
    trunk_blocking: float | None


def staff_interval(interval: ForecastInterval, target: StaffingTarget) -> StaffingInterval:
    """Return the agents (and trunks) one interval needs to meet the target."""
    if interval.calls < 0 or interval.aht_seconds <= 0:
        raise ValueError("calls must be at least 0 and aht_seconds positive")
    per_hour = interval.calls * 3600.0 / target.interval_seconds
    traffic = per_hour / 3600.0 * interval.aht_seconds
    if interval.calls == 0:
        return StaffingInterval(
            interval.start, 0.0, interval.aht_seconds, 0.0, 0, 0, None, None, None, None, 0, 0.0
        )
    agents = erlang.agents_for_service_level(
        calls_per_hour=per_hour,
        aht_seconds=interval.aht_seconds,
        target_service_level=target.service_level,
        threshold_seconds=target.threshold_seconds,
        patience_seconds=target.patience_seconds,
    )
    level, asa, occupancy, abandon = _predict(per_hour, interval.aht_seconds, agents, target)
    trunks, blocking = _trunks(per_hour, interval.aht_seconds + asa, target)
    return StaffingInterval(
        start=interval.start,
        calls=interval.calls,
        aht_seconds=interval.aht_seconds,
        traffic_erlangs=traffic,
        agents=agents,
        scheduled_agents=math.ceil(agents / (1.0 - target.shrinkage) - 1e-9),
        service_level=level,
        asa_seconds=asa,
        occupancy=occupancy,
        abandon_probability=abandon,
        trunks=trunks,
        trunk_blocking=blocking,
    )


def _predict(
    per_hour: float, aht: float, agents: int, target: StaffingTarget
) -> tuple[float, float, float, float | None]:
    if target.patience_seconds is None:
        c = erlang.erlang_c_metrics(
            calls_per_hour=per_hour,
            aht_seconds=aht,
            agents=agents,
            threshold_seconds=target.threshold_seconds,
        )
        return c.service_level, c.asa_seconds, c.occupancy, None
    a = erlang.erlang_a_metrics(
        calls_per_hour=per_hour,
        aht_seconds=aht,
        agents=agents,
        patience_seconds=target.patience_seconds,
        threshold_seconds=target.threshold_seconds,
    )
    return a.service_level, a.asa_seconds, a.occupancy, a.abandon_probability


def _trunks(
    per_hour: float, default_holding: float, target: StaffingTarget
) -> tuple[int | None, float | None]:
    """Return trunks for the blocking target: each call holds one from arrival to hang-up."""
    if target.trunk_blocking is None:
        return None, None
    holding = target.trunk_holding_seconds or default_holding
    traffic = per_hour / 3600.0 * holding
    trunks = erlang.trunks_for_blocking(traffic=traffic, target_blocking=target.trunk_blocking)
    return trunks, erlang.erlang_b(traffic, trunks)


def staff_forecast(
    intervals: list[ForecastInterval], target: StaffingTarget
) -> list[StaffingInterval]:
    """Return the plan for every interval of a forecast."""
    return [staff_interval(interval, target) for interval in intervals]
