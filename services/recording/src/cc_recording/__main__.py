"""``python -m cc_recording``: serve the recording service (or ``migrate`` its schema)."""

from cc_common.serve import serve_main
from cc_recording.adapters.db import SCHEMA
from cc_recording.app import create_app
from cc_recording.settings import RecordingSettings

if __name__ == "__main__":
    serve_main(RecordingSettings, create_app, schema=SCHEMA)
