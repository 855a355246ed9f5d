"""Prometheus cardinality is bounded by configuration: names outside it are counted as ``other``,
and a name no queue could have (megabytes long, line breaks) is refused as poison."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cc_metrics.core.engine import MetricsEngine, Unprocessable
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.exposition import MAX_ANNOUNCED, LiveMetrics
from cc_metrics.testing import Clock, Events
from cc_proto import Envelope, EventData
from cc_proto.events import AgentState, ConfigChanged

S = AgentState


def make() -> tuple[LiveMetrics, Clock, Events]:
    events = Events()
    engine = MetricsEngine(
        tenant="acme", thresholds=Thresholds(), queues=("sales", "support"), teams=["blue"]
    )
    clock = Clock(events.at(0))
    live = LiveMetrics(engine, registry=CollectorRegistry(), clock=clock, break_reasons=("lunch",))
    return live, clock, events


def feed(live: LiveMetrics, clock: Clock, *events: Envelope[EventData]) -> None:
    for event in events:
        live.record(live.engine.apply(event), now=clock())


def label_values(live: LiveMetrics, label: str) -> set[str]:
    text = generate_latest(live.registry).decode()
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if label in sample.labels
    }


def scrape_size(live: LiveMetrics) -> int:
    return len(generate_latest(live.registry))


def test_a_megabyte_queue_name_is_poison_and_never_a_series() -> None:
    live, clock, e = make()
    feed(live, clock, e.logged_in("a1", 0))
    before = scrape_size(live)
    for bad in ("q" * 10_000_000, "nl2\n", "x" * 201):
        event = e.logged_in("a2", 1, queues=("sales", bad))
        with pytest.raises(Unprocessable, match="queues: a name of"):
            live.engine.apply(event)
    with pytest.raises(Unprocessable, match="team"):
        live.engine.apply(e.logged_in("a3", 1, team="t" * 1000))
    assert "a2" not in live.engine.agents  # nothing of it was stored
    assert scrape_size(live) == before


def test_unconfigured_names_are_counted_as_other() -> None:
    live, clock, e = make()
    feed(live, clock, e.logged_in("a1", 0))
    before = scrape_size(live)
    for n in range(300):
        queue, team = f"forged-{n}", f"team-{n}"
        feed(
            live,
            clock,
            e.logged_in(f"f{n}", 1, queues=(queue,), team=team),
            e.state(f"f{n}", S.LOGGED_OUT, S.AVAILABLE, 1, team=team),
            e.offered(f"c{n}", queue, 2),
        )
    assert label_values(live, "queue") == {"sales", "support", "other"}
    assert label_values(live, "team") == {"blue", "", "other"}
    assert scrape_size(live) < before * 1.5  # one more label value, not three hundred
    text = generate_latest(live.registry).decode()
    assert 'cc_calls_offered_total{queue="other"} 300.0' in text
    assert 'cc_queue_calls_waiting{queue="other"} 300.0' in text
    assert 'cc_queue_agents_logged_in{queue="other"} 300.0' in text
    assert 'cc_agents{state="available",team="other"} 300.0' in text


def announce(e: Events, entity: str, name: str, at: float = 0) -> Envelope[EventData]:
    return e.make(ConfigChanged(entity=entity, entity_id=name, action="created"), at)


def test_queues_routing_announces_become_labels_up_to_a_limit() -> None:
    live, clock, e = make()
    feed(live, clock, announce(e, "queue", "billing"), e.offered("c1", "billing", 1))
    text = generate_latest(live.registry).decode()
    assert 'cc_calls_offered_total{queue="billing"} 1.0' in text
    feed(live, clock, announce(e, "queue", "bad name"), announce(e, "queue", "other"))
    for n in range(MAX_ANNOUNCED + 20):
        feed(live, clock, announce(e, "queue", f"q{n}"))
    queues = label_values(live, "queue")
    assert "bad name" not in queues
    assert len(queues) == 2 + MAX_ANNOUNCED  # sales, support, then the first announced ones
    assert f"q{MAX_ANNOUNCED}" not in queues
