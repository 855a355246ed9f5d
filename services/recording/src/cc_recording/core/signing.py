"""Short-lived playback links: an HMAC over the recording, the listener and the expiry."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime


class BadSignature(Exception):
    """The link was altered, signed with another key, or has expired; the message says which."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Who may play which recording until when (epoch seconds)."""

    recording_id: str
    user: str
    expires: int
    action: str = "play"


def _message(grant: Grant) -> bytes:
    return "\n".join([grant.recording_id, grant.user, str(grant.expires), grant.action]).encode()


def sign(grant: Grant, key: bytes) -> str:
    """Return the hex signature for a grant."""
    return hmac.new(key, _message(grant), hashlib.sha256).hexdigest()


def verify(grant: Grant, signature: str, key: bytes, now: datetime) -> None:
    """Raise BadSignature unless the signature matches and the link is still valid."""
    if not hmac.compare_digest(sign(grant, key), signature):
        raise BadSignature("signature does not match")
    if now.timestamp() >= grant.expires:
        raise BadSignature("link expired")
