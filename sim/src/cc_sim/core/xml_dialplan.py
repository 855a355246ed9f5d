"""Read a FreeSWITCH XML dialplan (the project's ``freeswitch/dialplan``) into the simulator's.

Only what the project's contexts use: extensions whose single condition tests
``destination_number``, their actions, and the ``X-PRE-PROCESS set`` global variables. The
simulator then runs the very dialplan the real switch runs, so the two cannot drift apart.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cc_sim.core.dialplan import Action, Extension

_PRE_SET = re.compile(r'<X-PRE-PROCESS cmd="set" data="(\w+)=([^"]*)"')


def read_dialplan_dir(directory: Path) -> tuple[dict[str, list[Extension]], dict[str, str]]:
    """Return every context and global variable defined by ``directory/*.xml``, in file order."""
    contexts: dict[str, list[Extension]] = {}
    variables: dict[str, str] = {}
    for path in sorted(directory.glob("*.xml")):
        text = path.read_text()
        variables.update(_PRE_SET.findall(text))
        for context in ET.fromstring(text).iter("context"):
            name = context.get("name") or ""
            contexts.setdefault(name, []).extend(_extension(e) for e in context.iter("extension"))
    return contexts, variables


def _extension(element: ET.Element) -> Extension:
    condition = element.find("condition")
    if condition is None or condition.get("field") != "destination_number":
        raise ValueError(f"extension {element.get('name')!r}: only destination_number conditions")
    actions = tuple(
        Action(a.get("application") or "", a.get("data") or "") for a in condition.iter("action")
    )
    return Extension(element.get("name") or "", condition.get("expression") or "", actions)
