"""playback, say and friends (prompt playing applications)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from .. import media
from ..channel import Channel
from ..cstr import atoi
from . import application
from .args import separate


def playback_dtmf(chan: Channel):
    """mod_dptools on_dtmf: a digit in ``playback_terminators`` (default ``*``) stops playback."""
    terms = chan.var("playback_terminators")
    if terms is None:
        terms = "*"
    if terms.lower() == "any":
        terms = "1234567890*#"
    elif terms.lower() == "none":
        terms = ""

    def on_digit(d: str) -> bool:
        if d in terms:
            chan.set_var("playback_terminator_used", d)
            return True
        return False
    return on_digit


@application("playback")
def playback(chan: Channel, data: str) -> Generator[Any, Any, str]:
    """``playback <file>[@@<start sample>]``; stops on ``playback_terminators`` (default ``*``)."""
    chan.set_var("playback_terminator_used", None)
    offset = 0.0
    if "@@" in data:
        data, _, samples = data.partition("@@")
        offset = int(samples) / 8000.0 if samples.isdigit() else 0.0
    res = yield from media.play(chan, data, dtmf=playback_dtmf(chan), skip=offset)
    if res.status == "notfound":
        return "FILE NOT FOUND"
    return "FILE PLAYED"


@application("endless_playback")
def endless_playback(chan: Channel, data: str) -> Generator[Any, Any, str]:
    while chan.ready:
        res = yield from media.play(chan, data, dtmf=None)
        if res.status != "done":
            break
    return "FILE PLAYED"


@application("loop_playback")
def loop_playback(chan: Channel, data: str) -> Generator[Any, Any, str]:
    """``loop_playback [+<loops>] <file>`` (negative loops: until interrupted)."""
    loops = 1
    if data.startswith("+"):
        count, _, data = data[1:].partition(" ")
        try:
            loops = int(count)
        except ValueError:
            chan.sim.trace.error(chan, "bad_argument", f"loop_playback: bad loop count {count!r}")
            chan.hangup("DESTINATION_OUT_OF_ORDER")
            return "PLAYBACK ERROR"
    status = "done"
    while chan.ready and (loops < 0 or loops > 0):
        loops -= 1
        res = yield from media.play(chan, data.strip(), dtmf=None)
        status = res.status
        if status not in ("done", "break"):
            break
    return "FILE NOT FOUND" if status == "notfound" else "FILE PLAYED"


@application("gentones")
def gentones(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``gentones <teletone script>[|<loops>]``: switch_ivr_gentones writes the tones itself (no
    PLAYBACK_START/STOP), ``loops`` more times (negative: until stopped); playback terminators
    stop it (gentones_function's on_dtmf)."""
    if not data:
        chan.sim.trace.add(chan, "log", level="ERR", text="Invalid Params!")
        return
    script, bar, count = data.partition("|")
    loops = atoi(count) if bar else 0
    chan.set_var("playback_terminator_used", None)
    if not chan.answered:
        chan.pre_answer()
    once = media.tone_duration("tone_stream://" + script)
    yield from media.silence(chan, media.INFINITE if loops < 0 else once * (loops + 1), dtmf=playback_dtmf(chan))


_SMALL = "0123456789"


def say_files(say_type: str, method: str, text: str) -> list[str]:
    """Approximate mod_say_en: the prompts it would play (digits/N.wav per spoken unit)."""
    say_type = say_type.lower()
    if say_type in ("number", "items", "persons", "messages", "digits", "short_date_time"):
        digits = [c for c in text if c in _SMALL]
        if method == "iterated" or say_type == "digits" or len(digits) > 2:
            return [f"digits/{c}.wav" for c in digits]
        n = int("".join(digits) or "0")
        if n < 20:
            return ["digits/%d.wav" % n]
        tens, units = divmod(n, 10)
        return ["digits/%d0.wav" % tens] + (["digits/%d.wav" % units] if units else [])
    if say_type in ("name_spelled", "name_phonetic"):
        return ["ascii/%d.wav" % ord(c) for c in text if not c.isspace()]
    return [f"digits/{c}.wav" for c in text if c in _SMALL]


@application("say")
def say(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``say <module>[:<lang>] <type> <method> [<gender>] <text>`` -- approximated (see say_files)."""
    argv = separate(data, maxparts=5)
    if len(argv) < 4:
        chan.sim.trace.error(chan, "bad_argument", "say needs: <module> <type> <method> [<gender>] <text>")
        return
    text = argv[-1]
    for f in say_files(argv[1], argv[2].lower(), text):
        res = yield from media.play(chan, f, dtmf=playback_dtmf(chan))
        if res.status in ("break", "hangup"):
            break
