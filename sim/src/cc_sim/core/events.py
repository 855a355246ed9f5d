"""Events as FreeSWITCH composes them: common headers, channel data, variables, body.

Which events carry channel variables follows switch_channel_event_set_extended_data; the
Event-Calling-File/Function/Line values are the ones FreeSWITCH 1.10.12 prints for each event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from cc_common.esl.event import EslEvent
from cc_common.esl.protocol import encode_value
from cc_sim.core.channel import Channel
from cc_sim.core.profile import Header

EXTENDED_EVENTS = frozenset(
    {
        "CHANNEL_CREATE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_ANSWER",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "REQUEST_PARAMS",
        "CHANNEL_DATA",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_DESTROY",
        "SESSION_HEARTBEAT",
        "API",
        "RECORD_START",
        "RECORD_STOP",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CALL_UPDATE",
        "MEDIA_BUG_START",
        "MEDIA_BUG_STOP",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "TEXT",
        "CUSTOM",
    }
)
"""Events whose channel data includes every variable (switch_channel_event_set_extended_data)."""

Source = tuple[str, str, int]

SOURCES: dict[str, Source] = {
    "API": ("switch_loadable_module.c", "switch_api_execute", 2954),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1572),
    "CALL_UPDATE": ("switch_channel.c", "switch_channel_flip_cid", 3277),
    "CALL_UPDATE/sofia": ("sofia.c", "sofia_update_callee_id", 1358),
    "CALL_UPDATE/sofia_msg": ("mod_sofia.c", "sofia_receive_message", 2100),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3846),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 301),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 626),
    "CHANNEL_DATA": ("mod_event_socket.c", "parse_command", 2021),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1584),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2944),
    "CHANNEL_EXECUTE/uuid_bridge": ("switch_ivr_bridge.c", "uuid_bridge_on_soft_execute", 1236),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2967),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3445),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        943,
    ),
    "CHANNEL_HOLD": ("switch_ivr.c", "switch_ivr_hold", 1558),
    "CHANNEL_HOLD/sofia": ("switch_channel.c", "switch_channel_mark_hold", 875),
    "CHANNEL_UNHOLD": ("switch_ivr.c", "switch_ivr_unhold", 1638),
    "CHANNEL_UNHOLD/sofia": ("switch_channel.c", "switch_channel_mark_hold", 875),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 632),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1213),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3440),
    "CHANNEL_PROGRESS_MEDIA": (
        "switch_channel.c",
        "switch_channel_perform_mark_pre_answered",
        3560,
    ),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2408),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879),
    "CODEC/read": ("switch_core_codec.c", "switch_core_session_set_read_codec", 279),
    "CODEC/real_read": ("switch_core_codec.c", "switch_core_session_set_real_read_codec", 168),
    "CODEC/write": ("switch_core_codec.c", "switch_core_session_set_write_codec", 450),
    "CUSTOM/sofia::reinvite": ("sofia.c", "sofia_handle_sip_i_state", 8489),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 677),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", 95),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_destroy", 84),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1646),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2020),
    "PRIVATE_COMMAND": ("switch_ivr.c", "switch_ivr_parse_next_event", 804),
    "PRIVATE_COMMAND/broadcast": ("switch_ivr_async.c", "switch_ivr_broadcast", 5731),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1481),
    "RECORD_STOP": ("switch_ivr_async.c", "send_record_stop_event", 1240),
    "RECV_INFO": ("sofia.c", "create_info_event", 9721),
    "RE_SCHEDULE": ("switch_scheduler.c", "switch_scheduler_execute", 73),
}
"""Event-Calling-File / -Function / -Line-Number per event (and per variant after a slash)."""

_UNKNOWN_SOURCE: Source = ("switch_event.c", "switch_event_fire_detailed", 0)
_encode = lru_cache(maxsize=65536)(encode_value)
"""Header values repeat across events (uuids, names, variables): encode each once."""


@dataclass(slots=True)
class SimEvent:
    """An event fired by the simulated switch; serialized once per format, lazily."""

    name: str
    headers: tuple[Header, ...]
    body: str = ""
    unique_id: str | None = None
    subclass: str | None = None
    _plain: bytes | None = field(default=None, repr=False)
    _json: bytes | None = field(default=None, repr=False)
    _lookup: dict[str, str] | None = field(default=None, repr=False)

    def get(self, name: str) -> str | None:
        """Return a header's first value, case-insensitively (as filters and myevents read)."""
        lookup = self._lookup
        if lookup is None:
            lookup = {}
            for key, value in self.headers:
                lookup.setdefault(key.lower(), value)
            self._lookup = lookup
        return lookup.get(name.lower())

    def plain(self) -> bytes:
        """Return the text/event-plain body."""
        if self._plain is None:
            self._plain = EslEvent(self.headers, self.body).to_plain()
        return self._plain

    def plain_fast(self) -> bytes:
        """Return the text/event-plain body, encoding repeated values once (same bytes)."""
        if self._plain is None:
            own = self.headers
            encoded = self.body.encode("utf-8")
            if encoded and own and own[-1][0] == "Content-Length":
                own = own[:-1]
            lines = [f"{name}: {_encode(value) or '_undef_'}\n" for name, value in own]
            head = "".join(lines).encode("utf-8")
            if not encoded:
                self._plain = head + b"\n"
            else:
                self._plain = head + f"Content-Length: {len(encoded)}\n\n".encode() + encoded
        return self._plain

    def json(self) -> bytes:
        """Return the text/event-json body."""
        if self._json is None:
            self._json = EslEvent(self.headers, self.body).to_json()
        return self._json


@dataclass(slots=True)
class HostInfo:
    """Who the simulated switch says it is in every event."""

    core_uuid: str
    hostname: str = "cc-sim"
    ipv4: str = "127.0.0.1"
    ipv6: str = "::1"


class EventFactory:
    """Build events with FreeSWITCH's common headers and a per-core Event-Sequence."""

    def __init__(self, host: HostInfo) -> None:
        self.host = host
        self.sequence = 0

    def common(self, name: str, now_us: int, source: Source) -> list[Header]:
        """Return the headers every FreeSWITCH event starts with."""
        self.sequence += 1
        seconds = now_us / 1_000_000
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
        gmt = datetime.fromtimestamp(seconds, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        host = self.host
        return [
            ("Event-Name", name),
            ("Core-UUID", host.core_uuid),
            ("FreeSWITCH-Hostname", host.hostname),
            ("FreeSWITCH-Switchname", host.hostname),
            ("FreeSWITCH-IPv4", host.ipv4),
            ("FreeSWITCH-IPv6", host.ipv6),
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(now_us)),
            ("Event-Calling-File", source[0]),
            ("Event-Calling-Function", source[1]),
            ("Event-Calling-Line-Number", str(source[2])),
            ("Event-Sequence", str(self.sequence)),
        ]

    def make(
        self,
        name: str,
        now_us: int,
        *,
        variant: str = "",
        channel: Channel | None = None,
        pre: list[Header] | None = None,
        post: list[Header] | None = None,
        body: str = "",
        subclass: str | None = None,
        extended: bool | None = None,
        profile: bool = True,
    ) -> SimEvent:
        """Compose one event the way switch_event_create + switch_channel_event_set_data do."""
        key = f"{name}/{variant}" if variant else name
        source = SOURCES.get(key) or SOURCES.get(name) or _UNKNOWN_SOURCE
        headers = self.common(name, now_us, source)
        if subclass:  # custom events start with their subclass, before Event-Name
            headers.insert(0, ("Event-Subclass", subclass))
        if pre:
            headers.extend(pre)
        unique_id = None
        if channel is not None:
            unique_id = channel.uuid
            headers.extend(channel.basic_headers(profile=profile))
            with_vars = name in EXTENDED_EVENTS if extended is None else extended
            if with_vars:
                headers.extend(channel.variable_headers())
        if post:
            headers.extend(post)
        return SimEvent(name, tuple(headers), body, unique_id, subclass)
