"""Skill requirements as small expressions, parsed once at configuration time, never ``eval``-ed.

An agent's skills are a mapping ``name -> proficiency`` (1-5). Grammar::

    requirement := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | primary
    primary     := "(" or_expr ")" | "true" | "false" | NAME [test]
    test        := ("==" | "!=" | ">=" | "<=" | ">" | "<") value
                 | ["not"] "in" "[" value ("," value)* "]"
    value       := INTEGER 0-5 | "string" | 'string'

``billing`` alone means the agent holds the skill; ``billing >= 3`` compares proficiency (a missing
skill counts as 0); ``language == "fr"`` means the agent holds the skill ``language.fr``, so
languages can carry a proficiency too (``language.fr >= 4``).
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

Skills = Mapping[str, int]
Predicate = Callable[[Skills], bool]

MAX_PROFICIENCY = 5
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})


class ExpressionError(ValueError):
    """A requirement that cannot be parsed or refers to something that does not exist."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|>=|<=|>|<|\(|\)|\[|\]|,)
    )""",
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, name, string, op, end
    text: str
    column: int


def _tokenize(text: str) -> list[_Token]:
    """Split the expression into tokens, failing on the first character that starts none."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            column = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise _error(text, column, f"unexpected character {text[column]!r}")
        kind = match.lastgroup or "op"
        value = match.group(kind)
        tokens.append(_Token(kind, value, match.start(kind)))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _error(text: str, column: int, message: str) -> ExpressionError:
    """Build an error that points at the offending column."""
    return ExpressionError(f"{message} at column {column + 1}: {text!r}\n  {' ' * (column + 1)}^")


# --- syntax tree -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class Has:
    skill: str


@dataclass(frozen=True, slots=True)
class Compare:
    skill: str
    op: str
    level: int


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Holds at least one of ``skills`` (``x in ["a", "b"]``), or proficiency in ``levels``."""

    skill: str
    levels: frozenset[int]
    skills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class All:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Any_:
    operands: tuple[Node, ...]


Node = Const | Has | Compare | AnyOf | Not | All | Any_


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text == word

    def expect_op(self, op: str, after: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != op:
            raise _error(self.text, token.column, f"expected {op!r} {after}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise _error(self.text, 0, "empty requirement")
        node = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise _error(self.text, token.column, f"unexpected {token.text!r}; expected 'and'/'or'")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.is_word("or"):
            self.take()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Any_(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.is_word("and"):
            self.take()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else All(tuple(operands))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            self.take()
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "op" and token.text == "(":
            node = self.or_expr()
            self.expect_op(")", "to close '('")
            return node
        if token.kind == "name" and token.text in ("true", "false"):
            return Const(token.text == "true")
        if token.kind != "name" or token.text in KEYWORDS:
            what = "the end" if token.kind == "end" else repr(token.text)
            raise _error(self.text, token.column, f"expected a skill name, got {what}")
        return self.test(token.text)

    def test(self, skill: str) -> Node:
        token = self.peek()
        if token.kind == "op" and token.text in _COMPARE:
            self.take()
            return self.comparison(skill, token.text, token)
        negate = False
        if self.is_word("not") and self.tokens[self.pos + 1].text == "in":
            self.take()
            negate = True
        if self.is_word("in"):
            self.take()
            node = self.membership(skill)
            return Not(node) if negate else node
        return Has(skill)

    def comparison(self, skill: str, op: str, op_token: _Token) -> Node:
        value = self.value(f"after {op!r}")
        if isinstance(value, str):
            if op not in ("==", "!="):
                raise _error(self.text, op_token.column, f"{op!r} needs a proficiency number")
            has = Has(f"{skill}.{value}")
            return has if op == "==" else Not(has)
        return Compare(skill, op, value)

    def membership(self, skill: str) -> Node:
        self.expect_op("[", "after 'in'")
        values = [self.value("in the list")]
        while self.peek().kind == "op" and self.peek().text == ",":
            self.take()
            values.append(self.value("after ','"))
        self.expect_op("]", "to close the list")
        strings = [v for v in values if isinstance(v, str)]
        numbers = [v for v in values if isinstance(v, int)]
        if strings and numbers:
            raise _error(self.text, self.peek().column, "a list mixes names and numbers")
        skills = tuple(f"{skill}.{v}" for v in strings)
        return AnyOf(skill, frozenset(numbers), skills)

    def value(self, where: str) -> int | str:
        token = self.take()
        if token.kind == "string":
            body = token.text[1:-1]
            return re.sub(r"\\(.)", r"\1", body)
        if token.kind == "number":
            if not re.fullmatch(r"\d+", token.text) or int(token.text) > MAX_PROFICIENCY:
                raise _error(
                    self.text,
                    token.column,
                    f"proficiency must be 0-{MAX_PROFICIENCY}, not {token.text}",
                )
            return int(token.text)
        what = "the end" if token.kind == "end" else repr(token.text)
        raise _error(self.text, token.column, f"expected a value {where}, got {what}")


# --- compiled requirement ----------------------------------------------------------------------


def _compile(node: Node) -> Predicate:
    """Turn the tree into nested closures: evaluation is a few calls, no interpretation loop."""
    if isinstance(node, Const):
        value = node.value
        return lambda skills: value
    if isinstance(node, Has):
        name = node.skill
        return lambda skills: name in skills
    if isinstance(node, Compare):
        name, level, compare = node.skill, node.level, _COMPARE[node.op]
        return lambda skills: compare(skills.get(name, 0), level)
    if isinstance(node, AnyOf):
        return _compile_any_of(node)
    if isinstance(node, Not):
        inner = _compile(node.operand)
        return lambda skills: not inner(skills)
    parts = [_compile(operand) for operand in node.operands]
    if isinstance(node, All):
        return _fold(parts, conjunction=True)
    return _fold(parts, conjunction=False)


def _compile_any_of(node: AnyOf) -> Predicate:
    if node.skills:
        names = node.skills
        return lambda skills: any(name in skills for name in names)
    name, levels = node.skill, node.levels
    return lambda skills: skills.get(name, 0) in levels


def _fold(parts: list[Predicate], *, conjunction: bool) -> Predicate:
    """Chain predicates pairwise so short-circuiting stays in plain ``and``/``or``."""
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = _pair(part, result, conjunction=conjunction)
    return result


def _pair(left: Predicate, right: Predicate, *, conjunction: bool) -> Predicate:
    if conjunction:
        return lambda skills: left(skills) and right(skills)
    return lambda skills: left(skills) or right(skills)


def _why_not(node: Node, skills: Skills) -> str | None:
    """Return why ``skills`` fail ``node`` in words, or None when they satisfy it."""
    if isinstance(node, Const):
        return None if node.value else "requirement is 'false'"
    if isinstance(node, Has):
        return None if node.skill in skills else f"lacks {node.skill}"
    if isinstance(node, Compare):
        have = skills.get(node.skill, 0)
        if _COMPARE[node.op](have, node.level):
            return None
        return f"{node.skill} is {have}, needs {node.op} {node.level}"
    if isinstance(node, AnyOf):
        if _compile_any_of(node)(skills):
            return None
        wanted = node.skills or tuple(str(level) for level in sorted(node.levels))
        return f"{node.skill}: none of {', '.join(wanted)}"
    if isinstance(node, Not):
        if _why_not(node.operand, skills) is not None:
            return None
        return f"must not match ({unparse(node.operand)})"
    reasons = [_why_not(operand, skills) for operand in node.operands]
    failed = [r for r in reasons if r is not None]
    if isinstance(node, All):
        return "; ".join(failed) if failed else None
    return None if len(failed) < len(reasons) else "none of: " + " | ".join(failed)


def unparse(node: Node) -> str:
    """Render a tree back to canonical text (used in explanations and combined requirements)."""
    if isinstance(node, Const):
        return "true" if node.value else "false"
    if isinstance(node, Has):
        return node.skill
    if isinstance(node, Compare):
        return f"{node.skill} {node.op} {node.level}"
    if isinstance(node, AnyOf):
        values = [repr(s.split(".", 1)[1]) for s in node.skills] or [
            str(v) for v in sorted(node.levels)
        ]
        return f"{node.skill} in [{', '.join(values)}]"
    if isinstance(node, Not):
        return f"not ({unparse(node.operand)})"
    joiner = " and " if isinstance(node, All) else " or "
    return joiner.join(f"({unparse(operand)})" for operand in node.operands)


def _referenced(node: Node) -> set[str]:
    """Return every skill name the requirement tests."""
    if isinstance(node, Has | Compare):
        return {node.skill}
    if isinstance(node, AnyOf):
        return set(node.skills) if node.skills else {node.skill}
    if isinstance(node, Not):
        return _referenced(node.operand)
    if isinstance(node, All | Any_):
        return set().union(*(_referenced(operand) for operand in node.operands))
    return set()


class Requirement:
    """A compiled skill requirement: ``matches`` is fast, ``why_not`` explains a refusal."""

    __slots__ = ("matches", "skills", "text", "tree")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self.tree = tree
        self.matches: Predicate = _compile(tree)
        self.skills: frozenset[str] = frozenset(_referenced(tree))

    def why_not(self, skills: Skills) -> str | None:
        """Return the reason an agent with ``skills`` is refused, or None if accepted."""
        return _why_not(self.tree, skills)

    def both(self, other: Requirement) -> Requirement:
        """Return the requirement that needs this one and ``other``."""
        tree = All((self.tree, other.tree))
        return Requirement(f"({self.text}) and ({other.text})", tree)

    def __repr__(self) -> str:
        return f"Requirement({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Requirement) and other.tree == self.tree

    def __hash__(self) -> int:
        return hash(self.tree)


def parse_requirement(text: str, *, known_skills: Collection[str] | None = None) -> Requirement:
    """Parse ``text`` or raise :class:`ExpressionError`; with a catalog, unknown skills fail too."""
    if not isinstance(text, str):
        raise ExpressionError(f"a requirement must be text, not {type(text).__name__}")
    tree = _Parser(text).parse()
    requirement = Requirement(text, tree)
    if known_skills is not None:
        _check_catalog(requirement, known_skills)
    return requirement


def _check_catalog(requirement: Requirement, known: Collection[str]) -> None:
    """Fail on a skill the catalog does not hold, suggesting the closest name."""
    for name in sorted(requirement.skills):
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExpressionError(f"unknown skill {name!r} in {requirement.text!r}{hint}")
