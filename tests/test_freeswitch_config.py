"""The FreeSWITCH configuration parses and holds together: ACLs, variables, no secrets, and the
overlay-able part fits a stock conf/ layout without touching the event socket."""

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
        for p in parse("production/autoload_configs/event_socket.conf.xml").iter("param")
    }
    assert params["password"] == "$${cc_esl_password}"
    acls = {
        node.get("name") for node in parse("production/autoload_configs/acl.conf.xml").iter("list")
    }
    assert params["apply-inbound-acl"] in acls


def test_dialplan_variables_are_defined_before_the_context() -> None:
    dialplan = (CONFIG / "dialplan/contact-center.xml").read_text()
    defaults = (CONFIG / "dialplan/00_contact_center_vars.xml").read_text()
    defined = set(re.findall(r'cmd="set" data="(\w+)=', defaults))
    used = set(re.findall(r"\$\{(cc_\w+)\}", dialplan))
    set_by_the_call = {"cc_queue"}  # the IVR sets it; the dialplan falls back when it did not
    assert used - set_by_the_call <= defined
    assert {"cc_ivr_socket", "cc_default_queue"} <= defined
    production = (CONFIG / "production/vars.xml.fragment").read_text()
    assert "cc_esl_password" in production


def test_the_overlay_part_fits_conf_and_leaves_the_event_socket_alone() -> None:
    """Everything outside production/ drops into a FreeSWITCH conf/ dir (``--conf-overlay``)."""
    overlay = [p.relative_to(CONFIG) for p in CONFIG.rglob("*.xml")]
    overlay = [p for p in overlay if p.parts[0] != "production"]
    assert Path("dialplan/contact-center.xml") in overlay
    for path in overlay:
        assert path.parts[0] in ("dialplan", "lang"), path
        assert path.name not in ("event_socket.conf.xml", "acl.conf.xml", "vars.xml"), path
    contexts = {c.get("name") for c in parse("dialplan/contact-center.xml").iter("context")}
    assert contexts == {"contact-center"}  # a context of its own: the bundle's stay as they are


def test_the_agent_test_extensions_match_the_transcripts() -> None:
    extensions = {
        ext.get("name"): [(a.get("application"), a.get("data")) for a in ext.iter("action")]
        for ext in parse("dialplan/contact-center.xml").iter("extension")
    }
    assert extensions["agent-park-ringing"] == [("park", None)]
    assert extensions["agent-answer-park"] == [("answer", None), ("park", None)]
    ivr = extensions["inbound-ivr-then-queue"]
    assert ("socket", "${cc_ivr_socket} async full") in ivr
    assert ("set", "socket_resume=true") in ivr  # the IVR closing the socket is not a hangup
    assert ivr.index(("set", "socket_resume=true")) < ivr.index(
        ("socket", "${cc_ivr_socket} async full")
    )
    assert ivr[-1] == ("park", None)  # after the IVR lets go, the call waits for routing


def test_the_announcement_phrase_routing_broadcasts_exists_for_both_forms() -> None:
    macro = next(
        m
        for m in parse("lang/en/contact-center/phrases.xml").iter("macro")
        if m.get("name") == "cc_queue_position"
    )
    patterns = [i.get("pattern") or "" for i in macro.iter("input")]
    for estimate in (None, 240.0):
        line = to_esl(
            PlayAnnouncement("c1", "sales", 3, estimate), dialplan=Dialplan(), gateway_template=""
        )[0]
        argument = line.split("phrase:cc_queue_position:")[1].split()[0]
        assert any(re.match(p, argument) for p in patterns), argument
