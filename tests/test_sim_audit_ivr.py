"""Audit of the simulator's ivr menus, read / play_and_get_digits and prompt DTMF handling
against FreeSWITCH's source (switch_ivr_menu.c, switch_ivr_play_say.c, switch_ivr.c,
mod_dptools.c).  Each test names the C function whose behaviour it pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import act, apps_run, call, make_conf, projection, simulator, write_wav


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    for name, secs in (("two", 2.0), ("one", 1.0), ("half", 0.5)):
        write_wav(d / f"{name}.wav", secs)
    return d


def run(tmp_path: Path, sounds: Path, dialplan: str, menus: str = "", dtmf=(), **kw):
    sim = simulator(make_conf(tmp_path / "conf", dialplan, menus), sounds=sounds)
    return call(sim, "100", "t", dtmf=dtmf, **kw)


def ext(*actions: str) -> str:
    return ('<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">{}'
            '</condition></extension>'
            '<extension name="x"><condition field="destination_number" expression="^200$">'
            '<action application="log" data="INFO in 200"/><action application="hangup"/></condition></extension>'
            '</context>').format("".join(actions))


def log_times(sim) -> list[tuple[float, str]]:
    """What the dialplan's ``log INFO ...`` actions wrote."""
    return [(r["t"], r["text"]) for r in sim.trace.records
            if r["event"] == "log" and r["leg"] == "b" and r.get("level") == "INFO"]


def logs(sim) -> list[str]:
    return [text for _, text in log_times(sim)]


def starts(sim) -> list[tuple[float, str]]:
    return [(x[0], x[2].rsplit("/", 1)[1]) for x in projection(sim, times=True) if x[1] == "playback_start"]


def stops(sim) -> list[tuple[float, str, str]]:
    return [(x[0], x[2].rsplit("/", 1)[1], x[3]) for x in projection(sim, times=True) if x[1] == "playback_stop"]


# ----- read / play_and_get_digits ---------------------------------------------------------------

def test_read_terminator_pressed_during_the_prompt_terminates(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_read: the prompt's digit lands in the buffer; switch_ivr_collect_digits_count
    # first scans the buffer for a terminator, cuts it there and returns with that terminator.
    plan = ext(act("answer"), act("read", "1 4 $${ref_sounds}/two.wav pin 3000 #"),
               act("log", "INFO pin=[${pin}] term=${read_terminator_used} res=${read_result}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(0.5, "#")])
    (t, text), = log_times(sim)
    assert text == "pin=[] term=# res=failure"   # min 1, nothing collected: too small
    assert t == pytest.approx(0.535, abs=0.01)  # no wait for more digits


def test_pagd_min_zero_terminator_during_prompt_accepts_empty(tmp_path: Path, sounds: Path) -> None:
    # switch_play_and_get_digits: min 0, empty buffer and read_terminator_used set -> success at once
    plan = ext(act("answer"),
               act("play_and_get_digits", "0 4 3 3000 # $${ref_sounds}/two.wav $${ref_sounds}/half.wav ext ^\\d+$"),
               act("log", "INFO ext=[${ext}] res=${read_result}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(0.5, "#")])
    assert logs(sim) == ["ext=[] res=success"]
    assert [f for _, f in starts(sim)] == ["two.wav"]


def test_pagd_negative_tries_is_unsigned(tmp_path: Path, sounds: Path) -> None:
    # play_and_get_digits_function: max_tries = atoi("-1") handed to switch_play_and_get_digits as
    # uint32_t -> (practically) endless tries, not none
    plan = ext(act("answer"),
               act("play_and_get_digits", "1 1 -1 1000 # $${ref_sounds}/half.wav $${ref_sounds}/half.wav choice"),
               act("log", "INFO choice=${choice}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(7.3, "4")])
    assert logs(sim) == ["choice=4"]


def test_read_more_than_128_digits_is_refused(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_read: the application's 128-byte buffer is too small -> "Buffer too small!",
    # SWITCH_STATUS_FALSE before anything is played
    plan = ext(act("answer"), act("read", "1 200 $${ref_sounds}/half.wav pin 1000 #"), act("log", "INFO after"))
    sim = run(tmp_path, sounds, plan)
    assert starts(sim) == []
    assert log_times(sim) == [(0.0, "after")]


def test_pagd_numbers_are_read_with_atoi(tmp_path: Path, sounds: Path) -> None:
    # play_and_get_digits_function: timeout = atoi("3000ms") = 3000 (not the 1000 ms floor)
    plan = ext(act("answer"),
               act("play_and_get_digits", "1 1 1 3000ms # $${ref_sounds}/half.wav $${ref_sounds}/half.wav choice"),
               act("log", "INFO choice=${choice}"))
    sim = run(tmp_path, sounds, plan, dtmf=[(2.5, "4")])
    assert logs(sim) == ["choice=4"]


# ----- ivr menus --------------------------------------------------------------------------------

def ivr_plan(extra: str = "") -> str:
    return ext(act("answer"), act("ivr", "m"),
               act("log", "INFO status=${ivr_menu_status} picked=${picked}" + extra))


def menu(attrs: str, entries: str, name: str = "m") -> str:
    return f'<menu name="{name}" {attrs}>{entries}</menu>'


SOUNDS = ('greet-long="$${ref_sounds}/two.wav" greet-short="$${ref_sounds}/one.wav" '
          'invalid-sound="$${ref_sounds}/half.wav" ')


def test_ivr_digit_during_invalid_sound_is_consumed(tmp_path: Path, sounds: Path) -> None:
    # play_and_collect(need 0) plays with args.buf NULL: switch_ivr_play_file dequeues the digit
    # and breaks, so the key is lost; the short greeting then plays to its end
    menus = menu(SOUNDS + 'timeout="1000" max-timeouts="1" digit-len="1"',
                 '<entry action="menu-exec-app" digits="1" param="set picked=1"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(2.5, "9"), (2.8, "1")])
    assert ("set", "picked=1") not in apps_run(sim)
    assert [(f, s) for _, f, s in stops(sim)] == [("two.wav", "done"), ("half.wav", "break"), ("one.wav", "done")]
    assert logs(sim) == ["status=timeout picked="]


def test_ivr_default_inter_digit_timeout_is_half_the_raw_timeout(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_init: inter_timeout = timeout / 2 with the *given* timeout (0 when absent)
    # before the 10 s default; switch_ivr_collect_digits_count then only has the absolute 10 s
    menus = menu('greet-long="$${ref_sounds}/half.wav" digit-len="2"',
                 '<entry action="menu-exec-app" digits="12" param="set picked=12"/>'
                 '<entry action="menu-exit" digits="0"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.2, "1"), (7.0, "2")])
    assert ("set", "picked=12") in apps_run(sim)


def test_ivr_no_timeouts_given_waits_the_absolute_ten_seconds(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_init: timeout 0 -> 10000, inter_timeout 0 (0 / 2); play_and_collect ->
    # switch_ivr_collect_digits_count(first 10000, digit 0 -> 10000, abs 10000): digits 6 s apart
    # are collected as long as the whole entry fits in 10 s
    menus = menu('greet-long="$${ref_sounds}/half.wav" digit-len="3"',
                 '<entry action="menu-exec-app" digits="123" param="set picked=123"/>'
                 '<entry action="menu-exit" digits="12"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(3.0, "1"), (9.0, "2"), (10.2, "3")])
    assert ("set", "picked=123") in apps_run(sim)
    sim = run(tmp_path / "2", sounds, ivr_plan(), menus, dtmf=[(3.0, "1"), (9.0, "2"), (10.7, "3")])
    assert log_times(sim) == [(pytest.approx(10.5, abs=0.01), "status=success picked=")]  # "12": menu-exit


def test_ivr_zero_or_negative_maxima_default_to_three(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_stack_xml_build / switch_ivr_menu_init: max-timeouts="0" is atoi 0 -> 3
    # (only an absent/empty max-timeouts falls back to max-failures)
    menus = menu('greet-long="$${ref_sounds}/half.wav" timeout="500" max-failures="2" max-timeouts="0" digit-len="1"',
                 "")
    sim = run(tmp_path, sounds, ivr_plan(), menus)
    assert [t for t, _ in starts(sim)] == [0.0, 1.0, 2.0]
    assert logs(sim) == ["status=timeout picked="]


def test_ivr_negative_max_failures_defaults_to_three(tmp_path: Path, sounds: Path) -> None:
    menus = menu('greet-long="$${ref_sounds}/half.wav" invalid-sound="$${ref_sounds}/half.wav" timeout="500" '
                 'max-failures="-1" max-timeouts="9"', '<entry action="menu-exit" digits="0"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.1, "5"), (1.0, "5"), (2.0, "5")])
    assert logs(sim) == ["status=failure picked="]


def test_ivr_only_regex_entries_and_no_digit_len_collect_nothing(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_init: inlen = atoi(digit-len) = 0, and switch_ivr_menu_bind_action only
    # raises it for non-regex binds; play_and_collect(need 0) then just plays the greeting (a key
    # cuts it and is lost) and every round counts as a failure
    menus = menu('greet-long="$${ref_sounds}/half.wav" timeout="500" max-failures="2"',
                 '<entry action="menu-exec-app" digits="/^1$/" param="set picked=1"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.2, "1")])
    assert ("set", "picked=1") not in apps_run(sim)
    assert starts(sim) == [(0.0, "half.wav"), (0.235, "half.wav")]
    assert logs(sim) == ["status=failure picked="]


def test_ivr_transfer_sound_plays_before_a_transfer(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_execute, SWITCH_IVR_ACTION_EXECAPP: transfer-sound is played (need 0)
    # before an application named "transfer"
    menus = menu(SOUNDS + 'transfer-sound="$${ref_sounds}/half.wav" timeout="1000"',
                 '<entry action="menu-exec-app" digits="1" param="transfer 200 XML t"/>'
                 '<entry action="menu-exec-app" digits="2" param="set picked=2"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "1")])
    p = projection(sim, times=True)
    i = p.index((0.335, "playback_start", str(sounds / "half.wav")))
    assert p[i + 1][1:3] == ("playback_stop", str(sounds / "half.wav"))
    assert p[i + 2][1:] == ("execute", "transfer", "200 XML t")
    assert p[i + 2][0] == pytest.approx(0.835)
    sim = run(tmp_path / "2", sounds, ivr_plan(), menus, dtmf=[(0.3, "2")])   # not "transfer": no sound
    assert ("set", "picked=2") in apps_run(sim) and "half.wav" not in [f for _, f in starts(sim)]


def test_ivr_menu_play_sound_not_found_ends_the_menu(tmp_path: Path, sounds: Path) -> None:
    # SWITCH_IVR_ACTION_PLAYSOUND: status = switch_ivr_play_file(...) = NOTFOUND ends the loop
    # (status != SUCCESS); the top menu then plays its exit-sound
    menus = menu(SOUNDS + 'exit-sound="$${ref_sounds}/half.wav" timeout="1000"',
                 '<entry action="menu-play-sound" digits="1" param="$${ref_sounds}/missing.wav"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "1")])
    assert [f for _, f in starts(sim)] == ["two.wav", "half.wav"]
    assert logs(sim) == ["status=success picked="]


def test_ivr_menu_exec_app_without_param_ends_the_menu(tmp_path: Path, sounds: Path) -> None:
    # SWITCH_IVR_ACTION_EXECAPP: status starts FALSE and only a non-empty param that names an
    # application sets SUCCESS; FALSE ends the loop -> exit-sound, ivr returns
    menus = menu(SOUNDS + 'exit-sound="$${ref_sounds}/half.wav" timeout="1000"',
                 '<entry action="menu-exec-app" digits="1"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "1")])
    assert [f for _, f in starts(sim)] == ["two.wav", "half.wav"]
    assert [a for a, _ in apps_run(sim)] == ["answer", "ivr", "log"]


def test_ivr_menu_with_an_invalid_entry_is_not_built(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_stack_xml_build: an entry with an unknown action (or no digits) fails the
    # build; ivr_application_function logs "Unable to create menu" and returns
    menus = menu(SOUNDS, '<entry action="menu-exec-app" digits="1" param="set picked=1"/>'
                         '<entry action="menu-nothing" digits="2"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus)
    assert starts(sim) == []
    assert log_times(sim)[-1] == (0.0, "status= picked=")


def test_ivr_invalid_entry_in_a_reachable_sub_menu_fails_the_build(tmp_path: Path, sounds: Path) -> None:
    menus = (menu(SOUNDS, '<entry action="menu-sub" digits="1" param="s"/>')
             + menu(SOUNDS, '<entry action="menu-top" digits=""/>', name="s"))
    sim = run(tmp_path, sounds, ivr_plan(), menus)
    assert starts(sim) == []


def test_ivr_regex_entry_needs_its_closing_slash(tmp_path: Path, sounds: Path) -> None:
    # switch_regex_perform: "/..." without a closing '/' is a regex error (no match); text after
    # the last '/' are options ('i', 's')
    menus = menu(SOUNDS + 'timeout="1000" max-failures="1" digit-len="1"',
                 '<entry action="menu-exec-app" digits="/^9" param="set picked=9"/>'
                 '<entry action="menu-exec-app" digits="/^[a-d]$/i" param="set picked=D"/>')
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "9")])
    assert ("set", "picked=9") not in apps_run(sim)
    assert logs(sim) == ["status=failure picked="]
    sim = run(tmp_path / "2", sounds, ivr_plan(), menus, dtmf=[(0.3, "D")])
    assert ("set", "picked=D") in apps_run(sim)


def test_pagd_regex_that_does_not_compile_matches_nothing(tmp_path: Path, sounds: Path) -> None:
    # switch_regex_match: a compile error is logged and the digits count as invalid
    plan = ext(act("answer"),
               act("play_and_get_digits", "1 1 1 1000 # $${ref_sounds}/half.wav $${ref_sounds}/one.wav choice ["),
               act("log", "INFO choice=[${choice}] invalid=[${choice_invalid}]"))
    sim = run(tmp_path, sounds, plan, dtmf=[(0.2, "4")])
    assert logs(sim) == ["choice=[] invalid=[4]"]


def test_ivr_tts_engine_and_voice_are_set(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_execute sets tts_engine / tts_voice when the menu has both
    menus = menu(SOUNDS + 'tts-engine="flite" tts-voice="kal" timeout="500" max-timeouts="1" digit-len="1"', "")
    sim = run(tmp_path, sounds, ivr_plan(" tts=${tts_engine}/${tts_voice}"), menus)
    assert logs(sim) == ["status=timeout picked= tts=flite/kal"]


def test_ivr_menu_events_around_a_sub_menu(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_execute: menu::exit of the caller before a sub-menu, menu::enter after it;
    # each with Menu-Name
    menus = (menu(SOUNDS + 'timeout="500" max-timeouts="1"', '<entry action="menu-sub" digits="1" param="s"/>')
             + menu('greet-long="$${ref_sounds}/half.wav" timeout="500" max-timeouts="1"', "", name="s"))
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "1")])
    events = [(r["subclass"], r.get("Menu-Name")) for r in sim.trace.records
              if r["event"] == "custom" and r["leg"] == "b"]
    assert events == [("menu::enter", "m"), ("menu::exit", "m"), ("menu::enter", "s"), ("menu::exit", "s"),
                      ("menu::enter", "m"), ("menu::exit", "m")]


def test_ivr_top_menu_run_again_as_a_sub_menu_catches_menu_top(tmp_path: Path, sounds: Path) -> None:
    # SWITCH_IVR_MENU_FLAG_STACK belongs to the menu, so the top menu reached again through
    # menu-sub catches menu-top itself (and goes on with its short greeting)
    menus = (menu(SOUNDS + 'timeout="500" max-timeouts="1"',
                  '<entry action="menu-sub" digits="1" param="s"/><entry action="menu-top" digits="9"/>')
             + menu('greet-long="$${ref_sounds}/half.wav" timeout="500" max-timeouts="1"',
                    '<entry action="menu-sub" digits="2" param="m"/>', name="s"))
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.3, "1"), (0.6, "2"), (0.9, "9")])
    # m (cut), s (cut), m again (cut by 9) -> m catches menu-top -> greet-short
    assert [f for _, f in starts(sim)][:4] == ["two.wav", "half.wav", "two.wav", "one.wav"]


# ----- prompts ----------------------------------------------------------------------------------

def test_file_string_with_no_playable_part_is_not_found(tmp_path: Path, sounds: Path) -> None:
    # mod_dptools file_string: next_file skips parts that fail to open; none left -> the open
    # fails, switch_ivr_play_file returns NOTFOUND without PLAYBACK_START/STOP
    plan = ext(act("answer"), act("playback", "file_string://$${ref_sounds}/nope1.wav!$${ref_sounds}/nope2.wav"),
               act("log", "INFO ${current_application_response}"))
    sim = run(tmp_path, sounds, plan)
    assert starts(sim) == []
    assert logs(sim) == ["FILE NOT FOUND"]


def test_gentones_fires_no_playback_events_and_stops_on_star(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_gentones fires no PLAYBACK_START/STOP; gentones_function passes on_dtmf, so a
    # playback terminator ('*' by default) ends it
    plan = ext(act("answer"), act("gentones", "%(1000,0,440)|4"), act("log", "INFO done"))
    sim = run(tmp_path, sounds, plan, dtmf=[(1.5, "*")])
    assert starts(sim) == []
    assert log_times(sim) == [(pytest.approx(1.535, abs=0.01), "done")]


def test_gentones_loops_repeat_the_script(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_gentones: "|N" -> switch_buffer_set_loops(N): the tones play N + 1 times
    plan = ext(act("answer"), act("gentones", "%(500,0,440)|2"), act("log", "INFO done"))
    sim = run(tmp_path, sounds, plan)
    assert log_times(sim) == [(pytest.approx(1.5, abs=0.05), "done")]


PIN = ('pin="1234" pin-file="$${ref_sounds}/half.wav" bad-pin-file="$${ref_sounds}/one.wav" '
       'exit-sound="$${ref_sounds}/half.wav" timeout="500" max-timeouts="1" digit-len="1"')


def test_ivr_pin_is_asked_before_the_greeting(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_menu_execute: with a pin, switch_play_and_get_digits(4, 4, 3, 3000, "#",
    # pin-file, bad-pin-file, ..., "^1234$", 10000) runs before the menu loop
    menus = menu('greet-long="$${ref_sounds}/two.wav" ' + PIN, "")
    sim = run(tmp_path, sounds, ivr_plan(), menus, dtmf=[(0.6, "1"), (0.7, "2"), (0.8, "3"), (0.9, "4")])
    assert [f for _, f in starts(sim)] == ["half.wav", "two.wav", "half.wav"]   # pin, greeting, exit
    assert starts(sim)[1][0] == pytest.approx(0.935, abs=0.01)
    assert logs(sim) == ["status=timeout picked="]


def test_ivr_wrong_pin_three_times_leaves_the_menu_without_exit_sound(tmp_path: Path, sounds: Path) -> None:
    # a failed pin check -> "goto end": no greeting, no exit-sound, ivr_menu_status stays success
    menus = menu('greet-long="$${ref_sounds}/two.wav" ' + PIN, "")
    sim = run(tmp_path, sounds, ivr_plan(), menus)
    assert [f for _, f in starts(sim)] == ["half.wav", "one.wav"] * 3
    assert log_times(sim) == [(13.5, "status=success picked=")]
