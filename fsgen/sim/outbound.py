"""The ``socket`` application's outbound Event Socket connection (mod_event_socket).

FreeSWITCH connects to the controlling app and answers its commands: ``connect`` (reply
carries all channel data), ``myevents``/``event``/``noevents``/``nixevent``/``filter``,
``linger``/``nolinger``, ``resume``, ``sendmsg`` (``execute`` with ``event-lock``/``loops``/
``Event-UUID``, ``hangup``), ``api``/``bgapi``, ``log``/``nolog``, ``divert_events``,
``exit``.  Framing is :mod:`esl_app.protocol`; this module is only the thin I/O adapter:
a non-blocking socket polled by the engine (see ``Engine._poll_io``), whose bytes are fed
to the sans-IO reader at the virtual time they arrived.

When the channel hangs up the app gets CHANNEL_HANGUP (if subscribed); then, lingering,
a ``text/disconnect-notice`` with ``Content-Disposition: linger`` and the socket stays open
until the app closes it or the linger time passes; otherwise the notice says
``disconnect`` and the socket is closed.  When the app closes the socket (or sends
``exit``) while the call is up, the dialplan continues after ``socket`` if ``resume`` was
sent, else the call is hung up -- as FreeSWITCH does.
"""

from __future__ import annotations

import math
import select
import selectors
import socket
import time as _time
from collections import deque
from typing import TYPE_CHECKING, Any

from esl_app import protocol as P

from .cstr import atoi
from .events import base_headers, channel_data, esl_event, url_encode
from .inbound import MYEVENTS

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel
    from .sim import Simulator

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")

_EPOLL = getattr(select, "epoll", None)
_EPOLLIN = getattr(select, "EPOLLIN", 1)

#: commands parse_command handles only for a ``full`` outbound socket (after its sendmsg branch)
_FULL_ONLY = frozenset({"sendevent", "api", "bgapi", "log", "linger", "nolinger", "nolog", "event",
                        "nixevent", "noevents"})

_REPLIES: dict[str, bytes] = {}   # command/reply text -> its encoding (no further headers)


class EslPoller:
    """All open Event Socket connections of one simulator (an engine I/O poller)."""

    spin_ok = True   # a non-blocking poll only reads what arrived (see Engine.spin_below)

    def __init__(self, sim: Simulator):
        self.sim = sim
        # a raw epoll where there is one (one per simulator, a connection or so per call): no
        # selectors bookkeeping per registration; it stays a pollable object, which `fsgen sim
        # serve` watches from its own selector
        self.sel: Any = _EPOLL() if _EPOLL is not None else selectors.DefaultSelector()
        self.conns: set[OutboundConnection] = set()
        self._fds: dict[OutboundConnection, int] = {}
        self._by_fd: dict[int, OutboundConnection] = {}
        sim.engine.io.append(self)

    @classmethod
    def of(cls, sim: Simulator) -> EslPoller:
        poller = sim.modules.get("esl_poller")
        if poller is None:
            poller = sim.modules["esl_poller"] = cls(sim)
        return poller

    def add(self, conn: OutboundConnection) -> None:
        self.conns.add(conn)
        if _EPOLL is None:
            self.sel.register(conn.sock, selectors.EVENT_READ, conn)
            return
        fd = conn.sock.fileno()
        self.sel.register(fd, _EPOLLIN)
        self._fds[conn] = fd
        self._by_fd[fd] = conn

    def remove(self, conn: OutboundConnection) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            if _EPOLL is None:
                try:
                    self.sel.unregister(conn.sock)
                except (KeyError, ValueError):
                    pass
                return
            fd = self._fds.pop(conn, None)
            if fd is not None:
                del self._by_fd[fd]
                try:
                    self.sel.unregister(fd)
                except (OSError, ValueError):   # as EpollSelector.unregister
                    pass

    def active(self) -> bool:
        return bool(self.conns)

    def realtime(self) -> bool:
        return any(c.awaiting for c in self.conns)

    def _ready(self, timeout: float | None) -> list[OutboundConnection]:
        """The connections with something to read (EpollSelector.select's timeout rules)."""
        if _EPOLL is None:
            return [key.data for key, _ in self.sel.select(timeout)]
        if timeout is None:
            wait = -1.0
        elif timeout <= 0:
            wait = 0.0
        else:   # epoll_wait() counts whole milliseconds: round up to wait at least ``timeout``
            wait = math.ceil(timeout * 1e3) * 1e-3
        by_fd = self._by_fd
        try:
            events = self.sel.poll(wait, max(len(by_fd), 1))
        except InterruptedError:
            return []
        return [by_fd[fd] for fd, _ in events if fd in by_fd]

    def poll(self, timeout: float | None) -> bool:
        engine = self.sim.engine
        started = _time.monotonic()
        got = False
        try:
            ready = self._ready(timeout)
        except (OSError, ValueError):
            ready = []
        for conn in ready:
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            got = True
            at = engine.now + (_time.monotonic() - started)
            if not data:
                self.remove(conn)
            engine.call_at(at, conn.on_bytes, data)
        return got

    def close_all(self) -> None:
        for conn in list(self.conns):
            conn.close(notify=True)

    def abort(self, why: str) -> None:
        for conn in list(self.conns):
            conn.sim.trace.error(conn.chan, "esl_timeout", f"Event Socket peer silent: {why}")
            conn.close(notify=False)


class OutboundConnection:
    """One ``socket`` application connection, FreeSWITCH side."""

    def __init__(self, chan: Channel, sock: socket.socket, async_mode: bool, full: bool):
        self.chan = chan
        self.sim = chan.sim
        self.sock = sock
        self.async_mode = async_mode
        self.full = full
        self.reader = P.Reader(P.COMMANDS)
        self.queue: deque[P.Command] = deque()
        self.events: set[str] | None = None     # None = not subscribed; "ALL" = everything
        self.event_format = "plain"
        self.my_events = False
        self.linger: float | None = None        # None = no linger, inf = forever
        self.resume = False
        self.closed = False
        self.connected = False
        self.hangup_handled = False
        self.poller = EslPoller.of(self.sim)
        self.poller.add(self)
        chan.listeners.append(self.on_channel_event)
        self.sim.listeners.append(self.on_any_event)
        self.app_uuid: str | None = None
        self.awaiting = False   # the channel is parked waiting for this app's next command

    # ---- bytes in -----------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        self.reader.feed(data)
        while not self.closed:
            item = self.reader.next()
            if item is P.NEED_DATA:
                return
            if item is P.CLOSED:
                self.peer_closed()
                return
            if isinstance(item, P.ProtocolError):
                self.sim.trace.error(self.chan, "esl_protocol", item.message)
                self.peer_closed()
                return
            assert isinstance(item, P.Command)
            self.on_command(item)

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):   # a full buffer: block for the rest, as sendall would
                self.sock.setblocking(True)
                self.sock.sendall(data[sent:])
                self.sock.setblocking(False)
        except OSError:
            self.peer_closed()

    def reply(self, text: str, headers: list[tuple[str, str]] | None = None) -> None:
        if headers:
            self.send(P.encode_reply(text, headers))
            return
        data = _REPLIES.get(text)     # "+OK", "+OK will linger"...: the same few bytes every hop
        if data is None:
            data = P.encode_reply(text)
            if len(_REPLIES) > 1024:
                _REPLIES.clear()
            _REPLIES[text] = data
        self.send(data)

    # ---- commands -----------------------------------------------------------------------
    def on_command(self, cmd: P.Command) -> None:
        name, args = cmd.name, cmd.args
        chan = self.chan
        if name == "connect":
            self.connected = True
            h = [("Event-Name", "CHANNEL_DATA")] + base_headers(self.sim, "CHANNEL_DATA")[1:] + channel_data(chan)
            h += [("Content-Type", "command/reply"), ("Reply-Text", "+OK"),
                  ("Socket-Mode", "async" if self.async_mode else "static"),
                  ("Control", "full" if self.full else "single-channel")]
            self.send(_encode_url_message(h))
        elif name == "resume":   # parse_command: LFLAG_RESUME and the channel variable socket_resume=true
            self.resume = True
            chan.set_var("socket_resume", "true")
            self.reply("+OK")
        elif name == "getvar":   # the reply text is the value itself ("" when unset)
            self.reply(chan.var(args.strip()) or "" if args.strip() else "")
        elif name == "myevents":
            if self.my_events:
                self.reply("-ERR aready enabled.")   # sic, parse_command
                return
            self.my_events = True
            # a fixed list of the session's channel events (parse_command), not ALL
            self.events = (self.events or set()) | set(MYEVENTS)
            low = args.lower()
            if "xml" in low:
                self.event_format = "xml"
            if "json" in low:
                self.event_format = "json"
            self.reply("+OK Events Enabled")
        elif name == "filter":
            self.reply(f"+OK filter added. [{args}]")
        elif name == "divert_events":
            onoff = args.strip()
            if not onoff:
                self.reply("-ERR missing value.")
            else:
                self.reply("+OK events diverted" if onoff.lower() == "on" else "+OK events not diverted")
        elif name == "sendmsg":
            self.on_sendmsg(cmd)
        elif name == "exit":
            self.reply("+OK bye")
            self.close(notify=True)
        elif not self.full or name not in _FULL_ONLY:
            # parse_command: an outbound socket without ``full`` stops after sendmsg; whatever is not
            # handled gets "-ERR command not found" (so does ``auth``: the listener is authed already)
            self.reply("-ERR command not found")
        elif name == "event":
            words = args.split()
            if words and words[0].lower() in ("plain", "xml", "json"):
                self.event_format = _fmt(words.pop(0))
            if not words:
                self.reply("-ERR no keywords supplied")
                return
            self.events = (self.events or set()) | {w.upper() for w in words}
            self.reply(f"+OK event listener enabled {self.event_format}")
        elif name == "noevents":
            if self.events is None:
                self.reply("-ERR not listening for events")
                return
            self.events = None
            self.my_events = False
            self.reply("+OK no longer listening for events")
        elif name == "nixevent":
            if self.events:
                self.events -= {w.upper() for w in args.split()}
            self.reply("+OK events nixed")
        elif name == "linger":
            # "linger N": atoi(N) seconds; bare "linger": forever (-1)
            arg = args.strip()
            if arg:
                self.linger = float(atoi(arg))
                self.reply(f"+OK will linger {int(self.linger)} seconds")
            else:
                self.linger = float("inf")
                self.reply("+OK will linger")
        elif name == "nolinger":
            self.linger = None
            self.reply("+OK will not linger")
        elif name in ("log", "nolog", "sendevent"):
            self.reply("+OK")
        elif name == "api":
            self.send(P.encode_api_response(self.sim.api(args, None)))
        elif name == "bgapi":
            from .channel import new_uuid
            job = cmd.get("Job-UUID") or new_uuid(self.sim)
            self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
            self.sim.engine.call_later(0.0, self._bgapi_done, job, args)

    def _bgapi_done(self, job: str, args: str) -> None:
        body = self.sim.api(args, None)
        if self.events and ("ALL" in self.events or "BACKGROUND_JOB" in self.events):
            h = base_headers(self.sim, "BACKGROUND_JOB") + [("Job-UUID", job), ("Job-Command", args)]
            self.send(P.encode_event(h, body, self.event_format))

    def on_sendmsg(self, cmd: P.Command) -> None:
        target = cmd.args
        if target and target != self.chan.uuid and target not in self.sim.channels:
            self.reply(f"-ERR invalid session id [{target}]")
            return
        command = (cmd.get("call-command") or "").lower()
        if command == "execute":
            if not cmd.get("execute-app-name"):
                self.reply("+OK")   # queued all the same; switch_ivr_parse_event runs nothing
                return
            self.queue.append(cmd)
            if self.async_mode:
                self.reply("+OK")
            self.chan.post("esl_cmd")
        elif command == "hangup":
            self.reply("+OK")
            from .apps.basic import cause_of
            self.chan.hangup(cause_of(cmd.get("hangup-cause") or ""))
        else:
            # parse_command queues any other message and replies +OK; switch_ivr_parse_event
            # ignores what it does not know (unicast, nomedia, xferext are not simulated)
            self.reply("+OK")

    def app_of(self, cmd: P.Command) -> tuple[str, str, int, str | None]:
        arg = cmd.get("execute-app-arg") or ""
        if not arg and cmd.body:
            arg = cmd.text
        try:
            loops = max(int(cmd.get("loops") or "1"), 1)
        except ValueError:
            loops = 1
        return cmd.get("execute-app-name") or "", arg, loops, cmd.get("Event-UUID")

    def executed(self, cmd: P.Command) -> None:
        """Called after a queued sendmsg execute ran (sync mode replies only now)."""
        if not self.async_mode:
            self.reply("+OK")

    # ---- events out ---------------------------------------------------------------------
    def _wants(self, name: str, subclass: str | None) -> bool:
        if not self.events:
            return False
        return "ALL" in self.events or name in self.events or (subclass is not None and subclass.upper() in self.events)

    def on_channel_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.events:
            built = esl_event(chan, event, fields, self.app_uuid)
            if built is not None:
                headers, body = built
                name = headers[0][1]
                subclass = dict(headers).get("Event-Subclass")
                if self._wants(name, subclass):
                    self.send(P.encode_event(headers, body, self.event_format))
        if event == "hangup_complete":
            self.on_channel_down()

    def on_any_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        """``event plain ALL`` without myevents: other channels' events too (full control)."""
        if self.closed or chan is self.chan or self.my_events or not self.events or not self.full:
            return
        built = esl_event(chan, event, fields)
        if built is not None:
            headers, body = built
            if self._wants(headers[0][1], dict(headers).get("Event-Subclass")):
                self.send(P.encode_event(headers, body, self.event_format))

    def on_channel_down(self) -> None:
        if self.hangup_handled or self.closed:
            return
        self.hangup_handled = True
        if self.linger is not None:
            self.send(P.encode_message([
                ("Content-Type", "text/disconnect-notice"), ("Controlled-Session-UUID", self.chan.uuid),
                ("Content-Disposition", "linger"), ("Channel-Name", self.chan.name),
                ("Linger-Time", str(int(self.linger)) if self.linger != float("inf") else "-1")]))
            if self.linger != float("inf"):
                self.sim.engine.call_later(self.linger, self.close, True)
        else:
            self.close(notify=True)

    # ---- closing ------------------------------------------------------------------------
    def peer_closed(self) -> None:
        self.close(notify=False)

    def close(self, notify: bool = True) -> None:
        if self.closed:
            return
        if notify:
            self.send(P.encode_disconnect_notice(self.chan.uuid))
        self.closed = True
        self.awaiting = False
        self.poller.remove(self)
        try:
            self.sock.close()
        except OSError:
            pass
        if self.on_channel_event in self.chan.listeners:
            self.chan.listeners.remove(self.on_channel_event)
        if self.on_any_event in self.sim.listeners:
            self.sim.listeners.remove(self.on_any_event)
        self.chan.post("esl_closed")


def _encode_url_message(headers: list[tuple[str, str]]) -> bytes:
    """``P.encode_message([(k, url_encode(v)) ...])`` (no body) in one pass: URL-encoded values
    hold no newline, so only the names need the framing check (any doubt: the original)."""
    lines = []
    known = _LINES.get
    for kv in headers:
        line = known(kv)
        if line is None:
            k, v = kv
            if "\n" in k or ":" in k or k == "Content-Length":
                return P.encode_message([(k, url_encode(v)) for k, v in headers])
            line = f"{k}: {url_encode(v)}\n"
            if len(_LINES) > 20000:
                _LINES.clear()
            _LINES[kv] = line
        lines.append(line)
    lines.append("\n")
    return "".join(lines).encode("utf-8")


_LINES: dict[tuple[str, str], str] = {}   # (name, value) -> its framed line: most repeat every call


def _fmt(word: str) -> str:
    return "json" if word.lower() == "json" else ("xml" if word.lower() == "xml" else "plain")


def connect(chan: Channel, host: str, port: int, async_mode: bool, full: bool,
            timeout: float = 5.0) -> OutboundConnection | None:
    """Open the TCP connection (real I/O); None when the app is not listening."""
    started = _time.monotonic()
    host, port = chan.sim.esl_redirect.get((host, port), (host, port))
    try:
        if host == "127.0.0.1":   # create_connection would look it up first; the connection is the same
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect((host, port))
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    chan.sim.engine.now += _time.monotonic() - started
    return OutboundConnection(chan, sock, async_mode, full)
