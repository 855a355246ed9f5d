"""What the engine tracks per channel beyond the pure model: running apps, messages, media."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cc_sim.clock import Timer
from cc_sim.core.channel import Channel
from cc_sim.core.dialplan import Action
from cc_sim.core.profile import Header


@dataclass(slots=True)
class Message:
    """A private message for a session: from sendmsg, uuid_broadcast, or the engine itself."""

    command: str
    app: str = ""
    arg: str = ""
    loops: int = 1
    event_lock: bool = False
    event_uuid: str | None = None
    headers: list[Header] = field(default_factory=list)
    body: str = ""
    broadcast: bool = False
    hangup_cause: str = "NORMAL_CLEARING"


@dataclass(slots=True)
class AppRun:
    """An application executing on a channel (between CHANNEL_EXECUTE and _COMPLETE)."""

    name: str
    data: str
    app_uuid: str | None
    message: Message | None = None
    timer: Timer | None = None
    on_interrupt: Callable[[], None] | None = None
    """Called when hangup or a break ends the app early (stops playback, unparks)."""
    done: bool = False
    quiet: bool = False
    """Parsed by the park loop with no media: FreeSWITCH fires no PRIVATE_COMMAND for it."""


@dataclass(slots=True)
class Recording:
    """A media bug writing a WAV file (uuid_record / record_session)."""

    path: str
    started_us: int
    rate: int
    limit_seconds: float | None = None
    timer: Timer | None = None
    stereo: bool = False
    masks: list[list[float]] = field(default_factory=list)
    """Masked stretches [start, end] in seconds from the start (end open while masking)."""


@dataclass(slots=True)
class Session:
    """The engine's view of one channel: its dialplan position and what is running on it."""

    channel: Channel
    script: deque[Action] = field(default_factory=deque)
    app: AppRun | None = None
    park: AppRun | None = None
    messages: deque[Message] = field(default_factory=deque)
    recordings: dict[str, Recording] = field(default_factory=dict)
    bridge_partner: str | None = None
    bridge_role: str = ""
    peer: str | None = None
    """The far end of a SIP call leg (the other profile's channel), when both are simulated."""
    held: bool = False
    moh_on: str | None = None
    digits: str = ""
    on_answer: list[Callable[[], None]] = field(default_factory=list)
    on_hangup: list[Callable[[str], None]] = field(default_factory=list)
    on_destroy: list[Callable[[], None]] = field(default_factory=list)
    on_dtmf: list[Callable[[str], None]] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    executing: bool = False
    destroyed: bool = False
    hangup_source: str = ""
    controlled: bool = False
    bridge_app: AppRun | None = None
    hold_periods: list[list[int]] = field(default_factory=list)
    holds: int = 0
    """Outbound sockets holding the session: destruction waits for them (a read lock in FS)."""
    avmd: str = ""
    """mod_avmd on this channel: "" (off), "listening" or "detected" (it fires once)."""
    destroy_pending: bool = False
    """True while an outbound socket controls the channel (socket app running)."""

    @property
    def uuid(self) -> str:
        """Return the channel's uuid."""
        return self.channel.uuid

    def cancel_timers(self) -> None:
        """Cancel every timer the session still holds."""
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
