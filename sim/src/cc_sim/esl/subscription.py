"""Which events one ESL listener receives: mod_event_socket's event lists, filters and myevents.

Pure logic: ``event``/``nixevent``/``noevents``/``filter``/``myevents`` change a
:class:`Subscription`, and :meth:`Subscription.wants` decides delivery the way
mod_event_socket's ``event_handler`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cc_sim.core.events import SimEvent

EVENT_NAMES = (
    "CUSTOM",
    "CLONE",
    "CHANNEL_CREATE",
    "CHANNEL_DESTROY",
    "CHANNEL_STATE",
    "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_OUTGOING",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION",
    "CHANNEL_ORIGINATE",
    "CHANNEL_UUID",
    "API",
    "LOG",
    "INBOUND_CHAN",
    "OUTBOUND_CHAN",
    "STARTUP",
    "SHUTDOWN",
    "PUBLISH",
    "UNPUBLISH",
    "TALK",
    "NOTALK",
    "SESSION_CRASH",
    "MODULE_LOAD",
    "MODULE_UNLOAD",
    "DTMF",
    "MESSAGE",
    "PRESENCE_IN",
    "NOTIFY_IN",
    "PRESENCE_OUT",
    "PRESENCE_PROBE",
    "MESSAGE_WAITING",
    "MESSAGE_QUERY",
    "ROSTER",
    "CODEC",
    "BACKGROUND_JOB",
    "DETECTED_SPEECH",
    "DETECTED_TONE",
    "PRIVATE_COMMAND",
    "HEARTBEAT",
    "TRAP",
    "ADD_SCHEDULE",
    "DEL_SCHEDULE",
    "EXE_SCHEDULE",
    "RE_SCHEDULE",
    "RELOADXML",
    "NOTIFY",
    "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE",
    "SEND_MESSAGE",
    "RECV_MESSAGE",
    "REQUEST_PARAMS",
    "CHANNEL_DATA",
    "GENERAL",
    "COMMAND",
    "SESSION_HEARTBEAT",
    "CLIENT_DISCONNECTED",
    "SERVER_DISCONNECTED",
    "SEND_INFO",
    "RECV_INFO",
    "RECV_RTCP_MESSAGE",
    "SEND_RTCP_MESSAGE",
    "CALL_SECURE",
    "NAT",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CALL_UPDATE",
    "FAILURE",
    "SOCKET_DATA",
    "MEDIA_BUG_START",
    "MEDIA_BUG_STOP",
    "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA",
    "CALL_SETUP_REQ",
    "CALL_SETUP_RESULT",
    "CALL_DETAIL",
    "DEVICE_STATE",
    "TEXT",
    "SHUTDOWN_REQUESTED",
    "CERT_RELOAD",
    "ALL",
)
"""switch_event.c's EVENT_NAMES: the words ``event`` accepts (case-insensitively)."""

_BY_UPPER = {name: name for name in EVENT_NAMES}

MYEVENTS = frozenset(
    {
        "CHANNEL_ANSWER",
        "CHANNEL_APPLICATION",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_STATE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "DETECTED_SPEECH",
        "DTMF",
        "NOTALK",
        "TALK",
    }
)
"""The events ``myevents`` subscribes to (not PLAYBACK_*, not CALLSTATE: see the captures)."""


def event_name(word: str) -> str | None:
    """Return the canonical event name for a word of ``event``/``nixevent``, or None."""
    upper = word.upper()
    if upper.startswith("SWITCH_EVENT_"):
        upper = upper.removeprefix("SWITCH_EVENT_")
    return _BY_UPPER.get(upper)


@dataclass(slots=True)
class Subscription:
    """One listener's event lists, custom subclasses, filters and myevents binding."""

    enabled: bool = False
    all_events: bool = False
    names: set[str] = field(default_factory=set)
    all_custom: bool = False
    subclasses: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    myevents_uuid: str | None = None
    myevents: bool = False

    def subscribe(self, words: list[str]) -> int:
        """Apply ``event <words>``; return how many event keywords were understood."""
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.add(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            if name == "ALL":
                self.all_events = True
                self.all_custom = True
            else:
                self.names.add(name)
            if name == "CUSTOM":
                custom = True
        if keys:
            self.enabled = True
        return keys

    def unsubscribe(self, words: list[str]) -> int:
        """Apply ``nixevent <words>``; return how many keywords were understood."""
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.discard(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":
                self.all_events = False
                self.names.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.names = {n for n in EVENT_NAMES if n != "ALL"}
                self.names.discard(name)
        if keys:
            self.enabled = True
        return keys

    def clear(self) -> bool:
        """Apply ``noevents``; return False when nothing was subscribed."""
        was = self.enabled
        self.enabled = False
        self.all_events = False
        self.all_custom = False
        self.names.clear()
        self.subclasses.clear()
        return was

    def bind_myevents(self, uuid: str | None) -> None:
        """Apply ``myevents``: the channel events of one session only."""
        self.myevents = True
        self.myevents_uuid = uuid
        self.names.update(MYEVENTS)
        self.enabled = True

    def add_filter(self, header: str, value: str) -> None:
        """Apply ``filter <header> <value>``."""
        self.filters.append((header, value))

    def delete_filter(self, header: str, value: str | None) -> None:
        """Apply ``filter delete <header> [value]`` (``all`` clears every filter)."""
        if header.lower() == "all":
            self.filters.clear()
            return
        self.filters = [
            (name, val)
            for name, val in self.filters
            if not (name.lower() == header.lower() and (value is None or val == value))
        ]

    def wants(self, event: SimEvent) -> bool:
        """Decide delivery like mod_event_socket's event_handler."""
        if not self.enabled:
            return False
        send = self.all_events
        if not send and event.name in self.names:
            subclass = event.subclass
            send = (
                event.name != "CUSTOM"
                or not subclass
                or self.all_custom
                or subclass in self.subclasses
            )
        if send and self.filters:
            send = self._passes_filters(event)
        if send and self.myevents:
            uuid = event.unique_id or event.get("Unique-ID")
            owner = event.get("Job-Owner-UUID")
            if self.myevents_uuid and owner == self.myevents_uuid:
                return True
            if not uuid or (self.myevents_uuid and uuid != self.myevents_uuid):
                return False
        return send

    def _passes_filters(self, event: SimEvent) -> bool:
        send = False
        for header, raw in self.filters:
            value = event.get(header)
            if value is None:
                continue
            positive = True
            compare = raw
            while compare and compare[0] in "+- ":
                if compare[0] == "+":
                    positive = True
                elif compare[0] == "-":
                    positive = False
                compare = compare[1:]
            if send and positive:
                continue
            if raw.startswith("/"):
                pattern = compare.strip("/")
                matched = re.search(pattern, value) is not None
            else:
                matched = value.lower() == compare.lower()
            if matched:
                if positive:
                    send = True
                else:
                    return False
        return send
