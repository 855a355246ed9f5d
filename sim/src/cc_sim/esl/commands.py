"""mod_event_socket's commands after auth, with its exact reply texts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from cc_common.esl.protocol import Frame
from cc_sim.engine.session import Message
from cc_sim.esl.listener import new_job_uuid

if TYPE_CHECKING:
    from cc_sim.esl.listener import Listener


async def dispatch(listener: Listener, frame: Frame, line: str, lower: str) -> None:
    """Handle one authenticated command line (headers and body in ``frame``)."""
    if lower.startswith("filter "):
        _filter(listener, line[7:])
        return
    if listener.session is not None and lower.startswith("resume"):
        listener.session.channel.set_var("socket_resume", "true")
        listener.reply("+OK")
        return
    if (listener.session is not None or lower.startswith("myevents ")) and _session_commands(
        listener, line, lower
    ):
        return
    if lower.startswith("divert_events"):
        _divert(listener, line[13:])
        return
    if lower.startswith("sendmsg"):
        _sendmsg(listener, frame, line[7:])
        return
    if listener.outbound and not listener.full:
        listener.reply("-ERR command not found")
        return
    if lower.startswith("sendevent"):
        _sendevent(listener, frame, line[9:])
        return
    if lower.startswith("api "):
        await _api(listener, line[4:])
        return
    if lower.startswith("bgapi "):
        _bgapi(listener, frame, line[6:])
        return
    if lower.startswith("log"):
        _log(listener, line[3:])
        return
    if lower.startswith("linger"):
        _linger(listener, line)
        return
    if lower.startswith("nolinger"):
        if listener.session is None:
            listener.reply("-ERR not controlling a session")
        else:
            listener.linger = False
            listener.reply("+OK will not linger")
        return
    if lower.startswith("nolog"):
        if listener.logging:
            listener.logging = False
            listener.reply("+OK no longer logging")
        else:
            listener.reply("-ERR not loging")
        return
    if lower.startswith("event"):
        _event(listener, line)
        return
    if lower.startswith("nixevent"):
        words = line[8:].split()
        if not listener.subscription.unsubscribe(words):
            listener.reply("-ERR no keywords supplied")
        else:
            listener.reply("+OK events nixed")
        return
    if lower.startswith("noevents"):
        listener.outbox.clear()
        if listener.subscription.clear():
            listener.reply("+OK no longer listening for events")
        else:
            listener.reply("-ERR not listening for events")
        return
    listener.reply("-ERR command not found")


def _filter(listener: Listener, rest: str) -> None:
    text = rest.strip("\r\n").lstrip(" ")
    name, _, value = text.partition(" ")
    sub = listener.subscription
    if name.lower() == "delete" and value:
        header, _, header_value = value.partition(" ")
        sub.delete_filter(header, header_value if header_value else None)
        listener.reply(f"+OK filter deleted. [{header}][{header_value}]")
        return
    if value:
        if name.lower() == "add":
            name, _, value = value.partition(" ")
        sub.add_filter(name, value)
        listener.reply(f"+OK filter added. [{name}]=[{value}]")
        return
    listener.reply("-ERR invalid syntax")


def _session_commands(listener: Listener, line: str, lower: str) -> bool:
    """Commands only meaningful with a controlled session (or myevents <uuid>)."""
    session = listener.session
    if lower.startswith("connect"):
        listener.connected = True
        listener.send_raw(listener.channel_data())
        if listener.on_connected is not None:
            listener.on_connected()
        return True
    if lower.startswith("getvar"):
        _, _, name = line.partition(" ")
        value = session.channel.get_var(name.strip()) if session else None
        listener.reply(value or "")
        return True
    if lower.startswith("myevents"):
        if listener.subscription.myevents:
            listener.reply("-ERR aready enabled.")
            return True
        words = line.split()
        fmt_words = [w.lower() for w in words[1:]]
        if session is None:
            uuid = words[1] if len(words) > 1 else ""
            target = listener.sw.get(uuid)
            if target is None and len(words) > 2:
                listener.reply("-ERR invalid uuid")
                return True
            listener.subscription.bind_myevents(uuid or None)
        else:
            listener.subscription.bind_myevents(session.uuid)
        if "json" in fmt_words:
            listener.format = "json"
        elif "xml" in fmt_words:
            listener.format = "xml"
        elif "plain" in fmt_words:
            listener.format = "plain"
        listener.reply("+OK Events Enabled")
        return True
    return False


def _divert(listener: Listener, rest: str) -> None:
    if listener.session is None:
        listener.reply("-ERR not controlling a session.")
        return
    value = rest.strip()
    if not value:
        listener.reply("-ERR missing value.")
        return
    if value.lower() == "on":
        listener.session.channel.flags.add("divert_events")
        listener.reply("+OK events diverted")
    else:
        listener.session.channel.flags.discard("divert_events")
        listener.reply("+OK events not diverted")


def message_from_frame(frame: Frame) -> Message:
    """Turn a sendmsg frame into the session message switch_ivr_parse_event reads."""

    def header(name: str) -> str | None:
        return frame.get(name)

    body = frame.body.decode("utf-8", errors="replace")
    arg = header("execute-app-arg")
    if arg is None and body and (header("content-type") or "").lower() == "text/plain":
        arg = body
    loops_text = header("loops") or "1"
    try:
        loops = int(loops_text)
    except ValueError:
        loops = 1
    return Message(
        command=(header("call-command") or "").strip().lower(),
        app=(header("execute-app-name") or "").strip(),
        arg=arg or "",
        loops=loops,
        event_lock=(header("event-lock") or "").lower() == "true",
        event_uuid=header("Event-UUID"),
        headers=[(name, value) for name, value in frame.headers],
        body=body,
        hangup_cause=header("hangup-cause") or "NORMAL_CLEARING",
    )


def _sendmsg(listener: Listener, frame: Frame, rest: str) -> None:
    uuid = rest.strip() or (frame.get("session-id") or "")
    session = listener.session
    if session is not None and (not uuid or uuid == session.uuid):
        listener.queue_private(message_from_frame(frame))
        listener.reply("+OK")
        return
    target = listener.sw.get(uuid) if uuid else None
    if target is None:
        listener.reply(f"-ERR invalid session id [{uuid or '(null)'}]")
        return
    message = message_from_frame(frame)
    listener.sw.scheduler.call_soon(lambda: listener.sw.deliver(target, message))
    listener.reply("+OK")


def _sendevent(listener: Listener, frame: Frame, rest: str) -> None:
    from cc_sim.esl.subscription import event_name

    event_uuid = new_job_uuid()
    word = rest.strip()
    name = event_name(word) if word else None
    subclass = frame.get("Event-Subclass") if name == "CUSTOM" else None
    headers = [(k, v) for k, v in frame.headers if k != "Command"]
    headers.append(("Event-UUID", event_uuid))
    body = frame.body.decode("utf-8", errors="replace")
    if body:
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body.encode()))))
    listener.sw.fire(name or "CUSTOM", post=headers, body=body, subclass=subclass)
    listener.reply(f"+OK {event_uuid}")


async def _api(listener: Listener, rest: str) -> None:
    command, _, argument = rest.strip("\r\n").partition(" ")
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def done(text: str) -> None:
        if not future.done():
            future.set_result(text)

    listener.sw.api.execute(command, argument if argument else None, done)
    text = await future
    listener.api_response(text)


def _bgapi(listener: Listener, frame: Frame, rest: str) -> None:
    command, _, argument = rest.strip("\r\n").partition(" ")
    job = frame.get("Job-UUID") or new_job_uuid()
    listener.reply_headers([("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job)])
    owner = listener.session.uuid if listener.session is not None else ""

    def done(text: str) -> None:
        post = [("Job-UUID", job)]
        if owner:
            post.append(("Job-Owner-UUID", owner))
        post.append(("Job-Command", command))
        if argument:
            post.append(("Job-Command-Arg", argument))
        if text:
            post.append(("Content-Length", str(len(text.encode()))))
        listener.sw.fire("BACKGROUND_JOB", post=post, body=text)

    listener.sw.scheduler.call_soon(
        lambda: listener.sw.api.execute(command, argument if argument else None, done)
    )


def _log(listener: Listener, rest: str) -> None:
    level_text = rest.strip().split(" ")[0] if rest.strip() else ""
    levels = {
        "console": 0,
        "alert": 1,
        "crit": 2,
        "err": 3,
        "warning": 4,
        "notice": 5,
        "info": 6,
        "debug": 7,
    }
    if not level_text:
        level = 7
    elif level_text.isdigit() and 0 <= int(level_text) <= 7:
        level = int(level_text)
    elif level_text.lower() in levels:
        level = levels[level_text.lower()]
    else:
        listener.reply("-ERR invalid log level")
        return
    listener.logging = True
    listener.log_level = level
    listener.reply(f"+OK log level {level_text} [{level}]")


def _linger(listener: Listener, line: str) -> None:
    if listener.session is None:
        listener.reply("-ERR not controlling a session")
        return
    listener.linger = True
    seconds = line[7:].strip() if len(line) > 7 and line[6] == " " else ""
    if seconds:
        try:
            listener.linger_seconds = int(seconds)
        except ValueError:
            listener.linger_seconds = 0
        listener.reply(f"+OK will linger {listener.linger_seconds} seconds")
    else:
        listener.linger_seconds = -1
        listener.reply("+OK will linger")


def _event(listener: Listener, line: str) -> None:
    words = line.split()[1:]
    if words and words[0].lower() in {"plain", "json", "xml"}:
        listener.format = words[0].lower()
        words = words[1:]
    if not listener.subscription.subscribe(words):
        listener.reply("-ERR no keywords supplied")
        return
    listener.reply(f"+OK event listener enabled {listener.format}")
