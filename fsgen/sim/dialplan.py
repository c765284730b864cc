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

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import timecond
from .xmltree import XElement

if TYPE_CHECKING:  # pragma: no cover
    from .channel import CallerProfile, Channel


@dataclass
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


def compile_regex(expr: str) -> re.Pattern | None:
    """PCRE as FreeSWITCH writes it; ``/.../`` delimiters are accepted too."""
    pat = _re_cache.get(expr)
    if pat is None and expr not in _re_cache:
        src = expr
        flags = 0
        if len(src) >= 2 and src.startswith("/") and src.rfind("/") > 0:
            end = src.rfind("/")
            if "i" in src[end + 1:]:
                flags |= re.IGNORECASE
            src = src[1:end]
        try:
            pat = re.compile(src, flags)
        except re.error:
            pat = None
        _re_cache[expr] = pat
    return pat


def substitute(data: str, m: re.Match) -> str:
    """switch_perform_substitution: ``$N`` -> capture N ("" when absent)."""
    if "$" not in data:
        return data
    out = []
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c == "\\" and i + 1 < n and data[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        if c == "$" and i + 1 < n and data[i + 1].isdigit():
            j = i + 1
            while j < n and data[j].isdigit():
                j += 1
            idx = int(data[i + 1:j])
            if idx <= m.re.groups:
                out.append(m.group(idx) or "")
            i = j
            continue
        out.append(c)
        i += 1
    return "".join(out)


class Hunter:
    """Runs one hunt for ``chan`` in ``context``."""

    def __init__(self, chan: Channel, profile: CallerProfile, inline_exec: InlineExec):
        self.chan = chan
        self.profile = profile
        self.inline_exec = inline_exec
        self.extension: Extension | None = None
        self.errors: list[str] = []

    def hunt(self, context: XElement) -> Extension | None:
        xexten: XElement | None = None
        if self.chan.true("auto_hunt"):
            xexten = context.find("extension", name=self.profile.destination_number)
        extensions = context.findall("extension")
        start = extensions.index(xexten) if xexten is not None else 0
        for ext in extensions[start:]:
            name = ext.get("name") or "UNKNOWN"
            proceed = self.parse_exten(ext, name)
            if proceed and not _true(ext.get("continue")):
                break
        return self.extension

    def _add(self, name: str, app: str, data: str, src: XElement, inline: bool) -> None:
        if self.extension is None:
            self.extension = Extension(name)
        if inline:
            self.inline_exec(app, data, src)
        else:
            self.extension.actions.append(Action(app, data, src))

    def _field_data(self, fld: str) -> str:
        if "$" in fld:
            return self.chan.expand(fld)
        v = self.profile.field(fld)
        return v or ""

    def parse_exten(self, xexten: XElement, name: str, recur: int = 0) -> bool:
        if recur > 100:
            return False
        proceed = False
        sim = self.chan.sim
        for xcond in xexten.findall("condition"):
            brk = (xcond.get("break") or "on-false").lower()
            if brk not in ("on-true", "on-false", "always", "never"):
                brk = "on-false"
            time_match = timecond.check(xcond, sim.wall_time(), sim.zone_for_channel(self.chan))
            anti = True
            match: re.Match | None = None
            if time_match == 1:
                anti = False
                proceed = True
            elif time_match == 0:
                proceed = False
            fld = xcond.get("field")
            if xcond.get("regex") is not None:
                anti, proceed, match = self._regex_list(xcond, time_match)
            else:
                expression = self._expression(xcond)
                if fld is not None:
                    data = self._field_data(fld)
                    pat = compile_regex(expression)
                    if pat is None:
                        self.errors.append(f"{xcond.where()}: bad regular expression {expression!r}")
                        sim.trace.error(self.chan, "bad_regex", f"bad regular expression {expression!r}",
                                        where=xcond.where())
                        m = None
                    else:
                        m = pat.search(data)
                    # a field condition with time attributes needs both to match
                    proceed = m is not None and time_match != 0
                    anti = not proceed
                    if proceed and "(" in expression:
                        match = m
                elif time_match == -1:
                    anti = False
                    proceed = True
            if anti:
                for xa in xcond.findall("anti-action"):
                    app = xa.get("application") or ""
                    data = xa.text.strip() if xa.text and xa.text.strip() else (xa.get("data") or "")
                    for _ in range(_loop(xa)):
                        self._add(name, app, data, xa, _true(xa.get("inline")))
                    proceed = True
            else:
                for xa in xcond.findall("action"):
                    app = xa.get("application") or ""
                    data = xa.text.strip() if xa.text and xa.text.strip() else (xa.get("data") or "")
                    if match is not None:
                        data = substitute(data, match)
                    for _ in range(_loop(xa)):
                        self._add(name, app, data, xa, _true(xa.get("inline")))
            if (not anti and brk == "on-true") or (anti and brk == "on-false") or brk == "always":
                break
            if proceed and xcond.findall("condition"):
                proceed = self.parse_exten(xcond, name, recur + 1)
                if not proceed:
                    if brk == "never":
                        continue
                    break
        if recur and xexten.get("require-nested") is not None and not _true(xexten.get("require-nested")):
            proceed = True
        return proceed

    def _expression(self, el: XElement) -> str:
        xe = el.find("expression")
        expr = xe.text if xe is not None else (el.get("expression") or "")
        return self.chan.expand(expr) if "$" in expr else expr

    def _regex_list(self, xcond: XElement, time_match: int) -> tuple[bool, bool, re.Match | None]:
        rule = (xcond.get("regex") or "").lower()
        all_, xor = rule == "all", rule == "xor"
        passed = failed = 0
        proceed = False
        last_match: re.Match | None = None
        sim = self.chan.sim
        for xr in xcond.findall("regex"):
            rt = timecond.check(xr, sim.wall_time(), sim.zone_for_channel(self.chan))
            fld = xr.get("field")
            expression = self._expression(xr)
            if fld is not None:
                pat = compile_regex(expression)
                m = pat.search(self._field_data(fld)) if pat is not None else None
                proceed = m is not None
                if proceed:
                    passed += 1
                    if "(" in expression:
                        last_match = m
                    if not all_ and not xor:
                        break
                else:
                    failed += 1
                    if all_ and not xor:
                        break
            elif rt in (-1, 1):
                passed += 1
                proceed = True
                if not all_ and not xor:
                    break
            else:
                failed += 1
                if all_:
                    break
        if xor:
            anti = passed != 1
        else:
            anti = not ((all_ and not failed) or (not all_ and passed))
        return anti, proceed, last_match


def _true(v: str | None) -> bool:
    return v is not None and v.strip().lower() in ("true", "yes", "on", "1", "t", "enabled", "active", "allow")


def _loop(xa: XElement) -> int:
    try:
        return max(int(xa.get("loop") or "1"), 0)
    except ValueError:
        return 1
