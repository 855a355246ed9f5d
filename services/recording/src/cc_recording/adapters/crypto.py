"""Envelope encryption at rest: a fresh AES-256-GCM data key per recording, wrapped by a KEK.

The file is encrypted in 64 KiB chunks, each sealed with its own nonce (the chunk number; the
key is never reused across recordings) and bound to the recording id, its position and the
total size, so a player can seek (only the chunks a range needs are decrypted) and a truncated,
reordered or swapped file fails to decrypt. The data key is stored wrapped by a key-encryption
key with that key's id, so a new KEK is used for new recordings while old ones still open, and
rotating means re-wrapping small data keys, never re-encrypting files.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 64 * 1024
TAG = 16


class CryptoError(Exception):
    """A data key cannot be unwrapped: unknown KEK id or a key that does not match."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key sealed under the KEK ``kek_id``."""

    kek_id: str
    blob: str

    @property
    def text(self) -> str:
        """Return the wrapped key as stored."""
        return self.blob


class Keyring:
    """The key-encryption keys by id, and which one new recordings use."""

    def __init__(self, keks: Mapping[str, bytes], active: str) -> None:
        if keks and active not in keks:
            raise ValueError(f"active KEK {active!r} is not in the keyring")
        self._keks = dict(keks)
        self.active = active

    @property
    def enabled(self) -> bool:
        """Return True when recordings are encrypted (a KEK is configured)."""
        return bool(self._keks)

    def new_data_key(self, recording_id: str) -> tuple[bytes, WrappedKey]:
        """Return a fresh data key and its wrapped form under the active KEK."""
        key = AESGCM.generate_key(bit_length=256)
        return key, self.wrap(key, recording_id)

    def wrap(self, key: bytes, recording_id: str) -> WrappedKey:
        """Seal ``key`` under the active KEK, bound to the recording."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._keks[self.active]).encrypt(
            nonce, key, f"{self.active}:{recording_id}".encode()
        )
        return WrappedKey(self.active, base64.b64encode(nonce + sealed).decode())

    def unwrap(self, wrapped: WrappedKey, recording_id: str) -> bytes:
        """Open a wrapped data key with the KEK it names."""
        kek = self._keks.get(wrapped.kek_id)
        if kek is None:
            raise CryptoError(f"KEK {wrapped.kek_id!r} is not configured")
        raw = base64.b64decode(wrapped.blob)
        try:
            return AESGCM(kek).decrypt(
                raw[:12], raw[12:], f"{wrapped.kek_id}:{recording_id}".encode()
            )
        except InvalidTag:
            raise CryptoError(f"data key does not open under KEK {wrapped.kek_id!r}") from None


def _aad(recording_id: str, index: int, size: int) -> bytes:
    return f"{recording_id}:{index}:{size}".encode()


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def sealed_size(size: int) -> int:
    """Return the encrypted size of ``size`` plaintext bytes."""
    chunks = max(1, -(-size // CHUNK))
    return size + chunks * TAG


def encrypt(key: bytes, recording_id: str, data: bytes) -> bytes:
    """Encrypt a whole recording chunk by chunk."""
    aes = AESGCM(key)
    size = len(data)
    parts = []
    for index, start in enumerate(range(0, max(size, 1), CHUNK)):
        chunk = data[start : start + CHUNK]
        parts.append(aes.encrypt(_nonce(index), chunk, _aad(recording_id, index, size)))
    return b"".join(parts)


def sealed_span(start: int, end: int) -> tuple[int, int, int]:
    """Return (first chunk, sealed offset, sealed end) covering plaintext bytes start..end."""
    first, last = start // CHUNK, end // CHUNK
    return first, first * (CHUNK + TAG), (last + 1) * (CHUNK + TAG)


def decrypt_chunks(
    key: bytes, recording_id: str, size: int, first_chunk: int, sealed: bytes
) -> Iterator[bytes]:
    """Decrypt consecutive sealed chunks starting at ``first_chunk``; raise on tampering."""
    aes = AESGCM(key)
    step = CHUNK + TAG
    for n, offset in enumerate(range(0, len(sealed), step)):
        index = first_chunk + n
        try:
            yield aes.decrypt(
                _nonce(index), sealed[offset : offset + step], _aad(recording_id, index, size)
            )
        except InvalidTag:
            raise CryptoError(
                f"chunk {index} of recording {recording_id} fails to decrypt"
            ) from None


def decrypt(key: bytes, recording_id: str, size: int, sealed: bytes) -> bytes:
    """Decrypt a whole recording."""
    return b"".join(decrypt_chunks(key, recording_id, size, 0, sealed))
