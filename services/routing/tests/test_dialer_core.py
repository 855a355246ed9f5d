"""The dialer core's list reading, compliance checks and campaign rules (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from cc_routing.dialer.campaigns import (
    CallingWindow,
    CampaignConfig,
    CampaignError,
    CampaignState,
    Disposed,
    DispositionEffect,
    Outcome,
    RetryRule,
    change_state,
    dispose,
    next_attempt_at,
)
from cc_routing.dialer.compliance import check_dial, next_window_opening, within_window
from cc_routing.dialer.lists import (
    Lead,
    ListError,
    ListLayout,
    RecordReader,
    RowProblem,
    normalise_number,
    parse_fields,
    split_lines,
    validate_row,
)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def records(data: bytes, chunk: int = 5) -> list[tuple[int, str, int]]:
    reader = RecordReader()
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    found = []
    for raw in split_lines(pieces):
        record = reader.feed(raw)
        if record:
            found.append((record.line, record.text, record.end_offset))
    last = reader.finish()
    if last:
        found.append((last.line, last.text, last.end_offset))
    return found


def test_records_span_lines_only_inside_quotes_and_know_their_offsets() -> None:
    data = b'a,b\n1,"x\ny"\n2,z'
    assert records(data) == [(1, "a,b\n", 4), (2, '1,"x\ny"\n', 12), (4, "2,z", 15)]
    reader = RecordReader()
    found = [r for raw in split_lines([data]) if (r := reader.feed(raw))]
    assert parse_fields(found[1]) == ["1", "x\ny"]


def test_an_unclosed_quote_is_one_record_reported_as_malformed() -> None:
    reader = RecordReader()
    for raw in split_lines([b'1,"open\n2,x\n']):
        assert reader.feed(raw) is None
    record = reader.finish()
    assert record is not None
    with pytest.raises(ValueError, match="malformed CSV"):
        parse_fields(record)


def test_utf8_then_gb18030_and_undecodable_lines() -> None:
    reader = RecordReader()
    reader.feed("phone,名字\n".encode())
    assert reader.encoding == "utf-8"
    record = reader.feed("1,张伟\n".encode("gb18030"))
    assert reader.encoding == "gb18030"
    assert record is not None
    assert record.text == "1,张伟\n"
    reader.feed(b"\x81\x20bad\n")
    assert reader.problems == [(3, "line is neither UTF-8 nor GB18030")]


def test_the_header_names_the_columns() -> None:
    layout = ListLayout.from_header(["ID", " Phone ", "Name", "TZ"])
    assert (layout.phone, layout.zone, layout.external_id) == (1, 3, 0)
    with pytest.raises(ListError, match="looks like data"):
        ListLayout.from_header(["0142685300", "Alice"])
    with pytest.raises(ListError, match="missing header"):
        ListLayout.from_header(["name", "city"])
    with pytest.raises(ListError, match="twice"):
        ListLayout.from_header(["phone", "name", "name"])


def test_rows_are_normalised_or_refused_with_the_reason() -> None:
    layout = ListLayout.from_header(["phone", "name", "timezone"])
    lead = validate_row(layout, 2, ["01 42 68 53 00", "Alice", ""], "FR")
    assert lead == Lead(2, "+33142685300", "FR", ("Europe/Paris",), None, {"name": "Alice"})
    given = validate_row(layout, 3, ["+1 212 555 0100", "Bob", "America/Chicago"], "FR")
    assert isinstance(given, Lead)
    assert given.zones == ("America/Chicago",)
    assert validate_row(layout, 4, ["12", "x", ""], "FR") == RowProblem(
        4, "not a valid number '12' for region FR"
    )
    refused = validate_row(layout, 5, ["+7 916 123 45 67", "Ivan", ""], "FR")
    assert isinstance(refused, Lead)  # Russia mobile: every Russian zone, all must be open
    assert len(refused.zones) > 5
    assert normalise_number("+44 7911 123456", "FR")[0] == "+447911123456"


def test_the_window_is_the_callees_local_time_across_zones_and_dst() -> None:
    window = CallingWindow()
    paris, new_york = ["Europe/Paris"], ["America/New_York"]
    assert within_window(at(2024, 1, 10, 8), paris, window)  # 09:00 in Paris (UTC+1)
    assert not within_window(at(2024, 1, 10, 7, 59), paris, window)
    assert within_window(at(2024, 7, 10, 7), paris, window)  # summer: UTC+2
    assert not within_window(at(2024, 1, 10, 13), new_york, window)
    assert within_window(at(2024, 1, 10, 14), new_york, window)
    assert not within_window(at(2024, 1, 10, 14), paris + new_york, CallingWindow(end=time(15)))
    opening = next_window_opening(at(2024, 1, 10, 22), paris, window)
    assert opening == at(2024, 1, 11, 8)
    weekdays = CallingWindow(days=frozenset({1, 2, 3, 4, 5}))
    saturday = at(2024, 1, 13, 12)
    assert not within_window(saturday, paris, weekdays)
    assert next_window_opening(saturday, paris, weekdays) == at(2024, 1, 15, 8)


def test_the_dial_check_puts_do_not_call_first() -> None:
    window = CallingWindow()
    noon = at(2024, 1, 10, 11)
    assert check_dial("+33142685300", ["Europe/Paris"], window, noon, set()).allowed
    blocked = check_dial("+33142685300", ["Europe/Paris"], window, noon, {"+33142685300"})
    assert (blocked.allowed, blocked.final) == (False, True)
    night = check_dial("+33142685300", ["Europe/Paris"], window, at(2024, 1, 10, 23), set())
    assert (night.allowed, night.retry_at) == (False, at(2024, 1, 11, 8))


def test_campaign_moves_and_retry_rules() -> None:
    assert change_state(CampaignState.STOPPED, "start") is CampaignState.RUNNING
    assert change_state(CampaignState.PAUSED, "start") is CampaignState.RUNNING
    with pytest.raises(CampaignError, match="cannot stop a campaign that is stopped"):
        change_state(CampaignState.STOPPED, "stop")
    with pytest.raises(CampaignError, match="unknown action"):
        change_state(CampaignState.STOPPED, "launch")
    config = CampaignConfig(
        name="c",
        agents=["a"],
        caller_id="+331",
        retries={Outcome.BUSY: RetryRule(delay_seconds=60, max_attempts=2)},
        country_windows={"US": CallingWindow(start=time(8))},
    )
    assert next_attempt_at(config, Outcome.BUSY, 1, 1000.0) == 1060.0
    assert next_attempt_at(config, Outcome.BUSY, 2, 1000.0) is None
    assert next_attempt_at(config, Outcome.NO_ANSWER, 1, 1000.0) is None  # no rule: done
    assert config.window_for("US").start == time(8)
    assert config.window_for("FR") == CallingWindow()
    with pytest.raises(ValueError, match="ISO 3166"):
        CampaignConfig(name="c", agents=["a"], caller_id="+331", country_windows={"usa": {}})
    with pytest.raises(ValueError, match="machine_message"):
        CampaignConfig(name="c", agents=["a"], caller_id="+331", machine_action="message")


@pytest.mark.parametrize(
    "window",
    [{"start": "09:00+02:00"}, {"end": "21:00Z"}, {"start": "08:00Z", "end": "20:00Z"}],
)
def test_a_calling_window_with_an_offset_is_refused_as_invalid(window: dict[str, str]) -> None:
    """A window is in the callee's local time: an offset is an input error, not a crash (an
    aware time compared with the naive default raised TypeError, a 500 at the API)."""
    with pytest.raises(ValueError, match="calling window times are local"):
        CallingWindow.model_validate(window)
    with pytest.raises(ValueError, match="calling window times are local"):
        CampaignConfig.model_validate(
            {"name": "c", "agents": ["a"], "caller_id": "+331", "country_windows": {"US": window}}
        )


def test_a_caller_id_ending_in_a_line_break_is_refused() -> None:
    """The caller id goes into an originate command, where a line break ends the command."""
    for caller_id in ("+33100000000\n", "+33100000000\r\n", "\n+33100000000"):
        with pytest.raises(ValueError, match="caller id must be digits"):
            CampaignConfig(name="c", agents=["a"], caller_id=caller_id)


def test_a_row_whose_own_id_postgresql_cannot_hold_is_left_out() -> None:
    layout = ListLayout.from_header(["phone", "id", "name"])
    with_nul = validate_row(layout, 2, ["0142685300", "crm\x0042", "Alice"], "FR")
    assert with_nul == RowProblem(2, "the row's id contains a control character or line break")
    too_long = validate_row(layout, 3, ["0142685300", "x" * 201, "Alice"], "FR")
    assert too_long == RowProblem(3, "the row's id is 201 characters long; at most 200")
    fine = validate_row(layout, 4, ["0142685300", "x" * 200, "Al\x00ice"], "FR")
    assert isinstance(fine, Lead)  # other columns are kept in JSON, where NUL is escaped
    assert fine.external_id == "x" * 200


def test_a_disposition_closes_retries_books_a_callback_or_blocks_the_lead() -> None:
    config = CampaignConfig(
        name="c",
        agents=["a1"],
        caller_id="+331",
        dispositions=["sale", "no_interest", "wrong_party", "callback", "dnc", "busy_later"],
        disposition_rules={
            "busy_later": {"effect": "retry", "retry": {"delay_seconds": 600, "max_attempts": 2}}
        },
    )
    closed = Disposed(DispositionEffect.CLOSE, None)
    for code in ("sale", "no_interest", "wrong_party"):
        assert dispose(config, code, 1, 100.0) == closed
    assert dispose(config, "dnc", 1, 100.0) == Disposed(DispositionEffect.DNC, None)
    booked = dispose(config, "callback", 1, 100.0, callback_at=5000.0)
    assert booked == Disposed(DispositionEffect.CALLBACK, 5000.0)
    assert dispose(config, "callback", 1, 100.0, callback_at=50.0).due_at == 100.0  # now
    assert dispose(config, "busy_later", 1, 100.0) == Disposed(DispositionEffect.RETRY, 700.0)
    assert dispose(config, "busy_later", 2, 100.0) == Disposed(DispositionEffect.RETRY, None)
    with pytest.raises(CampaignError, match="not a disposition of 'c'"):
        dispose(config, "maybe", 1, 100.0)
    with pytest.raises(CampaignError, match="give callback_at"):
        dispose(config, "callback", 1, 100.0)
    with pytest.raises(CampaignError, match="books no callback"):
        dispose(config, "sale", 1, 100.0, callback_at=5000.0)


@pytest.mark.parametrize(
    "rules",
    [
        {"nope": {"effect": "close"}},  # not in the set
        {"sale": {"effect": "retry"}},  # a retry without its rule
        {"sale": {"effect": "close", "retry": {"delay_seconds": 1, "max_attempts": 2}}},
    ],
)
def test_disposition_rules_must_name_the_campaigns_dispositions_and_fit_their_effect(
    rules: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match="disposition"):
        CampaignConfig(name="c", agents=["a1"], caller_id="+331", disposition_rules=rules)
