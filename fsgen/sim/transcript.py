"""What happened on a scripted call, in the flow's terms, read back from the simulator's trace.

:func:`observe` turns the trace of one replay into an :class:`Observation`: prompts heard (by
prompt id, and whether each was cut short), keys pressed, nodes and menus entered, lookups and
the variables esl_app set, queues joined, bridges, voicemail, recordings and the hangup.
Expectations are checked against it (:mod:`fsgen.sim.expect`) and :func:`render` prints it as a
transcript a person can follow next to the flow::

      4.0  node main_menu (menu)
      4.0  hears main_menu [zh en], cut off after 1.0 s
      5.0  presses 1
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .apps.args import separate
from .media import duration_of

if TYPE_CHECKING:  # pragma: no cover
    from .replay import Run

EPS = 1e-6


@dataclass
class Heard:
    t: float
    id: str
    langs: list[str]
    files: list[str]
    complete: bool
    played: float          # seconds of it that played


@dataclass
class Lookup:
    t: float
    node: str
    names: list[str]
    status: str = "failed"
    variables: dict[str, str] = field(default_factory=dict)
    hangup: str | None = None
    connected: bool = True


@dataclass
class QueueJoin:
    t: float
    queue: str
    node: str
    position: int


@dataclass
class BridgeTo:
    t: float
    party: str
    channel: str
    ended: float | None = None


@dataclass
class Observation:
    heard: list[Heard] = field(default_factory=list)
    pressed: list[tuple[float, str]] = field(default_factory=list)
    nodes: list[tuple[float, str]] = field(default_factory=list)
    menus: list[tuple[float, str]] = field(default_factory=list)
    lookups: list[Lookup] = field(default_factory=list)
    queues: list[QueueJoin] = field(default_factory=list)
    bridges: list[BridgeTo] = field(default_factory=list)
    voicemails: list[tuple[float, str, bool]] = field(default_factory=list)   # (t, box, message left)
    recordings: list[tuple[float, str]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hangup: str | None = None
    hangup_t: float | None = None
    hung_up_by: str = "switch"
    errors: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    def heard_ids(self) -> list[str]:
        return [h.id for h in self.heard]


def _files(spec: str) -> list[str]:
    if spec.startswith("file_string://"):
        return [p for p in spec[len("file_string://"):].split("!") if p]
    return [spec]


def _label(run: Run, path: str) -> tuple[str | None, str | None]:
    """(prompt id, language) of a played file, or (None, None) for tones, silence, music."""
    ref = run.rig.prompt_id(path)
    if ref is not None:
        return ref.id, ref.lang
    if path.startswith(("silence_stream://", "tone_stream://")):
        return None, None
    if path.startswith("local_stream://"):
        return "music on hold", None
    return os.path.splitext(os.path.basename(path))[0], None


#: the events of the caller's leg that :func:`observe` looks at
_SHOWN = frozenset({"create", "error", "custom", "caller_speaks", "caller_presses", "route", "playback_start",
                    "displace", "playback_stop", "execute", "log", "bridge", "unbridge", "record_start", "hangup"})


def observe(run: Run) -> Observation:
    obs = Observation()
    trace = run.sim.trace
    b = trace.leg(run.leg)
    # with other callers in the replay, only the far ends this caller was bridged to are shown
    if run.others:
        peers = {str(r.get("other")) for r in trace.records if r.get("leg") == b and r.get("event") == "bridge"}
        shown = (lambda label: label in peers)
    else:
        shown = (lambda label: True)
    names: dict[str, str] = {}
    socket_open: Lookup | None = None
    vm_open: tuple[float, str] | None = None
    vm_recorded = False
    pending_play: dict[str, tuple[float, str]] = {}
    node = ""
    current_app = ""
    last_lookup_set = ""
    for r in trace.records:
        leg, event = r.get("leg"), r.get("event")
        if leg == b and event not in _SHOWN:
            continue    # dest_change, dtmf, send_dtmf, park...: nothing below looks at them
        if (leg == "a" or leg == "-") and leg != b and event not in ("create", "error"):
            continue    # the caller's own leg and module records: nothing the transcript shows
        t = float(r.get("t", 0.0))
        if event == "create":
            names[str(leg)] = str(r.get("name", ""))
        if event == "error":
            obs.errors.append(str(r.get("message", "")))
            obs.timeline.append((t, "SIMULATOR ERROR: " + str(r.get("message", ""))))
            continue
        if event == "api" and leg == "-":
            continue
        if leg != b:
            if shown(str(leg)):
                _other_leg(run, obs, r, names)
            continue
        if event == "custom" and r.get("subclass") == "conference::maintenance":
            if r.get("action") == "add-member":
                room = r.get("conference_name")
                obs.timeline.append((t, f"joins conference {room} ({_members(r)})"))
            continue
        if event == "execute":
            app, data = str(r.get("app")), str(r.get("data") or "")
            current_app = app
            set_lookup = last_lookup_set   # what this leg last set hotline_lookup to, before this record
            if app == "set":        # _assignments("set", data), without hashing the text
                k, eq, v = data.partition("=")
                pairs: tuple[tuple[str, str], ...] = ((k, v),) if eq else ()
            elif app == "multiset":
                pairs = _assigned(app, data)
            else:
                pairs = ()
            for k, v in pairs:
                if k == "hotline_lookup":
                    last_lookup_set = v
            if socket_open is not None and app in ("set", "multiset"):
                for k, v in pairs:
                    if k == "hotline_lookup_status":
                        socket_open.status = v
                    else:
                        socket_open.variables[k] = v
                continue
            if socket_open is not None and app == "hangup":
                socket_open.hangup = data or "NORMAL_CLEARING"
                continue
            if socket_open is not None:
                _close_lookup(obs, socket_open)
                socket_open = None
            if vm_open is not None:
                obs.voicemails.append((vm_open[0], vm_open[1], vm_recorded))
                vm_open = None
            if app == "socket":
                wanted = run.leg.variables.get("hotline_lookup", "")
                socket_open = Lookup(t, node, [n for n in set_lookup.split(",") if n]
                                     or [n for n in wanted.split(",") if n])
            elif app == "callcenter":
                queue = data.split()[0] if data else ""
                obs.queues.append(QueueJoin(t, queue, node, _position(run, queue, t)))
                obs.timeline.append((t, f"joins queue {queue} (position {obs.queues[-1].position})"))
            elif app == "voicemail":
                box = data.split()[-1] if data.split() else ""
                vm_open, vm_recorded = (t, box), False
                obs.timeline.append((t, f"voicemail box {box}"))
            elif app == "bridge":
                obs.timeline.append((t, f"dials {data}"))
            elif app == "say":
                obs.timeline.append((t, f"says {data}"))
            elif app in ("conference", "record", "record_session"):
                obs.timeline.append((t, f"{app} {data}"))
        elif event == "caller_speaks":
            obs.timeline.append((t, f"speaks for {float(r.get('seconds', 0)):g} s"))
        elif event == "caller_presses":
            digits = str(r.get("digits", ""))
            obs.pressed.append((t, digits))
            obs.timeline.append((t, f"presses {digits}" + (" (a key every 0.25 s)" if len(digits) > 1 else "")))
        elif event == "route":
            dest = str(r.get("dest") or "")
            ctx = str(r.get("context") or "")
            if ctx.startswith("hotline_"):
                base = dest.split(".")[0]
                if "." not in dest or dest.endswith(".back"):
                    node = base
                    obs.nodes.append((t, base))
                    is_menu = base in run.flow.menus
                    if is_menu:
                        obs.menus.append((t, base))
                    obs.timeline.append((t, f"node {base}" + (" (menu)" if is_menu else "")))
                elif dest.endswith((".invalid", ".no_input")) and base in run.flow.menus:
                    why = "an invalid key" if dest.endswith(".invalid") else "no input"
                    obs.timeline.append((t, f"menu {base} asks again after {why}"))
        elif event == "playback_start":
            if current_app != "say":  # the digits of a say are shown as the say itself
                pending_play[str(r.get("file"))] = (t, str(r.get("file")))
        elif event == "displace":   # mixed over what plays (mod_callcenter announcements over the music)
            spec = str(r.get("file"))
            total = sum(d for d in (duration_of(run.leg, p) for p in _files(spec)) if d and d != float("inf"))
            _add_heard(run, obs, spec, t, t + total)
        elif event == "playback_stop":
            spec = str(r.get("file"))
            started = pending_play.pop(spec, None)
            if started is not None:
                _add_heard(run, obs, spec, started[0], t)
        elif event == "log" and str(r.get("text", "")).startswith("Socket Error") and socket_open is not None:
            socket_open.connected = False
        elif event == "bridge":
            other = names.get(str(r.get("other")), str(r.get("other")))
            party = _party_name(run, other)
            obs.bridges.append(BridgeTo(t, party, other))
            obs.timeline.append((t, f"bridged to {party} ({other})"))
        elif event == "unbridge":
            for br in obs.bridges:
                if br.ended is None:
                    br.ended = t
        elif event == "record_start":
            if vm_open is not None:
                vm_recorded = True
                obs.timeline.append((t, f"records a message for box {vm_open[1]}"))
            else:
                obs.recordings.append((t, str(r.get("file", ""))))
                obs.timeline.append((t, f"recording {r.get('file', '')}"))
        elif event == "hangup":
            obs.hangup = str(r.get("cause"))
            obs.hangup_t = t
    for spec, (t0, _) in pending_play.items():
        _add_heard(run, obs, spec, t0, obs.hangup_t if obs.hangup_t is not None else t0)
    if socket_open is not None:
        _close_lookup(obs, socket_open)
    if vm_open is not None:
        obs.voicemails.append((vm_open[0], vm_open[1], vm_recorded))
    if run.caller_hung_up_at is not None and (obs.hangup_t is None or run.caller_hung_up_at <= obs.hangup_t + EPS):
        obs.hung_up_by = "caller"
    elif run.timed_out:
        obs.hung_up_by = "replay (max_seconds)"
    obs.variables = dict(run.leg.variables)
    obs.heard.sort(key=lambda h: h.t)
    obs.timeline.sort(key=lambda item: item[0])
    if obs.hangup is not None:
        obs.timeline.append((obs.hangup_t or 0.0, f"call ends: {obs.hangup} (hung up by the {obs.hung_up_by})"))
        obs.timeline.sort(key=lambda item: item[0])
    return obs


def _other_leg(run: Run, obs: Observation, r: dict[str, Any], names: dict[str, str]) -> None:
    """Far ends the switch calls (agents, users, gateways, conference outcalls), by the script's names."""
    leg, event, t = str(r.get("leg")), r.get("event"), float(r.get("t", 0.0))
    name = names.get(leg, "")
    if leg == "a" or not name or (name.startswith("loopback/") and name.endswith("-b")):
        return
    party = _party_name(run, name)
    if event == "create":
        obs.timeline.append((t, f"switch calls {party}" + (f" ({name})" if party != name else "")))
    elif event == "answer":
        obs.timeline.append((t, f"{party} answers"))
    elif event == "hangup":
        obs.timeline.append((t, f"{party} hangs up ({r.get('cause')})"))
    elif event == "custom" and r.get("subclass") == "conference::maintenance" and r.get("action") == "add-member":
        room = r.get("conference_name")
        obs.timeline.append((t, f"{party} joins conference {room} ({_members(r)})"))


def _assignments(app: str, data: str) -> list[tuple[str, str]]:
    """The variables a ``set`` or ``multiset`` execute assigns (esl_app uses either)."""
    return list(_assigned(app, data))


@functools.lru_cache(maxsize=4096)
def _assigned(app: str, data: str) -> tuple[tuple[str, str], ...]:
    """:func:`_assignments`, remembered: the same lookup answers are read on every replay."""
    if app == "set":
        items = [data]
    else:
        sep = " "
        if data.startswith("^^") and len(data) > 2:
            sep, data = data[2], data[3:]
        items = separate(data, sep)
    return tuple((k, v) for k, _, v in (item.partition("=") for item in items if "=" in item))


def _close_lookup(obs: Observation, lk: Lookup) -> None:
    obs.lookups.append(lk)
    what = ",".join(lk.names) or "?"
    if not lk.connected:
        obs.timeline.append((lk.t, f"esl_app {what}: not reachable, hotline_lookup_status stays failed"))
        return
    shown = " ".join(f"{k}={v}" for k, v in lk.variables.items())
    text = f"esl_app {what} -> {lk.status}" + (f": {shown}" if shown else "")
    if lk.hangup:
        text += f"; esl_app hangs up {lk.hangup}"
    obs.timeline.append((lk.t, text))


def _add_heard(run: Run, obs: Observation, spec: str, t0: float, t1: float) -> None:
    """The prompts of one playback (``t0``..``t1``) that the caller actually heard, in order."""
    offset = 0.0
    new: list[Heard] = []
    for part in _files(spec):
        dur = duration_of(run.leg, part)
        dur = 0.0 if dur is None else dur
        start = t0 + offset
        offset += dur if dur != float("inf") else 0.0
        if start > t1 + EPS or (start >= t1 - EPS and t1 > t0):
            break
        pid, lang = _label(run, part)
        if pid is None:
            continue
        played = min(t1 - start, dur)
        if played <= EPS < dur:   # stopped the moment it began: nothing was heard
            continue
        complete = dur != float("inf") and start + dur <= t1 + EPS
        last = new[-1] if new else None
        if last is not None and last.id == pid and last.t + last.played >= start - EPS:
            last.played += played
            last.complete = complete
            last.files.append(part)
            if lang:
                last.langs.append(lang)
            continue
        new.append(Heard(start, pid, [lang] if lang else [], [part], complete, played))
    for h in new:
        langs = f" [{' '.join(h.langs)}]" if h.langs else ""
        cut = "" if h.complete else f", cut off after {h.played:.1f} s"
        if h.id == "music on hold":
            cut = f" for {h.played:.1f} s"
        obs.timeline.append((h.t, f"hears {h.id}{langs}{cut}"))
    obs.heard.extend(new)


def _party_name(run: Run, channel: str) -> str:
    """The script's name for the party on ``channel`` (a user, agent or gateway number)."""
    for party in run.script.parties.values():
        keys = {party.name, party.name.split("/")[-1], (party.contact or "").split("/")[-1].split("@")[0]}
        if any(k and (f"/{k}@" in channel or f"sip:{k}@" in channel or channel.endswith("/" + k)) for k in keys):
            return party.name
    if channel.startswith("loopback/") and channel.endswith("-a"):
        ext = channel[len("loopback/"):-2]
        return next((p.name for p in run.script.parties.values() if p.name == ext), ext)
    if channel.startswith("sofia/internal/"):
        return channel[len("sofia/internal/"):].removeprefix("sip:").split("@")[0]
    return channel


def _position(run: Run, queue: str, t: float) -> int:
    """Where mod_callcenter puts the caller among the callers of this replay (``others:``)
    waiting in ``queue`` when it joins: members are served by score, highest first, and with
    ``time-base-score system`` a member's score is its ``cc_base_score`` plus the seconds it has
    waited, so a caller who joins now is behind everyone whose score is at least its own."""
    mine = _base_score(run.leg)
    ahead = 0
    for _other, leg, _logs in run.others:
        waiting = _waiting_since(run, leg, queue, t)
        if waiting is not None and _base_score(leg) + (t - waiting) >= mine:
            ahead += 1
    return ahead + 1


def _base_score(chan: Any) -> float:
    try:
        return float(chan.variables.get("cc_base_score") or 0)
    except ValueError:
        return 0.0


def _waiting_since(run: Run, leg: Any, queue: str, t: float) -> float | None:
    """When ``leg`` joined ``queue`` if it is still waiting there at ``t`` (not yet bridged to an
    agent, hung up or gone on in the dialplan), else None."""
    label = run.sim.trace.leg_of_uuid(leg.uuid)
    joined: float | None = None
    for r in run.sim.trace.records:
        if r["t"] > t:
            break
        if r.get("leg") != label:
            continue
        if r.get("event") == "execute":
            if r.get("app") == "callcenter" and str(r.get("data") or "").split()[:1] == [queue]:
                joined = r["t"]
            elif joined is not None:
                joined = None   # the dialplan went on: it left the queue
        elif r.get("event") in ("bridge", "hangup") and joined is not None:
            joined = None
    return joined


def render(run: Run, obs: Observation, verdict: list[str] | None = None) -> str:
    s = run.script
    when = run.start.strftime("%a %Y-%m-%d %H:%M")
    name = f' "{s.caller_name}"' if s.caller_name else ""
    lines = [f"== {s.title}  ({s.file})",
             f"   {run.dialled} (flow {run.flow.name}) from {s.caller}{name}, {when} {run.zone}",
             f"   prompts: {run.rig.prompt_note}",
             f"   esl_app: {_esl_note(run)}"]
    for t, text in obs.timeline:
        lines.append(f"{t:8.1f}  {text}")
    for log in run.steps:
        if log.note:
            lines.append(f"          step '{log.step.describe()}' ({log.step.loc}): {log.note}")
    if verdict is not None:
        lines.extend(verdict)
    return "\n".join(lines) + "\n"


def _esl_note(run: Run) -> str:
    if run.esl_mode == "stub":
        answered = ", ".join(sorted(run.script.lookups)) or "nothing"
        return f"scripted stand-in (answers {answered}; other lookups fail)"
    if run.esl_mode == "down":
        return "down (nothing listens; lookups leave hotline_lookup_status=failed)"
    return "live (a real esl_app)"


def _members(r: dict[str, Any]) -> str:
    n = str(r.get("conference_size", "?"))
    return f"{n} member" + ("" if n == "1" else "s")
