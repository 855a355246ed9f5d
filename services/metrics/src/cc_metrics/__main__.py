"""``python -m cc_metrics``: serve the metrics service (or ``migrate`` its schema)."""

from cc_common.serve import serve_main
from cc_metrics.adapters.db import SCHEMA
from cc_metrics.app import create_app
from cc_metrics.settings import MetricsSettings

if __name__ == "__main__":
    serve_main(MetricsSettings, create_app, schema=SCHEMA)
