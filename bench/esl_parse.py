"""ESL client parse rate: frames cut from socket-sized reads, decoded into typed events.

Feeds the real FreeSWITCH session captures (../shared/esl-transcripts) through the same path the
reader task uses (FrameParser in 64 KiB reads, then event_from_frame) and touches what handlers
read first (name, Unique-ID, timestamp). Prints one JSON line per format, in events/s.
"""

from __future__ import annotations

import json
import time

from cc_common.esl.event import event_from_frame
from cc_common.esl.protocol import FrameParser
from cc_common.esl.transcripts import transcripts_root

READ = 64 * 1024
SECONDS_PER_FORMAT = 5.0


def report(name: str, value: float, unit: str) -> None:
    print(json.dumps({"bench": name, "value": round(value, 1), "unit": unit}), flush=True)


def session_files(fmt: str) -> list[bytes]:
    """Return every whole-session capture whose events came in this format."""
    wanted = f"text/event-{fmt}"
    chosen = []
    for path in sorted(transcripts_root().rglob("session.recv.raw")):
        data = path.read_bytes()
        kinds = {f.content_type for f in FrameParser().feed(data)}
        if wanted in kinds:
            chosen.append(data)
    return chosen


def parse_once(data: bytes) -> int:
    parser = FrameParser()
    events = 0
    for offset in range(0, len(data), READ):
        for frame in parser.feed(data[offset : offset + READ]):
            if frame.content_type.startswith("text/event-"):
                event = event_from_frame(frame)
                _ = (event.name, event.unique_id, event.timestamp)
                events += 1
    if parser.buffered:
        raise RuntimeError("capture did not end on a message boundary")
    return events


def rate(files: list[bytes]) -> float:
    for data in files:  # warm up
        parse_once(data)
    events = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS_PER_FORMAT:
        for data in files:
            events += parse_once(data)
    return events / elapsed


def main() -> None:
    for fmt in ("plain", "json"):
        report(f"esl_parse_{fmt}", rate(session_files(fmt)), "events/s")


if __name__ == "__main__":
    main()
