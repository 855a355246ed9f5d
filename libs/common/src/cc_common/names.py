"""What a name or a label may look like, everywhere: a length limit and a character set.

Names (queues, agents, teams, skills) end up in dial strings, channel variables, Prometheus labels
and log lines, so they are short and made of word characters and a few separators: no spaces,
no control characters, no line breaks. Labels (break reasons, disposition codes) may also hold
single inner spaces. Pure: no I/O, usable from any core.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

MAX_NAME_LENGTH = 64
NAME_PATTERN = r"^\w[\w.:@+\-]*$"
LABEL_PATTERN = r"^\w(?:[\w.:@+\- ]*[\w.:@+\-])?$"

_NAME = re.compile(NAME_PATTERN)
_LABEL = re.compile(LABEL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
]
"""A queue, agent, team or skill name, for request models."""
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=LABEL_PATTERN)
]
"""A reason or disposition code, for request models."""


def _problem(value: object, what: str, pattern: re.Pattern[str], allowed: str) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if len(value) > MAX_NAME_LENGTH:
        return f"{what} is {len(value)} characters long; at most {MAX_NAME_LENGTH}"
    if _CONTROL.search(value):
        return f"{what} contains a control character or line break"
    if pattern.fullmatch(value) is None:
        return f"{what} {value!r} may hold only {allowed}"
    return None


def text_problem(value: str, what: str, max_length: int) -> str | None:
    """Say what is wrong with free text kept as it is (a CRM id, a note), or None when it is fine.

    Such text is bounded and holds no control character: PostgreSQL text cannot hold NUL, and a
    line break has no place in an id that ends up in logs and channel variables.
    """
    if len(value) > max_length:
        return f"{what} is {len(value)} characters long; at most {max_length}"
    if _CONTROL.search(value):
        return f"{what} contains a control character or line break"
    return None


def name_problem(value: object, what: str = "name") -> str | None:
    """Say what is wrong with a name, or None when it is fine."""
    return _problem(value, what, _NAME, "letters, digits and _ . : @ + - (no spaces)")


def label_problem(value: object, what: str = "label") -> str | None:
    """Say what is wrong with a label (inner spaces allowed), or None when it is fine."""
    return _problem(value, what, _LABEL, "letters, digits, inner spaces and _ . : @ + -")
