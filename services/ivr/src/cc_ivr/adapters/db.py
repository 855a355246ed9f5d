"""The ivr service's tables, all in its own schema.

Flow versions are immutable documents; ``flows`` points at the active version of each flow and
``flow_activations`` keeps the order versions went live in, so a roll back knows what was live
before. ``numbers`` binds dialled numbers to flows.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table

from cc_common.db import kit_tables

SCHEMA = "ivr"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)

flow_versions = Table(
    "flow_versions",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

flows = Table(
    "flows",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("active_version", Integer, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

flow_activations = Table(
    "flow_activations",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=False),
)

numbers = Table(
    "numbers",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("number", String(32), primary_key=True),
    Column("flow", String(63), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
