"""Read FreeSWITCH's ``show channels as json`` reply, the snapshot services reconcile against.

FreeSWITCH answers ``{"row_count": 0}`` (plus a newline) when no channel is up, and
``{"row_count":N,"rows":[{...}]}`` otherwise, every value a string (the columns of its
``channels`` table: uuid, direction, created_epoch, name, state, callstate, call_uuid ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cc_common.esl.errors import CommandError


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One live channel as ``show channels`` lists it; ``fields`` has every column."""

    uuid: str
    name: str
    state: str
    callstate: str
    direction: str
    call_uuid: str
    created_epoch: int | None
    cid_num: str
    dest: str
    application: str
    fields: Mapping[str, str]


def parse_show_channels(text: str) -> list[ChannelRow]:
    """Parse the reply body; ``-ERR ...`` raises CommandError, other malformed text ValueError."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise CommandError("show channels as json", stripped)
    try:
        document: Any = json.loads(stripped)
    except ValueError as exc:
        raise ValueError(f"show channels reply is not JSON: {stripped[:80]!r}") from exc
    if not isinstance(document, dict) or "row_count" not in document:
        raise ValueError("show channels reply has no row_count")
    rows = document.get("rows") or []
    if not isinstance(rows, list) or len(rows) != document["row_count"]:
        raise ValueError(f"row_count {document['row_count']} but {len(rows)} rows")
    return [_row(row) for row in rows]


def _row(row: Any) -> ChannelRow:
    if not isinstance(row, dict):
        raise ValueError(f"channel row is not an object: {row!r}"[:120])
    fields = {str(k): "" if v is None else str(v) for k, v in row.items()}
    epoch = fields.get("created_epoch", "")
    return ChannelRow(
        uuid=fields.get("uuid", ""),
        name=fields.get("name", ""),
        state=fields.get("state", ""),
        callstate=fields.get("callstate", ""),
        direction=fields.get("direction", ""),
        call_uuid=fields.get("call_uuid", ""),
        created_epoch=int(epoch) if epoch.isdigit() else None,
        cid_num=fields.get("cid_num", ""),
        dest=fields.get("dest", ""),
        application=fields.get("application", ""),
        fields=MappingProxyType(fields),
    )
