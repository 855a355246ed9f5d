"""The channel variables mod_sofia sets on SIP legs, at the moments the captures show them.

Values are plausible stand-ins (the simulator has no real SIP stack); the names, and when they
appear, follow FreeSWITCH 1.10.12 so services see the same variable sets.
"""

from __future__ import annotations

import random
import uuid as uuidlib

USER_AGENT = "FreeSWITCH-mod_sofia/1.10.12-release~64bit"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY"
CODECS = "OPUS,G722,PCMU,PCMA,H264,VP8"


def _tag() -> str:
    return uuidlib.uuid4().hex[:13]


def _sdp(ip: str, port: int) -> str:
    session = random.randint(1_700_000_000, 1_800_000_000)
    return (
        f"v=0\r\no=FreeSWITCH {session} {session + 1} IN IP4 {ip}\r\ns=FreeSWITCH\r\n"
        f"c=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 102 0 8 103 101\r\n"
        "a=rtpmap:102 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:103 telephone-event/48000\r\na=fmtp:103 0-15\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def media_port() -> int:
    """Return an even RTP port like FreeSWITCH's 16384-32768 range."""
    return random.randrange(16384, 32768, 2)


def outbound_leg_before_create(*, ip: str, user: str, target: str) -> list[tuple[str, str]]:
    """Variables of an outgoing SIP leg set before originate's {vars} (profile, media flow)."""
    return [
        ("sip_local_network_addr", ip),
        ("sip_profile_name", "internal"),
        ("video_media_flow", "disabled"),
        ("text_media_flow", "disabled"),
    ]


def outbound_leg_destination(*, user: str, target: str) -> list[tuple[str, str]]:
    """sip_destination_url, set right after channel_name."""
    return [("sip_destination_url", f"sip:{user}@{target}")]


def outbound_leg_media(*, ip: str, port: int) -> list[tuple[str, str]]:
    """Media variables of the INVITE being prepared (after originate_endpoint)."""
    return [
        ("rtp_use_codec_string", CODECS),
        ("local_media_ip", ip),
        ("local_media_port", str(port)),
        ("advertised_media_ip", ip),
        ("audio_media_flow", "sendrecv"),
        ("rtp_local_sdp_str", _sdp(ip, port)),
    ]


def outbound_leg_invite(*, ip: str, user: str, target: str) -> list[tuple[str, str]]:
    """Variables set once the INVITE is sent (before CHANNEL_CREATE when it goes out fast)."""
    host = target.split(":")[0]
    return [
        ("sip_outgoing_contact_uri", f"<sip:mod_sofia@{ip}:5060>"),
        ("sip_req_uri", f"{user}@{target}"),
        ("sip_to_host", target),
        ("sip_from_host", host if host else ip),
        ("sofia_profile_name", "internal"),
        ("recovery_profile_name", "internal"),
        ("sofia_profile_url", f"sip:mod_sofia@{ip}:5060"),
    ]


def outbound_leg_failure() -> list[tuple[str, str]]:
    """Variables of an INVITE refused with 503 (NORMAL_TEMPORARY_FAILURE)."""
    return [
        ("sip_call_id", str(uuidlib.uuid4())),
        ("sip_local_network_addr", "127.0.0.1"),
        ("sip_reply_port", "0"),
        ("sip_network_port", "0"),
        ("sip_hangup_disposition", "recv_refuse"),
        ("sip_invite_failure_status", "503"),
        ("sip_invite_failure_phrase", "Service Unavailable"),
        ("sip_term_status", "503"),
        ("proto_specific_hangup_cause", "sip:503"),
        ("sip_term_cause", "41"),
    ]


def inbound_leg(
    *,
    ip: str,
    caller_number: str,
    caller_name: str,
    destination: str,
    target: str,
    call_id: str,
    invite_us: int,
) -> list[tuple[str, str]]:
    """Variables of an incoming SIP leg at CHANNEL_CREATE (after direction/uuid/call_uuid...)."""
    port = target.split(":")[1] if ":" in target else "5080"
    from_tag = _tag()
    return [
        ("sip_from_user", caller_number),
        ("sip_from_uri", f"{caller_number}@{ip}"),
        ("sip_from_host", ip),
        ("video_media_flow", "disabled"),
        ("audio_media_flow", "disabled"),
        ("text_media_flow", "disabled"),
        ("channel_name", f"sofia/external/{caller_number}@{ip}"),
        ("sip_call_id", call_id),
        ("sip_local_network_addr", ip),
        ("sip_network_ip", ip),
        ("sip_network_port", "5060"),
        ("sip_invite_stamp", str(invite_us)),
        ("sip_received_ip", ip),
        ("sip_received_port", "5060"),
        ("sip_via_protocol", "udp"),
        ("sip_from_user_stripped", caller_number),
        ("sip_from_tag", from_tag),
        ("sofia_profile_name", "external"),
        ("sofia_profile_url", f"sip:mod_sofia@{ip}:{port}"),
        ("recovery_profile_name", "external"),
        ("sip_Remote-Party-ID", f'"{caller_name}" <sip:{caller_number}@{ip}>;party=calling'),
        ("sip_cid_type", "rpid"),
        ("sip_full_via", f"SIP/2.0/UDP {ip};rport=5060;branch=z9hG4bK{_tag()}"),
        ("sip_from_display", caller_name),
        ("sip_full_from", f'"{caller_name}" <sip:{caller_number}@{ip}>;tag={from_tag}'),
        ("sip_full_to", f"<sip:{destination}@{target}>"),
        ("sip_allow", ALLOW),
        ("sip_req_user", destination),
        ("sip_req_port", port),
        ("sip_req_uri", f"{destination}@{target}"),
        ("sip_req_host", ip),
        ("sip_to_user", destination),
        ("sip_to_port", port),
        ("sip_to_uri", f"{destination}@{target}"),
        ("sip_to_host", ip),
        ("sip_contact_user", "mod_sofia"),
        ("sip_contact_port", "5060"),
        ("sip_contact_uri", f"mod_sofia@{ip}:5060"),
        ("sip_contact_host", ip),
        ("rtp_use_codec_string", CODECS),
        ("sip_user_agent", USER_AGENT),
        ("sip_via_host", ip),
        ("sip_via_rport", "5060"),
        ("max_forwards", "70"),
        ("switch_r_sdp", _sdp(ip, media_port())),
        ("ep_codec_string", "mod_opus.opus@48000h@20i@2c,CODEC_STRING"),
        ("endpoint_disposition", "DELAYED NEGOTIATION"),
    ]


def negotiated_media(*, ip: str, local_port: int, remote_port: int) -> list[tuple[str, str]]:
    """RTP variables once media is negotiated (early media or answer)."""
    return [
        ("remote_video_media_flow", "inactive"),
        ("remote_text_media_flow", "inactive"),
        ("remote_audio_media_flow", "sendrecv"),
        ("rtp_audio_recv_pt", "102"),
        ("rtp_use_codec_name", "opus"),
        ("rtp_use_codec_fmtp", "useinbandfec=1; ptime=20; minptime=10; maxptime=40"),
        ("rtp_use_codec_rate", "48000"),
        ("rtp_use_codec_ptime", "20"),
        ("rtp_use_codec_channels", "1"),
        ("rtp_last_audio_codec_string", "opus@48000h@20i@1c"),
        ("read_codec", "opus"),
        ("original_read_codec", "opus"),
        ("read_rate", "48000"),
        ("original_read_rate", "48000"),
        ("write_codec", "opus"),
        ("write_rate", "48000"),
        ("dtmf_type", "rfc2833"),
        ("local_media_ip", ip),
        ("local_media_port", str(local_port)),
        ("advertised_media_ip", ip),
        ("rtp_use_timer_name", "soft"),
        ("rtp_use_pt", "102"),
        ("rtp_use_ssrc", str(random.randint(1, 2**31))),
        ("rtp_2833_send_payload", "103"),
        ("rtp_2833_recv_payload", "101"),
        ("remote_media_ip", ip),
        ("remote_media_port", str(remote_port)),
    ]


def outbound_answered(
    *, ip: str, user: str, target: str, caller_number: str, caller_name: str, call_id: str
) -> list[tuple[str, str]]:
    """Variables an outgoing SIP leg learns from the 200 OK (before its media variables)."""
    port = target.split(":")[1] if ":" in target else "5060"
    from_tag, to_tag = _tag(), _tag()
    return [
        ("sip_reply_host", ip),
        ("sip_reply_port", port),
        ("sip_network_ip", ip),
        ("sip_network_port", port),
        ("sip_user_agent", USER_AGENT),
        ("sip_allow", ALLOW),
        ("sip_recover_contact", f"<sip:{user}@{target};transport=udp>"),
        ("sip_full_via", f"SIP/2.0/UDP {ip};rport=5060;branch=z9hG4bK{_tag()}"),
        ("sip_recover_via", f"SIP/2.0/UDP {ip};rport=5060;branch=z9hG4bK{_tag()}"),
        ("sip_from_display", caller_name),
        ("sip_full_from", f'"{caller_name}" <sip:{caller_number}@{ip}>;tag={from_tag}'),
        ("sip_full_to", f"<sip:{user}@{target}>;tag={to_tag}"),
        ("sip_from_user", caller_number),
        ("sip_from_uri", f"{caller_number}@{ip}"),
        ("sip_to_user", user),
        ("sip_to_port", port),
        ("sip_to_uri", f"{user}@{target}"),
        ("sip_contact_params", "transport=udp"),
        ("sip_contact_user", user),
        ("sip_contact_port", port),
        ("sip_contact_uri", f"{user}@{target}"),
        ("sip_contact_host", ip),
        ("sip_to_tag", to_tag),
        ("sip_from_tag", from_tag),
        ("sip_cseq", str(random.randint(100_000_000, 200_000_000))),
        ("sip_call_id", call_id),
        ("switch_r_sdp", _sdp(ip, media_port())),
        ("ep_codec_string", "mod_opus.opus@48000h@20i@2c"),
    ]


def hangup_bye(*, sent: bool) -> list[tuple[str, str]]:
    """Variables of a BYE, sent (we hung up) or received (the far end did)."""
    if sent:
        return [("sip_hangup_disposition", "send_bye")]
    return [("sip_hangup_disposition", "recv_bye")]


def hangup_reason(cause_code: int, cause: str) -> list[tuple[str, str]]:
    """Variables the far end's BYE Reason header leaves behind."""
    return [
        ("sip_reason", f'Q.850;cause={cause_code};text="{cause}"'),
        ("sip_term_status", "200"),
        ("proto_specific_hangup_cause", "sip:200"),
        ("sip_term_cause", str(cause_code)),
    ]


def rtp_statistics() -> list[tuple[str, str]]:
    """RTP counters mod_sofia adds at HANGUP_COMPLETE (zeros: no media flowed for real)."""
    names = (
        "in_raw_bytes",
        "in_media_bytes",
        "in_packet_count",
        "in_media_packet_count",
        "in_skip_packet_count",
        "in_jitter_packet_count",
        "in_dtmf_packet_count",
        "in_cng_packet_count",
        "in_flush_packet_count",
        "in_largest_jb_size",
        "in_jitter_min_variance",
        "in_jitter_max_variance",
        "in_jitter_loss_rate",
        "in_jitter_burst_rate",
        "in_mean_interval",
        "in_flaw_total",
        "in_quality_percentage",
        "in_mos",
        "out_raw_bytes",
        "out_media_bytes",
        "out_packet_count",
        "out_media_packet_count",
        "out_skip_packet_count",
        "out_dtmf_packet_count",
        "out_cng_packet_count",
        "rtcp_packet_count",
        "rtcp_octet_count",
    )
    return [(f"rtp_audio_{name}", "0") for name in names]
