"""Encryption keys as operators write them in a setting: ``id:base64(32 bytes)``, comma-separated.

The recording service (key-encryption keys for recordings) and crm-api (webhook secrets) read
their keyrings in this one form, so rotating a key works the same way everywhere: put the new key
first, restart, drop the old one once nothing is sealed under it.
"""

from __future__ import annotations

import base64
import binascii
import re

KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_BYTES = 32


def parse_keys(text: str) -> dict[str, bytes]:
    """Return the AES-256 keys by id, in the order written; bad text raises ValueError."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise ValueError("each key must be written id:base64 (id of [A-Za-z0-9_-]{1,32})")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
        if key_id in keys:
            raise ValueError(f"key id {key_id!r} is listed twice")
        keys[key_id] = key
    return keys
