"""A small inbound Event Socket client: esl_app connecting *to* the switch (port 8021).

The outbound server (:mod:`esl_app.server`) waits for calls; this is the other direction, used for
what is not on a call's path: the switch-side cache (``hash insert`` pipelined by the thousand)
and call records (CHANNEL_HANGUP_COMPLETE events). Framing is the shared sans-IO core
(:mod:`esl_app.protocol`); this module only adds gevent sockets and bookkeeping:

- :class:`SwitchConnection`: one authenticated connection. Commands are pipelined (the switch
  answers them strictly in order, so replies are matched to commands by position), events go to
  a callback as raw :class:`~esl_app.protocol.Message` values so a consumer decodes only what it
  reads. Every wait has a timeout; a silent or vanished switch fails the waiters instead of
  holding them.
- :class:`SwitchLink`: keeps one connection up for a long-lived process. It reconnects with
  exponential backoff (jittered, capped), re-applies the event subscription and filters, and runs
  ``on_connect`` hooks, so a restarted switch is picked up without operator action.
"""

from __future__ import annotations

import logging
import random
import socket as _stdsocket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import gevent
import gevent.event
import gevent.lock
from gevent import socket

from .logs import event
from .protocol import CLOSED, MESSAGES, NEED_DATA, Message, ProtocolError, Reader, encode_command

log = logging.getLogger("esl_app.switch")

EventCallback = Callable[[Message], None]


class SwitchError(Exception):
    """The switch could not be reached, refused us, or stopped answering."""


class AuthError(SwitchError):
    """The switch rejected the Event Socket password."""


class SwitchClosed(SwitchError):
    """The connection ended while a command waited for its reply."""


class SwitchConnection:
    """One authenticated inbound Event Socket connection (see the module docstring)."""

    def __init__(self, host: str, port: int, password: str, *, timeout: float = 5.0,
                 on_event: EventCallback | None = None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.on_event = on_event
        self.closed_reason = ""
        self._pending: deque[gevent.event.AsyncResult] = deque()
        self._write_lock = gevent.lock.Semaphore()
        self._closed = gevent.event.Event()
        self._sock: Any = None
        self._reader: gevent.Greenlet | None = None
        self._connect(password)

    # -- connecting ----------------------------------------------------------------------------

    def _connect(self, password: str) -> None:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise SwitchError(f"cannot connect to the switch at {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        try:
            self._sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
        except OSError:
            pass
        self._sock.settimeout(None)
        greeting = gevent.event.AsyncResult()
        self._pending.append(greeting)  # auth/request is the first message, like a reply
        self._reader = gevent.spawn(self._read_loop)
        try:
            first = self._wait(greeting, "the switch's greeting")
            if first.content_type == "text/rude-rejection":
                raise SwitchError(f"the switch at {self.host}:{self.port} rejected this address (ACL): "
                                  f"{first.text.strip()}")
            if first.content_type != "auth/request":
                raise SwitchError(f"{self.host}:{self.port} is not a FreeSWITCH Event Socket "
                                  f"(first message {first.content_type or 'without Content-Type'})")
            reply = self.command(f"auth {password}")
            text = reply.get("Reply-Text") or ""
            if not text.startswith("+OK"):
                raise AuthError(f"the switch at {self.host}:{self.port} refused the Event Socket password "
                                "(freeswitch.password / HOTLINE_ESL_PASSWORD)")
        except BaseException:
            self.close()
            raise

    # -- reading -------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        reader = Reader(MESSAGES)
        reason = "closed by the switch"
        try:
            while True:
                item = reader.next()
                if item is NEED_DATA:
                    data = self._sock.recv(262144)
                    reader.feed(data)
                    continue
                if item is CLOSED:
                    break
                if isinstance(item, ProtocolError):
                    reason = f"protocol error: {item.message}"
                    break
                assert isinstance(item, Message)
                self._dispatch(item)
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        except gevent.GreenletExit:
            reason = "closed"
        finally:
            self._finish(reason)

    def _dispatch(self, msg: Message) -> None:
        ctype = msg.content_type
        if ctype.startswith("text/event"):
            if self.on_event is not None:
                try:
                    self.on_event(msg)
                except Exception:
                    log.exception("event handler failed")  # a consumer's bug must not kill the connection
            return
        if ctype == "text/disconnect-notice":
            self.closed_reason = "disconnect notice from the switch"
            return
        if ctype == "log/data":
            return
        # command/reply, api/response, auth/request, rude rejection -- or something that is no
        # Event Socket at all, which the greeting check then names.
        if self._pending:
            self._pending.popleft().set(msg)

    def _finish(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.closed_reason = self.closed_reason or reason
        self._closed.set()
        pending, self._pending = self._pending, deque()
        for result in pending:
            if not result.ready():
                result.set_exception(SwitchClosed(self.closed_reason))
        try:
            self._sock.close()
        except OSError:
            pass

    # -- commands ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    def send(self, line: str, headers: Sequence[tuple[str, str]] | None = None,
             body: str | None = None) -> gevent.event.AsyncResult:
        """Write one command and return the future of its reply (pipelining: do not wait)."""
        return self.send_raw(encode_command(line, list(headers or ()), body))

    def send_raw(self, data: bytes, count: int = 1) -> gevent.event.AsyncResult:
        """Write ``count`` already-encoded commands; returns the future of the last reply."""
        if self.closed:
            raise SwitchClosed(self.closed_reason or "not connected")
        results = [gevent.event.AsyncResult() for _ in range(count)]
        with self._write_lock:
            self._pending.extend(results)
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self._finish(f"{type(exc).__name__}: {exc}")
                raise SwitchClosed(self.closed_reason) from None
        return results[-1]

    def _wait(self, result: gevent.event.AsyncResult, what: str, timeout: float | None = None) -> Message:
        try:
            return result.get(timeout=self.timeout if timeout is None else timeout)
        except gevent.Timeout:
            self._finish(f"no reply to {what} within {self.timeout if timeout is None else timeout}s")
            raise SwitchError(f"the switch at {self.host}:{self.port} did not answer {what}") from None

    def command(self, line: str, headers: Sequence[tuple[str, str]] | None = None, body: str | None = None,
                timeout: float | None = None) -> Message:
        """Send one command and wait for its reply."""
        return self._wait(self.send(line, headers, body), line.split(" ", 1)[0], timeout)

    def api(self, command: str, timeout: float | None = None) -> str:
        """``api <command>``: the switch runs it and answers with its output (blocking this connection)."""
        return self.command(f"api {command}", timeout=timeout).text

    def api_many(self, commands: Iterable[str], window: int = 64, chunk: int = 16,
                 timeout: float | None = None) -> Iterator[str]:
        """Pipeline ``api`` commands: up to ``window`` in flight, written ``chunk`` at a time;
        yields every reply in order. Far faster than one round trip per command."""
        inflight: deque[gevent.event.AsyncResult] = deque()
        batch: list[bytes] = []

        def flush() -> None:
            if batch:
                futures = [gevent.event.AsyncResult() for _ in batch]
                with self._write_lock:
                    if self.closed:
                        raise SwitchClosed(self.closed_reason or "not connected")
                    self._pending.extend(futures)
                    try:
                        self._sock.sendall(b"".join(batch))
                    except OSError as exc:
                        self._finish(f"{type(exc).__name__}: {exc}")
                        raise SwitchClosed(self.closed_reason) from None
                inflight.extend(futures)
                batch.clear()

        for command in commands:
            batch.append(encode_command(f"api {command}"))
            if len(batch) >= chunk:
                flush()
            while len(inflight) >= window:
                yield self._wait(inflight.popleft(), "api", timeout).text
        flush()
        while inflight:
            yield self._wait(inflight.popleft(), "api", timeout).text

    def bgapi(self, command: str, job_uuid: str | None = None) -> str:
        """``bgapi <command>``: returns the Job-UUID; the output arrives later as a BACKGROUND_JOB
        event (subscribe to it, and mind filters: the event carries no channel variables)."""
        headers = [("Job-UUID", job_uuid)] if job_uuid else None
        reply = self.command(f"bgapi {command}", headers)
        text = reply.get("Reply-Text") or ""
        if not text.startswith("+OK"):
            raise SwitchError(f"bgapi {command.split(' ', 1)[0]} refused: {text}")
        return reply.get("Job-UUID") or text.split("Job-UUID:", 1)[-1].strip()

    def subscribe(self, events: Iterable[str], fmt: str = "plain") -> None:
        names = " ".join(events)
        reply = self.command(f"event {fmt} {names}")
        if not (reply.get("Reply-Text") or "").startswith("+OK"):
            raise SwitchError(f"event subscription refused: {reply.get('Reply-Text')}")

    def add_filter(self, header: str, value: str) -> None:
        """``filter <header> <value>``: with filters set the switch sends only events where one of
        them matches (``/regex/`` values; ``-value`` excludes)."""
        reply = self.command(f"filter {header} {value}")
        if not (reply.get("Reply-Text") or "").startswith("+OK"):
            raise SwitchError(f"filter refused: {reply.get('Reply-Text')}")

    def close(self) -> None:
        """Say goodbye (best effort) and release the socket."""
        if not self.closed:
            try:
                with self._write_lock:
                    self._sock.sendall(b"exit\n\n")
            except OSError:
                pass
        reader = self._reader
        if reader is not None and not reader.dead:
            self._closed.wait(0.5)
            reader.kill(block=True, timeout=1)
        self._finish("closed")


class SwitchLink:
    """Keeps one :class:`SwitchConnection` up, reconnecting with backoff (see module docstring).

    ``on_connect`` hooks run in their own greenlets after every (re)connection, once the
    subscription and filters are in force.
    """

    def __init__(self, host: str, port: int, password: str, *, events: Sequence[str] = (),
                 filters: Sequence[tuple[str, str]] = (), on_event: EventCallback | None = None,
                 on_connect: Sequence[Callable[[SwitchConnection], None]] = (), timeout: float = 5.0,
                 backoff_min: float = 0.2, backoff_max: float = 30.0):
        self.host, self.port, self._password = host, port, password
        self.events = list(events)
        self.filters = list(filters)
        self.on_event = on_event
        self.on_connect = list(on_connect)
        self.timeout = timeout
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.connections = 0
        self.conn: SwitchConnection | None = None
        self._up = gevent.event.Event()
        self._stopping = False
        self._runner: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._runner is None:
            self._runner = gevent.spawn(self._run)

    def connection(self, timeout: float | None = None) -> SwitchConnection:
        """The live connection, waiting up to ``timeout`` for one; raises :class:`SwitchError`."""
        if not self._up.wait(timeout):
            raise SwitchError(f"no connection to the switch at {self.host}:{self.port}")
        conn = self.conn
        if conn is None or conn.closed:
            raise SwitchError(f"no connection to the switch at {self.host}:{self.port}")
        return conn

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def _open(self) -> SwitchConnection:
        conn = SwitchConnection(self.host, self.port, self._password, timeout=self.timeout, on_event=self.on_event)
        try:
            if self.events:
                conn.subscribe(self.events)
            for header, value in self.filters:
                conn.add_filter(header, value)
        except BaseException:
            conn.close()
            raise
        return conn

    def _run(self) -> None:
        delay = self.backoff_min
        failures = 0
        while not self._stopping:
            try:
                conn = self._open()
            except SwitchError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 or failures % 20 == 0 or isinstance(exc, AuthError) \
                    else logging.DEBUG
                event(log, level, "switch unreachable", host=self.host, port=self.port, error=str(exc),
                      retry_s=round(delay, 2), attempts=failures)
                gevent.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(self.backoff_max, delay * 2)
                continue
            self.conn = conn
            self.connections += 1
            failures = 0
            self._up.set()
            event(log, logging.INFO, "connected to the switch", host=self.host, port=self.port,
                  events=",".join(self.events), connection=self.connections)
            for hook in self.on_connect:
                gevent.spawn(self._hook, hook, conn)
            started = gevent.get_hub().loop.now()
            conn.wait_closed()
            self._up.clear()
            if self._stopping:
                break
            event(log, logging.WARNING, "lost the switch connection", host=self.host, port=self.port,
                  reason=conn.closed_reason)
            if gevent.get_hub().loop.now() - started > 10:
                delay = self.backoff_min  # it was up for a while: a fresh outage, retry quickly
            gevent.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(self.backoff_max, delay * 2)

    @staticmethod
    def _hook(hook: Callable[[SwitchConnection], None], conn: SwitchConnection) -> None:
        try:
            hook(conn)
        except SwitchError as exc:
            event(log, logging.WARNING, "switch hook failed", hook=getattr(hook, "__name__", str(hook)),
                  error=str(exc))
        except Exception:
            log.exception("switch hook failed")

    def stop(self) -> None:
        self._stopping = True
        conn = self.conn
        if conn is not None:
            conn.close()
        if self._runner is not None:
            self._runner.kill(block=True, timeout=2)
        self._up.clear()
