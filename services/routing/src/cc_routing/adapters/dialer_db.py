"""The outbound dialer's tables, in the routing schema (on routing's metadata).

Campaigns are JSON documents validated by the API on the way in; leads are rows (millions per
list), imported from uploads kept as chunks so an import can resume after a crash where its last
committed batch ended.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from cc_routing.adapters.db import metadata

campaigns = Table(
    "dialer_campaigns",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("config", JSON, nullable=False),
    Column("state", String(20), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

lead_lists = Table(
    "dialer_lists",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("list_id", String(200), primary_key=True),
    Column("campaign", String(200), nullable=False),
    Column("default_region", String(2), nullable=False),
    Column("default_timezone", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

leads = Table(
    "dialer_leads",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("list_id", String(200), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("lead_id", String(64), nullable=False, unique=True),
    Column("external_id", String(200), nullable=True),
    Column("region", String(2), nullable=True),
    Column("timezones", String(400), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("import_id", String(64), nullable=True),
    Column("line", Integer, nullable=True),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_outcome", String(20), nullable=True),
    Column("callback_agent", String(200), nullable=True),
    Index("ix_dialer_leads_due", "tenant", "status", "next_attempt_at"),
)
"""status: importing (invisible until its import is done), ready, dialing, done, dnc, exhausted."""

imports = Table(
    "dialer_imports",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("import_id", String(64), primary_key=True),
    Column("list_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("bytes_total", BigInteger, nullable=False),
    Column("bytes_done", BigInteger, nullable=False),
    Column("lines_done", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("encoding", String(20), nullable=False),
    Column("error", String(500), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""status: uploading, importing, done, failed (the whole list refused, e.g. no header)."""

import_chunks = Table(
    "dialer_import_chunks",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("import_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

import_problems = Table(
    "dialer_import_problems",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("import_id", String(64), primary_key=True),
    Column("line", Integer, primary_key=True, autoincrement=False),
    Column("reason", String(500), nullable=False),
)

do_not_call = Table(
    "dialer_do_not_call",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("number", String(20), primary_key=True),
    Column("source", String(50), nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)
