"""A scripted stand-in for esl_app: answers a call script's ``lookups:`` over the real outbound
Event Socket protocol, from an ephemeral port on 127.0.0.1.

On the wire it does what esl_app does (LOOKUP_CONTRACT.md): ``connect`` (the reply carries the
channel data, among it ``variable_hotline_lookup``), ``linger``, ``resume``, one ``sendmsg``
``execute set name=value`` per variable (``event-lock: true``), ``set
hotline_lookup_status=ok|failed``, optionally ``execute hangup CAUSE`` (a rejected blacklisted
caller), then ``exit``.  Unlike esl_app it sends all of that in one write and subscribes to no
events: it has nothing to wait for, since FreeSWITCH runs the queued ``sendmsg`` commands before
the dialplan goes on (mod_event_socket parses the session's pending events when the socket
application returns), and skipping the events (each carries every channel variable) keeps a
lookup hop at a fraction of a millisecond.  The answers come from the script: a lookup it does
not list fails, a list of answers is used one per hop (the last one repeats: a PIN wrong, then
right).

It runs inside the simulator's event loop as one more I/O poller (``Engine.io``) instead of a
thread: the switch side and this side take turns on the same clock, so a call with lookups stays
deterministic and costs microseconds, not a thread switch per message.  The framing is
:mod:`esl_app.protocol`, the same sans-IO core esl_app and the simulator use.
"""

from __future__ import annotations

import select
import selectors
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from esl_app import protocol as P

if TYPE_CHECKING:  # pragma: no cover
    from .sim import Simulator

Answers = dict[str, "list[dict[str, str]] | str"]

_EPOLL = getattr(select, "epoll", None)
_EPOLLIN = getattr(select, "EPOLLIN", 1)

#: the commands without arguments it sends on every hop
_CONNECT, _LINGER, _RESUME, _EXIT = (P.encode_command(c) for c in ("connect", "linger", "resume", "exit"))

#: the connect reply's headers this stand-in reads
_WANTED = ("Content-Type", "Unique-ID", "Caller-Caller-ID-Number", "variable_hotline_lookup")


def _header(block: bytes, name: str) -> str | None:
    """Message.get(name) on a header block of ``\\n``-ended lines: the first line named so."""
    key = b"\n" + name.encode() + b":"
    i = 0 if block.startswith(key[1:]) else block.find(key)
    if i < 0:
        return None
    start = block.index(b":", i + 1) + 1
    end = block.index(b"\n", start)
    if block[start:start + 1] == b" ":
        start += 1
    return block[start:end].decode("utf-8")


@dataclass
class Hop:
    """One lookup hop as the stub served it (for the transcript and tests)."""

    uuid: str
    lookups: list[str]
    status: str = "failed"
    variables: dict[str, str] = field(default_factory=dict)
    hangup: str | None = None


class _Conn:
    """One connection from the switch's ``socket`` application (the app's side of the protocol)."""

    def __init__(self, stub: LookupStub, sock: socket.socket):
        self.stub = stub
        self.sock = sock
        self.reader = P.Reader(P.MESSAGES)
        self.state = "connect"
        self.uuid = ""
        self.caller = ""
        self.exec_seq = 0
        self.closed = False
        self.head = b""   # the connect reply while it arrives (see on_bytes)
        self.send(_CONNECT)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            self.close()

    def on_bytes(self, data: bytes) -> None:
        if self.state == "connect":
            if data:
                got = self._connect_reply(data)
                if got is None:
                    return
                data = got
            elif self.head:       # the stream ended inside the connect reply
                self.reader.feed(self.head)
                self.head = b""
        self.reader.feed(data)
        while not self.closed:
            msg = self.reader.next()
            if msg is P.NEED_DATA:
                return
            if msg is P.CLOSED or isinstance(msg, P.ProtocolError):
                self.close()
                return
            assert isinstance(msg, P.Message)
            self.on_message(msg)

    def _connect_reply(self, data: bytes) -> bytes | None:
        """The connect reply carries every channel variable, and this stand-in reads three of its
        headers: a plain header block (no body, ``\\n`` line ends, the switch's only form) is
        read with one search per header instead of being split into some hundred pairs.
        Returns None when nothing is left for the framing reader, else the bytes it still has
        to see (all of them for any other form, which it then frames as before)."""
        head = self.head = self.head + data
        if head[:1] not in (b"\n", b"\r") and b"\r" not in head:
            end = head.find(b"\n\n")
            if end < 0:
                if len(head) <= P.MAX_HEADER_BYTES:
                    return None    # wait for the rest of the block
            else:
                block = head[:end + 1]
                if b"Content-Length" not in block:
                    try:
                        got = {name: _header(block, name) for name in _WANTED}
                    except UnicodeDecodeError:
                        got = None
                    if got is not None and got["Content-Type"] == "command/reply":
                        self.head = b""
                        self._on_connect_reply(got.get)
                        rest = head[end + 2:]
                        return rest if rest and not self.closed else None
        self.head = b""
        self.state = "connect-framed"   # any other form: the reader frames it as before
        return head

    def on_message(self, msg: P.Message) -> None:
        ctype = msg.content_type
        if self.state in ("connect", "connect-framed") and ctype == "command/reply":
            self._on_connect_reply(msg.get)
        elif ctype == "text/disconnect-notice":
            self.close()

    def _on_connect_reply(self, get: Callable[[str], str | None]) -> None:
        # the reply carries every channel variable; decode only the two this stand-in reads
        self.uuid = unquote(get("Unique-ID") or "")
        self.caller = unquote(get("Caller-Caller-ID-Number") or "")
        wanted = unquote(get("variable_hotline_lookup") or "")
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        self.state = "running"
        out = [_LINGER, _RESUME]
        out += self.run_lookups(names)
        out.append(_EXIT)
        self.send(b"".join(out))

    def execute(self, app: str, arg: str) -> bytes:
        self.exec_seq += 1
        return P.encode_command(f"sendmsg {self.uuid}", [
            ("call-command", "execute"), ("execute-app-name", app), ("execute-app-arg", arg),
            ("event-lock", "true"), ("Event-UUID", f"hotline-replay-{self.exec_seq}")])

    def run_lookups(self, names: list[str]) -> list[bytes]:
        """The commands answering ``names`` (set ..., hotline_lookup_status, maybe hangup)."""
        hop = Hop(self.uuid, names)
        out: list[bytes] = []
        failed = not names
        for name in names:
            answer = self.stub.next_answer(self.caller, name)
            if answer is None:
                failed = True
                continue
            for var, value in answer.items():
                if var == "hangup":
                    hop.hangup = value
                    continue
                hop.variables[var] = value
                out.append(self.execute("set", f"{var}={value}"))
        hop.status = "failed" if failed else "ok"
        out.append(self.execute("set", f"hotline_lookup_status={hop.status}"))
        if hop.hangup:
            out.append(self.execute("hangup", hop.hangup))
        self.stub.hops.append(hop)
        return out

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.stub.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass


class LookupStub:
    """Listens on 127.0.0.1:<ephemeral>; :meth:`attach` it to each simulator that should use it."""

    spin_ok = True   # its poll never blocks and schedules nothing (see Engine.spin_below)

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        # a raw epoll where there is one: no selectors bookkeeping for the connection of each hop
        self.sel: Any = _EPOLL() if _EPOLL is not None else selectors.DefaultSelector()
        self._by_fd: dict[int, _Conn | None] = {}
        self._fds: dict[_Conn, int] = {}
        self._watch(self.listener, None)
        self.conns: set[_Conn] = set()
        self.sim: Simulator | None = None
        self._switch: Any = None    # the attached simulator's EslPoller, once it has one
        self.answers: Answers = {}
        self.by_caller: dict[str, Answers] = {}
        self.used: dict[str, int] = {}
        self.hops: list[Hop] = []
        self.closed = False

    # ---- per call ---------------------------------------------------------------------------------
    def attach(self, sim: Simulator, answers: Answers, targets: list[tuple[str, int]],
               by_caller: dict[str, Answers] | None = None) -> None:
        """Serve ``sim``'s ``socket`` apps that aim at ``targets`` with ``answers`` (or, for a
        caller ID listed in ``by_caller``, with that caller's answers)."""
        self.detach()
        self.sim = sim
        self._switch = None
        self.answers = answers
        self.by_caller = dict(by_caller or {})
        self.used = {}
        self.hops = []
        for target in targets:
            sim.esl_redirect[target] = ("127.0.0.1", self.port)
        sim.engine.io.insert(0, self)  # polled before the switch side (see poll)

    def detach(self) -> None:
        for conn in list(self.conns):
            conn.close()
        if self.sim is not None and self in self.sim.engine.io:
            self.sim.engine.io.remove(self)
        self.sim = None
        self._switch = None

    def next_answer(self, caller: str, name: str) -> dict[str, str] | None:
        spec = self.by_caller.get(caller, self.answers).get(name)
        if spec is None or isinstance(spec, str):   # not listed, or "failed"
            return None
        key = f"{caller}/{name}"
        n = self.used.get(key, 0)
        self.used[key] = n + 1
        return spec[min(n, len(spec) - 1)]

    def forget(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        self._unwatch(conn.sock, conn)

    def _watch(self, sock: socket.socket, conn: _Conn | None) -> None:
        if _EPOLL is None:
            self.sel.register(sock, selectors.EVENT_READ, conn)
            return
        fd = sock.fileno()
        self.sel.register(fd, _EPOLLIN)
        self._by_fd[fd] = conn
        if conn is not None:
            self._fds[conn] = fd

    def _unwatch(self, sock: socket.socket, conn: _Conn | None) -> None:
        if _EPOLL is None:
            try:
                self.sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            return
        fd = self._fds.pop(conn, None) if conn is not None else self.listener.fileno()
        if fd is None or fd not in self._by_fd:
            return
        del self._by_fd[fd]
        try:
            self.sel.unregister(fd)
        except (OSError, ValueError):   # as EpollSelector.unregister
            pass

    def _ready(self) -> list[_Conn | None]:
        """What has something to read now (None: the listener), in the order epoll reports it."""
        if _EPOLL is None:
            return [key.data for key, _ in self.sel.select(0)]
        by_fd = self._by_fd
        try:
            events = self.sel.poll(0.0, max(len(by_fd), 1))
        except InterruptedError:
            return []
        return [by_fd[fd] for fd, _ in events if fd in by_fd]

    # ---- engine I/O poller --------------------------------------------------------------------------
    def active(self) -> bool:
        if self.conns:
            return True
        switch = self._switch
        if switch is None:      # the switch side's poller appears with the first socket app
            sim = self.sim
            if sim is None:
                return False
            switch = self._switch = sim.modules.get("esl_poller")
            if switch is None:
                return False
        return bool(switch.conns)   # EslPoller.active()

    def realtime(self) -> bool:
        return False

    def poll(self, timeout: float | None) -> bool:
        """Never blocks: everything this side sends is sent before the switch side is polled,
        so the switch side's blocking wait can only be a wait for nothing this stub owes it."""
        got = False
        for conn in self._ready():
            if conn is None:
                try:
                    sock, _addr = self.listener.accept()
                except (BlockingIOError, OSError):
                    continue
                if sock.gettimeout() is not None:   # accepted blocking unless a default timeout is set
                    sock.setblocking(True)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Conn(self, sock)
                self.conns.add(conn)
                self._watch(sock, conn)
                got = True
                continue
            try:
                data = conn.sock.recv(65536)
            except OSError:
                data = b""
            got = True
            if not data:
                conn.close()
            else:
                conn.on_bytes(data)
        return got

    def close(self) -> None:
        if self.closed:
            return
        self.detach()
        self.closed = True
        self._unwatch(self.listener, None)
        self.listener.close()
        self.sel.close()


class DeadPort:
    """A port on 127.0.0.1 where nothing listens (bound, never listening): ``esl_app: down``."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()
