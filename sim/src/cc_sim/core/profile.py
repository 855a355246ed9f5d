"""Caller profiles: who called whom, and the channel's timetable, as FreeSWITCH reports them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

Header = tuple[str, str]


@dataclass(slots=True)
class Times:
    """switch_channel_timetable_t, in microseconds since the epoch (0 = not yet)."""

    profile_created: int = 0
    created: int = 0
    answered: int = 0
    progress: int = 0
    progress_media: int = 0
    hungup: int = 0
    transferred: int = 0
    resurrected: int = 0
    bridged: int = 0
    last_hold: int = 0
    hold_accum: int = 0


@dataclass(slots=True)
class CallerProfile:
    """switch_caller_profile_t: the fields switch_caller_profile_event_set_data prints."""

    direction: str = "inbound"
    logical_direction: str = "inbound"
    username: str = ""
    dialplan: str = "xml"
    caller_id_name: str = ""
    caller_id_number: str = ""
    orig_caller_id_name: str = ""
    orig_caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    destination_number: str = ""
    uuid: str = ""
    source: str = ""
    transfer_source: str = ""
    context: str = "default"
    rdnis: str = ""
    chan_name: str = ""
    profile_index: str = "1"
    times: Times = field(default_factory=Times)

    def clone(self, *, keep_index: bool = True) -> CallerProfile:
        """Copy the profile (times too); other-leg copies carry no profile index."""
        return replace(
            self, times=replace(self.times), profile_index=self.profile_index if keep_index else ""
        )

    def headers(self, prefix: str) -> list[Header]:
        """Return the profile as event headers, in FreeSWITCH's order, empty fields left out."""
        out: list[Header] = [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.logical_direction),
        ]
        optional = (
            ("Username", self.username),
            ("Dialplan", self.dialplan),
            ("Caller-ID-Name", self.caller_id_name),
            ("Caller-ID-Number", self.caller_id_number),
        )
        out.extend((f"{prefix}-{name}", value) for name, value in optional if value)
        if self.caller_id_name and self.orig_caller_id_name:
            out.append((f"{prefix}-Orig-Caller-ID-Name", self.orig_caller_id_name))
        if self.caller_id_number and self.orig_caller_id_number:
            out.append((f"{prefix}-Orig-Caller-ID-Number", self.orig_caller_id_number))
        rest = (
            ("Callee-ID-Name", self.callee_id_name),
            ("Callee-ID-Number", self.callee_id_number),
            ("Network-Addr", self.network_addr),
            ("ANI", self.ani),
            ("Destination-Number", self.destination_number),
            ("Unique-ID", self.uuid),
            ("Source", self.source),
            ("Transfer-Source", self.transfer_source),
            ("Context", self.context),
            ("RDNIS", self.rdnis),
            ("Channel-Name", self.chan_name),
            ("Profile-Index", self.profile_index),
        )
        out.extend((f"{prefix}-{name}", value) for name, value in rest if value)
        times = self.times
        out.extend(
            [
                (f"{prefix}-Profile-Created-Time", str(times.profile_created)),
                (f"{prefix}-Channel-Created-Time", str(times.created)),
                (f"{prefix}-Channel-Answered-Time", str(times.answered)),
                (f"{prefix}-Channel-Progress-Time", str(times.progress)),
                (f"{prefix}-Channel-Progress-Media-Time", str(times.progress_media)),
                (f"{prefix}-Channel-Hangup-Time", str(times.hungup)),
                (f"{prefix}-Channel-Transfer-Time", str(times.transferred)),
                (f"{prefix}-Channel-Resurrect-Time", str(times.resurrected)),
                (f"{prefix}-Channel-Bridged-Time", str(times.bridged)),
                (f"{prefix}-Channel-Last-Hold", str(times.last_hold)),
                (f"{prefix}-Channel-Hold-Accum", str(times.hold_accum)),
                (f"{prefix}-Screen-Bit", "true"),
                (f"{prefix}-Privacy-Hide-Name", "false"),
                (f"{prefix}-Privacy-Hide-Number", "false"),
            ]
        )
        return out
