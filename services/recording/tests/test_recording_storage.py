"""Storage backends (filesystem and moto's S3 server over HTTP) and envelope encryption."""

from __future__ import annotations

import base64
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cc_common.keys import parse_keys
from cc_recording.adapters import crypto
from cc_recording.adapters.storage import FilesystemStorage, S3Storage, Storage, StorageError
from cc_recording.settings import RecordingSettings
from cc_recording.testing import S3Server


@pytest.fixture(params=["filesystem", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: Any
) -> AsyncIterator[Storage]:
    if request.param == "filesystem":
        yield FilesystemStorage(tmp_path / "store")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = S3Storage(
        unique_name("b").replace("_", "-").lower(),
        endpoint_url=server.endpoint,
        access_key="test",
        secret_key="test",
    )
    await s3.ensure_bucket()
    yield s3


@pytest.mark.integration
async def test_a_store_keeps_reads_ranges_and_deletes_objects(storage: Storage) -> None:
    data = os.urandom(300_000)
    await storage.ping()
    assert await storage.size("t/2026/a.bin") is None
    await storage.put("t/2026/a.bin", data)
    assert await storage.size("t/2026/a.bin") == len(data)
    assert await storage.get("t/2026/a.bin") == data
    assert await storage.get("t/2026/a.bin", 1000, 1999) == data[1000:2000]
    assert await storage.get("t/2026/a.bin", 299_990) == data[299_990:]
    await storage.put("t/2026/a.bin", b"replaced")
    assert await storage.get("t/2026/a.bin") == b"replaced"
    await storage.delete("t/2026/a.bin")
    assert await storage.size("t/2026/a.bin") is None
    await storage.delete("t/2026/a.bin")  # already gone: no error
    with pytest.raises(StorageError):
        await storage.get("t/2026/a.bin")


async def test_a_filesystem_key_cannot_leave_the_root(tmp_path: Path) -> None:
    store = FilesystemStorage(tmp_path / "store")
    with pytest.raises(StorageError, match="leaves the storage root"):
        await store.put("../outside.bin", b"x")


@pytest.mark.integration
async def test_an_unreachable_s3_endpoint_is_a_storage_error() -> None:
    from cc_sim.switches import free_port

    away = S3Storage("b", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=1.0,
                     access_key="test", secret_key="test")  # fmt: skip
    with pytest.raises(StorageError, match="s3"):
        await away.put("k", b"x")
    with pytest.raises(StorageError):
        await away.ping()


KEK_1, KEK_2 = os.urandom(32), os.urandom(32)


def test_a_recording_round_trips_and_any_range_decrypts_alone() -> None:
    ring = crypto.Keyring({"k1": KEK_1}, "k1")
    data = os.urandom(3 * crypto.CHUNK + 1234)
    key, wrapped = ring.new_data_key("rec-1")
    sealed = crypto.encrypt(key, "rec-1", data)
    assert len(sealed) == crypto.sealed_size(len(data))
    assert data not in sealed
    assert crypto.decrypt(ring.unwrap(wrapped, "rec-1"), "rec-1", len(data), sealed) == data
    rng = random.Random(5)
    for _ in range(50):
        start = rng.randrange(len(data))
        end = rng.randrange(start, len(data))
        first, s0, s1 = crypto.sealed_span(start, end)
        plain = b"".join(crypto.decrypt_chunks(key, "rec-1", len(data), first, sealed[s0:s1]))
        skip = start - first * crypto.CHUNK
        assert plain[skip : skip + end - start + 1] == data[start : end + 1]


def test_tampering_truncation_and_swapping_are_detected() -> None:
    ring = crypto.Keyring({"k1": KEK_1}, "k1")
    data = os.urandom(2 * crypto.CHUNK + 10)
    key, wrapped = ring.new_data_key("rec-1")
    sealed = bytearray(crypto.encrypt(key, "rec-1", data))
    sealed[100] ^= 1
    with pytest.raises(crypto.CryptoError, match="chunk 0"):
        crypto.decrypt(key, "rec-1", len(data), bytes(sealed))
    good = crypto.encrypt(key, "rec-1", data)
    with pytest.raises(crypto.CryptoError):  # claimed shorter than it is
        crypto.decrypt(key, "rec-1", len(data) - 10, good[:-10])
    with pytest.raises(crypto.CryptoError):  # another recording's file under this id
        crypto.decrypt(key, "rec-2", len(data), good)
    with pytest.raises(crypto.CryptoError):  # a wrapped key moved to another recording
        ring.unwrap(wrapped, "rec-2")


def test_a_new_kek_wraps_new_keys_and_old_ones_still_open_until_rewrapped() -> None:
    old = crypto.Keyring({"k1": KEK_1}, "k1")
    key, wrapped = old.new_data_key("rec-1")
    both = crypto.Keyring({"k1": KEK_1, "k2": KEK_2}, "k2")
    assert both.unwrap(wrapped, "rec-1") == key
    rewrapped = both.wrap(both.unwrap(wrapped, "rec-1"), "rec-1")
    assert rewrapped.kek_id == "k2"
    only_new = crypto.Keyring({"k2": KEK_2}, "k2")
    assert only_new.unwrap(rewrapped, "rec-1") == key
    with pytest.raises(crypto.CryptoError, match="'k1' is not configured"):
        only_new.unwrap(wrapped, "rec-1")
    forged = crypto.WrappedKey("k2", wrapped.blob)
    with pytest.raises(crypto.CryptoError, match="does not open"):
        only_new.unwrap(forged, "rec-1")
    with pytest.raises(ValueError, match="not in the keyring"):
        crypto.Keyring({"k1": KEK_1}, "k9")


def test_kek_settings_are_checked_at_start() -> None:
    good = base64.b64encode(KEK_1).decode()
    assert parse_keys(f"a:{good}, b:{good}") == {"a": KEK_1, "b": KEK_1}
    for bad, reason in [
        ("nocolon", "id:base64"),
        ("a:!!!", "not base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"a:{good}, a:{good}", "twice"),
        (f"a b:{good}", "id:base64"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_keys(bad)
    with pytest.raises(ValueError, match="recording_kek_id"):
        RecordingSettings(recording_keks=f"a:{good}", recording_kek_id="b")
