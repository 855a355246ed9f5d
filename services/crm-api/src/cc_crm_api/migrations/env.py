"""Alembic environment for the crm-api schema; run through cc_common.db.migrations."""

from cc_common.db.migrations import run_env
from cc_crm_api.adapters.db import SCHEMA, metadata

run_env(metadata, SCHEMA)
