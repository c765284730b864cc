"""Applications: playback, pagd/read, ivr menus, bridge endpoints, park, sleep."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.sim import RemoteParty
from fsgen.sim.testing import act, apps_run, call, make_conf, projection, simulator, write_wav


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    for name, secs in (("two", 2.0), ("one", 1.0), ("half", 0.5)):
        write_wav(d / (f"{name}.wav"), secs)
    return d


def run(tmp_path: Path, sounds: Path, dialplan: str, menus: str = "", dtmf=(), **kw):
    sim = simulator(make_conf(tmp_path / "conf", dialplan, menus), sounds=sounds)
    for name, value in kw.pop("remote", {}).items():
        sim.remote_parties.append(RemoteParty(name, **value))
    return call(sim, "100", "t", dtmf=dtmf, **kw)


def var_log(sim) -> list[str]:
    return [r["text"] for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]


def ext(*actions: str) -> str:
    return '<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">{}' \
           '</condition></extension></context>'.format("".join(actions))


def test_playback_times_and_star_terminator(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ext(act("answer"), act("playback", "$${ref_sounds}/two.wav"),
                                    act("playback", "$${ref_sounds}/two.wav"), act("hangup")),
              dtmf=[(0.5, "5"), (3.0, "*")])
    p = projection(sim, times=True)
    stops = [x for x in p if x[1] == "playback_stop"]
    # '5' is eaten by the first playback (not a terminator); '*' stops the second one
    assert [s[0] for s in stops] == [2.0, 3.035]
    assert [s[3] for s in stops] == ["done", "break"]


def test_missing_prompt_plays_nothing_like_the_rig(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ext(act("answer"), act("playback", "ivr/ivr-welcome.wav"), act("hangup")))
    assert [x[0] for x in projection(sim)] == ["route", "execute", "answer", "execute", "execute", "hangup"]


def test_missing_prompt_with_a_stated_duration(tmp_path: Path, sounds: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", ext(act("playback", "ivr/ivr-welcome.wav"))), sounds=sounds,
                    missing_prompt_seconds=1.5)
    call(sim, "100", "t")
    p = projection(sim, times=True)
    assert p[-2][0] == 1.5 and p[-2][1] == "playback_stop" and p[-2][2].endswith("/en/us/callie/ivr/ivr-welcome.wav")


def test_file_string_silence_and_tone_streams(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ext(act("playback", "file_string://$${ref_sounds}/one.wav!$${ref_sounds}/half.wav"),
                                    act("playback", "silence_stream://250"),
                                    act("playback", "tone_stream://%(100,100,440);loops=3")))
    stops = [x[0] for x in projection(sim, times=True) if x[1] == "playback_stop"]
    assert stops == [1.5, 1.75, 2.35]


def test_pagd_multi_digit_with_terminator_and_invalid_var(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"),
               act("play_and_get_digits", "3 5 2 3000 # $${ref_sounds}/two.wav $${ref_sounds}/one.wav pin ^1\\d+$ 1000"),
               act("log", "INFO pin=${pin} invalid=${pin_invalid} term=${read_terminator_used}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(0.5, "9"), (0.8, "9"), (1.1, "9"), (1.4, "#"),
                                            (4.0, "1"), (4.3, "2"), (4.6, "3"), (4.9, "#")])
    assert var_log(sim)[-1] == "pin=123 invalid=999 term=#"


def test_pagd_digit_timeout_ends_entry(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"),
               act("play_and_get_digits", "2 4 1 5000 # $${ref_sounds}/half.wav $${ref_sounds}/one.wav acct ^\\d+$ 700"),
               act("log", "INFO acct=${acct}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(1.0, "4"), (1.5, "2")])
    log = [r for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"][-1]
    assert log["text"] == "acct=42" and log["t"] == pytest.approx(1.535 + 0.7)


def test_read_sets_result_and_variable(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("read", "1 1 $${ref_sounds}/one.wav choice 2000 #"),
               act("log", "INFO ${choice}/${read_result}"),
               act("read", "1 1 $${ref_sounds}/half.wav other 1000 #"),
               act("log", "INFO ${other}/${read_result}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(0.2, "7")])
    # no digit with min 1: switch_ivr_read turns the timeout into "too small" -> failure
    assert var_log(sim)[-2:] == ["7/success", "/failure"]


MENUS = """
<menu name="main" greet-long="$${ref_sounds}/two.wav" greet-short="$${ref_sounds}/one.wav"
      invalid-sound="$${ref_sounds}/half.wav" exit-sound="$${ref_sounds}/half.wav"
      timeout="1000" inter-digit-timeout="500" max-failures="2" max-timeouts="2" digit-len="2">
  <entry action="menu-exec-app" digits="12" param="set picked=12"/>
  <entry action="menu-sub" digits="3" param="sub"/>
  <entry action="menu-exit" digits="0"/>
  <entry action="menu-exec-app" digits="/^9(\\d)$/" param="set nine=$1"/>
</menu>
<menu name="sub" greet-long="$${ref_sounds}/one.wav" timeout="1000" max-failures="1" digit-len="1">
  <entry action="menu-top" digits="*"/>
  <entry action="menu-play-sound" digits="1" param="$${ref_sounds}/half.wav"/>
</menu>
"""


def ivr_plan() -> str:
    return ext(act("answer"), act("ivr", "main"), act("log", "INFO status=${ivr_menu_status} picked=${picked} nine=${nine}"))


def test_ivr_two_digit_entry_then_exit(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ivr_plan(), MENUS, dtmf=[(0.5, "1"), (0.8, "2"), (3.0, "0")])
    assert ("set", "picked=12") in apps_run(sim)
    assert var_log(sim)[-1] == "status=success picked=12 nine="
    files = [x[1].rsplit("/", 1)[1] for x in projection(sim) if x[0] == "playback_start"]
    # greet-long (cut by "1"), greet-short, a timeout, greet-short (cut by "0"), exit-sound
    assert files == ["two.wav", "one.wav", "one.wav", "half.wav"]


def test_ivr_regex_entry_substitutes_captures(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ivr_plan(), MENUS, dtmf=[(0.5, "9"), (0.7, "4"), (2.0, "0")])
    assert ("set", "nine=4") in apps_run(sim)


def test_ivr_max_failures_then_dialplan_continues(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ivr_plan(), MENUS, dtmf=[(0.5, "7"), (0.6, "7"), (2.5, "8"), (2.6, "8")])
    files = [x[1].rsplit("/", 1)[1] for x in projection(sim) if x[0] == "playback_start"]
    assert files == ["two.wav", "half.wav", "one.wav", "half.wav", "half.wav"]  # 2 invalids + exit
    assert var_log(sim)[-1].startswith("status=failure")


def test_ivr_timeouts_play_no_invalid_sound(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ivr_plan(), MENUS)
    p = projection(sim, times=True)
    starts = [(x[0], x[2].rsplit("/", 1)[1]) for x in p if x[1] == "playback_start"]
    assert starts == [(0.0, "two.wav"), (3.0, "one.wav"), (5.0, "half.wav")]
    assert var_log(sim)[-1].startswith("status=timeout")


def test_ivr_sub_menu_top_returns_to_main_greet_long(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, ivr_plan(), MENUS, dtmf=[(2.5, "3"), (3.2, "1"), (4.2, "*"), (6.5, "0")])
    files = [x[1].rsplit("/", 1)[1] for x in projection(sim) if x[0] == "playback_start"]
    assert files == ["two.wav", "one.wav", "half.wav", "one.wav", "two.wav", "half.wav"]


def test_bridge_failures_and_continue_on_fail_list(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("set", "continue_on_fail=USER_NOT_REGISTERED,SUBSCRIBER_ABSENT"),
               act("bridge", "user/4711"), act("log", "INFO ${originate_disposition}"),
               act("bridge", "user/9999"), act("log", "INFO ${originate_disposition}"),
               act("bridge", "error/call_rejected"), act("log", "INFO not reached"))
    users = {"directory/users.xml": '<include><user id="4711"/></include>'}
    sim = simulator(make_conf(tmp_path / "conf", plan, files=users), sounds=sounds)
    call(sim, "100", "t")
    assert var_log(sim) == ["USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT"]
    assert projection(sim)[-1] == ("hangup", "CALL_REJECTED")


def test_bridge_to_scripted_remote_party_then_dialplan_continues(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("bridge", "sofia/gateway/carrier/13800138000"),
               act("log", "INFO after ${last_bridge_hangup_cause}"), act("hangup"))
    sim = run(tmp_path, sounds, plan, remote={"13800138000": {"ring": 2.0, "talk": 5.0}})
    p = projection(sim, times=True)
    assert (2.0, "bridge") in p and (7.02, "unbridge") in p
    c = projection(sim, "c", times=True)
    assert c[0][1:] == ("route", "13800138000", "default") and c[-1] == (7.0, "hangup", "NORMAL_CLEARING")
    assert var_log(sim) == ["after NORMAL_CLEARING"]


def test_bridge_no_answer_times_out(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("set", "call_timeout=5"), act("set", "continue_on_fail=true"),
               act("bridge", "sofia/internal/sip:1001@127.0.0.1"), act("log", "INFO ${originate_disposition}"))
    sim = run(tmp_path, sounds, plan, remote={"1001@": {"ring": 60.0}})
    log = [r for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"][-1]
    assert log["text"] == "NO_ANSWER" and log["t"] == 5.0


def test_caller_hangup_during_park_and_a_leg_app(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("park"))
    sim = run(tmp_path, sounds, plan, a_app="&playback(${ref_sounds}/two.wav)")
    assert projection(sim, times=True)[-1] == (2.0, "hangup", "NORMAL_CLEARING")


def test_sleep_and_execute_extension_and_transfer(tmp_path: Path, sounds: Path) -> None:
    plan = """<context name="t">
  <extension name="a"><condition field="destination_number" expression="^100$">
    <action application="sleep" data="1500"/>
    <action application="execute_extension" data="200 XML other"/>
    <action application="transfer" data="300 XML other"/>
  </condition></extension></context>
<context name="other">
  <extension name="s"><condition field="destination_number" expression="^200$"><action application="set" data="in=200"/></condition></extension>
  <extension name="f"><condition field="destination_number" expression="^300$"><action application="hangup" data="17"/></condition></extension>
</context>"""
    sim = run(tmp_path, sounds, plan)
    p = projection(sim, times=True)
    assert (1.5, "execute", "set", "in=200") in p
    assert (1.5, "route", "300", "other") in p
    assert p[-1] == (1.5, "hangup", "USER_BUSY")


def test_runs_are_deterministic(tmp_path: Path, sounds: Path) -> None:
    plan = ivr_plan()
    a = run(tmp_path, sounds, plan, MENUS, dtmf=[(0.5, "1"), (0.8, "2"), (3.0, "0")])
    b = run(tmp_path, sounds, plan, MENUS, dtmf=[(0.5, "1"), (0.8, "2"), (3.0, "0")])
    assert a.trace.lines() == b.trace.lines()


def test_inline_dialplan_transfer(tmp_path: Path, sounds: Path) -> None:
    # ${x} is expanded when transfer runs (x is still unset), ${y} too, but set:y runs inline later
    plan = ext(act("answer"), act("set", "x=early"),
               act("transfer", "'set:y=late,log:INFO got ${x}/${y},hangup:USER_BUSY' inline"))
    sim = run(tmp_path, sounds, plan)
    assert var_log(sim) == ["got early/"]
    assert ("execute", "set", "y=late") in projection(sim)
    assert projection(sim)[-1] == ("hangup", "USER_BUSY")


def test_originate_api_starts_a_call_on_the_virtual_clock(tmp_path: Path, sounds: Path) -> None:
    plan = """<context name="t">
  <extension name="agent"><condition field="destination_number" expression="^2000$">
    <action application="answer"/><action application="playback" data="$${ref_sounds}/one.wav"/>
  </condition></extension>
  <extension name="back"><condition field="destination_number" expression="^3000$">
    <action application="log" data="INFO callback for ${caller_id_number}"/><action application="hangup"/>
  </condition></extension>
</context>"""
    sim = simulator(make_conf(tmp_path / "conf", plan), sounds=sounds)
    reply = sim.api("originate {origination_caller_id_number=95598}loopback/2000/t 3000 XML t")
    assert reply.startswith("+OK ")
    assert sim.api("originate error/user_busy 3000").strip() == "-ERR USER_BUSY"
    sim.run()
    logs = [(r["leg"], r["text"]) for r in sim.trace.records if r["event"] == "log"]
    assert logs == [("b", "callback for 95598")]
    # the callback leg hangs up at once and takes its loopback partner (playing the prompt) with it
    assert (0.0, "hangup", "NORMAL_CLEARING") in projection(sim, "c", times=True)


def test_pagd_min_zero_accepts_a_bare_terminator(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"),
               act("play_and_get_digits", "0 4 3 3000 # $${ref_sounds}/one.wav $${ref_sounds}/half.wav ext ^\\d+$"),
               act("log", "INFO ext=[${ext}]"))
    sim = run(tmp_path, sounds, plan, dtmf=[(1.5, "#")])
    assert var_log(sim) == ["ext=[]"]
    files = [x[1].rsplit("/", 1)[1] for x in projection(sim) if x[0] == "playback_start"]
    assert files == ["one.wav"]  # no invalid prompt


def test_caller_hangup_mid_prompt_still_reports_playback_stop(tmp_path: Path, sounds: Path) -> None:
    plan = ext(act("answer"), act("playback", "$${ref_sounds}/two.wav"), act("log", "INFO not reached"))
    sim = run(tmp_path, sounds, plan, a_app="&playback(${ref_sounds}/one.wav)")
    p = projection(sim, times=True)
    assert p[-2:] == [(1.0, "hangup", "NORMAL_CLEARING"), (1.0, "playback_stop", str(sounds / "two.wav"), "done")]
    assert not var_log(sim)
