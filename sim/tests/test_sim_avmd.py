"""mod_avmd in the simulator: which far-end tones are beeps it hears (as the real switch did)."""

from __future__ import annotations

from cc_sim.engine.avmd import beep_seconds


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
