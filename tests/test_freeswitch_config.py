"""The FreeSWITCH configuration parses and holds together: ACLs, variables, no secrets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cc_routing.adapters.freeswitch import Dialplan, to_esl
from cc_routing.core import PlayAnnouncement

CONFIG = Path(__file__).resolve().parents[1] / "freeswitch"


def parse(relative: str) -> ET.Element:
    return ET.parse(CONFIG / relative).getroot()


def test_every_xml_file_parses() -> None:
    files = sorted(CONFIG.rglob("*.xml"))
    assert len(files) >= 3
    for path in files:
        ET.parse(path)


def test_the_event_socket_takes_its_password_from_a_variable_and_an_acl_that_exists() -> None:
    params = {
        p.get("name"): p.get("value")
        for p in parse("autoload_configs/event_socket.conf.xml").iter("param")
    }
    assert params["password"] == "$${cc_esl_password}"
    acls = {node.get("name") for node in parse("autoload_configs/acl.conf.xml").iter("list")}
    assert params["apply-inbound-acl"] in acls


def test_dialplan_variables_are_defined_in_the_vars_fragment() -> None:
    dialplan = (CONFIG / "dialplan/contact-center.xml").read_text()
    used = set(re.findall(r"\$\$\{(\w+)\}", dialplan))
    defined = set(re.findall(r'data="(\w+)=', (CONFIG / "vars.xml.fragment").read_text()))
    assert used <= defined


def test_the_agent_test_extensions_match_the_transcripts() -> None:
    extensions = {
        ext.get("name"): [(a.get("application"), a.get("data")) for a in ext.iter("action")]
        for ext in parse("dialplan/contact-center.xml").iter("extension")
    }
    assert extensions["agent-park-ringing"] == [("park", None)]
    assert extensions["agent-answer-park"] == [("answer", None), ("park", None)]
    ivr = extensions["inbound-ivr-then-queue"]
    assert ("socket", "$${cc_ivr_socket} async full") in ivr
    assert ivr[-1] == ("park", None)  # after the IVR lets go, the call waits for routing


def test_the_announcement_phrase_routing_broadcasts_exists_for_both_forms() -> None:
    macro = next(
        m
        for m in parse("lang/en/contact-center.xml").iter("macro")
        if m.get("name") == "cc_queue_position"
    )
    patterns = [i.get("pattern") or "" for i in macro.iter("input")]
    for estimate in (None, 240.0):
        line = to_esl(
            PlayAnnouncement("c1", "sales", 3, estimate), dialplan=Dialplan(), gateway_template=""
        )[0]
        argument = line.split("phrase::cc_queue_position:")[1].split()[0]
        assert any(re.match(p, argument) for p in patterns), argument
