"""How long a recording is kept: its queue's retention, unless a legal hold keeps it."""

from __future__ import annotations

from datetime import datetime, timedelta


def expires_at(stored_at: datetime, days: int | None) -> datetime | None:
    """Return when a recording expires, or None when its queue keeps recordings forever."""
    if days is None:
        return None
    if days < 0:
        raise ValueError("retention days cannot be negative")
    return stored_at + timedelta(days=days)


def is_expired(expires: datetime | None, legal_hold: bool, now: datetime) -> bool:
    """Return True when the recording must go: past its expiry and not held."""
    return not legal_hold and expires is not None and expires <= now
