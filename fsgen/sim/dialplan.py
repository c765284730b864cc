"""mod_dialplan_xml: hunt a context for the extensions that match a channel.

Two phases as in FreeSWITCH: the hunt walks the context's extensions in order and collects
actions (running ``inline="true"`` ones at once, so later conditions see their effect);
the session then executes the collected actions.  Semantics follow parse_exten():

- each condition: time attributes (``-1`` none / ``1`` match / ``0`` no match), then the
  ``field``/``expression`` regex (or a ``regex="all|any|xor"`` list); a failed condition
  queues its anti-actions, a passing one its actions with ``$1``... replaced by that
  condition's captures;
- ``break``: on-false (default) stops the extension's conditions when one fails, on-true
  when one passes, always / never;
- an extension "matches" (stops the hunt unless ``continue="true"``) when its last evaluated
  condition passed or queued anti-actions -- actions queued by earlier conditions stay
  queued even when a later one fails, exactly like FreeSWITCH;
- nested ``<condition>`` elements are evaluated when their parent passes.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import timecond
from .cstr import atoi, is_true
from .expand import expand
from .xmltree import XElement

if TYPE_CHECKING:  # pragma: no cover
    from .channel import CallerProfile, Channel


@dataclass(slots=True)
class Action:
    app: str
    data: str
    source: XElement | None = None


@dataclass
class Extension:
    name: str
    actions: list[Action] = field(default_factory=list)


InlineExec = Callable[[str, str, XElement], None]

_re_cache: dict[str, re.Pattern | None] = {}


def ast2regex(pat: str) -> str:
    """switch_ast2regex: an Asterisk-style ``_`` pattern (N X Z and ``.``) as a regex."""
    out = ["^"]
    for ch in pat:
        out.append({"N": "[2-9]", "X": "[0-9]", "Z": "[1-9]", ".": ".*"}.get(ch, ch))
    out.append("$")
    return "".join(out)


def compile_regex(expr: str) -> re.Pattern | None:
    """The pattern switch_regex_perform() compiles: ``_...`` is an Asterisk pattern,
    ``/.../flags`` takes ``i`` (caseless) and ``s`` (dotall) and needs its closing slash;
    PCRE without UTF mode, so ``\\d`` and ``\\w`` are ASCII.  None when it does not compile."""
    pat = _re_cache.get(expr)
    if pat is None and expr not in _re_cache:
        src = ast2regex(expr[1:]) if expr.startswith("_") else expr
        flags = re.ASCII
        ok = True
        if src.startswith("/"):
            end = src.rfind("/")
            if end == 0:
                ok = False          # "missing ending '/' delimeter": no match
            else:
                opts = src[end + 1:]
                if "i" in opts:
                    flags |= re.IGNORECASE
                if "s" in opts:
                    flags |= re.DOTALL
                src = src[1:end]
        try:
            pat = re.compile(src, flags) if ok else None
        except re.error:
            pat = None
        _re_cache[expr] = pat
    return pat


def substitute(data: str, m: re.Match | None) -> str:
    """switch_perform_substitution: ``$N`` and ``${N}`` -> capture N ("" when unset or when
    there is no match); a backslash is not an escape here.  A ``${`` whose digits are not
    closed by ``}`` loses its ``${`` and leaves the digits in the index buffer, as in C."""
    if "$" not in data:
        return data
    out: list[str] = []
    index: list[str] = []
    x, n = 0, len(data)
    while x < n:
        if data[x] != "$":
            out.append(data[x])
            x += 1
            continue
        x += 1
        start = x
        brace = x < n and data[x] == "{"
        if brace:
            x += 1
        if not (x < n and data[x] in _DIGITS):
            x -= brace
            out.append(data[x - 1])
            continue
        while x < n and data[x] in _DIGITS and len(index) < 9:
            index.append(data[x])
            x += 1
        if brace:
            if not (x < n and data[x] == "}"):
                x = max(x - (len(index) - 1), start)   # C steps back by the whole buffer
                out.append(data[x - 1])
                continue
            x += 1
        num = int("".join(index))
        index = []
        if m is not None and 0 <= num <= min(256, m.re.groups):
            out.append(m.group(num) or "")
    return "".join(out)


_DIGITS = "0123456789"


def captures(m: re.Match | None) -> str | None:
    """What switch_capture_regex() pushes (SWITCH_STACK_PUSH) onto a variable: every set group
    from 0; a pushed header is always an array (``ARRAY::a|:b``); None when nothing."""
    if m is None:
        return None
    got = [g for g in (m.group(i) for i in range(m.re.groups + 1)) if g is not None]
    return "ARRAY::" + "|:".join(got) if got else None


class _Expr:
    """A condition's expression: the text as written and, when it names no ``${...}``, its
    expansion and compiled pattern (expanding such a text needs no channel)."""

    __slots__ = ("bad", "lit", "pat", "raw", "static")

    def __init__(self, el: XElement):
        xe = el.find("expression")
        self.raw: str = xe.text if xe is not None else (el.get("expression") or "")
        self.static: str | None = None
        self.pat: re.Pattern | None = None
        self.bad = False
        #: the one text a static ``^...$`` without groups matches (``$`` also before a final newline)
        self.lit: str | None = None
        if "${" not in self.raw:
            self.static = expand(self.raw, _no_lookup, _no_api) if "$" in self.raw else self.raw
            self.pat = compile_regex(self.static)
            self.bad = self.pat is None
            if self.pat is not None and "(" not in self.static:
                self.lit = _literal(self.static)


def _no_lookup(name: str) -> str | None:  # pragma: no cover - never called without "${"
    raise AssertionError(name)


def _no_api(name: str, args: str) -> str:  # pragma: no cover - never called without "${"
    raise AssertionError(name)


class _Action:
    __slots__ = ("action", "app", "data", "el", "inline", "loop", "subst")

    def __init__(self, xa: XElement):
        self.el = xa
        self.app = xa.get("application") or ""
        self.data = xa.text.strip() if xa.text and xa.text.strip() else (xa.get("data") or "")
        self.inline = is_true(xa.get("inline"))
        self.loop = _loop(xa)
        #: what a hunt queues when the data needs no ``$N`` substitution (actions are only read)
        self.action = Action(self.app, self.data, xa)
        self.subst = "$" in self.data


class _Regex:
    """One ``<regex>`` of a ``regex="all|any|xor"`` condition."""

    __slots__ = ("el", "expr", "field", "timed")

    def __init__(self, xr: XElement):
        self.el = xr
        self.timed = timecond.has_time_attrs(xr)
        self.field = xr.get("field")
        self.expr = _Expr(xr)


class _Block:
    """The conditions directly inside an extension (or a condition: nested ones)."""

    __slots__ = ("conds", "require_nested")

    def __init__(self, el: XElement):
        self.conds = tuple(_Cond(c) for c in el.findall("condition"))
        self.require_nested = el.get("require-nested")


class _Cond:
    __slots__ = ("actions", "anti", "brk", "el", "expr", "field", "nested", "regex_rule", "regexes", "timed")

    def __init__(self, xc: XElement):
        self.el = xc
        brk = (xc.get("break") or "on-false").lower()
        self.brk = brk if brk in ("on-true", "on-false", "always", "never") else "on-false"
        self.timed = timecond.has_time_attrs(xc)
        self.field = xc.get("field")
        rule = xc.get("regex")
        self.regex_rule = rule.lower() if rule is not None else None
        self.regexes = tuple(_Regex(xr) for xr in xc.findall("regex")) if rule is not None else ()
        self.expr = _Expr(xc) if rule is None else None
        self.anti = tuple(_Action(xa) for xa in xc.findall("anti-action"))
        self.actions = tuple(_Action(xa) for xa in xc.findall("action"))
        self.nested = _Block(xc) if xc.findall("condition") else None


class _Exten:
    __slots__ = ("block", "cont", "el", "name")

    def __init__(self, xe: XElement):
        self.el = xe
        self.name = xe.get("name") or "UNKNOWN"
        self.cont = is_true(xe.get("continue"))
        self.block = _Block(xe)


_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def _literal(pattern: str) -> str | None:
    """The one string ``^...$`` matches when it has no regex syntax inside (``\\.`` is a dot)."""
    if len(pattern) < 2 or pattern[0] != "^" or pattern[-1] != "$" or pattern.endswith("\\$"):
        return None
    out = []
    i, n = 1, len(pattern) - 1
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            nxt = pattern[i + 1]
            if not nxt.isascii() or nxt.isalnum() or nxt in " \t\n":
                return None
            out.append(nxt)
            i += 2
            continue
        if c in _SPECIAL:
            return None
        out.append(c)
        i += 1
    return "".join(out)


def _dest_key(ext: _Exten) -> str | None:
    """The destination an extension can only match when it starts by testing
    destination_number against a literal ``^...$`` and a miss ends it with nothing queued
    (no anti-actions, break on-false/always, no time attributes): any other destination
    skips it with no effect, so the hunt need not look at it."""
    if not ext.block.conds:
        return None
    c = ext.block.conds[0]
    if (c.field != "destination_number" or c.regexes or c.regex_rule is not None or c.timed or c.anti
            or c.brk not in ("on-false", "always") or c.expr is None or c.expr.static is None
            or c.expr.pat is None):
        return None
    return _literal(c.expr.static)


class CompiledContext:
    """A context's extensions, parsed once, and which of them each destination can reach."""

    __slots__ = ("_candidates", "els", "exts", "keyed", "unkeyed")

    def __init__(self, context: XElement):
        self.els = context.findall("extension")
        self.exts = [_Exten(x) for x in self.els]
        self.keyed: dict[str, list[int]] = {}
        self.unkeyed: list[int] = []
        for i, ext in enumerate(self.exts):
            key = _dest_key(ext)
            if key is None:
                self.unkeyed.append(i)
            else:
                self.keyed.setdefault(key, []).append(i)
        self._candidates: dict[str, list[int]] = {}

    def candidates(self, dest: str) -> list[int]:
        """Positions of the extensions a hunt for ``dest`` must evaluate (in order).
        PCRE's ``$`` also matches before a final newline, hence the second key."""
        found = self._candidates.get(dest)
        if found is None:
            found = list(self.unkeyed) + self.keyed.get(dest, [])
            if dest.endswith("\n"):
                found += self.keyed.get(dest[:-1], [])
            found.sort()
            if len(self._candidates) > 4096:
                self._candidates.clear()
            self._candidates[dest] = found
        return found


def compiled(context: XElement) -> CompiledContext:
    cc = context.compiled
    if not isinstance(cc, CompiledContext):
        cc = context.compiled = CompiledContext(context)
    return cc


class Hunter:
    """Runs one hunt for ``chan`` in ``context``."""

    def __init__(self, chan: Channel, profile: CallerProfile, inline_exec: InlineExec):
        self.chan = chan
        self.profile = profile
        self.inline_exec = inline_exec
        self.extension: Extension | None = None
        self.errors: list[str] = []

    def hunt(self, context: XElement) -> Extension | None:
        cctx = compiled(context)
        start = 0
        if self.chan.true("auto_hunt"):
            xexten = context.find("extension", name=self.profile.destination_number)
            if xexten is not None:
                start = cctx.els.index(xexten)
        exts = cctx.exts
        profile = self.profile
        dest = profile.destination_number or ""
        positions = cctx.candidates(dest)
        k = bisect.bisect_left(positions, start)
        while k < len(positions):
            pos = positions[k]
            ext = exts[pos]
            proceed = self._block(ext.block, ext.name, 0)
            if proceed and not ext.cont:
                break
            now_dest = profile.destination_number or ""
            if now_dest != dest:      # an inline set_profile_var changed it
                dest = now_dest
                positions = cctx.candidates(dest)
                k = bisect.bisect_right(positions, pos)
            else:
                k += 1
        return self.extension

    def _add(self, name: str, app: str, data: str, src: XElement, inline: bool) -> None:
        if self.extension is None:
            self.extension = Extension(name)
        if inline:
            self.inline_exec(app, data, src)
        else:
            self.extension.actions.append(Action(app, data, src))

    def _time_check(self, el: XElement) -> int:
        """check_tz() then switch_xml_std_datetime_check() for one condition or regex."""
        chan = self.chan
        sim = chan.sim
        zone, offset = timecond.channel_zone(chan.var("tod_tz_offset"), chan.var("timezone"), sim.tz)
        return timecond.check(el, sim.wall_time(), zone, sim.tz, offset)

    def _field_data(self, fld: str) -> str:
        """A condition's field: expanded when it holds a ``$``, else the caller profile field
        of that name (switch_caller_get_field_by_name compares names case-insensitively)."""
        if "$" in fld:
            return self.chan.expand(fld)
        v = self.profile.field(fld.lower())
        return v or ""

    def _pattern(self, expr: _Expr) -> tuple[str, re.Pattern | None]:
        if expr.static is not None:
            return expr.static, expr.pat
        expression = self.chan.expand(expr.raw)
        return expression, compile_regex(expression)

    def _perform(self, el: XElement, expr: _Expr, fld: str) -> tuple[str, str, re.Match | None]:
        """switch_regex_perform on a field: (expression, field data, match or None)."""
        expression, pat = self._pattern(expr)
        data = self._field_data(fld)
        if pat is None:
            chan = self.chan
            self.errors.append(f"{el.where()}: bad regular expression {expression!r}")
            chan.sim.trace.error(chan, "bad_regex", f"bad regular expression {expression!r}", where=el.where())
            return expression, data, None
        lit = expr.lit
        if lit is not None:   # no groups: only whether it matches counts
            return expression, data, (_HIT if data == lit or data == lit + "\n" else None)
        return expression, data, pat.search(data)

    def parse_exten(self, xexten: XElement, name: str, recur: int = 0) -> bool:
        """Evaluate one extension element (parse_exten() of mod_dialplan_xml)."""
        return self._block(_Block(xexten), name, recur)

    def _block(self, block: _Block, name: str, recur: int) -> bool:
        """parse_exten(): the conditions of an extension (or of a condition, nested)."""
        if recur > 100:
            return False
        proceed = False
        chan = self.chan
        for c in block.conds:
            brk = c.brk
            time_match = self._time_check(c.el) if c.timed else -1
            anti = True
            # time_match 1 clears anti_action on its own: a field that then fails still
            # queues the actions (proceed 0); time_match 0 only clears proceed
            if time_match == 1:
                anti = False
                proceed = True
            elif time_match == 0:
                proceed = False
            subst = False              # field && strchr(expression, '('): $N substitution, DP_MATCH
            match: re.Match | None = None
            if c.expr is None:
                passed, proceed, subst, match = self._regex_list(c, proceed)
                if passed:
                    anti = False
            elif c.field is not None:
                expression, _data, m = self._perform(c.el, c.expr, c.field)
                proceed = m is not None
                if proceed:
                    anti = False
                subst = "(" in expression
                match = m if m is not _HIT else None
            elif time_match == -1:
                anti = False
                proceed = True
            if anti:
                if c.anti:
                    queued = self._queue(name)
                    for a in c.anti:
                        for _ in range(a.loop):
                            if a.inline:
                                self.inline_exec(a.app, a.data, a.el)
                            else:
                                queued.append(a.action)
                    proceed = True
            else:
                if subst:
                    chan.set_var("DP_MATCH", captures(match))
                if c.actions:
                    queued = self._queue(name)
                    for a in c.actions:
                        act = a.action
                        if subst and a.subst:
                            act = Action(a.app, substitute(a.data, match), a.el)
                        for _ in range(a.loop):
                            if a.inline:
                                self.inline_exec(act.app, act.data, a.el)
                            else:
                                queued.append(act)
            if (not anti and brk == "on-true") or (anti and brk == "on-false") or brk == "always":
                break
            if proceed and c.nested is not None:
                proceed = self._block(c.nested, name, recur + 1)
                if not proceed:
                    if brk == "never":
                        continue
                    break
        if recur and block.require_nested is not None and not is_true(block.require_nested):
            proceed = True
        return proceed

    def _queue(self, name: str) -> list[Action]:
        if self.extension is None:
            self.extension = Extension(name)
        return self.extension.actions

    def _regex_list(self, c: _Cond, proceed: bool) -> tuple[bool, bool, bool, re.Match | None]:
        """The ``regex="all|any|xor"`` branch of parse_exten(): (passes, proceed, substitute?,
        capture source).  As in C, the captures used afterwards are those of the last
        ``<regex>`` with a field and a ``(`` that was evaluated to the end of its loop turn
        (its own proceed included), else those of the one the loop broke on; every such
        turn also sets ``DP_REGEX_MATCH_<n>``."""
        rule = c.regex_rule or ""
        all_, xor = rule == "all", rule == "xor"
        passed = failed = 0
        chan = self.chan
        for name in [k for k in chan.variables if k.startswith("DP_REGEX_MATCH")]:
            chan.set_var(name, None)
        saved: tuple[bool, re.Match | None] | None = None
        last_field: str | None = None
        last_expression = ""
        last_match: re.Match | None = None
        for total, xr in enumerate(c.regexes, 1):
            regex_time = self._time_check(xr.el) if xr.timed else -1
            last_field = fld = xr.field
            stop = False
            if fld is not None:
                expression, _data, m = self._perform(xr.el, xr.expr, fld)
                last_expression = expression
                last_match = m if m is not _HIT else None
                proceed = m is not None
                if proceed:
                    passed += 1
                    stop = not all_ and not xor
                else:
                    failed += 1
                    stop = all_ and not xor
            else:
                last_expression = self._pattern(xr.expr)[0]
                last_match = None
                if regex_time != 0:
                    passed += 1
                    proceed = True
                    stop = not all_ and not xor
                else:
                    failed += 1
                    stop = all_
            if stop:
                break
            if fld is not None and "(" in last_expression:
                chan.set_var(f"DP_REGEX_MATCH_{total}", captures(last_match))
                saved = (proceed, last_match)
        if xor:
            ok = passed == 1
        else:
            ok = (all_ and not failed) or (not all_ and passed > 0)
        if saved is not None:
            proceed, match = saved
            return ok, proceed, True, match
        return ok, proceed, last_field is not None and "(" in last_expression, last_match


#: stands for a match of a pattern without groups (only that it matched counts)
_HIT: re.Match = re.match("", "")  # type: ignore[assignment]


def _loop(xa: XElement) -> int:
    """``loop``: atoi of the attribute when present (so "" or "x" is 0: nothing runs)."""
    v = xa.get("loop")
    return 1 if v is None else max(atoi(v), 0)
