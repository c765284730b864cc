"""mod_callcenter: queues, agents and tiers (``callcenter.conf``), the ``callcenter`` application
and the ``callcenter_config`` API, modelled on FreeSWITCH 1.10's mod_callcenter.c.

The module's SQL tables become lists and dicts in ``sim.modules["callcenter"]``
(:class:`CallCenter`); its threads become engine tasks with the same polling periods, because
the reference traces show those periods:

- the **dispatcher** (cc_agent_dispatch_thread_run) runs every 0.1 s while members wait; it
  walks the waiting members by score (``now - joined_epoch + base_score + skill_score``,
  highest first; ``base_score = cc_base_score`` + the seconds the channel was up before it
  joined when ``time-base-score`` is ``system``) and, per member, the queue's agents in the
  strategy's order (longest-idle-agent, agent-with-least-talk-time, agent-with-fewest-calls,
  ring-all, ring-progressively, random, sequentially-by-agent-order, top-down, round-robin)
  applying the tier rules; an agent is offered a call when its status is Available (On
  Demand), its state Waiting, its tier Ready or No Answer, ``last_bridge_end < now -
  wrap_up_time`` and ``ready_time <= now`` -- all in whole epoch seconds, which is why a
  freed agent is offered again only at the next whole second (case 20);
- the **member thread** (cc_member_thread_run) checks every 0.5 s from the join:
  max-wait-time, max-wait-time-with-no-agent (+ -time-reached) and the announce-sound
  (played over the music by switch_ivr_displace_session: no playback events);
- the **agent thread** (outbound_agent_thread_run) originates the agent's contact (callback
  agents; uuid-standby agents are taken by uuid), reports the answer 20 ms later (the member's
  music stops with status "done"), waits for the bridge, then polls every 0.1 s for the agent's
  hangup, frees the agent (last_bridge_end, talk time, tier Ready, state Waiting) and removes
  the member; on failure it applies the busy/reject/no-answer delays, counts no-answers and
  sets the queue's ``agent-no-answer-status`` after ``max-no-answer``.

The member's ``callcenter`` app plays ``moh-sound`` (or ``cc_moh_override``) in a loop (one
playback_start/stop pair per loop), honours ``cc_exit_keys``, and on an answer returns with
``cc_cause=answered`` after the bridge that FreeSWITCH does with switch_ivr_uuid_bridge (a
pseudo ``execute uuid_bridge <other uuid>`` on both legs, ``bridge`` on the member leg) has
ended; cancelled members get ``cc_cause=cancel`` and ``cc_cancel_reason`` (TIMEOUT,
NO_AGENT_TIMEOUT, BREAK_OUT, EXIT_WITH_KEY).  ``hangup_after_bridge`` and
``transfer_after_bridge`` apply after the agent hangs up.

callcenter::info events are written to the trace the way the fs-reference harness shows them
(``custom`` on the member/agent leg, ``cc`` on leg "-" when they belong to no channel) and
handed to Event Socket listeners with their FreeSWITCH headers (CC-Action, CC-Queue...).

Approximations (see the report): the app returns only after the agent bridge (FreeSWITCH
reports CHANNEL_EXECUTE_COMPLETE for ``callcenter`` before the uuid_bridge); agents are not
kept across simulator restarts (FreeSWITCH keeps them in its database unless
``truncate-agents-on-load``); ``reserve-agents``, ``callcenter_track`` and the JSON API are not
simulated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .. import events as E
from .. import media
from ..api import api_command
from ..bridge import bridge_channels, originate
from ..channel import new_uuid
from ..cstr import atoi, is_number, switch_false, switch_true
from ..engine import TIMEOUT, Hangup, Sleep, Task, Wait
from . import application
from .args import separate

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel
    from ..sim import Simulator
    from ..xmltree import XElement

SUBCLASS = "callcenter::info"
SELF = "single_box"
AGENT_STATUSES = ("Logged Out", "Available", "Available (On Demand)", "On Break")
AGENT_STATES = ("Waiting", "Receiving", "In a queue call", "Idle", "Reserved")
TIER_STATES = ("No Answer", "Ready", "Offering", "Active Inbound", "Standby")
AGENT_TYPES = ("callback", "uuid-standby")
OFFERABLE = ("Available", "On Break", "Available (On Demand)")
DISPATCH_PERIOD = 0.1
MEMBER_PERIOD = 0.5
AGENT_POLL = 0.1
_PARKED = ("callcenter:parked",)   # what a task waits for while its ticks are plain checks (they resume it)
ANSWER_NOTICE = 0.02     # the agent thread sees the answer (bridge-agent-start, music stops)
BRIDGE_AFTER = 0.03      # ...and the member's uuid_bridge runs this much later


_floor = math.floor


def epoch(sim: Simulator) -> int:
    """local_epoch_time_now(): whole wall-clock seconds."""
    return math.floor(sim.wall_time() + 1e-6)


def _canon(value: str, allowed: tuple[str, ...]) -> str | None:
    for a in allowed:
        if a.lower() == value.strip().lower():
            return a
    return None


# ---- events -------------------------------------------------------------------------------------
_KEY_NAMES: dict[str, str] = {}
_FIRED = [0]   # module events that belong to no channel (fired or taken), for _Loaded


def _trace_key(header: str, sim: Simulator, value: str) -> tuple[str, str] | None:
    """How the fs-reference harness records a header: CC-Member-CID-Name -> member_cid_name,
    channel uuids -> leg labels, times and the member uuid left out."""
    name = _KEY_NAMES.get(header)
    if name is None:
        name = _KEY_NAMES[header] = header.removeprefix("CC-").removeprefix("VM-").lower().replace("-", "_")
    if name.endswith("_time") or name == "member_uuid":
        return None
    if name.endswith("_uuid"):
        leg = sim.trace.leg_of_uuid(value)
        return (name[:-5] + "_leg", leg) if leg else None
    return name, value


def custom_event(sim: Simulator, subclass: str, headers: dict[str, str], chan: Channel | None = None) -> None:
    """A CUSTOM event: trace record (``custom`` on ``chan``, ``cc`` on leg "-") + Event Socket."""
    headers = {k: v for k, v in headers.items() if v is not None}
    short = {}
    for k, v in headers.items():
        kv = _trace_key(k, sim, str(v))
        if kv is not None:
            short[kv[0]] = kv[1]
    if chan is not None:
        sim.trace.add(chan, "custom", subclass=subclass, **short)
        chan.notify_listeners("custom", subclass=subclass, **headers)
    else:
        sim.trace.add(None, "cc" if subclass == SUBCLASS else "custom", **short)
        if E.sinks(sim):
            E.fire(sim, E.custom(sim, subclass, headers))
        else:
            E.skip_event()
        _FIRED[0] += 1


# ---- tables -------------------------------------------------------------------------------------
#: bumped by every change to the module's tables (rows and their fields): the dispatcher skips a
#: 0.1 s pass that would see exactly what the previous, change-free pass saw in the same second
_CHANGES = [0]
_MISSING = object()


class _Tracked:
    """A table row: setting a field to a different value counts as a change."""

    __slots__ = ()
    #: fields a dispatcher pass writes but never reads (only the member threads read them)
    _UNTRACKED: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get(name, _MISSING) != value and name not in self._UNTRACKED:
            _CHANGES[0] += 1
        object.__setattr__(self, name, value)


class _TrackedList(list):
    """A table (members, tiers): adding, removing or reordering rows counts as a change."""

    def _changed(self) -> None:
        _CHANGES[0] += 1

    def append(self, item: Any) -> None:
        self._changed()
        super().append(item)

    def extend(self, items: Any) -> None:
        self._changed()
        super().extend(items)

    def insert(self, index: Any, item: Any) -> None:
        self._changed()
        super().insert(index, item)

    def remove(self, item: Any) -> None:
        self._changed()
        super().remove(item)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def clear(self) -> None:
        self._changed()
        super().clear()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().sort(*args, **kwargs)

    def reverse(self) -> None:
        self._changed()
        super().reverse()

    def __setitem__(self, index: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(index, value)

    def __delitem__(self, index: Any) -> None:
        self._changed()
        super().__delitem__(index)

    def __iadd__(self, items: Any) -> Any:  # type: ignore[misc]
        self._changed()
        return super().__iadd__(items)

    def __imul__(self, n: Any) -> Any:  # type: ignore[misc]
        self._changed()
        return super().__imul__(n)


class _TrackedDict(dict):
    """A table keyed by name (queues, agents): adding, replacing or removing counts as a change."""

    def _changed(self) -> None:
        _CHANGES[0] += 1

    def __setitem__(self, key: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._changed()
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._changed()
        return super().popitem()

    def clear(self) -> None:
        self._changed()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._changed()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        self._changed()
        return super().__ior__(other)


_TABLES = {"queues": _TrackedDict, "agents": _TrackedDict, "tiers": _TrackedList, "members": _TrackedList}


@dataclass
class Queue(_Tracked):
    name: str
    strategy: str = "longest-idle-agent"
    moh_sound: str | None = None
    announce_sound: str | None = None
    announce_frequency: int = 0
    record_template: str | None = None
    time_base_score: str = "queue"
    ring_progressively_delay: int = 0
    tier_rules_apply: bool = False
    tier_rule_wait_second: int = 0
    tier_rule_wait_multiply_level: bool = False
    tier_rule_no_agent_no_wait: bool = True
    discard_abandoned_after: int = 60
    abandoned_resume_allowed: bool = False
    max_wait_time: int = 0
    max_wait_time_with_no_agent: int = 0
    max_wait_time_with_no_agent_time_reached: int = 5
    agent_no_answer_status: str = "On Break"
    skip_agents_with_external_calls: bool = True
    calls_answered: int = 0
    calls_abandoned: int = 0
    last_agent_exist: int = 0
    last_agent_exist_check: int = 0

    _UNTRACKED = frozenset({"last_agent_exist", "last_agent_exist_check"})


#: queue parameter -> (attribute, kind); ints are 0..86400 as switch_xml_config enforces
QUEUE_PARAMS = {
    "strategy": ("strategy", "str"), "moh-sound": ("moh_sound", "str"), "announce-sound": ("announce_sound", "str"),
    "announce-frequency": ("announce_frequency", "int"), "record-template": ("record_template", "str"),
    "time-base-score": ("time_base_score", "str"), "ring-progressively-delay": ("ring_progressively_delay", "int"),
    "tier-rules-apply": ("tier_rules_apply", "bool"), "tier-rule-wait-second": ("tier_rule_wait_second", "int"),
    "tier-rule-wait-multiply-level": ("tier_rule_wait_multiply_level", "bool"),
    "tier-rule-no-agent-no-wait": ("tier_rule_no_agent_no_wait", "bool"),
    "discard-abandoned-after": ("discard_abandoned_after", "int"),
    "abandoned-resume-allowed": ("abandoned_resume_allowed", "bool"), "max-wait-time": ("max_wait_time", "int"),
    "max-wait-time-with-no-agent": ("max_wait_time_with_no_agent", "int"),
    "max-wait-time-with-no-agent-time-reached": ("max_wait_time_with_no_agent_time_reached", "int"),
    "agent-no-answer-status": ("agent_no_answer_status", "str"),
    "skip-agents-with-external-calls": ("skip_agents_with_external_calls", "bool"),
}


@dataclass
class Agent(_Tracked):
    name: str
    instance_id: str = SELF
    uuid: str = ""
    type: str = "callback"
    contact: str = ""
    status: str = "Logged Out"
    state: str = "Waiting"
    max_no_answer: int = 0
    wrap_up_time: int = 0
    reject_delay_time: int = 0
    busy_delay_time: int = 0
    no_answer_delay_time: int = 0
    last_bridge_start: int = 0
    last_bridge_end: int = 0
    last_offered_call: int = 0
    last_status_change: int = 0
    no_answer_count: int = 0
    calls_answered: int = 0
    talk_time: int = 0
    ready_time: int = 0
    external_calls_count: int = 0


_AGENT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Agent) if f.name != "name"}


@dataclass
class Tier(_Tracked):
    queue: str
    agent: str
    state: str = "Ready"
    level: int = 1
    position: int = 1


@dataclass(eq=False)
class Member(_Tracked):
    queue: str
    instance_id: str
    uuid: str
    session_uuid: str
    cid_number: str
    cid_name: str
    system_epoch: int
    joined_epoch: int
    rejoined_epoch: int = 0
    bridge_epoch: int = 0
    abandoned_epoch: int = 0
    base_score: int = 0
    skill_score: int = 0
    serving_agent: str = ""
    serving_system: str = ""
    state: str = "Waiting"
    # what the C code keeps in the member thread helper / channel flags
    cancel_reason: str = field(default="NONE", repr=False)
    running: bool = field(default=True, repr=False)
    connecting: bool = field(default=False, repr=False)
    agent_chan: Channel | None = field(default=None, repr=False)
    t_member_called: int = field(default=0, repr=False)

    def score(self, now: int) -> int:
        return now - self.joined_epoch + self.base_score + self.skill_score


MEMBER_COLUMNS = ("queue", "instance_id", "uuid", "session_uuid", "cid_number", "cid_name", "system_epoch",
                  "joined_epoch", "rejoined_epoch", "bridge_epoch", "abandoned_epoch", "base_score",
                  "skill_score", "serving_agent", "serving_system", "state")
AGENT_COLUMNS = tuple(f.name for f in fields(Agent))
TIER_COLUMNS = ("queue", "agent", "state", "level", "position")


@dataclass
class Offer:
    """call_helper: what the dispatcher hands the agent thread."""

    member: Member
    queue: str
    strategy: str
    record_template: str | None
    agent: str
    agent_system: str
    agent_status: str
    agent_type: str
    agent_uuid: str
    contact: str
    no_answer_count: int
    max_no_answer: int
    reject_delay_time: int
    busy_delay_time: int
    no_answer_delay_time: int
    agent_no_answer_status: str


# ---- callcenter.conf, read once per loaded tree ------------------------------------------------------
class _Plan:
    """What ``load_config`` needs from a ``<configuration name="callcenter.conf">`` element; kept on
    the element (a loaded tree never changes), so simulators of one configuration share it."""

    def __init__(self, cfg: XElement):
        settings = cfg.find("settings")
        self.truncate_agents = self.truncate_tiers = False
        self.originate_timeout: int | None = None
        for p in settings.findall("param") if settings is not None else []:
            name, value = (p.get("name") or "").lower(), p.get("value", "") or ""
            if name == "truncate-agents-on-load":
                self.truncate_agents = switch_true(value)
            elif name == "truncate-tiers-on-load":
                self.truncate_tiers = switch_true(value)
            elif name == "agent-originate-timeout":
                self.originate_timeout = atoi(value) or 60
        queues = cfg.find("queues")
        self.queue_names: list[str] = []
        self.queue_elements: dict[str, XElement] = {}
        for q in queues.findall("queue") if queues is not None else []:
            qname = q.get("name")
            if qname is not None:
                self.queue_elements.setdefault(qname, q)
            if qname:
                self.queue_names.append(qname)
        self.templates: dict[int, tuple[dict[str, Any], list[tuple[str, XElement]]]] = {}
        self.loaded: _Loaded | None = None


class _Loaded:
    """The outcome of loading a configuration into a fresh module, to replay in the next one."""

    def __init__(self, cc: CallCenter, records: list[dict[str, Any]], fired: int):
        # each record without its time: the event first, then its fields (Trace.add's order)
        self.records = [{k: v for k, v in r.items() if k not in ("t", "leg")} for r in records]
        self.fired = fired
        self.originate_timeout = cc.agent_originate_timeout
        self.queues = [(name, dict(q.__dict__)) for name, q in cc.queues.items()]
        self.agents = [(name, dict(a.__dict__), name in (cc.stamped or ())) for name, a in cc.agents.items()]
        self.tiers = [dict(t.__dict__) for t in cc.tiers]


def _plan(cfg: XElement) -> _Plan:
    plan = cfg.compiled
    if not isinstance(plan, _Plan):
        plan = cfg.compiled = _Plan(cfg)
    return plan


_QUEUE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Queue)}


def _queue_template(plan: _Plan, el: XElement, name: str) -> tuple[dict[str, Any], list[tuple[str, XElement]]]:
    """A queue's fields as its ``<queue>`` element sets them, and the warnings loading it logs
    (in order), computed once per element."""
    got = plan.templates.get(id(el))
    if got is not None:
        return got
    values = dict(_QUEUE_DEFAULTS, name=name)
    warnings: list[tuple[str, XElement]] = []
    # switch_xml_config_parse_event: the params become event headers (names compared case-insensitively)
    for p in el.findall("param"):
        pname, value = p.get("name") or "", p.get("value", "") or ""
        spec = QUEUE_PARAMS.get(pname.lower())
        if spec is None:
            text = f"Configuration parameter [{pname}] is unfortunately not valid, you might want to double-check that."
            warnings.append((text, p))
            continue
        attr, kind = spec
        default = _QUEUE_DEFAULTS[attr]
        if kind == "int":
            if not is_number(value):
                warnings.append((f"Invalid value [{value}] for parameter [{pname}], setting default [{default}]", p))
                values[attr] = default
                continue
            if not 0 <= atoi(value) <= 86400:
                text = (f"Invalid value [{value}] for parameter [{pname}], should be between [0] "
                        f"and [86400], setting default [{default}]")
                warnings.append((text, p))
                values[attr] = default
                continue
            values[attr] = atoi(value)
        elif kind == "bool":
            if switch_true(value):
                values[attr] = True
            elif switch_false(value):
                values[attr] = False
            else:
                text = f"Invalid value [{value}] for parameter [{pname}], setting default [{str(default).lower()}]"
                warnings.append((text, p))
                values[attr] = default
        else:
            values[attr] = value
    if _canon(values["agent_no_answer_status"], AGENT_STATUSES) is None:
        warnings.append((f"Queue {name} has invalid agent-no-answer-status, setting to On Break", el))
        values["agent_no_answer_status"] = "On Break"
    values["agent_no_answer_status"] = _canon(values["agent_no_answer_status"], AGENT_STATUSES) or "On Break"
    plan.templates[id(el)] = (values, warnings)
    return values, warnings


def _row(cls: type, values: dict[str, Any]) -> Any:
    """A table row with these field values (one change counted, not one per field)."""
    row: Any = object.__new__(cls)
    row.__dict__.update(values)
    _CHANGES[0] += 1
    return row


# ---- the module -----------------------------------------------------------------------------------
class CallCenter:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.queues: dict[str, Queue] = {}
        self.agents: dict[str, Agent] = {}
        self.tiers: list[Tier] = []
        self.members: list[Member] = []
        self.agent_originate_timeout = 60
        self.dispatching = False
        self.disp = _Dispatcher()
        self.stamped: set[str] | None = None   # while loading: agents whose status change was stamped
        self.load_config()

    def __setattr__(self, name: str, value: Any) -> None:
        kind = _TABLES.get(name)
        if kind is not None:
            _CHANGES[0] += 1
            if not isinstance(value, kind):
                value = kind(value)
        object.__setattr__(self, name, value)

    # ---- configuration ---------------------------------------------------------------------------
    def config(self) -> XElement | None:
        return self.sim.conf.configuration("callcenter.conf")

    def _log(self, level: str, text: str, where: XElement | None = None, chan: Channel | None = None) -> None:
        fields_: dict[str, Any] = {"level": level, "text": text}
        if where is not None:
            fields_["where"] = where.where()
        self.sim.trace.add(chan, "log", **fields_)

    def load_config(self) -> None:
        cfg = self.config()
        if cfg is None:
            return
        plan = _plan(cfg)
        sim = self.sim
        quiet = not E.sinks(sim)      # nobody to hand the module's events to: its load can be replayed
        if quiet and plan.loaded is not None:
            self._replay_load(plan.loaded)
            return
        mark, fired = len(sim.trace.records), _FIRED[0]
        traced = sim.trace.enabled
        self.stamped = set()
        if plan.originate_timeout is not None:
            self.agent_originate_timeout = plan.originate_timeout
        # a fresh simulator has an empty database, so truncating only matters for a reload
        if plan.truncate_tiers:
            self.tiers.clear()
        if plan.truncate_agents:
            self.agents.clear()
        for name in plan.queue_names:
            self.load_queue(name)
        self._load_agents()
        self._load_tiers()
        records = sim.trace.records[mark:]
        if quiet and traced and sim.trace.enabled and all(r.get("leg") == "-" for r in records):
            plan.loaded = _Loaded(self, records, _FIRED[0] - fired)
        self.stamped = None

    def _replay_load(self, loaded: _Loaded) -> None:
        """What loading callcenter.conf does, as recorded the first time on this configuration:
        the same trace records and events (taken, nobody listens), the same tables; only the
        agents' last status change is this simulator's time."""
        sim = self.sim
        self.agent_originate_timeout = loaded.originate_timeout
        trace = sim.trace
        if trace.enabled and loaded.records:      # Trace.add(None, ...) for each, at this instant
            t = round(sim.engine.now, 3)
            trace.records.extend([{"t": t, "leg": "-", **rec} for rec in loaded.records])
        for _ in range(loaded.fired):
            E.skip_event()
        now = epoch(sim)
        self.queues = {name: _row(Queue, values) for name, values in loaded.queues}
        agents = {}
        for name, values, stamped in loaded.agents:
            agents[name] = row = _row(Agent, values)
            if stamped:
                row.last_status_change = now
        self.agents = agents
        self.tiers = [_row(Tier, values) for values in loaded.tiers]

    def load_queue(self, name: str) -> Queue | None:
        cfg = self.config()
        el = _plan(cfg).queue_elements.get(name) if cfg is not None else None
        if cfg is None or el is None:
            return None
        values, warnings = _queue_template(_plan(cfg), el, name)
        for text, where in warnings:
            self._log("WARNING", text, where)
        queue = _row(Queue, values)
        self.queues[name] = queue
        return queue

    def get_queue(self, name: str) -> Queue | None:
        """get_queue(): loaded queues, else the definition in callcenter.conf."""
        return self.queues.get(name) or self.load_queue(name)

    def _load_agents(self, only: str | None = None) -> None:
        cfg = self.config()
        agents = cfg.find("agents") if cfg is not None else None
        for a in agents.findall("agent") if agents is not None else []:
            name = a.get("name")
            if not name or (only is not None and name != only):
                continue
            atype = a.get("type")
            if not atype:
                self._log("WARNING", f"agent {name} has no type; FreeSWITCH ignores it", a)
                continue
            res = self.agent_add(name, atype)
            if res not in ("+OK", "exists"):
                self._log("WARNING", f"agent {name}: {res}", a)
                continue
            for attr, key in (("contact", "contact"), ("status", "status"), ("wrap-up-time", "wrap_up_time"),
                              ("max-no-answer", "max_no_answer"), ("reject-delay-time", "reject_delay_time"),
                              ("busy-delay-time", "busy_delay_time"),
                              ("no-answer-delay-time", "no_answer_delay_time")):
                if a.get(attr) is not None:
                    r = self.agent_update(key, a.get(attr) or "", name)
                    if r != "+OK":
                        self._log("WARNING", f"agent {name}: {attr}={a.get(attr)!r}: {r}", a)
            if res == "exists":
                self.agent_update("type", atype, name)

    def _load_tiers(self, queue: str | None = None, agent: str | None = None) -> None:
        cfg = self.config()
        tiers = cfg.find("tiers") if cfg is not None else None
        for t in tiers.findall("tier") if tiers is not None else []:
            tq, ta = t.get("queue") or "", t.get("agent") or ""
            if (queue and tq != queue) or (agent and ta != agent):
                continue
            level, position = t.get("level") or "", t.get("position") or ""
            existing = self._tier(tq, ta)
            if existing is None:
                res = self.tier_add(tq, ta, "Ready", atoi(level) if level else 1,
                                    atoi(position) if position else 1)
                if res != "+OK":
                    self._log("WARNING", f"tier {ta} in {tq}: {res}", t)
            else:
                existing.level = atoi(level) if level else 1
                existing.position = atoi(position) if position else 1

    # ---- agents and tiers (cc_agent_* / cc_tier_*) ---------------------------------------------------
    def _tier(self, queue: str, agent: str) -> Tier | None:
        return next((t for t in self.tiers if t.queue == queue and t.agent == agent), None)

    def agent_add(self, name: str, atype: str) -> str:
        # the type, status and state columns hold what was given (cc_agent_add/cc_agent_update store
        # '%q' of the value after a case-insensitive check): the dispatcher's SQL compares them exactly
        if _canon(atype, AGENT_TYPES) is None:
            return "-ERR Agent type invalid!"
        if name in self.agents:
            return "exists"
        self.agents[name] = _row(Agent, dict(_AGENT_DEFAULTS, name=name, type=atype))
        custom_event(self.sim, SUBCLASS, {"CC-Agent": name, "CC-Agent-Type": atype, "CC-Action": "agent-add"})
        return "+OK"

    def agent_del(self, name: str) -> None:
        self.agents.pop(name, None)
        self.tiers = [t for t in self.tiers if t.agent != name]

    def agent_update(self, key: str, value: str, name: str) -> str:
        agent = self.agents.get(name)
        if agent is None:
            return "-ERR Agent not found!"
        key = key.lower()
        now = epoch(self.sim)
        if key == "status":
            status = _canon(value, AGENT_STATUSES)
            if status is None:
                return "-ERR Invalid Agent Status!"
            if status == "Available":
                if agent.status != value:      # ... WHERE NOT status = '<value>'
                    agent.status, agent.last_status_change = value, now
                    if self.stamped is not None:
                        self.stamped.add(name)
                    agent.talk_time = agent.calls_answered = agent.no_answer_count = 0
            else:
                agent.status, agent.last_status_change = value, now
                if self.stamped is not None:
                    self.stamped.add(name)
                for m in self.members:
                    if m.serving_agent == name and m.serving_system == SELF and m.state != "Answered":
                        self.hupall(m.uuid, "ORIGINATOR_CANCEL")
                        break
            custom_event(self.sim, SUBCLASS, {"CC-Agent": name, "CC-Action": "agent-status-change",
                                              "CC-Agent-Status": value})
            self.kick()
        elif key in ("state", "state_if_waiting"):
            state = _canon(value, AGENT_STATES)
            if state is None:
                return "-ERR Invalid Agent State!"
            if key == "state_if_waiting" and (
                    agent.state != "Waiting" or agent.status not in ("Available", "Available (On Demand)")):
                return "-ERR Agent not found!"
            agent.state = value
            if state == "Receiving":
                agent.last_offered_call = now
            custom_event(self.sim, SUBCLASS, {"CC-Agent": name, "CC-Action": "agent-state-change",
                                              "CC-Agent-State": value})
        elif key == "uuid":
            agent.uuid, agent.instance_id = value, SELF
        elif key == "contact":
            agent.contact, agent.instance_id = value, SELF
            custom_event(self.sim, SUBCLASS, {"CC-Agent": name, "CC-Action": "agent-contact-change",
                                              "CC-Agent-Contact": value})
        elif key == "type":
            if _canon(value, AGENT_TYPES) is None:
                return "-ERR Invalid Agent Type!"
            agent.type = value
        elif key in ("ready_time", "busy_delay_time", "reject_delay_time", "no_answer_delay_time",
                     "max_no_answer", "wrap_up_time"):
            setattr(agent, key, atoi(value))
            agent.instance_id = SELF
        else:
            return "-ERR Invalid Agent Update KEY!"
        return "+OK"

    def agent_get(self, key: str, name: str) -> str:
        agent = self.agents.get(name)
        if agent is None:
            return "-ERR Agent not found!\n"
        if key.lower() not in ("status", "state", "uuid"):
            return "-ERR Invalid Agent Update KEY!\n"
        return str(getattr(agent, key.lower()))

    def tier_add(self, queue: str, agent: str, state: str, level: int, position: int) -> str:
        if self.get_queue(queue) is None:
            return "-ERR Queue not found!"
        tstate = _canon(state, TIER_STATES)
        if tstate is None:
            return "-ERR Invalid Tier State!"
        if agent not in self.agents:
            return "-ERR Agent not found!"
        if self._tier(queue, agent) is not None:
            return "-ERR Tier already exist!"
        self.tiers.append(Tier(queue, agent, tstate, level, position))
        self.kick()
        return "+OK"

    def tier_update(self, key: str, value: str, queue: str, agent: str) -> str:
        tier = self._tier(queue, agent)
        if tier is None:
            return "-ERR Tier not found!"
        if agent not in self.agents:
            return "-ERR Agent not found!"
        if self.get_queue(queue) is None:
            return "-ERR Queue not found!"
        key = key.lower()
        if key == "state":
            if _canon(value, TIER_STATES) is None:
                return "-ERR Invalid Tier State!"
            tier.state = value
        elif key == "level":
            tier.level = atoi(value)
        elif key == "position":
            tier.position = atoi(value)
        else:
            return "-ERR Invalid Tier Update KEY!"
        return "+OK"

    def tier_del(self, queue: str, agent: str) -> None:
        self.tiers = [t for t in self.tiers if not (t.queue == queue and t.agent == agent)]

    # ---- members ------------------------------------------------------------------------------------
    def member(self, uuid: str) -> Member | None:
        return next((m for m in self.members if m.uuid == uuid), None)

    def queue_count(self, queue: str) -> int:
        """cc_queue_count(): waiting/trying members, and the members-count event."""
        n = sum(1 for m in self.members if m.queue == queue and m.state in ("Waiting", "Trying"))
        custom_event(self.sim, SUBCLASS, {"CC-Queue": queue, "CC-Action": "members-count", "CC-Count": str(n),
                                          "CC-Selection": "Single-Queue"})
        return n

    def hupall(self, member_uuid: str, cause: str) -> None:
        """switch_core_session_hupall_matching_var("cc_member_pre_answer_uuid", member_uuid)."""
        for chan in list(self.sim.channels.values()):
            if chan.var("cc_member_pre_answer_uuid") == member_uuid and not chan.hungup:
                chan.hangup(cause)

    def _purge_abandoned(self) -> None:
        now = epoch(self.sim)
        keep = []
        for m in self.members:
            if m.state == "Abandoned":
                queue = self.queues.get(m.queue)
                after = queue.discard_abandoned_after if queue else 60
                if (m.abandoned_epoch or m.joined_epoch) + after < now:
                    continue
            keep.append(m)
        if len(keep) != len(self.members):
            self.members = keep

    # ---- dispatcher ---------------------------------------------------------------------------------
    def _pending(self) -> list[Member]:
        return [m for m in self.members
                if m.state == "Waiting" or (m.state == "Trying" and m.serving_agent in ("ring-all", "ring-progressively"))]

    def _any_pending(self) -> bool:
        return any(m.state == "Waiting" or (m.state == "Trying" and m.serving_agent in ("ring-all", "ring-progressively"))
                   for m in self.members)

    def kick(self) -> None:
        """Make sure the dispatcher runs while somebody waits (its 0.1 s grid starts at t=0)."""
        if self.dispatching or not self._any_pending():
            return
        self.dispatching = True
        now = self.sim.engine.now
        k = math.ceil(now / DISPATCH_PERIOD - 1e-9)
        self.disp.task = self.sim.engine.spawn(self._dispatcher(k), "callcenter:dispatch",
                                               delay=max(k * DISPATCH_PERIOD - now, 0.0))

    def _dispatcher(self, k: int) -> Generator[Any, Any, None]:
        engine, disp = self.sim.engine, self.disp
        try:
            while self._any_pending():
                if disp.quiet is None or disp.quiet != (_CHANGES[0], epoch(self.sim)):
                    before = _CHANGES[0]
                    yield from self.dispatch_once()
                    disp.quiet = None
                    if _CHANGES[0] == before and self._pass_reads_only_tables():
                        disp.quiet = (before, epoch(self.sim))
                k = max(k + 1, math.floor(engine.now / DISPATCH_PERIOD + 1e-9) + 1)
                delay = max(k * DISPATCH_PERIOD - engine.now, 0.0)
                if disp.quiet is None:
                    yield Sleep(delay)
                    continue
                # nothing to do until something changes: the 0.1 s ticks become plain checks,
                # each at the place in the event order the Sleep would have had
                disp.k = k
                engine.ticks(engine.now + delay, self._quiet_tick)
                k = yield Wait(_PARKED, channels=())
        finally:
            self.dispatching = False

    def _quiet_tick(self) -> float | None:
        """One 0.1 s dispatcher tick while quiet: the next tick's time, or None after resuming
        the dispatcher (a pass could see something new, or nobody waits any more)."""
        disp = self.disp
        task = disp.task
        if task is None or task.done:
            return None
        sim = self.sim
        now = sim.engine.now
        quiet = disp.quiet
        # unchanged tables: still somebody waiting, and the same pass as the quiet one
        if quiet is not None and quiet[0] == _CHANGES[0] and quiet[1] == _floor(sim.start_epoch + now + 1e-6):
            # k = max(k + 1, next grid index); the next tick at now + max(k * period - now, 0.0)
            k = disp.k + 1
            grid = _floor(now / DISPATCH_PERIOD + 1e-9) + 1
            if grid > k:  # noqa: PLR1730 - max() without a call: this runs ten times a virtual second
                k = grid
            disp.k = k
            d = k * DISPATCH_PERIOD - now
            return now + (0.0 if 0.0 > d else d)  # noqa: FURB136
        sim.engine._step(task, disp.k, None)
        return None

    def _pass_reads_only_tables(self) -> bool:
        """A pass is a function of the tables and the epoch second, unless a waiting member's
        queue reads channel variables (top-down, ring-progressively) or draws random numbers."""
        for m in self._pending():
            queue = self.queues.get(m.queue)
            if queue is None or queue.strategy in ("top-down", "ring-progressively", "random"):
                return False
        return True

    def dispatch_once(self) -> Generator[Any, Any, None]:
        """One pass of cc_agent_dispatch_thread_run: members by score, highest first."""
        self._purge_abandoned()
        now = epoch(self.sim)
        order = sorted(self._pending(), key=lambda m: -m.score(now))
        for m in order:
            if m in self.members:
                yield from self._member_pass(m)

    def _rows(self, queue: Queue, member: Member) -> list[tuple[Agent, Tier]]:
        """The agents query of members_callback, in the strategy's order."""
        qname = queue.name
        tiers = [t for t in self.tiers if t.queue == qname]
        base = [(a, t) for a in self.agents.values() if a.status in OFFERABLE for t in tiers if t.agent == a.name]
        strategy = queue.strategy
        if strategy in ("top-down", "round-robin"):
            if strategy == "top-down":
                chan = self.sim.channels.get(member.session_uuid)
                pos = atoi(chan.var("cc_last_agent_tier_position")) if chan else 0
                lev = atoi(chan.var("cc_last_agent_tier_level")) if chan else 0
                first = [(a, t) for a, t in base if t.position > pos and t.level == lev]
                second = [(a, t) for a, t in base if t.level > lev]
            else:
                offered = [(a, t) for a, t in base_all(self, queue) if a.last_offered_call > 0]
                last = max(offered, key=lambda r: r[0].last_offered_call) if offered else None
                first = [(a, t) for a, t in base if last is not None
                         and t.position > last[1].position and t.level == last[1].level]
                second = list(base)

            def key(r: tuple[Agent, Tier]) -> tuple:
                return r[1].level, r[1].position, r[0].last_offered_call
            return sorted(first, key=key) + sorted(second, key=key)
        if strategy == "longest-idle-agent":
            return sorted(base, key=lambda r: (r[1].level, r[0].last_bridge_end, r[1].position))
        if strategy == "agent-with-least-talk-time":
            return sorted(base, key=lambda r: (r[1].level, r[0].talk_time, r[1].position))
        if strategy == "agent-with-fewest-calls":
            return sorted(base, key=lambda r: (r[1].level, r[0].calls_answered, r[1].position))
        if strategy in ("ring-all", "ring-progressively"):
            return sorted(base, key=lambda r: (r[1].level, r[1].position))
        if strategy == "random":
            keyed = [(r[1].level, self.sim.rng.random(), i) for i, r in enumerate(base)]
            return [base[i] for _, _, i in sorted(keyed)]
        return sorted(base, key=lambda r: (r[1].level, r[1].position, r[0].last_offered_call))

    def _member_pass(self, member: Member) -> Generator[Any, Any, None]:
        """members_callback for one member."""
        queue = self.get_queue(member.queue)
        if queue is None:
            self._log("WARNING", f"Queue {member.queue} not found locally, delete this member")
            self.members.remove(member)
            return
        strategy = queue.strategy
        ring = ("ring-all", "ring-progressively")
        # tracking strategy changes of the queue
        if member.serving_agent in ring and member.serving_agent != strategy:
            if member.state == "Trying":
                if strategy in ring:
                    member.serving_agent = strategy
                else:
                    member.serving_agent, member.state = "", "Waiting"
        elif strategy in ring and member.state == "Waiting" and not member.serving_agent:
            member.serving_agent, member.state = strategy, "Trying"
        if strategy in ring and member.state == "Waiting":
            member.state = "Trying"
        chan = self.sim.channels.get(member.session_uuid)
        if strategy == "ring-progressively" and chan is not None:
            last = chan.var("cc_last_originated_call")
            delay = queue.ring_progressively_delay or 10
            if last and chan.ready and epoch(self.sim) < atoi(last) + delay and not chan.true("cc_agent_found"):
                yield Sleep(0.5)
                return
        tier, available, found = 0, 0, False
        now = epoch(self.sim)
        for agent, t in self._rows(queue, member):
            found = True
            if queue.tier_rules_apply and t.level > tier:
                waited = now - member.joined_epoch
                if queue.tier_rule_no_agent_no_wait and available == 0:
                    tier = t.level
                elif waited >= (t.level * queue.tier_rule_wait_second if queue.tier_rule_wait_multiply_level
                                else queue.tier_rule_wait_second):
                    tier, available = t.level, 0
                else:
                    break
            available += 1
            if (t.state.lower() not in ("no answer", "ready") or agent.state.lower() != "waiting"
                    or not agent.last_bridge_end < now - agent.wrap_up_time or not agent.ready_time <= now
                    or agent.status.lower() == "on break"
                    or (queue.skip_agents_with_external_calls and agent.external_calls_count > 0)):
                continue
            if agent.instance_id != SELF:
                if strategy == "ring-all":
                    break
                continue
            if strategy in ("ring-all", "ring-progressively"):
                if member.serving_agent != strategy:
                    break
            else:
                if member.state != "Waiting":
                    break
                member.serving_agent, member.serving_system, member.state = agent.name, agent.instance_id, "Trying"
            self._offer(queue, member, agent, t, chan)
            if strategy != "ring-all":
                break
        if member.queue in self.queues:
            queue.last_agent_exist_check = now
            if found:
                queue.last_agent_exist = now
            elif strategy == "top-down" and chan is not None:
                chan.set_var("cc_last_agent_tier_position", None)
                chan.set_var("cc_last_agent_tier_level", None)

    def _offer(self, queue: Queue, member: Member, agent: Agent, tier: Tier, chan: Channel | None) -> None:
        offer = Offer(member, queue.name, queue.strategy, queue.record_template, agent.name, agent.instance_id,
                      agent.status, agent.type, agent.uuid, agent.contact, agent.no_answer_count,
                      agent.max_no_answer, agent.reject_delay_time, agent.busy_delay_time,
                      agent.no_answer_delay_time, queue.agent_no_answer_status)
        now = epoch(self.sim)
        if chan is not None and queue.strategy == "ring-progressively":
            chan.set_var("cc_last_originated_call", str(now))
        if chan is not None and queue.strategy == "top-down":
            chan.set_var("cc_last_agent_tier_position", str(tier.position))
            chan.set_var("cc_last_agent_tier_level", str(tier.level))
        self.agent_update("state", "Receiving", agent.name)
        for t in self.tiers:
            if t.agent == agent.name:
                if t.queue == queue.name:
                    t.state = "Offering"
                elif t.state == "Ready":
                    t.state = "Standby"
        self.sim.engine.spawn(self._agent_call(offer), f"callcenter:agent:{agent.name}")

    # ---- the agent thread ---------------------------------------------------------------------------
    def _agent_call(self, h: Offer) -> Generator[Any, Any, None]:
        sim = self.sim
        m = h.member
        member_chan = sim.channels.get(m.session_uuid) if m.session_uuid else None
        tiers_state = "Ready"
        bridged = False
        agent_chan: Channel | None = None
        cause = "NONE"
        t_called = 0
        ok = False
        if member_chan is None or member_chan.hungup:
            if m.state != "Abandoned":
                m.state, m.session_uuid, m.abandoned_epoch = "Abandoned", "", epoch(sim)
        else:
            custom_event(sim, SUBCLASS, {
                "CC-Queue": h.queue, "CC-Action": "agent-offering", "CC-Agent": h.agent, "CC-Agent-Type": h.agent_type,
                "CC-Agent-System": h.agent_system, "CC-Member-UUID": m.uuid, "CC-Member-Session-UUID": m.session_uuid,
                "CC-Member-CID-Name": m.cid_name, "CC-Member-CID-Number": m.cid_number,
                "CC-Member-DNIS": member_chan.profile.rdnis})
            if h.agent_type.lower() == "callback":
                agent_chan, cause, t_called = yield from self._call_agent(h, member_chan)
                ok = agent_chan is not None
            elif h.agent_type.lower() == "uuid-standby":
                agent_chan = sim.channels.get(h.agent_uuid) if h.agent_uuid else None
                if agent_chan is not None and not agent_chan.hungup:
                    for k, v in (("cc_side", "agent"), ("cc_queue", h.queue), ("cc_agent", h.agent),
                                 ("cc_agent_type", h.agent_type), ("cc_member_uuid", m.uuid),
                                 ("cc_member_session_uuid", m.session_uuid)):
                        agent_chan.set_var(k, v)
                    _export(member_chan, agent_chan)
                    ok, cause = True, "SUCCESS"
                else:
                    agent_chan = None
                    self.agent_update("status", "Logged Out", h.agent)
                    self.agent_update("uuid", "", h.agent)
            else:
                cause = "USER_NOT_REGISTERED"
        if ok and agent_chan is not None and member_chan is not None:
            result = yield from self._bridge_agent(h, member_chan, agent_chan, t_called)
            if result is None and not agent_chan.hungup:   # another agent won the ring-all race
                agent_chan.hangup("LOSE_RACE")
            bridged = bool(result)
        elif member_chan is not None:
            m.connecting = False
            member_chan.post("cc_connect_done")
            tiers_state = self._agent_failed(h, cause, t_called)
        # done:
        for t in self.tiers:
            if t.agent == h.agent:
                if t.queue == h.queue and t.state in ("Active Inbound", "Standby", "Offering"):
                    t.state = tiers_state
                elif t.queue != h.queue and t.state == "Standby":
                    t.state = "Ready"
        if h.agent in self.agents:
            if h.agent_status.lower() == "available (on demand)" and bridged:
                self.agent_update("state", "Idle", h.agent)
            else:
                self.agent_update("state", "Waiting", h.agent)
        self.kick()

    def _call_agent(self, h: Offer, member_chan: Channel) -> Generator[Any, Any, tuple[Channel | None, str, int]]:
        """Originate a callback agent's contact (the loopback case looks for the real channel)."""
        sim, m = self.sim, h.member
        cid_name = member_chan.var("effective_caller_id_name") or m.cid_name
        cid_number = member_chan.var("effective_caller_id_number") or m.cid_number
        prefix = member_chan.var("cc_outbound_cid_name_prefix")
        if prefix:
            cid_name = prefix + cid_name
        ovars = {"cc_queue": h.queue, "cc_queue_joined_epoch": str(m.joined_epoch), "cc_member_uuid": m.uuid,
                 "cc_member_session_uuid": m.session_uuid, "cc_member_pre_answer_uuid": m.uuid,
                 "cc_agent": h.agent, "cc_agent_type": h.agent_type, "cc_side": "agent",
                 "loopback_bowout": "false", "loopback_bowout_on_execute": "false", "ignore_early_media": "true",
                 "origination_caller_id_name": cid_name, "origination_caller_id_number": cid_number,
                 "originate_timeout": str(self.agent_originate_timeout)}
        for name in _export_names(member_chan):
            if member_chan.var(name) is not None:
                ovars[name] = member_chan.var(name) or ""
        t_called = epoch(sim)
        dial = member_chan.expand(h.contact)
        m.connecting = True
        agent_chan, cause = yield from originate(sim, dial, caller=None, timeout=None, variables=ovars)
        if agent_chan is None:
            return None, cause, t_called
        cause = "SUCCESS"
        if agent_chan.var("other_loopback_leg_uuid") and agent_chan.partner is not None:
            leg_b = agent_chan.partner
            deadline = sim.engine.now + 5.0
            while leg_b.bridged is None and not leg_b.hungup and member_chan.ready and sim.engine.now < deadline:
                yield Sleep(0.02)
            real = leg_b.bridged
            if real is None or real.hungup:
                agent_chan.hangup("DESTINATION_OUT_OF_ORDER")
                return None, cause, t_called
            for k, v in (("cc_side", "agent"), ("cc_queue", h.queue), ("cc_agent", h.agent),
                         ("cc_agent_type", h.agent_type), ("cc_member_uuid", m.uuid),
                         ("cc_member_session_uuid", m.session_uuid)):
                real.set_var(k, v)
            _export(member_chan, real)
            agent_chan.set_var("cc_member_pre_answer_uuid", None)
            leg_b.set_var("cc_member_pre_answer_uuid", None)
            agent_chan = real
        return agent_chan, cause, t_called

    def _bridge_agent(self, h: Offer, member_chan: Channel, agent_chan: Channel, t_called: int
                      ) -> Generator[Any, Any, bool | None]:
        sim, m = self.sim, h.member
        agent_chan.set_var("cc_member_pre_answer_uuid", None)
        if h.strategy in ("ring-all", "ring-progressively"):
            if m.state == "Trying" and m.serving_agent == h.strategy:
                m.serving_agent, m.serving_system = h.agent, SELF
            if m.serving_agent != h.agent:
                return None
            self.hupall(m.uuid, "LOSE_RACE")
        yield Sleep(ANSWER_NOTICE)
        t_answered = epoch(sim)
        custom_event(sim, SUBCLASS, {
            "CC-Queue": h.queue, "CC-Action": "bridge-agent-start", "CC-Agent": h.agent,
            "CC-Agent-System": h.agent_system, "CC-Agent-UUID": agent_chan.uuid,
            "CC-Agent-Called-Time": str(t_called), "CC-Agent-Answered-Time": str(t_answered),
            "CC-Member-Joined-Time": str(m.joined_epoch), "CC-Member-UUID": m.uuid,
            "CC-Member-Session-UUID": m.session_uuid, "CC-Member-CID-Name": m.cid_name,
            "CC-Member-CID-Number": m.cid_number}, agent_chan)
        if h.record_template and not member_chan.hungup:
            from .record import start_session_recording
            path = member_chan.expand(h.record_template)
            member_chan.set_var("cc_record_filename", path)
            start_session_recording(member_chan, path)
        announce = member_chan.var("cc_outbound_announce")
        if announce:
            yield from _play_array(agent_chan, announce)
        if member_chan.hungup or agent_chan.hungup:
            ok = False
        else:
            member_chan.set_var("cc_agent_found", "true")
            member_chan.set_var("cc_agent_uuid", agent_chan.uuid)
            m.agent_chan = agent_chan
            member_chan.post("cc_agent_found", agent_chan)
            if member_chan.bridged is not agent_chan:
                yield Wait(("cc_bridged", "hangup"), timeout=3.0, channels=(agent_chan, member_chan))
            ok = member_chan.bridged is agent_chan
        if not ok and member_chan.hungup:
            agent_chan.set_var("cc_agent_bridged", "false")
            member_chan.set_var("cc_agent_bridged", "false")
            m.state, m.session_uuid, m.abandoned_epoch = "Abandoned", "", epoch(sim)
            failed = member_chan.var("cc_bridge_failed_outbound_announce")
            if failed:
                yield from _play_array(agent_chan, failed)
            # only a callback agent is hung up; a uuid-standby agent keeps its channel
            if h.agent_type.lower() == "callback" and not agent_chan.hungup:
                agent_chan.hangup("ORIGINATOR_CANCEL")
        elif not ok and agent_chan.hungup:
            m.state = "Waiting"
        else:
            ok = True
            member_chan.set_var("cc_agent_bridged", "true")
            agent_chan.set_var("cc_agent_bridged", "true")
            m.state, m.bridge_epoch = "Answered", epoch(sim)
            member_chan.set_var("cc_agent", h.agent)
            member_chan.set_var("cc_queue_answered_epoch", str(epoch(sim)))
            agent = self.agents.get(h.agent)
            if agent is not None:
                agent.uuid, agent.last_bridge_start = agent_chan.uuid, epoch(sim)
                agent.calls_answered += 1
                agent.no_answer_count = 0
            tier = self._tier(h.queue, h.agent)
            if tier is not None:
                tier.state = "Active Inbound"
            self.agent_update("state", "In a queue call", h.agent)
        m.connecting = False
        member_chan.post("cc_connect_done")
        if ok:   # wait until the agent hangs up, noticed on the thread's 0.1 s poll
            started = sim.engine.now
            while not agent_chan.hungup and (h.agent_type.lower() != "uuid-standby" or agent_chan.bridged is not None):
                yield Wait(("hangup", "cc_unbridged"), channels=(agent_chan,))
            polls = math.ceil((sim.engine.now - started) / AGENT_POLL - 1e-9)
            yield Sleep(max(started + polls * AGENT_POLL - sim.engine.now, 0.0))
        custom_event(sim, SUBCLASS, {
            "CC-Queue": h.queue, "CC-Action": "bridge-agent-end", "CC-Hangup-Cause": "SUCCESS",
            "CC-Agent": h.agent, "CC-Agent-System": h.agent_system, "CC-Agent-UUID": agent_chan.uuid,
            "CC-Agent-Bridged": "true" if ok else "false", "CC-Agent-Called-Time": str(t_called),
            "CC-Agent-Answered-Time": str(t_answered), "CC-Member-Joined-Time": str(m.joined_epoch),
            "CC-Bridge-Terminated-Time": str(epoch(sim)), "CC-Member-UUID": m.uuid,
            "CC-Member-Session-UUID": m.session_uuid, "CC-Member-CID-Name": m.cid_name,
            "CC-Member-CID-Number": m.cid_number}, agent_chan)
        if ok:
            now = epoch(sim)
            if not member_chan.hungup:
                member_chan.set_var("cc_queue_terminated_epoch", str(now))
            agent = self.agents.get(h.agent)
            if agent is not None:
                if h.agent_type.lower() != "uuid-standby":
                    agent.uuid = ""
                agent.talk_time += now - agent.last_bridge_start
                agent.last_bridge_end = now
            if m in self.members:
                self.members.remove(m)
            custom_event(sim, SUBCLASS, {
                "CC-Queue": h.queue, "CC-Action": "member-queue-end", "CC-Hangup-Cause": "SUCCESS",
                "CC-Cause": "Terminated", "CC-Agent": h.agent, "CC-Agent-System": h.agent_system,
                "CC-Agent-UUID": agent_chan.uuid, "CC-Agent-Called-Time": str(t_called),
                "CC-Agent-Answered-Time": str(t_answered), "CC-Member-Leaving-Time": str(now),
                "CC-Member-Joined-Time": str(m.joined_epoch), "CC-Member-UUID": m.uuid,
                "CC-Member-Session-UUID": m.session_uuid, "CC-Member-CID-Name": m.cid_name,
                "CC-Member-CID-Number": m.cid_number}, member_chan)
        return ok

    def _agent_failed(self, h: Offer, cause: str, t_called: int) -> str:
        """The agent did not answer (or could not be called): delays, no-answer count, events."""
        m = h.member
        if m.serving_agent == h.agent and m.serving_system == h.agent_system:
            if m.state == "Trying":
                m.state = "Waiting"
            m.serving_agent = m.serving_system = ""
        tiers_state = "Ready"
        delay = 0
        if cause in ("LOSE_RACE", "ORIGINATOR_CANCEL"):
            pass
        elif cause in ("NORMAL_CIRCUIT_CONGESTION", "USER_BUSY"):
            delay = max(h.busy_delay_time, 0)
        elif cause == "CALL_REJECTED":
            delay = max(h.reject_delay_time, 0)
        elif cause == "USER_NOT_REGISTERED":
            delay = 5
        else:
            delay = max(h.no_answer_delay_time, 0)
            tiers_state = "No Answer"
            agent = self.agents.get(h.agent)
            if agent is not None:
                agent.no_answer_count += 1
            if h.max_no_answer > 0 and h.no_answer_count + 1 >= h.max_no_answer:
                custom_event(self.sim, SUBCLASS, {
                    "CC-Agent": h.agent, "CC-Action": "agent-max-no-answer",
                    "CC-Agent-No-Answer-Count": str(h.max_no_answer),
                    "CC-Agent-No-Answer-Status": h.agent_no_answer_status, "CC-Member-UUID": m.uuid,
                    "CC-Member-Session-UUID": m.session_uuid})
                self.agent_update("status", h.agent_no_answer_status, h.agent)
        if delay > 0:
            self.agent_update("ready_time", str(epoch(self.sim) + delay), h.agent)
        custom_event(self.sim, SUBCLASS, {
            "CC-Queue": h.queue, "CC-Action": "bridge-agent-fail", "CC-Hangup-Cause": cause, "CC-Agent": h.agent,
            "CC-Agent-System": h.agent_system, "CC-Agent-Called-Time": str(t_called),
            "CC-Agent-Aborted-Time": str(epoch(self.sim)), "CC-Member-UUID": m.uuid,
            "CC-Member-Session-UUID": m.session_uuid, "CC-Member-CID-Name": m.cid_name,
            "CC-Member-CID-Number": m.cid_number, "CC-Member-Joined-Time": str(m.joined_epoch)})
        return tiers_state

    # ---- the member thread ---------------------------------------------------------------------------
    def _member_thread(self, m: Member, chan: Channel, mt: _MemberTicks) -> Generator[Any, Any, None]:
        sim = self.sim
        mt.last_announce = epoch(sim)
        mt.announce_valid = True
        while chan.ready and m.running:
            queue = self.get_queue(m.queue)
            if queue is None:
                self._log("WARNING", f"Queue {m.queue} not found", chan=chan)
                break
            now = epoch(sim)
            if queue.max_wait_time > 0 and queue.max_wait_time <= now - m.t_member_called:
                while m.connecting and chan.ready:
                    yield Wait(("cc_connect_done", "hangup"), channels=(chan,))
                if chan.bridged is None and m.running:
                    self._cancel(m, chan, "TIMEOUT")
            if _no_agent_timeout(queue, m):
                reached = queue.max_wait_time_with_no_agent_time_reached
                if (reached <= 0 or queue.last_agent_exist_check - m.t_member_called
                        >= reached + queue.max_wait_time_with_no_agent):
                    self._cancel(m, chan, "NO_AGENT_TIMEOUT")
            if _announce_due(queue, m, mt, now):
                spec = chan.expand(queue.announce_sound or "")
                if media.duration_of(chan, spec) is None:
                    self._log("WARNING", f"Couldn't play announcement '{queue.announce_sound}'", chan=chan)
                    mt.announce_valid = False
                else:
                    sim.trace.add(chan, "displace", file=spec)   # mixed over the music: no playback events
                    mt.last_announce = now
            # the 0.5 s ticks where none of the above applies are plain checks (see _member_tick)
            sim.engine.ticks(sim.engine.now + MEMBER_PERIOD, mt.tick)
            yield Wait(_PARKED, channels=())

    def _member_tick(self, m: Member, chan: Channel, mt: _MemberTicks) -> float | None:
        """A 0.5 s member-thread tick: the next tick's time when this one has nothing to do,
        else None after resuming the thread here."""
        task = mt.task
        if task is None or task.done:
            return None
        if chan.ready and m.running:
            queue = self.queues.get(m.queue)
            now = math.floor(self.sim.start_epoch + self.sim.engine.now + 1e-6)   # epoch()
            if (queue is not None and not (queue.max_wait_time > 0 and queue.max_wait_time <= now - m.t_member_called)
                    and not _no_agent_timeout(queue, m) and not _announce_due(queue, m, mt, now)):
                return self.sim.engine.now + MEMBER_PERIOD
        self.sim.engine._step(task, None, None)
        return None

    def _cancel(self, m: Member, chan: Channel, reason: str) -> None:
        """m->member_cancel_reason = reason + CF_BREAK: cc_member_thread_run overwrites the reason, so
        a NO_AGENT_TIMEOUT found after a TIMEOUT in the same tick is the one reported."""
        m.cancel_reason = reason
        chan.post("cc_break")

    # ---- the member's application ----------------------------------------------------------------
    def join(self, chan: Channel, queue: Queue) -> Generator[Any, Any, None]:
        sim = self.sim
        chan.answer()
        start_epoch = math.floor(sim.start_epoch + (chan.answered_at or 0.0) + 1e-6)
        t_member_called = epoch(sim)
        name = queue.name
        cid_number = chan.expand("${caller_id_number}")
        cid_name = chan.expand("${caller_id_name}")
        resumed: Member | None = None
        if queue.abandoned_resume_allowed:
            self._purge_abandoned()
            olds = [x for x in self.members if x.queue == name and x.cid_number == cid_number
                    and x.state == "Abandoned"]
            if olds:
                resumed = max(olds, key=lambda x: x.abandoned_epoch)
        member_uuid = resumed.uuid if resumed is not None else new_uuid(sim)
        chan.set_var("cc_side", "member")
        chan.set_var("cc_member_uuid", member_uuid)
        chan.set_var("cc_agent_found", None)
        chan.set_var("cc_agent_bridged", None)
        base = atoi(chan.var("cc_base_score"))     # cc_base_score_int += atoi(cc_base_score)
        if queue.time_base_score.lower() == "system":
            base += epoch(sim) - start_epoch
        chan.set_var("cc_queue_joined_epoch", str(epoch(sim)))
        chan.set_var("cc_queue", name)
        if resumed is not None:
            m = resumed
            m.session_uuid, m.state, m.rejoined_epoch, m.instance_id = chan.uuid, "Waiting", epoch(sim), SELF
            m.cancel_reason, m.running, m.connecting, m.agent_chan = "NONE", True, False, None
        else:
            serving = queue.strategy if queue.strategy in ("ring-all", "ring-progressively") else ""
            m = Member(name, SELF, member_uuid, chan.uuid, cid_number, cid_name, start_epoch, epoch(sim),
                       base_score=base, serving_agent=serving)
            self.members.append(m)
        m.t_member_called = t_member_called
        custom_event(sim, SUBCLASS, {
            "CC-Queue": name, "CC-Action": "member-queue-resume" if resumed else "member-queue-start",
            "CC-Member-UUID": member_uuid, "CC-Member-Session-UUID": chan.uuid,
            "CC-Member-CID-Name": cid_name, "CC-Member-CID-Number": cid_number}, chan)
        self.queue_count(name)
        mt = _MemberTicks()
        mt.tick = functools.partial(self._member_tick, m, chan, mt)
        mt.task = sim.engine.spawn(self._member_thread(m, chan, mt), f"callcenter:member:{chan.name}")
        self.kick()
        moh = chan.var("cc_moh_override") or queue.moh_sound
        moh = chan.expand(moh) if moh else None
        moh_missing = False
        try:
            while chan.ready:
                if m.cancel_reason != "NONE" or m.agent_chan is not None:
                    break
                exit_keys = chan.var("cc_exit_keys") or ""
                if moh_missing:
                    yield from _wait_unheard(chan, m)
                    digit = ""
                elif moh:
                    how, digit = yield from _play_moh(chan, moh, m, exit_keys)
                    # switch_ivr_play_file returns SWITCH_STATUS_NOTFOUND, which the "Couldn't play
                    # file, continuing wait with no audio" branch (SWITCH_STATUS_FALSE) never matches:
                    # callcenter_function retries play_file every 1 ms, reading no DTMF
                    moh_missing = how == "notfound"
                else:
                    how, digit = yield from _wait_silently(chan, m, exit_keys)
                if digit:
                    chan.set_var("cc_exit_key", digit)
                    m.cancel_reason = "EXIT_WITH_KEY"
                    break
        except Hangup:
            m.running = False
            self._leave(m, chan, queue, answered=False)
            raise
        m.running = False
        agent_found = m.agent_chan is not None
        if m.cancel_reason == "NONE" and not agent_found:
            m.cancel_reason = "BREAK_OUT"
        chan.set_var("cc_agent_found", None)
        answered = not chan.hungup and m.cancel_reason == "NONE"
        self._leave(m, chan, queue, answered)
        if answered and m.agent_chan is not None:
            yield from self._uuid_bridge(chan, m.agent_chan)

    def _leave(self, m: Member, chan: Channel, queue: Queue, answered: bool) -> None:
        sim = self.sim
        if not answered:
            if m.cancel_reason == "NONE":
                m.cancel_reason = "BREAK_OUT"
            m.state, m.session_uuid, m.abandoned_epoch = "Abandoned", "", epoch(sim)
            self.hupall(m.uuid, "ORIGINATOR_CANCEL")
            custom_event(sim, SUBCLASS, {
                "CC-Queue": queue.name, "CC-Action": "member-queue-end", "CC-Member-Leaving-Time": str(epoch(sim)),
                "CC-Member-Joined-Time": str(m.t_member_called), "CC-Cause": "Cancel",
                "CC-Cancel-Reason": m.cancel_reason, "CC-Member-UUID": m.uuid, "CC-Member-Session-UUID": chan.uuid,
                "CC-Member-CID-Name": m.cid_name, "CC-Member-CID-Number": m.cid_number}, chan)
            chan.set_var("cc_queue_canceled_epoch", str(epoch(sim)))
            chan.set_var("cc_cause", "cancel")
            chan.set_var("cc_cancel_reason", m.cancel_reason)
            queue.calls_abandoned += 1
        else:
            chan.set_var("cc_cause", "answered")
            queue.calls_answered += 1
        self.queue_count(queue.name)

    def _uuid_bridge(self, chan: Channel, agent: Channel) -> Generator[Any, Any, None]:
        """switch_ivr_uuid_bridge(member, agent) as the member's state machine runs it."""
        yield Sleep(BRIDGE_AFTER)
        if agent.hungup:
            return
        chan.emit("execute", app="uuid_bridge", data=agent.uuid)
        agent.emit("execute", app="uuid_bridge", data=chan.uuid)
        if agent.bridged is not None and agent.bridged is not chan:
            agent.bridged.post("break")   # the agent channel leaves the bridge it was in (loopback agents)
        agent.post("cc_bridged")
        try:
            how = yield from bridge_channels(chan, agent)
        except Hangup:
            if not agent.hungup:
                agent.hangup("NORMAL_CLEARING")
            raise
        agent.post("cc_unbridged")
        chan.set_var("last_bridge_hangup_cause", agent.hangup_cause or "NORMAL_CLEARING")
        if how != "peer" or chan.hungup:
            if not agent.hungup and how == "break":
                agent.hangup("NORMAL_CLEARING")
            return
        if chan.true("hangup_after_bridge"):
            chan.hangup(agent.hangup_cause or "NORMAL_CLEARING")
            return
        target = chan.var("transfer_after_bridge")
        if target:
            parts = [p for p in target.replace(":", " ").split() if p]
            chan.transfer(parts[0], parts[1] if len(parts) > 1 else "XML", parts[2] if len(parts) > 2 else None)


class _Dispatcher:
    """The dispatcher task and its quiet state: ``quiet`` is (changes count, epoch second) after
    a pass that changed nothing, when that pass read only the tables and the clock (not channel
    variables or the random generator); ``k`` numbers its 0.1 s ticks while quiet."""

    __slots__ = ("k", "quiet", "task")

    def __init__(self) -> None:
        self.task: Task | None = None
        self.quiet: tuple[int, int] | None = None
        self.k = 0


class _MemberTicks:
    """A member thread's task, its announcement state and its tick check."""

    task: Task | None = None
    last_announce = 0
    announce_valid = True
    tick: Callable[[], float | None]


def _no_agent_timeout(queue: Queue, m: Member) -> bool:
    """max-wait-time-with-no-agent: no agent seen for that long since the member joined."""
    return (queue.max_wait_time_with_no_agent > 0 and queue.last_agent_exist_check > queue.last_agent_exist
            and m.t_member_called <= queue.last_agent_exist_check
            and queue.last_agent_exist_check - queue.last_agent_exist >= queue.max_wait_time_with_no_agent)


def _announce_due(queue: Queue, m: Member, mt: _MemberTicks, now: int) -> bool:
    return bool(mt.announce_valid and queue.announce_sound and queue.announce_frequency > 0
                and queue.announce_frequency <= now - mt.last_announce and m.running)


def base_all(cc: CallCenter, queue: Queue) -> list[tuple[Agent, Tier]]:
    """Every agent with a tier in ``queue`` (whatever its status): round-robin's last-offered lookup."""
    return [(a, t) for a in cc.agents.values() for t in cc.tiers if t.agent == a.name and t.queue == queue.name]


def _export_names(chan: Channel) -> list[str]:
    return [n.strip() for n in (chan.var("cc_export_vars") or "").split(",") if n.strip()]


def _export(src: Channel, dst: Channel) -> None:
    for name in _export_names(src):
        if src.var(name) is not None:
            dst.set_var(name, src.var(name))


def _play_array(chan: Channel, spec: str) -> Generator[Any, Any, None]:
    """playback_array(): ``ARRAY::a::b`` or one file, played to the agent."""
    files = spec[len("ARRAY::"):].split("::") if spec.startswith("ARRAY::") else [spec]
    for f in files:
        if chan.hungup:
            return
        yield from media.play(chan, f)


def _play_moh(chan: Channel, spec: str, m: Member, exit_keys: str) -> Generator[Any, Any, tuple[str, str]]:
    """One loop of the queue music: ("done"|"break"|"notfound", exit digit)."""
    dur = media.duration_of(chan, spec)
    if dur is None:
        chan.sim.trace.add(chan, "log", level="WARNING", text=f"Can't open {spec}")
        return "notfound", ""
    shown = spec if "://" in spec else media.resolve_path(chan, spec)
    chan.emit("playback_start", file=shown)
    engine = chan.sim.engine
    end = engine.now + dur
    status, digit = "done", ""
    while True:
        digit = _exit_digit(chan, exit_keys)
        if digit:
            status = "break"
            break
        if m.cancel_reason != "NONE" or not chan.ready:
            status = "break"
            break
        if m.agent_chan is not None:
            break
        left = end - engine.now
        if left <= 1e-9:
            break
        w = yield Wait(("dtmf", "break", "cc_break", "cc_agent_found"), timeout=None if left == media.INFINITE else left)
        if w.kind == TIMEOUT or w.kind == "cc_agent_found":
            break
        if w.kind == "break":
            status = "break"
            break
    chan.emit("playback_stop", file=shown, status=status)
    return status, digit


def _wait_silently(chan: Channel, m: Member, exit_keys: str) -> Generator[Any, Any, tuple[str, str]]:
    """switch_ivr_collect_digits_callback with no timeout: wait for a key, a break or the agent."""
    while True:
        digit = _exit_digit(chan, exit_keys)
        if digit:
            return "break", digit
        if m.cancel_reason != "NONE" or m.agent_chan is not None or not chan.ready:
            return "break", ""
        w = yield Wait(("dtmf", "break", "cc_break", "cc_agent_found"))
        if w.kind == "break":
            return "break", ""


def _wait_unheard(chan: Channel, m: Member) -> Generator[Any, Any, None]:
    """callcenter_function's loop over a moh file that cannot be opened: switch_ivr_play_file fails
    before it reads anything, so the caller hears nothing, DTMF stays queued (no exit keys) and only
    the member thread (cancel reason) or the agent thread (agent found) ends the wait."""
    while chan.ready and m.cancel_reason == "NONE" and m.agent_chan is None:
        yield Wait(("cc_break", "cc_agent_found"))


def _exit_digit(chan: Channel, exit_keys: str) -> str:
    """moh_on_dtmf: digits are consumed; one of ``cc_exit_keys`` ends the wait."""
    while chan.dtmf:
        d = chan.dtmf.popleft()
        if exit_keys and d in exit_keys:
            return d
    return ""


def module(sim: Simulator) -> CallCenter:
    """The simulator's mod_callcenter (loaded from callcenter.conf on first use)."""
    cc = sim.modules.get("callcenter")
    if cc is None:
        cc = sim.modules["callcenter"] = CallCenter(sim)
    return cc


@application("callcenter")
def callcenter(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``callcenter <queue>``."""
    cc = module(chan.sim)
    argv = separate(data) if data.strip() else []
    if not argv:
        cc._log("WARNING", "No Queue name provided", chan=chan)
        return
    queue = cc.get_queue(argv[0])
    if queue is None:
        cc._log("WARNING", f"Queue {argv[0]} not found", chan=chan)
        return
    yield from cc.join(chan, queue)


# ---- callcenter_config ------------------------------------------------------------------------------
def _table(columns: tuple[str, ...], rows: list[tuple]) -> str:
    if not rows:
        return "+OK\n"
    lines = ["|".join(columns)] + ["|".join(str(v) for v in r) for r in rows]
    return "\n".join(lines) + "\n+OK\n"


def _agent_row(a: Agent) -> tuple:
    return tuple(getattr(a, c) for c in AGENT_COLUMNS)


def _queue_list(cc: CallCenter) -> str:
    head = ("name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|"
            "tier_rule_wait_multiply_level|tier_rule_no_agent_no_wait|discard_abandoned_after|"
            "abandoned_resume_allowed|max_wait_time|max_wait_time_with_no_agent|"
            "max_wait_time_with_no_agent_time_reached|record_template|calls_answered|calls_abandoned|"
            "ring_progressively_delay|skip_agents_with_external_calls|agent_no_answer_status\n")

    def b(v: bool) -> str:
        return "true" if v else "false"
    rows = [f"{q.name}|{q.strategy}|{q.moh_sound or '(null)'}|{q.time_base_score}|{b(q.tier_rules_apply)}|"
            f"{q.tier_rule_wait_second}|{b(q.tier_rule_wait_multiply_level)}|{b(q.tier_rule_no_agent_no_wait)}|"
            f"{q.discard_abandoned_after}|{b(q.abandoned_resume_allowed)}|{q.max_wait_time}|"
            f"{q.max_wait_time_with_no_agent}|{q.max_wait_time_with_no_agent_time_reached}|"
            f"{q.record_template or '(null)'}|{q.calls_answered}|{q.calls_abandoned}|{q.ring_progressively_delay}|"
            f"{b(q.skip_agents_with_external_calls)}|{q.agent_no_answer_status}\n" for q in cc.queues.values()]
    return head + "".join(rows) + "+OK\n"


def _queue_agents(cc: CallCenter, queue: str, status: str | None, state: str | None) -> list[Agent]:
    names = [t.agent for t in cc.tiers if t.queue == queue]
    return [a for n in names if (a := cc.agents.get(n)) is not None
            and (status is None or a.status == status) and (state is None or a.state == state)]


@api_command("callcenter_config")
def callcenter_config(sim: Simulator, args: str, chan: Channel | None) -> str:
    cc = module(sim)
    argv = separate(args.strip(), maxparts=8) if args.strip() else []
    if not argv:
        return "-USAGE: \ncallcenter_config <target> <args>\n"
    if len(argv) < 2:
        return "-ERR Invalid!\n"
    section, action, rest = argv[0].lower(), argv[1].lower(), argv[2:]
    invalid = "-ERR Invalid!\n"
    if section == "agent":
        if action == "add":
            if len(rest) < 2:
                return invalid
            res = cc.agent_add(rest[0], rest[1])
            return "-ERR Agent already exist!\n" if res == "exists" else res + "\n"
        if action == "del":
            if not rest:
                return invalid
            cc.agent_del(rest[0])
            return "+OK\n"
        if action == "reload":
            if not rest:
                return invalid
            cc._load_agents(rest[0])
            return "+OK\n"
        if action == "set":
            if len(rest) < 3:
                return invalid
            return cc.agent_update(rest[0], rest[2], rest[1]) + "\n"
        if action == "get":
            if len(rest) < 2:
                return invalid
            return cc.agent_get(rest[0], rest[1])
        if action == "list":
            if len(rest) > 1:
                return invalid
            agents = [a for a in cc.agents.values() if not rest or a.name == rest[0]]
            return _table(AGENT_COLUMNS, [_agent_row(a) for a in agents])
        return ""
    if section == "tier":
        if action == "add":
            if len(rest) < 2:
                return invalid
            level = atoi(rest[2]) if len(rest) > 2 and rest[2] else 1
            position = atoi(rest[3]) if len(rest) > 3 and rest[3] else 1
            return cc.tier_add(rest[0], rest[1], "Ready", level, position) + "\n"
        if action == "set":
            if len(rest) < 4:
                return invalid
            res = cc.tier_update(rest[0], rest[3], rest[1], rest[2])
            return ("-ERR Agent not found!" if res == "-ERR Queue not found!" else res) + "\n"
        if action == "del":
            if len(rest) < 2:
                return invalid
            cc.tier_del(rest[0], rest[1])
            return "+OK\n"
        if action == "reload":
            if not rest:
                return invalid
            cc._load_tiers(None if rest[0] == "all" else rest[0], rest[1] if len(rest) > 1 else None)
            return "+OK\n"
        if action == "list":
            tiers = sorted(cc.tiers, key=lambda t: (t.level, t.position))
            return _table(TIER_COLUMNS, [tuple(getattr(t, c) for c in TIER_COLUMNS) for t in tiers])
        return ""
    if section == "queue":
        if action in ("load", "reload"):
            if not rest:
                return invalid
            if action == "reload":
                cc.queues.pop(rest[0], None)
            if cc.load_queue(rest[0]) is None:
                return "-ERR Invalid Queue not found!\n"
            cc._load_agents()
            cc._load_tiers()
            cc.kick()
            return "+OK\n"
        if action == "unload":
            if not rest:
                return invalid
            cc.queues.pop(rest[0], None)
            return "+OK\n"
        if action == "list":
            if not rest:
                return _queue_list(cc)
            sub, qname = rest[0].lower(), rest[1] if len(rest) > 1 else None
            if sub == "agents":
                agents = _queue_agents(cc, qname or "", rest[2] if len(rest) > 2 else None,
                                       rest[3] if len(rest) > 3 else None)
                return _table(AGENT_COLUMNS, [_agent_row(a) for a in agents])
            if sub == "members":
                cc._purge_abandoned()
                now = epoch(sim)
                members = [m for m in cc.members if qname is None or m.queue == qname]
                members.sort(key=lambda m: ((m.queue if qname is None else ""), -m.score(now)))
                return _table(MEMBER_COLUMNS + ("score",),
                              [tuple(getattr(m, c) for c in MEMBER_COLUMNS) + (m.score(now),) for m in members])
            if sub == "tiers":
                return _table(TIER_COLUMNS, [tuple(getattr(t, c) for c in TIER_COLUMNS)
                                             for t in cc.tiers if t.queue == qname])
            return invalid
        if action == "count":
            if not rest:
                return f"{len(cc.queues)}\n"
            sub, qname = rest[0].lower(), rest[1] if len(rest) > 1 else ""
            if sub == "agents":
                return f"{len(_queue_agents(cc, qname, rest[2] if len(rest) > 2 else None, rest[3] if len(rest) > 3 else None))}\n"
            if sub == "members":
                cc._purge_abandoned()
                return f"{sum(1 for m in cc.members if m.queue == qname)}\n"
            if sub == "tiers":
                return f"{sum(1 for t in cc.tiers if t.queue == qname)}\n"
            return invalid
    return ""
