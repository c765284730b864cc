"""mod_voicemail in the simulator: leaving a message, silence and retries, keys, unknown boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import act, call, mailbox_user, make_conf, projection, simulator, write_wav


def plan(*actions: str) -> str:
    acts = "".join(actions)
    return ('<context name="t"><extension name="vm"><condition field="destination_number" expression="^100$">'
            f'<action application="answer"/>{acts}'
            '<action application="log" data="INFO after len=${voicemail_message_len} file=${voicemail_file_path}"/>'
            "</condition></extension></context>")


SKIP = act("set", "skip_greeting=true") + act("set", "skip_instructions=true")


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    write_wav(d / "speech.wav", 6.0)
    write_wav(d / "long.wav", 40.0)
    return d


def run(tmp_path: Path, sounds: Path, dialplan: str, a_app: str | None = None, dtmf=(),
        boxes: dict[str, str] | None = None):
    files = {f"directory/default/hotline_{n}.xml": xml for n, xml in (boxes or {"8101": mailbox_user("8101")}).items()}
    sim = simulator(make_conf(tmp_path / "conf", dialplan, files=files), sounds=sounds)
    sim.globals["storage_dir"] = str(tmp_path / "storage")
    return call(sim, "100", "t", a_app=a_app, dtmf=dtmf)


def after(sim) -> tuple[float, str] | None:
    for r in sim.trace.records:
        if r["event"] == "log" and str(r.get("text", "")).startswith("after "):
            return r["t"], r["text"]
    return None


def records(sim, event: str) -> list[dict]:
    return [r for r in sim.trace.records if r["event"] == event and r["leg"] == "b"]


def test_message_left_until_the_caller_hangs_up(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/speech.wav)")
    starts = records(sim, "record_start")
    assert [r["t"] for r in starts] == [1.0]          # the 1 s beep is a generated tone
    path = starts[0]["file"]
    assert path.startswith(str(tmp_path / "storage" / "voicemail" / "default" / "127.0.0.1" / "8101" / "msg_"))
    assert path.endswith(".wav")
    assert not any(p[0] == "playback_start" for p in projection(sim))
    msgs = sim.modules["voicemail"].messages("8101@127.0.0.1")
    assert len(msgs) == 1
    m = msgs[0]
    assert (m.file_path, m.message_len, m.cid_number, m.read_flags, m.in_folder) == (path, 5, "1000", "B_NORMAL",
                                                                                     "inbox")
    assert m.recording is not None and abs(m.recording.seconds - 5.0) < 0.01
    assert sim.api("vm_boxcount 8101@127.0.0.1") == "1"
    assert sim.api("vm_boxcount default/8101@127.0.0.1|all") == "1:0:0:0"
    assert after(sim) is None                          # the caller hung up: the dialplan ended there


def test_terminator_key_then_menus_time_out_and_the_message_is_kept(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#")])
    stop = records(sim, "record_stop")[0]
    assert abs(stop["t"] - 5.035) < 0.01
    # record check (10 s digit timeout), urgent check (10 s), delivery, goodbye, dialplan goes on;
    # every phrase macro (5 here) adds its 100 ms pause (switch_ivr_phrase_macro)
    t, text = after(sim)
    assert abs(t - 25.535) < 0.01
    assert "len=00:00:04" in text
    assert len(sim.modules["voicemail"].messages("8101@127.0.0.1")) == 1


def test_skipped_checks_deliver_at_once(tmp_path: Path, sounds: Path) -> None:
    checks = act("set", "skip_record_check=true") + act("set", "skip_record_urgent_check=true")
    sim = run(tmp_path, sounds, plan(SKIP, checks, act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#")])
    t, _ = after(sim)
    assert abs(t - 5.135) < 0.01     # + the goodbye macro's 100 ms pause


def test_urgent_key_marks_the_message(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("set", "skip_record_check=true"),
                                     act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/long.wav)", dtmf=[(5.0, "#"), (6.0, "*")])
    assert sim.modules["voicemail"].messages("8101@127.0.0.1")[0].read_flags == "A_URGENT"
    assert sim.api("vm_boxcount 8101@127.0.0.1|new-urgent") == "1"


def test_silent_caller_is_too_short_four_times_and_nothing_is_kept(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 8101")))
    starts = [r["t"] for r in records(sim, "record_start")]
    stops = [r["t"] for r in records(sim, "record_stop")]
    # beep 1 s, then 2 s of silence (record-silence-hits) ends each take; max-retries 3; the
    # too-small ack macro's 100 ms pause before each retry
    assert starts == [1.0, 4.1, 7.2, 10.3]
    assert stops == [3.0, 6.1, 9.2, 12.3]
    assert sim.modules["voicemail"].messages("8101@127.0.0.1") == []
    t, text = after(sim)
    assert abs(t - 12.4) < 1e-6 and "file= " in text + " "


def test_greeting_phrase_and_instructions_only_log_missing_prompts(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("voicemail", "default $${domain} 8101")),
              a_app="&playback(${ref_sounds}/speech.wav)")
    # 100 ms pause before the greeting; the stock prompts do not exist, so no playback at all, but
    # each macro (greeting, instructions) still costs its 100 ms pause
    assert [r["t"] for r in records(sim, "record_start")] == [1.3]
    warned = [r["text"] for r in sim.trace.records if r["event"] == "log" and r.get("level") == "WARNING"]
    assert any("voicemail/vm-person.wav" in w for w in warned)
    assert any("voicemail/vm-record_message.wav" in w for w in warned)


def test_unknown_mailbox_says_goodbye_and_returns(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 9999")))
    assert records(sim, "record_start") == []
    assert after(sim)[0] == 0.1          # the goodbye macro's 100 ms pause
    assert any("Can't find user [9999@127.0.0.1]" in str(r.get("text")) for r in sim.trace.records)
    assert any("vm-goodbye.wav" in str(r.get("text")) for r in sim.trace.records)


def test_disabled_mailbox_ends_without_goodbye(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 8101")),
              boxes={"8101": mailbox_user("8101", ("vm-enabled", "false"))})
    assert records(sim, "record_start") == []
    assert not any("vm-goodbye.wav" in str(r.get("text")) for r in sim.trace.records)


def test_mailbox_by_number_alias_and_email_address(tmp_path: Path, sounds: Path) -> None:
    aliased = ('<include><user id="8101" number-alias="95598"><params><param name="vm-password" value="1"/>'
               '<param name="vm-mailto" value="desk@example.com"/><param name="vm-email-all-messages" value="true"/>'
               "</params></user></include>")
    sim = run(tmp_path, sounds, plan(SKIP, act("voicemail", "default $${domain} 95598")),
              a_app="&playback(${ref_sounds}/speech.wav)", boxes={"8101": aliased})
    (msg,) = sim.modules["voicemail"].messages("8101@127.0.0.1")
    assert msg.email == "desk@example.com"
    assert "/8101/msg_" in msg.file_path


def test_unknown_profile_and_missing_arguments(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("voicemail", "nosuch $${domain} 8101"), act("voicemail", "")))
    texts = [str(r.get("text")) for r in sim.trace.records if r["event"] == "log"]
    assert "Error invalid profile nosuch" in texts
    assert any(t.startswith("Error Usage:") for t in texts)
    assert after(sim)[0] == 0.0
