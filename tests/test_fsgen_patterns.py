"""Menu option keys: exact regexes for ranges and patterns, overlaps."""

from __future__ import annotations

import re

import pytest

from fsgen.patterns import OptionError, menu_regex, parse_option


@pytest.mark.parametrize("lo, hi", [("0", "9"), ("10", "99"), ("1000", "1099"), ("1000", "1234"),
                                    ("0100", "2999"), ("385", "412"), ("007", "993")])
def test_ranges_match_exactly_their_numbers(lo: str, hi: str) -> None:
    key = parse_option(f"{lo}-{hi}")
    rx = re.compile(f"^(?:{key.regex})$")
    width = len(lo)
    for value in range(10 ** width):
        text = str(value).zfill(width)
        assert bool(rx.match(text)) == (int(lo) <= value <= int(hi)), text


@pytest.mark.parametrize("text, yes, no", [
    ("1XXX", ["1000", "1999"], ["2000", "100"]),
    ("9N", ["92", "99"], ["90", "91"]),
    ("Z0", ["10", "90"], ["00"]),
    ("[1-35]", ["1", "3", "5"], ["4", "0"]),
    ("*", ["*"], ["#", "1"]),
    ("#", ["#"], ["*"]),
    ("12", ["12"], ["1", "2"]),
])
def test_patterns(text: str, yes: list[str], no: list[str]) -> None:
    rx = re.compile(f"^(?:{parse_option(text).regex})$")
    assert all(rx.match(s) for s in yes)
    assert not any(rx.match(s) for s in no)


def test_overlaps() -> None:
    assert parse_option("1050").overlaps(parse_option("1000-1099"))
    assert parse_option("1XXX").overlaps(parse_option("1500-2500"))
    assert parse_option("[2-4]").overlaps(parse_option("N"))
    assert not parse_option("1").overlaps(parse_option("12"))  # a prefix, not the same keys
    assert not parse_option("1000-1099").overlaps(parse_option("1100-1199"))


@pytest.mark.parametrize("text, message", [
    ("100-1099", "needs ends of the same length"),
    ("20-10", "runs backwards"),
    ("1A", "may contain only digits"),
    ("[1-", "has '[' without ']'"),
    ("", "cannot be empty"),
])
def test_bad_keys(text: str, message: str) -> None:
    with pytest.raises(OptionError, match=re.escape(message)):
        parse_option(text)


def test_menu_regex() -> None:
    keys = [parse_option(t) for t in ("1", "2", "*", "8100-8199")]
    assert menu_regex(keys) == r"^(1|2|\*|81\d{2})$"
