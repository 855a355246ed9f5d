"""API keys: a public id plus a high-entropy secret; only the secret's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PREFIX = "cck"
BOOTSTRAP_KEY_ID = "bootstrap"


class Scope(StrEnum):
    """What a key may do; ``admin`` also manages keys and webhooks."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    RECORDINGS = "recordings"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: ``token`` is shown once, ``secret_hash`` is what is stored."""

    key_id: str
    token: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    """Return the stored form of a secret (SHA-256 suffices: secrets have 256 random bits)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> NewKey:
    """Make a key: ``cck_<id>_<secret>``."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{PREFIX}_{key_id}_{secret}", hash_secret(secret))


def parse_token(token: str) -> tuple[str, str]:
    """Return ``(key_id, secret)`` of a presented token; any other text is the bootstrap key."""
    parts = token.split("_", 2)
    if len(parts) == 3 and parts[0] == PREFIX and parts[1] and parts[2]:
        return parts[1], parts[2]
    return BOOTSTRAP_KEY_ID, token


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Compare in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key as authentication sees it."""

    key_id: str
    name: str
    scopes: frozenset[Scope]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


def refusal(key: KeyRecord | None, now: datetime) -> str | None:
    """Return why a key may not be used now, or None when it may."""
    if key is None:
        return "unknown API key"
    if key.revoked_at is not None:
        return "API key revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "API key expired"
    return None


def allows(key: KeyRecord, needed: Scope) -> bool:
    """Admin implies every scope; write implies read."""
    if Scope.ADMIN in key.scopes or needed in key.scopes:
        return True
    return needed is Scope.READ and Scope.WRITE in key.scopes
