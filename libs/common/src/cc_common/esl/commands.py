"""The bytes of ESL commands: a command line, optional headers, an optional body.

Values go to FreeSWITCH as written (mod_event_socket does not URL-decode what it reads), so a line
break inside a command or header value would smuggle in another command: it is refused here. An
application argument that needs line breaks travels in a body instead (``arg_in_body``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HeaderList = Sequence[tuple[str, str]]


def _check(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} must not contain a line break: {text[:60]!r}")
    return text


def encode_command(line: str, headers: HeaderList = (), body: bytes | str = b"") -> bytes:
    """Return one command as FreeSWITCH reads it; a body gets its Content-Length in bytes."""
    payload = body.encode("utf-8") if isinstance(body, str) else body
    parts = [_check(line, "command"), "\n"]
    for name, value in headers:
        if not name or ":" in name:
            raise ValueError(f"bad header name {name!r}")
        parts += [_check(name, "header name"), ": ", _check(value, f"header {name}"), "\n"]
    if payload:
        parts.append(f"content-length: {len(payload)}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8") + payload


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """What ``sendmsg`` carries to a channel: call-command headers and maybe a body."""

    headers: tuple[tuple[str, str], ...]
    body: str = ""


def execute(
    app: str,
    arg: str | None = None,
    *,
    event_lock: bool = False,
    event_uuid: str | None = None,
    loops: int | None = None,
    run_async: bool = False,
    arg_in_body: bool | None = None,
) -> ChannelMessage:
    """Build ``call-command: execute`` for one dialplan application.

    The argument goes in ``execute-app-arg`` unless it has line breaks or ``arg_in_body`` is set,
    then it travels as a ``text/plain`` body (FreeSWITCH accepts both; see transcripts 03 and 04).
    ``event_uuid`` becomes Event-UUID, echoed as Application-UUID on CHANNEL_EXECUTE(_COMPLETE).
    """
    headers: list[tuple[str, str]] = [("call-command", "execute"), ("execute-app-name", app)]
    in_body = arg_in_body if arg_in_body is not None else bool(arg and ("\n" in arg or "\r" in arg))
    body = ""
    if arg is not None and in_body:
        headers.append(("content-type", "text/plain"))
        body = arg
    elif arg is not None:
        headers.append(("execute-app-arg", arg))
    if loops is not None:
        headers.append(("loops", str(loops)))
    if event_uuid:
        headers.append(("Event-UUID", event_uuid))
    if event_lock:
        headers.append(("event-lock", "true"))
    if run_async:
        headers.append(("async", "true"))
    return ChannelMessage(tuple(headers), body)


def hangup(cause: str = "NORMAL_CLEARING") -> ChannelMessage:
    """Build ``call-command: hangup`` with a Q.850 cause name."""
    return ChannelMessage((("call-command", "hangup"), ("hangup-cause", cause)))


def unicast(
    *,
    local_ip: str,
    local_port: int,
    remote_ip: str,
    remote_port: int,
    transport: str = "udp",
    native: bool = False,
) -> ChannelMessage:
    """Build ``call-command: unicast``: stream the channel's audio to a socket (and back)."""
    headers = [
        ("call-command", "unicast"),
        ("local-ip", local_ip),
        ("local-port", str(local_port)),
        ("remote-ip", remote_ip),
        ("remote-port", str(remote_port)),
        ("transport", transport),
    ]
    if native:
        headers.append(("flags", "native"))
    return ChannelMessage(tuple(headers))


def sendmsg(uuid: str | None, message: ChannelMessage) -> bytes:
    """Return the ``sendmsg`` bytes; with no uuid it targets the outbound socket's own channel."""
    line = f"sendmsg {uuid}" if uuid else "sendmsg"
    return encode_command(line, message.headers, message.body)


def sendevent(
    name: str, headers: HeaderList = (), body: str = "", *, subclass: str | None = None
) -> bytes:
    """Return ``sendevent`` bytes; a CUSTOM event names its subclass in Event-Subclass."""
    fields = list(headers)
    if subclass:
        fields.insert(0, ("Event-Subclass", subclass))
    if body:
        fields.append(("content-type", "text/plain"))
    return encode_command(f"sendevent {name}", fields, body)
