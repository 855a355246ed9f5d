"""Skill expressions: what they accept, what they mean, and how they refuse bad input."""

from __future__ import annotations

import pytest

from cc_routing.core.expressions import ExpressionError, parse_requirement

FR_BILLER = {"language.fr": 5, "billing": 3}
EN_NOVICE = {"language.en": 4, "billing": 1}


@pytest.mark.parametrize(
    ("text", "skills", "expected"),
    [
        ('language == "fr" and billing >= 3', FR_BILLER, True),
        ('language == "fr" and billing >= 3', EN_NOVICE, False),
        ("billing", EN_NOVICE, True),
        ("billing", {}, False),
        ("billing >= 1", {}, False),
        ("billing < 3", {}, True),  # a missing skill counts as proficiency 0
        ("billing == 3", FR_BILLER, True),
        ("billing != 3", FR_BILLER, False),
        ("billing > 3", FR_BILLER, False),
        ("billing <= 1", EN_NOVICE, True),
        ('language != "fr"', EN_NOVICE, True),
        ('language != "fr"', FR_BILLER, False),
        ('language in ["de", "fr"]', FR_BILLER, True),
        ('language in ["de", "it"]', FR_BILLER, False),
        ('language not in ["de", "fr"]', EN_NOVICE, True),
        ("billing in [1, 2]", EN_NOVICE, True),
        ("billing in [4, 5]", FR_BILLER, False),
        ("language.fr >= 4", FR_BILLER, True),
        ("not billing", {}, True),
        ("not not billing", FR_BILLER, True),
        ("billing >= 3 or language.en", EN_NOVICE, True),
        ("(billing >= 3 or language.en) and not sales", EN_NOVICE, True),
        ("billing >= 3 or language.en and sales", FR_BILLER, True),  # and binds tighter
        ("(billing >= 3 or language.en) and sales", FR_BILLER, False),
        ("true", {}, True),
        ("false", FR_BILLER, False),
        ("'single' == 'quotes' or billing", EN_NOVICE, None),  # a value is not a skill name
        ("tech-support >= 2", {"tech-support": 2}, True),
    ],
)
def test_expressions_mean_what_they_say(
    text: str, skills: dict[str, int], expected: bool | None
) -> None:
    if expected is None:
        with pytest.raises(ExpressionError):
            parse_requirement(text)
        return
    requirement = parse_requirement(text)
    assert requirement.matches(skills) is expected
    assert (requirement.why_not(skills) is None) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty requirement"),
        ("billing >=", "expected a value after '>='"),
        ("billing >= 7", "proficiency must be 0-5"),
        ("billing >= -1", "proficiency must be 0-5"),
        ("billing >= 2.5", "proficiency must be 0-5"),
        ('language > "fr"', "'>' needs a proficiency number"),
        ("billing and", "expected a skill name, got the end"),
        ("(billing", "expected ')'"),
        ("billing or or sales", "expected a skill name, got 'or'"),
        ("billing sales", "unexpected 'sales'"),
        ("billing $ 3", "unexpected character '$'"),
        ('language in ["fr", 3]', "mixes names and numbers"),
        ("language in ", "expected '[' after 'in'"),
        ('language in ["fr"', "expected ']'"),
        ("__import__('os')", "unexpected '('"),
        ("billing not 3", "unexpected 'not'"),
    ],
)
def test_malformed_expressions_fail_with_a_pointed_message(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_requirement(text)
    assert message in str(caught.value)
    assert "column" in str(caught.value) or text == ""


def test_the_error_points_at_the_column() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_requirement("billing >= 3 and language ==")
    assert "at column 29" in str(caught.value)


def test_a_catalog_catches_typos_with_a_suggestion() -> None:
    catalog = {"billing", "language.fr", "sales"}
    parse_requirement('language == "fr" and billing', known_skills=catalog)
    with pytest.raises(ExpressionError, match=r"unknown skill 'biling'.*did you mean 'billing'"):
        parse_requirement("biling >= 2", known_skills=catalog)
    with pytest.raises(ExpressionError, match=r"unknown skill 'language\.de'"):
        parse_requirement('language == "de"', known_skills=catalog)


def test_explanations_name_the_failing_terms() -> None:
    requirement = parse_requirement('language == "fr" and billing >= 3')
    assert requirement.why_not(EN_NOVICE) == "lacks language.fr; billing is 1, needs >= 3"
    either = parse_requirement("billing >= 4 or sales")
    assert either.why_not(EN_NOVICE) == "none of: billing is 1, needs >= 4 | lacks sales"
    negated = parse_requirement("not billing")
    assert negated.why_not(EN_NOVICE) == "must not match (billing)"
    listed = parse_requirement('language in ["de", "it"]')
    assert listed.why_not(FR_BILLER) == "language: none of language.de, language.it"


def test_requirements_combine_and_compare_by_meaning() -> None:
    queue = parse_requirement("billing >= 2")
    call = parse_requirement('language == "fr"')
    both = queue.both(call)
    assert both.matches(FR_BILLER)
    assert not both.matches(EN_NOVICE)
    assert both.skills == {"billing", "language.fr"}
    assert parse_requirement("billing>=2") == parse_requirement("billing >= 2")
    assert hash(parse_requirement("billing>=2")) == hash(queue)
    assert "billing >= 2" in repr(queue)


def test_text_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ExpressionError, match="must be text"):
        parse_requirement(3)  # type: ignore[arg-type]


def test_escaped_quotes_in_values() -> None:
    requirement = parse_requirement(r'team == "a\"b"')
    assert requirement.matches({'team.a"b': 1})
