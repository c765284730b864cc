"""How FreeSWITCH's C code reads numbers and booleans out of strings.

Parameters, channel variables and API arguments reach FreeSWITCH as text and are read with C's
``atoi``/``strtol`` (leading blanks, a sign, then as many ASCII digits as follow: ``"15s"`` is 15,
``"x"`` is 0) and with ``switch_is_number``/``switch_true``/``switch_false``. The simulator reads
them the same way, with these.
"""

from __future__ import annotations

_DIGITS = "0123456789"
_SPACE = " \t\n\r\f\v"
_TRUE = ("yes", "on", "true", "t", "enabled", "active", "allow")
_FALSE = ("no", "off", "false", "f", "disabled", "inactive", "disallow")


def strtol(s: str, i: int = 0) -> tuple[int, int]:
    """C strtol(s + i, &end, 10): (value, index after it); (0, i) when no digits follow."""
    n = len(s)
    j = i
    while j < n and s[j] in _SPACE:
        j += 1
    k = j + 1 if j < n and s[j] in "+-" else j
    d = k
    while d < n and s[d] in _DIGITS:
        d += 1
    if d == k:
        return 0, i
    return int(s[j:d]), d


def atoi(s: str | None) -> int:
    """C atoi(): leading blanks, an optional sign, the ASCII digits that follow; 0 when there are none."""
    return strtol(s)[0] if s else 0


def is_number(s: str) -> bool:
    """switch_is_number(): an optional sign, then only digits and dots (nothing at all is fine)."""
    if s[:1] in ("+", "-"):
        s = s[1:]
    return all(c in _DIGITS or c == "." for c in s)


def switch_true(v: str) -> bool:
    """switch_true(): yes/on/true/t/enabled/active/allow in any case, or a non-zero number."""
    return v.lower() in _TRUE or (is_number(v) and atoi(v) != 0)


def is_true(v: str | None) -> bool:
    """switch_true() of a variable or attribute that may be unset (NULL in FreeSWITCH: false)."""
    return v is not None and switch_true(v)


def switch_false(v: str) -> bool:
    """switch_false(): no/off/false/f/disabled/inactive/disallow in any case, or a number that is 0."""
    return v.lower() in _FALSE or (is_number(v) and atoi(v) == 0)
