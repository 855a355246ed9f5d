"""The live metrics in Prometheus: counters and histograms fed by the engine, gauges read live.

Names follow Prometheus conventions: the ``cc_`` prefix, base units (``_seconds``, ``_ratio``),
``_total`` on counters, and labels that ``sum()`` makes sense over. No label names a call, a
caller or an agent (per-agent figures are in the reports API). Label values known from settings
and seen since start are created up front, so a panel shows 0 rather than "No data". The wait
histogram's buckets include every service-level threshold exactly, so service level is
``bucket{le="20.0"}`` with no interpolation.

Cardinality is bounded by configuration: a queue, team or campaign label is one named in
settings (``CC_METRICS_QUEUES``, ``CC_METRICS_TEAMS``) or announced by a ``config.changed`` event
(at most :data:`MAX_ANNOUNCED` of each); any other value is counted under ``other``, so a
forged or mistyped name never grows ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cc_common.names import name_problem
from cc_metrics.core.engine import NO_TEAM, Measure, MetricsEngine, Observation, Outcome
from cc_metrics.core.live import estimated_wait
from cc_metrics.core.outbound import ANSWER_RESULTS
from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds
from cc_proto import Envelope, EventData
from cc_proto.events import AgentState, CallBlocked, CallIvrCompleted, ConfigChanged

WAIT_BUCKETS: tuple[float, ...] = (*map(float, WAIT_BOUNDS), 180.0, 240.0, 300.0, 600.0, 1200.0)
RING_BUCKETS: tuple[float, ...] = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
HANDLING_BUCKETS: tuple[float, ...] = (
    15.0,
    30.0,
    60.0,
    90.0,
    120.0,
    180.0,
    240.0,
    300.0,
    450.0,
    600.0,
    900.0,
    1200.0,
    1800.0,
    3600.0,
)
QA_BUCKETS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)
BLOCK_REASONS: tuple[str, ...] = get_args(CallBlocked.model_fields["reason"].annotation)
OTHER_REASON = "other"
OTHER = "other"
"""The label every queue, team or campaign outside the configured ones is counted under."""
MAX_ANNOUNCED = 500
"""Most queues (and teams, campaigns) ``config.changed`` events may add as labels."""

Clock = Callable[[], datetime]

_QUEUE_COUNTERS: dict[Measure, tuple[str, str]] = {
    Measure.OFFERED: ("cc_calls_offered", "Calls that entered the queue."),
    Measure.QUEUED: ("cc_calls_queued", "Offered calls that had to wait."),
    Measure.ANSWERED: ("cc_calls_answered", "Calls answered by an agent."),
    Measure.ABANDONED: ("cc_calls_abandoned", "Callers who hung up while queued."),
    Measure.SHORT_ABANDONED: (
        "cc_calls_short_abandoned",
        "Abandoned calls that waited at most the short-abandon threshold (a setting).",
    ),
    Measure.OVERFLOWED: ("cc_calls_overflowed", "Calls that left the queue for another."),
    Measure.CALLBACK: ("cc_calls_callback_requested", "Callers who left asking for a callback."),
    Measure.TRANSFERRED: ("cc_calls_transferred", "Calls an agent handed on."),
    Measure.HANDLED: ("cc_calls_handled", "Calls an agent answered that have ended."),
}


class LabelPolicy:
    """Which queue, team and campaign names become label values; the rest are ``other``."""

    def __init__(self, queues: Iterable[str], teams: Iterable[str]) -> None:
        self.queues: set[str] = set(queues)
        self.teams: set[str] = {*teams, NO_TEAM}
        self.campaigns: set[str] = set()
        self._announced = {"queue": 0, "team": 0, "campaign": 0}

    def queue(self, name: str) -> str:
        """The label for a queue."""
        return name if name in self.queues else OTHER

    def team(self, name: str | None) -> str:
        """The label for a team (no team is its own label)."""
        name = name or NO_TEAM
        return name if name in self.teams else OTHER

    def campaign(self, name: str) -> str:
        """The label for a dialer campaign."""
        return name if name in self.campaigns else OTHER

    def learn(self, event: Envelope[EventData]) -> bool:
        """Take a queue, team or campaign announced by configuration; True if it is new."""
        data = event.data
        if not isinstance(data, ConfigChanged) or data.action == "deleted":
            return False
        known = {"queue": self.queues, "team": self.teams, "campaign": self.campaigns}.get(
            data.entity
        )
        if known is None or data.entity_id in known or data.entity_id == OTHER:
            return False
        if name_problem(data.entity_id) or self._announced[data.entity] >= MAX_ANNOUNCED:
            return False
        self._announced[data.entity] += 1
        known.add(data.entity_id)
        return True


class LiveMetrics:
    """Every live metric of the metrics service, on one explicit registry."""

    def __init__(
        self,
        engine: MetricsEngine,
        *,
        registry: CollectorRegistry,
        clock: Clock,
        break_reasons: Sequence[str] = (),
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.labels = LabelPolicy(engine.live.queues, engine.teams)
        self._queues: set[str] = set()
        self._teams: set[str] = set()
        self._campaigns: set[str] = set()
        self._counters = {
            measure: Counter(name, text, ["queue"], registry=registry)
            for measure, (name, text) in _QUEUE_COUNTERS.items()
        }
        self._blocked = Counter(
            "cc_calls_blocked",
            "Calls refused before they could wait.",
            ["queue", "reason"],
            registry=registry,
        )
        self._ivr_only = Counter(
            "cc_calls_ivr_only",
            "Calls that finished in the IVR without entering a queue.",
            registry=registry,
        )
        self._ivr = Histogram(
            "cc_ivr_duration_seconds",
            "Time in the IVR by how the caller left it (containment: self_served; abandoned).",
            ["outcome"],
            buckets=IVR_BUCKETS,
            registry=registry,
        )
        for outcome in IVR_OUTCOMES:
            self._ivr.labels(outcome)
        self._missed = Counter(
            "cc_agent_offers_missed", "Offers agents did not take.", ["team"], registry=registry
        )
        self._csat = Counter(
            "cc_survey_csat_answers",
            "CSAT answers (1 very satisfied .. 3 not satisfied).",
            ["queue", "answer"],
            registry=registry,
        )
        self._nps = Counter(
            "cc_survey_nps_answers",
            "NPS answers by category.",
            ["queue", "category"],
            registry=registry,
        )
        self._dial_attempts = Counter(
            "cc_dialer_attempts", "Dials placed to leads.", ["campaign"], registry=registry
        )
        self._dial_answers = Counter(
            "cc_dialer_answers",
            "Answered dials by how they ended: connected or abandoned (live), machine.",
            ["campaign", "result"],
            registry=registry,
        )
        self._dial_machines_after_connect = Counter(
            "cc_dialer_machines_after_connect",
            "Answers counted connected in cc_dialer_answers that a later beep showed were "
            "machines (also counted result=machine): live answers are connected + abandoned "
            "minus these.",
            ["campaign"],
            registry=registry,
        )
        self._dial_waits = Histogram(
            "cc_dialer_answer_wait_seconds",
            "Live answers: from the customer's answer to the agent (connected) or the drop.",
            ["campaign", "result"],
            buckets=DIALER_WAIT_BUCKETS,
            registry=registry,
        )
        self._dispositions = Counter(
            "cc_dialer_dispositions",
            "Outbound dispositions, by whether they are a right-party contact.",
            ["campaign", "right_party"],
            registry=registry,
        )
        self._wait = Histogram(
            "cc_queue_wait_seconds",
            "Queue wait of answered and abandoned calls.",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self._histograms = {
            Measure.RING: _histogram(
                registry, "cc_call_ring", "Ring time before answer.", RING_BUCKETS
            ),
            Measure.TALK: _histogram(registry, "cc_call_talk", "Talk time of handled calls."),
            Measure.HOLD: _histogram(registry, "cc_call_hold", "Hold time of handled calls."),
            Measure.WRAP_UP: _histogram(registry, "cc_call_wrap_up", "After-call work per call."),
        }
        self._qa = Histogram(
            "cc_qa_score_ratio",
            "QA evaluation scores as a fraction of the scorecard maximum.",
            ["team"],
            buckets=QA_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "cc_metrics_events_consumed",
            "Events the metrics service applied.",
            ["type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "cc_metrics_events_duplicate", "Redelivered events skipped by id.", registry=registry
        )
        self.rejected = Counter(
            "cc_metrics_events_rejected", "Events dead-lettered as unusable.", registry=registry
        )
        self.consumer_up = Gauge(
            "cc_metrics_consumer_up",
            "1 while the bus consumer runs and its last batch was committed.",
            registry=registry,
        )
        self.lag = Gauge(
            "cc_metrics_event_lag_seconds",
            "Time from an event happening to the metrics applying it (the latest event).",
            registry=registry,
        )
        self.last_event = Gauge(
            "cc_metrics_last_event_timestamp_seconds",
            "Event time of the newest event applied.",
            registry=registry,
        )
        registry.register(_LiveCollector(engine, clock, tuple(break_reasons), self.labels))
        self.listeners: list[Callable[[Outcome], None]] = []
        """Told every applied event's outcome, after the counters (the wallboard listens)."""
        self.ensure_labels()

    def ensure_labels(self) -> None:
        """Create every series for queues and teams allowed so far, so panels show 0."""
        seen = {self.labels.queue(name) for name in self.engine.live.queues}
        for queue in (self.labels.queues | seen) - self._queues:
            self._queues.add(queue)
            for counter in self._counters.values():
                counter.labels(queue)
            for reason in BLOCK_REASONS:
                self._blocked.labels(queue, reason)
            for outcome in ("answered", "abandoned"):
                self._wait.labels(queue, outcome)
            for histogram in self._histograms.values():
                histogram.labels(queue)
            for answer in ("1", "2", "3"):
                self._csat.labels(queue, answer)
            for category in ("promoter", "passive", "detractor"):
                self._nps.labels(queue, category)
        for campaign in self.labels.campaigns - self._campaigns:
            self._campaigns.add(campaign)
            self._dial_attempts.labels(campaign)
            for result in ANSWER_RESULTS:
                self._dial_answers.labels(campaign, result)
            self._dial_machines_after_connect.labels(campaign)
            for result in ANSWER_RESULTS[:2]:
                self._dial_waits.labels(campaign, result)
            for right_party in ("true", "false"):
                self._dispositions.labels(campaign, right_party)
        for team in self.labels.teams - self._teams:
            self._teams.add(team)
            self._missed.labels(team)
            self._qa.labels(team)

    def record(self, outcome: Outcome, *, now: datetime) -> None:
        """Feed one applied event's measurements into the metrics."""
        event = outcome.event
        if outcome.duplicate:
            self.duplicates.inc()
            return
        self.events.labels(event.type).inc()
        self.labels.learn(event)
        self.ensure_labels()
        for observation in outcome.observations:
            self._observe(observation)
        self._seen(event, now)
        for listener in self.listeners:
            listener(outcome)

    def _seen(self, event: Envelope[EventData], now: datetime) -> None:
        self.lag.set(max(0.0, (now - event.occurred_at).total_seconds()))
        newest = self.engine.last_event_at
        if newest is not None:
            self.last_event.set(newest.timestamp())

    def _observe(self, obs: Observation) -> None:
        labels = dict(obs.labels)
        if "queue" in labels:
            labels["queue"] = self.labels.queue(labels["queue"])
        if "team" in labels:
            labels["team"] = self.labels.team(labels["team"])
        if "campaign" in labels:
            labels["campaign"] = self.labels.campaign(labels["campaign"])
        counter = self._counters.get(obs.measure)
        if counter is not None:
            counter.labels(labels["queue"]).inc(obs.value)
        elif obs.measure is Measure.WAIT:
            self._wait.labels(labels["queue"], labels["outcome"]).observe(obs.value)
        elif obs.measure in self._histograms:
            self._histograms[obs.measure].labels(labels["queue"]).observe(obs.value)
        else:
            self._observe_other(obs, labels)

    def _observe_other(self, obs: Observation, labels: dict[str, str]) -> None:
        if obs.measure is Measure.BLOCKED:
            self._blocked.labels(labels["queue"], labels["reason"]).inc()
        elif obs.measure is Measure.IVR_ONLY:
            self._ivr_only.inc()
        elif obs.measure is Measure.IVR:
            self._ivr.labels(labels["outcome"]).observe(obs.value)
        elif obs.measure is Measure.MISSED:
            self._missed.labels(labels["team"]).inc()
        elif obs.measure is Measure.CSAT:
            self._csat.labels(labels["queue"], labels["answer"]).inc()
        elif obs.measure is Measure.NPS:
            self._nps.labels(labels["queue"], labels["category"]).inc()
        elif obs.measure is Measure.QA:
            self._qa.labels(labels["team"]).observe(obs.value)
        elif obs.measure is Measure.DIAL_ATTEMPT:
            self._dial_attempts.labels(labels["campaign"]).inc()
        elif obs.measure is Measure.DIAL_ANSWER:
            self._dial_answers.labels(labels["campaign"], labels["result"]).inc()
        elif obs.measure is Measure.DIAL_MACHINE_AFTER_CONNECT:
            self._dial_machines_after_connect.labels(labels["campaign"]).inc()
        elif obs.measure is Measure.DIAL_ANSWER_WAIT:
            self._dial_waits.labels(labels["campaign"], labels["result"]).observe(obs.value)
        elif obs.measure is Measure.DISPOSITION:
            self._dispositions.labels(labels["campaign"], labels["right_party"]).inc()


DIALER_WAIT_BUCKETS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
"""Holds 2.0 exactly: ``le="2.0"`` over the count is the share connected within the rule."""
IVR_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
IVR_OUTCOMES = get_args(CallIvrCompleted.model_fields["outcome"].annotation)
"""How a caller leaves the IVR; each has its series from the start."""


def _histogram(
    registry: CollectorRegistry,
    name: str,
    text: str,
    buckets: Sequence[float] = HANDLING_BUCKETS,
) -> Histogram:
    return Histogram(f"{name}_seconds", text, ["queue"], buckets=buckets, registry=registry)


class _LiveCollector(Collector):
    """Gauges read from the engine's live state at scrape time, with the injected clock."""

    def __init__(
        self,
        engine: MetricsEngine,
        clock: Clock,
        break_reasons: tuple[str, ...],
        labels: LabelPolicy,
    ) -> None:
        self._engine = engine
        self._labels = labels
        self._clock = clock
        self._break_reasons = break_reasons
        self._reported: dict[tuple[str, AgentState], float] = {}

    def collect(self) -> Iterator[Metric]:
        yield from self._queue_metrics()
        yield from self._agent_metrics()
        yield from self._threshold_metrics(self._engine.thresholds)

    def _queue_metrics(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "cc_queue_calls_waiting", "Calls waiting now.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "cc_queue_oldest_call_enqueued_timestamp_seconds",
            "When the longest-waiting call entered (only while someone waits); "
            "longest wait is time() minus this.",
            labels=["queue"],
        )
        estimate = GaugeMetricFamily(
            "cc_queue_estimated_wait_seconds",
            "Expected wait for a caller arriving now: 0 while an agent is free and nobody waits,"
            " else the latest estimate announced; absent while nobody serves the queue.",
            labels=["queue"],
        )
        logged_in = GaugeMetricFamily(
            "cc_queue_agents_logged_in", "Agents logged in serving the queue.", labels=["queue"]
        )
        serving = self._agents_per_queue()
        available = self._agents_per_queue(AgentState.AVAILABLE)
        folded: dict[str, tuple[int, float | None, float | None]] = {}
        for name, live in self._engine.live.queues.items():
            label = self._labels.queue(name)
            count, first, wait = folded.get(label, (0, None, None))
            if live.oldest is not None:
                at = live.oldest.timestamp()
                first = at if first is None else min(first, at)
            expected = estimated_wait(
                live, available=available.get(label, 0), staffed=serving.get(label, 0)
            )
            if expected is not None:
                wait = max(wait or 0.0, expected)
            folded[label] = (count + len(live.waiting), first, wait)
        for label, (count, first, wait) in sorted(folded.items()):
            waiting.add_metric([label], count)
            if first is not None:
                oldest.add_metric([label], first)
            if wait is not None:
                estimate.add_metric([label], wait)
            logged_in.add_metric([label], serving.get(label, 0))
        yield from (waiting, oldest, estimate, logged_in)

    def _agents_per_queue(self, state: AgentState | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self._engine.agents.values():
            if status.logged_in and (state is None or status.state is state):
                for label in {self._labels.queue(queue) for queue in status.queues}:
                    counts[label] = counts.get(label, 0) + 1
        return counts

    def _agent_metrics(self) -> Iterator[Metric]:
        teams = sorted({self._labels.team(team) for team in self._engine.teams} | {NO_TEAM})
        agents = GaugeMetricFamily(
            "cc_agents", "Agents by team and state.", labels=["team", "state"]
        )
        for (team, state), count in sorted(self._agents_by_state(teams).items()):
            agents.add_metric([team, state.value], count)
        on_break = GaugeMetricFamily(
            "cc_agents_on_break", "Agents on break by reason code.", labels=["team", "reason"]
        )
        for (team, reason), count in sorted(self._agents_on_break(teams).items()):
            on_break.add_metric([team, reason], count)
        seconds = CounterMetricFamily(
            "cc_agent_state_seconds",
            "Agent time in each state, including the stretch in progress.",
            labels=["team", "state"],
        )
        for (team, state), total in sorted(self._state_seconds(teams).items()):
            seconds.add_metric([team, state.value], total)
        yield from (agents, on_break, seconds)

    def _agents_by_state(self, teams: list[str]) -> dict[tuple[str, AgentState], int]:
        counts = {(team, state): 0 for team in teams for state in AgentState}
        for status in self._engine.agents.values():
            key = (self._labels.team(status.team), status.state)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _agents_on_break(self, teams: list[str]) -> dict[tuple[str, str], int]:
        reasons = (*self._break_reasons, OTHER_REASON)
        counts = {(team, reason): 0 for team in teams for reason in reasons}
        for status in self._engine.agents.values():
            if status.state is AgentState.BREAK:
                reason = status.reason if status.reason in self._break_reasons else OTHER_REASON
                key = (self._labels.team(status.team), reason or OTHER_REASON)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def _state_seconds(self, teams: list[str]) -> dict[tuple[str, AgentState], float]:
        """Return closed time per (team, state) plus each agent's stretch in progress."""
        now = self._clock()
        working: list[AgentState] = [s for s in AgentState if s is not AgentState.LOGGED_OUT]
        totals: dict[tuple[str, AgentState], float] = {
            (team, state): 0.0 for team in teams for state in working
        }
        for (team, state), total in self._engine.state_totals.items():
            folded = (self._labels.team(team), state)
            totals[folded] = totals.get(folded, 0.0) + total
        for status in self._engine.agents.values():
            if status.state is not AgentState.LOGGED_OUT and status.since is not None:
                key: tuple[str, AgentState] = (self._labels.team(status.team), status.state)
                totals[key] = totals.get(key, 0.0) + max(0.0, (now - status.since).total_seconds())
        for series, total in totals.items():
            totals[series] = max(total, self._reported.get(series, 0.0))  # counters never go back
            self._reported[series] = totals[series]
        return totals

    def _threshold_metrics(self, t: Thresholds) -> Iterable[Metric]:
        specs = [
            (
                "cc_queue_service_level_target_ratio",
                "Service-level target.",
                t.service_level_target,
            ),
            (
                "cc_queue_service_level_threshold_seconds",
                "Service-level threshold T.",
                float(t.service_level_seconds),
            ),
            (
                "cc_queue_abandon_rate_limit_ratio",
                "Abandon rate that raises an alert.",
                t.abandon_rate_limit,
            ),
            (
                "cc_queue_longest_wait_limit_seconds",
                "Longest wait that raises an alert.",
                t.longest_wait_limit_seconds,
            ),
        ]
        families = []
        queues = sorted({self._labels.queue(name) for name in self._engine.live.queues})
        for name, text, value in specs:
            family = GaugeMetricFamily(name, text, labels=["queue"])
            for queue in queues:
                family.add_metric([queue], value)
            families.append(family)
        return families
