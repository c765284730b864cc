"""The flow language (flows/README.md) as schema objects.

Field-level rules live here (shapes of names, times, dates, values); rules that need the
whole flow or all flows (references, reachability, overlapping menu keys, DIDs claimed
twice, missing prompt files) live in `checks.py`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from typing import Any

from .errors import Loc, did_you_mean
from .loader import YMap, YNode, YScalar
from .patterns import OptionError, parse_option
from .validate import (
    INVALID,
    Bool,
    Ctx,
    Either,
    Enum,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Rec,
    Record,
    Scalar,
    Str,
    Type,
)

NAME = r"[a-z][a-z0-9_]*"
NAME_EXPLAIN = "lower-case letters, digits and _, starting with a letter"
VARIABLE = r"[A-Za-z_][A-Za-z0-9_]*"
RESERVED_NODES = {"top", "back", "hangup", "hotline_entry"}
SPECIAL_TARGETS = ("top", "back", "hangup")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

BUILTIN_LOOKUPS: dict[str, tuple[str, ...]] = {
    "customer": (
        "hotline_customer_known", "hotline_customer_id", "hotline_customer_name", "hotline_customer_tier",
        "hotline_account", "hotline_language", "hotline_designated_agent", "cc_base_score",
    ),
    "arrears": ("hotline_arrears", "hotline_arrears_amount", "hotline_arrears_days"),
    "blacklist": ("hotline_blacklisted",),
    "verify_pin": ("hotline_pin_ok", "hotline_pin_locked"),
}
CACHEABLE_LOOKUPS = ("customer", "arrears", "blacklist")

STRATEGIES = [
    "longest-idle-agent", "ring-all", "round-robin", "top-down", "agent-with-least-talk-time",
    "agent-with-fewest-calls", "sequentially-by-agent-order", "random", "ring-progressively",
]
AGENT_STATUSES = ["Available", "Available (On Demand)", "On Break", "Logged Out"]
CONFERENCE_FLAGS = ["mintwo", "endconf", "mute", "deaf", "moderator", "nomoh", "ghost", "join-only",
                    "dist-dtmf", "vmute"]
HANGUP_CAUSES = [
    "NORMAL_CLEARING", "USER_BUSY", "NO_ANSWER", "CALL_REJECTED", "NO_USER_RESPONSE", "UNALLOCATED_NUMBER",
    "NO_ROUTE_DESTINATION", "SUBSCRIBER_ABSENT", "NUMBER_CHANGED", "DESTINATION_OUT_OF_ORDER",
    "INVALID_NUMBER_FORMAT", "FACILITY_REJECTED", "NORMAL_UNSPECIFIED", "NORMAL_CIRCUIT_CONGESTION",
    "NETWORK_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "REQUESTED_CHAN_UNAVAIL",
    "OUTGOING_CALL_BARRED", "INCOMING_CALL_BARRED", "SERVICE_UNAVAILABLE", "SERVICE_NOT_IMPLEMENTED",
    "INCOMPATIBLE_DESTINATION", "RECOVERY_ON_TIMER_EXPIRE", "ORIGINATOR_CANCEL", "ALLOTTED_TIMEOUT",
    "MEDIA_TIMEOUT", "PROGRESS_TIMEOUT", "GATEWAY_DOWN", "UNSPECIFIED",
]


# ----- field checks ---------------------------------------------------------------------

def _reserved_node(text: str, loc: Loc, ctx: Ctx) -> Any:
    if text in RESERVED_NODES:
        return ctx.error(loc, f"'{text}' is reserved and cannot name a node",
                         hint="top, back and hangup are menu targets; hotline_entry is the flow's entry")
    return text


_REF = re.compile(r"\$\{" + VARIABLE + r"\}")
_GLOBAL_REF = re.compile(r"\$\$\{" + VARIABLE + r"\}")


def _dollar_check(text: str, loc: Loc, ctx: Ctx, *, allow_globals: bool = False) -> Any:
    rest = _GLOBAL_REF.sub("", text) if allow_globals else text
    rest = _REF.sub("", rest)
    if "$" in rest:
        allowed = "${name}" + (" and $${name}" if allow_globals else "")
        return ctx.error(
            loc, f"'{text}': only {allowed} references may start with $",
            hint="API calls such as ${system ...} or ${cond(...)} are not allowed in flow values; "
                 "nothing user-supplied may execute on the switch",
        )
    return text


def set_value(text: str, loc: Loc, ctx: Ctx) -> Any:
    return _dollar_check(text, loc, ctx)


def _with_globals(text: str, loc: Loc, ctx: Ctx) -> Any:
    return _dollar_check(text, loc, ctx, allow_globals=True)


def regex_value(text: str, loc: Loc, ctx: Ctx) -> Any:
    if "${" in text:
        return ctx.error(loc, f"regex '{text}' contains '${{', which FreeSWITCH would expand as a variable")
    try:
        re.compile(text)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return ctx.error(loc, f"invalid regex '{text}': {exc.msg}{where}")
    return text


def date_value(text: str, loc: Loc, ctx: Ctx) -> Any:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return ctx.error(loc, f"'{text}' is not a date: write YYYY-MM-DD, e.g. 2025-10-01")
    try:
        return _dt.date.fromisoformat(text)
    except ValueError as exc:
        return ctx.error(loc, f"'{text}' is not a date: {exc}")


def _minutes(text: str) -> int | None:
    m = re.fullmatch(r"(\d{2}):(\d{2})", text)
    if not m:
        return None
    hh, mm = int(m.group(1)), int(m.group(2))
    if mm > 59 or hh > 24 or (hh == 24 and mm):
        return None
    return hh * 60 + mm


def time_ranges(text: str, loc: Loc, ctx: Ctx) -> Any:
    """'08:30-17:30' or '08:30-12:00, 13:30-17:30' -> [(510, 1050), ...] minutes of day."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\S+)\s*-\s*(\S+)", part)
        start = _minutes(m.group(1)) if m else None
        end = _minutes(m.group(2)) if m else None
        if m is None or start is None or end is None or start == 24 * 60:
            return ctx.error(loc, f"'{text}' is not a time range: write HH:MM-HH:MM, e.g. 08:30-17:30")
        if end <= start:
            return ctx.error(loc, f"time range '{part}' ends before it starts",
                             hint="split overnight hours at midnight: '22:00-24:00' on one day, "
                                  "'00:00-06:00' on the next")
        out.append((start, end))
    return out


def day_set(text: str, loc: Loc, ctx: Ctx) -> Any:
    """'mon-fri', 'sat', 'mon,wed,fri' or 'daily' -> sorted weekday indexes (mon=0)."""
    if text == "daily":
        return list(range(7))
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        ends = part.split("-")
        bad = [e for e in ends if e not in WEEKDAYS]
        if len(ends) > 2 or bad:
            word = bad[0] if bad else part
            return ctx.error(loc, f"'{text}' is not a day or day range: use mon..sun, e.g. mon-fri, sat, "
                                  f"sat,sun or daily{did_you_mean(word, WEEKDAYS)}")
        a, b = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        if b < a:
            return ctx.error(loc, f"day range '{part}' runs backwards; write e.g. sat,sun or fri-sun")
        days.update(range(a, b + 1))
    return sorted(days)


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def timezone_value(text: str, loc: Loc, ctx: Ctx) -> Any:
    if text not in _zones():
        return ctx.error(loc, f"unknown time zone '{text}'{did_you_mean(text, _zones())}",
                         hint="use an IANA zone name such as Asia/Shanghai")
    return text


def option_key(text: str, loc: Loc, ctx: Ctx) -> Any:
    try:
        return parse_option(text)
    except OptionError as exc:
        return ctx.error(loc, str(exc))


def _prompt_file(text: str, loc: Loc, ctx: Ctx) -> Any:
    if text.startswith("/") or ".." in text.split("/"):
        return ctx.error(loc, f"prompt file '{text}' must be a path under recordings/, without '..'")
    return text


# ----- reusable types ------------------------------------------------------------------

NodeName = Str("a node name", NAME, NAME_EXPLAIN, extra=_reserved_node, max_len=60)
NodeRef = Str("a node name", NAME, NAME_EXPLAIN, max_len=60)
Target = Str("a node name, top, back or hangup", NAME, NAME_EXPLAIN, max_len=60)
PromptId = Str("a prompt id", NAME, NAME_EXPLAIN, max_len=60)
PromptRef = Str("a prompt id", NAME, NAME_EXPLAIN, max_len=60)
PromptList = ListOf(PromptRef, "a list of prompt ids", min_items=1)
VarName = Str("a variable name", VARIABLE, "letters, digits and _, not starting with a digit", max_len=80)
Seconds = Number(what="a number of seconds", positive=True, maximum=3600)
WholeSeconds = Int(0, 86400, "a whole number of seconds")
Digits = Str("a number", r"\+?[0-9]{1,20}", "digits, optionally starting with +", accept_numbers=True)
EXTENSION = r"[0-9A-Za-z_+*#-]{1,32}"
Extension = Str("an extension", EXTENSION + r"|\$\{" + VARIABLE + r"\}",
                "digits, letters, + * # - _, or one ${variable} (e.g. ${hotline_digits})", accept_numbers=True)
UserName = Str("a directory user", r"[A-Za-z0-9_.-]{1,64}", "letters, digits, . - _", accept_numbers=True)
GatewayName = Str("a gateway name", r"[A-Za-z0-9_.-]{1,64}", "letters, digits, . - _")
Date = Str("a date", extra=date_value)
FilePath = Str("a WAV file path", r"[A-Za-z0-9_./-]+\.wav", "letters, digits, . - _ and /, ending in .wav",
               extra=_prompt_file)
Terminator = Enum(["#", "*", "none"], "a terminator key (#, * or none)")


def _node(kind: str, fields: dict[str, Field], doc: str, **kw: Any) -> Record:
    base = {
        "type": Field(Enum([kind]), True, doc="the node type"),
        "title": Field(Str("a title"), doc="free text shown in graphs"),
    }
    base.update(fields)
    return Record(base, f"a {kind} node", name=kind, **kw)


Failure = Record({
    "prompt": Field(PromptRef, doc="played before the menu is offered again"),
    "max": Field(Int(1, 20), default=3, doc="how many times before giving up"),
    "then": Field(Target, True, doc="where to go when max is reached"),
}, "a failure rule")

Case = Record({
    "equals": Field(Scalar("a text, number or true/false", extra=set_value), doc="exact value"),
    "regex": Field(Str("a regex", extra=regex_value), doc="PCRE, as FreeSWITCH conditions use"),
    "gt": Field(Number(), doc="numerically greater than"),
    "ge": Field(Number(), doc="numerically greater or equal"),
    "lt": Field(Number(), doc="numerically less than"),
    "le": Field(Number(), doc="numerically less or equal"),
    "empty": Field(Bool(), doc="true: the variable is unset or empty; false: it has a value"),
    "then": Field(Target, True, doc="node when the case matches"),
}, "a case")

Agent = Record({
    "name": Field(Str("an agent name", r"[A-Za-z0-9_.@-]{1,64}", "letters, digits, . @ - _"), True),
    "contact": Field(Str("a dial string", extra=_with_globals, max_len=300), True,
                     doc="e.g. user/1001@${domain} or [leg_timeout=15]sofia/gateway/gw/13800000000 (a ring limit: "
                         "mod_callcenter ignores call_timeout in a sofia contact)"),
    "level": Field(Int(1, 99), default=1, doc="tier level: lower levels are offered calls first"),
    "position": Field(Int(1, 999), default=1, doc="position within the level"),
    "status": Field(Enum(AGENT_STATUSES), default="Available"),
    "max_no_answer": Field(Int(0, 100), default=3),
    "wrap_up_time": Field(WholeSeconds, default=10),
    "reject_delay_time": Field(WholeSeconds, default=10),
    "busy_delay_time": Field(WholeSeconds, default=60),
    "no_answer_delay_time": Field(WholeSeconds, default=10),
}, "an agent")

DialTarget = Record({
    "user": Field(UserName, doc="a directory user, dialled as user/NAME@${domain}"),
    "extension": Field(Str("an extension", EXTENSION, "digits, letters, + * # - _", accept_numbers=True),
                       doc="an extension, dialled through loopback in `context`"),
    "context": Field(Str("a dialplan context", NAME, NAME_EXPLAIN), default="default"),
    "gateway": Field(GatewayName, doc="a sofia gateway, with number"),
    "number": Field(Digits, doc="the number dialled through gateway"),
}, "a dial target", one_of=[("user", "extension", "gateway")])

NODE_TYPES: dict[str, Record] = {
    "menu": _node("menu", {
        "prompts": Field(PromptList, True, doc="played (barge-in allowed) on the first attempt"),
        "reprompts": Field(PromptList, doc="played on later attempts (default: prompts)"),
        "options": Field(MapOf(Str("an option key", extra=option_key, accept_numbers=True), Target,
                               "a mapping of keys to nodes", min_items=1), True,
                         doc='"1": node, "0": agents, "1000-1099": dial_extension, "*": back'),
        "timeout": Field(Seconds, default=5, doc="seconds to wait for the first key"),
        "inter_digit_timeout": Field(Seconds, default=2, doc="seconds between keys of a multi-digit option"),
        "barge_in": Field(Bool(), default=True, doc="keys pressed during the prompt are accepted"),
        "terminator": Field(Terminator, default="#", doc="ends a multi-digit entry early"),
        "invalid": Field(Failure, doc="a key that is no option"),
        "no_input": Field(Failure, doc="nothing pressed before the timeout"),
    }, "plays prompts, collects a choice, routes"),
    "play": _node("play", {
        "prompts": Field(PromptList, True),
        "between": Field(ListOf(Date, "a list [from-date, to-date]", min_items=2, max_items=2),
                         doc="only play on these dates (inclusive), in the flow's time zone"),
        "next": Field(Target, True),
    }, "announcements"),
    "say": _node("say", {
        "variable": Field(VarName, True),
        "as": Field(Enum(["number", "currency", "digits"]), default="number"),
        "prefix": Field(PromptRef),
        "suffix": Field(PromptRef),
        "next": Field(Target, True),
    }, "reads a variable back"),
    "set": _node("set", {
        "variables": Field(MapOf(VarName, Scalar(extra=set_value), "a mapping of variables to values",
                                 min_items=1), True),
        "next": Field(Target, True),
    }, "sets channel variables"),
    "hours": _node("hours", {
        "open": Field(MapOf(Str("a day or day range", extra=day_set),
                            Str("a time range", extra=time_ranges), "a mapping of days to opening hours",
                            min_items=1), True, doc='mon-fri: "08:30-17:30", sat: "09:00-12:00"'),
        "holidays": Field(ListOf(Either(Date, Record({
            "from": Field(Date, True), "to": Field(Date, True)}, "a holiday range"),
            "a date or {from, to}"), "a list of dates or {from, to} ranges")),
        "then_open": Field(Target, True),
        "then_closed": Field(Target, True),
    }, "business hours"),
    "branch": _node("branch", {
        "variable": Field(VarName, True),
        "cases": Field(ListOf(Case, "a list of cases", min_items=1), True),
        "else": Field(Target, True),
    }, "routes on a channel variable"),
    "lookup": _node("lookup", {
        "lookups": Field(ListOf(Str("a lookup name", NAME, NAME_EXPLAIN), "a list of lookup names",
                                min_items=1, unique=True), True),
        "mode": Field(Enum(["live", "cached"]), default="live"),
        "next": Field(Target, True),
    }, "asks esl_app"),
    "collect": _node("collect", {
        "prompts": Field(PromptList, True),
        "variable": Field(VarName, True),
        "min": Field(Int(1, 128), default=1),
        "max": Field(Int(1, 128), default=1),
        "regex": Field(Str("a regex", extra=regex_value)),
        "tries": Field(Int(1, 20), default=3),
        "timeout": Field(Seconds, default=5),
        "inter_digit_timeout": Field(Seconds, default=3),
        "terminator": Field(Terminator, default="#"),
        "invalid_prompt": Field(PromptRef),
        "next": Field(Target, True),
        "failure": Field(Target, True),
    }, "collects digits into a variable"),
    "queue": _node("queue", {
        "strategy": Field(Enum(STRATEGIES, "a mod_callcenter strategy"), default="longest-idle-agent"),
        "music": Field(Str("music on hold"), default="local_stream://moh",
                       doc="local_stream://NAME or a prompt id"),
        "announce": Field(Record({"prompt": Field(PromptRef, True),
                                  "every": Field(Int(1, 3600, "a whole number of seconds"), True)},
                                 "an announcement")),
        "max_wait": Field(WholeSeconds, default=0, doc="0 = no limit"),
        "max_wait_no_agent": Field(WholeSeconds, default=0),
        "max_wait_no_agent_reached": Field(WholeSeconds, default=5),
        "discard_abandoned_after": Field(WholeSeconds, default=60),
        "tier_rules_apply": Field(Bool(), default=False),
        "designated_agent": Field(Record({
            "variable": Field(VarName, default="hotline_designated_agent"),
            "timeout": Field(Int(1, 300, "a whole number of seconds"), default=15),
        }, "a designated agent rule")),
        "agents": Field(ListOf(Agent, "a list of agents")),
        "on_timeout": Field(Target, True),
        "on_no_agent": Field(Target),
        "after": Field(Target, doc="node when the agent hangs up (default: hang up)"),
    }, "a mod_callcenter queue"),
    "transfer": _node("transfer", {
        "extension": Field(Extension),
        "context": Field(Str("a dialplan context", NAME, NAME_EXPLAIN), default="default"),
        "user": Field(UserName),
        "gateway": Field(GatewayName),
        "number": Field(Digits),
        "flow": Field(Str("a flow name", NAME, NAME_EXPLAIN)),
        "node": Field(NodeRef),
        "timeout": Field(Int(1, 600, "a whole number of seconds"), default=30),
        "fallback": Field(Target),
        "after": Field(Target),
    }, "to an extension, user, gateway number or flow", one_of=[("extension", "user", "gateway", "flow")]),
    "conference": _node("conference", {
        "room": Field(Str("a room name", NAME, NAME_EXPLAIN)),
        "dial": Field(ListOf(DialTarget, "a list of dial targets", min_items=1), True),
        "flags": Field(ListOf(Enum(CONFERENCE_FLAGS, "a conference member flag"), "a list of flags",
                              unique=True), default=["mintwo"]),
        "timeout": Field(Int(1, 600, "a whole number of seconds"), default=60),
        "after": Field(Target),
    }, "three-way conference"),
    "voicemail": _node("voicemail", {
        "mailbox": Field(Str("a mailbox id", NAME, NAME_EXPLAIN), True),
        "greeting": Field(PromptRef),
        "next": Field(Target),
    }, "leave a message"),
    "record": _node("record", {
        "name": Field(Str("a recording folder name", NAME, NAME_EXPLAIN), True),
        "prompt": Field(PromptRef),
        "max_seconds": Field(Int(1, 3600, "a whole number of seconds"), default=120),
        "silence_seconds": Field(Int(1, 60, "a whole number of seconds"), default=5),
        "next": Field(Target, True),
    }, "records the caller"),
    "survey": _node("survey", {
        "prompts": Field(PromptList, True),
        "thanks": Field(PromptRef),
        "invalid_prompt": Field(PromptRef),
        "tries": Field(Int(1, 10), default=2),
        "timeout": Field(Seconds, default=5),
    }, "post-call rating 1-5"),
    "hangup": _node("hangup", {
        "cause": Field(Enum(HANGUP_CAUSES, "a hangup cause"), default="NORMAL_CLEARING"),
        "prompt": Field(PromptRef),
    }, "ends the call"),
}


class NodeType(Type):
    """A node: `type` picks the record; unknown types get a did-you-mean."""

    what = "a node (a mapping with a type)"

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YMap):
            return self.wrong(y, ctx)
        tnode = y.get("type")
        if tnode is None:
            return ctx.error(y.loc, "missing key 'type' (one of " + ", ".join(NODE_TYPES) + ")")
        if not isinstance(tnode, YScalar) or not isinstance(tnode.value, str):
            return ctx.error(tnode.loc, f"expected a node type, got {_describe(tnode)}")
        kind = tnode.value
        record = NODE_TYPES.get(kind)
        if record is None:
            return ctx.error(tnode.loc, f"unknown node type '{kind}'{did_you_mean(kind, NODE_TYPES)}",
                             hint="node types: " + ", ".join(NODE_TYPES))
        return record.check(y, ctx)

    def json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": list(NODE_TYPES)}},
            "allOf": [
                {"if": {"properties": {"type": {"const": k}}},
                 "then": {"$ref": f"#/definitions/{k}"}}
                for k in NODE_TYPES
            ],
        }


def _describe(y: YNode) -> str:
    from .validate import describe

    return describe(y)


class PromptSpec(Type):
    """{zh: text, en: text}, {zh: {file: x.wav}}, or {file: x.wav} for every language."""

    what = "a prompt (per-language text or files, or file)"
    lang_entry = Either(Str("a prompt text", max_len=2000),
                        Record({"file": Field(FilePath, True), "text": Field(Str("a transcript", max_len=2000))},
                               "a prompt file"),
                        "a text or {file: ...}")

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YMap):
            return self.wrong(y, ctx)
        out = Rec(y.loc)
        ok = True
        for key, (kloc, vnode) in y.items.items():
            if key == "file":
                value = FilePath.check(vnode, ctx)
            elif re.fullmatch(r"[a-z]{2}", key):
                value = self.lang_entry.check(vnode, ctx)
            else:
                ctx.error(kloc, f"unknown key '{key}' in a prompt{did_you_mean(key, ['file', 'zh', 'en'])}",
                          hint="a prompt has language keys (zh, en...) or file")
                ok = False
                continue
            out.key_locs[key] = kloc
            out.value_locs[key] = vnode.loc
            if value is INVALID:
                ok = False
            else:
                out[key] = value
        if not y.items:
            return ctx.error(y.loc, "a prompt needs language keys (zh, en...) or file")
        if "file" in y.items and len(y.items) > 1:
            return ctx.error(y.loc, "a prompt has either file (one recording for every language) "
                                    "or language keys, not both")
        return out if ok else INVALID

    def json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"file": FilePath.json()},
            "patternProperties": {"^[a-z]{2}$": self.lang_entry.json()},
            "additionalProperties": False,
            "minProperties": 1,
        }


Mailbox = Record({
    "number": Field(Digits, True, doc="the voicemail box (a directory user id)"),
    "name": Field(Str("a mailbox name", extra=set_value, max_len=80)),
    "email": Field(Str("an e-mail address", r"[^@\s$]+@[^@\s$]+\.[^@\s$]+", "like desk@example.com")),
    "pin_env": Field(Str("an environment variable name", r"[A-Z_][A-Z0-9_]*", "upper-case letters, digits, _"),
                     doc="environment variable holding the mailbox PIN at compile time"),
}, "a mailbox")

Settings = Record({
    "timezone": Field(Str("a time zone", extra=timezone_value), doc="IANA zone, e.g. Asia/Shanghai"),
    "esl": Field(Record({
        "host": Field(Str("a host", r"[A-Za-z0-9_.:-]+", "a host name or IP address"), default="127.0.0.1"),
        "port": Field(Int(1, 65535), default=8084),
    }, "an esl address"), doc="where esl_app listens"),
    "record_agent_calls": Field(Bool(), default=False),
    "prompt_dir": Field(Str("a directory", r"[A-Za-z0-9_./${}-]+", "a path without spaces", extra=_with_globals),
                        default="$${sounds_dir}/hotline"),
    "extra_lookups": Field(ListOf(Str("a lookup name", NAME, NAME_EXPLAIN), "a list of lookup names",
                                  unique=True), doc="site lookups registered in esl_app"),
}, "settings")

FLOW = Record({
    "flow": Field(Str("a flow name", NAME, NAME_EXPLAIN, max_len=40), True,
                  doc="the flow's name; its dialplan context is hotline_<flow>"),
    "title": Field(Str("a title"), doc="free text shown in graphs"),
    "numbers": Field(ListOf(Digits, "a list of numbers", unique=True), default=[],
                     doc="DIDs that enter this flow"),
    "languages": Field(ListOf(Str("a language code", r"[a-z]{2}", "two letters, e.g. zh or en"),
                              "a list of languages", min_items=1, unique=True), default=["zh"]),
    "start": Field(NodeRef, True, doc="the first node"),
    "settings": Field(Settings),
    "prompts": Field(MapOf(PromptId, PromptSpec(), "a mapping of prompt ids to prompts", partial=True)),
    "mailboxes": Field(MapOf(Str("a mailbox id", NAME, NAME_EXPLAIN), Mailbox, "a mapping of mailboxes",
                             partial=True)),
    "nodes": Field(MapOf(NodeName, NodeType(), "a mapping of node names to nodes", min_items=1,
                         node_scope=True, partial=True), True),
}, "a flow", partial=True)


def validate_flow(tree: YNode, file: str) -> tuple[Rec | None, list[Any]]:
    """Check one loaded file against the language; returns (checked data or None, problems)."""
    ctx = Ctx(file)
    data = FLOW.check(tree, ctx)
    if data is INVALID:
        return None, ctx.problems
    assert isinstance(data, Rec)
    return data, ctx.problems


__all__ = ["FLOW", "NODE_TYPES", "Rec", "validate_flow"]
