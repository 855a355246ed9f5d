"""``python -m cc_crm_api``: serve the crm-api service (or ``migrate`` its schema)."""

from cc_common.serve import serve_main
from cc_crm_api.adapters.db import SCHEMA
from cc_crm_api.app import create_app
from cc_crm_api.settings import CrmApiSettings

if __name__ == "__main__":
    serve_main(CrmApiSettings, create_app, schema=SCHEMA)
