"""read and play_and_get_digits (switch_ivr_read / switch_play_and_get_digits)."""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from .. import media
from ..channel import Channel
from . import application
from .args import separate


@dataclass
class ReadResult:
    status: str          # success | timeout | too_small | failure | restart
    digits: str


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
    if (min_digits and len(buf) < min_digits) or len(buf) < max_digits:
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


def _term_chars(terms: str) -> str:
    """Terminator digits without the ``+``/``x`` modifiers written before them."""
    return "".join(c for i, c in enumerate(terms) if not (c in "+x" and i + 1 < len(terms)))


def _int(s: str | None, default: int) -> int:
    try:
        return int(s) if s is not None and s != "" else default
    except ValueError:
        return default


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
    min_digits = max(_int(argv[0], 0), 0)
    max_digits = max(_int(arg(1), 0), min_digits)
    tries = _int(arg(2), 0)
    timeout = max(_int(arg(3), 1000), 1000)
    terminators = arg(4) or "#"
    prompt, invalid = arg(5), arg(6)
    var_name, regex = arg(7), arg(8)
    digit_timeout = _int(arg(9), 0)
    on_failure = arg(10)
    if regex and var_name:
        chan.set_var(var_name + "_invalid", None)
    while chan.ready and tries > 0:
        res = yield from read_digits(chan, min_digits, max_digits, prompt, var_name, timeout, terminators,
                                     digit_timeout)
        if res.status == "restart":
            return
        status = res.status
        if status == "timeout" and len(res.digits) >= min_digits:
            status = "success"
        if min_digits == 0 and not res.digits and chan.var("read_terminator_used") is not None:
            return
        if status == "success" and res.digits:
            if not regex:
                return
            if re.search(regex, res.digits):
                return
            if var_name:
                chan.set_var(var_name, None)
                chan.set_var(var_name + "_invalid", res.digits)
        if not chan.ready:
            break
        if invalid:
            yield from media.play(chan, invalid, dtmf=media.NO_INPUT)
        tries -= 1
    if on_failure and chan.ready:
        target = separate(on_failure, maxparts=4)
        chan.sim.trace.add(chan, "log", level="WARNING",
                           text="PAGD failure! Transfer to: {}".format(" / ".join(target[:3])))
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
    min_digits = max(_int(argv[0], 0), 1)
    max_digits = max(_int(arg(1), 0), min_digits)
    timeout = max(_int(arg(4), 1000), 1000)
    yield from read_digits(chan, min_digits, max_digits, arg(2), arg(3), timeout, arg(5) or "#",
                           _int(arg(6), 0))
