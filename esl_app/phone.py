"""Chinese phone number normalisation, used on every write and on every lookup.

A caller's CLI reaches the switch in many shapes (``+8613812345678``, ``008613812345678``,
``013812345678``, ``010-12345678``, ``0755 1234 5678``, ``75512345678``...) while the MIS export
stores yet others. Both sides go through :func:`normalise` so they meet on one canonical key:
the national significant number without country code or trunk ``0`` (mobiles ``1[3-9]`` + 9 digits,
landlines area code without its ``0`` + local number). Extensions are kept apart, never in the key.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Carrier "IP dialling" prefixes that some trunks leave in front of the real number.
_CARRIER_PREFIXES = ("17951", "17911", "17909", "12593", "10193")
_EXT_MARK = re.compile(r"\s*(?:ext\.?|x|转|分机|#|,|;|p|w)\s*(\d{1,6})\s*$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-().\u3000/]+")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class PhoneNumber(NamedTuple):
    """A normalised number: ``key`` is what the database stores and matches on.

    A named tuple rather than a frozen dataclass: every live lookup makes one, and a frozen
    dataclass costs several times as much to build."""

    key: str
    kind: str  # mobile | landline | local | short | other
    extension: str = ""


def _is_mobile(digits: str) -> bool:
    """``_MOBILE.match(digits)`` without the regex call, for a string of digits."""
    return len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789" and digits.isdecimal()


def _area_code_length(national: str) -> int:
    """Length of the area code (without trunk 0) at the start of a national landline number.

    010 (Beijing) and 02x are two digits; every other Chinese area code is three (0755, 0571...).
    """
    if national.startswith(("10", "2")):
        return 2
    return 3


def _split_extension(text: str) -> tuple[str, str]:
    """Separate ``0755-12345678-801`` / ``... ext 801`` / ``...转801`` into number and extension."""
    stripped = text.strip()
    m = _EXT_MARK.search(stripped)
    if m and m.start() > 0:
        return stripped[: m.start()], m.group(1)
    parts = re.split(r"[\s\-]+", stripped)
    if len(parts) >= 3 and parts[-1].isdigit() and len(parts[-1]) <= 6:
        # A trailing group is an extension only when what precedes it is already a whole number.
        head = " ".join(parts[:-1])
        if _core(head).kind in ("mobile", "landline"):
            return head, parts[-1]
    return stripped, ""


def normalise(raw: str | None, default_area_code: str = "") -> PhoneNumber:
    """Canonical form of a phone number as text (CLI, CSV cell, operator input).

    ``default_area_code`` (e.g. ``"755"``) completes 7-8 digit local landline numbers; without it
    they stay as they are (kind ``local``). Returns kind ``other`` with the bare digits for anything
    that is not recognisably Chinese, so unknown formats still match themselves.
    """
    if raw is None:
        return PhoneNumber("", "other")
    text = str(raw)
    if text.isascii() and (text.isdigit() or (text[:1] == "+" and text[1:].isdigit())):
        # The usual CLI: plain digits, perhaps after a "+". No extension mark, no separator: the
        # regular expressions below would leave it as it is (most of the cost of a live lookup's
        # caller key).
        return _classify(text[1:], True, default_area_code) if text[0] == "+" else \
            _classify(text, False, default_area_code)
    text, extension = _split_extension(text)
    number = _core(text, default_area_code)
    return PhoneNumber(number.key, number.kind, extension)


def _core(text: str, default_area_code: str = "") -> PhoneNumber:
    """Normalise a number that carries no extension."""
    text = _SEPARATORS.sub("", text)
    return _classify(re.sub(r"\D", "", text), text.startswith("+"), default_area_code)


def _classify(digits: str, international: bool, default_area_code: str) -> PhoneNumber:
    """The key and kind of a number given as its digits alone (and whether a "+" came first)."""
    extension = ""
    if not digits:
        return PhoneNumber("", "other", extension)

    if international:
        if not digits.startswith("86"):
            return PhoneNumber("+" + digits, "other", extension)
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        # No national key is longer than 11 digits, and no area code begins with 86.
        digits = digits[2:]

    if digits.startswith(_CARRIER_PREFIXES):
        for prefix in _CARRIER_PREFIXES:
            rest = digits[len(prefix):]
            if digits.startswith(prefix) and (_is_mobile(rest) or _is_mobile(rest.lstrip("0"))
                                              or (rest.startswith("0") and len(rest) in (11, 12))):
                digits = rest
                break

    if digits.startswith("0"):
        national = digits.lstrip("0")
        if _is_mobile(national):
            return PhoneNumber(national, "mobile", extension)
        area_len = _area_code_length(national)
        local = national[area_len:]
        if 7 <= len(local) <= 8:
            return PhoneNumber(national, "landline", extension)
        return PhoneNumber(national, "other", extension)

    if _is_mobile(digits):
        return PhoneNumber(digits, "mobile", extension)
    if len(digits) in (10, 11) and not digits.startswith("1") or digits.startswith("10") and len(digits) == 10:
        # Landline written without its trunk 0 (the canonical form itself, or +86 forms).
        local = digits[_area_code_length(digits):]
        if 7 <= len(local) <= 8:
            return PhoneNumber(digits, "landline", extension)
    if len(digits) in (7, 8) and digits[0] not in "01":
        if default_area_code:
            return PhoneNumber(default_area_code.lstrip("0") + digits, "landline", extension)
        return PhoneNumber(digits, "local", extension)
    if len(digits) <= 6:
        return PhoneNumber(digits, "short", extension)
    return PhoneNumber(digits, "other", extension)


def normalise_key(raw: str | None, default_area_code: str = "") -> str:
    """Just the lookup key of :func:`normalise`."""
    return normalise(raw, default_area_code).key


def normalise_prefix(raw: str) -> str:
    """Normalise a blacklist prefix the way numbers are normalised, without requiring full length.

    ``+86170``, ``0086170`` and ``170`` all become ``170``; ``0755`` becomes ``755`` (landline keys
    carry no trunk 0).
    """
    text = _SEPARATORS.sub("", raw.strip())
    international = text.startswith("+")
    digits = re.sub(r"\D", "", text)
    if international and digits.startswith("86"):
        digits = digits[2:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits.lstrip("0")


_MASK_RUN = re.compile(r"(?<![\w])\+?\d[\d \-]{5,}\d(?![\w])")
_ASCII_DIGIT = re.compile(r"[0-9]")
_ANY_DIGIT = re.compile(r"\d")


def mask_phone(number: str | None) -> str:
    """Hide every digit but the last four (``13812345678`` -> ``*******5678``).

    Separators and a leading ``+`` keep their places so the shape stays readable in logs.
    """
    if not number:
        return ""
    text = str(number)
    if text.isascii():  # the usual case, at C speed: one log line per call masks a number or two
        if text.isdigit():
            return "*" * (len(text) - 4) + text[-4:] if len(text) > 4 else text
        keep_from = len(text) - len(text.encode().translate(None, b"0123456789")) - 4
        return _ASCII_DIGIT.sub("*", text, count=keep_from) if keep_from > 0 else text
    total = sum(ch.isdigit() for ch in text)
    keep_from = total - 4
    out, seen = [], 0
    for ch in text:
        if ch.isdigit():
            out.append(ch if seen >= keep_from else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_phones_in(text: str) -> str:
    """Mask every phone-like digit run (7+ digits, separators allowed) inside free text."""
    if _ANY_DIGIT.search(text) is None:
        return text  # most log fields (names, statuses): a third of the cost of a fruitless sub

    def _mask(m: re.Match[str]) -> str:
        run = m.group(0)
        if sum(ch.isdigit() for ch in run) < 7:
            return run
        return mask_phone(run)

    return _MASK_RUN.sub(_mask, text)
