"""The pure ACD core: queues, agents, selection and the call's journey, with time passed in.

No I/O, no ``await``, no clock reads: adapters feed it events with ``now`` and carry out the
commands it returns (see ``commands``). ``Acd`` is the entry point.
"""

from cc_routing.core.acd import Acd
from cc_routing.core.calls import CallNotes, ParkedCall
from cc_routing.core.commands import (
    BridgeCall,
    CancelOffer,
    Command,
    DialCustomer,
    HangupCall,
    HoldCall,
    OfferCall,
    ParkCaller,
    PlayAnnouncement,
    PlayMusicOnHold,
    PublishEvent,
    ReleaseCaller,
    ReportProblem,
    SetCallVariables,
    TransferCall,
    TransferOut,
)
from cc_routing.core.config import (
    AgentConfig,
    ConfigError,
    Destination,
    QueueConfig,
    RelaxationStep,
    Strategy,
    Tier,
)
from cc_routing.core.explain import Candidate, Decision, QueueChoice, Skipped
from cc_routing.core.expressions import ExpressionError, Requirement, parse_requirement
from cc_routing.core.floor import RoutingError
from cc_routing.core.views import AgentView, CallView, QueueStatus

__all__ = [
    "Acd",
    "AgentConfig",
    "AgentView",
    "BridgeCall",
    "CallNotes",
    "CallView",
    "CancelOffer",
    "Candidate",
    "Command",
    "ConfigError",
    "Decision",
    "Destination",
    "DialCustomer",
    "ExpressionError",
    "HangupCall",
    "HoldCall",
    "OfferCall",
    "ParkCaller",
    "ParkedCall",
    "PlayAnnouncement",
    "PlayMusicOnHold",
    "PublishEvent",
    "QueueChoice",
    "QueueConfig",
    "QueueStatus",
    "RelaxationStep",
    "ReleaseCaller",
    "ReportProblem",
    "Requirement",
    "RoutingError",
    "SetCallVariables",
    "Skipped",
    "Strategy",
    "Tier",
    "TransferCall",
    "TransferOut",
    "parse_requirement",
]
