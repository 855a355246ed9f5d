"""Grafana dashboards as code: the managers' overview, a queue view and an agent (team) view.

Plain Grafana JSON built from small Python values, so the checked-in files are reproducible and
a test can run every panel's query against a real Prometheus. Queries read the recorded series of
:mod:`cc_metrics.monitoring.rules` wherever one exists, so a dashboard and an alert never disagree.
Per-agent figures are not in Prometheus (no label per person); the agent view works by team and
points to the reports API for individuals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cc_metrics.core.thresholds import Thresholds
from cc_metrics.monitoring.rules import AVAILABLE_FOR_CALLS, BUSY_STATES, Names

OCCUPANCY = "(On call + wrap-up) / (on call + wrap-up + available + reserved)."
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL expression of a panel and how its series are named."""

    expr: str
    legend: str = ""
    heatmap: bool = False


@dataclass(frozen=True, slots=True)
class Panel:
    """A panel: what it shows and how it reads."""

    title: str
    kind: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 6
    height: int = 5
    description: str = ""
    steps: tuple[tuple[float | None, str], ...] = ()
    max_value: float | None = None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard: panels laid out left to right, top to bottom, with template variables."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=("contact-center",))


def _q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def _sel(**labels: str) -> str:
    return "{" + ",".join(f"{k}{v}" for k, v in labels.items()) + "}"


def _queue_kpis(t: Thresholds, where: str) -> dict[str, str]:
    """Return service level, abandon rate and ASA over the queues selected by ``where``."""
    n = Names(t)

    def total(series: str) -> str:
        return f"sum({series}{where})"

    net_offered = f"({total(n.offered)} - {total(n.short_abandoned)})"
    wait = where[:-1] + ',outcome="answered"}' if where else '{outcome="answered"}'
    return {
        "service_level": f"{total(n.answered_within)} / {net_offered}",
        "abandon_rate": f"({total(n.abandoned)} - {total(n.short_abandoned)}) / {net_offered}",
        "asa": f"sum(rate(cc_queue_wait_seconds_sum{wait}[5m]))"
        f" / sum(rate(cc_queue_wait_seconds_count{wait}[5m]))",
    }


def _agent_share(part: str, whole: str, where: str = "") -> str:
    def seconds(states: str) -> str:
        return f'sum(rate(cc_agent_state_seconds_total{{{where}state=~"{states}"}}[5m]))'

    return f"{seconds(part)} / {seconds(whole)}"


def _target_steps(target: float) -> tuple[tuple[float | None, str], ...]:
    return ((None, "red"), (target, "green"))


def _limit_steps(limit: float) -> tuple[tuple[float | None, str], ...]:
    return ((None, "green"), (limit, "red"))


def overview(t: Thresholds) -> Dashboard:
    """Return the managers' overview: the numbers the center is run by, live."""
    n = Names(t)
    k = _queue_kpis(t, "")
    sl = t.service_level_seconds
    return Dashboard(
        "cc-overview",
        "Contact center: overview",
        "Service level against target, abandon rate, ASA, occupancy, calls waiting, agents.",
        (
            Panel(
                f"Service level ({sl} s)",
                "stat",
                (_q(k["service_level"]),),
                "percentunit",
                description=f"Answered within {sl} s / (offered − short abandons), last 5 min.",
                steps=_target_steps(t.service_level_target),
            ),
            Panel(
                "Abandon rate",
                "stat",
                (_q(k["abandon_rate"]),),
                "percentunit",
                description="(Abandoned − short abandons) / (offered − short abandons).",
                steps=_limit_steps(t.abandon_rate_limit),
            ),
            Panel(
                "ASA",
                "stat",
                (_q(k["asa"]),),
                "s",
                description="Average speed of answer: queue wait of answered calls.",
            ),
            Panel(
                "Occupancy",
                "stat",
                (_q(_agent_share(BUSY_STATES, AVAILABLE_FOR_CALLS)),),
                "percentunit",
                description=OCCUPANCY,
            ),
            Panel("Calls waiting", "stat", (_q("sum(cc_queue_calls_waiting)"),), width=6),
            Panel(
                "Longest wait",
                "stat",
                (_q(f"max({n.longest_wait})"),),
                "s",
                width=6,
                steps=_limit_steps(t.longest_wait_limit_seconds),
            ),
            Panel(
                "Agents logged in", "stat", (_q('sum(cc_agents{state!="logged_out"})'),), width=6
            ),
            Panel("Agents available", "stat", (_q('sum(cc_agents{state="available"})'),), width=6),
            Panel(
                f"Service level by queue ({sl} s)",
                "bargauge",
                (_q(n.service_level, "{{queue}}"),),
                "percentunit",
                width=12,
                height=8,
                steps=_target_steps(t.service_level_target),
                max_value=1.0,
            ),
            Panel(
                "Agents by state",
                "timeseries",
                (_q('sum by (state) (cc_agents{state!="logged_out"})', "{{state}}"),),
                width=12,
                height=8,
            ),
            Panel(
                "Calls per 15 minutes",
                "timeseries",
                (
                    _q("sum(increase(cc_calls_offered_total[15m]))", "offered"),
                    _q("sum(increase(cc_calls_answered_total[15m]))", "answered"),
                    _q("sum(increase(cc_calls_abandoned_total[15m]))", "abandoned"),
                ),
                width=12,
                height=8,
                description="The interval trend.",
            ),
            Panel(
                "Service level trend",
                "timeseries",
                (_q(n.service_level, "{{queue}}"),),
                "percentunit",
                width=12,
                height=8,
            ),
            Panel(
                "Calls waiting by queue",
                "timeseries",
                (_q("max by (queue) (cc_queue_calls_waiting)", "{{queue}}"),),
                width=12,
                height=8,
            ),
            Panel(
                "Agents on break by reason",
                "bargauge",
                (_q("sum by (reason) (cc_agents_on_break)", "{{reason}}"),),
                width=12,
                height=8,
            ),
        ),
    )


def queue_view(t: Thresholds) -> Dashboard:
    """Return the queue view: one queue (or several) in detail."""
    n = Names(t)
    q = '{queue=~"$queue"}'
    k = _queue_kpis(t, q)

    def per_hour(series: str) -> str:
        return f"sum(rate({series}{q}[1h]))"

    handle = " + ".join(per_hour(f"cc_call_{p}_seconds_sum") for p in ("talk", "hold", "wrap_up"))
    csat_ok = 'sum(increase(cc_survey_csat_answers_total{queue=~"$queue",answer=~"1|2"}[1d]))'
    handled = per_hour("cc_calls_handled_total")
    transferred = per_hour("cc_calls_transferred_total")
    ring = f"{per_hour('cc_call_ring_seconds_sum')} / {per_hour('cc_call_ring_seconds_count')}"
    blocked = f"sum by (reason) (increase(cc_calls_blocked_total{q}[15m]))"
    wait = (
        'sum by (le) (rate(cc_queue_wait_seconds_bucket{queue=~"$queue",outcome="answered"}[5m]))'
    )
    return Dashboard(
        "cc-queue",
        "Contact center: queue",
        "One queue's service, waits, traffic and handling.",
        (
            Panel(
                "Service level",
                "stat",
                (_q(k["service_level"]),),
                "percentunit",
                steps=_target_steps(t.service_level_target),
            ),
            Panel(
                "Abandon rate",
                "stat",
                (_q(k["abandon_rate"]),),
                "percentunit",
                steps=_limit_steps(t.abandon_rate_limit),
            ),
            Panel("ASA", "stat", (_q(k["asa"]),), "s"),
            Panel("Calls waiting", "stat", (_q(f"sum(cc_queue_calls_waiting{q})"),)),
            Panel(
                "Longest wait",
                "stat",
                (_q(f"max({n.longest_wait}{q})"),),
                "s",
                steps=_limit_steps(t.longest_wait_limit_seconds),
            ),
            Panel("Estimated wait", "stat", (_q(f"max(cc_queue_estimated_wait_seconds{q})"),), "s"),
            Panel(
                "AHT (last hour)",
                "stat",
                (_q(f"({handle}) / {handled}"),),
                "s",
                description="(Talk + hold + wrap-up) / handled.",
            ),
            Panel("Average ring time", "stat", (_q(ring),), "s"),
            Panel(
                "Transfer rate (last hour)",
                "stat",
                (_q(f"{transferred} / {handled}"),),
                "percentunit",
            ),
            Panel(
                "CSAT (last day)",
                "stat",
                (_q(f"{csat_ok} / sum(increase(cc_survey_csat_answers_total{q}[1d]))"),),
                "percentunit",
                description="Answers 1 or 2 of 1-3.",
            ),
            Panel("Agents logged in", "stat", (_q(f"max(cc_queue_agents_logged_in{q})"),)),
            Panel(
                "Service level target",
                "stat",
                (_q(f"max(cc_queue_service_level_target_ratio{q})"),),
                "percentunit",
            ),
            Panel(
                "Service level and target",
                "timeseries",
                (
                    _q(f"{n.service_level}{q}", "{{queue}}"),
                    _q(
                        f"max by (queue) (cc_queue_service_level_target_ratio{q})",
                        "target {{queue}}",
                    ),
                ),
                "percentunit",
                width=12,
                height=8,
            ),
            Panel(
                "Calls per minute",
                "timeseries",
                (
                    _q(f"sum({n.offered}{q}) * 60", "offered"),
                    _q(f"sum({n.answered}{q}) * 60", "answered"),
                    _q(f"sum({n.abandoned}{q}) * 60", "abandoned"),
                ),
                width=12,
                height=8,
            ),
            Panel(
                "Wait of answered calls",
                "heatmap",
                (Query(wait, "{{le}}", heatmap=True),),
                width=12,
                height=8,
            ),
            Panel(
                "Blocked calls by reason",
                "timeseries",
                (_q(blocked, "{{reason}}"),),
                width=12,
                height=8,
            ),
        ),
        variables=("queue",),
    )


def agent_view(t: Thresholds) -> Dashboard:
    """Return the agent view by team (individual agents are in the reports API)."""
    n = Names(t)
    team = '{team=~"$team"}'
    where = 'team=~"$team",'
    by_state = 'sum by (state) (cc_agents{team=~"$team",state!="logged_out"})'
    state_time = f"sum by (state) (increase(cc_agent_state_seconds_total{team}[1h]))"
    missed = f"sum by (team) (increase(cc_agent_offers_missed_total{team}[15m]))"
    utilization = _agent_share(BUSY_STATES, ".+", where)
    return Dashboard(
        "cc-agents",
        "Contact center: agents",
        "Agent states, occupancy and quality by team. Per-agent figures: GET /reports/agents.",
        (
            Panel(
                "Agents logged in",
                "stat",
                (_q('sum(cc_agents{team=~"$team",state!="logged_out"})'),),
            ),
            Panel(
                "Occupancy",
                "stat",
                (_q(_agent_share(BUSY_STATES, AVAILABLE_FOR_CALLS, where)),),
                "percentunit",
            ),
            Panel(
                "Utilization",
                "stat",
                (_q(utilization),),
                "percentunit",
                description="(On call + wrap-up) / logged-in time, breaks included.",
            ),
            Panel(
                "QA score",
                "stat",
                (_q(f"sum(cc_qa_score_ratio_sum{team}) / sum(cc_qa_score_ratio_count{team})"),),
                "percentunit",
            ),
            Panel(
                "Agents by state", "timeseries", (_q(by_state, "{{state}}"),), width=12, height=8
            ),
            Panel(
                "Occupancy by team",
                "timeseries",
                (_q(f"{n.occupancy}{team}", "{{team}}"),),
                "percentunit",
                width=12,
                height=8,
            ),
            Panel(
                "Time in state (last hour)",
                "bargauge",
                (_q(state_time, "{{state}}"),),
                "s",
                width=12,
                height=8,
            ),
            Panel(
                "On break by reason",
                "bargauge",
                (_q(f"sum by (reason) (cc_agents_on_break{team})", "{{reason}}"),),
                width=12,
                height=8,
            ),
            Panel(
                "Missed offers per 15 minutes",
                "timeseries",
                (_q(missed, "{{team}}"),),
                width=24,
                height=6,
            ),
        ),
        variables=("team",),
    )


def dashboards(t: Thresholds) -> list[Dashboard]:
    """Return every dashboard."""
    return [overview(t), queue_view(t), agent_view(t)]


# --- Grafana JSON ---------------------------------------------------------------------------------


def render(dashboard: Dashboard) -> dict[str, Any]:
    """Return the dashboard as Grafana's JSON model."""
    return {
        "annotations": {"list": []},
        "description": dashboard.description,
        "editable": True,
        "graphTooltip": 1,
        "panels": _layout(dashboard.panels),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(dashboard.tags),
        "templating": {"list": [_datasource_variable(), *map(_variable, dashboard.variables)]},
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
    }


def _layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    out, x, y, row_height = [], 0, 0, 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        out.append(_panel(number, panel, {"h": panel.height, "w": panel.width, "x": x, "y": y}))
        x, row_height = x + panel.width, max(row_height, panel.height)
    return out


def _panel(number: int, panel: Panel, grid: dict[str, int]) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.steps:
        steps = [{"color": color, "value": value} for value, color in panel.steps]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    if panel.max_value is not None:
        defaults.update(min=0, max=panel.max_value)
    return {
        "datasource": DATASOURCE,
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": grid,
        "id": number,
        "options": _options(panel.kind),
        "targets": [_target(chr(ord("A") + i), q) for i, q in enumerate(panel.queries)],
        "title": panel.title,
        "type": panel.kind,
    }


def _target(ref: str, query: Query) -> dict[str, Any]:
    target: dict[str, Any] = {
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": True,
        "refId": ref,
    }
    if query.heatmap:
        target["format"] = "heatmap"
    return target


def _options(kind: str) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if kind == "stat":
        return {"colorMode": "value", "graphMode": "area", "reduceOptions": reduce}
    if kind == "bargauge":
        return {"displayMode": "gradient", "orientation": "horizontal", "reduceOptions": reduce}
    if kind == "heatmap":
        return {"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1}
    return {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    }


_VARIABLE_SOURCES = {"queue": "cc_calls_offered_total", "team": "cc_agents"}


def _variable(name: str) -> dict[str, Any]:
    query = f"label_values({_VARIABLE_SOURCES[name]}, {name})"
    return {
        "name": name,
        "label": name.capitalize(),
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "refresh": 2,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
    }


def panel_queries(rendered: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (panel title, expression) for every query of a rendered dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in rendered["panels"]
        for target in panel.get("targets", [])
    ]
