"""Argument splitting as switch_separate_string does it (used by several applications)."""

from __future__ import annotations


def separate(data: str, sep: str = " ", maxparts: int = 0) -> list[str]:
    """Split ``data`` at ``sep`` (runs of spaces count once), honouring '...' quotes.

    With ``maxparts`` the last part keeps the rest of the string unsplit, like FreeSWITCH's
    fixed-size argv arrays.
    """
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
