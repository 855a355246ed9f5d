"""The simulated switch's dialplan: contexts of extensions, each a list of applications.

The default plan mirrors what the golden captures ran against: 7100 parks without answering,
7101 answers then parks, 7102 hands the call to an outbound socket; the real test build's 7200
(a caller for queue ``support``), 7301 (answers after 1 s), 7302 (never answers) and 7303
(answers at once) behave as there; and the ``public`` context
(where SIP calls from the external profile land) sets ``outside_call`` and transfers into
``default``. As in the vanilla configuration, SIP channels entering ``default`` first run the
``global`` extension (spymap/last_dial hashes and the RFC2822 date) before their own extension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STRFTIME_RFC2822 = "${strftime(%a, %d %b %Y %T %z)}"


@dataclass(frozen=True, slots=True)
class Action:
    """One ``<action application=... data=...>``."""

    app: str
    data: str = ""


@dataclass(frozen=True, slots=True)
class Extension:
    """An extension: a destination pattern, its actions, and whether matching continues."""

    name: str
    pattern: str
    actions: tuple[Action, ...]
    continue_on_match: bool = False
    channel_kinds: frozenset[str] = frozenset()
    """When not empty, only channels of these kinds (``sofia``, ``loopback``) match."""

    def match(self, destination: str, kind: str) -> re.Match[str] | None:
        """Return the pattern's match when this extension routes ``destination`` for ``kind``."""
        if self.channel_kinds and kind not in self.channel_kinds:
            return None
        return re.search(self.pattern, destination)


@dataclass(slots=True)
class Dialplan:
    """Contexts of extensions, searched in order like mod_dialplan_xml."""

    contexts: dict[str, list[Extension]] = field(default_factory=dict)

    def route(self, context: str, destination: str, kind: str) -> list[Action] | None:
        """Return the actions for a call, or None when nothing matches (NO_ROUTE_DESTINATION)."""
        extensions = self.contexts.get(context)
        if extensions is None:
            return None
        actions: list[Action] = []
        matched_final = False
        for extension in extensions:
            found = extension.match(destination, kind)
            if found is None:
                continue
            actions.extend(_captures(action, found) for action in extension.actions)
            if not extension.continue_on_match:
                matched_final = True
                break
        return actions if matched_final else None

    def add(self, context: str, extension: Extension) -> None:
        """Append an extension to a context (created when missing)."""
        self.contexts.setdefault(context, []).append(extension)

    def set_extension(self, context: str, number: str, actions: list[Action]) -> None:
        """Route exactly ``number`` in ``context`` to ``actions``, replacing an earlier route."""
        extension = Extension(f"ext_{number}", f"^{re.escape(number)}$", tuple(actions))
        entries = self.contexts.setdefault(context, [])
        for index, existing in enumerate(entries):
            if existing.name == extension.name:
                entries[index] = extension
                return
        entries.append(extension)


def _captures(action: Action, found: re.Match[str]) -> Action:
    """Substitute ``$1``..``$9`` in an action's data with the pattern's groups."""
    if "$" not in action.data:
        return action
    groups = found.groups()

    def group(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return (groups[index - 1] or "") if 0 < index <= len(groups) else ""

    return Action(action.app, re.sub(r"\$(\d)", group, action.data))


def parse_actions(text: str) -> list[Action]:
    """Parse ``answer,park`` / ``socket:127.0.0.1:8084 async full;park`` style action lists.

    Actions are separated by ``;`` (or ``,`` when no ``;`` is present); an action's data follows
    the first ``:`` or space: ``playback:ivr/welcome.wav``, ``transfer 7100 XML default``.
    """
    separator = ";" if ";" in text else ","
    actions: list[Action] = []
    for chunk in text.split(separator):
        chunk = chunk.strip()
        if not chunk:
            continue
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:[: ](.*))?$", chunk)
        if match is None:
            raise ValueError(f"not an action: {chunk!r} (expected app or app:data)")
        actions.append(Action(match.group(1), (match.group(2) or "").strip()))
    return actions


def default_dialplan(*, socket_address: str = "127.0.0.1:8084") -> Dialplan:
    """Return the dialplan the captures' scenarios need (see the module docstring)."""
    plan = Dialplan()
    plan.add(
        "default",
        Extension(
            "global",
            ".*",
            (
                Action("hash", "insert/${domain_name}-spymap/${caller_id_number}/${uuid}"),
                Action(
                    "hash",
                    "insert/${domain_name}-last_dial/${caller_id_number}/${destination_number}",
                ),
                Action("hash", "insert/${domain_name}-last_dial/global/${uuid}"),
                Action("export", f"RFC2822_DATE={STRFTIME_RFC2822}"),
            ),
            continue_on_match=True,
            channel_kinds=frozenset({"sofia"}),
        ),
    )
    plan.set_extension("default", "7100", [Action("park")])
    plan.set_extension("default", "7101", [Action("answer"), Action("park")])
    plan.set_extension("default", "7102", [Action("socket", f"{socket_address} async full")])
    # The real test build's extensions, so the same scenarios run on both switches.
    plan.set_extension(
        "default",
        "7200",
        [
            Action("set", "cc_queue=support"),
            Action("set", "cc_priority=0"),
            Action("answer"),
            Action("park"),
        ],
    )
    plan.set_extension(
        "default", "7301", [Action("sleep", "1000"), Action("answer"), Action("park")]
    )
    plan.set_extension("default", "7302", [Action("park")])
    plan.set_extension("default", "7303", [Action("answer"), Action("park")])
    plan.add(
        "public",
        Extension(
            "public_did",
            r"^(.+)$",
            (
                Action("set", "outside_call=true"),
                Action("export", f"RFC2822_DATE={STRFTIME_RFC2822}"),
                Action("transfer", "$1 XML default"),
            ),
        ),
    )
    return plan
