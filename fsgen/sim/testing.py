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


def act(app: str, data: str = "") -> str:
    """One dialplan ``<action>`` (a ``"`` in ``data`` escaped), for the ``dialplan`` of :func:`make_conf`."""
    return '<action application="{}" data="{}"/>'.format(app, data.replace('"', "&quot;"))


def mailbox_user(number: str, *params: tuple[str, str]) -> str:
    """A directory user that is a voicemail box (``vm-password`` = the number), as an ``<include>``."""
    p = "".join(f'<param name="{k}" value="{v}"/>' for k, v in (("vm-password", number), *params))
    return f'<include><user id="{number}"><params>{p}</params></user></include>'


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
        raise AssertionError(str(loaded))  # noqa: TRY004 - a broken test conf fails the test
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


# ---- scripted calls (call scripts on compiled flows) ------------------------------------------------------------
class ScriptProblem(AssertionError):
    """A call script (or the flows it calls) has errors; the message lists them as file:line."""


def replay_rig(flows: str | Path | Iterable[str | Path] = "flows", *, text_prompts: str = "default",
               prompt_seconds: float = 2.0, recordings: str | Path | None = None) -> Any:
    """Compile ``flows`` (files, directories, or one compiled conf dir) once for many calls::

        with replay_rig(["examples", "flows"]) as rig:
            result = replay_call("examples/calls/paging/invalid_then_silence.yaml", rig=rig)

    ``text_prompts="default"`` (the default here): text prompts last ``prompt_seconds`` whether
    or not ``fsgen prompts`` rendered them, so a test gives the same result on every machine.
    """
    from .replay import Rig

    paths = [Path(flows)] if isinstance(flows, (str, Path)) else [Path(p) for p in flows]
    rig = Rig.from_sources(paths, recordings=Path(recordings) if recordings else None, text_prompts=text_prompts,
                           prompt_seconds=prompt_seconds)
    if isinstance(rig, list):
        raise ScriptProblem("\n".join(p.format() for p in rig))
    return rig


def replay_call(script: str | Path | dict[str, Any], flows: str | Path | Iterable[str | Path] = "flows", *,
                rig: Any = None, esl_port: int | None = None) -> Any:
    """Replay one call script and return its :class:`~fsgen.sim.replay.CallResult`
    (``.ok``, ``.transcript``, ``.trace``, ``.variables``, ``.heard``, ``.failures``).

    ``script`` is a call-script file, YAML text, or the same as a dict (a test in a few lines)::

        result = replay_call({"call": "no input three times", "flow": "paging",
                              "expect": {"hangup": "NORMAL_CLEARING", "heard": ["goodbye"]}},
                             flows="examples")
        assert result.ok, result.transcript

    Without ``rig`` the flows are compiled for this call only (and the rig closed afterwards).
    A file holding several calls (``calls:``) must be replayed one by one: use
    :func:`fsgen.sim.script.load_scripts` and :func:`fsgen.sim.replay.replay_script`.
    """
    import yaml

    from .replay import check_script, replay_script
    from .script import load_scripts, scripts_from_text

    if isinstance(script, dict):
        scripts, problems = scripts_from_text(yaml.safe_dump(script, allow_unicode=True, sort_keys=False),
                                              "<dict script>")
    elif isinstance(script, Path) or ("\n" not in script and Path(script).is_file()):
        scripts, problems = load_scripts(Path(script))
    else:
        scripts, problems = scripts_from_text(script, "<script text>")
    if not problems and len(scripts) != 1:
        raise ScriptProblem(f"replay_call takes one call; this script holds {len(scripts)}")
    own = rig is None
    if own:
        rig = replay_rig(flows)
    try:
        if not problems:
            problems = check_script(rig, scripts[0])
        if problems:
            raise ScriptProblem("\n".join(p.format() for p in problems))
        return replay_script(rig, scripts[0], esl_port=esl_port)
    finally:
        if own:
            rig.close()
