"""The routing core stays pure: import-linter's contract forbids every I/O import in core/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "importlinter.ini"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_core_imports_nothing_that_does_io() -> None:
    # In a process of its own: import-linter disables every logger that exists when it runs,
    # which would silence the services under test in the tests that follow.
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(CONFIG), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
        cwd=CONFIG.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout
