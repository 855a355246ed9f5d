"""What the wallboard shows, worked out from the engine's live state and today's interval facts.

Pure: the adapters feed it each applied event's outcome (and, at start, today's stored facts)
and ask for a snapshot at a moment. Every ratio comes from the KPI definitions, so a figure
with nothing behind it is ``None`` ("no data"), never 0, 100 % or NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cc_metrics.core.engine import NO_QUEUE, MetricsEngine, Outcome
from cc_metrics.core.facts import QUEUE_FACT_NAMES, Facts, add_facts
from cc_metrics.core.intervals import interval_start
from cc_metrics.core.kpis import KPI_BY_KEY
from cc_metrics.core.live import estimated_wait
from cc_metrics.core.thresholds import Thresholds
from cc_proto.events import AgentState

KEEP = timedelta(days=2)
"""How far back interval facts are held in memory (today in any time zone, and yesterday)."""

COUNTS = ("offered", "answered", "abandoned", "blocked", "callbacks", "overflowed")
STATES = tuple(state.value for state in AgentState if state is not AgentState.LOGGED_OUT)


class Wallboard:
    """Today's figures per queue and per 15-minute interval, plus live queue and agent state."""

    def __init__(self, engine: MetricsEngine, thresholds: Thresholds, zone: ZoneInfo) -> None:
        self.engine = engine
        self.thresholds = thresholds
        self.zone = zone
        self.facts: dict[tuple[str, datetime], Facts] = {}
        self.version = 0

    def load(self, rows: Iterable[tuple[str, datetime, Mapping[str, float]]]) -> None:
        """Take stored interval facts (queue, interval start, facts) as they were at start."""
        for queue, interval, facts in rows:
            add_facts(self.facts.setdefault((queue, interval), {}), facts)
        self.version += 1

    def apply(self, outcome: Outcome) -> None:
        """Add one applied event's queue facts (agents and waiting calls are read live)."""
        if outcome.duplicate:
            return
        for key, facts in outcome.queue_facts.items():
            add_facts(self.facts.setdefault((key.queue, key.interval), {}), facts)
        self.version += 1

    def prune(self, now: datetime) -> None:
        """Forget intervals older than :data:`KEEP`."""
        limit = now - KEEP
        for key in [key for key in self.facts if key[1] < limit]:
            del self.facts[key]

    def day_start(self, now: datetime) -> datetime:
        """Return the start of ``now``'s day in the wallboard's time zone."""
        local = now.astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def snapshot(self, now: datetime) -> dict[str, Any]:
        """Return everything the wallboard draws at ``now``, ready for JSON."""
        start = self.day_start(now)
        today = {key: facts for key, facts in self.facts.items() if key[1] >= start}
        queues = sorted(
            {name for name in self.engine.live.queues if name != NO_QUEUE}
            | {queue for queue, _ in today if queue != NO_QUEUE}
        )
        local = now.astimezone(self.zone)
        return {
            "version": self.version,
            "now": now.isoformat(),
            "day": local.date().isoformat(),
            "time": local.strftime("%H:%M"),
            "time_zone": str(self.zone),
            "thresholds": {
                "service_level_seconds": self.thresholds.service_level_seconds,
                "service_level_target": self.thresholds.service_level_target,
                "abandon_rate_limit": self.thresholds.abandon_rate_limit,
                "longest_wait_limit_seconds": self.thresholds.longest_wait_limit_seconds,
            },
            "queues": [self._queue(name, today, now) for name in queues],
            "total": self._figures(_sum(f for (q, _), f in today.items())),
            "intervals": self._intervals(today, start, now),
            "agents": self._agents(now),
        }

    def _figures(self, facts: Facts) -> dict[str, Any]:
        """Counts and the KPIs the wallboard shows, from summed facts."""
        t = self.thresholds
        figures: dict[str, Any] = {name: int(facts.get(name, 0.0)) for name in COUNTS}
        for key in ("service_level", "abandon_rate", "asa"):
            figures[key] = KPI_BY_KEY[key].compute(_complete(facts), t).value
        return figures

    def _queue(
        self, name: str, today: Mapping[tuple[str, datetime], Facts], now: datetime
    ) -> dict[str, Any]:
        live = self.engine.live.queues.get(name)
        waiting = len(live.waiting) if live is not None else 0
        oldest = live.oldest if live is not None else None
        agents = dict.fromkeys(STATES, 0)
        for status in self.engine.agents.values():
            if status.logged_in and name in status.queues:
                agents[status.state.value] = agents.get(status.state.value, 0) + 1
        return {
            "name": name,
            "waiting": waiting,
            "longest_wait_seconds": (
                max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
            ),
            "estimated_wait_seconds": estimated_wait(
                live, available=agents["available"], staffed=sum(agents.values())
            ),
            "agents": agents,
            **self._figures(_sum(f for (q, _), f in today.items() if q == name)),
        }

    def _intervals(
        self, today: Mapping[tuple[str, datetime], Facts], start: datetime, now: datetime
    ) -> list[dict[str, Any]]:
        by_interval: dict[datetime, Facts] = {}
        for (_, interval), facts in today.items():
            add_facts(by_interval.setdefault(interval, {}), facts)
        current = interval_start(now)
        first = min(by_interval, default=current)
        out: list[dict[str, Any]] = []
        step = timedelta(minutes=15)
        at = first
        while at <= current and len(out) < 96:
            local = at.astimezone(self.zone)
            out.append({"start": local.strftime("%H:%M"), **self._figures(by_interval.get(at, {}))})
            at += step
        return out

    def _agents(self, now: datetime) -> list[dict[str, Any]]:
        agents = []
        for status in sorted(self.engine.agents.values(), key=lambda s: s.agent_id):
            if not status.logged_in:
                continue
            since = status.since
            agents.append(
                {
                    "id": status.agent_id,
                    "team": status.team,
                    "state": status.state.value,
                    "reason": status.reason,
                    "queues": list(status.queues),
                    "seconds_in_state": (
                        max(0.0, (now - since).total_seconds()) if since is not None else None
                    ),
                }
            )
        return agents


def _sum(facts: Iterable[Facts]) -> Facts:
    total: Facts = {}
    for item in facts:
        add_facts(total, item)
    return total


_ZERO_EVENT_FACTS: Facts = dict.fromkeys(QUEUE_FACT_NAMES, 0.0)


def _complete(facts: Facts) -> Facts:
    """Event facts absent from an interval are zero (only input facts can be missing)."""
    return _ZERO_EVENT_FACTS | facts
