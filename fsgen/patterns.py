"""Menu option keys: single keys, multi-digit keys, ranges and digit patterns.

Every key is turned into a union of fixed-length "shapes" (one set of allowed characters
per position). Shapes make the two things the compiler needs exact and cheap: a PCRE
alternative for play_and_get_digits and the dialplan, and an overlap test (two options
overlap when some digit string matches both; e.g. "1050" and "1000-1099").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGITS = "0123456789"
KEYS = DIGITS + "*#"
_CLASS = {"X": DIGITS, "Z": DIGITS[1:], "N": DIGITS[2:]}

Shape = tuple[frozenset[str], ...]


class OptionError(ValueError):
    pass


@dataclass(frozen=True)
class OptionKey:
    text: str
    shapes: tuple[Shape, ...]

    @property
    def lengths(self) -> set[int]:
        return {len(s) for s in self.shapes}

    @property
    def regex(self) -> str:
        """A PCRE alternative (no anchors) matching exactly the key's digit strings."""
        return "|".join(_shape_regex(s) for s in self.shapes)

    def overlaps(self, other: OptionKey) -> bool:
        return any(_shapes_overlap(a, b) for a in self.shapes for b in other.shapes)


def parse_option(text: str) -> OptionKey:
    """Parse "1", "12", "*", "#", "1000-1099", "1XXX", "[1-5]" or "9N" into an OptionKey."""
    if not text:
        raise OptionError("an option key cannot be empty")
    m = re.fullmatch(r"([0-9]+)-([0-9]+)", text)
    if m:
        lo, hi = m.groups()
        if len(lo) != len(hi):
            raise OptionError(f"range '{text}' needs ends of the same length (e.g. 1000-1099)")
        if int(lo) > int(hi):
            raise OptionError(f"range '{text}' runs backwards")
        return OptionKey(text, tuple(_range_shapes(lo, hi)))
    shape: list[frozenset[str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in KEYS:
            shape.append(frozenset(ch))
        elif ch in _CLASS:
            shape.append(frozenset(_CLASS[ch]))
        elif ch == "[":
            end = text.find("]", i)
            if end < 0:
                raise OptionError(f"option '{text}' has '[' without ']'")
            shape.append(_parse_class(text[i + 1:end], text))
            i = end
        else:
            raise OptionError(
                f"option '{text}' may contain only digits, * and #, ranges like 1000-1099, "
                "or patterns with X (any digit), Z (1-9), N (2-9) and [1-5]"
            )
        i += 1
    if len(shape) > 32:
        raise OptionError(f"option '{text}' is longer than 32 keys")
    return OptionKey(text, (tuple(shape),))


def _parse_class(body: str, text: str) -> frozenset[str]:
    chars: set[str] = set()
    i = 0
    if not body:
        raise OptionError(f"option '{text}' has an empty class []")
    while i < len(body):
        ch = body[i]
        if ch not in DIGITS:
            raise OptionError(f"option '{text}': a class [...] may contain only digits and ranges like 1-5")
        if i + 2 < len(body) and body[i + 1] == "-":
            end = body[i + 2]
            if end not in DIGITS or end < ch:
                raise OptionError(f"option '{text}': bad class range '{body[i:i + 3]}'")
            chars.update(DIGITS[int(ch): int(end) + 1])
            i += 3
        else:
            chars.add(ch)
            i += 1
    return frozenset(chars)


def _range_shapes(lo: str, hi: str) -> list[Shape]:
    """Split [lo, hi] (same length) into shapes, the classic range-to-regex recursion."""
    if not lo:
        return [()]
    if lo == hi:
        return [tuple(frozenset(c) for c in lo)]
    n = len(lo)
    if lo[0] == hi[0]:
        head = frozenset(lo[0])
        return [(head, *rest) for rest in _range_shapes(lo[1:], hi[1:])]
    shapes: list[Shape] = []
    all_digits = tuple(frozenset(DIGITS) for _ in range(n - 1))
    lo_rest_is_min = lo[1:] == "0" * (n - 1)
    hi_rest_is_max = hi[1:] == "9" * (n - 1)
    first = int(lo[0])
    last = int(hi[0])
    if not lo_rest_is_min:
        shapes += [(frozenset(lo[0]), *rest) for rest in _range_shapes(lo[1:], "9" * (n - 1))]
        first += 1
    if not hi_rest_is_max:
        last -= 1
    if first <= last:
        shapes.append((frozenset(DIGITS[first:last + 1]), *all_digits))
    if not hi_rest_is_max:
        shapes += [(frozenset(hi[0]), *rest) for rest in _range_shapes("0" * (n - 1), hi[1:])]
    return shapes


def _char_regex(chars: frozenset[str]) -> str:
    if len(chars) == 1:
        ch = next(iter(chars))
        return "\\*" if ch == "*" else ch
    if chars == frozenset(DIGITS):
        return "\\d"
    digits = sorted(chars)
    runs: list[str] = []
    start = prev = digits[0]
    for d in digits[1:] + [""]:
        if d and ord(d) == ord(prev) + 1:
            prev = d
            continue
        if start == prev:
            runs.append(start)
        elif ord(prev) == ord(start) + 1:
            runs.append(start + prev)
        else:
            runs.append(f"{start}-{prev}")
        start = prev = d
    return "[" + "".join(runs) + "]"


def _shape_regex(shape: Shape) -> str:
    out: list[str] = []
    i = 0
    while i < len(shape):
        j = i
        while j + 1 < len(shape) and shape[j + 1] == shape[i] and len(shape[i]) > 1:
            j += 1
        part = _char_regex(shape[i])
        count = j - i + 1
        out.append(part if count == 1 else f"{part}{{{count}}}")
        i = j + 1
    return "".join(out)


def _shapes_overlap(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x & y for x, y in zip(a, b))


def menu_regex(keys: list[OptionKey]) -> str:
    """The anchored regex of all options, for play_and_get_digits."""
    return "^(" + "|".join(k.regex for k in keys) + ")$"
