"""Helpers to drive the simulator from tests: a conf tree from XML strings, prompts of known
length, one call placed like the fs-reference harness, and the compared projection of a trace.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from . import conf as _conf
from .errors import SimError
from .refcase import place_call
from .sim import Simulator

#: the events (and fields) compare.py keeps
KEEP = {
    "execute": ("app", "data"), "answer": (), "playback_start": ("file",), "playback_stop": ("file", "status"),
    "dtmf": ("digit",), "route": ("dest", "context"), "bridge": (), "unbridge": (), "record_start": ("file",),
    "hangup": ("cause",),
}


def write_wav(path: str | Path, seconds: float, rate: int = 8000) -> Path:
    """A silent 16-bit mono WAV lasting ``seconds``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = round(seconds * rate)
    data = b"\x00\x00" * n
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    path.write_bytes(header + fmt + b"data" + struct.pack("<I", len(data)) + data)
    return path


def make_conf(root: str | Path, dialplan: str, menus: str = "",
              files: dict[str, str] | None = None) -> Path:
    """A case-style conf/ folder: ``dialplan`` is the inside of ``<include>`` (contexts)."""
    root = Path(root)
    (root / "dialplan").mkdir(parents=True, exist_ok=True)
    (root / "dialplan" / "test.xml").write_text(f"<include>\n{dialplan}\n</include>\n", encoding="utf-8")
    if menus:
        (root / "ivr_menus").mkdir(parents=True, exist_ok=True)
        (root / "ivr_menus" / "menus.xml").write_text(f"<include>\n{menus}\n</include>\n", encoding="utf-8")
    for rel, text in (files or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def simulator(conf_dir: str | Path, sounds: str | Path | None = None,
              start: str = "2026-11-22T23:26:00+00:00", **kwargs: Any) -> Simulator:
    pinned = {"ref_sounds": str(sounds)} if sounds is not None else {}
    loaded = _conf.load(conf_dir, overlay_on_stock=True, pinned=pinned)
    if isinstance(loaded, SimError):
        raise AssertionError(str(loaded))
    return Simulator(loaded, start_epoch=datetime.fromisoformat(start).timestamp(), **kwargs)


def call(sim: Simulator, dest: str, context: str, caller: str = "1000", caller_name: str = "Test Caller",
         dtmf: Iterable[tuple[float, str]] = (), a_app: str | None = None, timeout: float = 30,
         variables: dict[str, str] | None = None, run: bool = True, until: float = 600.0) -> Simulator:
    """Place one call (harness leg "a", dialplan leg "b") and run the simulator to the end."""
    spec = {"dest": dest, "context": context, "caller": caller, "caller_name": caller_name,
            "dtmf": [{"at": at, "digit": d} for at, d in dtmf], "set": variables or {}}
    place_call(sim, spec, timeout, a_app)
    if run:
        sim.run(until=until, stop=lambda: sim.engine.now > 0 and not sim.channels)
    return sim


def projection(sim: Simulator, leg: str = "b", times: bool = False) -> list[tuple]:
    """The compared events of one leg as tuples, e.g. ("execute", "set", "x=1")."""
    out = []
    for r in sim.trace.records:
        if r.get("leg") != leg or r.get("event") not in KEEP:
            continue
        fields = tuple("" if r.get(k) is None else r.get(k) for k in KEEP[r["event"]])
        out.append(((round(r["t"], 3),) if times else ()) + (r["event"],) + fields)
    return out


def apps_run(sim: Simulator, leg: str = "b") -> list[tuple[str, str]]:
    return [(r["app"], r.get("data") or "") for r in sim.trace.records
            if r.get("leg") == leg and r.get("event") == "execute"]
