"""The routing core stays pure: import-linter's contract forbids every I/O import in core/."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

CONFIG = Path(__file__).resolve().parents[1] / "importlinter.ini"


def test_the_core_imports_nothing_that_does_io() -> None:
    assert lint_imports(config_filename=str(CONFIG)) == 0
