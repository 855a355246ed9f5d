"""Call lists from CSV: records assembled from byte lines, validated row by row.

Pure: the adapter feeds byte lines (from wherever the upload is kept) and stores what comes out.
A record ends where its quotes balance (RFC 4180), so records and their byte offsets are known
without a CSV reader reading ahead, which makes an import resumable at any record boundary.
UTF-8 and GB18030 are accepted (a line that is not UTF-8 is read as GB18030 from then on).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import timezone as number_zones

from cc_common.names import text_problem
from cc_routing.dialer.compliance import zone


class ListError(ValueError):
    """A list that cannot be imported at all (no header, no phone column)."""


PHONE_COLUMNS = ("phone", "number", "phone_number", "telephone", "mobile", "电话", "号码", "手机")
ZONE_COLUMNS = ("timezone", "time_zone", "tz", "时区")
ID_COLUMNS = ("lead_id", "id", "external_id")
_UNKNOWN_ZONE = "Etc/Unknown"
MAX_EXTERNAL_ID = 200
"""As long as a row's own id may be (the width of its column)."""


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: the line it starts on, its text and the byte offset just after it."""

    line: int
    text: str
    end_offset: int


@dataclass(slots=True)
class RecordReader:
    """Turns byte lines into CSV records, tracking line numbers, offsets and the encoding."""

    offset: int = 0
    line: int = 0
    encoding: str = "utf-8"
    _pending: list[str] = field(default_factory=list)
    _pending_line: int = 0
    _quotes: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def feed(self, raw: bytes) -> Record | None:
        """Add one physical line (with its newline); return a record when one is complete."""
        self.offset += len(raw)
        self.line += 1
        text = self._decode(raw)
        if not self._pending:
            self._pending_line = self.line
        self._pending.append(text)
        self._quotes += text.count('"')
        if self._quotes % 2:
            return None  # inside a quoted field that spans lines
        return self._take()

    def finish(self) -> Record | None:
        """At the end of the data: whatever is left is a record (an unclosed quote included)."""
        return self._take() if self._pending else None

    def _take(self) -> Record:
        record = Record(self._pending_line, "".join(self._pending), self.offset)
        self._pending.clear()
        self._quotes = 0
        return record

    def _decode(self, raw: bytes) -> str:
        if self.line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if self.encoding == "utf-8":
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                self.encoding = "gb18030"
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError:
            self.problems.append((self.line, "line is neither UTF-8 nor GB18030"))
            return raw.decode("gb18030", errors="replace")


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Byte lines (newline kept) from chunks of any size; the last line may lack a newline."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            yield data[start : end + 1]
            start = end + 1
        rest = data[start:]
    if rest:
        yield rest


def parse_fields(record: Record) -> list[str]:
    """The fields of one record; ValueError with the reason for malformed CSV."""
    try:
        rows = list(csv.reader([record.text.rstrip("\r\n")], strict=True))
    except csv.Error as exc:
        raise ValueError(f"malformed CSV: {exc}") from None
    return rows[0] if rows else []


@dataclass(frozen=True, slots=True)
class Lead:
    """A valid row: the number in E.164, the callee's zones and the other columns."""

    line: int
    number: str
    region: str | None
    zones: tuple[str, ...]
    external_id: str | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row left out, with why."""

    line: int
    reason: str


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [name.strip().lower() for name in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


@dataclass(frozen=True, slots=True)
class ListLayout:
    """Which column holds what, read from the header."""

    columns: tuple[str, ...]
    phone: int
    zone: int | None
    external_id: int | None

    @classmethod
    def from_header(cls, header: list[str]) -> ListLayout:
        """Read the header; ListError when there is none or it names no phone column."""
        names = [name.strip() for name in header]
        phone = _find(names, PHONE_COLUMNS)
        if phone is None:
            looks_like_data = any(sum(ch.isdigit() for ch in name) >= 6 for name in names)
            why = "the first line looks like data" if looks_like_data else f"got {names[:10]}"
            raise ListError(
                f"missing header: the first line must name the columns, one of them "
                f"{'/'.join(PHONE_COLUMNS[:4])} ({why})"
            )
        if len(set(names)) != len(names):
            raise ListError(f"header names a column twice: {names}")
        return cls(tuple(names), phone, _find(names, ZONE_COLUMNS), _find(names, ID_COLUMNS))


_COUNTRY_ZONES: dict[int, tuple[str, ...]] = {}


def normalise_number(raw: str, region: str) -> tuple[str, str | None, tuple[str, ...]]:
    """E.164, region and candidate time zones of a number; ValueError with the reason.

    The number type is worked out once (it is most of the cost of validating a number): it
    decides validity and whether the zones come from the number's prefix or its country.
    """
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number {raw!r}: {exc}") from None
    kind = phonenumbers.number_type(parsed)
    number_region = phonenumbers.region_code_for_number(parsed)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN or number_region is None:
        raise ValueError(f"not a valid number {raw!r} for region {region}")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    code = parsed.country_code or 0
    if phonenumbers.is_number_type_geographical(kind, code):
        found = number_zones.time_zones_for_geographical_number(parsed)
    else:
        if code not in _COUNTRY_ZONES:
            _COUNTRY_ZONES[code] = tuple(number_zones.time_zones_for_number(parsed))
        found = _COUNTRY_ZONES[code]
    zones = tuple(z for z in found if z != _UNKNOWN_ZONE)
    return e164, number_region, zones


def validate_row(
    layout: ListLayout,
    line: int,
    row: list[str],
    default_region: str,
    default_zone: str | None = None,
) -> Lead | RowProblem:
    """One data row checked: a normalised number and a known zone, or the reason it is left out."""
    if len(row) != len(layout.columns):
        return RowProblem(line, f"expected {len(layout.columns)} fields, found {len(row)}")
    raw = row[layout.phone].strip()
    if not raw:
        return RowProblem(line, "no phone number")
    try:
        number, region, zones = normalise_number(raw, default_region)
        if layout.zone is not None and row[layout.zone].strip():
            zones = (zone(row[layout.zone].strip()).key,)
    except ValueError as exc:
        return RowProblem(line, str(exc))
    if not zones:
        if default_zone is None:
            return RowProblem(line, f"time zone of {number} unknown: give a timezone column")
        zones = (default_zone,)
    if len(",".join(zones)) > 400:
        return RowProblem(line, f"{number} may be in too many time zones: give a timezone column")
    external = row[layout.external_id].strip() if layout.external_id is not None else ""
    wrong_id = text_problem(external, "the row's id", MAX_EXTERNAL_ID)
    if wrong_id is not None:
        return RowProblem(line, wrong_id)
    skip = {layout.phone, layout.zone, layout.external_id}
    extra = {name: row[i] for i, name in enumerate(layout.columns) if i not in skip}
    return Lead(line, number, region, zones, external or None, extra)
