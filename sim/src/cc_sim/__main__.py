"""``python -m cc_sim``: run the FreeSWITCH simulator in the foreground until interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from cc_sim.config import from_args, from_env
from cc_sim.simulator import Simulator


async def serve(argv: Sequence[str] | None = None) -> None:
    """Start the simulator with env + CLI settings and wait for SIGINT/SIGTERM."""
    config = from_args(argv, from_env())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Simulator(config) as sim:
        print(
            f"cc-sim: FreeSWITCH simulator on {config.esl_host}:{sim.esl_port} "
            f"(password {'*' * len(config.esl_password)}, x{config.time_compression:g} time)",
            flush=True,
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; bad settings exit with status 2 and the reason."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    try:
        asyncio.run(serve(argv))
    except ValueError as exc:
        print(f"cc-sim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
