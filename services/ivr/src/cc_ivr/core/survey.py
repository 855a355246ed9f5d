"""The post-call survey: three questions, each answered by one or two keys, any of them skipped.

CSAT: 1 very satisfied, 2 satisfied, 3 not satisfied. NPS: 0 to 10 (``10`` is two keys, so the
question takes up to two digits and ``#``). FCR: 1 resolved on this call, 2 not. A wrong answer
is asked again (``retries``); no answer skips the question; a caller who hangs up keeps the
answers given so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cc_ivr.core.flow import Flow, SurveyConfig
from cc_ivr.core.run import CollectDigits


@dataclass(frozen=True, slots=True)
class Question:
    """One survey question: its key, prompt and accepted answers."""

    key: str
    prompt: str
    max_digits: int
    answer: re.Pattern[str]


QUESTIONS = (
    ("csat", "csat_prompt", 1, re.compile(r"^[1-3]$")),
    ("nps", "nps_prompt", 2, re.compile(r"^(10|[0-9])$")),
    ("fcr", "fcr_prompt", 1, re.compile(r"^[12]$")),
)


class SurveyRun:
    """One caller's survey: ask, take the answer, move on."""

    def __init__(self, flow: Flow, language: str) -> None:
        if flow.survey is None:
            raise ValueError(f"flow {flow.name!r} has no survey")
        self.flow = flow
        self.config: SurveyConfig = flow.survey
        self.language = language if language in flow.languages else flow.default_language
        self.questions = [
            Question(key, getattr(self.config, field), digits, answer)
            for key, field, digits, answer in QUESTIONS
        ]
        self.answers: dict[str, str] = {}
        self._index = 0
        self._tries = 0

    def ask(self) -> CollectDigits | None:
        """Return the next question to ask, or None when the survey is over."""
        if self._index >= len(self.questions):
            return None
        question = self.questions[self._index]
        self._tries += 1
        prompts = [question.prompt]
        if self._tries > 1 and self.config.invalid_prompt:
            prompts.insert(0, self.config.invalid_prompt)
        files = tuple(self.flow.prompt_file(p, self.language) for p in prompts)
        timeout = int(self.config.timeout_seconds * 1000)
        return CollectDigits(files, 1, question.max_digits, timeout, "#")

    def answer(self, digits: str) -> None:
        """Take what the caller pressed for the current question."""
        question = self.questions[self._index]
        if question.answer.match(digits):
            self.answers[question.key] = digits
        elif digits and self._tries <= self.config.retries:
            return  # asked again
        self._index += 1
        self._tries = 0

    def thanks(self) -> tuple[str, ...]:
        """Return the closing prompt's files (none when the flow has no thanks prompt)."""
        if self.config.thanks_prompt is None:
            return ()
        return (self.flow.prompt_file(self.config.thanks_prompt, self.language),)

    @property
    def csat(self) -> int | None:
        return int(self.answers["csat"]) if "csat" in self.answers else None

    @property
    def nps(self) -> int | None:
        return int(self.answers["nps"]) if "nps" in self.answers else None

    @property
    def fcr(self) -> bool | None:
        return self.answers["fcr"] == "1" if "fcr" in self.answers else None
