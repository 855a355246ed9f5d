"""``python -m cc_ivr``: serve the ivr service (or ``migrate`` its schema)."""

from cc_common.serve import serve_main
from cc_ivr.adapters.db import SCHEMA
from cc_ivr.app import create_app
from cc_ivr.settings import IvrSettings

if __name__ == "__main__":
    serve_main(IvrSettings, create_app, schema=SCHEMA)
