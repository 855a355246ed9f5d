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
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""Tenants appear in routing keys, so they must not contain '.', '*' or '#'."""


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
    type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="<aggregate>.<event>")
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
