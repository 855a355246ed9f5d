"""A FreeSWITCH 1.10 simulator speaking the real Event Socket protocol, with callers and agents."""

from cc_sim.config import SimConfig
from cc_sim.core.dialplan import Action, Dialplan, Extension, default_dialplan
from cc_sim.engine.endpoints import AgentPhone, AnswerPlan, Callee, CallerScript, Directory
from cc_sim.simulator import Simulator

__all__ = [
    "Action",
    "AgentPhone",
    "AnswerPlan",
    "Callee",
    "CallerScript",
    "Dialplan",
    "Directory",
    "Extension",
    "SimConfig",
    "Simulator",
    "default_dialplan",
]
