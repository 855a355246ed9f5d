"""mod_avmd in the simulator: which far-end tones are beeps it hears (as the real switch did)."""

from __future__ import annotations

from cc_common.esl import EslEvent, InboundClient
from cc_common.testing import eventually
from cc_sim.config import SimConfig
from cc_sim.core.dialplan import parse_actions
from cc_sim.engine.avmd import beep_seconds
from cc_sim.simulator import Simulator

BEEP = "playback:tone_stream://%(1000,0,1000)"


def test_a_steady_tone_in_avmds_range_is_a_beep() -> None:
    assert beep_seconds("tone_stream://%(1000,0,1000)") == (1.0, 1000.0)
    assert beep_seconds("tone_stream://L=1;%(500,500,800)") == (0.5, 800.0)


def test_speech_silence_short_or_out_of_range_tones_are_not() -> None:
    assert beep_seconds("prompts/welcome.wav") is None
    assert beep_seconds("silence_stream://500") is None
    assert beep_seconds("tone_stream://%(100,0,1000)") is None  # too short to settle
    assert beep_seconds("tone_stream://%(1000,0,350)") is None  # below 440 Hz
    assert beep_seconds("tone_stream://%(1000,0,2500)") is None  # above 2000 Hz
    assert beep_seconds("tone_stream://%(400,0,350,440)") is None  # two frequencies (a tone)


async def test_the_far_end_s_beep_fires_on_the_outbound_leg_only() -> None:
    """Through ``execute_on_answer`` both halves of a loopback pair run ``avmd_start``; with
    ``inbound_channel=0`` only the outbound half listens (the real module refuses the other)."""
    config = SimConfig(
        esl_port=0,
        routes=(("default", "7341", tuple(parse_actions(f"answer;{BEEP};park"))),),
    )
    async with (
        Simulator(config) as sim,
        InboundClient("127.0.0.1", sim.esl_port, "ClueCon") as client,
    ):
        heard: list[tuple[str | None, str | None]] = []

        async def avmd(event: EslEvent) -> None:
            heard.append((event.subclass, event.unique_id))

        client.on("CUSTOM", avmd)
        await client.events("plain", "CUSTOM", "avmd::start", "avmd::beep")
        start = "'avmd_start inbound_channel=0\\,outbound_channel=1'"
        reply = await client.api(
            f"originate {{origination_uuid=m1,execute_on_answer={start}}}loopback/7341 &park()"
        )
        assert reply.ok
        await eventually(lambda: ("avmd::beep", "m1") in heard, within=5)
        assert heard == [("avmd::start", "m1"), ("avmd::beep", "m1")]
