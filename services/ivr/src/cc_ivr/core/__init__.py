"""The IVR's pure domain: flows as data, their validation, and one call's walk through a flow."""

from cc_ivr.core.flow import SUPPORTED_LANGUAGES, Flow
from cc_ivr.core.run import (
    CollectDigits,
    Command,
    Finish,
    FlowRun,
    InputRefused,
    LookupCustomer,
    LookupResult,
    PlayFiles,
    RecordMessage,
    SayValue,
    SpeakText,
)
from cc_ivr.core.validate import FlowError, InvalidFlow, parse_flow, validate

__all__ = [
    "SUPPORTED_LANGUAGES",
    "CollectDigits",
    "Command",
    "Finish",
    "Flow",
    "FlowError",
    "FlowRun",
    "InputRefused",
    "InvalidFlow",
    "LookupCustomer",
    "LookupResult",
    "PlayFiles",
    "RecordMessage",
    "SayValue",
    "SpeakText",
    "parse_flow",
    "validate",
]
