"""``python -m cc_metrics.monitoring [--check] [DIR]``: write or check deploy/k8s/monitoring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cc_metrics.core.thresholds import Thresholds
from cc_metrics.monitoring.files import drift, write

DEFAULT_DIR = Path("deploy/k8s/monitoring")


def main(argv: list[str] | None = None) -> int:
    """Write the generated monitoring files, or with ``--check`` report drift and fail."""
    parser = argparse.ArgumentParser(prog="python -m cc_metrics.monitoring")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    parser.add_argument("--service-level-seconds", type=int, default=20)
    parser.add_argument("--service-level-target", type=float, default=0.80)
    args = parser.parse_args(argv)
    thresholds = Thresholds(
        service_level_seconds=args.service_level_seconds,
        service_level_target=args.service_level_target,
    )
    if args.check:
        stale = drift(args.directory, thresholds)
        for path in stale:
            print(f"stale: {args.directory / path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.directory, thresholds):
        print(args.directory / path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
