"""Prometheus recording and alerting rules, generated so dashboards and alerts share one formula.

Service level and abandon rate are recorded once per queue (for example
``queue:cc_service_level_20s:ratio_rate5m``); dashboards and alerts read the recorded series.
A ratio is recorded only where its denominator is above zero (``a / (b > 0)``): a queue with no
calls in the window has no service level, a team with nobody logged in no occupancy, and neither
is ever NaN (0/0) for a dashboard to draw or an alert to compare.
Targets and limits are not written into the rules: the metrics service exposes them per queue
(``cc_queue_service_level_target_ratio`` ...) from its settings, and the alerts compare with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cc_metrics.core.thresholds import Thresholds

WINDOW = "5m"


@dataclass(frozen=True, slots=True)
class RecordingRule:
    """A series Prometheus computes ahead of time."""

    record: str
    expr: str


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A condition someone must act on."""

    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str


def le(seconds: float) -> str:
    """Return a bucket bound as prometheus-client writes it (``20.0``, never ``20``)."""
    return f"{float(seconds)}"


class Names:
    """The recorded series' names for one set of thresholds."""

    def __init__(self, t: Thresholds) -> None:
        sl = t.service_level_seconds
        self.offered = f"queue:cc_calls_offered:rate{WINDOW}"
        self.answered = f"queue:cc_calls_answered:rate{WINDOW}"
        self.abandoned = f"queue:cc_calls_abandoned:rate{WINDOW}"
        self.short_abandoned = f"queue:cc_calls_short_abandoned:rate{WINDOW}"
        self.answered_within = f"queue:cc_calls_answered_within_{sl}s:rate{WINDOW}"
        self.service_level = f"queue:cc_service_level_{sl}s:ratio_rate{WINDOW}"
        self.abandon_rate = f"queue:cc_abandon_rate:ratio_rate{WINDOW}"
        self.asa = f"queue:cc_asa_seconds:mean{WINDOW}"
        self.longest_wait = "queue:cc_queue_longest_wait_seconds:max"
        self.occupancy = f"team:cc_occupancy:ratio_rate{WINDOW}"
        self.utilization = f"team:cc_utilization:ratio_rate{WINDOW}"


BUSY_STATES = "on_call|wrap_up"
AVAILABLE_FOR_CALLS = "on_call|wrap_up|available|reserved"


def recording_rules(t: Thresholds) -> list[RecordingRule]:
    """Return the per-queue and per-team series the dashboards and alerts share."""
    n = Names(t)

    def rate(series: str) -> str:
        return f"sum by (queue) (rate({series}[{WINDOW}]))"

    answered_wait = 'cc_queue_wait_seconds_{0}{{outcome="answered"}}'
    within = (
        f'cc_queue_wait_seconds_bucket{{outcome="answered",le="{le(t.service_level_seconds)}"}}'
    )
    offered_in_sl = f"({n.offered} - {n.short_abandoned})"
    abandoned = f"({n.abandoned} - {n.short_abandoned})"
    return [
        RecordingRule(n.offered, rate("cc_calls_offered_total")),
        RecordingRule(n.answered, rate("cc_calls_answered_total")),
        RecordingRule(n.abandoned, rate("cc_calls_abandoned_total")),
        RecordingRule(n.short_abandoned, rate("cc_calls_short_abandoned_total")),
        RecordingRule(n.answered_within, rate(within)),
        RecordingRule(n.service_level, _share(n.answered_within, offered_in_sl)),
        RecordingRule(n.abandon_rate, _share(abandoned, offered_in_sl)),
        RecordingRule(
            n.asa, _share(rate(answered_wait.format("sum")), rate(answered_wait.format("count")))
        ),
        RecordingRule(
            n.longest_wait,
            "max by (queue) (time() - cc_queue_oldest_call_enqueued_timestamp_seconds)"
            " or max by (queue) (cc_queue_calls_waiting * 0)",
        ),
        RecordingRule(n.occupancy, _team_share(BUSY_STATES, AVAILABLE_FOR_CALLS)),
        RecordingRule(n.utilization, _team_share(BUSY_STATES, ".+")),
    ]


def _team_share(part: str, whole: str) -> str:
    def seconds(states: str) -> str:
        return f'sum by (team) (rate(cc_agent_state_seconds_total{{state=~"{states}"}}[{WINDOW}]))'

    return _share(seconds(part), seconds(whole))


def _share(part: str, whole: str) -> str:
    """``part / whole`` only where ``whole`` is above zero: no series there, never NaN."""
    return f"{part} / ({whole} > 0)"


def _per_queue(gauge: str) -> str:
    return f"on (queue) max by (queue) ({gauge})"


def alert_rules(t: Thresholds) -> list[AlertRule]:
    """Return the alerts; each compares with the limits the service exposes per queue."""
    n = Names(t)
    sl = t.service_level_seconds
    return [
        AlertRule(
            "CCServiceLevelBelowTarget",
            f"{n.service_level} < {_per_queue('cc_queue_service_level_target_ratio')}",
            "10m",
            "warning",
            "Service level in queue {{ $labels.queue }} is under target",
            f"{{{{ $value | humanizePercentage }}}} of calls answered within {sl} s over "
            f"the last {WINDOW}.",
        ),
        AlertRule(
            "CCAbandonRateHigh",
            f"{n.abandon_rate} > {_per_queue('cc_queue_abandon_rate_limit_ratio')}",
            "10m",
            "warning",
            "Callers are abandoning queue {{ $labels.queue }}",
            "Abandon rate {{ $value | humanizePercentage }} (short abandons excluded).",
        ),
        AlertRule(
            "CCLongestWaitHigh",
            f"{n.longest_wait} > {_per_queue('cc_queue_longest_wait_limit_seconds')}",
            "1m",
            "warning",
            "A caller has waited too long in queue {{ $labels.queue }}",
            "The longest wait is {{ $value | humanizeDuration }}.",
        ),
        AlertRule(
            "CCQueueWithoutAgents",
            "max by (queue) (cc_queue_calls_waiting) > 0"
            f" and {_per_queue('cc_queue_agents_logged_in')} == 0",
            "2m",
            "critical",
            "Calls are waiting in queue {{ $labels.queue }} and no agent is logged in",
            "{{ $value }} calls waiting with nobody to answer them.",
        ),
        AlertRule(
            "CCMetricsNotConsuming",
            "max(cc_metrics_consumer_up) < 1 or absent(cc_metrics_consumer_up)",
            "5m",
            "critical",
            "The metrics service is not consuming events",
            "Live KPIs and reports are standing still: its consumer is down or unscraped.",
        ),
        AlertRule(
            "CCMetricsLagging",
            "max(cc_metrics_event_lag_seconds) > 120",
            "5m",
            "warning",
            "The metrics service is behind the event stream",
            "Events are applied {{ $value | humanizeDuration }} after they happen.",
        ),
    ]


def rules_document(t: Thresholds) -> dict[str, Any]:
    """Return the rule groups in Prometheus's rule-file layout."""
    recording = [{"record": r.record, "expr": r.expr} for r in recording_rules(t)]
    alerts = [
        {
            "alert": a.alert,
            "expr": a.expr,
            "for": a.for_,
            "labels": {"severity": a.severity, "service": "cc-metrics"},
            "annotations": {"summary": a.summary, "description": a.description},
        }
        for a in alert_rules(t)
    ]
    return {
        "groups": [
            {"name": "cc-metrics-recording", "rules": recording},
            {"name": "cc-metrics-alerts", "rules": alerts},
        ]
    }
