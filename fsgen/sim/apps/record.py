"""record, record_session, stop_record_session (mod_dptools over switch_ivr_record_file and the
recording media bug of switch_ivr_async.c).

The simulator writes no audio.  Every recording is kept in ``sim.modules["record"]`` as a
:class:`Recording` (path, channel, start/stop time, length, completion cause) so tests and
scripted calls can check what FreeSWITCH would have written, and ``record_start`` /
``record_stop`` appear in the trace exactly when FreeSWITCH fires RECORD_START / RECORD_STOP.

Silence detection needs to know whether the far end is talking.  The simulator has no audio,
so it uses the only sound sources it knows: the far end "talks" while the channel it hears
(its loopback partner, its bridged peer, or that peer's partner) is playing a prompt, and a
scripted SIP party (``sofia/...``) is assumed to talk.  A parked harness leg is silent, which
is what a parked loopback leg sends on the real rig (comfort noise).

``record`` follows switch_ivr_record_file: pre-answer, RECORD_START, digits in
``playback_terminators`` (default ``*``) end it, the time limit is checked against whole epoch
seconds (``now - start > limit``), ``silence_hits`` seconds (3 when 0) of continuous silence
below the threshold end it (``silence_hits_exhausted`` true, else false); with
``record_restart_limit_on_dtmf`` any key restarts the time limit; ``record_samples`` / ``record_seconds`` / ``record_ms`` are set and
RECORD_STOP fired.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..bridge import RemoteEndpoint, parse_vars
from ..engine import Hangup, Wait
from . import application
from .args import separate

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel
    from ..sim import Simulator

RATE = 8000
AUDIO = "rec_audio"   # posted to a recording channel when some prompt starts or stops
PLAYING_APPS = ("playback", "endless_playback", "say", "phrase", "speak")


@dataclass
class Recording:
    """One file FreeSWITCH would have written."""

    path: str
    uuid: str
    kind: str                       # record | record_session | voicemail
    started: float                  # virtual seconds
    stopped: float | None = None
    seconds: float = 0.0            # audio length
    cause: str = ""                 # record_completion_cause
    discarded: bool = False         # record_session shorter than RECORD_MIN_SEC
    digit: str = ""                 # DTMF that ended a ``record``

    @property
    def active(self) -> bool:
        return self.stopped is None


class RecordState:
    """Per-simulator recordings and the prompt activity silence detection looks at."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.recordings: list[Recording] = []
        self.playing: dict[str, int] = {}
        self.listening: list[Channel] = []
        self._seed()
        sim.listeners.append(self._on_event)

    def _seed(self) -> None:
        """Prompts already playing when the module is first used: from the trace (by leg label),
        or, for labels several live channels share (harness legs are all "a"), from the
        application the channel runs."""
        sim = self.sim
        count: dict[str, int] = {}
        for r in sim.trace.records:
            if r.get("event") in ("playback_start", "playback_stop"):
                count[r["leg"]] = count.get(r["leg"], 0) + (1 if r["event"] == "playback_start" else -1)
        labels = [sim.trace.leg_of_uuid(c.uuid) or "" for c in sim.channels.values()]
        for chan, label in zip(list(sim.channels.values()), labels):
            if labels.count(label) == 1:
                n = count.get(label, 0)
            else:
                n = 1 if chan.app_stack and chan.app_stack[-1] in PLAYING_APPS else 0
            if n > 0:
                self.playing[chan.uuid] = n

    def _on_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if event not in ("playback_start", "playback_stop"):
            return
        n = self.playing.get(chan.uuid, 0) + (1 if event == "playback_start" else -1)
        if n > 0:
            self.playing[chan.uuid] = n
        else:
            self.playing.pop(chan.uuid, None)
        for listener in list(self.listening):
            listener.post(AUDIO)

    def files(self, uuid: str | None = None) -> list[Recording]:
        return [r for r in self.recordings if uuid is None or r.uuid == uuid]


def state(sim: Simulator) -> RecordState:
    st = sim.modules.get("record")
    if st is None:
        st = sim.modules["record"] = RecordState(sim)
    return st


def far_end_talking(chan: Channel) -> bool:
    """Is anything audible arriving on ``chan``?  (See the module docstring.)"""
    st = state(chan.sim)
    if isinstance(chan.endpoint, RemoteEndpoint):
        return True
    for near in (chan.partner, chan.bridged):
        if near is None or near.hungup:
            continue
        if isinstance(near.endpoint, RemoteEndpoint) and near.answered:
            return True
        if st.playing.get(near.uuid):
            return True
        for far in (near.bridged, near.partner):
            if far is not None and far is not chan and not far.hungup and st.playing.get(far.uuid):
                return True
    return False


def _epoch(chan: Channel) -> int:
    return math.floor(chan.sim.wall_time() + 1e-6)


def set_length_vars(chan: Channel, seconds: float) -> None:
    samples = round(seconds * RATE)
    chan.set_var("record_samples", str(samples))
    chan.set_var("record_seconds", str(samples // RATE))
    chan.set_var("record_ms", str(samples // (RATE // 1000)))


@dataclass
class RecordResult:
    status: str             # done | break | hangup
    digit: str | None
    seconds: float
    recording: Recording


def record_file(chan: Channel, path: str, limit: int = 0, thresh: int = 0, hits: int = 0,
                on_digit: Callable[[str], bool] | None = None, kind: str = "record"
                ) -> Generator[Any, Any, RecordResult]:
    """switch_ivr_record_file on the virtual clock.  ``on_digit`` returns True when the digit
    ends the recording (digits are consumed either way)."""
    sim = chan.sim
    st = state(sim)
    engine = sim.engine
    if not chan.answered:
        chan.pre_answer()
    rec = Recording(path=path, uuid=chan.uuid, kind=kind, started=engine.now)
    st.recordings.append(rec)
    chan.emit("record_start", file=path)
    start_epoch = _epoch(chan) if limit else 0
    restart_on_dtmf = chan.true("record_restart_limit_on_dtmf")
    chan.set_var("silence_hits_exhausted", "false")
    silence_for = (hits if hits else 3) if thresh else 0
    silent_since: float | None = None
    status, digit = "done", None
    st.listening.append(chan)
    try:
        while True:
            if not chan.ready:
                status = "break"
                break
            if chan.dtmf and limit and restart_on_dtmf:
                start_epoch = _epoch(chan)   # record_restart_limit_on_dtmf: any key restarts the limit
            while chan.dtmf:
                d = chan.dtmf.popleft()
                if on_digit is not None and on_digit(d):
                    status, digit = "break", d
                    break
            if digit is not None:
                break
            now = engine.now
            deadlines = []
            if limit:
                if _epoch(chan) - start_epoch > limit:
                    break
                deadlines.append(start_epoch + limit + 1 - sim.start_epoch)
            if silence_for:
                if far_end_talking(chan):
                    silent_since = None
                else:
                    if silent_since is None:
                        silent_since = now
                    if now - silent_since >= silence_for - 1e-9:
                        rec.cause = "success-silence"
                        chan.set_var("silence_hits_exhausted", "true")
                        break
                    deadlines.append(silent_since + silence_for)
            timeout = max(min(deadlines) - now, 0.0) if deadlines else None
            w = yield Wait(("dtmf", "break", AUDIO), timeout=timeout)
            if w.kind == "break":
                status = "break"
                break
    except Hangup:
        status = "hangup"
        raise
    finally:
        if chan in st.listening:
            st.listening.remove(chan)
        rec.stopped = engine.now
        rec.seconds = rec.stopped - rec.started
        rec.digit = digit or ""
        set_length_vars(chan, rec.seconds)
        chan.emit("record_stop", file=path)
    return RecordResult(status, digit, rec.seconds, rec)


def _terminator_check(chan: Channel) -> Callable[[str], bool]:
    """mod_dptools on_dtmf: ``playback_terminators`` (default ``*``, ``any``, ``none``)."""
    terms = chan.var("playback_terminators")
    if terms is None:
        terms = "*"
    if terms.lower() == "any":
        terms = "1234567890*#"
    elif terms.lower() == "none":
        terms = ""

    def check(d: str) -> bool:
        if d in terms:
            chan.set_var("playback_terminator_used", d)
            return True
        return False
    return check


def _uint(text: str | None) -> int:
    try:
        return max(int(text or "0"), 0)
    except ValueError:
        return 0


@application("record")
def record(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``record <path> [<time_limit_secs>] [<silence_thresh>] [<silence_hits>]``."""
    argv = separate(data, maxparts=4) if data.strip() else []
    if not argv:
        chan.sim.trace.add(chan, "log", level="ERR", text="No file specified.")
        return
    limit = _uint(argv[1].lstrip("+")) if len(argv) > 1 else 0
    thresh = _uint(argv[2]) if len(argv) > 2 else 0
    hits = _uint(argv[3]) if len(argv) > 3 else 0
    chan.set_var("playback_terminator_used", None)
    yield from record_file(chan, argv[0], limit, thresh, hits, on_digit=_terminator_check(chan))
    if chan.reroute is not None and not chan.hungup:
        chan.hangup("DESTINATION_OUT_OF_ORDER")  # record_function: channel no longer ready


# ---- record_session (media bug) -----------------------------------------------------------------
class SessionRecording:
    """A running record_session: counts audio time, bridged time only with RECORD_BRIDGE_REQ."""

    def __init__(self, chan: Channel, path: str, limit: int):
        self.chan = chan
        self.st = state(chan.sim)
        engine = chan.sim.engine
        self.rec = Recording(path=path, uuid=chan.uuid, kind="record_session", started=engine.now)
        self.bridge_req = chan.true("RECORD_BRIDGE_REQ")
        try:
            self.min_sec = int(chan.var("RECORD_MIN_SEC") or "3")
        except ValueError:
            self.min_sec = 3
        self.audio = 0.0
        self.since: float | None = None if self.bridge_req and chan.bridged is None else engine.now
        self.limit_timer = engine.call_later(limit, self.stop, "success-maxtime") if limit else None
        self.st.recordings.append(self.rec)
        chan.listeners.append(self._on_event)
        chan.emit("record_start", file=path)

    def _on_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        now = chan.sim.engine.now
        if event == "bridge" and self.since is None:
            self.since = now
        elif event == "unbridge" and self.bridge_req and self.since is not None:
            self.audio += now - self.since
            self.since = None
        elif event == "hangup":
            self.stop(None)

    def stop(self, cause: str | None) -> None:
        if not self.rec.active:
            return
        chan, engine = self.chan, self.chan.sim.engine
        engine.cancel(self.limit_timer)
        if self._on_event in chan.listeners:
            chan.listeners.remove(self._on_event)
        if self.since is not None:
            self.audio += engine.now - self.since
            self.since = None
        rec = self.rec
        rec.stopped = engine.now
        rec.seconds = self.audio
        if rec.seconds < self.min_sec:
            rec.discarded = True
            chan.set_var("RECORD_DISCARDED", "true")
            rec.cause = "input-too-short"
        elif cause:
            rec.cause = cause
        elif chan.hungup:
            rec.cause = "success-silence" if rec.seconds > 0 else "no-input-timeout"
        else:
            rec.cause = "success-maxtime"
        set_length_vars(chan, rec.seconds)
        chan.set_var("record_completion_cause", rec.cause)
        chan.emit("record_stop", file=rec.path)
        sessions(chan.sim).pop((chan.uuid, rec.path), None)


def sessions(sim: Simulator) -> dict[tuple[str, str], SessionRecording]:
    return sim.modules.setdefault("record_session", {})


def start_session_recording(chan: Channel, data: str) -> SessionRecording | None:
    """record_session's work, also used by mod_callcenter's record-template."""
    text = data.strip()
    variables: dict[str, str] = {}
    if text.startswith("{") and "}" in text:
        end = text.index("}")
        variables = parse_vars(text[1:end])
        text = text[end + 1:].strip()
    limit = 0
    if "+" in text:
        head, _, tail = text.rpartition("+")
        if tail.strip().isdigit():
            text, limit = head.strip(), int(tail.strip())
    if not text:
        chan.sim.trace.add(chan, "log", level="ERR", text="No file specified.")
        return None
    for k, v in variables.items():
        chan.set_var(k, v)
    key = (chan.uuid, text)
    table = sessions(chan.sim)
    if key in table:
        chan.sim.trace.add(chan, "log", level="WARNING", text=f"Already recording [{text}]")
        return table[key]
    table[key] = SessionRecording(chan, text, limit)
    return table[key]


@application("record_session")
def record_session(chan: Channel, data: str) -> None:
    """``record_session [{var=val}]<path> [+<seconds>]``: starts at once, stops on hangup."""
    start_session_recording(chan, data)


@application("stop_record_session")
def stop_record_session(chan: Channel, data: str) -> None:
    """``stop_record_session <path>|all``."""
    target = data.strip()
    for (uuid, path), rec in list(sessions(chan.sim).items()):
        if uuid == chan.uuid and (target == "all" or target == path):
            rec.stop(None)
