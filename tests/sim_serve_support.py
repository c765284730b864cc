"""Helpers shared by the inbound Event Socket and deploy tests: a real ``fsgen sim serve``
process on 127.0.0.1 (ephemeral port, always stopped), a tiny flow to compile, and a raw
blocking ESL client built on esl_app.protocol (so the tests see the exact bytes' meaning)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from esl_app import protocol as P

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret-test"

FLOW = """\
flow: {name}
title: Deploy and ESL test line
numbers: ["{number}"]
languages: [en]
start: main
prompts:
  menu: {{en: Press 1 for news or 2 to hang up.}}
  news: {{en: Today is a good day.}}
nodes:
  main:
    type: menu
    prompts: [menu]
    options:
      "1": news
      "2": hangup
    no_input: {{max: 3, then: hangup}}
  news:
    type: play
    prompts: [news]
    next: hangup
"""


def write_flow(folder: Path, name: str = "esltest", number: str = "95001") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(FLOW.format(name=name, number=number), encoding="utf-8")
    return path


def compile_flows(flows: Path, out: Path) -> None:
    from fsgen.cli import main
    result = CliRunner().invoke(main, ["compile", str(flows), "-o", str(out)])
    assert result.exit_code == 0, result.output


class Switch:
    """A running ``python -m fsgen.sim.serve``."""

    def __init__(self, proc: subprocess.Popen, host: str, port: int):
        self.proc = proc
        self.host = host
        self.port = port
        self.esl = f"{host}:{port}"
        self.stopped = False

    def stop(self) -> str:
        """Stop it (SIGTERM, then SIGKILL) and return what it wrote on stderr."""
        if self.stopped:
            return ""
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()
        return err


@contextmanager
def running_switch(conf: Path, *extra: str, password: str | None = PASSWORD) -> Iterator[Switch]:
    env = dict(os.environ)
    env.pop("HOTLINE_SIM_ESL_PASSWORD", None)
    if password is not None:
        env["HOTLINE_SIM_ESL_PASSWORD"] = password
    proc = subprocess.Popen([sys.executable, "-m", "fsgen.sim.serve", "--conf", str(conf),
                             "--listen", "127.0.0.1:0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT), text=True)
    switch = None
    try:
        line = ""
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while time.monotonic() < deadline and "listening on" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                if not line:
                    break
        if "listening on" not in line:
            proc.kill()
            proc.wait()
            raise AssertionError("fsgen sim serve did not start: " + (proc.stderr.read() if proc.stderr else ""))
        addr = line.split("listening on ", 1)[1].split()[0]
        host, _, port = addr.rpartition(":")
        switch = Switch(proc, host, int(port))
        yield switch
    finally:
        if switch is not None:
            switch.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait()


class RawClient:
    """Blocking inbound ESL client: send commands, read replies and events in wire order."""

    def __init__(self, port: int, password: str | None = PASSWORD, host: str = "127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=5)
        self.reader = P.Reader(P.MESSAGES)
        self.backlog: list[P.Message] = []
        first = self.read()
        self.greeting = first
        if password is not None and first.content_type == "auth/request":
            reply = self.command(f"auth {password}")
            assert reply.get("Reply-Text") == "+OK accepted", reply.headers

    def read(self, timeout: float = 5.0) -> P.Message:
        deadline = time.monotonic() + timeout
        while True:
            item = self.reader.next()
            if isinstance(item, P.Message):
                return item
            if item is P.CLOSED:
                raise EOFError("connection closed")
            assert not isinstance(item, P.ProtocolError), item
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("nothing from the switch")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            self.reader.feed(data)

    def command(self, line: str, headers: list[tuple[str, str]] | None = None, body: str | None = None,
                timeout: float = 10.0) -> P.Message:
        """Send a command; return its reply (events that arrive first go to ``backlog``)."""
        self.sock.sendall(P.encode_command(line, headers, body))
        while True:
            msg = self.read(timeout)
            if msg.content_type in ("command/reply", "api/response"):
                return msg
            self.backlog.append(msg)

    def api(self, line: str, timeout: float = 10.0) -> str:
        return self.command("api " + line, timeout=timeout).text

    def events_until(self, pred, timeout: float = 10.0) -> list[P.Event]:
        """Decoded events (backlog first) until one satisfies ``pred`` (included)."""
        got: list[P.Event] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.backlog.pop(0) if self.backlog else self.read(max(0.01, deadline - time.monotonic()))
            if not msg.content_type.startswith("text/event"):
                continue
            ev = P.parse_event(msg)
            assert isinstance(ev, P.Event), ev
            got.append(ev)
            if pred(ev):
                return got

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
