"""What a connection asked FreeSWITCH for (events, filters, myevents), so a new one can ask again.

Pure bookkeeping: it follows each accepted subscription command the way mod_event_socket applies
it and turns the result back into the shortest list of commands that recreates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Subscriptions:
    """Event format, event names, CUSTOM subclasses, filters and session flags of a connection."""

    fmt: str = "plain"
    all_events: bool = False
    names: list[str] = field(default_factory=list)
    subclasses: list[str] = field(default_factory=list)
    nixed: list[str] = field(default_factory=list)
    nixed_subclasses: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)
    myevents: str | None = None
    divert: bool | None = None

    def apply(self, line: str) -> None:
        """Follow one command FreeSWITCH accepted (``event``, ``nixevent``, ``filter`` ...)."""
        verb, _, rest = line.partition(" ")
        verb = verb.lower()
        tokens = rest.split()
        if verb == "event":
            self._event(tokens)
        elif verb == "nixevent":
            self._nixevent(tokens)
        elif verb == "noevents":
            self.all_events = False
            self.names.clear()
            self.subclasses.clear()
            self.nixed.clear()
            self.nixed_subclasses.clear()
        elif verb == "filter":
            self._filter(rest)
        elif verb == "myevents":
            self.myevents = rest
        elif verb == "divert_events":
            self.divert = rest.strip().lower() == "on"

    def _event(self, tokens: list[str]) -> None:
        if tokens and tokens[0].lower() in ("plain", "json", "xml"):
            self.fmt = tokens[0].lower()
            tokens = tokens[1:]
        custom = False
        for token in tokens:
            if custom:
                _add(self.subclasses, token)
                _discard(self.nixed_subclasses, token)
            elif token.upper() == "ALL":
                self.all_events = True
                self.nixed.clear()
                self.nixed_subclasses.clear()
            else:
                custom = token.upper() == "CUSTOM"
                _add(self.names, token.upper())
                _discard(self.nixed, token.upper())

    def _nixevent(self, tokens: list[str]) -> None:
        custom = False
        for token in tokens:
            if custom:
                _discard(self.subclasses, token)
                if self.all_events:
                    _add(self.nixed_subclasses, token)
                continue
            name = token.upper()
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":  # FreeSWITCH keeps the CUSTOM subclasses here
                self.all_events = False
                self.names.clear()
                self.nixed.clear()
                self.nixed_subclasses.clear()
            else:
                _discard(self.names, name)
                if self.all_events:
                    _add(self.nixed, name)

    def _filter(self, rest: str) -> None:
        header, _, value = rest.strip().partition(" ")
        if header.lower() == "delete":
            target, _, target_value = value.partition(" ")
            if target.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (h, v)
                    for h, v in self.filters
                    if h.lower() != target.lower() or (target_value and v != target_value)
                ]
        elif header:
            self.filters.append((header, value))

    def restore_commands(self) -> list[str]:
        """Return the commands that rebuild this state on a fresh connection, in a safe order."""
        lines: list[str] = []
        if self.myevents is not None:
            lines.append(f"myevents {self.myevents}".rstrip())
        tokens = ["ALL"] if self.all_events else [n for n in self.names if n != "CUSTOM"]
        if self.subclasses or "CUSTOM" in self.names:
            tokens += ["CUSTOM", *self.subclasses]
        if tokens:
            lines.append(f"event {self.fmt} {' '.join(tokens)}")
        nixed = list(self.nixed)
        if self.nixed_subclasses:
            nixed += ["CUSTOM", *self.nixed_subclasses]
        if self.all_events and nixed:
            lines.append(f"nixevent {' '.join(nixed)}")
        lines += [f"filter {header} {value}".rstrip() for header, value in self.filters]
        if self.divert is not None:
            lines.append(f"divert_events {'on' if self.divert else 'off'}")
        return lines


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _discard(items: list[str], item: str) -> None:
    if item in items:
        items.remove(item)
