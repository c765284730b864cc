"""Audit of the simulator's ivr menus, read / play_and_get_digits and prompt DTMF handling
against FreeSWITCH's source (switch_ivr_menu.c, switch_ivr_play_say.c, switch_ivr.c,
mod_dptools.c).  Each test names the C function whose behaviour it pins."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import apps_run, call, make_conf, projection, simulator, write_wav


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


def act(app: str, data: str = "") -> str:
    return '<action application="{}" data="{}"/>'.format(app, data.replace('"', "&quot;"))


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
