"""Replay an fs-reference case folder (conf/, call.json, optional esl_server.py/agents.json).

The harness does what fs_trace.py/fs_calls.py did on the rig: for each call
``originate {origination_caller_id_number=..,...}loopback/DEST/CONTEXT &park()`` (or the
case's ``a_app``), DTMF sent to the harness leg at the given seconds after the dialplan leg
answered (arriving on it ~35 ms later), API commands at ``api_at`` times.  The case's
conf/ is laid over the simulator's stock base; ``$${ref_sounds}`` is the cases' sounds
folder; the wall clock starts at the recorded ``start_time`` so time conditions see the
same moment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time as _time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from . import conf as _conf
from .bridge import loopback_pair
from .channel import Channel
from .engine import TIMEOUT, Wait
from .errors import SimError
from .session import execute
from .sim import RemoteParty, Simulator
from .trace import Trace

ESL_PORT = 8084


@dataclass
class CaseRun:
    trace: Trace
    sim: Simulator
    errors: list[str] = field(default_factory=list)


def _read_json(path: Path) -> Any | SimError:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SimError("file not found", file=str(path))
    except ValueError as err:
        return SimError(f"not valid JSON: {err}", file=str(path), line=getattr(err, "lineno", None))


def _recorded_meta(case_dir: Path) -> dict[str, Any]:
    for name in ("expected.jsonl", "trace.jsonl"):
        p = case_dir / name
        if p.is_file():
            try:
                with p.open(encoding="utf-8") as f:
                    first = json.loads(f.readline() or "{}")
            except ValueError:
                continue
            if first.get("event") == "meta":
                return first
    return {}


def _epoch_of(meta: dict[str, Any]) -> float | None:
    if "start_epoch" in meta:
        try:
            return float(meta["start_epoch"])
        except (TypeError, ValueError):
            pass
    if "start_time" in meta:
        try:
            return datetime.fromisoformat(str(meta["start_time"])).timestamp()
        except ValueError:
            pass
    return None


def parse_a_app(a_app: str | None) -> tuple[str, str]:
    """``&playback(/x.wav)`` -> ("playback", "/x.wav"); default ``&park()``."""
    if not a_app:
        return "park", ""
    s = a_app.strip().lstrip("&")
    if "(" in s and s.endswith(")"):
        name, _, arg = s[:-1].partition("(")
        return name.strip(), arg
    name, _, arg = s.partition(" ")
    return name, arg


def _harness(sim: Simulator, a: Channel, b: Channel, timeout: float, dtmf: list[dict[str, Any]],
             a_app: tuple[str, str], dtmf_from: str = "answer") -> Generator[Any, Any, None]:
    """The rig's caller: wait for the answer, send the scripted DTMF (seconds after the
    dialplan leg answered, or after the originate when ``dtmf_from`` is not "answer"), run
    ``a_app`` on the harness leg and hang up when it returns."""
    started = sim.engine.now
    deadline = started + timeout
    while not a.answered and not a.hungup:
        left = deadline - sim.engine.now
        if left <= 0:
            a.hangup("NO_ANSWER")
            return
        w = yield Wait(("answer",), timeout=left)
        if w.kind == TIMEOUT:
            a.hangup("NO_ANSWER")
            return
    if a.hungup:
        return
    base = b.answered_at if b.answered_at is not None and dtmf_from == "answer" else started
    for d in dtmf:
        try:
            at, digit = float(d.get("at", 0.0)), str(d.get("digit", ""))
        except (TypeError, ValueError):
            sim.trace.error(None, "bad_case", f"bad dtmf entry {d!r}")
            continue

        def send(digit: str = digit) -> None:
            if not a.hungup:
                sim.trace.add(b, "send_dtmf", digits=digit, api="uuid_send_dtmf a")
                a.send_dtmf(digit)
        sim.engine.call_at(base + at, send)
    app, arg = a_app
    yield from execute(a, app, arg)
    if not a.hungup:
        a.hangup("NORMAL_CLEARING")


def place_call(sim: Simulator, call: dict[str, Any], timeout: float, a_app: str | None) -> Channel:
    dest = str(call.get("dest", ""))
    context = str(call.get("context", "default"))
    caller = str(call.get("caller", "0000000000"))
    caller_name = str(call.get("caller_name", "FreeSWITCH"))
    variables = {"origination_caller_id_number": caller, "origination_caller_id_name": caller_name,
                 "originate_timeout": str(int(timeout)), "loopback_bowout": "false"}
    for k, v in (call.get("set") or {}).items():
        variables[str(k)] = str(v)
    a, b = loopback_pair(sim, dest, context, caller, caller_name, variables, harness=True)
    a.task = sim.engine.spawn(_harness(sim, a, b, timeout, list(call.get("dtmf") or []), parse_a_app(a_app),
                                       str(call.get("dtmf_from") or "answer")), "harness:" + a.name, a)
    return a


class EslServer:
    """The case's stdlib outbound-ESL server, run for the duration of the replay."""

    def __init__(self, script: Path):
        self.script = script
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen([sys.executable, str(self.script)], cwd=str(self.script.parent),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = _time.monotonic() + 10.0
        while _time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", ESL_PORT), timeout=0.2):
                    pass
                # that probe connection made the server run a handler; it ends on EOF
                return self
            except OSError:
                _time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_case(case_dir: str | Path, sounds_dir: str | Path | None = None,
             max_seconds: float = 600.0, conf_dir: str | Path | None = None,
             missing_prompt_seconds: float | None = None) -> CaseRun | SimError:
    """Replay ``case_dir``; ``conf_dir`` (default ``case_dir/conf``) is laid over the stock base,
    e.g. a tree written by ``fsgen compile``."""
    case_dir = Path(case_dir)
    call = _read_json(case_dir / "call.json")
    if isinstance(call, SimError):
        return call
    if not isinstance(call, dict):
        return SimError("call.json must hold an object", file=str(case_dir / "call.json"), line=1)
    sounds = Path(sounds_dir) if sounds_dir else case_dir.parent / "sounds"
    meta = _recorded_meta(case_dir)
    storage = Path(os.environ.get("HOTLINE_SIM_STORAGE", "/tmp/hotline-sim/storage"))
    conf_dir = Path(conf_dir) if conf_dir is not None else case_dir / "conf"
    if not conf_dir.is_dir():
        return SimError("configuration folder not found", file=str(conf_dir),
                        hint="a case needs conf/ (or give --conf DIR)")
    loaded = _conf.load(conf_dir, overlay_on_stock=True,
                        globals_=_conf.core_globals(str(conf_dir), storage_dir=str(storage)),
                        pinned={"ref_sounds": str(sounds)})
    if isinstance(loaded, SimError):
        return loaded
    sim = Simulator(loaded, start_epoch=_epoch_of(meta), tz=str(meta.get("tz") or "UTC"),
                    missing_prompt_seconds=missing_prompt_seconds)
    agents_file = case_dir / "agents.json"
    if agents_file.is_file():
        agents = _read_json(agents_file)
        if isinstance(agents, SimError):
            return agents
        for ag in agents or []:
            try:
                sim.remote_parties.append(RemoteParty(
                    "{}@127.0.0.1:{}".format(ag["name"], ag["port"]), ring=float(ag.get("ring", 0)),
                    answer=True, talk=float(ag["talk"]) if ag.get("talk") is not None else None,
                    dest=str(ag["name"])))
            except (KeyError, TypeError, ValueError):
                return SimError("agents.json entries need name, port, ring, talk", file=str(agents_file))
    timeout = float(call.get("timeout", 30))
    calls = call.get("calls") or [call]
    last_start = 0.0
    for c in calls:
        at = float(c.get("at", 0.0)) if c is not call else 0.0
        last_start = max(last_start, at)
        sim.engine.call_at(at, place_call, sim, c, timeout, c.get("a_app"))
    for item in call.get("api_at") or []:
        def run_api(cmd: str = str(item.get("cmd", ""))) -> None:
            reply = sim.api(cmd)
            sim.trace.add(None, "api", cmd=cmd, reply=reply.strip())
        sim.engine.call_at(float(item.get("at", 0.0)), run_api)

    def finished() -> bool:
        """Every call was placed and every channel is gone."""
        return sim.engine.now >= last_start and sim.created_count > 0 and not sim.channels

    server = case_dir / "esl_server.py"
    if server.is_file():
        with EslServer(server):
            sim.run(until=max_seconds, stop=finished)
    else:
        sim.run(until=max_seconds, stop=finished)
    for chan in list(sim.channels.values()):
        chan.hangup("NORMAL_CLEARING")
    sim.close()
    sim.trace.meta(start_time=meta.get("start_time"), start_epoch=sim.start_epoch,
                   tz=str(meta.get("tz") or "UTC"), case=case_dir.name, call=call, simulator="hotline")
    return CaseRun(trace=sim.trace, sim=sim, errors=[str(e) for e in sim.engine.errors])
