"""The envelope every event travels in, and the registry that types its ``data``.

An event is identified by ``(type, version)``. A consumer that meets a pair it does not know, a
body that is not JSON, or data that fails its model raises :class:`ContractError` with a reason a
person can act on; the bus turns that into a dead-lettered message carrying the reason.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import to_json

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""Tenants appear in routing keys, so they must not contain '.', '*' or '#'."""
EVENT_TYPE_PATTERN = r"^[a-z_]+\.[a-z_]+$"


class ContractError(ValueError):
    """A message that breaks the contract; ``reason`` says how, for the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EventData(BaseModel):
    """Base of every event's ``data``: strict about unknown fields so drift is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1
    summary: ClassVar[str] = ""


D = TypeVar("D", bound=EventData)

_REGISTRY: dict[tuple[str, int], type[EventData]] = {}


def register(model: type[D]) -> type[D]:
    """Class decorator: make an event data model known to :func:`parse_event`."""
    key = (model.event_type, model.event_version)
    if key in _REGISTRY:
        raise RuntimeError(f"event {key} registered twice")
    _REGISTRY[key] = model
    return model


def event_types() -> dict[tuple[str, int], type[EventData]]:
    """Return every registered ``(type, version)`` and its data model."""
    return dict(sorted(_REGISTRY.items()))


class Envelope(BaseModel, Generic[D]):
    """One domain event as it travels on the bus."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(description="Unique per event; consumers dedupe on it.")
    type: str = Field(pattern=EVENT_TYPE_PATTERN, description="<aggregate>.<event>")
    version: int = Field(ge=1)
    occurred_at: datetime = Field(
        description="When it happened (FreeSWITCH's Event-Date-Timestamp where there is one)."
    )
    tenant: str = Field(pattern=TENANT_PATTERN)
    call_id: str | None = None
    agent_id: str | None = None
    data: D

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone")
        return value

    def to_json(self) -> bytes:
        """Serialise for the wire."""
        return self.model_dump_json().encode()


@functools.cache
def envelope_of(model: type[EventData]) -> Any:
    """Return ``Envelope[model]``, built once per event class (pydantic's lookup costs per call)."""
    return Envelope[model]  # type: ignore[valid-type]


def routing_key(event: Envelope[Any]) -> str:
    """Return the bus routing key ``<tenant>.<aggregate>.<event>``."""
    return f"{event.tenant}.{event.type}"


def make_event(
    data: D,
    *,
    tenant: str,
    occurred_at: datetime | None = None,
    call_id: str | None = None,
    agent_id: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Envelope[D]:
    """Wrap event data in a new envelope; ``occurred_at`` defaults to now (UTC)."""
    envelope: Envelope[D] = envelope_of(type(data))(
        id=event_id or uuid.uuid4(),
        type=data.event_type,
        version=data.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        tenant=tenant,
        call_id=call_id,
        agent_id=agent_id,
        data=data,
    )
    return envelope


class EncodedEvent(NamedTuple):
    """An event ready for the wire: its id, routing key and JSON body."""

    id: uuid.UUID
    routing_key: str
    body: bytes


@functools.cache
def _tenant_checked(tenant: str) -> bytes:
    """Return the tenant as JSON, refusing one the envelope would refuse (checked once each)."""
    if re.fullmatch(TENANT_PATTERN, tenant) is None:
        raise ContractError(f"tenant {tenant!r} does not match {TENANT_PATTERN}")
    return to_json(tenant)


@functools.cache
def _head_of(model: type[EventData]) -> tuple[bytes, str]:
    """Return the envelope's ``type`` and ``version`` members as JSON and the event type,
    refusing a type or version the envelope would refuse (checked once per model)."""
    if re.fullmatch(EVENT_TYPE_PATTERN, model.event_type) is None or model.event_version < 1:
        raise ContractError(f"event type {model.event_type!r} v{model.event_version} is invalid")
    return b'","type":%b,"version":%d,"occurred_at":' % (
        to_json(model.event_type),
        model.event_version,
    ), model.event_type


def encode_event(
    data: EventData,
    *,
    tenant: str,
    occurred_at: datetime,
    call_id: str | None = None,
    agent_id: str | None = None,
    event_id: uuid.UUID | None = None,
) -> EncodedEvent:
    """Encode ``data`` in a new envelope, byte for byte as ``make_event(...).to_json()`` would.

    For a hot path whose data model is already validated: it skips building and validating
    the envelope model (pydantic's generic envelope costs more than the data it wraps) and
    writes the envelope's fixed members directly around the data's own serialisation.
    """
    if occurred_at.tzinfo is None:
        raise ContractError("occurred_at must carry a time zone")
    event_id = event_id or uuid.uuid4()
    head, event_type = _head_of(type(data))
    body = b'{"id":"%b%b%b,"tenant":%b,"call_id":%b,"agent_id":%b,"data":%b}' % (
        str(event_id).encode(),
        head,
        to_json(occurred_at),
        _tenant_checked(tenant),
        to_json(call_id),
        to_json(agent_id),
        data.__pydantic_serializer__.to_json(data),
    )
    return EncodedEvent(event_id, f"{tenant}.{event_type}", body)


_HEAD_FIELDS = ("id", "type", "version", "occurred_at", "tenant", "call_id", "agent_id", "data")


def parse_event(raw: bytes | str) -> Envelope[EventData]:
    """Parse and validate a message from the bus, or raise :class:`ContractError`."""
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ContractError("not a JSON object")
    type_, version = doc.get("type"), doc.get("version")
    known = isinstance(type_, str) and isinstance(version, int)
    model = _REGISTRY.get((type_, version)) if known else None  # type: ignore[arg-type]
    if model is None:
        raise ContractError(f"unknown event type/version: {type_!r} v{version!r}")
    unknown = set(doc) - set(_HEAD_FIELDS)
    if unknown:
        raise ContractError(f"unknown envelope fields: {sorted(unknown)}")
    try:
        validated: Envelope[EventData] = envelope_of(model).model_validate(doc)
    except ValidationError as exc:
        raise ContractError(f"schema: {_brief(exc)}") from None
    return validated


def _brief(exc: ValidationError) -> str:
    """Summarise a validation error in one line for a header."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}")
    return re.sub(r"\s+", " ", "; ".join(parts))
