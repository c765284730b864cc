"""``socket host:port [async] [full]``: hand the call to an outbound Event Socket app."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..channel import Channel
from ..engine import Sleep, Wait
from ..outbound import ALLOWED_HOSTS, connect
from ..session import execute
from . import application
from .args import separate

RESUME_DELAY = 0.02


@application("socket")
def socket_app(chan: Channel, data: str) -> Generator[Any, Any, None]:
    argv = separate(data)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "socket needs host:port")
        return
    host, _, port_s = argv[0].rpartition(":")
    if not host:
        host, port_s = argv[0], "8084"
    flags = {a.lower() for a in argv[1:]}
    try:
        port = int(port_s)
    except ValueError:
        chan.sim.trace.error(chan, "bad_argument", f"socket: bad port in {argv[0]!r}")
        return
    chan.set_var("socket_host", host)
    if host not in ALLOWED_HOSTS:
        chan.sim.trace.error(chan, "socket_refused", f"the simulator only connects to 127.0.0.1, not {host!r}")
        return
    conn = connect(chan, host, port, "async" in flags, "full" in flags)
    if conn is None:
        chan.sim.trace.add(chan, "log", level="ERR", text="Socket Error! %s:%d" % (host, port))
        return
    if conn.async_mode:
        chan.emit("park")
    while True:
        if conn.queue and chan.ready:
            cmd = conn.queue.popleft()
            app, arg, loops, app_uuid = conn.app_of(cmd)
            conn.app_uuid = app_uuid
            for _ in range(loops):
                if not chan.ready:
                    break
                yield from execute(chan, app, arg)
            conn.app_uuid = None
            conn.executed(cmd)
            continue
        if conn.closed or not chan.ready:
            break
        conn.awaiting = True
        try:
            yield Wait(("esl_cmd", "esl_closed", "break"))
        finally:
            conn.awaiting = False
    if not chan.ready:
        return
    yield Sleep(RESUME_DELAY)
    if conn.async_mode:
        chan.emit("channel_unpark")
    if not conn.resume and not chan.true("socket_resume"):
        chan.hangup("NORMAL_CLEARING")
