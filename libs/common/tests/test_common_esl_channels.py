"""Reading ``show channels as json`` for reconciliation."""

from __future__ import annotations

import json

import pytest

from cc_common.esl.channels import parse_show_channels
from cc_common.esl.errors import CommandError
from cc_common.esl.protocol import FrameParser
from cc_common.esl.transcripts import transcripts_root


def test_no_channels_as_freeswitch_says_it() -> None:
    data = next((transcripts_root() / "sip-plain").glob("12_*.recv.raw")).read_bytes()
    replies = [
        f.body.decode() for f in FrameParser().feed(data) if f.content_type == "api/response"
    ]
    empty = next(text for text in replies if text.startswith('{"row_count"'))
    assert empty == '{"row_count": 0}\n'
    assert parse_show_channels(empty) == []


def test_rows_become_typed_channels() -> None:
    row = {
        "uuid": "u-1",
        "direction": "inbound",
        "created_epoch": "1795341043",
        "name": "sofia/internal/5551000@127.0.0.1",
        "state": "CS_EXECUTE",
        "callstate": "ACTIVE",
        "call_uuid": "u-1",
        "application": "park",
        "presence_id": "",
    }
    text = json.dumps({"row_count": 2, "rows": [row, {**row, "uuid": "u-2", "created_epoch": ""}]})
    first, second = parse_show_channels(text)
    assert (first.uuid, first.state, first.callstate, first.application) == (
        "u-1",
        "CS_EXECUTE",
        "ACTIVE",
        "park",
    )
    assert first.created_epoch == 1795341043
    assert second.created_epoch is None
    assert first.fields["presence_id"] == ""


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("-ERR Cannot find format xml\n", CommandError),
        ("0 total.\n", ValueError),
        ('{"rows": []}', ValueError),
        ('{"row_count": 2, "rows": [{}]}', ValueError),
        ('{"row_count": 1, "rows": ["x"]}', ValueError),
    ],
)
def test_malformed_replies_are_refused(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_show_channels(text)
