"""read and play_and_get_digits (switch_ivr_read / switch_play_and_get_digits)."""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from .. import media
from ..channel import Channel
from ..cstr import atoi
from . import application
from .args import separate


@dataclass
class ReadResult:
    status: str          # success | timeout | too_small | failure | restart
    digits: str


#: mod_dptools' read and play_and_get_digits hand switch_ivr_read a 128-byte digit buffer
DIGIT_BUFFER = 128


def read_digits(chan: Channel, min_digits: int, max_digits: int, prompt: str | None,
                var_name: str | None, timeout_ms: int, terminators: str | None,
                digit_timeout_ms: int) -> Generator[Any, Any, ReadResult]:
    """switch_ivr_read: prompt (first digit barges in), then collect; sets read_result."""
    term_required = bool(terminators) and terminators.startswith("=")  # type: ignore[union-attr]
    terms = (terminators or "").lstrip("=")
    if not digit_timeout_ms:
        digit_timeout_ms = timeout_ms
    max_digits = max(max_digits, min_digits)
    chan.set_var("read_result", None)
    if var_name:
        chan.set_var(var_name, None)
    if (min_digits and DIGIT_BUFFER < min_digits) or DIGIT_BUFFER < max_digits:
        chan.sim.trace.add(chan, "log", level="ERR", text="Buffer too small!")
        return ReadResult("failure", "")
    chan.pre_answer()
    buf = ""
    status = "success"
    if prompt and prompt.lower() != "silence":
        res = yield from media.play(chan, prompt, dtmf=media.BUFFER)
        if res.status == "hangup":
            return ReadResult("failure", "")
        if res.digit:
            buf = res.digit
    if not chan.ready:
        return ReadResult("failure", buf)
    terminator = ""
    if ((min_digits and len(buf) < min_digits) or len(buf) < max_digits) and terms:
        # switch_ivr_collect_digits_count looks for a terminator in what the buffer already holds
        # (the digit that cut the prompt) before waiting for more
        chars = _term_chars(terms)
        cut = next((i for i, c in enumerate(buf) if c in chars), -1)
        if cut >= 0:
            buf, terminator = buf[:cut], buf[cut]
    if not terminator and ((min_digits and len(buf) < min_digits) or len(buf) < max_digits):
        col = yield from media.collect_digits(
            chan, buf, max_digits, _term_chars(terms),
            (digit_timeout_ms if buf else timeout_ms) / 1000.0, digit_timeout_ms / 1000.0, 0.0)
        buf, terminator = col.digits, col.terminator
        status = "success" if col.status == "success" else ("timeout" if col.status == "timeout" else "failure")
    if terminator:
        chan.set_var("read_terminator_used", terminator)
        pos = terms.find(terminator)
        if pos >= 1 and terms[pos - 1] in "+x":
            buf += terminator
            if terms[pos - 1] == "x":
                status = "restart"
    elif term_required:
        status = "too_small"
    if min_digits and len(buf) < min_digits:
        status = "too_small"
    chan.set_var("read_result", {"success": "success", "timeout": "timeout"}.get(status, "failure"))
    if status != "restart" and max_digits == 1 and len(buf) == 1 and terms and buf in _term_chars(terms):
        buf = ""
    if var_name and buf:
        chan.set_var(var_name, buf)
    return ReadResult(status, buf)


def _regex_match(regex: str, digits: str) -> bool:
    """switch_regex_match: the expression as written (no /.../ form); one that does not
    compile logs an error and matches nothing."""
    try:
        return re.search(regex, digits) is not None
    except re.error:
        return False


def _term_chars(terms: str) -> str:
    """Terminator digits without the ``+``/``x`` modifiers written before them."""
    return "".join(c for i, c in enumerate(terms) if not (c in "+x" and i + 1 < len(terms)))


def play_and_get(chan: Channel, min_digits: int, max_digits: int, tries: int, timeout: int, terminators: str,
                 prompt: str | None, invalid: str | None, var_name: str | None, regex: str | None,
                 digit_timeout: int) -> Generator[Any, Any, bool]:
    """switch_play_and_get_digits up to the transfer on failure; True when it returns SUCCESS
    (or RESTART, which the callers treat alike)."""
    if regex and var_name:
        chan.set_var(var_name + "_invalid", None)
    while chan.ready and tries > 0:
        res = yield from read_digits(chan, min_digits, max_digits, prompt, var_name, timeout, terminators,
                                     digit_timeout)
        if res.status == "restart":
            return True
        status = res.status
        if status == "timeout" and len(res.digits) >= min_digits:
            status = "success"
        if min_digits == 0 and not res.digits and chan.var("read_terminator_used") is not None:
            return True
        if status == "success" and res.digits:
            if not regex:
                return True
            if _regex_match(regex, res.digits):
                return True
            if var_name:
                chan.set_var(var_name, None)
                chan.set_var(var_name + "_invalid", res.digits)
        if not chan.ready:
            break
        if invalid:
            yield from media.play(chan, invalid, dtmf=media.NO_INPUT)
        tries -= 1
    return False


@application("play_and_get_digits")
def play_and_get_digits(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``<min> <max> <tries> <timeout> <terminators> <file> <invalid_file> [<var_name> [<regexp>
    [<digit_timeout> [<transfer_on_failure>]]]]`` (the last argument keeps its spaces:
    ``8099 XML default``)."""
    argv = separate(data, maxparts=11)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "play_and_get_digits: no arguments specified")
        return
    arg = (lambda i: argv[i] if len(argv) > i else None)
    min_digits = max(atoi(argv[0]), 0)
    max_digits = max(atoi(arg(1)), min_digits)
    tries = atoi(arg(2)) % (1 << 32)   # handed on as uint32_t: -1 is 4294967295 tries
    timeout = max(atoi(arg(3)) if len(argv) > 3 else 1000, 1000)
    terminators = arg(4) or "#"
    prompt, invalid = arg(5), arg(6)
    var_name, regex = arg(7), arg(8)
    digit_timeout = max(atoi(arg(9)), 0)    # switch_atoui
    on_failure = arg(10)
    ok = yield from play_and_get(chan, min_digits, max_digits, tries, timeout, terminators, prompt, invalid,
                                 var_name, regex, digit_timeout)
    if ok:
        return
    if on_failure and chan.ready:
        target = separate(on_failure, maxparts=4)
        shown = (target + ["(null)"] * 3)[:3]
        chan.sim.trace.add(chan, "log", level="WARNING",
                           text="PAGD failure! Transfer to: {}".format(" / ".join(shown)))
        chan.transfer(target[0], target[1] if len(target) > 1 else "XML",
                      target[2] if len(target) > 2 else None)


@application("read")
def read(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``read <min> <max> <sound file> <variable name> <timeout> <terminators> [<digit_timeout>]``."""
    argv = separate(data, maxparts=7)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "read: no arguments specified")
        return
    arg = (lambda i: argv[i] if len(argv) > i else None)
    min_digits = max(atoi(argv[0]), 1)
    max_digits = max(atoi(arg(1)), min_digits)
    timeout = max(atoi(arg(4)) if len(argv) > 4 else 1000, 1000)
    yield from read_digits(chan, min_digits, max_digits, arg(2), arg(3), timeout, arg(5) or "#",
                           max(atoi(arg(6)), 0))
