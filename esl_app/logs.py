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
            masked: dict[str, Any] = {}
            for key, value in fields.items():
                if key in PHONE_FIELDS:
                    masked[key] = value if value is None or value == "" else mask_phone(str(value))
                elif isinstance(value, str):
                    masked[key] = value if key in _UUID_FIELDS and _UUID.fullmatch(value) else mask_phones_in(value)
                else:
                    masked[key] = value
            record.fields = masked
        return True


class StructuredFormatter(logging.Formatter):
    def __init__(self, style_name: str = "json"):
        super().__init__()
        self.style_name = style_name

    _second: int = -1
    _stamp: str = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per line
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        data: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            if data.keys().isdisjoint(fields):
                data.update(fields)
            else:
                for key, value in fields.items():
                    data.setdefault(key, value)
        if record.exc_info and record.exc_info[0] is not None:
            exc = record.exc_info[1]
            data["error"] = mask_phones_in(f"{type(exc).__name__}: {exc}")
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
    calls per second the per-call info line would otherwise cost a noticeable share of a core."""

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
    handler.addFilter(PhoneMaskFilter())
    handler.setFormatter(StructuredFormatter(style))
    handler._hotline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The records' source file, thread and process are never written: skip collecting them
    # (the logging HOWTO's "Optimization"; a call's info line costs a third less).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # greenswitch logs every call at INFO with the caller's number in the text; keep it quieter.
    logging.getLogger("greenswitch").setLevel(logging.WARNING)
    return handler


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with structured fields (phone-like fields are masked by the filter)."""
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={"fields": fields})
