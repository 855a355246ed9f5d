"""The ivr service's tables, all in its own schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from cc_common.db import kit_tables

SCHEMA = "ivr"
metadata = MetaData(schema=SCHEMA)
kit = kit_tables(metadata, SCHEMA)
