"""``${...}`` expansion as switch_channel_expand_variables does it.

- ``${name}``: channel variable, else caller-profile field, else global variable (FreeSWITCH's
  channel lookup falls back to the globals, which is why an ESL server can send
  ``playback ${ref_sounds}/x.wav``).
- ``${name:offset[:length]}``: substring, negative offsets from the end.
- ``${api(args)}``: API call (``cond``, ``strftime``, ``uuid_getvar``... see ``fsgen.sim.api``);
  an unknown API expands to "" and leaves an error record in the trace.
- ``$${name}`` is replaced when configuration is loaded (``fsgen.sim.conf``), not here.
Nesting works (``${${var_name}}``, ``${cond(${x} == 1 ? a : b)}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel

Lookup = Callable[[str], str | None]
ApiCall = Callable[[str, str], str]


def _match_brace(s: str, start: int) -> int:
    """Index of the '}' closing the '{' at ``start`` (or -1)."""
    depth = 0
    i = start
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


_SPECIAL = re.compile(r"[\\$]")


def expand(text: str | None, lookup: Lookup, api_call: ApiCall, depth: int = 0) -> str:
    if not text:
        return ""
    if "$" not in text or depth > 20:
        return text
    out: list[str] = []
    for part in template(text):
        if isinstance(part, str):
            out.append(part)
        elif part[0] is VAR:
            out.append(value_range(lookup(part[1]), part[2], part[3]))
        else:
            out.append(_expand_one(part[1], lookup, api_call, depth))
    return "".join(out)


#: template parts besides literal text: (VAR, name, offset, length) for a ``${name[:o[:l]]}``
#: that needs no expansion of its own, (_INNER, inner) for anything else (API calls, nesting)
VAR = "var"
_INNER = "inner"
Part = str | tuple[Any, ...]
_TEMPLATES: dict[str, tuple[Part, ...]] = {}


def template(text: str) -> tuple[Part, ...]:
    """``text`` split once into literal text and ``${...}`` references (what :func:`expand`
    walks every time): the same configuration strings are expanded again and again."""
    got = _TEMPLATES.get(text)
    if got is None:
        got = _TEMPLATES[text] = _parse(text)
        if len(_TEMPLATES) > 8192:
            _TEMPLATES.clear()
            _TEMPLATES[text] = got
    return got


def _parse(text: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    lit: list[str] = []
    i = 0
    n = len(text)
    search = _SPECIAL.search
    while i < n:
        m = search(text, i)
        if m is None:
            lit.append(text[i:])
            break
        j = m.start()
        if j > i:
            lit.append(text[i:j])
        if text[j] == "\\":
            if j + 1 < n and text[j + 1] in "${}\\":
                lit.append(text[j + 1])
                i = j + 2
            else:
                lit.append("\\")
                i = j + 1
            continue
        if j + 1 < n and text[j + 1] == "{":
            end = _match_brace(text, j + 1)
            if end < 0:
                lit.append(text[j:])
                break
            if lit:
                parts.append("".join(lit))
                lit = []
            parts.append(_reference(text[j + 2:end]))
            i = end + 1
            continue
        lit.append("$")
        i = j + 1
    if lit:
        parts.append("".join(lit))
    return tuple(parts)


def _reference(inner: str) -> tuple:
    paren = inner.find("(")
    if (paren > 0 and inner.endswith(")") and _is_name(inner[:paren])) or "$" in inner:
        return (_INNER, inner)
    name, offset, length = _name_range(inner)
    return (VAR, name, offset, length)


def _name_range(name: str) -> tuple[str, int | None, int | None]:
    offset = length = None
    if ":" in name:
        parts = name.split(":")
        name = parts[0]
        try:
            offset = int(parts[1]) if len(parts) > 1 and parts[1] != "" else None
            length = int(parts[2]) if len(parts) > 2 and parts[2] != "" else None
        except ValueError:
            offset = length = None
    return name, offset, length


def value_range(value: str | None, offset: int | None, length: int | None) -> str:
    if value is None:
        return ""
    if offset is not None:
        if offset < 0:
            offset = max(len(value) + offset, 0)
        value = value[offset:]
        if length is not None:
            value = value[:length] if length >= 0 else value[:max(len(value) + length, 0)]
    return value


def _expand_one(inner: str, lookup: Lookup, api_call: ApiCall, depth: int) -> str:
    paren = inner.find("(")
    if paren > 0 and inner.endswith(")") and _is_name(inner[:paren]):
        func = inner[:paren]
        args = expand(inner[paren + 1:-1], lookup, api_call, depth + 1)
        return api_call(func, args)
    name = expand(inner, lookup, api_call, depth + 1) if "$" in inner else inner
    name, offset, length = _name_range(name)
    return value_range(lookup(name), offset, length)


def _is_name(s: str) -> bool:
    return bool(s) and all(ch.isalnum() or ch in "_-" for ch in s)


def channel_lookup(chan: Channel | None, globals_: dict[str, str]) -> Lookup:
    def lookup(name: str) -> str | None:
        if chan is not None:
            v = chan.variables.get(name)
            if v is not None:
                return v
            v = chan.profile.field(name)
            if v:
                return v
        return globals_.get(name)
    return lookup
