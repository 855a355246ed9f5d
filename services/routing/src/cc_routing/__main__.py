"""``python -m cc_routing``: serve the routing service (or ``migrate`` its schema)."""

from cc_common.serve import serve_main
from cc_routing.adapters.db import SCHEMA
from cc_routing.app import create_app
from cc_routing.settings import RoutingSettings

if __name__ == "__main__":
    serve_main(RoutingSettings, create_app, schema=SCHEMA)
