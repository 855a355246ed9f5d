"""Each KPI definition against figures computed by hand."""

from __future__ import annotations

import pytest

from cc_metrics.core.facts import (
    AGENT_FACT_NAMES,
    INPUT_FACT_NAMES,
    QUEUE_FACT_NAMES,
    abandoned_within,
    answered_within,
)
from cc_metrics.core.kpis import KPI_BY_KEY, KPIS, SL_VARIANTS, Kpi, Scope, compute_all
from cc_metrics.core.thresholds import WAIT_BOUNDS, Thresholds

T = Thresholds()


def _queue(**facts: float) -> dict[str, float]:
    return {**dict.fromkeys(QUEUE_FACT_NAMES, 0.0), **facts}


def _agent(**facts: float) -> dict[str, float]:
    return {**dict.fromkeys(AGENT_FACT_NAMES, 0.0), **facts}


REFERENCE_DAY = _queue(
    offered=1060, answered=1000, abandoned=60,
    **{answered_within(20): 860, abandoned_within(20): 20, abandoned_within(5): 0},
)  # fmt: skip
"""A queue's day worked by hand: 1,060 offered, 1,000 answered (860 within 20 s),
60 abandoned (20 within 20 s, none within 5 s); service level 81.13 %, of answered 86.00 %,
answered and abandoned within T 83.02 %."""


def test_there_are_25_kpis_numbered_in_order_with_one_definition_each() -> None:
    assert [k.number for k in KPIS] == list(range(1, 26))
    assert len({k.key for k in KPIS}) == 25
    assert all(k.definition and k.title for k in KPIS)


def test_service_level_variants_of_the_reference_day() -> None:
    main = KPI_BY_KEY["service_level"].compute(REFERENCE_DAY, T).value
    of_answered = SL_VARIANTS[0].compute(REFERENCE_DAY, T).value
    with_abandoned = SL_VARIANTS[1].compute(REFERENCE_DAY, T).value
    assert of_answered is not None
    assert round(of_answered * 100, 2) == 86.00
    assert with_abandoned is not None
    assert round(with_abandoned * 100, 2) == 83.02
    assert main is not None
    assert round(main * 100, 2) == 81.13


def test_service_level_excludes_short_abandons_from_the_denominator() -> None:
    facts = dict(REFERENCE_DAY, **{abandoned_within(5): 10})
    value = KPI_BY_KEY["service_level"].compute(facts, T)
    assert value.numerator == 860
    assert value.denominator == 1050
    longer = Thresholds(short_abandon_seconds=20)
    assert KPI_BY_KEY["service_level"].compute(facts, longer).denominator == 1060 - 20


def test_service_level_threshold_is_a_setting() -> None:
    facts = dict(REFERENCE_DAY, **{answered_within(30): 900})
    value = KPI_BY_KEY["service_level"].compute(facts, Thresholds(service_level_seconds=30)).value
    assert value == pytest.approx(900 / 1060)


def test_thresholds_must_be_kept_bounds() -> None:
    with pytest.raises(ValueError, match="one of"):
        Thresholds(service_level_seconds=25)
    with pytest.raises(ValueError, match="short-abandon"):
        Thresholds(short_abandon_seconds=3)
    assert set(WAIT_BOUNDS) >= {5, 10, 15, 20, 30, 45, 60, 90, 120}


def test_abandon_rate_and_average_abandon_time() -> None:
    facts = _queue(
        offered=200, abandoned=30, abandoned_wait_seconds=900, **{abandoned_within(5): 10}
    )
    assert KPI_BY_KEY["abandon_rate"].compute(facts, T).value == pytest.approx(20 / 190)
    assert KPI_BY_KEY["average_abandon_time"].compute(facts, T).value == pytest.approx(30.0)


def test_queue_time_kpis() -> None:
    facts = _queue(
        offered=10, queued=4, answered=8, answered_wait_seconds=80, ring_seconds=24,
        queue_exits=10, queue_exit_wait_seconds=130,
    )  # fmt: skip
    assert KPI_BY_KEY["asa"].compute(facts, T).value == 10.0
    assert KPI_BY_KEY["average_queue_time"].compute(facts, T).value == 13.0
    assert KPI_BY_KEY["answer_rate"].compute(facts, T).value == 0.8
    assert KPI_BY_KEY["queue_placement_rate"].compute(facts, T).value == 0.4
    assert KPI_BY_KEY["average_ring_time"].compute(facts, T).value == 3.0


def test_handling_kpis() -> None:
    facts = _queue(
        handled=4, talk_seconds=600, hold_seconds=80, acw_seconds=120, transferred=1,
        fcr_resolved=3, fcr_verdicts=4,
    )  # fmt: skip
    assert KPI_BY_KEY["average_talk_time"].compute(facts, T).value == 150.0
    assert KPI_BY_KEY["average_hold_time"].compute(facts, T).value == 20.0
    assert KPI_BY_KEY["average_acw"].compute(facts, T).value == 30.0
    assert KPI_BY_KEY["aht"].compute(facts, T).value == 200.0
    assert KPI_BY_KEY["transfer_rate"].compute(facts, T).value == 0.25
    assert KPI_BY_KEY["fcr"].compute(facts, T).value == 0.75


def test_agent_time_kpis() -> None:
    facts = _agent(
        handled=9, on_call_seconds=1800, wrap_up_seconds=600, available_seconds=500,
        reserved_seconds=100, break_seconds=600, not_ready_seconds=0,
    )  # fmt: skip
    assert KPI_BY_KEY["occupancy"].compute(facts, T).value == pytest.approx(2400 / 3000)
    assert KPI_BY_KEY["utilization"].compute(facts, T).value == pytest.approx(2400 / 3600)
    assert KPI_BY_KEY["calls_per_agent_hour"].compute(facts, T).value == pytest.approx(9.0)


def test_total_and_blocked() -> None:
    facts = _queue(offered=90, blocked=6, ivr_only=4)
    assert KPI_BY_KEY["total_calls"].compute(facts, T).value == 100
    assert KPI_BY_KEY["blocked_rate"].compute(facts, T).value == pytest.approx(0.06)


def test_survey_and_quality_kpis() -> None:
    facts = _queue(
        csat_answers=8, csat_satisfied=6, nps_answers=10, nps_promoters=5, nps_detractors=2,
        qa_evaluations=4, qa_score_sum=3.4,
    )  # fmt: skip
    assert KPI_BY_KEY["csat"].compute(facts, T).value == 0.75
    assert KPI_BY_KEY["nps"].compute(facts, T).value == pytest.approx(30.0)
    assert KPI_BY_KEY["qa_score"].compute(facts, T).value == pytest.approx(0.85)


def test_input_kpis_need_their_inputs() -> None:
    facts = _agent(handled=10)
    for key in ("adherence", "attendance", "cost_per_call"):
        value = KPI_BY_KEY[key].compute(facts, T)
        assert value.value is None
        assert value.no_data is not None
        assert value.no_data.startswith("missing input")
    given = {**facts, "cost": 250.0, "scheduled_seconds": 3600, "adherent_seconds": 3312,
             "scheduled_agent_intervals": 8, "attended_agent_intervals": 7}  # fmt: skip
    assert KPI_BY_KEY["cost_per_call"].compute(given, T).value == 25.0
    assert KPI_BY_KEY["adherence"].compute(given, T).value == pytest.approx(0.92)
    assert KPI_BY_KEY["attendance"].compute(given, T).value == pytest.approx(7 / 8)


@pytest.mark.parametrize("kpi", [k for k in KPIS if k.denominator is not None], ids=lambda k: k.key)
def test_an_empty_denominator_is_no_data_never_zero(kpi: Kpi) -> None:
    facts = dict.fromkeys(QUEUE_FACT_NAMES + AGENT_FACT_NAMES + INPUT_FACT_NAMES, 0.0)
    value = kpi.compute(facts, T)
    assert value.value is None
    assert value.no_data


def test_compute_all_gives_each_scope_its_kpis() -> None:
    queue = compute_all(REFERENCE_DAY, T, Scope.QUEUE)
    assert "service_level" in queue
    assert "occupancy" not in queue
    agent = compute_all(_agent(handled=1, talk_seconds=60), T, Scope.AGENT)
    assert "occupancy" in agent
    assert "service_level" not in agent
    assert agent["average_talk_time"].value == 60.0


def test_no_calls_is_no_data_not_zero_or_full() -> None:
    for key in ("service_level", "abandon_rate", "asa", "answer_rate"):
        value = KPI_BY_KEY[key].compute(_queue(), T)
        assert value.value is None, key
        assert value.no_data


def test_fcr_without_surveys_or_dispositions_is_no_data() -> None:
    handled_without_answers = _queue(handled=40, talk_seconds=4000)
    fcr = KPI_BY_KEY["fcr"].compute(handled_without_answers, T)
    assert fcr.value is None
    assert fcr.no_data == "no survey answer or disposition on first contact"
    some_answers = _queue(handled=40, fcr_resolved=6, fcr_verdicts=8)
    assert KPI_BY_KEY["fcr"].compute(some_answers, T).value == 0.75
