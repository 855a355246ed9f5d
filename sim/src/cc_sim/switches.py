"""The switches tests run on: the simulator always, a real FreeSWITCH when one is configured.

``CC_TEST_FREESWITCH`` names an ``fs-test-switch`` launcher: a relocatable FreeSWITCH 1.10.12
test build that starts on 127.0.0.1 from a read-only folder (``start --dir W --esl-port P``).
When it is set, tests about FreeSWITCH behaviour run on both switches and compare; a user with
their own launcher of the same interface points the same tests at it.

    with RealSwitch(launcher, work_dir, overlays=[Path("tests/fs-overlay")]) as endpoint:
        client = InboundClient(endpoint.host, endpoint.esl_port, endpoint.password)
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cc_sim.simulator import Simulator

ENV_VAR = "CC_TEST_FREESWITCH"
CERT_CACHE_ENV = "FS_TEST_SWITCH_CERT_CACHE"
PASSWORD = "ClueCon"


def configured_launcher() -> Path | None:
    """Return the real switch's launcher named by ``CC_TEST_FREESWITCH``, or None."""
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    path = Path(value)
    if path.is_dir():
        path = path / "fs-test-switch"
    if not path.is_file():
        raise FileNotFoundError(f"{ENV_VAR}={value!r}: no fs-test-switch launcher there")
    return path


def switch_kinds() -> tuple[str, ...]:
    """Return the switches tests run on: ``("sim",)``, plus ``"real"`` when one is configured."""
    return ("sim", "real") if configured_launcher() is not None else ("sim",)


@dataclass(frozen=True, slots=True)
class SwitchEndpoint:
    """Where a running switch's event socket (and, on the real one, SIP) listens."""

    kind: str
    host: str
    esl_port: int
    password: str = PASSWORD
    sip_port: int | None = None
    sip_ext_port: int | None = None
    work_dir: Path | None = None


@dataclass(slots=True)
class SwitchUnderTest:
    """A running switch for one test: its endpoint, and the simulator or real process behind it."""

    endpoint: SwitchEndpoint
    simulator: Simulator | None = None
    real: RealSwitch | None = None

    @property
    def kind(self) -> str:
        """Return ``"sim"`` or ``"real"``."""
        return self.endpoint.kind


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RealSwitch:
    """One real FreeSWITCH process on loopback, in its own work dir and on free ports."""

    def __init__(
        self,
        launcher: Path,
        work_dir: Path,
        *,
        overlays: Sequence[Path] = (),
        ivr_socket: str | None = None,
        json_cdr_url: str | None = None,
        log_level: str = "info",
    ) -> None:
        self.launcher = launcher
        self.work_dir = work_dir
        self.overlays = [path for path in overlays if path.is_dir()]
        self.ivr_socket = ivr_socket
        self.json_cdr_url = json_cdr_url
        self.log_level = log_level
        self.endpoint: SwitchEndpoint | None = None

    def start(self) -> SwitchEndpoint:
        """Start the switch; return once its event socket accepts and SIP profiles run."""
        esl, sip, sip_ext = free_port(), free_port(), free_port()
        rtp = random.randrange(32000, 60000, 200)
        command = [
            str(self.launcher), "start", "--dir", str(self.work_dir),
            "--esl-port", str(esl), "--password", PASSWORD,
            "--sip-port", str(sip), "--sip-ext-port", str(sip_ext),
            "--rtp-start", str(rtp), "--rtp-end", str(rtp + 198),
            "--log-level", self.log_level,
        ]  # fmt: skip
        for overlay in self.overlays:
            command += ["--conf-overlay", str(overlay)]
        if self.ivr_socket:
            command += ["--ivr-socket", self.ivr_socket]
        if self.json_cdr_url:
            command += ["--json-cdr-url", self.json_cdr_url]
        env = dict(os.environ)
        env.setdefault(CERT_CACHE_ENV, str(Path(tempfile.gettempdir()) / "cc-fs-test-certs"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"fs-test-switch start failed:\n{done.stdout}\n{done.stderr}")
        self.endpoint = SwitchEndpoint(
            "real", "127.0.0.1", esl, PASSWORD, sip, sip_ext, self.work_dir
        )
        return self.endpoint

    def cli(self, command: str) -> str:
        """Run one API command through the launcher's fs_cli; return what it printed."""
        done = subprocess.run(
            [str(self.launcher), "cli", "--dir", str(self.work_dir), "-x", command],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def channel_count(self) -> int:
        """Return how many channels the switch holds now."""
        for line in self.cli("show channels count").splitlines():
            if line.strip().endswith("total."):
                return int(line.split()[0])
        return 0

    def stop(self) -> None:
        """Stop the switch (a clean shutdown, then SIGKILL after 5 s)."""
        if self.endpoint is None:
            return
        subprocess.run(
            [str(self.launcher), "stop", "--dir", str(self.work_dir)],
            capture_output=True,
            check=False,
        )
        self.endpoint = None

    def __enter__(self) -> SwitchEndpoint:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
