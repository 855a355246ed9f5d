"""The recording service on real PostgreSQL and RabbitMQ: moves, flags, outages, retention,
legal hold, erasure, key rotation and playback links (files written as the switch would)."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cc_common.testing import eventually
from cc_proto import Envelope, EventData
from cc_proto.events import CallAnswered, CallEnded, CallOffered, CallOutcome
from cc_recording.adapters.storage import Storage
from cc_recording.testing import KEK_A, KEK_B, Service, ServiceFactory, start_moto
from cc_sim.engine.media import wav_bytes

pytestmark = pytest.mark.integration

WAV = wav_bytes(4.0, 8000, channels=2)


async def answer(
    service: Service,
    call_id: str,
    *,
    queue: str = "support",
    caller: str = "+4930555",
    agent: str = "ann",
) -> dict[str, Any]:
    """Offer and answer a call as routing would; return its recording in progress."""
    await service.publish(CallOffered(queue=queue, caller_number=caller), call_id=call_id)
    await service.publish(
        CallAnswered(queue=queue, agent_leg_uuid=f"{call_id}-b", wait_seconds=0, ring_seconds=1),
        call_id=call_id,
        agent_id=agent,
    )
    return await service.wait_status(call_id, "recording")


async def end(service: Service, call_id: str, agent: str = "ann") -> None:
    await service.publish(
        CallEnded(outcome=CallOutcome.ANSWERED, hangup_cause="NORMAL_CLEARING", duration_seconds=9),
        call_id=call_id,
        agent_id=agent,
    )


async def write(path: str, payload: bytes) -> None:
    await asyncio.to_thread(Path(path).write_bytes, payload)


async def record(service: Service, call_id: str, **kw: Any) -> dict[str, Any]:
    """A whole recorded call, stored."""
    row = await answer(service, call_id, **kw)
    await write(row["switch_path"], WAV)
    await end(service, call_id, kw.get("agent", "ann"))
    return await service.wait_status(call_id, "stored")


async def play(service: Service, recording_id: str, user: str = "qa", **headers: str) -> Any:
    link = await service.client.post(f"/recordings/{recording_id}/links", json={"user": user})
    assert link.status_code == 200, link.text
    return await service.client.get(link.json()["url"], headers=headers)


class Watch:
    """The recording and QA events the service publishes, as seen on RabbitMQ."""

    def __init__(self) -> None:
        self.events: list[Envelope[EventData]] = []

    async def handle(self, event: Envelope[EventData]) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Any]:
        return [e.data for e in self.events if e.type == kind]


@pytest.fixture
async def watch(
    start_service: ServiceFactory, rabbit_cleanup: Any, unique_name: Callable[[str], str]
) -> Callable[[Service], Any]:
    async def make(service: Service) -> Watch:
        seen = Watch()
        queue = rabbit_cleanup.queue(unique_name("watch"))
        await service.publisher.consume(
            queue, bindings=["acme.recording.#", "acme.qa.#"], handler=seen.handle
        )
        return seen

    return make


async def test_a_missing_file_is_flagged_with_an_event_and_stored_once_it_appears(
    start_service: ServiceFactory, watch: Any
) -> None:
    service = await start_service()
    seen = await watch(service)
    row = await answer(service, "call-missing")
    await end(service, "call-missing")
    flagged = await service.wait_status("call-missing", "flagged")
    assert flagged["reason"] == "file_missing"
    await eventually(lambda: bool(seen.of("recording.flagged")), within=15)
    assert seen.of("recording.flagged")[0].reason == "file_missing"
    await write(row["switch_path"], WAV)
    stored = await service.wait_status("call-missing", "stored")
    assert stored["sha256"] == hashlib.sha256(WAV).hexdigest()
    assert stored["size_bytes"] == len(WAV)
    assert not await asyncio.to_thread(Path(row["switch_path"]).exists)
    assert (await play(service, stored["id"])).content == WAV
    await eventually(lambda: bool(seen.of("recording.completed")), within=15)
    metrics = (await service.client.get("/metrics")).text
    assert 'cc_recording_moves_total{result="stored"} 1.0' in metrics
    flag_count = re.search(r'cc_recording_moves_total\{result="flagged"\} (\S+)', metrics)
    assert flag_count is not None
    assert float(flag_count.group(1)) >= 1  # retried until the file appeared
    assert 'cc_recording_playbacks_total{action="play"} 1.0' in metrics


async def test_an_empty_file_is_retried_until_the_tries_run_out_then_failed_never_dropped(
    start_service: ServiceFactory, watch: Any
) -> None:
    service = await start_service(recording_move_attempts=3)
    seen = await watch(service)
    row = await answer(service, "call-empty")
    await write(row["switch_path"], WAV[:44])
    await end(service, "call-empty")
    failed = await service.wait_status("call-empty", "failed")
    assert (failed["reason"], failed["attempts"]) == ("file_empty", 3)
    await eventually(lambda: len(seen.of("recording.flagged")) == 3, within=15)
    assert [e.final for e in seen.of("recording.flagged")] == [False, False, True]
    # The file is still there for people to look at, and a retry after fixing it stores it.
    assert await asyncio.to_thread(Path(row["switch_path"]).exists)
    await write(row["switch_path"], WAV)
    retried = await service.client.post(f"/recordings/{row['id']}/retry", json={"actor": "ops"})
    assert retried.status_code == 200
    await service.wait_status("call-empty", "stored")
    again = await service.client.post(f"/recordings/{row['id']}/retry", json={"actor": "ops"})
    assert again.status_code == 409


class CorruptingStore:
    """A store whose disk flips a bit in what it writes (what verification exists to catch)."""

    def __init__(self, inner: Storage, times: int) -> None:
        self.inner, self.times = inner, times
        self.backend = inner.backend

    async def put(self, key: str, data: bytes) -> None:
        if self.times > 0:
            self.times -= 1
            data = bytes([data[0] ^ 1]) + data[1:]
        await self.inner.put(key, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_copy_that_fails_its_checksum_is_removed_flagged_and_moved_again(
    start_service: ServiceFactory, tmp_path: Path
) -> None:
    service = await start_service(recording_keks="", recording_kek_id="")
    service.recorder.storage = CorruptingStore(service.recorder.storage, times=1)
    row = await answer(service, "call-corrupt")
    await write(row["switch_path"], WAV)
    await end(service, "call-corrupt")
    stored = await service.wait_status("call-corrupt", "stored")
    assert stored["attempts"] == 1  # one flagged attempt, then a good copy
    trail = (await service.client.get("/audit", params={"call_id": "call-corrupt"})).json()
    assert [(e["action"], e["detail"]["reason"]) for e in trail] == [
        ("flagged", "checksum_mismatch")
    ]
    assert stored["kek_id"] is None
    on_disk = await asyncio.to_thread((tmp_path / "store" / stored["storage_key"]).read_bytes)
    assert on_disk == WAV  # without a KEK the file is stored as is, and intact


async def test_a_storage_outage_queues_moves_that_catch_up_when_it_returns(
    start_service: ServiceFactory, unique_name: Callable[[str], str]
) -> None:
    server = start_moto()
    bucket = unique_name("b").replace("_", "-").lower()
    try:
        service = await start_service(
            recording_storage="s3", recording_s3_endpoint=server.endpoint,
            recording_s3_bucket=bucket, recording_s3_access_key="test",
            recording_s3_secret_key="test", recording_move_max_retry=0.5,
        )  # fmt: skip
        server.process.terminate()
        await asyncio.to_thread(server.process.wait, 10)
        rows = [await answer(service, f"call-out-{n}") for n in range(3)]
        for n, row in enumerate(rows):
            await write(row["switch_path"], WAV)
            await end(service, f"call-out-{n}")

        async def queued() -> bool:
            found = await service.recordings(status="finished")
            return len(found) == 3 and all(
                (r["reason"] or "").startswith("storage_unavailable") for r in found
            )

        async with asyncio.timeout(30):
            while not await queued():
                await asyncio.sleep(0.2)
        for row in rows:  # nothing was removed from the switch while storage was away
            assert await asyncio.to_thread(Path(row["switch_path"]).exists)
        port = int(server.endpoint.rsplit(":", 1)[1])
        server = await asyncio.to_thread(start_moto, port)
        await service.recorder.storage.ensure_bucket()  # type: ignore[attr-defined]
        for n in range(3):
            await service.wait_status(f"call-out-{n}", "stored")
        assert len(await service.recordings(status="stored")) == 3
    finally:
        server.process.terminate()
        await asyncio.to_thread(server.process.wait, 10)


async def test_retention_sweeps_expired_recordings_out_of_storage_but_not_held_ones(
    start_service: ServiceFactory, tmp_path: Path, watch: Any
) -> None:
    service = await start_service()
    seen = await watch(service)
    short = await record(service, "call-short", queue="sales")
    held = await record(service, "call-held", queue="sales")
    kept = await record(service, "call-kept", queue="support")
    hold = await service.client.put(
        f"/recordings/{held['id']}/legal-hold",
        json={"hold": True, "actor": "legal", "reason": "case 42"},
    )
    assert hold.status_code == 200
    put = await service.client.put("/retention/sales", json={"days": 0, "actor": "admin"})
    assert put.json()["recordings_redated"] == 2
    await service.client.put("/retention/support", json={"days": 30, "actor": "admin"})
    swept = await service.client.post("/retention/sweep")
    assert swept.json() == {"deleted": [short["id"]]}
    store = tmp_path / "store"
    assert not await asyncio.to_thread((store / short["storage_key"]).exists)
    assert await asyncio.to_thread((store / held["storage_key"]).exists)
    assert await asyncio.to_thread((store / kept["storage_key"]).exists)
    gone = (await service.recordings(call_id="call-short"))[0]
    assert (gone["status"], gone["storage_key"], gone["caller_number"]) == ("deleted", None, None)
    link = await service.client.post(f"/recordings/{short['id']}/links", json={"user": "x"})
    assert link.status_code == 404
    await eventually(lambda: bool(seen.of("recording.deleted")), within=15)
    assert seen.of("recording.deleted")[0].reason == "expired"
    # Lifting the hold lets the next sweep take it.
    await service.client.put(
        f"/recordings/{held['id']}/legal-hold",
        json={"hold": False, "actor": "legal", "reason": "case closed"},
    )
    assert (await service.client.post("/retention/sweep")).json() == {"deleted": [held["id"]]}
    trail = (await service.client.get("/audit", params={"recording_id": held["id"]})).json()
    assert [e["action"] for e in trail] == ["legal_hold_set", "legal_hold_lifted", "expired"]


async def test_erasure_by_customer_number_and_by_call_spares_held_recordings(
    start_service: ServiceFactory, tmp_path: Path
) -> None:
    service = await start_service()
    first = await record(service, "call-e1", caller="+4911111")
    second = await record(service, "call-e2", caller="+4911111")
    held = await record(service, "call-e3", caller="+4911111")
    other = await record(service, "call-e4", caller="+4922222")
    await service.client.put(
        f"/recordings/{held['id']}/legal-hold",
        json={"hold": True, "actor": "legal", "reason": "dispute"},
    )
    erased = await service.client.post(
        "/erasures", json={"caller_number": "+4911111", "actor": "dpo", "reason": "GDPR art. 17"}
    )
    assert erased.status_code == 200
    assert sorted(erased.json()["erased"]) == sorted([first["id"], second["id"]])
    assert erased.json()["held"] == [held["id"]]
    store = tmp_path / "store"
    for row in (first, second):
        assert not await asyncio.to_thread((store / row["storage_key"]).exists)
    by_call = await service.client.post(
        "/erasures", json={"call_id": "call-e4", "actor": "dpo", "reason": "request 7"}
    )
    assert by_call.json() == {"erased": [other["id"]], "held": []}
    assert not await asyncio.to_thread((store / other["storage_key"]).exists)
    both = await service.client.post(
        "/erasures", json={"call_id": "x", "caller_number": "y", "actor": "dpo", "reason": "r"}
    )
    assert both.status_code == 422
    trail = (await service.client.get("/audit")).json()
    requests = [e for e in trail if e["action"] == "erasure_request"]
    assert [r["detail"]["by_number"] for r in requests] == [True, False]
    assert all(r["actor"] == "dpo" for r in requests)


async def test_a_new_kek_and_a_rewrap_keep_every_recording_playable_without_touching_files(
    start_service: ServiceFactory, tmp_path: Path
) -> None:
    service = await start_service()
    old = await record(service, "call-k1")
    await service.stop()
    both = {"recording_keks": f"a:{KEK_A},b:{KEK_B}", "recording_kek_id": "b"}
    service = await start_service(**both)
    new = await record(service, "call-k2")
    assert (old["kek_id"], new["kek_id"]) == ("a", "b")
    assert (await play(service, old["id"])).content == WAV
    file = tmp_path / "store" / old["storage_key"]
    before = await asyncio.to_thread(file.read_bytes)
    assert WAV[44:1000] not in before  # encrypted at rest
    rewrap = await service.client.post("/keys/rewrap", json={"actor": "sec"})
    assert rewrap.json() == {"rewrapped": 1, "kek_id": "b"}
    await service.stop()
    service = await start_service(recording_keks=f"b:{KEK_B}", recording_kek_id="b")
    assert (await play(service, old["id"])).content == WAV
    assert (await play(service, new["id"])).content == WAV
    assert await asyncio.to_thread(file.read_bytes) == before


async def test_links_are_checked_and_ranges_served_like_a_player_expects(
    start_service: ServiceFactory,
) -> None:
    service = await start_service(recording_link_seconds=5)
    row = await record(service, "call-link")
    size = len(WAV)
    link = await service.client.post(f"/recordings/{row['id']}/links", json={"user": "sue"})
    url = link.json()["url"]
    for header, status, span in [
        ("bytes=0-0", 206, (0, 0)),
        ("bytes=-100", 206, (size - 100, size - 1)),
        (f"bytes={size - 10}-", 206, (size - 10, size - 1)),
        ("bytes=65530-66600", 206, (65530, 66600)),  # across a sealed chunk boundary
        (f"bytes=0-{size * 2}", 206, (0, size - 1)),
    ]:
        reply = await service.client.get(url, headers={"Range": header})
        assert reply.status_code == status, header
        assert reply.headers["content-range"] == f"bytes {span[0]}-{span[1]}/{size}"
        assert reply.content == WAV[span[0] : span[1] + 1]
    for header in (f"bytes={size}-", "bytes=5-2", "bytes=0-1,5-6", "items=0-1"):
        reply = await service.client.get(url, headers={"Range": header})
        assert reply.status_code == 416, header
        assert reply.headers["content-range"] == f"bytes */{size}"
    tampered = url.replace("user=sue", "user=mallory")
    assert (await service.client.get(tampered)).status_code == 403
    await asyncio.sleep(5.5)
    expired = await service.client.get(url)
    assert expired.status_code == 403
    assert "expired" in expired.text
    log = (await service.client.get(f"/recordings/{row['id']}/access-log")).json()
    assert len(log) == 5  # served requests only, each with who and which call
    assert {(e["user"], e["call_id"], e["action"]) for e in log} == {("sue", "call-link", "play")}


async def test_policies_transfers_other_tenants_and_pauses_without_a_recording(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()
    bad = await service.client.put("/policies/queue/sales", json={"mode": "sometimes"})
    assert bad.status_code == 422
    share = await service.client.put("/policies/queue/sales", json={"mode": "sampled", "share": 2})
    assert share.status_code == 422
    await service.client.put("/policies/queue/sales", json={"mode": "none"})
    await service.publish(
        CallAnswered(queue="sales", agent_leg_uuid="b", wait_seconds=0, ring_seconds=1),
        call_id="call-none",
        agent_id="ann",
    )
    row = await answer(service, "call-transfer")
    # A transfer answers again on the same caller leg: the recording carries on, no second one.
    await service.publish(
        CallAnswered(queue="support", agent_leg_uuid="c", wait_seconds=0, ring_seconds=1),
        call_id="call-transfer",
        agent_id="bob",
    )
    await answer(service, "call-last")
    assert await service.recordings(call_id="call-none") == []
    assert [r["id"] for r in await service.recordings(call_id="call-transfer")] == [row["id"]]
    missing = await service.client.post(
        "/calls/nope/recording/pause", json={"actor": "ivr", "reason": "card"}
    )
    assert missing.status_code == 404
    await end(service, "call-transfer")
    await service.wait_status("call-transfer", "flagged")
    late = await service.client.post(f"/recordings/{row['id']}/pause", json={"actor": "ann"})
    assert late.status_code == 409
    assert "flagged" in late.text
    policies = (await service.client.get("/policies")).json()
    assert [(p["scope"], p["name"], p["mode"]) for p in policies] == [("queue", "sales", "none")]


async def test_a_poison_event_is_dead_lettered_with_its_reason_and_the_next_one_recorded(
    start_service: ServiceFactory,
) -> None:
    service = await start_service()
    await service.publisher.publish_raw(
        b'{"type": "call.answered"}', routing_key="acme.call.answered"
    )
    await answer(service, "call-after-poison")
    letters: list[Any] = []

    async def dead() -> bool:
        letters.extend(await service.publisher.dead_letters(service.settings.consumer_queue))
        return bool(letters)

    async with asyncio.timeout(15):
        while not await dead():
            await asyncio.sleep(0.2)
    assert letters[0].routing_key == "acme.call.answered"
    assert letters[0].reason
