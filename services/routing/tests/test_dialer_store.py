"""Campaigns, list imports, do-not-call and dial claims on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from cc_common.db import Database, Outbox
from cc_common.db.migrations import upgrade
from cc_proto import parse_event
from cc_routing.adapters import db as tables
from cc_routing.dialer.campaigns import (
    CallingWindow,
    CampaignConfig,
    CampaignError,
    CampaignState,
    Outcome,
    RetryRule,
)
from cc_routing.dialer_store import DialerStore, ListSettings, NotFound

pytestmark = pytest.mark.integration

# Wednesday 2024-01-10 15:00 UTC: 16:00 in Paris, 10:00 in New York, 23:00 in Shanghai.
NOON = datetime(2024, 1, 10, 15, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url, schemas=["routing"])
    await upgrade(database, "cc_routing")
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
async def store(db: Database, clock: Clock) -> DialerStore:
    store = DialerStore(db, "t1", clock=clock)
    await store.put_campaign(campaign())
    await store.put_list(ListSettings("l1", "sales", "FR"))
    return store


def campaign(**changes: Any) -> CampaignConfig:
    values: dict[str, Any] = {
        "name": "sales",
        "mode": "predictive",
        "agents": ["a1", "a2"],
        "caller_id": "+33100000000",
        "retries": {
            "busy": RetryRule(delay_seconds=600, max_attempts=3),
            "no_answer": RetryRule(delay_seconds=3600, max_attempts=2),
        },
    }
    values.update(changes)
    return CampaignConfig(**values)


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def import_text(store: DialerStore, data: bytes, list_id: str = "l1", **kw: Any) -> Any:
    import_id = await store.upload(list_id, chunks(data), chunk_bytes=kw.pop("chunk_bytes", 64))
    return await store.run_import(import_id, chunk_bytes=64, **kw)


# --- campaigns ---------------------------------------------------------------------------------


async def test_a_campaign_is_stored_and_started_paused_stopped(store: DialerStore) -> None:
    config, state = await store.get_campaign("sales")
    assert config == campaign()
    assert state is CampaignState.STOPPED
    assert await store.change_campaign("sales", "start") is CampaignState.RUNNING
    assert await store.change_campaign("sales", "pause") is CampaignState.PAUSED
    with pytest.raises(CampaignError, match="cannot pause a campaign that is paused"):
        await store.change_campaign("sales", "pause")
    assert await store.put_campaign(campaign(caller_id="+33199999999")) is CampaignState.PAUSED
    assert (await store.get_campaign("sales"))[0].caller_id == "+33199999999"
    assert await store.change_campaign("sales", "stop") is CampaignState.STOPPED
    with pytest.raises(NotFound):
        await store.get_campaign("nope")
    assert [c.name for c, _s in await store.list_campaigns()] == ["sales"]


def test_a_bad_campaign_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="agents or teams"):
        campaign(agents=[])
    with pytest.raises(ValueError, match="caller id"):
        campaign(caller_id="not a number")
    with pytest.raises(ValueError, match="window end must be after"):
        CallingWindow(start=time(21), end=time(9))
    with pytest.raises(ValueError, match="only busy, no_answer"):
        campaign(retries={"connected": RetryRule(delay_seconds=1, max_attempts=1)})


# --- imports -----------------------------------------------------------------------------------


async def test_good_rows_are_kept_and_bad_rows_reported_by_line(store: DialerStore) -> None:
    data = (
        b"phone,name,timezone\n"
        b"01 42 68 53 00,Alice,\n"  # line 2: French, default region
        b"+1 212 000 0100,Bob,\n"  # 3: not a valid US number
        b"hello,Carol,\n"  # 4
        b"+33 1 42 68 53 00,Alice again,\n"  # 5: same number as line 2, folded
        b'"+44 20 7946 0958","Dan, with a comma",\n'  # 6: valid UK
        b"0612345678,Eve,Mars/Olympus\n"  # 7: unknown time zone
        b"0612345678,Eve\n"  # 8: too few fields
        b'+12125550199,"Frank\nsecond line",America/Chicago\n'  # 9-10: multi-line, zone given
        b"\n"
        b",Nobody,\n"  # 12
    )
    report = await import_text(store, data)
    assert report.status == "done"
    assert (report.accepted, report.rejected, report.duplicates) == (3, 5, 1)
    lines = {p["line"]: p["reason"] for p in report.problems}
    assert sorted(lines) == [3, 4, 7, 8, 12]
    assert "not a valid number" in lines[3]
    assert "not a phone number" in lines[4]
    assert "unknown time zone" in lines[7]
    assert "expected 3 fields, found 2" in lines[8]
    assert "no phone number" in lines[12]
    assert await store.lead_counts("l1") == {"ready": 3}


async def test_gb18030_and_a_utf8_bom_are_read(store: DialerStore) -> None:
    await store.put_list(ListSettings("cn", "sales", "CN"))
    gb = "电话,姓名\n13800138000,张伟\n+86 10 1234 5678,李娜\n".encode("gb18030")
    report = await import_text(store, gb, list_id="cn")
    assert (report.accepted, report.rejected, report.encoding) == (2, 0, "gb18030")
    bom = "\ufeffnumber,名字\n0142685301,王芳\n".encode()
    assert (await import_text(store, bom)).accepted == 1


async def test_a_missing_header_fails_the_list_and_keeps_nothing(store: DialerStore) -> None:
    report = await import_text(store, b"0142685300,Alice\n0142685301,Bob\n")
    assert report.status == "failed"
    assert report.error is not None
    assert "missing header" in report.error
    assert "looks like data" in report.error
    assert await store.lead_counts("l1") == {}
    empty = await import_text(store, b"")
    assert empty.status == "failed"
    assert empty.error == "missing header: the file is empty"


async def test_a_crashed_import_resumes_and_shows_nothing_until_done(store: DialerStore) -> None:
    rows = "".join(f"+3361234{n:04d},n{n}\n" for n in range(250))
    data = ("phone,name\n" + rows + "oops,bad\n").encode()
    import_id = await store.upload("l1", chunks(data, 100), chunk_bytes=256)
    partial = await store.run_import(
        import_id, batch_rows=40, chunk_bytes=256, stop_after_batches=3
    )
    assert partial.status == "importing"
    assert partial.accepted == 120
    assert 0 < partial.bytes_done < partial.bytes_total
    assert await store.lead_counts("l1") == {"importing": 120}  # nothing dialable yet
    await store.change_campaign("sales", "start")
    assert (await store.claim_dials("sales", 10)).leads == []
    done = await store.run_import(import_id, batch_rows=40, chunk_bytes=256)
    assert done.status == "done"
    assert (done.accepted, done.rejected, done.duplicates) == (250, 1, 0)
    assert done.problems == [
        {
            "line": 252,
            "reason": "not a phone number 'oops': "
            "(1) The string supplied did not seem to be a phone number.",
        }
    ]
    assert await store.lead_counts("l1") == {"ready": 250}
    assert (await store.run_import(import_id)).status == "done"  # again: nothing changes


async def test_a_large_generated_list_is_streamed(store: DialerStore) -> None:
    rng = random.Random(7)
    rows = 30_000

    async def generated() -> AsyncIterator[bytes]:
        yield b"phone,name,city\n"
        for start in range(0, rows, 1000):
            lines = []
            for n in range(start, start + 1000):
                if n % 997 == 0:
                    lines.append(f"not-a-number-{n},x,y\n")
                else:
                    lines.append(f"+33612{rng.randrange(10**6):06d},name {n},city\n")
            yield "".join(lines).encode()

    import_id = await store.upload("l1", generated(), chunk_bytes=256 * 1024)
    report = await store.run_import(import_id, chunk_bytes=256 * 1024)
    assert report.status == "done"
    assert report.bytes_total > 2 * 256 * 1024  # several chunks
    bad = len(range(0, rows, 997))
    assert report.rejected == bad
    assert report.accepted + report.duplicates == rows - bad
    assert (await store.lead_counts("l1"))["ready"] == report.accepted


async def test_imports_of_the_same_numbers_at_once_fold_them(store: DialerStore) -> None:
    """Each import checked which numbers the list already had, then inserted the rest: two
    concurrent ones both found none, and the second insert hit the primary key (a 500, and that
    import stuck in ``importing``). Whichever commits second folds what the first took."""
    data = b"phone\n" + b"".join(b"+336120%05d\n" % n for n in range(600))
    uploads = [await store.upload("l1", chunks(data, 4096)) for _ in range(4)]
    reports = await asyncio.gather(*(store.run_import(i, batch_rows=10) for i in uploads))
    assert [r.status for r in reports] == ["done"] * 4
    assert sum(r.accepted for r in reports) == 600
    assert sum(r.duplicates for r in reports) == 3 * 600
    assert await store.lead_counts("l1") == {"ready": 600}


# --- dialling ----------------------------------------------------------------------------------


async def test_do_not_call_and_windows_are_checked_at_dial_time(
    store: DialerStore, clock: Clock
) -> None:
    data = (
        b"phone,name\n"
        b"+33142685300,Paris\n"  # 16:00 local: open
        b"+12125550123,New York\n"  # 10:00: open
        b"+861012345678,Beijing\n"  # 23:00: closed until 09:00
        b"+33142685301,Paris on DNC\n"
    )
    await import_text(store, data)
    await store.add_do_not_call(["01 42 68 53 01"], "FR", "upload")  # after the import
    with pytest.raises(ValueError, match="not a phone number"):
        await store.add_do_not_call(["x"], "FR", "upload")
    assert (await store.claim_dials("sales", 10)).leads == []  # stopped: nothing
    await store.change_campaign("sales", "start")
    claimed = await store.claim_dials("sales", 10)
    assert sorted(lead.number for lead in claimed.leads) == ["+12125550123", "+33142685300"]
    reasons = dict(claimed.skipped)
    assert sorted(reasons.values()) == [
        "number is on the do-not-call list",
        "outside the callee's calling window",
    ]
    assert await store.lead_counts("l1") == {"dialing": 2, "dnc": 1, "ready": 1}
    beijing = next(lid for lid, why in claimed.skipped if "window" in why)
    assert (await store.lead(beijing))["next_attempt_at"] == datetime(
        2024, 1, 11, 1, 0, tzinfo=UTC
    ).timestamp()  # 09:00 in Beijing
    clock.now += 10 * 3600
    assert [lead.number for lead in (await store.claim_dials("sales", 10)).leads] == [
        "+861012345678"
    ]


async def test_retries_follow_the_rules_by_outcome(store: DialerStore, clock: Clock) -> None:
    await import_text(store, b"phone\n+33142685300\n+33142685302\n")
    await store.change_campaign("sales", "start")
    first, second = (await store.claim_dials("sales", 2)).leads
    assert await store.record_outcome("sales", first.lead_id, Outcome.BUSY) == "ready"
    assert await store.record_outcome("sales", second.lead_id, Outcome.NO_ANSWER) == "ready"
    assert (await store.claim_dials("sales", 5)).leads == []  # not due yet
    clock.now += 601
    again = (await store.claim_dials("sales", 5)).leads
    assert [(lead.lead_id, lead.attempt) for lead in again] == [(first.lead_id, 2)]
    clock.now += 3600
    last = (await store.claim_dials("sales", 5)).leads
    assert [(lead.lead_id, lead.attempt) for lead in last] == [(second.lead_id, 2)]
    assert await store.record_outcome("sales", second.lead_id, Outcome.NO_ANSWER) == "exhausted"
    assert await store.record_outcome("sales", first.lead_id, Outcome.MACHINE) == "exhausted"
    with pytest.raises(CampaignError, match="not a disposition"):
        await store.record_outcome("sales", first.lead_id, Outcome.CONNECTED, "whatever")


async def test_a_dnc_disposition_blocks_the_number_everywhere(
    store: DialerStore, clock: Clock
) -> None:
    await store.put_list(ListSettings("l2", "sales", "FR"))
    await import_text(store, b"phone\n+33142685300\n")
    await import_text(store, b"phone\n0142685300\n", list_id="l2")
    await store.change_campaign("sales", "start")
    (lead,) = (await store.claim_dials("sales", 1)).leads
    status = await store.record_outcome("sales", lead.lead_id, Outcome.CONNECTED, "dnc")
    assert status == "dnc"
    claimed = await store.claim_dials("sales", 5)
    assert claimed.leads == []
    assert [why for _l, why in claimed.skipped] == ["number is on the do-not-call list"]


async def test_a_callback_waits_for_its_agent(store: DialerStore, clock: Clock) -> None:
    await import_text(store, b"phone\n+33142685300\n+33142685302\n")
    await store.change_campaign("sales", "start")
    first, second = (await store.claim_dials("sales", 2)).leads
    status = await store.record_outcome(
        "sales",
        first.lead_id,
        Outcome.CONNECTED,
        "callback",  # the agent's disposition books it, for them
        callback_at=clock.now + 1800,
        callback_agent="a2",
    )
    assert status == "ready"
    await store.schedule_callback(second.lead_id, clock.now + 1800, None)
    clock.now += 1801
    anyone = (await store.claim_dials("sales", 5, free_agents=["a1"])).leads
    assert [lead.lead_id for lead in anyone] == [second.lead_id]
    mine = (await store.claim_dials("sales", 5, free_agents=["a2"])).leads
    assert [(lead.lead_id, lead.callback_agent) for lead in mine] == [(first.lead_id, "a2")]
    with pytest.raises(NotFound):
        await store.schedule_callback("missing", clock.now, None)


async def _staged(db: Database, lead_ids: set[str]) -> list[Any]:
    """The outbox events about these leads, oldest first."""
    async with db.session() as session:
        outbox = tables.kit.outbox
        rows = await session.execute(select(outbox.c.body).order_by(outbox.c.seq))
        events = [parse_event(body) for (body,) in rows]
    return [e for e in events if getattr(e.data, "lead_id", None) in lead_ids]


async def test_a_disposition_is_staged_with_its_lead_change_and_right_party_mark(
    db: Database, clock: Clock
) -> None:
    woken: list[bool] = []
    store = DialerStore(
        db, "t1", clock=clock, outbox=Outbox(tables.kit.outbox), staged=lambda: woken.append(True)
    )
    await store.put_campaign(
        campaign(dispositions=["sale", "wrong_party", "promise"], right_party=["sale", "promise"])
    )
    await store.put_list(ListSettings("l1", "sales", "FR"))
    await import_text(store, b"phone\n+33142685300\n+33142685302\n+33142685304\n")
    await store.change_campaign("sales", "start")
    first, second, third = (await store.claim_dials("sales", 3)).leads
    await store.record_outcome("sales", first.lead_id, Outcome.CONNECTED, "promise", agent_id="a1")
    await store.record_outcome("sales", second.lead_id, Outcome.CONNECTED, "wrong_party")
    await store.record_outcome("sales", third.lead_id, Outcome.BUSY)  # no disposition: no event
    with pytest.raises(CampaignError):  # refused: the lead is unchanged and nothing is staged
        await store.record_outcome("sales", third.lead_id, Outcome.CONNECTED, "whatever")
    staged = await _staged(db, {first.lead_id, second.lead_id, third.lead_id})
    assert [(e.type, e.agent_id, e.data.lead_id) for e in staged] == [
        ("dialer.dispositioned", "a1", first.lead_id),
        ("dialer.dispositioned", None, second.lead_id),
    ]
    assert [(e.data.disposition, e.data.right_party, e.data.outcome) for e in staged] == [
        ("promise", True, "connected"),
        ("wrong_party", False, "connected"),
    ]
    assert staged[0].data.attempt == 1
    assert staged[0].occurred_at.timestamp() == NOON
    assert woken == [True, True]


def test_right_party_defaults_and_must_name_dispositions_of_the_set() -> None:
    default = campaign(dispositions=["sale", "no_sale", "callback", "dnc", "wrong_party"])
    assert [d for d in default.dispositions if default.is_right_party(d)] == [
        "sale",
        "no_sale",
        "callback",
    ]
    assert not campaign(dispositions=["wrong_party"]).is_right_party("sale")
    with pytest.raises(ValueError, match="right_party names dispositions not in the set"):
        campaign(dispositions=["sale"], right_party=["sale", "reached"])
