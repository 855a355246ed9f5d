"""What `make run` starts, proven end to end: the demo day plays, the wallboard shows it live.

One platform (``python -m cc_platform``, exactly what ``make run`` runs) plays a short day of the
demo center in compressed time on free ports: callers park on the simulator, routing offers them
over ESL, events reach metrics over the bus. Checked: every queue offered, answered and abandoned
calls, the KPIs moved, the wallboard's live stream carries them, and a real headless Chromium
draws the wallboard in English and Simplified Chinese with figures that change (screenshots kept
under ``tmp/artefacts/wallboard``). Then ``make run`` itself under a terminal: Ctrl-C exits 0,
nothing is left running and every port is free again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cc_platform.center import DEMO_CENTER
from cc_platform.ports import free_offset, platform_ports, port_free
from cc_platform.services import SERVICES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = Path(os.environ.get("CC_TEST_ARTEFACTS", ROOT / "tmp" / "artefacts")) / "wallboard"


def short_day(path: Path) -> Path:
    """The demo center, its day cut to 08:00-09:30 with every queue busy and callers impatient."""
    spec = yaml.safe_load(DEMO_CENTER.read_text())
    spec["center"]["closes"] = "09:30"
    spec["traffic"]["profile"] = [["08:00", 1.0], ["09:30", 1.0]]
    for queue in spec["traffic"]["queues"].values():
        queue.update(calls_per_day=45, patience="lognormal:40,35")
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    return path


class Platform:
    """``python -m cc_platform`` in a subprocess, on free ports, with its own var directory."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.offset = free_offset()
        self.log = (work / "platform.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cc_platform"],
            env={
                **os.environ,
                "CC_PLATFORM_PORT_OFFSET": str(self.offset),
                "CC_DATABASE_URL": f"sqlite+aiosqlite:///{work}/cc.sqlite3",
                "CC_AMQP_URL": "memory://local",
                "CC_PLATFORM_VAR": str(work),
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=work,
        )
        self.metrics = f"http://127.0.0.1:{8104 + self.offset}"

    def banner(self, within: float = 90) -> str:
        """Wait for the start-up banner (printed once every service is ready) and return it."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        text = b""
        deadline = time.monotonic() + within
        while b"Stop with Ctrl-C." not in text:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no banner; exit {self.process.poll()}: {self.tail()}")
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                text += os.read(fd, 65536)
        return text.decode()

    def tail(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.log.close()
        return code


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    work = tmp_path_factory.mktemp("demo-day")
    env = {
        "CC_PLATFORM_CENTER": str(short_day(work / "center.yaml")),
        "CC_PLATFORM_DAY_MINUTES": "1",
        "CC_LOG_LEVEL": "WARNING",
    }
    running = Platform(work, env)
    try:
        running.banner_text = running.banner()  # type: ignore[attr-defined]
        yield running
    finally:
        code = running.stop()
    assert code == 0, running.tail()


def snapshot(platform: Platform) -> dict[str, Any]:
    response = httpx.get(f"{platform.metrics}/wallboard/snapshot", timeout=5)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def stream_snapshots(platform: Platform, count: int) -> list[dict[str, Any]]:
    """Read ``count`` snapshot events from the wallboard's live stream."""
    found: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{platform.metrics}/wallboard/stream", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line.removeprefix("data: ")))
                if len(found) == count:
                    break
    return found


def test_the_banner_says_where_to_look_and_how_to_stop(platform: Platform) -> None:
    text: str = platform.banner_text  # type: ignore[attr-defined]
    assert f"wallboard   {platform.metrics}/wallboard" in text
    for spec in SERVICES:
        url = f"http://127.0.0.1:{spec.settings_cls.default_http_port + platform.offset}"
        assert f"API docs {url}/docs" in text
        assert f"metrics {url}/metrics" in text
        assert httpx.get(f"{url}/docs", timeout=5).status_code == 200
    assert "Stop with Ctrl-C." in text


def test_a_demo_day_offers_answers_and_loses_calls_in_every_queue(platform: Platform) -> None:
    queues = set(yaml.safe_load(DEMO_CENTER.read_text())["queues"])
    deadline = time.monotonic() + 100
    while True:
        board = snapshot(platform)
        by_name = {q["name"]: q for q in board["queues"]}
        busy = {
            name
            for name, q in by_name.items()
            if q["offered"] > 0 and q["answered"] > 0 and q["abandoned"] > 0
        }
        if busy >= queues:
            break
        assert time.monotonic() < deadline, f"queues still quiet: {board['queues']}"
        time.sleep(2)
    assert set(by_name) == queues
    total = board["total"]
    assert total["offered"] >= sum(q["offered"] for q in by_name.values()) > 0
    assert 0 < total["service_level"] <= 1
    assert 0 < total["abandon_rate"] < 1
    assert total["asa"] > 0
    assert any(i["offered"] for i in board["intervals"])
    assert {a["state"] for a in board["agents"]} - {"logged_out"}
    assert {a["team"] for a in board["agents"]} <= {"sales", "support", "mandarin-desk"}
    # The same figures in Prometheus: the KPIs' counters moved in every queue.
    exposition = httpx.get(f"{platform.metrics}/metrics", timeout=5).text
    for name in queues:
        offered = _sample(exposition, f'cc_calls_offered_total{{queue="{name}"}}')
        assert offered >= 1, name
    # The live stream carries them, and keeps moving (clock, waits, calls).
    first, *_, last = stream_snapshots(platform, 3)
    assert {q["name"] for q in first["queues"]} == queues
    assert sum(q["offered"] for q in first["queues"]) >= sum(q["offered"] for q in by_name.values())
    assert last["now"] > first["now"]
    assert "NaN" not in json.dumps(last)


def _sample(exposition: str, series: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exposed")


# --- a real browser ------------------------------------------------------------------------------


def chromium() -> str:
    """Return Debian's chromium (installing it, and a font with Chinese glyphs, if missing)."""
    found = shutil.which("chromium")
    fonts = Path("/usr/share/fonts/truetype/wqy").exists()
    if found is None or not fonts:
        subprocess.run(
            [
                *("apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq"),
                *("chromium", "fonts-wqy-zenhei"),
            ],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
        )
        found = shutil.which("chromium")
    assert found is not None
    return found


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (no extra libraries)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ids = 0
        self.session: str | None = None

    @classmethod
    async def start(cls, profile: Path) -> Browser:
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1600,1300",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        # DevTools reads commands on fd 3 and writes replies on fd 4: our pipes, through sh.
        process = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null 2>/dev/null',
            chromium(),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        return cls(process)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.ids += 1
        message: dict[str, Any] = {"id": self.ids, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        await self.process.stdin.drain()
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readuntil(b"\0"), 30)
            reply = json.loads(raw[:-1])
            if reply.get("id") == self.ids:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply["result"]
                return result

    async def open(self, url: str) -> None:
        target = await self.call("Target.createTarget", url=url)
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self.session = attached["sessionId"]
        await self.call("Page.enable")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not await self.evaluate(expression):
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            await asyncio.sleep(0.2)

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        try:
            await self.call("Browser.close")
        except (AssertionError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            self.process.kill()
        await self.process.wait()


FIGURES = """(() => ({
  version: Number(document.body.dataset.version || -1),
  clock: document.getElementById('clock').textContent,
  title: document.querySelector('h1').textContent,
  queues: [...document.querySelectorAll('[data-queue]')].map(q => ({
    name: q.dataset.queue,
    offered: q.querySelector('[data-figure=offered] .value').textContent,
    service_level: q.querySelector('[data-figure=service_level] .value').textContent,
  })),
  offered: document.querySelector('#totals [data-figure=offered] .value').textContent,
  bars: document.querySelectorAll('#chart-volume rect').length,
  agents: document.querySelectorAll('#agents tr').length,
}))()"""


async def test_a_real_browser_shows_the_wallboard_live_in_two_languages(
    platform: Platform, tmp_path: Path
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    browser = await Browser.start(tmp_path / "profile")
    try:
        await browser.open(f"{platform.metrics}/wallboard")
        await browser.wait_for("document.body.dataset.state === 'live'")
        await browser.wait_for("document.querySelectorAll('[data-queue]').length === 4")
        before = await browser.evaluate(FIGURES)
        await browser.screenshot(ARTEFACTS / "wallboard-1.png")
        await asyncio.sleep(4)
        after = await browser.evaluate(FIGURES)
        await browser.screenshot(ARTEFACTS / "wallboard-2.png")
        await browser.evaluate("document.getElementById('lang').click()")
        await browser.wait_for("document.documentElement.lang === 'zh-CN'")
        chinese = await browser.evaluate(FIGURES)
        await browser.screenshot(ARTEFACTS / "wallboard-zh.png")
    finally:
        await browser.close()

    assert before["title"] == "Contact center wallboard"
    assert chinese["title"] == "呼叫中心实时看板"
    for figures in (before, after):
        assert int(figures["offered"]) > 0
        assert all(q["offered"].isdigit() for q in figures["queues"])
        assert figures["bars"] > 0
        assert figures["agents"] > 0
    assert after["version"] > before["version"] or after["clock"] != before["clock"]
    assert (after["offered"], after["clock"]) != (before["offered"], before["clock"])
    for name in ("wallboard-1.png", "wallboard-2.png", "wallboard-zh.png"):
        assert (ARTEFACTS / name).stat().st_size > 20_000


# --- make run under a terminal, then Ctrl-C ------------------------------------------------------


def session_processes(session: int) -> list[int]:
    """Return the processes still in a terminal session."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def test_make_run_then_ctrl_c_exits_0_and_leaves_nothing(tmp_path: Path) -> None:
    offset = free_offset()
    env = {
        **os.environ,
        "CC_PLATFORM_PORT_OFFSET": str(offset),
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cc.sqlite3",
        "CC_AMQP_URL": "memory://local",
        "CC_PLATFORM_VAR": str(tmp_path),
        "CC_LOG_LEVEL": "WARNING",
    }
    pid, terminal = pty.fork()
    if pid == 0:  # the child: `make run` in the repository, on the terminal
        os.chdir(ROOT)
        os.execvpe("make", ["make", "--no-print-directory", "run"], env)
    output = b""
    try:
        deadline = time.monotonic() + 120
        while b"Stop with Ctrl-C." not in output:
            assert time.monotonic() < deadline, output.decode(errors="replace")[-3000:]
            ready, _, _ = select.select([terminal], [], [], 0.5)
            if ready:
                output += os.read(terminal, 65536)
        os.write(terminal, b"\x03")  # what Ctrl-C types: the terminal signals its foreground
        deadline = time.monotonic() + 60
        while True:
            ready, _, _ = select.select([terminal], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:
                    chunk = b""
                output += chunk
                if not chunk:
                    break
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, output.decode(errors="replace")[-3000:]
        if not done:
            done, status = os.waitpid(pid, 0)
    finally:
        os.close(terminal)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    assert "make: ***" not in text, text[-3000:]
    assert session_processes(pid) == []
    assert all(port_free(port) for port in platform_ports(offset))
