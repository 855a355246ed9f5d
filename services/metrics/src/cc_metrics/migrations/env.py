"""Alembic environment for the metrics schema; run through cc_common.db.migrations."""

from cc_common.db.migrations import run_env
from cc_metrics.adapters.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
