"""The Prometheus exposition: names, units, buckets, pre-created series, no per-call labels."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cc_metrics.core.engine import MetricsEngine
from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds
from cc_metrics.exposition import LiveMetrics
from cc_metrics.testing import Clock, Events
from cc_proto.events import AgentState

S = AgentState
E = Events()


def make(queues: tuple[str, ...] = ("sales", "support")) -> tuple[LiveMetrics, Clock]:
    engine = MetricsEngine(tenant="acme", thresholds=Thresholds(), queues=queues, teams=["blue"])
    clock = Clock(E.at(0))
    live = LiveMetrics(
        engine, registry=CollectorRegistry(), clock=clock, break_reasons=("lunch", "training")
    )
    return live, clock


def feed(live: LiveMetrics, clock: Clock, *events: object) -> None:
    for event in events:
        outcome = live.engine.apply(event)  # type: ignore[arg-type]
        live.record(outcome, now=clock())


def samples(live: LiveMetrics) -> list[Sample]:
    text = generate_latest(live.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(live: LiveMetrics, name: str, **labels: str) -> float:
    found = [s.value for s in samples(live) if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels}: {found}"
    return found[0]


def test_names_follow_prometheus_conventions() -> None:
    live, _ = make()
    text = generate_latest(live.registry).decode()
    families = list(text_string_to_metric_families(text))
    assert families
    for family in families:
        assert family.name.startswith("cc_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_ratio")), family.name
        assert "_milliseconds" not in family.name


def test_the_wait_histogram_has_every_service_level_threshold_as_a_bucket() -> None:
    live, _ = make()
    bounds = {
        s.labels["le"]
        for s in samples(live)
        if s.name == "cc_queue_wait_seconds_bucket" and s.labels["queue"] == "sales"
    }
    for threshold in (5, 10, 15, 20, 30, 45, 60, 90, 120, *WAIT_BOUNDS):
        assert f"{float(threshold)}" in bounds  # written as "20.0": query le="20.0"


def test_series_exist_before_any_call_so_panels_show_zero() -> None:
    live, _ = make()
    assert value(live, "cc_calls_offered_total", queue="support") == 0
    assert value(live, "cc_queue_calls_waiting", queue="support") == 0
    assert value(live, "cc_agents", team="blue", state="available") == 0
    assert value(live, "cc_agents_on_break", team="blue", reason="lunch") == 0
    assert value(live, "cc_queue_wait_seconds_count", queue="sales", outcome="abandoned") == 0


def test_calls_feed_counters_histograms_and_live_gauges() -> None:
    live, clock = make()
    feed(
        live, clock,
        E.logged_in("a1", 0, ("sales",)),
        E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0),
        E.offered("c1", "sales", 10), E.queued("c1", "sales", 10),
        E.offered("c2", "sales", 12),
        E.offered("c3", "sales", 14), E.abandoned("c3", "sales", 17, wait=3),
        E.answered("c2", "sales", "a1", 30, wait=18, ring=2),
        E.state("a1", S.AVAILABLE, S.ON_CALL, 30, since=0),
    )  # fmt: skip
    clock.now = E.at(100)
    assert value(live, "cc_calls_offered_total", queue="sales") == 3
    assert value(live, "cc_calls_short_abandoned_total", queue="sales") == 1
    within_20 = "cc_queue_wait_seconds_bucket"
    assert value(live, within_20, queue="sales", outcome="answered", le="20.0") == 1
    assert value(live, within_20, queue="sales", outcome="answered", le="15.0") == 0
    assert value(live, "cc_queue_calls_waiting", queue="sales") == 1
    oldest = value(live, "cc_queue_oldest_call_enqueued_timestamp_seconds", queue="sales")
    assert oldest == E.at(10).timestamp()
    assert value(live, "cc_queue_agents_logged_in", queue="sales") == 1
    assert value(live, "cc_agents", team="blue", state="on_call") == 1
    on_call = value(live, "cc_agent_state_seconds_total", team="blue", state="on_call")
    assert on_call == 70  # in progress since 30 s, read at 100 s
    assert value(live, "cc_agent_state_seconds_total", team="blue", state="available") == 30
    assert value(live, "cc_queue_service_level_target_ratio", queue="sales") == 0.8
    assert value(live, "cc_metrics_events_consumed_total", type="call.offered") == 3


def test_replays_count_once() -> None:
    live, clock = make()
    event = E.offered("c1", "sales", 10)
    feed(live, clock, event, event)
    assert value(live, "cc_calls_offered_total", queue="sales") == 1
    assert value(live, "cc_metrics_events_duplicate_total") == 1


def test_no_label_names_a_call_a_caller_or_an_agent() -> None:
    live, clock = make()
    feed(
        live, clock,
        E.logged_in("agent-7", 0), E.state("agent-7", S.LOGGED_OUT, S.BREAK, 0, reason="secret"),
        E.offered("call-123", "sales", 5, caller_number="+4930999", customer_id="cust-1"),
        E.answered("call-123", "sales", "agent-7", 9, wait=4),
        E.ended("call-123", 60, queue="sales", agent="agent-7", talk=51),
    )  # fmt: skip
    private = {"agent-7", "call-123", "+4930999", "cust-1", "secret", "call-123-agent-7"}
    for sample in samples(live):
        assert not private & set(sample.labels.values()), sample
        assert set(sample.labels) <= {
            "queue", "outcome", "le", "team", "state", "reason", "answer", "category",
            "campaign", "result", "type",
        }  # fmt: skip
    assert value(live, "cc_agents_on_break", team="blue", reason="other") == 1


@pytest.mark.parametrize("moves", [1, 3])
def test_agent_state_seconds_never_go_back(moves: int) -> None:
    live, clock = make()
    feed(live, clock, E.state("a1", S.LOGGED_OUT, S.AVAILABLE, 0))
    clock.now = E.at(100)
    first = value(live, "cc_agent_state_seconds_total", team="blue", state="available")
    # The change to on-call happened at 60 s but arrives after the 100 s scrape.
    for _ in range(moves):
        feed(live, clock, E.state("a1", S.AVAILABLE, S.ON_CALL, 60, since=0))
    assert value(live, "cc_agent_state_seconds_total", team="blue", state="available") >= first


def test_ivr_outcomes_and_time_in_ivr() -> None:
    """Containment (self_served), IVR abandonment and time in the IVR from call.ivr_completed."""
    from cc_proto.events import CallIvrCompleted

    live, clock = make()
    assert value(live, "cc_ivr_duration_seconds_count", outcome="self_served") == 0
    feed(
        live, clock,
        E.make(CallIvrCompleted(flow="bank", outcome="self_served", duration_seconds=42), 50,
               call_id="c1"),
        E.make(CallIvrCompleted(flow="bank", outcome="abandoned", duration_seconds=8), 51,
               call_id="c2"),
        E.make(CallIvrCompleted(flow="bank", outcome="queued", queue="sales",
                                duration_seconds=15), 52, call_id="c3"),
    )  # fmt: skip
    assert value(live, "cc_ivr_duration_seconds_count", outcome="self_served") == 1
    assert value(live, "cc_ivr_duration_seconds_sum", outcome="self_served") == 42
    assert value(live, "cc_ivr_duration_seconds_bucket", outcome="abandoned", le="10.0") == 1
    assert value(live, "cc_ivr_duration_seconds_count", outcome="queued") == 1
