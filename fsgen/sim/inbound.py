"""Inbound Event Socket server for the simulator (what mod_event_socket listens with on :8021).

The protocol work (framing, header encoding) is :mod:`esl_app.protocol`; this module is the
socket adapter and the per-connection state that mod_event_socket.c keeps in its
``listener_t``: authentication, event subscriptions (with CUSTOM subclasses), filters,
``myevents`` session binding, linger, log level, and the ``api``/``bgapi`` plumbing.

Behaviour copied from FreeSWITCH, not invented:

- a new connection gets ``auth/request``; ``auth <password>`` answers ``+OK accepted`` or
  ``-ERR invalid`` followed by a disconnect notice and the socket is closed; any other command
  before ``auth`` gets ``-ERR command not found``.  A peer outside the ACL gets
  ``text/rude-rejection`` ("Access Denied, go away.") and is closed at once;
- ``api`` blocks the connection: events raised meanwhile are sent after the ``api/response``
  (``api originate`` therefore answers only once the call is answered or has failed);
- ``bgapi`` answers ``+OK Job-UUID: <uuid>`` at once; the result comes as a BACKGROUND_JOB
  event to every connection subscribed to it;
- ``filter`` keeps a list of header/value pairs (``/regex/`` values, ``-`` to exclude); with
  filters set, an event is sent only when one of its headers matches (FreeSWITCH's rules,
  including that an event lacking every filtered header is dropped);
- ``log <level>`` is accepted and remembered; the simulator has no log lines to stream (no ``log/data``);
- ``myevents <uuid>`` binds the connection to one channel; when that channel hangs up the
  connection is closed (or, after ``linger``, a linger notice is sent first).

Everything runs in the simulator's single thread: the server is an engine I/O poller
(:class:`fsgen.sim.engine.IOPoller`) polled first, and it also waits on the outbound socket
connections' selector so neither starves the other.
"""

from __future__ import annotations

import ipaddress
import re
import selectors
import socket
import time as _time
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from esl_app import protocol as P

from . import events as E

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel
    from .sim import Simulator

DEFAULT_PASSWORD = "ClueCon"
LOOPBACK_ACL = ("127.0.0.0/8", "::1/128")
MAX_PENDING_BYTES = 64 * 1024 * 1024
GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTDOWN = "The system is being shut down.\n"
LOG_LEVELS = {"console": 0, "alert": 1, "crit": 2, "err": 3, "error": 3, "warning": 4, "notice": 5,
              "info": 6, "debug": 7}

#: the event types ``myevents`` subscribes to (mod_event_socket.c)
MYEVENTS = frozenset({
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
    "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_PARK",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK",
    "DETECTED_SPEECH", "DTMF", "NOTALK", "TALK",
})

JobFunc = Callable[["Simulator", str], Generator[Any, Any, str]]
#: API commands whose reply waits for simulated time to pass (``originate`` waits for the answer)
BLOCKING_API: dict[str, JobFunc] = {}


def blocking_api(name: str) -> Callable[[JobFunc], JobFunc]:
    def deco(fn: JobFunc) -> JobFunc:
        BLOCKING_API[name] = fn
        return fn
    return deco


def run_api(sim: Simulator, line: str, done: Callable[[str], None]) -> None:
    """Run an API command line; ``done(reply)`` is called now or, for blocking commands, later."""
    name, _, args = line.strip().partition(" ")
    args = args.strip()
    job = BLOCKING_API.get(name)
    if job is None:
        try:
            reply = sim.api(line)
        except Exception as err:  # noqa: BLE001 - one command's bug must not take the switch down
            sim.trace.error(None, "internal_error", f"api {name}: {type(err).__name__}: {err}")
            reply = f"-ERR {name} failed: {type(err).__name__}\n"
        fire_api_event(sim, name, args)
        done(reply)
        return
    task = sim.engine.spawn(job(sim, args), "api:" + name)
    task.on_done.append(lambda t: done(t.result if isinstance(t.result, str) else f"-ERR {name} failed\n"))
    fire_api_event(sim, name, args)


def fire_api_event(sim: Simulator, name: str, args: str) -> None:
    h = E.base_headers(sim, "API") + [("API-Command", name)]
    if args:
        h.append(("API-Command-Argument", args))
    E.fire(sim, h)


def _noop() -> None:
    pass


def _log_level(word: str) -> int | None:
    w = word.strip().lower()
    if not w:
        return 7
    if w.isdigit():
        n = int(w)
        return n if 0 <= n <= 7 else None
    return LOG_LEVELS.get(w)


class _Offer:
    """One event being handed to every connection: headers, lookups, encodings done once."""

    __slots__ = ("body", "encoded", "headers", "lower", "name", "subclass", "uuid")

    def __init__(self, headers: E.Headers, body: str | None):
        self.headers = headers
        self.body = body
        self.lower: dict[str, str] = {}
        for k, v in headers:
            self.lower.setdefault(k.lower(), v)
        self.name = self.lower.get("event-name", "")
        self.subclass = self.lower.get("event-subclass")
        self.uuid = self.lower.get("unique-id")
        self.encoded: dict[str, bytes] = {}

    def data(self, fmt: str) -> bytes:
        got = self.encoded.get(fmt)
        if got is None:
            got = self.encoded[fmt] = E.encode(self.headers, self.body, fmt)
        return got


class Listener:
    """One inbound connection (mod_event_socket's ``listener_t``)."""

    def __init__(self, server: InboundServer, sock: socket.socket, peer: str):
        self.server = server
        self.sim = server.sim
        self.sock = sock
        self.peer = peer
        self.reader = P.Reader(P.COMMANDS)
        self.out = bytearray()
        self.authed = False
        self.closed = False
        self.closing = False           # flush what is queued, then close
        self.events_on = False         # LFLAG_EVENTS
        self.all_events = False
        self.events: set[str] = set()
        self.subclasses: set[str] = set()
        self.fmt = "plain"
        self.filters: list[tuple[str, str]] = []
        self.myevents = False
        self.session: str | None = None
        self.session_name = ""
        self.linger: float | None = None   # seconds; -1 = for ever
        self.lingering = False
        self.log_level: int | None = None
        self.busy = False                  # a blocking ``api`` is running
        self.handling = False              # a command is being handled right now
        self.pending: deque[P.Command] = deque()
        self.held: list[bytes] = []

    # ---- bytes in ------------------------------------------------------------------------
    def on_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        self.reader.feed(data)
        self._drain()

    def _drain(self) -> None:
        while not self.closed and not self.closing and not self.busy:
            if self.pending:
                self.on_command(self.pending.popleft())
                continue
            item = self.reader.next()
            if item is P.NEED_DATA:
                return
            if item is P.CLOSED or isinstance(item, P.ProtocolError):
                self.close(notify=False)
                return
            assert isinstance(item, P.Command)
            self.on_command(item)
        while self.busy and not self.closed:
            item = self.reader.next()
            if not isinstance(item, P.Command):
                if item is P.CLOSED or isinstance(item, P.ProtocolError):
                    self.close(notify=False)
                return
            self.pending.append(item)

    # ---- bytes out -----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.closed:
            return
        self.out += data
        if len(self.out) > MAX_PENDING_BYTES:  # the client stopped reading: FreeSWITCH drops it too
            self.out.clear()
            self._finish_close()
            return
        self.flush()

    def flush(self) -> None:
        while self.out and not self.closed:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.out.clear()
                self._finish_close()
                return
            del self.out[:n]
        self.server.want_write(self, bool(self.out))
        if self.closing and not self.out:
            self._finish_close()

    def reply(self, text: str, headers: list[tuple[str, str]] | None = None) -> None:
        self.send(P.encode_reply(text, headers))

    # ---- commands ------------------------------------------------------------------------
    def on_command(self, cmd: P.Command) -> None:
        name, args = cmd.name, cmd.args
        if name in ("exit", "...") or cmd.line.startswith("..."):
            self.reply("+OK bye")
            self.close(notify=True)
            return
        if not self.authed:
            if name == "auth":
                if args == self.server.password:
                    self.authed = True
                    self.reply("+OK accepted")
                else:
                    self.server.log(f"ESL auth failed from {self.peer}")
                    self.reply("-ERR invalid")
                    self.close(notify=True)
            elif name == "userauth":
                self.reply("-ERR invalid")
                self.close(notify=True)
            else:
                self.reply("-ERR command not found")
            return
        handler = getattr(self, "cmd_" + name, None)
        if handler is None:
            self.reply("-ERR command not found")
            return
        # as in mod_event_socket, events raised while a command runs reach the client after its reply
        self.handling = True
        try:
            handler(cmd, args)
        except Exception as err:  # noqa: BLE001 - a bug in one command must not take the switch down
            self.server.log(f"ESL command {name!r} failed: {type(err).__name__}: {err}")
            self.reply(f"-ERR {type(err).__name__}")
        finally:
            self.handling = False
        if not self.busy:
            self._release_held()

    def _release_held(self) -> None:
        held, self.held = self.held, []
        for data in held:
            self.send(data)

    def cmd_api(self, cmd: P.Command, args: str) -> None:
        if not args:
            self.reply("-ERR command not found")
            return
        self.busy = True

        def done(text: str) -> None:
            if self.closed:
                return
            self.send(P.encode_api_response(text or "-ERR no reply\n"))
            self.busy = False
            if not self.handling:  # a blocking command finished later
                self._release_held()
                self._drain()

        run_api(self.sim, args, done)

    def cmd_bgapi(self, cmd: P.Command, args: str) -> None:
        from .channel import new_uuid
        if not args:
            self.reply("-ERR command not found")
            return
        job = cmd.get("Job-UUID") or new_uuid(self.sim)
        self.reply(f"+OK Job-UUID: {job}", [("Job-UUID", job)])
        name, _, arg = args.partition(" ")
        sim = self.sim

        def done(text: str) -> None:
            headers, body = E.background_job(sim, job, name, arg.strip(), text)
            E.fire(sim, headers, body)

        sim.engine.call_later(0.0, run_api, sim, args, done)

    def cmd_event(self, cmd: P.Command, args: str) -> None:
        words = args.split()
        count = 0
        custom = False
        for i, w in enumerate(words):
            if i == 0 and w.lower() in ("plain", "json", "xml"):
                self.fmt = w.lower()
                continue
            if custom:
                self.subclasses.add(w)
                continue
            up = w.upper()
            if up not in E.KNOWN_EVENTS:
                continue
            count += 1
            if up == "ALL":
                self.all_events = True
            self.events.add(up)
            if up == "CUSTOM":
                custom = True
        if not count:
            self.reply("-ERR no keywords supplied")
            return
        self.events_on = True
        self.reply(f"+OK event listener enabled {self.fmt}")

    def cmd_nixevent(self, cmd: P.Command, args: str) -> None:
        count = 0
        custom = False
        for w in args.split():
            if custom:
                self.subclasses.discard(w)
                continue
            up = w.upper()
            if up not in E.KNOWN_EVENTS:
                continue
            count += 1
            if up == "CUSTOM":
                custom = True
            elif up == "ALL":
                self.all_events = False
                self.events.clear()
            else:
                if self.all_events:
                    self.all_events = False
                    self.events = set(E.KNOWN_EVENTS) - {"ALL"}
                self.events.discard(up)
        if not count:
            self.reply("-ERR no keywords supplied")
            return
        self.events_on = True
        self.reply("+OK events nixed")

    def cmd_noevents(self, cmd: P.Command, args: str) -> None:
        if not self.events_on:
            self.reply("-ERR not listening for events")
            return
        self.events_on = False
        self.all_events = False
        self.events.clear()
        self.subclasses.clear()
        self.reply("+OK no longer listening for events")

    def cmd_filter(self, cmd: P.Command, args: str) -> None:
        name, _, value = args.strip().partition(" ")
        if name.lower() == "delete" and value:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [(k, v) for k, v in self.filters
                                if not (k.lower() == name.lower() and (not value or v == value))]
            self.reply(f"+OK filter deleted. [{name}][{value}]")
            return
        if not value:
            self.reply("-ERR invalid syntax")
            return
        if name.lower() == "add":
            name, _, value = value.partition(" ")
        self.filters.append((name, value))
        self.reply(f"+OK filter added. [{name}]=[{value}]")

    def cmd_myevents(self, cmd: P.Command, args: str) -> None:
        if self.myevents:
            self.reply("-ERR aready enabled.")
            return
        uuid, _, fmt = args.partition(" ")
        if not uuid:
            self.reply("-ERR command not found")
            return
        chan = self.sim.channels.get(uuid)
        if chan is None and fmt:
            self.reply("-ERR invalid uuid")
            return
        if chan is not None:
            self.session, self.session_name = chan.uuid, chan.name
        self.events |= MYEVENTS
        self.myevents = True
        self.events_on = True
        low = args.lower()
        if "xml" in low:
            self.fmt = "xml"
        if "json" in low:
            self.fmt = "json"
        self.reply("+OK Events Enabled")

    def cmd_linger(self, cmd: P.Command, args: str) -> None:
        if self.session is None:
            self.reply("-ERR not controlling a session")
            return
        try:
            self.linger = float(int(args)) if args.strip() else -1.0
        except ValueError:
            self.linger = 0.0
        self.reply(f"+OK will linger {int(self.linger)} seconds" if self.linger >= 0 else "+OK will linger")

    def cmd_nolinger(self, cmd: P.Command, args: str) -> None:
        if self.session is None:
            self.reply("-ERR not controlling a session")
            return
        self.linger = None
        self.reply("+OK will not linger")

    def cmd_log(self, cmd: P.Command, args: str) -> None:
        level = _log_level(args)
        if level is None:
            self.reply("-ERR invalid log level")
            return
        self.log_level = level
        self.reply(f"+OK log level {args} [{level}]")

    def cmd_nolog(self, cmd: P.Command, args: str) -> None:
        if self.log_level is None:
            self.reply("-ERR not loging")
            return
        self.log_level = None
        self.reply("+OK no longer logging")

    def cmd_divert_events(self, cmd: P.Command, args: str) -> None:
        self.reply("-ERR not controlling a session.")

    def cmd_sendevent(self, cmd: P.Command, args: str) -> None:
        from .channel import new_uuid
        name = args.strip().upper() or "CUSTOM"
        if name not in E.KNOWN_EVENTS:
            name = "CUSTOM"
        event_uuid = new_uuid(self.sim)
        given = [(k, v) for k, v in cmd.headers if k.lower() not in ("content-length", "event-name")]
        subclass = cmd.get("Event-Subclass") if name == "CUSTOM" else None
        headers = E.base_headers(self.sim, name)
        if subclass:
            given = [(k, v) for k, v in given if k.lower() != "event-subclass"]
            headers.insert(1, ("Event-Subclass", subclass))
        headers += [("Command", cmd.line)] + given + [("Event-UUID", event_uuid)]
        E.fire(self.sim, headers, cmd.text if cmd.body else None)
        self.reply(f"+OK {event_uuid}")

    def cmd_sendmsg(self, cmd: P.Command, args: str) -> None:
        uuid = args.strip() or cmd.get("session-id") or self.session or ""
        chan = self.sim.channels.get(uuid)
        if chan is None or chan.hungup:
            self.reply(f"-ERR invalid session id [{uuid}]")
            return
        command = (cmd.get("call-command") or "").lower()
        if command == "execute":
            app = cmd.get("execute-app-name") or ""
            arg = cmd.get("execute-app-arg") or (cmd.text if cmd.body else "")
            try:
                loops = max(int(cmd.get("loops") or "1"), 1)
            except ValueError:
                loops = 1
            if app:
                self.server.queue_execute(chan, app, arg, loops, cmd.get("Event-UUID"))
        elif command == "hangup":
            from .apps.basic import cause_of
            chan.hangup(cause_of(cmd.get("hangup-cause") or ""))
        self.reply("+OK")

    # ---- events out ----------------------------------------------------------------------
    def wants(self, ev: _Offer) -> bool:
        if not self.events_on or self.lingering and ev.uuid != self.session:
            return False
        if not (self.all_events or ev.name in self.events):
            return False
        if not self.all_events and ev.name == "CUSTOM" and ev.subclass and ev.subclass not in self.subclasses:
            return False
        if self.filters and not self._filtered_in(ev):
            return False
        return not (self.myevents and (ev.uuid is None or (self.session is not None and ev.uuid != self.session)))

    def _filtered_in(self, ev: _Offer) -> bool:
        send = False
        for name, value in self.filters:
            have = ev.lower.get(name.lower())
            if have is None:
                continue
            pos = True
            comp = value
            while comp and comp[0] in "+- ":
                if comp[0] == "+":
                    pos = True
                elif comp[0] == "-":
                    pos = False
                comp = comp[1:]
            if send and pos:
                continue
            if not comp:
                continue
            if value.startswith("/"):
                pattern = comp[1:-1] if comp.startswith("/") and comp.endswith("/") and len(comp) > 1 else comp
                try:
                    hit = re.search(pattern, have) is not None
                except re.error:
                    hit = False
            else:
                hit = have.lower() == comp.lower()
            if hit:
                if not pos:
                    return False
                send = True
        return send

    def offer(self, ev: _Offer) -> None:
        if self.closed or self.closing or not self.wants(ev):
            return
        data = ev.data(self.fmt)
        if self.busy or self.handling:
            self.held.append(data)
        else:
            self.send(data)

    def session_down(self, chan: Channel) -> None:
        """The bound channel hung up: close, or linger first (read_packet's LFLAG_HANDLE_DISCO)."""
        if self.closed or self.lingering:
            return
        if self.linger is None:
            self.close(notify=True)
            return
        self.lingering = True
        self.send(P.encode_message([
            ("Content-Type", "text/disconnect-notice"), ("Controlled-Session-UUID", chan.uuid),
            ("Content-Disposition", "linger"), ("Channel-Name", chan.name),
            ("Linger-Time", str(int(self.linger)))]))
        if self.linger >= 0:
            self.sim.engine.call_later(self.linger, self.close, True)

    # ---- closing -------------------------------------------------------------------------
    def close(self, notify: bool = True, message: str = GOODBYE) -> None:
        if self.closed or self.closing:
            return
        if notify:
            if self.session is not None:
                self.send(P.encode_disconnect_notice(self.session, text=message))
            else:
                self.send(P.encode_message([("Content-Type", "text/disconnect-notice")], message))
        self.closing = True
        if not notify:
            self.out.clear()
        self.flush()

    def _finish_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.server.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass


class InboundServer:
    """The listening socket and every connection, polled by the simulator's engine."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 8021,
                 password: str = DEFAULT_PASSWORD, acl: tuple[str, ...] = LOOPBACK_ACL,
                 log: Callable[[str], None] | None = None):
        self.sim = sim
        self.password = password
        self.acl = [ipaddress.ip_network(a, strict=False) for a in acl]
        self.log = log or (lambda msg: None)
        self.sel = selectors.DefaultSelector()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.lsock.bind((host, port))
            self.lsock.listen(64)
        except OSError:
            self.lsock.close()
            raise
        self.lsock.setblocking(False)
        self.address = self.lsock.getsockname()[:2]
        self.sel.register(self.lsock, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.listeners: dict[socket.socket, Listener] = {}
        self.nested: dict[int, Any] = {}          # other pollers' selectors we wait on too
        self.stopping = False
        self.clock0 = _time.monotonic() - sim.engine.now
        self.exec_queues: dict[str, deque[tuple[str, str, int, str | None]]] = {}
        self.runners: dict[str, Any] = {}
        sim.listeners.append(self.on_channel_event)
        E.sinks(sim).append(self.on_event)
        sim.engine.io.insert(0, self)

    # ---- engine I/O poller -----------------------------------------------------------------
    def active(self) -> bool:
        return not self.stopping

    def realtime(self) -> bool:
        return True

    def lag(self) -> float:
        """How far virtual time is behind the real clock (negative: ahead)."""
        return (_time.monotonic() - self.clock0) - self.sim.engine.now

    def poll(self, timeout: float | None) -> bool:
        engine = self.sim.engine
        self._watch_other_pollers()
        if timeout is not None:
            timeout = max(0.0, timeout - self.lag())
        try:
            ready = self.sel.select(timeout)
        except (OSError, ValueError):
            ready = []
        got = False
        for key, mask in ready:
            data = key.data
            if data is None:
                self._accept()
                got = True
            elif data == "wake":
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
                got = True
            elif isinstance(data, Listener):
                if mask & selectors.EVENT_WRITE:
                    data.flush()
                if mask & selectors.EVENT_READ and not data.closed:
                    try:
                        chunk = data.sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        chunk = b""
                    at = _time.monotonic() - self.clock0
                    engine.call_at(at, data.on_bytes, chunk)
                    if not chunk:
                        self._unregister(data.sock)
                    got = True
            else:  # an outbound Event Socket poller's selector became readable
                got = data.poll(0.0) or got
        # the engine runs its earliest entry next: make that "now" on the real clock, so an
        # early wake-up (a connection accepted, a signal) never makes virtual time jump ahead
        engine.call_at(_time.monotonic() - self.clock0, _noop)
        return got

    def _watch_other_pollers(self) -> None:
        for p in self.sim.engine.io:
            sel = getattr(p, "sel", None)
            if p is self or sel is None or id(sel) in self.nested:
                continue
            self.nested[id(sel)] = p
            self.sel.register(sel, selectors.EVENT_READ, p)

    def _accept(self) -> None:
        try:
            sock, addr = self.lsock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        peer_ip = addr[0]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            allowed = any(ipaddress.ip_address(peer_ip) in net for net in self.acl)
        except ValueError:
            allowed = False
        if not allowed:
            self.log(f"ESL connection from {peer_ip} rejected by the ACL")
            try:
                sock.sendall(P.encode_rude_rejection())
            except OSError:
                pass
            sock.close()
            return
        sock.setblocking(False)
        conn = Listener(self, sock, f"{peer_ip}:{addr[1]}")
        self.listeners[sock] = conn
        self.sel.register(sock, selectors.EVENT_READ, conn)
        conn.send(P.encode_auth_request())

    def want_write(self, conn: Listener, on: bool) -> None:
        if conn.closed or conn.sock not in self.listeners:
            return
        mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0)
        try:
            if self.sel.get_key(conn.sock).events != mask:
                self.sel.modify(conn.sock, mask, conn)
        except (KeyError, ValueError):
            pass

    def _unregister(self, sock: socket.socket) -> None:
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def forget(self, conn: Listener) -> None:
        self._unregister(conn.sock)
        self.listeners.pop(conn.sock, None)

    def wake(self) -> None:
        """Interrupt a blocking poll (from a signal handler)."""
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # ---- events in ---------------------------------------------------------------------------
    def on_channel_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        try:
            self._channel_event(chan, event, fields)
        except Exception as err:  # noqa: BLE001 - the call must go on even if an event cannot be sent
            self.log(f"cannot deliver {event} of {chan.name}: {type(err).__name__}: {err}")

    def _channel_event(self, chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if self.listeners:
            built = E.esl_event(chan, event, fields)
            if built is not None:
                self.on_event(built[0], built[1], chan)
        if event == "park":
            self._run_queued(chan)
        elif event == "hangup_complete":
            self.exec_queues.pop(chan.uuid, None)
            for conn in list(self.listeners.values()):
                if conn.session == chan.uuid:
                    conn.session_down(chan)

    def on_event(self, headers: E.Headers, body: str | None, chan: Channel | None = None) -> None:
        if not self.listeners:
            return
        ev = _Offer(headers, body)
        for conn in list(self.listeners.values()):
            conn.offer(ev)

    # ---- sendmsg execute -----------------------------------------------------------------------
    def queue_execute(self, chan: Channel, app: str, arg: str, loops: int, app_uuid: str | None) -> None:
        """FreeSWITCH queues the message on the channel; a parked channel runs it at once, a
        channel busy in its dialplan runs it when it next parks."""
        q = self.exec_queues.setdefault(chan.uuid, deque())
        q.append((app, arg, loops, app_uuid))
        if chan.parked:
            self._run_queued(chan)

    def _run_queued(self, chan: Channel) -> None:
        q = self.exec_queues.get(chan.uuid)
        if not q or chan.uuid in self.runners:
            return
        from .session import execute

        def runner() -> Generator[Any, Any, None]:
            try:
                while q and chan.ready:
                    app, arg, loops, app_uuid = q.popleft()
                    for _ in range(loops):
                        if not chan.ready:
                            break
                        if app_uuid:
                            chan.set_var("app_uuid", app_uuid)
                        yield from execute(chan, app, arg)
            finally:
                self.runners.pop(chan.uuid, None)

        self.runners[chan.uuid] = self.sim.engine.spawn(runner(), "sendmsg:" + chan.name, chan)

    # ---- stopping ----------------------------------------------------------------------------
    def close(self) -> None:
        """Tell every client the switch is going away, flush, close (kill_all_listeners)."""
        self.stopping = True
        for conn in list(self.listeners.values()):
            conn.close(notify=True, message=SHUTDOWN)
        deadline = _time.monotonic() + 1.0
        while any(c.out for c in self.listeners.values()) and _time.monotonic() < deadline:
            for key, mask in self.sel.select(0.05):
                if isinstance(key.data, Listener) and mask & selectors.EVENT_WRITE:
                    key.data.flush()
        for conn in list(self.listeners.values()):
            conn._finish_close()
        for s in (self.lsock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
        try:
            self.sel.close()
        except OSError:
            pass
        if self.on_channel_event in self.sim.listeners:
            self.sim.listeners.remove(self.on_channel_event)
        if self.on_event in E.sinks(self.sim):
            E.sinks(self.sim).remove(self.on_event)
        if self in self.sim.engine.io:
            self.sim.engine.io.remove(self)

    close_all = close
