"""Prompts, playback and digit collection on the virtual clock.

Durations come from the WAV header (data bytes / byte rate).  ``file_string://a!b`` plays
its parts one after the other as one playback (one playback_start/stop pair, like the
file_string file interface); ``silence_stream://MS`` lasts MS milliseconds (``-1``/``0`` =
until interrupted); ``tone_stream://`` is approximated from its ``%(on,off,freq)`` segments
and ``loops=N``; ``local_stream://`` (music on hold) plays until interrupted.

A prompt that does not exist behaves as on the fs-reference rig: a warning record and no
playback at all (``notfound``) -- unless the simulator was given
``missing_prompt_seconds``, in which case it pretends the prompt lasted that long.

DTMF handling mirrors switch_ivr_play_file: with no input handling the digits stay queued
for a later reader; with a digit buffer the first digit ends the prompt and is kept; with a
callback every digit is consumed and the callback decides whether the prompt stops.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .engine import TIMEOUT, Hangup, Wait

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel

INFINITE = float("inf")

#: DTMF policies for :func:`play`
NO_INPUT = None          # digits stay queued
BUFFER = "buffer"        # first digit stops the prompt and is returned
ANY_BREAKS = "any"       # any digit stops the prompt (left queued)
DtmfPolicy = None | str | Callable[[str], bool]


@dataclass(slots=True)
class PlayResult:
    status: str             # done | break | notfound | hangup
    digit: str | None = None


_duration_cache: dict[str, float | None] = {}


def wav_duration(path: str) -> float | None:
    """Seconds of audio in a RIFF/WAVE file, or None if it is not a readable WAV."""
    if path in _duration_cache:
        return _duration_cache[path]
    dur: float | None = None
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                byte_rate = 0
                while True:
                    ch = f.read(8)
                    if len(ch) < 8:
                        break
                    cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
                    if cid == b"fmt ":
                        fmt = f.read(size)
                        if len(fmt) >= 12:
                            byte_rate = struct.unpack("<I", fmt[8:12])[0]
                        if size % 2:
                            f.read(1)
                    elif cid == b"data":
                        if byte_rate:
                            remaining = os.path.getsize(path) - f.tell()
                            dur = min(size, max(remaining, 0)) / byte_rate
                        break
                    else:
                        f.seek(size + (size % 2), 1)
    except OSError:
        dur = None
    _duration_cache[path] = dur
    return dur


_TONE_SEG = re.compile(r"%\(([^)]*)\)")


def tone_duration(spec: str) -> float:
    body = spec[len("tone_stream://"):]
    loops = 1
    m = re.search(r"loops=(-?\d+)", body)
    if m:
        loops = int(m.group(1))
        if loops < 0:
            return INFINITE
    total = 0.0
    for seg in _TONE_SEG.findall(body):
        parts = [p.strip() for p in seg.split(",")]
        try:
            total += (float(parts[0]) + (float(parts[1]) if len(parts) > 1 else 0.0)) / 1000.0
        except ValueError:
            continue
    return total * max(loops, 1)


def resolve_path(chan: Channel, file: str) -> str:
    """Relative prompt names live under ``${sound_prefix}`` (as FreeSWITCH resolves them)."""
    if file.startswith("/") or "://" in file:
        return file
    prefix = chan.var("sound_prefix") or chan.sim.globals.get("sound_prefix", "")
    return prefix.rstrip("/") + "/" + file if prefix else file


def duration_of(chan: Channel, spec: str) -> float | None:
    """Seconds the prompt lasts, INFINITE for streams, None when it cannot be opened."""
    key = (spec, chan.sim.missing_prompt_seconds)
    got = _SPEC_DURATIONS.get(key, _UNKNOWN)
    if got is not _UNKNOWN:
        return cast("float | None", got)
    dur = _duration_of(chan, spec)
    if _channel_free(spec):
        if len(_SPEC_DURATIONS) > 4096:
            _SPEC_DURATIONS.clear()
        _SPEC_DURATIONS[key] = dur
    return dur


_UNKNOWN = object()
#: (spec, missing_prompt_seconds) -> duration, for specs whose length no channel variable changes
_SPEC_DURATIONS: dict[tuple[str, float | None], float | None] = {}


def _channel_free(spec: str) -> bool:
    """Absolute paths, streams, say:/phrase: (no relative name resolved by ``${sound_prefix}``)."""
    parts = spec[len("file_string://"):].split("!") if spec.startswith("file_string://") else [spec]
    return all(not p or p.startswith(("/", "say:", "phrase:")) or "://" in p for p in parts)


def _duration_of(chan: Channel, spec: str) -> float | None:
    if spec.startswith("silence_stream://"):
        ms = spec[len("silence_stream://"):].split(",")[0]
        try:
            v = int(ms)
        except ValueError:
            return None
        return INFINITE if v <= 0 else v / 1000.0
    if spec.startswith("tone_stream://"):
        return tone_duration(spec)
    if spec.startswith("local_stream://"):
        return INFINITE
    if spec.startswith("file_string://"):
        # mod_dptools file_string: next_file skips a part that does not open; with none left the
        # open fails (NOTFOUND, no playback events)
        total, found = 0.0, False
        for part in spec[len("file_string://"):].split("!"):
            d = _duration_of(chan, part) if part else None
            if d is None:
                d = chan.sim.missing_prompt_seconds
            if d is not None:
                total += d
                found = True
        return total if found else None
    if spec.startswith(("say:", "phrase:")):
        return chan.sim.missing_prompt_seconds or 0.0
    if "://" in spec:
        return None
    path = resolve_path(chan, spec)
    dur = wav_duration(path)
    if dur is None and chan.sim.missing_prompt_seconds is not None:
        return chan.sim.missing_prompt_seconds
    return dur


def play(chan: Channel, spec: str, dtmf: DtmfPolicy = NO_INPUT, skip: float = 0.0) -> Generator[Any, Any, PlayResult]:
    """Play one prompt (from ``skip`` seconds in); returns how it ended.  Use with ``yield from``."""
    if not chan.ready:
        return PlayResult("hangup")
    if not chan.answered:
        chan.pre_answer()  # switch_ivr_play_file pre-answers (early media)
    spec = spec.strip()
    dur = duration_of(chan, spec)
    if dur is None:
        chan.sim.trace.add(chan, "log", level="WARNING", text=f"Can't open {spec}")
        chan.variables["current_application_response"] = "FILE NOT FOUND"
        return PlayResult("notfound")
    shown = spec if "://" in spec else resolve_path(chan, spec)
    dur = max(dur - skip, 0.0)
    chan.emit("playback_start", file=shown)
    try:
        status, digit = yield from _run_media(chan, dur, dtmf)
    except Hangup:
        # switch_ivr_play_file still fires PLAYBACK_STOP (status "done": not a break) after the hangup
        chan.emit("playback_stop", file=shown, status="done")
        raise
    chan.emit("playback_stop", file=shown, status="done" if status == "done" else "break")
    return PlayResult(status, digit)


def _take_dtmf(chan: Channel, dtmf: DtmfPolicy) -> tuple[str, str | None] | None:
    """Apply the policy to queued digits; return (status, digit) when the media must stop."""
    if dtmf is NO_INPUT or not chan.dtmf:
        return None
    if dtmf == ANY_BREAKS:
        return ("break", None)
    if dtmf == BUFFER:
        return ("break", chan.dtmf.popleft())
    while chan.dtmf:
        d = chan.dtmf.popleft()
        if dtmf(d):  # type: ignore[operator]
            return ("break", d)
    return None


def _run_media(chan: Channel, dur: float, dtmf: DtmfPolicy) -> Generator[Any, Any, tuple[str, str | None]]:
    engine = chan.sim.engine
    end = engine.now + dur
    kinds = ("dtmf", "break") if dtmf is not NO_INPUT else ("break",)
    while True:
        if not chan.ready:
            return ("break", None)
        hit = _take_dtmf(chan, dtmf)
        if hit is not None:
            return hit
        left = end - engine.now
        if left <= 1e-9:
            return ("done", None)
        w = yield Wait(kinds, timeout=None if left == INFINITE else left)
        if w.kind == TIMEOUT:
            return ("done", None)
        if w.kind == "break":
            return ("break", None)


def silence(chan: Channel, seconds: float, dtmf: DtmfPolicy = NO_INPUT) -> Generator[Any, Any, PlayResult]:
    """Wait without a prompt event (sleep, record pauses); same DTMF rules as :func:`play`."""
    status, digit = yield from _run_media(chan, seconds, dtmf)
    return PlayResult(status, digit)


@dataclass(slots=True)
class Collected:
    digits: str
    terminator: str = ""
    status: str = "success"   # success | timeout | hangup


def collect_digits(chan: Channel, have: str, max_digits: int, terminators: str,
                   first_timeout: float, digit_timeout: float, abs_timeout: float = 0.0
                   ) -> Generator[Any, Any, Collected]:
    """switch_ivr_collect_digits_count: timeouts in seconds (0 = none)."""
    engine = chan.sim.engine
    digits = have
    if max_digits and len(digits) >= max_digits:
        return Collected(digits)
    started = engine.now
    abs_end = started + abs_timeout if abs_timeout else INFINITE
    if digit_timeout and first_timeout:
        eff = first_timeout
    elif digit_timeout:
        eff = digit_timeout
    else:   # no inter-digit timeout: the first timeout restarts on every digit instead
        eff = digit_timeout = first_timeout
    mark = started
    while True:
        if not chan.ready:
            return Collected(digits, status="hangup")
        while chan.dtmf:
            d = chan.dtmf.popleft()
            if terminators and d in terminators:
                return Collected(digits, terminator=d)
            digits += d
            if max_digits and len(digits) >= max_digits:
                return Collected(digits)
            if digit_timeout:
                eff = digit_timeout
                mark = engine.now
        deadline = min(abs_end, mark + eff if eff else INFINITE)
        if engine.now >= deadline - 1e-9:
            return Collected(digits, status="timeout")
        w = yield Wait(("dtmf", "break"), timeout=None if deadline == INFINITE else deadline - engine.now)
        if w.kind == "break" and not chan.ready:
            return Collected(digits, status="hangup")
