"""The README keeps its promises: the two commands, and every setting in the configuration table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from cc_common.settings import ENV_PREFIX
from cc_platform.services import SERVICES

README = Path(__file__).resolve().parents[1] / "README.md"


def table_variables() -> set[str]:
    return set(re.findall(r"^\| `(CC_[A-Z0-9_]+)` \|", README.read_text(), flags=re.M))


def test_the_two_commands_come_first() -> None:
    text = README.read_text()
    assert text.index("make run") < text.index("## Architecture")
    assert text.index("make test") < text.index("## Architecture")


@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_setting_of_every_service_is_documented(spec: object) -> None:
    settings_cls: type[BaseSettings] = spec.settings_cls  # type: ignore[attr-defined]
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in settings_cls.model_fields}
    assert expected <= table_variables()
