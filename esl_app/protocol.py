"""FreeSWITCH Event Socket framing, without I/O (feed bytes in, get messages out).

Shared by everything in hotline that speaks ESL: the simulator's outbound ``socket``
connections, the inbound ESL server, esl_app's own tests.  Modelled on h11: the caller owns
the socket; a :class:`Reader` buffers whatever bytes arrive (split anywhere, even inside a
multi-byte character) and hands out complete messages; serializers build the bytes to send.

Wire format (mod_event_socket):

- a message is a block of ``Name: value`` lines ended by an empty line; if it has a
  ``Content-Length`` header, exactly that many **bytes** of body follow;
- commands (what a controlling app sends to FreeSWITCH) use the same framing, but the first
  line is the command itself (``connect``, ``api status``, ``sendmsg <uuid>``...);
- ``text/event-plain`` bodies are themselves a header block whose values are URL-encoded,
  optionally followed by their own ``Content-Length`` and body; ``text/event-json`` bodies
  are a JSON object (``_body`` holds the event body).

Problems are returned as :class:`ProtocolError` values (never raised): a malformed
``Content-Length``, an over-long header block, or a stream that ends in the middle of a
message.  After an error the reader keeps returning it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass
class Message:
    """One framed message: its header lines (in order) and its body bytes."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return default

    @property
    def content_type(self) -> str:
        return self.get("Content-Type", "") or ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def as_dict(self) -> dict[str, str]:
        return dict(self.headers)


@dataclass
class Command:
    """A command sent to FreeSWITCH: ``line`` is its first line, ``name`` its first word."""

    line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def name(self) -> str:
        return self.line.split(" ", 1)[0].lower() if self.line else ""

    @property
    def args(self) -> str:
        parts = self.line.split(" ", 1)
        return parts[1].strip() if len(parts) > 1 else ""

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return default

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Event:
    """A FreeSWITCH event: decoded headers and optional body text."""

    headers: dict[str, str]
    body: str | None = None

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)


@dataclass(frozen=True)
class ProtocolError:
    """Why the byte stream cannot be read further (a value, not an exception)."""

    message: str
    offset: int = 0


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


class _Closed:
    def __repr__(self) -> str:
        return "CLOSED"


NEED_DATA = _NeedData()
CLOSED = _Closed()

COMMANDS = "commands"
MESSAGES = "messages"


class Reader:
    """Incremental parser.  ``kind`` is :data:`COMMANDS` (we are FreeSWITCH, reading what the
    controlling app sends) or :data:`MESSAGES` (we are the app, reading replies and events).

    Use: ``reader.feed(data)`` whenever bytes arrive (``feed(b"")`` at end of stream), then
    call ``reader.next()`` until it returns :data:`NEED_DATA` (wait for more bytes),
    :data:`CLOSED` (clean end of stream) or a :class:`ProtocolError`.
    """

    def __init__(self, kind: str = MESSAGES):
        if kind not in (COMMANDS, MESSAGES):
            raise ValueError("kind must be COMMANDS or MESSAGES")
        self.kind = kind
        self._buf = bytearray()
        self._eof = False
        self._error: ProtocolError | None = None
        self._consumed = 0
        self._pending: tuple[list[str], int] | None = None  # header lines, body length

    def feed(self, data: bytes) -> None:
        if not data:
            self._eof = True
            return
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next(self) -> Message | Command | ProtocolError | _NeedData | _Closed:
        if self._error is not None:
            return self._error
        if self._pending is None:
            # skip blank lines between messages
            while self._buf[:1] in (b"\n", b"\r") and self._buf:
                del self._buf[:1]
                self._consumed += 1
            end, sep_len = self._find_header_end()
            if end < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    return self._fail("header block longer than %d bytes without an empty line" % MAX_HEADER_BYTES)
                if self._eof:
                    if self._buf.strip():
                        return self._fail("stream ended inside a header block (%d bytes unread)" % len(self._buf))
                    return CLOSED
                return NEED_DATA
            raw = bytes(self._buf[:end])
            del self._buf[:end + sep_len]
            self._consumed += end + sep_len
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return self._fail("header block is not UTF-8")
            lines = [ln.rstrip("\r") for ln in text.split("\n")]
            length = 0
            for ln in lines[1:] if self.kind == COMMANDS else lines:
                k, sep, v = ln.partition(":")
                if sep and k.strip().lower() == "content-length":
                    v = v.strip()
                    if not v.isdigit():
                        return self._fail(f"Content-Length must be a non-negative integer, got {v!r}")
                    length = int(v)
                    if length > MAX_BODY_BYTES:
                        return self._fail("Content-Length %d exceeds the %d byte limit" % (length, MAX_BODY_BYTES))
            self._pending = (lines, length)
        lines, length = self._pending
        if len(self._buf) < length:
            if self._eof:
                return self._fail("peer closed the stream %d bytes into a %d byte body"
                                  % (len(self._buf), length))
            return NEED_DATA
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._consumed += length
        self._pending = None
        if self.kind == COMMANDS:
            return Command(line=lines[0].strip(), headers=_split_headers(lines[1:]), body=body)
        return Message(headers=_split_headers(lines), body=body)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Yield every complete message now buffered (stops at NEED_DATA/CLOSED/error)."""
        while True:
            item = self.next()
            if item is NEED_DATA or item is CLOSED or isinstance(item, ProtocolError):
                return
            yield item

    def _find_header_end(self) -> tuple[int, int]:
        i = self._buf.find(b"\n\n")
        j = self._buf.find(b"\r\n\r\n")
        if j >= 0 and (i < 0 or j < i):
            return j, 4
        return i, 2 if i >= 0 else 0

    def _fail(self, message: str) -> ProtocolError:
        self._error = ProtocolError(message, self._consumed)
        return self._error


def _split_headers(lines: Iterable[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for ln in lines:
        if not ln:
            continue
        k, sep, v = ln.partition(":")
        if not sep:
            if out:  # continuation of a multi-line value
                out[-1] = (out[-1][0], out[-1][1] + "\n" + ln)
            continue
        out.append((k.strip(), v.removeprefix(" ")))
    return out


# ---- events ---------------------------------------------------------------------------------
def parse_event(msg: Message) -> Event | ProtocolError:
    """Decode the event carried by a ``text/event-plain|json|xml`` message."""
    ctype = msg.content_type
    if ctype == "text/event-plain":
        return parse_event_plain(msg.body)
    if ctype == "text/event-json":
        try:
            data = json.loads(msg.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            return ProtocolError(f"text/event-json body is not JSON: {err}")
        if not isinstance(data, dict):
            return ProtocolError("text/event-json body is not an object")
        body = data.pop("_body", None)
        return Event({str(k): str(v) for k, v in data.items()}, body if body is None else str(body))
    if ctype == "text/event-xml":
        return _parse_event_xml(msg.body)
    return ProtocolError(f"not an event: Content-Type {ctype!r}")


def parse_event_plain(body: bytes) -> Event | ProtocolError:
    inner = Reader(MESSAGES)
    inner.feed(body)
    inner.feed(b"")
    item = inner.next()
    if isinstance(item, ProtocolError):
        return item
    if not isinstance(item, Message):
        return ProtocolError("empty event body")
    headers = {k: unquote(v) for k, v in item.headers if k != "Content-Length"}
    text = item.text if item.get("Content-Length") is not None else None
    return Event(headers, text)


def _parse_event_xml(body: bytes) -> Event | ProtocolError:
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        return ProtocolError(f"text/event-xml body is not XML: {err}")
    headers: dict[str, str] = {}
    hdrs = root.find("headers")
    if hdrs is not None:
        for h in hdrs:
            headers[h.tag] = unquote(h.text or "")
    b = root.find("body")
    return Event(headers, b.text if b is not None else None)


# ---- serializers ----------------------------------------------------------------------------
def _items(headers: Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _block(headers: list[tuple[str, str]]) -> bytes:
    for k, v in headers:
        if "\n" in k or "\n" in v or ":" in k:
            raise ValueError(f"header {k!r} cannot be framed (newline or colon)")
    return "".join(f"{k}: {v}\n" for k, v in headers).encode("utf-8")


_URL_UNSAFE = frozenset(b"\r\n #%&+:;<=>?@[\\]^`{|}\"")
_HEX = b"0123456789ABCDEFabcdef"


def url_encode(value: str) -> str:
    """switch_url_encode: control bytes, non-ASCII bytes and ``SWITCH_URL_UNSAFE`` characters
    become %XX (of the UTF-8 bytes); an existing %XX escape is left as it is."""
    raw = value.encode("utf-8")
    out = bytearray()
    n = len(raw)
    for i, b in enumerate(raw):
        if b == 0x25 and i + 2 < n and raw[i + 1] in _HEX and raw[i + 2] in _HEX:
            out.append(b)
        elif b < 0x20 or b > 0x7E or b in _URL_UNSAFE:
            out += b"%%%02X" % b
        else:
            out.append(b)
    return out.decode("ascii")


def decoded_headers(msg: Message) -> dict[str, str]:
    """Header values URL-decoded (the outbound ``connect`` reply is URL-encoded like an event)."""
    return {k: unquote(v) for k, v in msg.headers}


def encode_command(line: str, headers: Headers | None = None, body: bytes | str | None = None) -> bytes:
    """A command to FreeSWITCH, e.g. ``encode_command("sendmsg", {"call-command": "execute"})``."""
    if "\n" in line:
        raise ValueError("a command line cannot contain a newline")
    items = _items(headers)
    data = body.encode("utf-8") if isinstance(body, str) else body
    if data:
        items.append(("Content-Length", str(len(data))))
    return line.encode("utf-8") + b"\n" + _block(items) + b"\n" + (data or b"")


def encode_message(headers: Headers, body: bytes | str | None = None) -> bytes:
    items = [(k, v) for k, v in _items(headers) if k != "Content-Length"]
    data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    if data:
        items.append(("Content-Length", str(len(data))))
    return _block(items) + b"\n" + data


def encode_reply(reply_text: str, headers: Headers | None = None) -> bytes:
    """``command/reply`` (``+OK ...`` / ``-ERR ...``), optionally with more headers."""
    items = [("Content-Type", "command/reply"), ("Reply-Text", reply_text)] + _items(headers)
    return _block(items) + b"\n"


def encode_api_response(text: str) -> bytes:
    data = text.encode("utf-8")
    return _block([("Content-Type", "api/response"), ("Content-Length", str(len(data)))]) + b"\n" + data


def encode_auth_request() -> bytes:
    return b"Content-Type: auth/request\n\n"


def encode_rude_rejection(text: str = "Access Denied, go away.\n") -> bytes:
    data = text.encode("utf-8")
    return _block([("Content-Type", "text/rude-rejection"), ("Content-Length", str(len(data)))]) + b"\n" + data


def encode_disconnect_notice(session_uuid: str | None = None, linger: bool = False,
                             text: str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
                             ) -> bytes:
    items = [("Content-Type", "text/disconnect-notice")]
    if session_uuid:
        items.append(("Controlled-Session-UUID", session_uuid))
    items.append(("Content-Disposition", "linger" if linger else "disconnect"))
    data = text.encode("utf-8")
    items.append(("Content-Length", str(len(data))))
    return _block(items) + b"\n" + data


def serialize_event_plain(headers: Headers, body: str | None = None) -> bytes:
    """The event itself as FreeSWITCH serializes it (URL-encoded values)."""
    out = "".join(f"{k}: {url_encode(v)}\n" for k, v in _items(headers))
    if body is not None:
        data = body.encode("utf-8")
        return out.encode("utf-8") + ("Content-Length: %d\n\n" % len(data)).encode() + data
    return out.encode("utf-8") + b"\n"


def encode_event(headers: Headers, body: str | None = None, fmt: str = "plain") -> bytes:
    """A framed event message in ``plain`` or ``json`` format."""
    if fmt == "json":
        obj = dict(_items(headers))
        if body is not None:
            obj["_body"] = body
        payload = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        ctype = "text/event-json"
    else:
        payload = serialize_event_plain(headers, body)
        ctype = "text/event-plain"
    return _block([("Content-Length", str(len(payload))), ("Content-Type", ctype)]) + b"\n" + payload
