"""The channels table behind ``show channels``: it trails the live sessions, as FreeSWITCH's does.

FreeSWITCH answers ``show channels`` / ``show calls`` from its core database, which a
background thread writes a moment after a channel is created or destroyed, while
``uuid_exists``, ``uuid_dump`` and ``uuid_getvar`` read the live session. So a channel a moment
old is missing from the listing although it exists, and a channel just gone is still listed
(on the idle real test build 30-300 ms both ways, ``bench/switch_listing_lag.py``). A
reconciliation that trusts the listing alone hangs up live calls; this makes the simulator
show the same gap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cc_sim.engine.session import Session
    from cc_sim.engine.switch import Switch


@dataclass(slots=True)
class _Row:
    """One session's row, written to the table at ``listed_us`` (simulated µs)."""

    session: Session
    listed_us: int


class ChannelListing:
    """Which sessions the channels table lists at a moment: each row written after a lag."""

    def __init__(self, sw: Switch) -> None:
        self.sw = sw
        seed = sw.settings.seed
        self.rng = random.Random(None if seed is None else f"listing-{seed}")
        """Its own generator, so turning the lag on leaves other seeded draws unchanged."""
        self._rows: dict[str, _Row] = {}

    def lag(self) -> float:
        """Draw how long the database thread takes to write one change (simulated seconds)."""
        low, high = self.sw.settings.listing_lag_seconds
        return low if high <= low else self.rng.uniform(low, high)

    def created(self, sess: Session) -> None:
        """A channel came into existence: its row is written after a lag."""
        listed_us = self.sw.now_us() + round(self.lag() * 1_000_000)
        self._rows[sess.channel.uuid] = _Row(sess, listed_us)

    def destroyed(self, sess: Session) -> None:
        """A channel is gone: its row is deleted after a lag (the table applies changes in
        order, so a row not yet written is never shown)."""
        lag = self.lag()
        if lag <= 0:
            self._drop(sess)
        else:
            self.sw.scheduler.call_later(lag, lambda: self._drop(sess))

    def _drop(self, sess: Session) -> None:
        row = self._rows.get(sess.channel.uuid)
        if row is not None and row.session is sess:
            del self._rows[sess.channel.uuid]

    def sessions(self) -> list[Session]:
        """Return the sessions the table lists now, oldest first."""
        now = self.sw.now_us()
        listed = [row.session for row in self._rows.values() if row.listed_us <= now]
        return sorted(listed, key=lambda s: s.channel.created_us)
