"""A hand-written outbound Event Socket app for the ``socket`` application's tests: the simulator
places one call whose dialplan runs ``socket`` towards a listener on 127.0.0.1 (ephemeral port), and
``peer(conn)`` - run in a thread - speaks to it. The listener is always closed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

from esl_app import protocol as P
from fsgen.sim.sim import Simulator
from fsgen.sim.testing import call, make_conf, simulator


def reply_reader(conn: socket.socket, wanted: tuple[str, ...] = ()) -> Callable[[], P.Message]:
    """``recv()`` for ``conn``: the next message (of a ``wanted`` content type, if given); EOFError at EOF."""
    reader = P.Reader(P.MESSAGES)

    def recv() -> P.Message:
        while True:
            item = reader.next()
            if isinstance(item, P.Message):
                if not wanted or item.content_type in wanted:
                    return item
                continue
            data = conn.recv(4096)
            if not data:
                raise EOFError
            reader.feed(data)

    return recv


def socket_call(tmp_path: Path, peer: Callable[[socket.socket], None], *, before: str = "",
                mode: str = "async full", after: str = "") -> Simulator:
    """Run one call through ``answer``, ``before`` (actions), ``socket 127.0.0.1:<port> <mode>``,
    ``after``; ``peer`` gets the accepted connection. Returns the simulator once the call is over."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def app() -> None:
        conn, _ = srv.accept()
        try:
            peer(conn)
        except EOFError:
            pass
        finally:
            conn.close()

    t = threading.Thread(target=app, daemon=True)
    t.start()
    plan = f"""<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">
  <action application="answer"/>{before}
  <action application="socket" data="127.0.0.1:{port} {mode}"/>
  {after}
</condition></extension></context>"""
    try:
        sim = simulator(make_conf(tmp_path / "conf", plan))
        call(sim, "100", "t")
        t.join(timeout=10)
    finally:
        srv.close()
    return sim
