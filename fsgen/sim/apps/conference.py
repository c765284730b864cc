"""mod_conference: ``conference NAME[@PROFILE][+PIN][+flags{a|b}]`` and ``conference_set_auto_outcall``.

What the simulator models (FreeSWITCH 1.10 conference_function / conference_member_add /
conference_member_del / conference_thread_run):

- a conference is created by its first member (dynamic) with the profile's settings
  (``conference.conf``; a missing profile logs and runs without one); ``join-only`` refuses
  to create one;
- members are counted (``ghost`` members apart); the ``mintwo`` member flag sets the minimum
  to two, which is enforced only once the count has reached it; ``endconf`` members end the
  conference when the last of them leaves; a dynamic conference ends when empty;
- when a conference ends, every remaining member is hung up (NORMAL_CLEARING, or the cause
  the last outbound member left with when no outbound member ever answered) unless its
  ``hangup_after_conference`` is false, in which case its ``conference`` app returns and the
  dialplan continues;
- a leaving member is removed 20 ms after its hangup and the conference thread ends the
  conference 20 ms later, as on the fs-reference rig (case 17);
- ``conference_set_auto_outcall`` collects dial strings; the first member's loop dials them
  all (``,`` splits one entry into several calls; ``conference_auto_outcall_prefix``,
  ``_timeout`` (10..500 s, else 60), ``_flags``, ``_caller_id_name``/``_number``, default caller
  id from the profile); an answered outcall runs ``conference NAME+flags{FLAGS}``;
- the conference plays its sounds (alone, enter, exit, moh) into the mix: no PLAYBACK events on
  the member channels, so only log records here; a missing prompt logs a warning;
- caller controls: only the ``hangup`` action (leave the conference) of the profile's
  ``caller-controls`` group; other digits are swallowed.

Not simulated: PINs (a PIN prompt), moderator/wait-mod, mute/deaf effects, recording, most of
the ``conference`` API (``list``, ``kick``, ``hup`` are).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import media
from ..api import api_command
from ..bridge import originate
from ..cstr import atoi
from ..engine import Wait
from . import application
from .args import separate
from .callcenter import custom_event

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel
    from ..sim import Simulator

LEAVE_DELAY = 0.02      # member loop notices its channel went away
DESTRUCT_DELAY = 0.02   # conference thread notices it must end
_FLAGS_RE = re.compile(r"\+?flags\{([^}]*)\}")


@dataclass(eq=False)
class Member:
    chan: Channel
    id: int
    flags: set[str]
    outbound: bool
    controls: dict[str, str] = field(default_factory=dict)   # digits -> action
    gone: bool = False


@dataclass(eq=False)
class Conference:
    name: str
    profile: str
    params: dict[str, str]
    members: list[Member] = field(default_factory=list)
    min: int = 1
    enforce_min: bool = False
    end_count: int = 0
    answered: bool = False
    bridge_hangup_cause: str | None = None
    destructing: bool = False
    ended: bool = False

    @property
    def count(self) -> int:
        return sum(1 for m in self.members if "ghost" not in m.flags)

    @property
    def ghosts(self) -> int:
        return sum(1 for m in self.members if "ghost" in m.flags)


@dataclass
class ConferenceState:
    conferences: dict[str, Conference] = field(default_factory=dict)
    autocall: dict[str, list[str]] = field(default_factory=dict)   # channel uuid -> dial strings
    next_member_id: int = 1


def state(sim: Simulator) -> ConferenceState:
    st = sim.modules.get("conference")
    if st is None:
        st = sim.modules["conference"] = ConferenceState()
    return st


def parse_target(data: str) -> tuple[str, str, str | None, set[str]]:
    """``name@profile+pin+flags{a|b}`` -> (name, profile, pin or None, flags)."""
    flags: set[str] = set()
    m = _FLAGS_RE.search(data)
    if m:
        flags = {f.strip() for f in m.group(1).split("|") if f.strip()}
        data = data[:m.start()] + data[m.end():]
    pin = None
    if "+" in data:
        data, pin = data.split("+", 1)
        pin = pin.strip("+")
    name, at, profile = data.strip().rpartition("@")
    if not at:
        name, profile = profile, "default"
    return name.strip(), profile.strip() or "default", pin or None, flags


def _profile(sim: Simulator, name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """(params, caller controls digits -> action) of a conference.conf profile."""
    cfg = sim.conf.configuration("conference.conf")
    if cfg is None:
        return None
    profiles = cfg.find("profiles")
    el = profiles.find("profile", name=name) if profiles is not None else None
    if el is None:
        return None
    params = {p.get("name") or "": p.get("value", "") or "" for p in el.findall("param") if p.get("name")}
    controls: dict[str, str] = {}
    group = params.get("caller-controls")
    groups = cfg.find("caller-controls")
    if group and groups is not None:
        g = groups.find("group", name=group)
        for c in (g.findall("control") if g is not None else []):
            if c.get("digits") and c.get("action"):
                controls[c.get("digits") or ""] = c.get("action") or ""
    return params, controls


def _sound(chan: Channel, conf: Conference, which: str) -> None:
    """A conference sound plays into the mix: no channel playback events; missing -> warning."""
    spec = conf.params.get(which, "")
    if not spec:
        return
    if media.duration_of(chan, spec) is None:
        chan.sim.trace.add(chan, "log", level="WARNING", text=f"Can't open {spec} ({which}, conference {conf.name})")
    else:
        chan.sim.trace.add(chan, "log", level="DEBUG", text=f"conference {conf.name} plays {which} {spec}")


def _event(chan: Channel, conf: Conference, action: str, member: Member | None = None) -> None:
    headers = {"Conference-Name": conf.name, "Conference-Size": str(conf.count),
               "Conference-Profile-Name": conf.profile}
    if member is not None:
        headers.update({"Member-ID": str(member.id), "Member-Type": "moderator" if "moderator" in member.flags
                        else "member"})
    headers["Action"] = action
    custom_event(chan.sim, "conference::maintenance", headers, chan)


def add_member(chan: Channel, conf: Conference, flags: set[str], controls: dict[str, str]) -> Member:
    st = state(chan.sim)
    member = Member(chan, st.next_member_id, flags, outbound=chan.direction == "outbound", controls=controls)
    st.next_member_id += 1
    conf.members.append(member)
    if "mintwo" in flags:
        conf.min = 2
    if "endconf" in flags:
        conf.end_count += 1
    if member.outbound and chan.answered:
        conf.answered = True
    if conf.count >= conf.min:
        conf.enforce_min = True
    _event(chan, conf, "add-member", member)
    if conf.count > 1 and "ghost" not in flags:
        _sound(chan, conf, "enter-sound")
    elif conf.count == 1:
        _sound(chan, conf, "alone-sound")
        _sound(chan, conf, "moh-sound")
    return member


def remove_member(conf: Conference, member: Member) -> None:
    if member.gone:
        return
    member.gone = True
    chan = member.chan
    if member in conf.members:
        conf.members.remove(member)
    if member.outbound:
        conf.bridge_hangup_cause = chan.hangup_cause
    _event(chan, conf, "del-member", member)
    end = False
    if "endconf" in member.flags:
        conf.end_count -= 1
        end = conf.end_count <= 0
    total = conf.count + conf.ghosts
    if (conf.min and conf.enforce_min and total < conf.min) or total == 0:
        end = True
    if end:
        if not conf.destructing:
            conf.destructing = True
            chan.sim.engine.call_later(DESTRUCT_DELAY, destroy, chan.sim, conf)
    elif conf.count == 1 and conf.members:
        _sound(conf.members[0].chan, conf, "alone-sound")


def destroy(sim: Simulator, conf: Conference) -> None:
    """conference_thread_run's end: hang up (or release) whoever is still in it."""
    conf.ended = True
    st = state(sim)
    if st.conferences.get(conf.name) is conf:
        del st.conferences[conf.name]
    for member in list(conf.members):
        chan = member.chan
        if chan.hungup:
            continue
        if (chan.var("hangup_after_conference") or "").strip().lower() in ("false", "no", "off", "0", "f"):
            chan.post("conf_end")
            continue
        cause = "NORMAL_CLEARING" if conf.answered or not conf.bridge_hangup_cause else conf.bridge_hangup_cause
        chan.hangup(cause)


def outcall_timeout(raw: str | None) -> int:
    """conference_loop_output: atoi(conference_auto_outcall_timeout); 60 when unset or outside 10..500."""
    if raw is None:
        return 60
    to = atoi(raw)
    return to if 10 <= to <= 500 else 60


def _outcalls(chan: Channel, conf: Conference) -> None:
    """The first member loop dials everything conference_set_auto_outcall collected on this channel."""
    calls = state(chan.sim).autocall.pop(chan.uuid, [])
    if not calls:
        return
    timeout = outcall_timeout(chan.var("conference_auto_outcall_timeout"))
    # conference_loop_output reads the flags under this name since mod_conference was split up
    # (FreeSWITCH's vanilla conf was corrected to it, FS-11304); conference_auto_outcall_flags is ignored
    flags = chan.var("conference_utils_auto_outcall_flags") or ""
    prefix = chan.var("conference_auto_outcall_prefix") or ""
    cid_name = chan.var("conference_auto_outcall_caller_id_name") or conf.params.get("caller-id-name") or ""
    cid_num = chan.var("conference_auto_outcall_caller_id_number") or conf.params.get("caller-id-number") or ""
    # a one-character conference_auto_outcall_delimiter replaces ',' (conference_loop_output)
    delim = chan.var("conference_auto_outcall_delimiter") or ""
    delim = delim if len(delim) == 1 else ","
    for entry in calls:
        for part in separate(entry, delim):
            if part.strip():
                chan.sim.engine.spawn(_outcall(chan.sim, conf, prefix + part, timeout, flags, cid_name, cid_num),
                                      f"conference-outcall:{conf.name}")


def _outcall(sim: Simulator, conf: Conference, dial: str, timeout: int, flags: str, cid_name: str,
             cid_num: str) -> Generator[Any, Any, None]:
    variables = {}
    if cid_name:
        variables["origination_caller_id_name"] = cid_name
    if cid_num:
        variables["origination_caller_id_number"] = cid_num
    peer, cause = yield from originate(sim, dial, caller=None, timeout=float(timeout), variables=variables)
    if peer is None:
        sim.trace.add(None, "log", level="ERR", text=f"conference {conf.name}: outcall {dial} failed: {cause}")
        return
    if conf.ended:
        peer.hangup("NO_ROUTE_DESTINATION")
        return
    sim.spawn_app(peer, "conference", f"{conf.name}+flags{{{flags}}}")


@application("conference_set_auto_outcall")
def conference_set_auto_outcall(chan: Channel, data: str) -> None:
    if data.strip():
        state(chan.sim).autocall.setdefault(chan.uuid, []).append(data.strip())


@application("conference")
def conference(chan: Channel, data: str) -> Generator[Any, Any, None]:
    sim = chan.sim
    if not data.strip():
        sim.trace.add(chan, "log", level="ERR", text="Invalid arguments")
        return
    if data.startswith("bridge:"):
        sim.trace.error(chan, "not_simulated", "conference bridge:... is not simulated")
        return
    name, profile_name, _pin, flags = parse_target(data.strip())
    st = state(sim)
    conf = st.conferences.get(name)
    found = _profile(sim, conf.profile if conf else profile_name)
    if found is None:
        sim.trace.add(chan, "log", level="WARNING", text=f"Cannot find profile: {profile_name}")
    params, controls = found or ({}, {})
    if conf is None:
        if "join-only" in flags:
            sim.trace.add(chan, "log", level="INFO", text=f"Conference {name} does not exist and join-only is set")
            return
        conf = st.conferences[name] = Conference(name, profile_name, params)
        _event(chan, conf, "conference-create")
    if not chan.answered:
        chan.answer()
    member = add_member(chan, conf, flags, controls)
    _outcalls(chan, conf)
    left = False
    try:
        while chan.ready and not conf.ended:
            w = yield Wait(("conf_end", "break", "dtmf"))
            if w.kind == "conf_end":
                break
            if w.kind == "dtmf":
                digits = "".join(chan.dtmf)
                chan.dtmf.clear()
                if any(controls.get(d) == "hangup" for d in digits):
                    break
        remove_member(conf, member)
        left = True
    finally:
        if not left:   # the channel hung up (or the task was thrown out): the member loop notices later
            sim.engine.call_later(LEAVE_DELAY, remove_member, conf, member)


# ---- API -----------------------------------------------------------------------------------------
@api_command("conference")
def conference_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``conference list`` | ``conference <name> list`` | ``conference <name> kick|hup all|<id>``."""
    argv = args.split()
    st = state(sim)
    if not argv:
        return "-ERR Usage: conference <name> <command> [args]\n"
    if argv[0] == "list":
        out = []
        for conf in st.conferences.values():
            out.append(f"+OK Conference {conf.name} ({conf.count} member{'s' if conf.count != 1 else ''})")
            out.extend(f"{m.id};{m.chan.name};{m.chan.uuid};{m.chan.profile.caller_id_name};"
                       f"{m.chan.profile.caller_id_number}" for m in conf.members)
        return "\n".join(out) + "\n" if out else "No active conferences.\n"
    found = st.conferences.get(argv[0])
    if found is None:
        return f"Conference {argv[0]} not found\n"
    conf = found
    if len(argv) < 2:
        return "-ERR Usage: conference <name> <command> [args]\n"
    cmd = argv[1]
    targets = [m for m in conf.members if len(argv) < 3 or argv[2] == "all" or argv[2] == str(m.id)]
    if cmd == "list":
        return "".join(f"{m.id};{m.chan.name};{m.chan.uuid}\n" for m in conf.members)
    if cmd in ("kick", "hup"):
        for m in targets:
            if cmd == "kick":
                _sound(m.chan, conf, "kicked-sound")
            m.chan.hangup("NORMAL_CLEARING")
        return "+OK\n"
    return f"-ERR conference {cmd} is not simulated\n"
