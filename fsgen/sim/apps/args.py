"""Argument splitting as switch_separate_string does it (used by several applications)."""

from __future__ import annotations

import functools


def separate(data: str, sep: str = " ", maxparts: int = 0) -> list[str]:
    """Split ``data`` at ``sep`` (runs of spaces count once), honouring '...' quotes.

    With ``maxparts`` the last part keeps the rest of the string unsplit, like FreeSWITCH's
    fixed-size argv arrays.
    """
    return list(_separated(data, sep, maxparts))


@functools.lru_cache(maxsize=4096)
def _separated(data: str, sep: str, maxparts: int) -> tuple[str, ...]:
    """:func:`separate`, remembered: applications split the same argument strings on every call."""
    return tuple(_separate(data, sep, maxparts))


def _separate(data: str, sep: str, maxparts: int) -> list[str]:
    if "'" not in data:
        if sep == " ":
            return _split_spaces(data, maxparts)
        if not maxparts:
            return data.split(sep) if data else []
    return _separate_quoted(data, sep, maxparts)


def _split_spaces(data: str, maxparts: int) -> list[str]:
    """:func:`separate` at spaces of a text without quotes (str methods instead of a char loop)."""
    if not maxparts:
        return [p for p in data.split(" ") if p]
    parts: list[str] = []
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos] == " ":
            pos += 1
        if pos >= n:
            return parts
        if len(parts) == maxparts - 1:
            rest = data[pos:].strip()
            if rest:
                parts.append(rest)
            return parts
        end = data.find(" ", pos)
        if end < 0:
            parts.append(data[pos:])
            return parts
        parts.append(data[pos:end])
        pos = end


def _separate_quoted(data: str, sep: str, maxparts: int) -> list[str]:
    """switch_separate_string's loop, character by character (quotes, any separator)."""
    parts: list[str] = []
    cur: list[str] = []
    quote = False
    i = 0
    n = len(data)
    while i < n:
        ch = data[i]
        if maxparts and len(parts) == maxparts - 1:
            rest = data[i:].strip()
            if rest:
                parts.append(_unquote(rest))
            return parts
        if ch == "'":
            quote = not quote
            cur.append(ch)
        elif ch == sep and not quote:
            if cur or sep != " ":
                parts.append(_unquote("".join(cur)))
            cur = []
            if sep == " ":
                while i + 1 < n and data[i + 1] == " ":
                    i += 1
        else:
            cur.append(ch)
        i += 1
    if cur or (parts and sep != " "):
        parts.append(_unquote("".join(cur)))
    return parts


def _unquote(s: str) -> str:
    if len(s) >= 2 and s[0] == "'" and s[-1] == "'":
        return s[1:-1]
    return s
