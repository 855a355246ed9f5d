"""The checked-in JSON Schemas and AsyncAPI document must match the models."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from cc_proto import event_types
from cc_proto.export import ASYNCAPI_FILE, SCHEMA_DIR, drift, schema_file_name

from .test_proto_envelope import EXAMPLES, wire


def test_checked_in_contract_files_match_the_models() -> None:
    assert drift() == [], "run `make contracts` (python -m cc_proto.export) and commit the result"


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_each_schema_accepts_a_valid_event_and_rejects_a_broken_one(event_type: str) -> None:
    schema = json.loads((SCHEMA_DIR / schema_file_name(event_type, 1)).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    good = json.loads(wire(event_type, EXAMPLES[event_type]))
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "type": "something.else"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "data": {**good["data"], "unexpected": 1}}, schema)


def test_asyncapi_lists_every_event_with_its_schema() -> None:
    doc = yaml.safe_load(ASYNCAPI_FILE.read_text())
    assert doc["asyncapi"].startswith("2.")
    listed = {
        message["payload"]["$ref"]
        for channel in doc["channels"].values()
        for message in channel["subscribe"]["message"]["oneOf"]
    }
    expected = {f"schemas/{schema_file_name(t, v)}" for t, v in event_types()}
    assert listed == expected
    for ref in listed:
        assert (ASYNCAPI_FILE.parent / ref).exists()
