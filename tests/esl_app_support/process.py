"""A real ``esl-app serve`` process on 127.0.0.1 and an ephemeral port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .pg import _free_port as free_port

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class EslAppProcess:
    port: int
    log: Path

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def esl_app_serving(workdir: Path, db_url: str, *, esl: str = "", settings: str = "") -> Iterator[EslAppProcess]:
    """``esl-app serve`` reading ``db_url``. ``esl`` adds keys to the ``esl:`` section
    (e.g. ``"set_app: set"``), ``settings`` adds YAML lines (other sections) to hotline.yaml.

    Fails the test (with the server's output) when it does not listen within 20 s; always stopped.
    """
    port = free_port()
    config = workdir / "hotline.yaml"
    extra = f", {esl}" if esl else ""
    config.write_text(f"esl: {{host: 127.0.0.1, port: {port}{extra}}}\ndatabase: {{url: '{db_url}'}}\n"
                      "logging: {level: info, format: kv}\n" + settings, encoding="utf-8")
    log = workdir / "esl_app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "esl_app.cli", "serve", "--config", str(config)],
                                cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("esl-app serve did not start:\n" + log.read_text(errors="replace"))
                time.sleep(0.05)
        yield EslAppProcess(port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
