"""The outbound Event Socket server: where a flow's ``socket`` app lands for live lookups.

greenswitch 0.0.19's ``OutboundESLServer.listen()`` polls a non-blocking socket and sleeps 100 ms
whenever no connection waits, so every call waited 0-100 ms before being served. Here gevent's
``StreamServer`` accepts as soon as the switch connects, while each call is still a greenswitch
``OutboundSession`` driven by an application object with ``run()`` (greenswitch's handler model).

The session subclass replaces greenswitch's reader with the shared sans-IO framing core
(``esl_app.protocol``): greenswitch loops forever on EOF inside a body, chokes on disconnect notices
that carry a body, and polls its event queue once a second. Events are dispatched inline, the
headers of the few events esl_app consumes are read without decoding the whole event (FreeSWITCH
attaches every channel variable to every event), commands are pipelined, and every wait has a
timeout, so a vanished, garbling or silent peer can never hold a call.
"""

from __future__ import annotations

import itertools
import logging
import re
import signal
import socket as _socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import gevent
import gevent.event
import gevent.pool
from gevent.server import StreamServer
from greenswitch.esl import ESLEvent, NotConnectedError, OutboundSession, OutboundSessionHasGoneAway

from .config import Config
from .logs import event
from .lookups import CallInfo, LookupOutcome, LookupRunner
from .protocol import CLOSED, MESSAGES, NEED_DATA, Message, ProtocolError, Reader, parse_event

log = logging.getLogger("esl_app.server")

_EVENT_NAME = re.compile(rb"^Event-Name: ([^\n]*)$", re.MULTILINE)
_EVENT_SUBCLASS = re.compile(rb"^Event-Subclass: ([^\n]*)$", re.MULTILINE)
# Events esl_app itself consumes, and the few headers it reads from them. FreeSWITCH sends every
# channel variable with every event (kilobytes each); reading only these keeps a call cheap.
_QUICK_HEADERS: dict[str, tuple[str, ...]] = {
    "CHANNEL_EXECUTE_COMPLETE": ("Application", "Application-Data", "Application-UUID"),
    "CHANNEL_HANGUP": ("Hangup-Cause",),
}
_session_tags = itertools.count(1)


class CommandTimeout(Exception):
    """The switch did not answer a command or finish an app in time."""


def _header_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {k: unquote(v) if "%" in v else v for k, v in headers}


class ChannelData(Mapping[str, str]):
    """The connect reply's headers, URL-decoded when read.

    FreeSWITCH sends every channel variable with it (a hundred headers or more) and a lookup
    reads a handful, so decoding each value on first use instead of all up front is measurably
    cheaper per call. Reads like the dict greenswitch keeps in ``session_data``.
    """

    __slots__ = ("_raw",)

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._raw = dict(headers)

    def _decoded(self, key: str, value: str) -> str:
        if "%" in value:
            value = self._raw[key] = unquote(value)
        return value

    def __getitem__(self, key: str) -> str:
        return self._decoded(key, self._raw[key])

    def get(self, key: str, default: Any = None) -> Any:
        value = self._raw.get(key)
        if value is None:
            return default
        if "%" in value:  # _decoded, inline: a call's lookups read a handful of values this way
            value = self._raw[key] = unquote(value)
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _event(headers: dict[str, str]) -> ESLEvent:
    ev = ESLEvent.__new__(ESLEvent)  # greenswitch's __init__ would parse an empty string first
    ev.headers = headers
    return ev


_QUICK_PATTERNS = {name: re.compile(rb"^" + re.escape(name.encode()) + rb": ([^\n]*)$", re.MULTILINE)
                   for names in _QUICK_HEADERS.values() for name in names}


def _quick_header(body: bytes, name: str) -> str | None:
    m = _QUICK_PATTERNS[name].search(body)
    return unquote(m.group(1).decode("utf-8", "replace").rstrip("\r")) if m else None


class HotlineSession(OutboundSession):
    """greenswitch's OutboundSession with bounded waits and strict framing (see module docstring)."""

    _run: bool
    _commands_sent: list[gevent.event.AsyncResult]

    def __init__(self, client_address: Any, sock: Any, command_timeout: float = 5.0):
        self.command_timeout = command_timeout
        self._pending_exec: list[tuple[str, str, str, gevent.event.AsyncResult]] = []
        self._tag = f"hl{next(_session_tags)}-"
        self._exec_count = 0
        self.hung_up = False
        self.closed_reason = ""
        self._events_on = False
        self._said_goodbye = False
        super().__init__(client_address, sock)
        self.register_handle("CHANNEL_EXECUTE_COMPLETE", self._on_execute_complete)
        self._internal_handlers = {
            "CHANNEL_EXECUTE_COMPLETE": [self._on_execute_complete],
            "CHANNEL_HANGUP": [self.on_hangup],
        }

    # -- reading (framing by the shared sans-IO core, esl_app.protocol) -----------------------

    def start_event_handlers(self) -> None:
        # Events are dispatched inline by the reader: no second greenlet polling a queue each second.
        self._receive_events_greenlet = gevent.spawn(self.receive_events)

    def receive_events(self) -> None:
        reader = Reader(MESSAGES)
        reason = "closed by peer"
        try:
            while self._run:
                item = reader.next()
                if item is NEED_DATA:
                    reader.feed(self.sock.recv(65536))
                    continue
                if item is CLOSED:
                    break
                if isinstance(item, ProtocolError):
                    reason = f"protocol error: {item.message}"
                    break
                if isinstance(item, Message):
                    self._handle_message(item)
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self._run = False
            self.connected = False
            self._outbound_connected = False
            self.closed_reason = reason
            self._fail_pending(reason)

    def _handle_message(self, msg: Message) -> None:
        ctype = unquote(msg.content_type)
        if ctype == "command/reply" and len(msg.headers) == 2 and msg.headers[1][0] == "Reply-Text":
            ev = _event({"Content-Type": ctype, "Reply-Text": unquote(msg.headers[1][1])})
            ev.data = ev.headers["Reply-Text"]
            if self._commands_sent:
                self._commands_sent.pop(0).set(ev)
            return
        if ctype == "command/reply" or ctype == "api/response":
            # the connect reply carries the channel's data (a hundred headers): decoded when read
            headers = ChannelData(msg.headers) if len(msg.headers) > 8 else _header_dict(msg.headers)
            ev = _event(headers)  # type: ignore[arg-type]
            ev.data = ev.headers.get("Reply-Text", "") if ctype == "command/reply" else msg.text
            if self._commands_sent:
                self._commands_sent.pop(0).set(ev)
            return
        if ctype == "text/disconnect-notice":
            headers = _header_dict(msg.headers)
            if headers.get("Content-Disposition") == "linger":
                self._lingering = True
            else:
                self.connected = False
            self._dispatch(_event(headers), "DISCONNECT")
            return
        if ctype == "text/event-plain":
            m = _EVENT_NAME.search(msg.body)
            name = m.group(1).decode("utf-8", "replace").rstrip("\r") if m else ""
            if name == "CUSTOM":
                m = _EVENT_SUBCLASS.search(msg.body)
                name = unquote(m.group(1).decode("utf-8", "replace").rstrip("\r")) if m else ""
            handlers = self.event_handlers.get(name)
            if handlers is None and "*" in self.event_handlers and self.event_handlers["*"] != [self.on_event]:
                handlers = self.event_handlers["*"]
            if not handlers:
                return
            quick = _QUICK_HEADERS.get(name)
            if name == "CHANNEL_EXECUTE_COMPLETE" and quick is not None and handlers == self._internal_handlers[name]:
                # Only the last app of a batch is waited for: skip the others after one search.
                tag = _quick_header(msg.body, "Application-UUID")
                if tag is not None and not any(p[0] == tag for p in self._pending_exec):
                    return
            if quick is not None and handlers == self._internal_handlers.get(name):
                headers = {"Event-Name": name}
                for key in quick:
                    value = _quick_header(msg.body, key)
                    if value is not None:
                        headers[key] = value
                self._dispatch(_event(headers), name)
                return
            parsed = parse_event(msg)
            if isinstance(parsed, ProtocolError):
                raise OSError(f"unreadable event: {parsed.message}")
            ev = _event(dict(parsed.headers))
            if parsed.body is not None:
                ev.data = parsed.body
            self._dispatch(ev, name)
        # auth/request, log/data, text/rude-rejection...: nothing to do for an outbound lookup.

    def _dispatch(self, ev: ESLEvent, name: str) -> None:
        handlers = self.event_handlers.get(name) or self.event_handlers.get("*") or []
        for handler in list(handlers):
            self._safe_exec_handler(handler, ev)

    def connect(self) -> Any:
        """``connect`` and ``resume`` in one write.

        The switch answers them in order: one round trip, and ``resume`` is in force before any
        lookup starts, so the dialplan continues even if esl_app dies mid-call. Events are not
        subscribed here: a lookup that only sets variables needs none, and FreeSWITCH attaches
        every channel variable to every event (kilobytes each). ``execute_many`` subscribes
        (``myevents``) the first time an app must be waited for.
        """
        if not self._outbound_connected:
            replies = self.send_many(["connect", "resume"])
            self.session_data = replies[0].headers
            self._outbound_connected = True
        return self.session_data

    def finish(self, commands: list[str]) -> list[ESLEvent]:
        """Send ``commands`` and ``exit`` in one write and wait for every reply: the last round
        trip of a session. ``close`` then only waits for the switch to hang up the socket."""
        replies = self.send_many([*commands, "exit"])
        self._said_goodbye = True
        return replies[:-1]

    def on_disconnect(self, event: ESLEvent) -> None:
        self._outbound_connected = False
        self._fail_pending("disconnect notice")

    def stop(self) -> None:
        self.close()

    def on_hangup(self, event: ESLEvent) -> None:
        self._outbound_connected = False
        self.hung_up = True
        # An app queued before the hangup will never complete: release whoever waits for it.
        self._fail_pending("caller hung up", commands=False)

    def _fail_pending(self, reason: str, commands: bool = True) -> None:
        gone = _Gone(reason)
        waiting = [result for *_ignored, result in self._pending_exec]
        self._pending_exec = []
        if commands:
            waiting += self._commands_sent
            self._commands_sent = []
        for result in waiting:
            if not result.ready():
                result.set(gone)

    # -- commands ----------------------------------------------------------------------------

    def send(self, data: str) -> ESLEvent:
        return self.send_many([data])[0]

    def send_many(self, commands: list[str]) -> list[ESLEvent]:
        """Write several commands in one go and wait for their replies (in order).

        The switch answers Event Socket commands strictly in order, so pipelining them saves a
        round trip each without changing what happens on the channel.
        """
        if not self.connected:
            raise NotConnectedError()
        results = [gevent.event.AsyncResult() for _ in commands]
        self._commands_sent.extend(results)
        payload = "".join(c + "\n\n" for c in commands).encode("utf-8")
        try:
            self.sock.sendall(payload)
        except OSError as exc:
            raise OutboundSessionHasGoneAway(str(exc)) from None
        replies = []
        try:
            with gevent.Timeout(self.command_timeout, CommandTimeout(f"no reply within {self.command_timeout}s")):
                for result in results:
                    replies.append(_reply(result))
        except CommandTimeout:
            self.connected = False
            raise
        return replies

    def execute_many(self, apps: list[tuple[str, str]]) -> ESLEvent | None:
        """Execute dialplan apps on the channel, in order, and wait until the last has completed.

        Every app is a ``sendmsg`` with ``event-lock: true`` (run in order, one at a time) and an
        ``Event-UUID`` that comes back as ``Application-UUID`` in its CHANNEL_EXECUTE_COMPLETE. All
        messages are written at once; the switch runs them back to back on its next frame instead
        of one per frame. Because they run in order, the last one's completion means all are done.
        A hangup in between ends the wait (nothing more can run). Returns the last completion.
        """
        if not apps:
            return None
        commands = []
        for app, arg in apps:
            self._exec_count += 1
            tag = f"{self._tag}{self._exec_count}"
            lines = ["sendmsg", "call-command: execute", f"execute-app-name: {app}"]
            if arg:
                lines.append(f"execute-app-arg: {arg}")
            lines += ["event-lock: true", f"Event-UUID: {tag}"]
            commands.append("\n".join(lines))
        if not self._events_on:
            commands.insert(0, "myevents")  # answered before the apps start: no event is missed
        last = gevent.event.AsyncResult()
        self._pending_exec.append((tag, app, arg, last))
        replies = self.send_many(commands)
        if not self._events_on:
            self._events_on = True
            replies = replies[1:]
        for reply in replies:
            text = reply.headers.get("Reply-Text", "")
            if not text.startswith("+OK"):
                raise CommandTimeout(f"sendmsg refused: {text}")
        with gevent.Timeout(self.command_timeout, CommandTimeout(f"apps not completed within {self.command_timeout}s")):
            return _reply(last)

    def _on_execute_complete(self, ev: ESLEvent) -> None:
        app_uuid = ev.headers.get("Application-UUID")
        app = ev.headers.get("Application")
        data = ev.headers.get("Application-Data", "")
        match = None
        for i, (tag, p_app, p_arg, _result) in enumerate(self._pending_exec):
            if app_uuid and app_uuid == tag:
                match = i
                break
        if match is None:
            for i, (_tag, p_app, p_arg, _result) in enumerate(self._pending_exec):
                if not app_uuid and p_app == app and p_arg == data:
                    match = i
                    break
        if match is not None:
            *_ignored, result = self._pending_exec.pop(match)
            result.set(ev)

    def close(self, wait: float = 1.0) -> None:
        """Say goodbye and release the socket; never blocks longer than ``wait`` seconds."""
        said_goodbye = self._said_goodbye
        if self.connected and not said_goodbye:
            try:
                old, self.command_timeout = self.command_timeout, min(self.command_timeout, wait)
                self.send("exit")
                self.command_timeout = old
                said_goodbye = True
            except (NotConnectedError, OutboundSessionHasGoneAway, CommandTimeout, OSError):
                pass
        reader = self._receive_events_greenlet
        if reader is not None and said_goodbye:
            reader.join(timeout=wait)  # the switch closes its end after exit
        self._run = False
        if reader is not None and not reader.dead:
            try:
                self.sock.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass
            reader.kill(block=True, timeout=1)
        for closable in (self.sock_file, self.sock):
            try:
                closable.close()
            except (OSError, RuntimeError):
                pass
        # greenswitch's handler tables and reader greenlet point back at the session: without
        # this, every call's ~40 objects would wait for the cyclic GC instead of freeing here.
        self.event_handlers.clear()
        self._internal_handlers.clear()
        self._receive_events_greenlet = None


class _Gone:
    """What a waiter receives when the channel or the socket went away before its reply.

    The waiter raises a fresh OutboundSessionHasGoneAway itself: an exception stored in the
    AsyncResult would carry a traceback whose frames hold the result again, a reference cycle that
    kept every such call's session alive until the cyclic GC ran.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def _reply(result: gevent.event.AsyncResult) -> Any:
    value = result.get()
    if isinstance(value, _Gone):
        raise OutboundSessionHasGoneAway(value.reason)
    return value


_MULTISET_DELIMITERS = "|~;`"
# uuid_setvar_multi splits at ';' with switch_separate_string, which also honours quotes and
# backslash escapes and strips spaces at both ends; such values go by `set` instead.
_SETVAR_MULTI_UNSAFE = re.compile(r"[;'\"\\\x00-\x1f\x7f]|^ | $")
_SETVAR_MULTI_MAX = 60  # the api's argv holds 64 items


def setvar_commands(uuid: str, pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    """``esl.set_app: api``: the variables as ``api uuid_setvar_multi`` commands, plus the ``set``
    apps for the values that command would alter (run first, so the last pair - the lookup
    status - is still set last). An api command runs at once on the Event Socket thread: no app
    is queued on the channel, no event is produced, and its reply comes in the same round trip
    as ``exit``."""
    # The usual case first, checked on the command's own text: no separator beyond the joins, no
    # quote or backslash, nothing unprintable (control characters among it), no space at either end
    # of a value (it would follow a "=", precede a ";" or end the text). Anything odd - in a name
    # too - takes the exact way below.
    if len(pairs) <= _SETVAR_MULTI_MAX:
        text = ";".join(map("=".join, pairs))
        if (text.count(";") == len(pairs) - 1 and text.isprintable() and '"' not in text and "'" not in text
                and "\\" not in text and "= " not in text and " ;" not in text and text[-1:] != " "):
            return [], [f"api uuid_setvar_multi {uuid} {text}"]
    unsafe = _SETVAR_MULTI_UNSAFE.search
    odd: list[tuple[str, str]] = []
    plain: list[tuple[str, str]] = []
    for pair in pairs:
        (odd if unsafe(pair[1]) else plain).append(pair)
    commands = [f"api uuid_setvar_multi {uuid} " + ";".join([f"{n}={v}" for n, v in plain[i:i + _SETVAR_MULTI_MAX]])
                for i in range(0, len(plain), _SETVAR_MULTI_MAX)]
    return [("set", f"{name}={value}") for name, value in odd], commands


def variable_apps(pairs: list[tuple[str, str]], mode: str = "set") -> list[tuple[str, str]]:
    """The apps that put ``pairs`` on the channel: one ``set`` each (the contract's default), or
    with ``mode="multiset"`` one ``multiset ^^<d>a=1<d>b=2`` for every value that is safe to join
    (no delimiter, quote, backslash or space-only surprises); the rest still go one by one."""
    if mode != "multiset" or len(pairs) < 2:
        return [("set", f"{name}={value}") for name, value in pairs]
    text = "".join(f"{n}{v}" for n, v in pairs)
    delimiter = next((d for d in _MULTISET_DELIMITERS if d not in text), None)
    if delimiter is None:
        return [("set", f"{name}={value}") for name, value in pairs]
    joinable = [(n, v) for n, v in pairs if v and not any(ch in v for ch in "'\"\\")]
    rest = [(n, v) for n, v in pairs if (n, v) not in joinable]
    # The odd ones first, so the last pair (the lookup status) is still set last.
    apps = [("set", f"{name}={value}") for name, value in rest]
    if joinable:
        apps.append(("multiset", "^^" + delimiter + delimiter.join(f"{n}={v}" for n, v in joinable)))
    return apps


class LookupApplication:
    """One call's work after connect (+ resume): lookups, set variables, exit."""

    def __init__(self, session: HotlineSession, runner: LookupRunner, config: Config):
        self.session = session
        self.runner = runner
        self.config = config
        self.status = "failed"

    def run(self) -> None:
        session = self.session
        call = CallInfo.from_channel_data(session.session_data or {}, self.config.default_area_code)
        names = call.requested
        started = time.perf_counter()
        outcome = self.runner.run(names, call)
        if not names:
            event(log, logging.WARNING, "socket reached without hotline_lookup", uuid=call.uuid, flow=call.flow)
        channel = session.session_data or {}
        # `set name=` on a variable the channel does not have changes nothing: skip the round trip.
        pairs = [(name, value) for name, value in outcome.variables.items()
                 if value != "" or f"variable_{name}" in channel]
        pairs.append(("hotline_lookup_status", outcome.status))  # last: the flow's signal that all is set
        api_commands: list[str] = []
        if self.config.set_app == "api" and call.uuid:
            sets, api_commands = setvar_commands(call.uuid, pairs)
        else:
            sets = variable_apps(pairs, self.config.set_app)
        try:
            self._set_variables(call, outcome, sets, api_commands)
        finally:
            ms = (time.perf_counter() - started) * 1000
            self.runner.stats.add(ms, outcome.failures, session.hung_up)
        # Each call's line is at debug level: its record keeps the outcome, the info log has a
        # summary per interval (esl_app.stats), and failures are logged as they happen.
        if log.isEnabledFor(logging.DEBUG):
            event(log, logging.DEBUG, "lookups done", uuid=call.uuid, caller=call.caller_key, flow=call.flow,
                  node=call.node, lookups=",".join(names), status=outcome.status,
                  failures=";".join(f"{n}: {why}" for n, why in outcome.failures), ms=round(ms, 2))

    def _set_variables(self, call: CallInfo, outcome: LookupOutcome, sets: list[tuple[str, str]],
                       api_commands: list[str]) -> None:
        session = self.session
        if session.hung_up:
            event(log, logging.INFO, "caller hung up during lookups", uuid=call.uuid, caller=call.caller_key)
            return
        try:
            session.execute_many(sets)
            if outcome.actions:
                if api_commands:
                    session.send_many(api_commands)
                    api_commands = []
                session.execute_many(outcome.actions)
            if api_commands:
                replies = session.finish(api_commands)
                refused = [r.data for r in replies if not str(r.data).startswith("+OK")]
                if refused:
                    event(log, logging.WARNING, "switch refused the variables", uuid=call.uuid,
                          reply=str(refused[0]).strip())
        except OutboundSessionHasGoneAway:
            if not (session.hung_up or session._lingering):
                raise
        self.status = outcome.status


ApplicationFactory = Callable[[HotlineSession], Any]


class HotlineServer:
    """Accepts the switch's outbound sockets on 127.0.0.1:8084 (by default) without polling."""

    def __init__(self, config: Config, application: ApplicationFactory):
        self.config = config
        self.application = application
        self.pool = gevent.pool.Pool(config.max_calls)
        self.stream = StreamServer((config.esl_host, config.esl_port), self._handle, spawn=self.pool, backlog=1024)
        self._stopped = gevent.event.Event()
        self.calls_served = 0

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.stream.address[:2]
        return host, port

    def start(self) -> None:
        self.stream.start()
        if self.config.esl_host not in ("127.0.0.1", "localhost", "::1"):
            event(log, logging.WARNING, "Event Socket server listens beyond loopback", host=self.config.esl_host)
        event(log, logging.INFO, "listening", host=self.address[0], port=self.address[1])

    def _handle(self, sock: Any, address: Any) -> None:
        try:
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except OSError:
            pass
        session = HotlineSession(address, sock, self.config.command_timeout_ms / 1000.0)
        try:
            session.connect()
            self.application(session).run()
        except (OutboundSessionHasGoneAway, NotConnectedError, CommandTimeout, OSError) as exc:
            data = session.session_data or {}
            event(log, logging.WARNING, "session ended early", uuid=data.get("Unique-ID", ""),
                  caller=data.get("Caller-Caller-ID-Number", ""), error=f"{type(exc).__name__}: {exc}")
        except Exception:
            log.exception("session failed")
        finally:
            session.close()
            self.calls_served += 1

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let calls in progress finish (up to ``grace`` seconds), then return."""
        grace = self.config.shutdown_grace_s if grace is None else grace
        event(log, logging.INFO, "stopping", active_calls=len(self.pool), grace_s=grace)
        self.stream.close()
        self.pool.join(timeout=grace)
        if len(self.pool):
            event(log, logging.WARNING, "calls still running after grace period", active_calls=len(self.pool))
            self.pool.kill(block=True, timeout=1)
        self._stopped.set()

    def serve_forever(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop gracefully."""
        self.start()
        handlers = [gevent.signal_handler(sig, lambda: gevent.spawn(self.stop)) for sig in (signal.SIGTERM, signal.SIGINT)]
        try:
            self._stopped.wait()
        finally:
            for h in handlers:
                h.cancel()
        event(log, logging.INFO, "stopped", calls_served=self.calls_served)


def lookup_application(runner: LookupRunner, config: Config) -> ApplicationFactory:
    """The greenswitch-style application factory for live lookups."""

    def factory(session: HotlineSession) -> LookupApplication:
        return LookupApplication(session, runner, config)

    return factory
