"""API commands (``api`` / ``bgapi``) with mod_commands' reply texts.

Every command ends with an API event, as ``switch_api_execute`` fires one; originate replies
only when the call is answered or fails, so replies go through a callback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from cc_common.logging import get_logger
from cc_sim.core.dialstring import DialError, parse_originate
from cc_sim.core.states import normalize_cause
from cc_sim.engine.legs import broadcast_message
from cc_sim.engine.session import Session

if TYPE_CHECKING:
    from cc_sim.engine.switch import Switch

log = get_logger("cc_sim.api")
Reply = Callable[[str], None]
Handler = Callable[["ApiCommands", str, Reply], None]

NO_SUCH_CHANNEL = "-ERR No such channel!\n"
CALLCENTER_QUEUES = (
    "name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
    "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|"
    "abandoned_resume_allowed|max_wait_time|max_wait_time_with_no_agent|"
    "max_wait_time_with_no_agent_time_reached|record_template|calls_answered|calls_abandoned|"
    "ring_progressively_delay|skip_agents_with_external_calls|agent_no_answer_status\n"
    "support@default|longest-idle-agent|local_stream://moh|system|false|300|true|false|60|false|"
    "0|0|5||0|0|0|true|On Break\n+OK\n"
)
CHANNEL_COLUMNS = (
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "application",
    "application_data",
    "dialplan",
    "context",
    "read_codec",
    "read_rate",
    "read_bit_rate",
    "write_codec",
    "write_rate",
    "write_bit_rate",
    "secure",
    "hostname",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "sent_callee_name",
    "sent_callee_num",
    "initial_cid_name",
    "initial_cid_num",
    "initial_ip_addr",
    "initial_dest",
    "initial_dialplan",
    "initial_context",
)
"""The columns of FreeSWITCH's channels table, which ``show channels`` prints."""


class ApiCommands:
    """Runs API commands against a switch."""

    def __init__(self, switch: Switch) -> None:
        self.sw = switch

    def execute(self, command: str, argument: str | None, reply: Reply) -> None:
        """Run ``command argument``; ``reply`` gets the text, then the API event fires."""
        name = command.strip().lower()
        handler = HANDLERS.get(name)
        arg = (argument or "").strip()

        def finish(text: str) -> None:
            # switch_api_execute fires API before mod_event_socket sends the reply or the job
            self.sw.fire_api_event(command, argument)
            reply(text)

        if handler is None:
            finish(f"-ERR {command} Command not found!\n")
            return
        try:
            handler(self, arg, finish)
        except Exception as exc:  # a bad argument must never take the switch down
            log.exception("sim.api_failed", command=command, argument=arg)
            finish(f"-ERR {type(exc).__name__}: {exc}\n")

    # ---- helpers ---------------------------------------------------------------------------

    def session(self, uuid: str) -> Session | None:
        """Return the live session for ``uuid``."""
        return self.sw.get(uuid)

    def status_text(self) -> str:
        """Return ``status``'s text (uptime in simulated time)."""
        up_us = max(0, self.sw.now_us() - self.sw.started_us)
        seconds, micros = divmod(up_us, 1_000_000)
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        years, days = divmod(days, 365)
        settings = self.sw.settings
        live = self.sw.live_count()
        peak = self.sw.peak_sessions
        return (
            f"UP {years} years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, "
            f"{micros // 1000} milliseconds, {micros % 1000} microseconds\n"
            f"FreeSWITCH (Version {VERSION_TEXT}  64bit) is ready\n"
            f"{self.sw.sessions_since_startup} session(s) since startup\n"
            f"{live} session(s) - peak {peak}, last 5min {peak} \n"
            f"0 session(s) per Sec out of max {settings.sessions_per_second}, "
            "peak 0, last 5min 0 \n"
            f"{settings.max_sessions} session(s) max\n"
            "min idle cpu 0.00/99.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def channel_rows(self) -> list[dict[str, str]]:
        """Return one ``channels`` table row per listed channel, oldest first (the table
        trails the live sessions: see :mod:`cc_sim.engine.listing`)."""
        rows = []
        for sess in self.sw.listing.sessions():
            ch = sess.channel
            app = sess.app or sess.park
            created_s = ch.created_us // 1_000_000
            profile = ch.profile
            codec = ch.read_codec
            row = {
                "uuid": ch.uuid,
                "direction": ch.direction,
                "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created_s)),
                "created_epoch": str(created_s),
                "name": ch.name,
                "state": ch.running_state.name,
                "cid_name": profile.caller_id_name,
                "cid_num": profile.caller_id_number,
                "ip_addr": profile.network_addr,
                "dest": profile.destination_number,
                "application": app.name if app else "",
                "application_data": app.data if app else "",
                "dialplan": profile.dialplan,
                "context": profile.context,
                "read_codec": codec.name if codec else "",
                "read_rate": str(codec.rate) if codec else "",
                "read_bit_rate": str(codec.bit_rate) if codec else "",
                "write_codec": codec.name if codec else "",
                "write_rate": str(codec.rate) if codec else "",
                "write_bit_rate": str(codec.bit_rate) if codec else "",
                "secure": "",
                "hostname": self.sw.host.hostname,
                "presence_id": ch.variables.get("presence_id", ""),
                "presence_data": ch.variables.get("presence_data", ""),
                "accountcode": ch.variables.get("accountcode", ""),
                "callstate": ch.callstate.name,
                "callee_name": profile.callee_id_name,
                "callee_num": profile.callee_id_number,
                "callee_direction": "",
                "call_uuid": ch.call_uuid,
                "sent_callee_name": ch.variables.get("last_sent_callee_id_name", ""),
                "sent_callee_num": ch.variables.get("last_sent_callee_id_number", ""),
                "initial_cid_name": profile.orig_caller_id_name,
                "initial_cid_num": profile.orig_caller_id_number,
                "initial_ip_addr": profile.network_addr,
                "initial_dest": profile.destination_number,
                "initial_dialplan": profile.dialplan,
                "initial_context": profile.context,
            }
            rows.append(row)
        return rows


VERSION_TEXT = "1.10.12-release"


def api_status(api: ApiCommands, arg: str, reply: Reply) -> None:
    """status: uptime and session counts."""
    reply(api.status_text())


def api_version(api: ApiCommands, arg: str, reply: Reply) -> None:
    """version: the FreeSWITCH version string."""
    reply(f"FreeSWITCH Version {VERSION_TEXT}~64bit ( 64bit)\n")


def api_global_getvar(api: ApiCommands, arg: str, reply: Reply) -> None:
    """global_getvar <name>: the value, no newline (all globals when no name)."""
    if not arg:
        reply("".join(f"{k}={v}\n" for k, v in api.sw.global_vars.items()))
        return
    reply(api.sw.global_vars.get(arg, ""))


def api_global_setvar(api: ApiCommands, arg: str, reply: Reply) -> None:
    """global_setvar <name>=<value>."""
    name, equals, value = arg.partition("=")
    if not equals or not name.strip():
        reply("-USAGE: <var>=<value> [=<value2>]\n")
        return
    api.sw.global_vars[name.strip()] = value.strip()
    reply("+OK")


def api_show(api: ApiCommands, arg: str, reply: Reply) -> None:
    """show channels|calls [count] [as json]."""
    words = arg.split()
    as_json = len(words) >= 3 and words[-2].lower() == "as" and words[-1].lower() == "json"
    if as_json:
        words = words[:-2]
    what = words[0].lower() if words else ""
    if what not in {"channels", "calls"}:
        reply("-USAGE: " + "show <channels|calls> [count] [as json]\n")
        return
    rows = api.channel_rows()
    if what == "calls":
        rows = [row for row in rows if row["uuid"] == row["call_uuid"]]
    if len(words) > 1 and words[1].lower() == "count":
        if as_json:
            reply(json.dumps({"row_count": len(rows)}, separators=(",", ":")))
        else:
            reply(f"\n{len(rows)} total.\n")
        return
    if as_json:
        if not rows:
            reply('{"row_count": 0}\n')
            return
        document = {"row_count": len(rows), "rows": rows}
        reply(json.dumps(document, separators=(",", ":"), ensure_ascii=False))
        return
    lines = [",".join(CHANNEL_COLUMNS)]
    lines.extend(",".join(row[c] for c in CHANNEL_COLUMNS) for row in rows)
    reply("\n".join(lines) + f"\n\n{len(rows)} total.\n")


def api_originate(api: ApiCommands, arg: str, reply: Reply) -> None:
    """originate <dial> <&app(args)|ext [dialplan] [context]>: replies when it is decided."""
    try:
        request = parse_originate(arg)
    except DialError as exc:
        reply(str(exc))
        return
    api.sw.originator.originate(request, reply)


def api_uuid_answer(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_answer <uuid>."""
    sess = api.session(arg.split()[0] if arg else "")
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    api.sw.legs.answer(sess)
    reply("+OK\n")


def api_uuid_pre_answer(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_pre_answer <uuid>."""
    sess = api.session(arg.split()[0] if arg else "")
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    api.sw.legs.pre_answer(sess)
    reply("+OK\n")


def api_uuid_kill(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_kill <uuid> [cause]."""
    if not arg:
        reply("-USAGE: <uuid> [cause]\n")
        return
    uuid, _, cause = arg.partition(" ")
    sess = api.session(uuid)
    if sess is None or sess.channel.is_down:
        reply(NO_SUCH_CHANNEL)
        return
    api.sw.hangup(
        sess, normalize_cause(cause) if cause.strip() else "NORMAL_CLEARING", source="api"
    )
    reply("+OK\n")


def api_uuid_exists(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_exists <uuid>: true/false with no newline."""
    reply("true" if api.session(arg) is not None else "false")


def api_uuid_bridge(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_bridge <uuid> <other_uuid>."""
    words = arg.split()
    if len(words) != 2:
        reply("-USAGE: <uuid> <other_uuid>\n")
        return
    a, b = api.session(words[0]), api.session(words[1])
    if a is None or b is None or a is b or a.channel.is_down or b.channel.is_down:
        reply("-ERR Invalid uuid\n")
        return
    if not (a.channel.answered or a.channel.early) and not (b.channel.answered or b.channel.early):
        reply("-ERR Invalid uuid\n")
        return
    reply(f"+OK {b.uuid}\n")
    api.sw.scheduler.call_soon(lambda: api.sw.bridges.uuid_bridge(a, b))


def api_uuid_transfer(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_transfer <uuid> [-bleg|-both] <ext> [dialplan] [context]."""
    words = arg.split()
    if len(words) < 2:
        reply("-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    rest = words[1:]
    targets = [sess]
    if rest[0] in {"-bleg", "-both"}:
        partner = api.sw.get(sess.bridge_partner)
        targets = [partner] if rest[0] == "-bleg" and partner else targets
        if rest[0] == "-both" and partner:
            targets.append(partner)
        rest = rest[1:]
    if not rest:
        reply("-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n")
        return
    extension = rest[0]
    context = rest[2] if len(rest) > 2 else sess.channel.profile.context
    reply("+OK\n")
    for target in targets:
        api.sw.scheduler.call_soon(partial(api.sw.transfer_call, target, extension, context))


def api_uuid_park(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_park <uuid>."""
    sess = api.session(arg)
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    reply("+OK\n")
    api.sw.scheduler.call_soon(lambda: api.sw.park_call(sess))


def api_uuid_hold(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_hold [off|toggle] <uuid>."""
    words = arg.split()
    mode = "on"
    if words and words[0].lower() in {"off", "toggle"}:
        mode = words.pop(0).lower()
    if not words:
        reply("-USAGE: [off|toggle] <uuid> [<display>]\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply("-ERR Operation failed\n")
        return
    reply(api.sw.legs.hold(sess, mode))


def api_uuid_record(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_record <uuid> start|stop <path> [limit]."""
    words = arg.split()
    usage = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
    if len(words) < 3:
        reply(usage)
        return
    sess = api.session(words[0])
    if sess is None:
        reply("-ERR Cannot locate session!\n")
        return
    action, path = words[1].lower(), words[2]
    if action == "start":
        limit = (
            float(words[3]) if len(words) > 3 and words[3].replace(".", "", 1).isdigit() else None
        )
        ok = api.sw.recorder.start(sess, path, limit_seconds=limit)
        reply("+OK Success\n" if ok else "-ERR Cannot record session!\n")
    elif action == "stop":
        ok = api.sw.recorder.stop(sess, path)
        reply("+OK Success\n" if ok else "-ERR Cannot stop record session!\n")
    elif action in {"mask", "unmask"}:
        ok = api.sw.recorder.mask(sess, path, on=action == "mask")
        reply("+OK Success\n" if ok else f"-ERR Cannot {action} recording session!\n")
    elif action in {"pause", "resume"}:
        ok = path in sess.recordings
        reply("+OK Success\n" if ok else f"-ERR Cannot {action} recording session!\n")
    else:
        reply(usage)


def api_uuid_broadcast(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_broadcast <uuid> <path> [aleg|bleg|both]."""
    words = arg.split()
    if len(words) < 2:
        reply("-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply("-ERR invalid uuid\n")
        return
    legs = words[2].lower() if len(words) > 2 else "aleg"
    path = words[1]
    targets: list[Session] = []
    partner = api.sw.get(sess.bridge_partner)
    if legs in {"aleg", "both"}:
        targets.append(sess)
    if legs in {"bleg", "both", "holdb"} and partner is not None:
        targets.append(partner)
    reply("+OK Message sent\n")
    for target in targets:
        message = broadcast_message(target.uuid, path)
        api.sw.scheduler.call_soon(partial(api.sw.deliver, target, message))


def api_uuid_send_dtmf(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_send_dtmf <uuid> <digits[@duration]>: the digits leave the channel."""
    _dtmf_command(api, arg, reply, "sent")


def api_uuid_recv_dtmf(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_recv_dtmf <uuid> <digits[@duration]>: the digits arrive on the channel."""
    _dtmf_command(api, arg, reply, "received")


def _dtmf_command(api: ApiCommands, arg: str, reply: Reply, verb: str) -> None:
    words = arg.split()
    if len(words) < 2:
        reply("-USAGE: <uuid> <dtmf_data>\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply("-ERR Cannot locate session!\n")
        return
    digits, duration = _dtmf(words[1])
    reply(f"+OK {sess.uuid} {verb} DTMF {words[1]}.\n")
    legs = api.sw.legs
    action = legs.send_dtmf if verb == "sent" else legs.recv_dtmf
    api.sw.scheduler.call_soon(partial(action, sess, digits, duration))


def _dtmf(text: str) -> tuple[str, int]:
    digits, _, duration = text.partition("@")
    allowed = "".join(c for c in digits if c in "0123456789*#ABCDabcdwW")
    try:
        ms = int(duration) if duration else 2000 // 8
    except ValueError:
        ms = 250
    return allowed.replace("w", "").replace("W", "").upper(), ms


def api_uuid_setvar(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_setvar <uuid> <var> [value]."""
    words = arg.split(" ", 2)
    if len(words) < 2:
        reply("-USAGE: <uuid> <var> [value]\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    name = words[1].strip()
    if not name:
        reply("-ERR No variable specified\n")
        return
    value = words[2] if len(words) > 2 else None
    sess.channel.set_var(name, value if value not in (None, "", "_undef_") else None)
    reply("+OK\n")


def api_uuid_setvar_multi(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_setvar_multi <uuid> <var>=<value>;<var>=<value>..."""
    uuid, _, rest = arg.partition(" ")
    sess = api.session(uuid)
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    pairs = [item.partition("=") for item in rest.split(";") if item.strip()]
    if not pairs:
        reply("-ERR No variable specified\n")
        return
    for name, _, value in pairs:
        sess.channel.set_var(name.strip(), value or None)
    reply("+OK\n")


def api_uuid_getvar(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_getvar <uuid> <var>: the value with no newline, _undef_ when unset."""
    words = arg.split()
    if len(words) < 2:
        if len(words) == 1 and api.session(words[0]) is not None:
            reply("-ERR No variable name specified!\n")
            return
        reply("-USAGE: <uuid> <var>\n")
        return
    sess = api.session(words[0])
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    value = sess.channel.get_var(words[1])
    reply("_undef_" if value is None else value)


def api_uuid_dump(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_dump <uuid> [json]: the channel's data as an event."""
    words = arg.split()
    sess = api.session(words[0]) if words else None
    if sess is None:
        reply(NO_SUCH_CHANNEL if words else "-USAGE: <uuid> [format]\n")
        return
    ch = sess.channel
    headers = [*ch.basic_headers(), *ch.variable_headers()]
    if len(words) > 1 and words[1].lower() == "json":
        reply(json.dumps(dict(headers), separators=(",", ":")))
        return
    reply("".join(f"{name}: {value}\n" for name, value in headers) + "\n")


def api_uuid_break(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uuid_break <uuid> [all]: stop the playing file."""
    sess = api.session(arg.split()[0] if arg else "")
    if sess is None:
        reply(NO_SUCH_CHANNEL)
        return
    api.sw.stop_app(sess)
    reply("+OK\n")


def api_hupall(api: ApiCommands, arg: str, reply: Reply) -> None:
    """hupall [cause]: hang every channel up."""
    cause = normalize_cause(arg.split()[0]) if arg.split() else "MANAGER_REQUEST"
    for sess in list(api.sw.sessions.values()):
        api.sw.hangup(sess, cause, source="api")
    reply("+OK\n")


def api_callcenter_config(api: ApiCommands, arg: str, reply: Reply) -> None:
    """callcenter_config queue list: the vanilla configuration's queue."""
    if arg.split()[:2] == ["queue", "list"]:
        reply(CALLCENTER_QUEUES)
    else:
        reply("-ERR Unknown Command!\n")


def api_uptime(api: ApiCommands, arg: str, reply: Reply) -> None:
    """uptime [s|ms|us...]: seconds since start."""
    reply(str((api.sw.now_us() - api.sw.started_us) // 1_000_000))


def api_hash(api: ApiCommands, arg: str, reply: Reply) -> None:
    """hash insert/realm/key/value, select/realm/key, delete/realm/key (mod_hash's API)."""
    parts = arg.strip().split("/", 3)
    if len(parts) < 3:
        reply("-ERR Usage: hash [insert|delete|select]/<realm>/<key>/<val>\n")
        return
    store, key = api.sw.hash_store, f"{parts[1]}/{parts[2]}"
    if parts[0] == "insert" and len(parts) == 4:
        store[key] = parts[3]
        reply("+OK\n")
    elif parts[0] == "delete":
        reply("+OK\n" if store.pop(key, None) is not None else "-ERR Not found\n")
    elif parts[0] == "select":
        reply(store.get(key, ""))
    else:
        reply("-ERR Usage: hash [insert|delete|select]/<realm>/<key>/<val>\n")


def api_hostname(api: ApiCommands, arg: str, reply: Reply) -> None:
    """hostname."""
    reply(api.sw.host.hostname)


HANDLERS: dict[str, Handler] = {
    "status": api_status,
    "version": api_version,
    "global_getvar": api_global_getvar,
    "global_setvar": api_global_setvar,
    "show": api_show,
    "originate": api_originate,
    "uuid_answer": api_uuid_answer,
    "uuid_pre_answer": api_uuid_pre_answer,
    "uuid_kill": api_uuid_kill,
    "uuid_exists": api_uuid_exists,
    "uuid_bridge": api_uuid_bridge,
    "uuid_transfer": api_uuid_transfer,
    "uuid_park": api_uuid_park,
    "uuid_hold": api_uuid_hold,
    "uuid_record": api_uuid_record,
    "uuid_broadcast": api_uuid_broadcast,
    "uuid_send_dtmf": api_uuid_send_dtmf,
    "uuid_recv_dtmf": api_uuid_recv_dtmf,
    "uuid_setvar": api_uuid_setvar,
    "uuid_setvar_multi": api_uuid_setvar_multi,
    "uuid_getvar": api_uuid_getvar,
    "uuid_dump": api_uuid_dump,
    "uuid_break": api_uuid_break,
    "hupall": api_hupall,
    "callcenter_config": api_callcenter_config,
    "uptime": api_uptime,
    "hash": api_hash,
    "hostname": api_hostname,
}
