"""Audit of mod_voicemail leaving a message and record / switch_ivr_record_file against FreeSWITCH's C source."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import act, call, mailbox_user, make_conf, simulator, write_wav


def plan(*actions: str) -> str:
    acts = "".join(actions)
    return ('<context name="t"><extension name="vm"><condition field="destination_number" expression="^100$">'
            f'<action application="answer"/>{acts}'
            '<action application="log" data="INFO after len=${voicemail_message_len} '
            'sil=${silence_hits_exhausted} ms=${record_ms}"/>'
            "</condition></extension></context>")


SKIP = act("set", "skip_greeting=true") + act("set", "skip_instructions=true")

PROFILE = ('<configuration name="voicemail.conf"><settings/><profiles><profile name="default">'
           '<param name="digit-timeout" value="10000"/><param name="min-record-len" value="3"/>'
           '<param name="max-record-len" value="300"/><param name="max-retries" value="3"/>'
           '<param name="tone-spec" value="%(1000, 0, 640)"/><param name="skip-greet-key" value="#"/>'
           '<param name="record-silence-threshold" value="200"/><param name="record-silence-hits" value="2"/>'
           '{extra}</profile></profiles></configuration>')


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    write_wav(d / "speech.wav", 6.0)
    write_wav(d / "long.wav", 40.0)
    write_wav(d / "greet.wav", 2.0)
    return d


def run(tmp_path: Path, sounds: Path, dialplan: str, a_app: str | None = None, dtmf=(), profile: str | None = None):
    files = {"directory/default/hotline_8101.xml": mailbox_user("8101")}
    if profile is not None:
        files["autoload_configs/voicemail.conf.xml"] = PROFILE.format(extra=profile)
    sim = simulator(make_conf(tmp_path / "conf", dialplan, files=files), sounds=sounds)
    sim.globals["storage_dir"] = str(tmp_path / "storage")
    return call(sim, "100", "t", a_app=a_app, dtmf=dtmf)


def after(sim) -> tuple[float, str]:
    for r in sim.trace.records:
        if r["event"] == "log" and str(r.get("text", "")).startswith("after "):
            return r["t"], r["text"]
    raise AssertionError("no after line")


def records(sim, event: str) -> list[dict]:
    return [r for r in sim.trace.records if r["event"] == event and r["leg"] == "b"]


def warnings(sim) -> list[str]:
    return [str(r.get("text")) for r in sim.trace.records if r["event"] == "log" and r.get("level") == "WARNING"]


# ---- phrase macros: switch_ivr_phrase_macro sleeps `pause` (100 ms) after every action and stops at
# ---- the first action that does not succeed (a missing prompt = SWITCH_STATUS_NOTFOUND)
def test_each_voicemail_phrase_costs_its_100ms_pause_and_stops_at_a_missing_prompt(tmp_path: Path,
                                                                                    sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/speech.wav)")
    # voicemail_leave_main: 100 ms sleep, greeting macro (vm-person.wav missing: 100 ms pause, stop),
    # create_file: record-message macro (100 ms pause), 1 s beep -> 1.3 s
    assert [r["t"] for r in records(sim, "record_start")] == [1.3]
    warned = warnings(sim)
    assert any("voicemail/vm-person.wav" in w for w in warned)
    assert not any("vm-not_available.wav" in w for w in warned)     # the macro stopped at the first failure


def test_too_small_ack_and_goodbye_pauses(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 8101")))
    # create_file: 2 s silence ends each take; voicemail_ack too-small (100 ms) before each retry
    assert [r["t"] for r in records(sim, "record_start")] == [1.0, 4.1, 7.2, 10.3]
    assert [r["t"] for r in records(sim, "record_stop")] == [3.0, 6.1, 9.2, 12.3]
    t, _ = after(sim)
    assert t == pytest.approx(12.4)     # voicemail_goodbye: one missing prompt + 100 ms pause


# ---- create_file: the listen playback uses control_playback (cc.noexit = 0)
def test_terminator_during_listen_returns_to_the_record_check_menu(tmp_path: Path, sounds: Path) -> None:
    # '#' ends the recording at 5.0 (4 s message); menu; '1' listen at 6.0; '#' stops the playback at 7.0,
    # but create_file does not take the terminator as a choice: the record-check menu again, and '3' records
    # again
    sim = run(tmp_path, sounds, plan(SKIP, act("set", "skip_record_urgent_check=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#"), (6.0, "1"), (7.0, "#"), (8.0, "3")])
    starts = [r["t"] for r in records(sim, "record_start")]
    assert len(starts) == 2 and starts[1] == pytest.approx(9.035, abs=0.01)
    plays = [r for r in records(sim, "playback_start") if "/msg_" in r["file"]]
    assert len(plays) == 1


def test_other_keys_during_listen_are_consumed_without_stopping_it(tmp_path: Path, sounds: Path) -> None:
    # '5' is no control_playback key: consumed, the playback goes on to its end
    sim = run(tmp_path, sounds, plan(SKIP, act("set", "skip_record_urgent_check=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#"), (6.0, "1"), (7.0, "5")])
    (start,) = [r for r in records(sim, "playback_start") if "/msg_" in r["file"]]
    (stop,) = [r for r in records(sim, "playback_stop") if "/msg_" in r["file"]]
    assert stop["t"] - start["t"] == pytest.approx(4.035, abs=0.01)
    assert stop["status"] == "done"


def test_save_key_during_listen_is_the_menu_choice(tmp_path: Path, sounds: Path) -> None:
    # '3' (next-message-key) stops the playback and create_file takes it as the choice: record again
    sim = run(tmp_path, sounds, plan(SKIP, act("set", "skip_record_urgent_check=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#"), (6.0, "1"), (7.0, "3")])
    starts = [r["t"] for r in records(sim, "record_start")]
    assert len(starts) == 2 and starts[1] == pytest.approx(8.035, abs=0.01)  # beep 1 s (no macro: skipped)


def test_auto_playback_recordings_plays_the_message_first(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("set", "skip_record_check=true"),
                                     act("set", "skip_record_urgent_check=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#")],
              profile='<param name="auto-playback-recordings" value="true"/>')
    (start,) = [r for r in records(sim, "playback_start") if "/msg_" in r["file"]]
    assert start["t"] == pytest.approx(5.035, abs=0.01)
    assert len(sim.modules["voicemail"].messages("8101@127.0.0.1")) == 1


# ---- voicemail_leave_main: greeting selection
def test_invalid_greeting_number_ignores_the_greeting_path(tmp_path: Path, sounds: Path) -> None:
    greet = f"{sounds}/greet.wav"
    sim = run(tmp_path, sounds, plan(act("set", f"voicemail_greeting_path={greet}"),
                                     act("set", "voicemail_greeting_number=0"),
                                     act("set", "skip_instructions=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/speech.wav)")
    # voicemail_greeting_number set -> greet_path only from it (0 is out of range: none)
    assert not [r for r in records(sim, "playback_start") if r["file"] == greet]


def test_greeting_path_is_played(tmp_path: Path, sounds: Path) -> None:
    greet = f"{sounds}/greet.wav"
    sim = run(tmp_path, sounds, plan(act("set", f"voicemail_greeting_path={greet}"),
                                     act("set", "skip_instructions=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)")
    assert [r["t"] for r in records(sim, "playback_start") if r["file"] == greet] == [0.1]
    assert [r["t"] for r in records(sim, "record_start")] == [pytest.approx(3.1)]


# ---- switch_ivr_record_file
def test_silence_hits_exhausted_variable(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record", "/rec/a.wav 60 200 2")))
    assert "sil=true" in after(sim)[1]
    sim = run(tmp_path / "2", sounds, plan(act("record", "/rec/a.wav 2 200 5")),
              a_app="&playback(${ref_sounds}/long.wav)")
    assert "sil=false" in after(sim)[1]


def test_record_restart_limit_on_dtmf(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("set", "record_restart_limit_on_dtmf=true"),
                                     act("record", "/rec/a.wav 3")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(2.0, "5")])
    # the limit restarts at the (non-terminator) key: whole epoch seconds, now - start > 3 at 6 s
    assert [r["t"] for r in records(sim, "record_stop")] == [6.0]


def test_disk_quota_exceeded_ends_before_recording(tmp_path: Path, sounds: Path) -> None:
    quota = ('<include><user id="8101"><params><param name="vm-password" value="1"/>'
             '<param name="vm-disk-quota" value="4"/></params></user></include>')
    files = {"directory/default/hotline_8101.xml": quota}
    dialplan = plan(SKIP, act("set", "skip_record_check=true"), act("set", "skip_record_urgent_check=true"),
                    act("voicemail", "default $${domain} 8101"), act("voicemail", "default $${domain} 8101"))
    sim = simulator(make_conf(tmp_path / "conf", dialplan, files=files), sounds=sounds)
    sim.globals["storage_dir"] = str(tmp_path / "storage")
    call(sim, "100", "t", a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(6.0, "#")])
    # voicemail_leave_main: the first message (5 s) fills the 4 s quota (sum(message_len) >= quota), so
    # the second voicemail logs a NOTICE, plays voicemail_disk_quota_exceeded and goes to end (goodbye)
    assert len(records(sim, "record_start")) == 1
    assert [m.message_len for m in sim.modules["voicemail"].messages("8101@127.0.0.1")] == [5]
    assert any("Voicemail disk quota is exceeded for 8101" in str(r.get("text")) for r in sim.trace.records)
    assert any("vm-mailbox_full.wav" in w for w in warnings(sim))
