"""What can go wrong on an event socket, as exceptions a service can tell apart."""

from __future__ import annotations

from cc_common.esl.protocol import ProtocolError

__all__ = [
    "AuthenticationError",
    "CommandError",
    "ConnectionLost",
    "Disconnected",
    "EslError",
    "ProtocolError",
    "RudeRejection",
]


class EslError(Exception):
    """Base of every event-socket failure except ProtocolError (bad bytes)."""


class ConnectionLost(EslError):
    """The socket closed (or was closed) before the reply or job result arrived."""


class Disconnected(ConnectionLost):
    """FreeSWITCH sent a text/disconnect-notice and is closing the connection."""

    def __init__(self, message: str, *, disposition: str | None = None) -> None:
        super().__init__(message or "disconnected by FreeSWITCH")
        self.notice = message
        self.disposition = disposition


class RudeRejection(EslError):
    """FreeSWITCH's ACL refused our address (text/rude-rejection) before authentication."""


class AuthenticationError(EslError):
    """The password (or user@domain:password) was refused: ``-ERR invalid``."""


class CommandError(EslError):
    """A command's reply was ``-ERR ...``."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command.split(chr(10), 1)[0][:80]!r} failed: {reply}")
        self.command = command
        self.reply = reply
