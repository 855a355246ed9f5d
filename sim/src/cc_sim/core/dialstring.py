"""Parse ``originate`` arguments: ``{vars}dial &app(args)`` or ``dial ext [dialplan] [context]``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ORIGINATE_USAGE = (
    "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
    "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
)


class DialError(ValueError):
    """The originate arguments cannot be understood; the message is FreeSWITCH's reply."""


@dataclass(slots=True)
class OriginateRequest:
    """One originate: where to call, with which variables, and what the answered leg runs."""

    dial: str
    variables: list[tuple[str, str]] = field(default_factory=list)
    app: str | None = None
    app_args: str = ""
    extension: str | None = None
    dialplan: str = "XML"
    context: str = "default"
    cid_name: str | None = None
    cid_num: str | None = None
    timeout: float | None = None
    whole: frozenset[str] = frozenset()
    """Names set in a ``{}`` block: FreeSWITCH reads originate-wide settings (such as
    ``originate_delay_start``) only there, not in a leg's ``[]``."""

    def var(self, name: str) -> str | None:
        """Return the last value given for ``name`` in the ``{}`` block."""
        found = None
        for key, value in self.variables:
            if key == name:
                found = value
        return found


def split_vars(text: str) -> list[tuple[str, str]]:
    """Split ``a=1,b='x,y',c=z\\,w`` into pairs: quotes group, ``\\,`` is a literal comma."""
    pairs: list[tuple[str, str]] = []
    current: list[str] = []
    quote = ""
    index = 0
    items: list[str] = []
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index + 1])
            index += 2
            continue
        if quote:
            if char == quote:
                quote = ""
            else:
                current.append(char)
        elif char in "'\"" and (not current or current[-1] == "="):
            quote = char
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current))
    for item in items:
        if not item.strip():
            continue
        name, equals, value = item.partition("=")
        if not equals:
            continue
        pairs.append((name.strip(), value))
    return pairs


def _take_block(text: str, opener: str, closer: str) -> tuple[str, str]:
    """Return (inside, rest) for a leading ``{...}`` block, honouring quotes."""
    depth = 0
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return text[1:index], text[index + 1 :]
    raise DialError("-ERR unbalanced variable block\n")


def parse_originate(argument: str | None) -> OriginateRequest:
    """Parse what follows ``originate``; DialError carries FreeSWITCH's usage reply."""
    text = (argument or "").strip()
    variables: list[tuple[str, str]] = []
    whole: set[str] = set()
    while text[:1] in ("{", "<", "["):
        opener = text[0]
        inside, text = _take_block(text, opener, {"{": "}", "<": ">", "[": "]"}[opener])
        pairs = split_vars(inside)
        variables.extend(pairs)
        if opener == "{":
            whole.update(name for name, _ in pairs)
    words = text.split()
    if len(words) < 2:
        raise DialError(ORIGINATE_USAGE)
    request = OriginateRequest(dial=words[0], variables=variables, whole=frozenset(whole))
    target = " ".join(words[1:])
    app = re.match(r"^&([A-Za-z_][\w]*)(?:\((.*)\))?(.*)$", target, re.S)
    if app is not None:
        request.app = app.group(1)
        request.app_args = app.group(2) or ""
        rest = app.group(3).split()
    else:
        request.extension = words[1]
        rest = words[2:]
    if rest:
        request.dialplan = rest[0]
    if len(rest) > 1:
        request.context = rest[1]
    if len(rest) > 2:
        request.cid_name = rest[2]
    if len(rest) > 3:
        request.cid_num = rest[3]
    if len(rest) > 4:
        try:
            request.timeout = float(rest[4])
        except ValueError:
            raise DialError(ORIGINATE_USAGE) from None
    return request
