"""Structured logs with phone numbers masked.

Every record becomes one line: a JSON object (default) or ``key=value`` pairs. Callers pass fields
with ``extra={"fields": {...}}`` (see :func:`event`). The :class:`PhoneMaskFilter` runs before any
handler formats the record and masks every phone-like value beyond its last four digits, both in
named fields and inside free text, so a careless message cannot leak a caller's number.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from typing import Any

from .phone import mask_phone, mask_phones_in

# Field names whose values are phone numbers whatever they look like.
PHONE_FIELDS = frozenset({"caller", "callee", "number", "phone", "did", "destination", "cli"})
# A call's UUID is how log lines are correlated; its digit groups must not be taken for a number.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_FIELDS = frozenset({"uuid", "call_uuid"})


def mask_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with every phone-like value masked (see :class:`PhoneMaskFilter`)."""
    masked: dict[str, Any] = {}
    for key, value in fields.items():
        if key in PHONE_FIELDS:
            masked[key] = value if value is None or value == "" else mask_phone(str(value))
        elif isinstance(value, str):
            masked[key] = value if key in _UUID_FIELDS and _UUID.fullmatch(value) else mask_phones_in(value)
        elif value is None or isinstance(value, (int, float)):
            masked[key] = value  # counts, ids, durations
        else:  # an exception, a list...: written as its text, so its text is masked
            masked[key] = mask_phones_in(str(value))
    return masked


class PhoneMaskFilter(logging.Filter):
    """Mask phone numbers in a record's message, arguments and structured fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = mask_phones_in(message)
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = mask_fields(fields)
        return True


class StructuredFormatter(logging.Formatter):
    def __init__(self, style_name: str = "json"):
        super().__init__()
        self.style_name = style_name

    _second: int = -1
    _stamp: str = ""

    def format(self, record: logging.LogRecord) -> str:
        error = None
        if record.exc_info and record.exc_info[0] is not None:
            exc = record.exc_info[1]
            error = mask_phones_in(f"{type(exc).__name__}: {exc}")
        return self.line(record.created, int(record.msecs), record.levelname.lower(), record.name,
                         record.getMessage(), getattr(record, "fields", None), error)

    def stamp(self, created: float, msecs: int) -> str:
        """The line's UTC time, ``2026-11-23T07:29:58.972Z``."""
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{msecs:03d}Z"

    def line(self, created: float, msecs: int, level: str, logger: str, msg: str, fields: Any,
             error: str | None = None) -> str:
        """One record as text, from its parts (so :func:`event` can skip building a LogRecord)."""
        data: dict[str, Any] = {"ts": self.stamp(created, msecs), "level": level, "logger": logger, "msg": msg}
        if isinstance(fields, dict):
            if data.keys().isdisjoint(fields):
                data.update(fields)
            else:
                for key, value in fields.items():
                    data.setdefault(key, value)
        if error is not None:
            data["error"] = error
        if self.style_name == "json":
            return _JSON.encode(data)
        return " ".join(f"{k}={_kv(v)}" for k, v in data.items())


# json.dumps(data, ensure_ascii=False, default=str) builds this encoder anew on every call.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def _kv(value: Any) -> str:
    text = str(value)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes through a block buffer flushed by :meth:`tick` (every 0.25 s from the server) and at
    once for warnings and errors, instead of one write system call per record: at hundreds of
    calls per second a line per call (``lookups done``, at debug level) would otherwise cost a
    noticeable share of a core."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._lazy = True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.stream.flush()
        except Exception:  # noqa: BLE001 - logging must never take a call down
            self.handleError(record)

    def flush(self) -> None:
        if not self._lazy:
            super().flush()

    def tick(self) -> None:
        with contextlib.suppress(Exception):
            self.stream.flush()


def setup_logging(level: str = "info", style: str = "json", stream: Any = None,
                  buffered: bool = False) -> logging.Handler:
    """Route the root logger through the masking filter and structured formatter (idempotent)."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_hotline", False):
            root.removeHandler(existing)
    if buffered:
        target = stream
        if target is None:
            try:
                target = open(sys.stderr.fileno(), "w", buffering=1 << 16, encoding="utf-8",  # noqa: SIM115
                              errors="replace", closefd=False)
            except (OSError, ValueError, AttributeError):  # no real file behind stderr (e.g. a test runner)
                target = sys.stderr
        handler: logging.Handler = BufferedStreamHandler(target)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    mask = PhoneMaskFilter()
    formatter = StructuredFormatter(style)
    handler.addFilter(mask)
    handler.setFormatter(formatter)
    handler._hotline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    global _direct
    _direct = _DirectLine(handler, mask, formatter) if isinstance(handler, BufferedStreamHandler) else None
    root.setLevel(level.upper())
    # The records' source file, thread and process are never written: skip collecting them
    # (the logging HOWTO's "Optimization"; a line per call costs a third less).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # greenswitch logs every call at INFO with the caller's number in the text; keep it quieter.
    logging.getLogger("greenswitch").setLevel(logging.WARNING)
    return handler


class _DirectLine:
    """The buffered handler of :func:`setup_logging`, written to without a LogRecord.

    With ``logging.level: debug`` a busy server logs a line per call; much of that line's cost was
    the logging package's own machinery (building a LogRecord, walking loggers and handlers). While
    that handler is the only one any record would reach, with only its masking filter, :func:`event`
    masks and formats the line itself, exactly as the filter and formatter would; anything else
    configured (another handler, a filter, a logger that does not propagate) sends records the
    usual way.
    """

    def __init__(self, handler: BufferedStreamHandler, mask: PhoneMaskFilter, formatter: StructuredFormatter):
        self.handler = handler
        self.handlers = [handler]
        self.filters = [mask]
        self.formatter = formatter
        self.root = logging.getLogger()
        self.levels: dict[int, str] = {}

    def takes(self, logger: logging.Logger, level: int) -> bool:
        handler, root = self.handler, self.root
        if (level < handler.level or handler.filters != self.filters or handler.formatter is not self.formatter
                or root.handlers != self.handlers or root.filters):
            return False
        node: logging.Logger | None = logger
        while node is not root:
            if node is None or node.handlers or node.filters or not node.propagate:
                return False
            node = node.parent
        return True

    def write(self, logger: logging.Logger, level: int, msg: str, fields: dict[str, Any]) -> None:
        created = time.time()
        name = self.levels.get(level)
        if name is None:
            name = self.levels[level] = logging.getLevelName(level).lower()
        handler = self.handler
        try:
            msecs = int((created - int(created)) * 1000)
            line = self.json_line(created, msecs, name, logger.name, msg, fields) \
                if self.formatter.style_name == "json" else None
            if line is None:
                line = self.formatter.line(created, msecs, name, logger.name, mask_phones_in(msg), mask_fields(fields))
            handler.acquire()
            try:
                handler.stream.write(line + handler.terminator)
                if level >= logging.WARNING:
                    handler.stream.flush()
            finally:
                handler.release()
        except Exception:  # noqa: BLE001 - logging must never take a call down
            logger.log(level, msg, extra={"fields": fields})

    def json_line(self, created: float, msecs: int, level: str, logger: str, msg: str,
                  fields: dict[str, Any]) -> str | None:
        """The formatter's JSON line with the fields masked as :func:`mask_fields` does, in one
        pass; None for anything but text, numbers, booleans and None, or a field named like the
        record's own keys (the formatter's general way handles those)."""
        if not _RECORD_KEYS.isdisjoint(fields):
            return None
        head = (f'{{"ts": "{self.formatter.stamp(created, msecs)}", "level": {_quote(level)}, "logger": {_quote(logger)}, '
                f'"msg": {_quote(mask_phones_in(msg))}')
        parts = [head]
        for key, value in fields.items():
            kind = type(value)
            if key in PHONE_FIELDS:
                if value is None:
                    parts.append(f", {_quote(key)}: null")
                    continue
                parts.append(f", {_quote(key)}: {_quote(mask_phone(str(value)) if value != '' else value)}")
            elif kind is str:
                if not (key in _UUID_FIELDS and _UUID.fullmatch(value)):
                    value = mask_phones_in(value)
                parts.append(f", {_quote(key)}: {_quote(value)}")
            elif kind is int or (kind is float and value - value == 0):  # finite floats only
                parts.append(f", {_quote(key)}: {value!r}")
            elif value is None:
                parts.append(f", {_quote(key)}: null")
            elif kind is bool:
                parts.append(f", {_quote(key)}: {'true' if value else 'false'}")
            else:
                return None
        parts.append("}")
        return "".join(parts)


_RECORD_KEYS = frozenset({"ts", "level", "logger", "msg"})
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]  # a JSON string (C), as ensure_ascii=False writes it
_direct: _DirectLine | None = None


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured fields (phone-like fields are masked by the filter)."""
    if logger.isEnabledFor(level):
        direct = _direct
        if direct is not None and direct.takes(logger, level):
            direct.write(logger, level, msg, fields)
        else:
            logger.log(level, msg, extra={"fields": fields})
