"""QA scoring, the dispute workflow, calibration and sampling (the pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cc_recording.core import qa
from cc_recording.core.qa import EvaluationStatus as S

FORM = qa.ScorecardForm.model_validate(
    {
        "pass_mark": 80,
        "sections": [
            {
                "name": "opening",
                "questions": [
                    {"id": "greet", "text": "Greeted the caller?", "weight": 2},
                    {"id": "verify", "text": "Verified identity?", "weight": 3, "critical": True},
                ],
            },
            {
                "name": "resolution",
                "questions": [
                    {"id": "tone", "text": "Tone", "kind": "scale", "scale_max": 5, "weight": 5},
                    {"id": "upsell", "text": "Offered?", "allow_na": True},
                ],
            },
        ],
    }
)
PERFECT: dict[str, qa.Answer] = {"greet": True, "verify": True, "tone": 5, "upsell": True}


def test_a_perfect_call_scores_100_and_passes() -> None:
    result = qa.score(FORM, PERFECT)
    assert (result.percent, result.earned, result.possible, result.passed) == (100, 11, 11, True)
    assert [(s.name, s.earned, s.possible) for s in result.sections] == [
        ("opening", 5, 5),
        ("resolution", 6, 6),
    ]


def test_weights_scale_and_na_shape_the_score() -> None:
    result = qa.score(FORM, {"greet": False, "verify": True, "tone": 3, "upsell": "na"})
    # earned 0 + 3 + 5*3/5 = 6 of possible 2 + 3 + 5 = 10 (the N/A question left out)
    assert (result.earned, result.possible, result.percent) == (6, 10, 60)
    assert result.passed is False
    assert result.sections[1].possible == 5


def test_a_failed_critical_question_fails_the_whole_evaluation() -> None:
    result = qa.score(FORM, {**PERFECT, "verify": False})
    assert result.percent == 0
    assert result.critical_failed == ("verify",)
    assert result.passed is False
    assert result.earned == 8  # the points are still reported


def test_a_critical_scale_question_at_zero_fails_too() -> None:
    form = qa.ScorecardForm.model_validate(
        {"sections": [{"name": "s", "questions": [
            {"id": "q", "text": "t", "kind": "scale", "scale_max": 4, "critical": True},
            {"id": "r", "text": "t"},
        ]}]}
    )  # fmt: skip
    assert qa.score(form, {"q": 0, "r": True}).critical_failed == ("q",)
    assert qa.score(form, {"q": 1, "r": True}).percent == pytest.approx(100 * 1.25 / 2)


def test_all_na_scores_100() -> None:
    form = qa.ScorecardForm.model_validate(
        {"sections": [{"name": "s", "questions": [{"id": "q", "text": "t", "allow_na": True}]}]}
    )
    assert qa.score(form, {"q": "na"}).percent == 100


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"greet": True, "verify": True, "tone": 5}, "unanswered questions: upsell"),
        ({**PERFECT, "extra": True}, "not on the scorecard: extra"),
        ({**PERFECT, "greet": "na"}, "cannot be answered N/A"),
        ({**PERFECT, "greet": 1}, "takes yes/no"),
        ({**PERFECT, "tone": 6}, "takes 0..5"),
        ({**PERFECT, "tone": -1}, "takes 0..5"),
        ({**PERFECT, "tone": True}, "takes 0..5"),
        ({**PERFECT, "tone": "na"}, "cannot be answered N/A"),
    ],
)
def test_answers_that_do_not_fit_are_refused_with_the_reason(
    answers: dict[str, Any], message: str
) -> None:
    with pytest.raises(qa.QaError, match=message):
        qa.score(FORM, answers)


@pytest.mark.parametrize(
    "form",
    [
        {"sections": []},
        {"sections": [{"name": "s", "questions": []}]},
        {"sections": [{"name": "s", "questions": [
            {"id": "a", "text": "t"}, {"id": "a", "text": "u"},
        ]}]},
        {"sections": [{"name": "s", "questions": [{"id": "a", "text": "t", "weight": 0}]}]},
        {"sections": [{"name": "s", "questions": [{"id": "a b", "text": "t"}]}]},
        {"sections": [{"name": "s", "questions": [{"id": "a", "text": "t", "kind": "stars"}]}]},
        {"pass_mark": 101, "sections": [{"name": "s", "questions": [{"id": "a", "text": "t"}]}]},
    ],
)  # fmt: skip
def test_bad_scorecards_are_refused(form: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        qa.ScorecardForm.model_validate(form)


@given(
    greet=st.booleans(),
    verify=st.booleans(),
    tone=st.integers(0, 5),
    upsell=st.sampled_from([True, False, "na"]),
)
def test_every_score_is_a_percentage_and_critical_means_zero(
    greet: bool, verify: bool, tone: int, upsell: qa.Answer
) -> None:
    result = qa.score(FORM, {"greet": greet, "verify": verify, "tone": tone, "upsell": upsell})
    assert 0 <= result.percent <= 100
    assert (result.percent == 0) if not verify else (result.percent > 0 or not (greet or tone))
    assert result.passed == (verify and result.percent >= 80)


def test_the_agent_acknowledges_or_disputes_and_a_reviewer_resolves() -> None:
    assert qa.acknowledge(S.SUBMITTED) is S.ACKNOWLEDGED
    assert qa.dispute(S.SUBMITTED, "I did verify") is S.DISPUTED
    assert qa.resolve(S.DISPUTED, "rita", "eve") is S.RESOLVED
    with pytest.raises(qa.QaError, match="reason"):
        qa.dispute(S.SUBMITTED, "  ")
    with pytest.raises(qa.QaError, match="own evaluation"):
        qa.resolve(S.DISPUTED, "eve", "eve")
    for status in (S.ACKNOWLEDGED, S.DISPUTED, S.RESOLVED):
        with pytest.raises(qa.QaError, match=status.value):
            qa.acknowledge(status)
        with pytest.raises(qa.QaError, match=status.value):
            qa.dispute(status, "why")
    for status in (S.SUBMITTED, S.ACKNOWLEDGED, S.RESOLVED):
        with pytest.raises(qa.QaError, match=status.value):
            qa.resolve(status, "rita", "eve")


def test_calibration_reports_the_spread_and_where_evaluators_disagree() -> None:
    report = qa.calibrate(
        [
            (90.0, {"greet": True, "tone": 4}),
            (70.0, {"greet": True, "tone": 2}),
            (80.0, {"greet": True, "tone": 4}),
        ]
    )
    assert (report.evaluators, report.mean, report.spread) == (3, 80.0, 20.0)
    assert report.stdev == pytest.approx(8.16, abs=0.01)
    assert report.per_question_agreement == {"greet": 1.0, "tone": pytest.approx(0.6667)}
    assert report.disagreements == ("tone",)
    with pytest.raises(qa.QaError, match="at least two"):
        qa.calibrate([(90.0, {})])


T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _candidates() -> list[qa.Candidate]:
    out = []
    for n in range(10):
        out.append(qa.Candidate(f"a{n}", "ann", "sales", T0 + timedelta(hours=n)))
    for n in range(2):
        out.append(qa.Candidate(f"b{n}", "bob", "support", T0 + timedelta(hours=n)))
    return out


def test_sampling_picks_n_per_agent_minus_what_they_have_never_twice() -> None:
    rule = qa.SamplingRule(per_agent=3, seed=7)
    sample = qa.sample(_candidates(), rule, already={"ann": 1}, excluded={"a0", "a1"})
    assert len(sample.picked["ann"]) == 2
    assert not {"a0", "a1"} & set(sample.picked["ann"])
    assert sorted(sample.picked["bob"]) == ["b0", "b1"]
    assert sample.short == {"bob": 1}
    again = qa.sample(_candidates(), rule, already={"ann": 1}, excluded={"a0", "a1"})
    assert again.picked == sample.picked  # a seed makes the draw repeatable


def test_sampling_by_queue_and_when_the_quota_is_met() -> None:
    only_sales = qa.sample(
        _candidates(), qa.SamplingRule(2, queue="sales"), already={}, excluded=set()
    )
    assert set(only_sales.picked) == {"ann"}
    done = qa.sample(
        _candidates(), qa.SamplingRule(2), already={"ann": 2, "bob": 5}, excluded=set()
    )
    assert done.picked == {}
    assert done.short == {}
    with pytest.raises(qa.QaError, match="at least 1"):
        qa.sample([], qa.SamplingRule(0), already={}, excluded=set())
