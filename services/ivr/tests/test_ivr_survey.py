"""The post-call survey's questions and answers, and who is asked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cc_ivr.core import Finish, FlowRun, InvalidFlow, LookupResult, parse_flow
from cc_ivr.core.survey import SurveyRun
from cc_ivr.flows import sample_documents

NOW = dt.datetime(2026, 12, 9, 14, 0, tzinfo=dt.UTC)


def bank() -> Any:
    return parse_flow(sample_documents()["bank"])


def answer_all(survey: SurveyRun, keys: list[str]) -> None:
    for key in keys:
        assert survey.ask() is not None
        survey.answer(key)


def test_all_three_answers() -> None:
    survey = SurveyRun(bank(), "en")
    question = survey.ask()
    assert question is not None
    assert question.files == ("prompts/press_1_sales_2_support.wav",)
    survey.answer("2")
    nps = survey.ask()
    assert nps is not None
    assert nps.max_digits == 2
    survey.answer("10")
    survey.ask()
    survey.answer("2")
    assert survey.ask() is None
    assert (survey.csat, survey.nps, survey.fcr) == (2, 10, False)
    assert survey.thanks() == ("prompts/goodbye.wav",)


def test_a_wrong_answer_is_asked_again_then_skipped_and_silence_skips() -> None:
    survey = SurveyRun(bank(), "en")
    answer_all(survey, ["7"])
    again = survey.ask()
    assert again is not None
    assert again.files[0] == "prompts/invalid_option.wav"
    survey.answer("8")  # second wrong answer: the question is skipped
    answer_all(survey, ["", "1"])
    assert (survey.csat, survey.nps, survey.fcr) == (None, None, True)


def test_who_is_asked_opt_in_or_sample() -> None:
    def queued(draw: float, opted: bool) -> Finish:
        run = FlowRun(
            bank(), call_id="c", caller="1", dialed="8000", started_at=NOW, survey_draw=draw
        )
        command = run.start(NOW)
        command = run.resume(None, NOW)  # greeting played
        command = run.resume(LookupResult("not_found"), NOW)
        if opted:
            run.variables["survey"] = "true"
        command = run.resume("2", NOW)
        assert isinstance(command, Finish)
        return command

    assert queued(0.05, False).variables.get("cc_survey") == "true"  # in the 10 % sample
    assert "cc_survey" not in queued(0.5, False).variables
    assert queued(0.5, True).variables.get("cc_survey") == "true"


def test_a_survey_prompt_must_exist() -> None:
    document = sample_documents()["bank"]
    document["survey"]["nps_prompt"] = "missing"
    with pytest.raises(InvalidFlow) as caught:
        parse_flow(document)
    assert [(e.node, e.field) for e in caught.value.errors] == [(None, "survey.nps_prompt")]
