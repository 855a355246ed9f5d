"""Compressed time for the demo: one clock for the simulator, routing and metrics.

The simulator's clock runs ``compression`` times faster than real time, from a quarter of an
hour before the center opens. Routing and metrics read that same clock, so FreeSWITCH's event
times, routing's timers (ring timeout, wrap-up) and metrics' 15-minute intervals all agree.
Each run plays a new day: the last simulated instant is kept in the state directory.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

DAY = 86_400
LEAD_IN_MINUTES = 15


@dataclass(frozen=True, slots=True)
class DayPlan:
    """Where the demo's clock starts and how fast it runs."""

    midnight: float
    start_epoch: float
    compression: float


def plan_day(
    state_file: Path,
    *,
    opens_minute: int,
    closes_minute: int,
    day_minutes: float,
    now: float | None = None,
) -> DayPlan:
    """Start today, or the day after the last day played if that one has begun already."""
    now = time.time() if now is None else now
    midnight = math.floor(now / DAY) * DAY
    last = read_last_instant(state_file)
    lead_in = (opens_minute - LEAD_IN_MINUTES) * 60
    if last is not None and last >= midnight + lead_in:
        midnight = math.floor(last / DAY) * DAY + DAY
    compression = (closes_minute - opens_minute) / day_minutes
    return DayPlan(midnight, midnight + lead_in, compression)


def read_last_instant(state_file: Path) -> float | None:
    """Return the last simulated instant a previous run reached, if any."""
    try:
        value = json.loads(state_file.read_text())["last_instant"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def save_last_instant(state_file: Path, instant: float) -> None:
    """Remember how far the simulated days went (the next run plays the day after)."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"last_instant": instant}))


def commit_without_fsync() -> None:
    """On SQLite, commit without waiting for the disk (``synchronous=OFF``) in this process.

    Routing commits before every command it sends FreeSWITCH; at 100 times real time each
    15 ms fsync would cost seconds of the simulated day (a ring timeout runs out before the
    offer goes out). A crash of the machine may lose the last moments of ``var/``; a crash of
    the process loses nothing.
    """

    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("cc_no_fsync") or "sqlite" not in type(dbapi_connection).__module__:
            return
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA database_list")
        for row in cursor.fetchall():
            cursor.execute(f'PRAGMA "{row[1]}".synchronous=OFF')
        cursor.close()
        record.info["cc_no_fsync"] = True

    event.listen(Pool, "checkout", _checkout)
