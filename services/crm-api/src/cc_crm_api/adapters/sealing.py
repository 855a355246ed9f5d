"""Webhook signing secrets sealed at rest with AES-256-GCM under an operator key.

The sender needs each subscription's secret itself (HMAC signing), so it cannot be hashed like
an API key; it is encrypted instead, with a key that lives in the settings (the secrets
directory), never in the database. A stored value is ``sealed:v1:<key id>:<base64 nonce+box>``,
bound to its tenant and subscription (AES-GCM associated data), so a sealed secret copied to
another row does not open. Several keys may be configured: the first seals, every one opens,
and rows sealed under an older key (or written in plaintext before sealing existed) are
re-sealed under the first at start, so an old key can then be dropped.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "sealed:v1:"
NONCE = 12


class SealError(Exception):
    """A stored secret cannot be opened: no key configured, unknown key id or tampered."""


def new_key_text(key_id: str = "k1") -> str:
    """Return a fresh key in the setting's form (for operators and the launcher)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def is_sealed(stored: str) -> bool:
    """Return True for a sealed value, False for a legacy plaintext secret."""
    return stored.startswith(PREFIX)


class SecretBox:
    """Seals and opens webhook secrets with the configured keys."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = dict(keys)
        self.active: str | None = next(iter(self._keys), None)

    @property
    def enabled(self) -> bool:
        """Return True when a key is configured (new secrets can be stored)."""
        return self.active is not None

    def seal(self, secret: str, bound_to: str) -> str:
        """Encrypt ``secret`` under the first key, bound to ``bound_to`` (tenant/subscription)."""
        if self.active is None:
            raise SealError("no webhook secret key is configured (CC_CRM_WEBHOOK_KEYS)")
        nonce = os.urandom(NONCE)
        box = AESGCM(self._keys[self.active]).encrypt(nonce, secret.encode(), bound_to.encode())
        return f"{PREFIX}{self.active}:{base64.b64encode(nonce + box).decode()}"

    def open(self, stored: str, bound_to: str) -> str:
        """Return the secret; a legacy plaintext value is returned as it is."""
        if not is_sealed(stored):
            return stored
        key_id, _, encoded = stored[len(PREFIX) :].partition(":")
        key = self._keys.get(key_id)
        if key is None:
            raise SealError(f"webhook secret key {key_id!r} is not configured")
        raw = base64.b64decode(encoded)
        try:
            return AESGCM(key).decrypt(raw[:NONCE], raw[NONCE:], bound_to.encode()).decode()
        except InvalidTag:
            raise SealError(f"the secret does not open under key {key_id!r}") from None

    def needs_reseal(self, stored: str) -> bool:
        """Return True for plaintext or a value sealed under a key other than the first."""
        if self.active is None:
            return False
        return not stored.startswith(f"{PREFIX}{self.active}:")


def bound_to(tenant: str, webhook_id: str) -> str:
    """Return what a subscription's sealed secret is bound to."""
    return f"{tenant}/{webhook_id}"
