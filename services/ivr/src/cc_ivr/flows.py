"""Flows from YAML files: the sample set ships with the service, operators keep theirs in git."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cc_ivr.core import Flow, FlowError, InvalidFlow, parse_flow

SAMPLES = Path(__file__).parent / "samples"


def read_document(text: str) -> dict[str, Any]:
    """Parse one YAML (or JSON) flow document into a plain mapping, or raise InvalidFlow."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidFlow([FlowError(None, "document", f"not YAML: {exc}")]) from None
    if not isinstance(document, dict):
        raise InvalidFlow([FlowError(None, "document", "a flow is a mapping at the top level")])
    return document


def load_flow(path: Path) -> Flow:
    """Load and validate one flow file."""
    return parse_flow(read_document(path.read_text()))


def sample_documents() -> dict[str, dict[str, Any]]:
    """Return the sample flows as documents, by name."""
    return {p.stem: read_document(p.read_text()) for p in sorted(SAMPLES.glob("*.yaml"))}
