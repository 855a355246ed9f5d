"""An asyncio client for FreeSWITCH's Event Socket (ESL): inbound, outbound, typed events."""

from cc_common.esl.channels import ChannelRow, parse_show_channels
from cc_common.esl.client import Backoff, InboundClient, ReconnectInfo
from cc_common.esl.commands import ChannelMessage, execute, hangup, unicast
from cc_common.esl.connection import BackgroundJob, EslConnection, JobResult, Reply
from cc_common.esl.dispatch import ANY, DispatchStats, EventDispatcher
from cc_common.esl.errors import (
    AuthenticationError,
    CommandError,
    ConnectionLost,
    Disconnected,
    EslError,
    ProtocolError,
    RudeRejection,
)
from cc_common.esl.event import EslEvent, event_from_frame, event_from_json, event_from_plain
from cc_common.esl.outbound import OutboundServer, OutboundSession
from cc_common.esl.protocol import Frame, FrameParser

__all__ = [
    "ANY",
    "AuthenticationError",
    "BackgroundJob",
    "Backoff",
    "ChannelMessage",
    "ChannelRow",
    "CommandError",
    "ConnectionLost",
    "Disconnected",
    "DispatchStats",
    "EslConnection",
    "EslError",
    "EslEvent",
    "EventDispatcher",
    "Frame",
    "FrameParser",
    "InboundClient",
    "JobResult",
    "OutboundServer",
    "OutboundSession",
    "ProtocolError",
    "ReconnectInfo",
    "Reply",
    "RudeRejection",
    "event_from_frame",
    "event_from_json",
    "event_from_plain",
    "execute",
    "hangup",
    "parse_show_channels",
    "unicast",
]
