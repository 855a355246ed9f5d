"""Write the contracts as files: one JSON Schema per event version, and an AsyncAPI document.

``python -m cc_proto.export`` rewrites ``proto/schemas/`` and ``proto/asyncapi.yaml``;
``--check`` only compares and exits 1 when the checked-in files drifted from the models.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from cc_proto.envelope import Envelope, event_types

PROTO_DIR = Path(__file__).resolve().parents[2]
SCHEMA_DIR = PROTO_DIR / "schemas"
ASYNCAPI_FILE = PROTO_DIR / "asyncapi.yaml"


def schema_file_name(event_type: str, version: int) -> str:
    """Return the file name holding one event version's schema."""
    return f"{event_type}.v{version}.json"


def event_schemas() -> dict[str, dict[str, Any]]:
    """Return every event's full envelope schema, keyed by file name."""
    schemas = {}
    for (event_type, version), model in event_types().items():
        schema = Envelope[model].model_json_schema()  # type: ignore[valid-type]
        schema["title"] = f"{event_type} v{version}"
        schema["description"] = model.summary
        schema["properties"]["type"]["const"] = event_type
        schema["properties"]["version"]["const"] = version
        schemas[schema_file_name(event_type, version)] = schema
    return schemas


def asyncapi_document() -> dict[str, Any]:
    """Return the AsyncAPI 2.6 description of the event exchange."""
    channels: dict[str, Any] = {}
    for (event_type, version), model in event_types().items():
        name = f"{{tenant}}.{event_type}"
        message = {
            "name": f"{event_type}.v{version}",
            "title": f"{event_type} v{version}",
            "summary": model.summary,
            "contentType": "application/json",
            "payload": {"$ref": f"schemas/{schema_file_name(event_type, version)}"},
        }
        channel = channels.setdefault(
            name,
            {
                "description": f"Routing key of {event_type} events on the cc.events exchange.",
                "parameters": {"tenant": {"$ref": "#/components/parameters/tenant"}},
                "subscribe": {
                    "operationId": f"on_{event_type.replace('.', '_')}",
                    "message": {"oneOf": []},
                },
            },
        )
        channel["subscribe"]["message"]["oneOf"].append(message)
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "Contact center domain events",
            "version": "1.0.0",
            "description": (
                "Events published on the durable topic exchange `cc.events` with routing keys "
                "`<tenant>.<aggregate>.<event>`. Consumers are idempotent by the envelope `id`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "url": "amqp://{host}:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "variables": {"host": {"default": "rabbitmq"}},
            }
        },
        "channels": channels,
        "components": {
            "parameters": {
                "tenant": {"schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}
            }
        },
    }


def rendered() -> dict[Path, str]:
    """Return the content of every generated file, keyed by path."""
    files = {
        SCHEMA_DIR / name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in event_schemas().items()
    }
    files[ASYNCAPI_FILE] = yaml.safe_dump(asyncapi_document(), sort_keys=False, width=100)
    return files


def drift() -> list[str]:
    """Return what differs between the models and the checked-in files (empty when in sync)."""
    expected = rendered()
    problems = [
        f"{path.relative_to(PROTO_DIR)} is out of date"
        for path, text in expected.items()
        if not path.exists() or path.read_text() != text
    ]
    stale = set(SCHEMA_DIR.glob("*.json")) - set(expected)
    problems += [f"{path.relative_to(PROTO_DIR)} has no model any more" for path in sorted(stale)]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Write the files, or with ``--check`` report drift and exit 1."""
    parser = argparse.ArgumentParser(prog="python -m cc_proto.export")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for stale in SCHEMA_DIR.glob("*.json"):
        stale.unlink()
    for path, text in rendered().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
