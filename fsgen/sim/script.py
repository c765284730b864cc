"""Call scripts: YAML files describing one scripted call each (or several under ``calls:``).

A script says who calls which hotline and when, what esl_app answers for the caller, what the
caller does (press digits, wait, hang up -- timed in seconds or relative to prompts and menus),
how the other parties behave (agents, bridged users, gateway numbers) and what must happen
(prompts heard, menus entered, variables set, queue, bridge, voicemail, recording, hangup cause).

Loading is strict in the way flows are (fsgen's located YAML loader: duplicate keys, unknown keys
and wrong types are errors naming file, line and column) and never raises: problems come back as
:class:`fsgen.errors.Problem` values.  Whether a prompt, menu or node a script names exists is
checked later, against the compiled flows (:mod:`fsgen.sim.replay`).

The format is documented in ``examples/calls/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import Loc, Problem, did_you_mean
from ..loader import YMap, YNode, YScalar, YSeq, load_file, load_text

DEFAULT_TIME = "2026-11-23 10:00"   # a Monday morning: office hours everywhere in the examples
DEFAULT_CALLER = "13800138000"
DEFAULT_CALLER_NAME = "Caller"
DEFAULT_MAX_SECONDS = 900.0

TRIGGERS = ("at", "during", "after", "menu", "node")
#: seconds into a prompt for ``during`` (at most half its length), after its end for ``after``,
#: after the start of the menu's attempt / the node for ``menu`` / ``node``
DEFAULT_OFFSETS = {"during": 1.0, "after": 1.0, "menu": 0.5, "node": 0.0, "at": 0.0}
DIGITS_RE = re.compile(r"^[0-9*#A-Da-d]+$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ESL_MODES = ("stub", "down", "live")
AGENT_STATUSES = ("Available", "Available (On Demand)", "On Break", "Logged Out")


@dataclass
class Step:
    """One thing the caller does: ``press`` digits, ``speak`` or ``wait`` seconds, ``hangup``."""

    action: str                      # press | speak | wait | hangup
    loc: Loc
    digits: str = ""
    seconds: float = 0.0
    trigger: str | None = None       # at | during | after | menu | node | None (right away)
    target: Any = None               # seconds (at), prompt id (during/after), node name (menu/node)
    offset: float | None = None
    optional: bool = False

    @property
    def when(self) -> float:
        return self.offset if self.offset is not None else DEFAULT_OFFSETS.get(self.trigger or "at", 0.0)

    def describe(self) -> str:
        what = {"press": f"press {self.digits}", "wait": f"wait {self.seconds:g} s", "hangup": "hang up",
                "speak": f"speak {self.seconds:g} s"}[self.action]
        if self.trigger == "at":
            return f"{what} at {self.target:g} s"
        if self.trigger:
            return f"{what} {self.trigger} {self.target}"
        return what


@dataclass
class Party:
    """How someone the switch calls behaves (an agent, a bridged user, a gateway number)."""

    name: str
    loc: Loc
    answers_after: float | None = None
    talks: float | None = None
    busy: bool = False
    no_answer: bool = False
    offline: bool = False
    presses: list[tuple[float, str]] = field(default_factory=list)
    queue: str | None = None
    contact: str | None = None
    status: str | None = None

    @property
    def answers(self) -> bool:
        return not (self.busy or self.no_answer or self.offline)


@dataclass
class ListExpect:
    items: list[str]
    exact: bool
    loc: Loc


@dataclass
class Expect:
    loc: Loc
    heard: ListExpect | None = None
    not_heard: list[str] = field(default_factory=list)
    menus: ListExpect | None = None
    nodes: ListExpect | None = None
    not_visited: list[str] = field(default_factory=list)
    variables: dict[str, str | None] = field(default_factory=dict)
    queue: str | bool | None = None          # queue name (node or full name), False = never joined
    queue_position: int | None = None
    bridged_to: str | bool | None = None     # party, False = never bridged
    voicemail: str | bool | None = None      # mailbox number, False = none left
    recording: str | bool | None = None      # True/False or a piece of the file path
    hangup: str | None = None
    locs: dict[str, Loc] = field(default_factory=dict)


@dataclass
class OtherCaller:
    """Someone else calling the same hotline during the replay (queue positions, VIP first)."""

    caller: str
    caller_name: str
    start: float                     # seconds after the scripted call was placed
    loc: Loc
    lookups: dict[str, list[dict[str, str]] | str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)


@dataclass
class CallScript:
    title: str
    file: str
    loc: Loc
    flow: str | None = None
    to: str | None = None
    context: str | None = None
    caller: str = DEFAULT_CALLER
    caller_name: str = DEFAULT_CALLER_NAME
    at: datetime | None = None
    esl_app: str = "stub"
    lookups: dict[str, list[dict[str, str]] | str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    parties: dict[str, Party] = field(default_factory=dict)
    expect: Expect | None = None
    max_seconds: float = DEFAULT_MAX_SECONDS
    others: list[OtherCaller] = field(default_factory=list)
    locs: dict[str, Loc] = field(default_factory=dict)

    def where(self, key: str) -> Loc:
        return self.locs.get(key, self.loc)


class _Bad(Exception):
    """One problem found while reading a script (collected, never escapes this module)."""

    def __init__(self, loc: Loc, message: str, hint: str | None = None):
        super().__init__(message)
        self.problem = Problem.at(loc, message, hint=hint)


# ---- small typed readers ------------------------------------------------------------------------------
def _map(node: YNode, what: str) -> YMap:
    if not isinstance(node, YMap):
        raise _Bad(node.loc, f"{what} must be a mapping (key: value lines)")
    return node


def _seq(node: YNode, what: str) -> YSeq:
    if not isinstance(node, YSeq):
        raise _Bad(node.loc, f"{what} must be a list (lines starting with '- ')")
    return node


def _text(node: YNode, what: str) -> str:
    """A scalar as text; numbers keep the digits as written (``0571`` stays ``0571``)."""
    if not isinstance(node, YScalar) or node.value is None or isinstance(node.value, bool):
        raise _Bad(node.loc, f"{what} must be a value (text or number)")
    return node.raw if not node.quoted else str(node.value)


def _number(node: YNode, what: str, minimum: float = 0.0) -> float:
    if not isinstance(node, YScalar) or isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise _Bad(node.loc, f"{what} must be a number of seconds")
    value = float(node.value)
    if value < minimum:
        raise _Bad(node.loc, f"{what} must be at least {minimum:g}")
    return value


def _bool(node: YNode, what: str) -> bool:
    if not isinstance(node, YScalar) or not isinstance(node.value, bool):
        raise _Bad(node.loc, f"{what} must be true or false")
    return node.value


def _keys(m: YMap, allowed: tuple[str, ...], what: str) -> None:
    for key in m.items:
        if key not in allowed:
            raise _Bad(m.key_loc(key), f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}",
                       hint="allowed here: " + ", ".join(allowed))


def _digits(node: YNode, what: str) -> str:
    text = _text(node, what)
    if not DIGITS_RE.match(text):
        raise _Bad(node.loc, f"{what} must be DTMF digits (0-9, *, #, A-D), got '{text}'",
                   hint='quote digit strings that start with 0 or contain # or *: "0", "*", "#"')
    return text


# ---- sections -----------------------------------------------------------------------------------------
ACTIONS = ("press", "speak", "wait", "hangup")
_STEP_KEYS = ACTIONS + TRIGGERS + ("offset", "optional")


def _step(node: YNode, index: int) -> Step:
    what = f"step {index}"
    if isinstance(node, YScalar) and node.value in ("hangup", "wait"):
        if node.value == "wait":
            raise _Bad(node.loc, "a wait step needs seconds: '- wait: 10'")
        return Step("hangup", node.loc)
    if isinstance(node, YScalar):
        raise _Bad(node.loc, f"{what} must be 'hangup' or a mapping such as '- press: \"1\"'")
    m = _map(node, what)
    _keys(m, _STEP_KEYS, what)
    actions = [k for k in ACTIONS if k in m.items]
    if len(actions) != 1:
        raise _Bad(m.loc, f"{what} needs exactly one of {', '.join(ACTIONS)} (found {', '.join(actions) or 'none'})")
    action = actions[0]
    step = Step(action, m.key_loc(action))
    value = m.get(action)
    assert value is not None
    if action == "press":
        step.digits = _digits(value, "press")
    elif action in ("wait", "speak"):
        step.seconds = _number(value, action)
    elif not (isinstance(value, YScalar) and value.value in (True, None)):
        raise _Bad(value.loc, "write '- hangup', or 'hangup:' followed by a timing key on the next line")
    triggers = sorted((k for k in TRIGGERS if k in m.items), key=lambda k: m.key_loc(k))
    if len(triggers) > 1:
        raise _Bad(m.key_loc(triggers[1]), f"{what} has two timings ({', '.join(triggers)}); use one")
    if triggers:
        if action == "wait":
            raise _Bad(m.key_loc(triggers[0]), "a wait step is relative to the step before it; it takes no timing")
        step.trigger = triggers[0]
        tnode = m.get(step.trigger)
        assert tnode is not None
        step.target = _number(tnode, step.trigger) if step.trigger == "at" else _text(tnode, step.trigger)
    if "offset" in m.items:
        if not step.trigger or step.trigger == "at":
            raise _Bad(m.key_loc("offset"), "offset goes with during, after, menu or node")
        step.offset = _number(m.get("offset"), "offset")  # type: ignore[arg-type]
    if "optional" in m.items:
        step.optional = _bool(m.get("optional"), "optional")  # type: ignore[arg-type]
    return step


_PARTY_KEYS = ("answers_after", "talks", "busy", "no_answer", "offline", "presses", "queue", "contact")


def _party(name: str, node: YNode) -> Party:
    what = f"party '{name}'"
    party = Party(name, node.loc)
    if isinstance(node, YScalar) and node.value in ("busy", "no_answer", "offline"):
        setattr(party, str(node.value), True)
        return party
    m = _map(node, what)
    _keys(m, _PARTY_KEYS, what)
    for key in ("busy", "no_answer", "offline"):
        if key in m.items:
            setattr(party, key, _bool(m.get(key), key))  # type: ignore[arg-type]
    if sum((party.busy, party.no_answer, party.offline)) > 1:
        raise _Bad(m.loc, f"{what}: busy, no_answer and offline exclude each other")
    if "answers_after" in m.items:
        if not party.answers:
            raise _Bad(m.key_loc("answers_after"), f"{what} cannot both answer and be busy/no_answer/offline")
        party.answers_after = _number(m.get("answers_after"), "answers_after")  # type: ignore[arg-type]
    elif party.answers:
        party.answers_after = 1.0
    if "talks" in m.items:
        party.talks = _number(m.get("talks"), "talks")  # type: ignore[arg-type]
    if "presses" in m.items:
        for item in _seq(m.get("presses"), "presses").items:  # type: ignore[arg-type]
            pm = _map(item, "a press of a party")
            _keys(pm, ("digits", "at"), "a press of a party")
            if "digits" not in pm.items:
                raise _Bad(pm.loc, "a press of a party needs digits (and at: seconds after answering)")
            at = _number(pm.get("at"), "at") if "at" in pm.items else 0.0  # type: ignore[arg-type]
            party.presses.append((at, _digits(pm.get("digits"), "digits")))  # type: ignore[arg-type]
    for key in ("queue", "contact"):
        if key in m.items:
            setattr(party, key, _text(m.get(key), key))  # type: ignore[arg-type]
    return party


def _list_expect(node: YNode, what: str, exact_default: bool) -> ListExpect:
    exact = exact_default
    if isinstance(node, YMap):
        _keys(node, ("exact", "in_order"), what)
        if len(node.items) != 1:
            raise _Bad(node.loc, f"{what}: write either a list (in order, others may come between), "
                                 "{exact: [...]} or {in_order: [...]}")
        key = next(iter(node.items))
        exact = key == "exact"
        node = node.get(key)  # type: ignore[assignment]
    seq = _seq(node, what)
    return ListExpect([_text(i, f"an entry of {what}") for i in seq.items], exact, seq.loc)


_EXPECT_KEYS = ("heard", "not_heard", "menus", "nodes", "not_visited", "variables", "queue", "bridged_to",
                "voicemail", "recording", "hangup", "exact")


def _expect(node: YNode) -> Expect:
    m = _map(node, "expect")
    _keys(m, _EXPECT_KEYS, "expect")
    ex = Expect(m.loc, locs={k: m.key_loc(k) for k in m.items})
    exact_all = _bool(m.get("exact"), "exact") if "exact" in m.items else False  # type: ignore[arg-type]
    for key in ("heard", "menus", "nodes"):
        if key in m.items:
            setattr(ex, key, _list_expect(m.get(key), key, exact_all))  # type: ignore[arg-type]
    for key in ("not_heard", "not_visited"):
        if key in m.items:
            setattr(ex, key, [_text(i, key) for i in _seq(m.get(key), key).items])  # type: ignore[arg-type]
    if "variables" in m.items:
        vm = _map(m.get("variables"), "variables")  # type: ignore[arg-type]
        for name, (kloc, vnode) in vm.items.items():
            if not VAR_RE.match(name):
                raise _Bad(kloc, f"'{name}' is not a channel variable name")
            if isinstance(vnode, YScalar) and vnode.value is None:
                ex.variables[name] = None
            elif isinstance(vnode, YScalar) and isinstance(vnode.value, bool):
                ex.variables[name] = "true" if vnode.value else "false"
            else:
                ex.variables[name] = _text(vnode, f"variable {name}")
    if "queue" in m.items:
        q = m.get("queue")
        assert q is not None
        if isinstance(q, YScalar) and q.value is False:
            ex.queue = False
        elif isinstance(q, YMap):
            _keys(q, ("name", "position"), "queue")
            if "name" not in q.items:
                raise _Bad(q.loc, "queue needs name (the queue node, or the full queue name)")
            ex.queue = _text(q.get("name"), "queue name")  # type: ignore[arg-type]
            if "position" in q.items:
                pos = q.get("position")
                if not isinstance(pos, YScalar) or not isinstance(pos.value, int) or isinstance(pos.value, bool) \
                        or pos.value < 1:
                    raise _Bad(q.key_loc("position"), "position must be a whole number from 1")
                ex.queue_position = pos.value
        else:
            ex.queue = _text(q, "queue")
    for key in ("bridged_to", "voicemail"):
        if key in m.items:
            v = m.get(key)
            assert v is not None
            setattr(ex, key, False if isinstance(v, YScalar) and v.value is False else _text(v, key))
    if "recording" in m.items:
        v = m.get("recording")
        assert v is not None
        ex.recording = v.value if isinstance(v, YScalar) and isinstance(v.value, bool) else _text(v, "recording")
    if "hangup" in m.items:
        ex.hangup = _text(m.get("hangup"), "hangup").upper()  # type: ignore[arg-type]
    return ex


def _lookup_answer(name: str, node: YNode) -> dict[str, str]:
    m = _map(node, f"the answer of lookup '{name}'")
    out: dict[str, str] = {}
    for var, (kloc, vnode) in m.items.items():
        if var != "hangup" and not VAR_RE.match(var):
            raise _Bad(kloc, f"'{var}' is not a channel variable name")
        if isinstance(vnode, YScalar) and isinstance(vnode.value, bool):
            out[var] = "true" if vnode.value else "false"
        elif isinstance(vnode, YScalar) and vnode.value is None:
            out[var] = ""
        else:
            out[var] = _text(vnode, f"variable {var}")
        if var == "hangup":
            out[var] = out[var].upper()
    return out


def _lookups(node: YNode) -> dict[str, list[dict[str, str]] | str]:
    m = _map(node, "lookups")
    out: dict[str, list[dict[str, str]] | str] = {}
    for name, (kloc, vnode) in m.items.items():
        if not VAR_RE.match(name):
            raise _Bad(kloc, f"'{name}' is not a lookup name")
        if isinstance(vnode, YScalar) and vnode.value == "failed":
            out[name] = "failed"
        elif isinstance(vnode, YSeq):
            if not vnode.items:
                raise _Bad(vnode.loc, f"lookup '{name}': the list of answers is empty")
            out[name] = [_lookup_answer(name, item) for item in vnode.items]
        elif isinstance(vnode, YMap):
            out[name] = [_lookup_answer(name, vnode)]
        else:
            raise _Bad(vnode.loc, f"lookup '{name}' answers with variables ({{name: value}}), a list of such "
                                  "answers (one per lookup, the last repeats) or 'failed'")
    return out


def _time(node: YNode) -> datetime:
    text = _text(node, "at")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise _Bad(node.loc, f"at: '{text}' is not a local time", hint='write "YYYY-MM-DD HH:MM" (quoted)')


_CALL_KEYS = ("call", "flow", "to", "context", "from", "at", "esl_app", "lookups", "steps", "parties", "expect",
              "max_seconds", "others")


def _caller_id(node: YNode) -> tuple[str | None, str | None]:
    if isinstance(node, YMap):
        _keys(node, ("number", "name"), "from")
        number = _text(node.get("number"), "from number") if "number" in node.items else None  # type: ignore[arg-type]
        name = _text(node.get("name"), "from name") if "name" in node.items else None  # type: ignore[arg-type]
        return number, name
    return _text(node, "from"), None


def _other(node: YNode, index: int) -> OtherCaller:
    what = f"other caller {index}"
    m = _map(node, what)
    _keys(m, ("from", "at", "lookups", "steps"), what)
    if "from" not in m.items:
        raise _Bad(m.loc, f"{what} needs 'from:' (its number: esl_app answers it by caller ID)")
    number, name = _caller_id(m.get("from"))  # type: ignore[arg-type]
    if not number:
        raise _Bad(m.key_loc("from"), f"{what} needs a number")
    other = OtherCaller(number, name or f"Caller {index}", 0.0, m.loc)
    if "at" in m.items:
        other.start = _number(m.get("at"), "at")  # type: ignore[arg-type]
    if "lookups" in m.items:
        other.lookups = _lookups(m.get("lookups"))  # type: ignore[arg-type]
    if "steps" in m.items:
        other.steps = [_step(item, i + 1) for i, item in enumerate(_seq(m.get("steps"), "steps").items)]  # type: ignore[arg-type]
    return other


def _call(m: YMap, file: str) -> CallScript:
    _keys(m, _CALL_KEYS, "a call script")
    if "call" not in m.items:
        raise _Bad(m.loc, "a call script needs 'call:' (a title saying what the call shows)")
    script = CallScript(title=_text(m.get("call"), "call"), file=file, loc=m.loc,  # type: ignore[arg-type]
                        locs={k: m.key_loc(k) for k in m.items})
    for key in ("flow", "to", "context"):
        if key in m.items:
            setattr(script, key, _text(m.get(key), key))  # type: ignore[arg-type]
    if script.flow is None and script.to is None:
        raise _Bad(m.loc, "say which hotline is called: 'flow: <name>' (its first number is dialled) or 'to: <DID>'")
    if "from" in m.items:
        number, name = _caller_id(m.get("from"))  # type: ignore[arg-type]
        script.caller = number or script.caller
        script.caller_name = name or script.caller_name
    if "at" in m.items:
        script.at = _time(m.get("at"))  # type: ignore[arg-type]
    if "esl_app" in m.items:
        mode = _text(m.get("esl_app"), "esl_app")  # type: ignore[arg-type]
        if mode not in ESL_MODES:
            raise _Bad(m.key_loc("esl_app"), f"esl_app must be {', '.join(ESL_MODES)}{did_you_mean(mode, ESL_MODES)}",
                       hint="stub: answers from 'lookups:'; down: nothing listens; live: a real esl_app you started")
        script.esl_app = mode
    if "lookups" in m.items:
        script.lookups = _lookups(m.get("lookups"))  # type: ignore[arg-type]
        if script.esl_app != "stub":
            raise _Bad(m.key_loc("lookups"), f"lookups are answered by the stub; esl_app is '{script.esl_app}'")
    if "steps" in m.items:
        seq = _seq(m.get("steps"), "steps")  # type: ignore[arg-type]
        script.steps = [_step(item, i + 1) for i, item in enumerate(seq.items)]
    if "parties" in m.items:
        pm = _map(m.get("parties"), "parties")  # type: ignore[arg-type]
        _keys(pm, ("agents", "status"), "parties")
        if "agents" in pm.items:
            am = _map(pm.get("agents"), "agents")  # type: ignore[arg-type]
            for name, (_kloc, pnode) in am.items.items():
                script.parties[name] = _party(name, pnode)
        if "status" in pm.items:
            sm = _map(pm.get("status"), "status")  # type: ignore[arg-type]
            for name, (kloc, snode) in sm.items.items():
                status = _text(snode, f"status of {name}")
                if status not in AGENT_STATUSES:
                    raise _Bad(snode.loc, f"'{status}' is not a mod_callcenter agent status"
                                          f"{did_you_mean(status, AGENT_STATUSES)}",
                               hint="one of: " + ", ".join(AGENT_STATUSES))
                script.parties.setdefault(name, Party(name, kloc, answers_after=None, no_answer=True)).status = status
    if "expect" in m.items:
        script.expect = _expect(m.get("expect"))  # type: ignore[arg-type]
    if "others" in m.items:
        seq = _seq(m.get("others"), "others")  # type: ignore[arg-type]
        script.others = [_other(item, i + 1) for i, item in enumerate(seq.items)]
        numbers = [script.caller] + [o.caller for o in script.others]
        for o in script.others:
            if numbers.count(o.caller) > 1:
                raise _Bad(o.loc, f"caller {o.caller} appears twice; every caller of a replay needs its own number",
                           hint="esl_app answers each caller by its number")
            if o.lookups and script.esl_app != "stub":
                raise _Bad(o.loc, f"lookups are answered by the stub; esl_app is '{script.esl_app}'")
    if "max_seconds" in m.items:
        script.max_seconds = _number(m.get("max_seconds"), "max_seconds", 1.0)  # type: ignore[arg-type]
    return script


def parse_scripts(tree: YNode | None, file: str) -> tuple[list[CallScript], list[Problem]]:
    if tree is None:
        return [], []
    try:
        top = _map(tree, "a call script")
        if "calls" in top.items:
            _keys(top, ("calls",), "a file of call scripts")
            items = _seq(top.get("calls"), "calls").items  # type: ignore[arg-type]
        else:
            items = [top]
    except _Bad as bad:
        return [], [bad.problem]
    scripts: list[CallScript] = []
    problems: list[Problem] = []
    for item in items:
        try:
            scripts.append(_call(_map(item, "a call script"), file))
        except _Bad as bad:
            problems.append(bad.problem)
    return scripts, problems


def load_scripts(path: Path, display: str | None = None) -> tuple[list[CallScript], list[Problem]]:
    """Every call of one file, and every problem found in it."""
    tree, problems = load_file(path, display)
    if problems:
        return [], problems
    return parse_scripts(tree, display or str(path))


def scripts_from_text(text: str, file: str = "<script>") -> tuple[list[CallScript], list[Problem]]:
    tree, problems = load_text(text, file)
    if problems:
        return [], problems
    return parse_scripts(tree, file)


def is_call_script(path: Path) -> bool:
    """A YAML file whose top level has ``call:`` or ``calls:`` (flows have ``flow:`` and ``nodes:``)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(65536)
    except (OSError, UnicodeDecodeError):
        return False
    return bool(re.search(r"^(call|calls):", head, re.MULTILINE))
