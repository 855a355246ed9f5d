"""Outbound KPIs per campaign from the dialer's events: facts, KPIs, the engine, Prometheus."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cc_metrics.core.engine import CampaignKey, MetricsEngine, Unprocessable
from cc_metrics.core.facts import CAMPAIGN_FACT_NAMES, Facts, add_facts
from cc_metrics.core.kpis import OUTBOUND_KPIS, Scope, compute_all
from cc_metrics.core.outbound import abandon_rule_window, answer_result, dialer_facts, facts_time
from cc_metrics.core.reports import figure_keys
from cc_metrics.core.thresholds import Thresholds
from cc_metrics.exposition import LiveMetrics
from cc_metrics.testing import T0, Clock, Events, dialer_day, machine_day
from cc_proto import Envelope, EventData
from cc_proto.events import ConfigChanged

E = Events()
FIRST, SECOND = T0, T0 + timedelta(minutes=15)
OUTBOUND_KEYS = [
    "dial_attempts",
    "connect_rate",
    "right_party_contact_rate",
    "outbound_abandon_rate",
    "machine_answer_rate",
    "average_connect_wait",
]


def campaign_day() -> list[Envelope[EventData]]:
    return dialer_day(E)


# --- facts of one event --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "facts", "result"),
    [
        (E.dialled("c", "l", 0), {"attempts": 1.0}, None),
        (
            E.dial_connected("c", "l", 0, wait=1.25),
            {"live_answers": 1.0, "connected": 1.0, "connect_wait_seconds": 1.25},
            "connected",
        ),
        (
            E.dial_connected("c", "l", 0, wait=0.5, by="unknown"),
            {"live_answers": 1.0, "connected": 1.0, "connect_wait_seconds": 0.5},
            "connected",
        ),
        (E.dial_connected("c", "l", 0, by="machine"), {"machine_answers": 1.0}, "machine"),
        (
            E.dial_dropped("c", "l", 0, wait=2.0),
            {"live_answers": 1.0, "abandoned": 1.0, "abandoned_wait_seconds": 2.0},
            "abandoned",
        ),
        (
            E.dispositioned("c", "l", 0, "sale", right_party=True),
            {"dispositions": 1.0, "right_party_contacts": 1.0},
            None,
        ),
        (
            E.dispositioned("c", "l", 0, "wrong_party", right_party=False),
            {"dispositions": 1.0, "right_party_contacts": 0.0},
            None,
        ),
        (E.machine_detected("c", "l", 0), {"machine_answers": 1.0}, "machine"),
        (
            E.machine_detected("c", "l", 9, connected=(3, 0.75)),
            {
                "machine_answers": 1.0,
                "live_answers": -1.0,
                "connected": -1.0,
                "connect_wait_seconds": -0.75,
            },
            "machine",
        ),
        (E.offered("call", "sales", 0), {}, None),
    ],
)
def test_each_dialer_event_adds_its_facts(
    event: Envelope[EventData], facts: Facts, result: str | None
) -> None:
    assert dialer_facts(event.data) == facts
    assert answer_result(event.data) == result
    assert set(facts) <= set(CAMPAIGN_FACT_NAMES)


def test_a_machine_after_the_bridge_counts_where_its_connect_counted() -> None:
    """The correction goes where dialer.connected added the answer, not at the beep."""
    after = E.machine_detected("c", "l", 905, connected=(890, 0.25))
    assert facts_time(after.data, after.occurred_at) == E.at(890)
    before = E.machine_detected("c", "l", 30)
    assert facts_time(before.data, before.occurred_at) == E.at(30)
    adopted = E.machine_detected("c", "l", 905, connected=(890, 0.25)).model_copy(
        update={"data": after.data.model_copy(update={"connected_at": None})}
    )
    assert facts_time(adopted.data, adopted.occurred_at) == E.at(905)  # no time known: its own
    dial = E.dial_connected("c", "l", 20)
    assert facts_time(dial.data, dial.occurred_at) == E.at(20)


# --- KPIs ----------------------------------------------------------------------------------------


def totals(events: list[Envelope[EventData]]) -> Facts:
    facts: Facts = dict.fromkeys(CAMPAIGN_FACT_NAMES, 0.0)
    for event in events:
        add_facts(facts, dialer_facts(event.data))
    return facts


def test_the_outbound_kpis_of_a_campaign_day_by_hand() -> None:
    kpis = compute_all(totals(campaign_day()), Thresholds(), Scope.CAMPAIGN)
    assert list(kpis) == OUTBOUND_KEYS
    values = {key: kpi.value for key, kpi in kpis.items()}
    assert values == {
        "dial_attempts": 10,
        "connect_rate": pytest.approx(4 / 10),  # l1, l2, l3 (dropped), l5; the machine apart
        "right_party_contact_rate": pytest.approx(2 / 4),
        "outbound_abandon_rate": pytest.approx(1 / 4),  # over live answers, not dials
        "machine_answer_rate": pytest.approx(1 / 10),
        "average_connect_wait": pytest.approx((0.5 + 1.5 + 1.0) / 3),
    }
    abandon = kpis["outbound_abandon_rate"]
    assert (abandon.numerator, abandon.denominator) == (1, 4)


def test_machines_found_before_and_after_the_bridge_are_machine_answers_not_live_ones() -> None:
    kpis = compute_all(totals(machine_day(E)), Thresholds(), Scope.CAMPAIGN)
    values = {key: kpi.value for key, kpi in kpis.items()}
    assert values == {
        "dial_attempts": 4,
        "connect_rate": pytest.approx(2 / 4),  # l1 and l4 (dropped); l2 and l3 machines
        "right_party_contact_rate": pytest.approx(1 / 2),
        "outbound_abandon_rate": pytest.approx(1 / 2),
        "machine_answer_rate": pytest.approx(2 / 4),
        "average_connect_wait": pytest.approx(0.5),  # l2's wait went with its answer
    }


def test_a_campaign_without_answers_has_no_rates_not_zero() -> None:
    kpis = compute_all(totals([E.dialled("c", "l1", 0)]), Thresholds(), Scope.CAMPAIGN)
    assert kpis["dial_attempts"].value == 1
    assert kpis["connect_rate"].value == 0
    for key in ("right_party_contact_rate", "outbound_abandon_rate", "average_connect_wait"):
        assert kpis[key].value is None
        assert kpis[key].no_data
    nothing = compute_all(totals([]), Thresholds(), Scope.CAMPAIGN)
    assert nothing["connect_rate"].value is None
    assert nothing["connect_rate"].no_data == "no dials"


def test_campaign_reports_carry_the_outbound_kpis_and_only_them() -> None:
    assert figure_keys(Scope.CAMPAIGN) == OUTBOUND_KEYS
    assert [kpi.number for kpi in OUTBOUND_KPIS] == list(range(26, 32))
    for scope in (Scope.QUEUE, Scope.AGENT, Scope.TEAM, Scope.TENANT):
        assert not set(OUTBOUND_KEYS) & set(figure_keys(scope))


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        (
            datetime(2025, 3, 31, 9, 7, tzinfo=UTC),
            datetime(2025, 3, 1, 9, 15, tzinfo=UTC),
            datetime(2025, 3, 31, 9, 15, tzinfo=UTC),
        ),
        (  # on a boundary: the interval starting then is in the window
            datetime(2025, 3, 31, 9, 15, tzinfo=UTC),
            datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
            datetime(2025, 3, 31, 9, 30, tzinfo=UTC),
        ),
    ],
)
def test_the_abandon_rule_looks_at_thirty_days_up_to_the_current_interval(
    at: datetime, start: datetime, end: datetime
) -> None:
    assert abandon_rule_window(at) == (start, end)


# --- the engine ----------------------------------------------------------------------------------


def engine() -> MetricsEngine:
    return MetricsEngine(tenant="acme", thresholds=Thresholds(), queues=["sales"])


def applied(events: list[Envelope[EventData]]) -> dict[CampaignKey, Facts]:
    eng = engine()
    out: dict[CampaignKey, Facts] = {}
    for event in events:
        for key, facts in eng.apply(event).campaign_facts.items():
            add_facts(out.setdefault(key, {}), facts)
    return out


def test_the_engine_counts_each_event_in_its_own_interval() -> None:
    facts = applied(campaign_day())
    assert facts == {
        CampaignKey("renewals", FIRST): {
            "attempts": 10.0,
            "live_answers": 3.0,
            "connected": 2.0,
            "connect_wait_seconds": 2.0,
            "abandoned": 1.0,
            "abandoned_wait_seconds": 2.0,
            "machine_answers": 1.0,
            "dispositions": 2.0,
            "right_party_contacts": 1.0,
        },
        CampaignKey("renewals", SECOND): {
            "live_answers": 1.0,
            "connected": 1.0,
            "connect_wait_seconds": 1.0,
            "dispositions": 1.0,
            "right_party_contacts": 1.0,
        },
    }


def test_replays_and_arrival_order_change_nothing() -> None:
    events = campaign_day()
    shuffled = [*events, *events[:5]]
    random.Random(3).shuffle(shuffled)
    assert applied(shuffled) == applied(events)


MACHINE_DAY_FACTS = {
    CampaignKey("renewals", FIRST): {
        "attempts": 4.0,
        "live_answers": 2.0,
        "connected": 1.0,
        "connect_wait_seconds": 0.5,
        "abandoned": 1.0,
        "abandoned_wait_seconds": 2.0,
        "machine_answers": 2.0,
        "dispositions": 1.0,
        "right_party_contacts": 1.0,
    }
}
"""machine_day by hand: l2's beep in the 09:15 interval corrects the 09:00 one."""


def test_the_engine_moves_a_machine_found_after_the_bridge_out_of_the_live_answers() -> None:
    assert applied(machine_day(E)) == MACHINE_DAY_FACTS


@pytest.mark.parametrize("seed", range(20))
def test_machines_count_the_same_in_any_order_and_replayed(seed: int) -> None:
    events = machine_day(E)
    shuffled = [*events, *events[-4:], *events[:2]]
    random.Random(seed).shuffle(shuffled)
    facts = applied(shuffled)
    for key in facts:  # a correction may come first: the facts only meet at the end
        facts[key] = {name: value for name, value in facts[key].items() if value != 0.0}
    assert facts == MACHINE_DAY_FACTS


def test_campaigns_are_kept_apart() -> None:
    facts = applied([E.dialled("a", "l1", 0), E.dialled("b", "l2", 0), E.dialled("b", "l3", 1)])
    assert {key.campaign: f["attempts"] for key, f in facts.items()} == {"a": 1.0, "b": 2.0}


def test_a_campaign_name_no_label_could_hold_is_refused() -> None:
    with pytest.raises(Unprocessable, match="campaign"):
        engine().apply(E.dialled("renewals\nother", "l1", 0))


# --- Prometheus ----------------------------------------------------------------------------------


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_live_counters_per_campaign_with_series_from_the_announcement() -> None:
    eng = engine()
    clock = Clock(E.at(0))
    live = LiveMetrics(eng, registry=CollectorRegistry(), clock=clock)

    def feed(*events: Any) -> None:
        for event in events:
            live.record(eng.apply(event), now=clock())

    feed(E.make(ConfigChanged(entity="campaign", entity_id="renewals", action="created"), 0))
    reg = live.registry
    assert sample(reg, "cc_dialer_attempts_total", campaign="renewals") == 0
    assert sample(reg, "cc_dialer_answers_total", campaign="renewals", result="machine") == 0
    assert sample(reg, "cc_dialer_dispositions_total", campaign="renewals", right_party="true") == 0
    feed(*campaign_day(), E.dialled("unannounced", "x1", 5))
    assert sample(reg, "cc_dialer_attempts_total", campaign="renewals") == 10
    assert sample(reg, "cc_dialer_attempts_total", campaign="other") == 1
    answers = {
        result: sample(reg, "cc_dialer_answers_total", campaign="renewals", result=result)
        for result in ("connected", "abandoned", "machine")
    }
    assert answers == {"connected": 3, "abandoned": 1, "machine": 1}
    rpc = sample(reg, "cc_dialer_dispositions_total", campaign="renewals", right_party="true")
    assert rpc == 2
    wait = "cc_dialer_answer_wait_seconds_bucket"
    within = sample(reg, wait, campaign="renewals", result="connected", le="2.0")
    assert within == 3  # connected within the 2-second rule
    assert sample(reg, wait, campaign="renewals", result="abandoned", le="1.5") == 0
    assert sample(reg, wait, campaign="renewals", result="abandoned", le="2.0") == 1


def test_a_machine_after_the_bridge_is_told_apart_in_prometheus() -> None:
    """Counters only go up: the corrected answer stays in result=connected and is counted in
    cc_dialer_machines_after_connect_total: live answers are connected + abandoned - that
    (2 + 1 - 1: l1 and l4)."""
    eng = engine()
    clock = Clock(E.at(0))
    live = LiveMetrics(eng, registry=CollectorRegistry(), clock=clock)
    announced = E.make(ConfigChanged(entity="campaign", entity_id="renewals", action="created"), 0)
    for event in [announced, *machine_day(E)]:
        live.record(eng.apply(event), now=clock())
    reg = live.registry
    answers = {
        result: sample(reg, "cc_dialer_answers_total", campaign="renewals", result=result)
        for result in ("connected", "abandoned", "machine")
    }
    assert answers == {"connected": 2, "abandoned": 1, "machine": 2}
    assert sample(reg, "cc_dialer_machines_after_connect_total", campaign="renewals") == 1
