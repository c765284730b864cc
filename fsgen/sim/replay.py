"""Scripted calls on the simulator: compile flows once (a :class:`Rig`), replay call scripts on it.

A :class:`Rig` holds one loaded configuration -- flows compiled in memory with fsgen's compiler,
or a conf tree ``fsgen compile`` wrote -- laid over the simulator's stock base, plus what a
transcript needs to speak in the flows' terms (which file is which prompt, which node is a menu,
which queue belongs to which node).  Each :func:`run_call` builds a fresh :class:`Simulator` on
that configuration (loading it once keeps a replay at a few milliseconds), places the call the
way the fs-reference rig did (``loopback/<DID>/public``: leg "a" is the caller, leg "b" runs the
dialplan), drives the caller from the script's steps, lets the scripted parties answer or not,
and answers lookups with the :class:`~fsgen.sim.lookup_stub.LookupStub`.

Prompt durations: the compiled flows play ``$${sounds_dir}/hotline/...``; the rig points
``sounds_dir`` at a private folder whose ``hotline/`` holds links to the WAV files of the flows'
``recordings/`` folders, so real durations are used where a WAV exists.  Every prompt file that
does not exist lasts ``prompt_seconds`` (2.0 s), and ``text_prompts="default"`` ignores WAVs
rendered from text by ``fsgen prompts`` so results do not depend on whether espeak-ng ran.

Rig assumptions, stated in the transcript header and the README: parties a script does not
mention ring and never answer; a directory user a script mentions is registered (created when
the configuration has no such user); the default context gets the stock ``Local_Extension``
behaviour for digit extensions (``bridge user/<ext>@${domain}``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import time as _time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import Loc, Problem, did_you_mean, sorted_problems
from . import conf as _conf
from .bridge import loopback_pair
from .channel import Channel
from .conf import Conf, DirectoryUser
from .engine import TIMEOUT, Sleep, Wait
from .errors import SimError
from .lookup_stub import DeadPort, LookupStub
from .script import DEFAULT_TIME, CallScript, Party, Step, is_call_script
from .session import execute
from .sim import RemoteParty, Simulator

PROMPT_SECONDS = 2.0
DIGIT_GAP = 0.25          # seconds between the digits of one ``press``
NEVER = 1e9
SITE_EXTENSION = """<include>
  <!-- replay rig: the stock Local_Extension, for any digit extension: ring the directory user -->
  <extension name="hotline_replay_local_extension">
    <condition field="destination_number" expression="^(\\d{2,})$">
      <action application="bridge" data="user/$1@${domain_name}"/>
    </condition>
  </extension>
</include>
"""

#: simulator applications / API commands another helper is adding, and their module
PENDING = {
    "callcenter": "mod_callcenter", "callcenter_config": "mod_callcenter",
    "conference": "mod_conference", "conference_set_auto_outcall": "mod_conference",
    "voicemail": "mod_voicemail", "record": "record", "record_session": "record",
    "hash": "mod_hash", "db": "mod_db",
}


@dataclass
class PromptRef:
    flow: str
    id: str
    lang: str | None


@dataclass
class FlowInfo:
    """What the compiled configuration says about one flow (read from the XML, both input kinds)."""

    name: str
    context: str
    numbers: list[str] = field(default_factory=list)
    timezone: str | None = None
    nodes: list[str] = field(default_factory=list)
    menus: set[str] = field(default_factory=set)
    queues: dict[str, str] = field(default_factory=dict)       # node -> queue name (x_y@default)
    mailboxes: dict[str, str] = field(default_factory=dict)    # node -> mailbox number
    lookups: set[str] = field(default_factory=set)
    esl_targets: set[tuple[str, int]] = field(default_factory=set)
    prompts: dict[str, list[str]] = field(default_factory=dict)  # prompt id -> files (paths)
    files: set[str] = field(default_factory=set)                 # every prompt file its actions name


class Rig:
    """Compiled flows ready for scripted calls.  Close it (or use ``with``) to stop the stub."""

    def __init__(self, conf: Conf, workdir: Path, flows: dict[str, FlowInfo],
                 prompt_of: dict[str, PromptRef], *, prompt_seconds: float, prompt_note: str,
                 source: str) -> None:
        self.conf = conf
        self.workdir = workdir
        self.flows = flows
        self.prompt_of = prompt_of
        self.prompt_seconds = prompt_seconds
        self.prompt_note = prompt_note
        self.source = source
        self.domain = conf.globals.get("domain", "127.0.0.1")
        self.agents = _declared_agents(conf)
        self.domain_params = _domain_params(conf, self.domain)
        self._stub: LookupStub | None = None
        self._dead: DeadPort | None = None
        #: (playback spec, prompt name) -> offsets of that prompt in it (see prompt_window)
        self.windows: dict[tuple[str, str], Any] = {}

    # ---- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_sources(cls, sources: Sequence[Path], *, recordings: Path | None = None,
                     text_prompts: str = "files", prompt_seconds: float = PROMPT_SECONDS,
                     ) -> Rig | list[Problem]:
        """Flow files/directories (compiled in memory) or one compiled conf directory."""
        conf_dirs = [p for p in sources if p.is_dir() and _is_conf_dir(p)]
        if conf_dirs:
            if len(sources) > 1:
                return [Problem.at(Loc(str(conf_dirs[0])), "give either one compiled configuration folder "
                                                            "or flow files, not both")]
            return cls.from_conf_dir(conf_dirs[0], recordings=recordings, prompt_seconds=prompt_seconds)
        return cls.from_flows(sources, recordings=recordings, text_prompts=text_prompts,
                              prompt_seconds=prompt_seconds)

    @classmethod
    def from_flows(cls, paths: Sequence[Path], *, recordings: Path | None = None, text_prompts: str = "files",
                   prompt_seconds: float = PROMPT_SECONDS) -> Rig | list[Problem]:
        from ..compiler import load_project, render

        project = load_project(list(paths), recordings)
        errors = [p for p in project.problems if p.is_error]
        if errors:
            return errors
        files, problems = render(project, env={})
        errors = [p for p in problems if p.is_error]
        if errors:
            return errors
        def build(workdir: Path, confdir: Path, sounds: Path) -> Rig | list[Problem]:
            for rel, data in files.items():
                target = confdir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            _links, prompt_of, found, missing = _link_prompts(project, sounds, text_prompts)
            note = _prompt_note(found, missing, prompt_seconds, text_prompts)
            return cls._finish(workdir, confdir, sounds, prompt_of, prompt_seconds, note,
                               ", ".join(str(p) for p in paths))
        return _in_workdir(build)

    @classmethod
    def from_conf_dir(cls, path: Path, *, recordings: Path | None = None,
                      prompt_seconds: float = PROMPT_SECONDS) -> Rig | list[Problem]:
        def build(workdir: Path, confdir: Path, sounds: Path) -> Rig | list[Problem]:
            shutil.copytree(path, confdir)
            sounds.mkdir()
            rec = recordings or (Path("recordings") if Path("recordings").is_dir() else None)
            if rec is not None:
                os.symlink(rec.resolve(), sounds / "hotline")
            note = (f"prompt WAVs from {rec}; a missing file lasts {prompt_seconds:g} s" if rec
                    else f"no recordings folder: every prompt lasts {prompt_seconds:g} s")
            return cls._finish(workdir, confdir, sounds, {}, prompt_seconds, note, str(path))
        return _in_workdir(build)

    @classmethod
    def _finish(cls, workdir: Path, confdir: Path, sounds: Path, prompt_of: dict[str, PromptRef],
                prompt_seconds: float, note: str, source: str) -> Rig | list[Problem]:
        site = confdir / "dialplan" / "default" / "zz_hotline_replay_site.xml"
        site.parent.mkdir(parents=True, exist_ok=True)
        site.write_text(SITE_EXTENSION, encoding="utf-8")
        # recordings and voicemail stay in the simulator (no audio is written): the stock paths
        # keep transcripts and traces the same on every machine
        globals_ = _conf.core_globals(str(confdir), sounds_dir=str(sounds))
        loaded = _conf.load(confdir, overlay_on_stock=True, globals_=globals_)
        if isinstance(loaded, SimError):
            return [Problem.at(Loc(loaded.file or source, loaded.line or 0), loaded.message, hint=loaded.hint)]
        flows = _flow_infos(loaded, prompt_of)
        if not prompt_of:
            prompt_of = _guess_prompts(flows, sounds)
        return cls(loaded, workdir, flows, prompt_of, prompt_seconds=prompt_seconds, prompt_note=note,
                   source=source)

    # ---- lifetime -----------------------------------------------------------------------------------------
    def stub(self) -> LookupStub:
        if self._stub is None:
            self._stub = LookupStub()
        return self._stub

    def dead_port(self) -> DeadPort:
        if self._dead is None:
            self._dead = DeadPort()
        return self._dead

    def forget_servers(self) -> None:
        """In a process forked from the rig's: the stand-ins' sockets stay the parent's; this
        process starts its own when a script needs one."""
        self._stub = None
        self._dead = None

    def close(self) -> None:
        if self._stub is not None:
            self._stub.close()
            self._stub = None
        if self._dead is not None:
            self._dead.close()
            self._dead = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Rig:  # noqa: PYI034 - Rig is not subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lookups of names ----------------------------------------------------------------------------------
    def flow_for(self, script: CallScript) -> FlowInfo | None:
        if script.flow:
            return self.flows.get(script.flow)
        for info in self.flows.values():
            if script.to in info.numbers:
                return info
        if script.context:
            for info in self.flows.values():
                if info.context == script.context:
                    return info
        return None

    def prompt_id(self, path: str) -> PromptRef | None:
        return self.prompt_of.get(path)


# ---- building a rig -----------------------------------------------------------------------------------------
def _in_workdir(build: Any) -> Rig | list[Problem]:
    """Run ``build(workdir, confdir, sounds)`` in a fresh private folder, removed unless a rig
    came out of it (the rig removes it on close)."""
    workdir = Path(tempfile.mkdtemp(prefix="hotline-replay-"))
    rig: Rig | list[Problem] = []
    try:
        rig = build(workdir, workdir / "conf", workdir / "sounds")
    finally:
        if not isinstance(rig, Rig):
            shutil.rmtree(workdir, ignore_errors=True)
    return rig


def _is_conf_dir(path: Path) -> bool:
    return any((path / name).exists() for name in ("hotline-manifest.json", "freeswitch.xml", "dialplan"))


def split_sources(paths: Sequence[Path]) -> tuple[list[Path], list[Path], list[Problem]]:
    """Command-line paths -> (flow files/dirs or a conf dir, call script files, problems).

    A file is a call script when its top level has ``call:``/``calls:``; a directory is a
    compiled configuration (manifest, freeswitch.xml or dialplan/), a flows directory (YAML
    flows directly in it), or else a directory of call scripts (searched recursively)."""
    flows: list[Path] = []
    scripts: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_file():
            (scripts if is_call_script(path) else flows).append(path)
        elif path.is_dir():
            if _is_conf_dir(path):
                flows.append(path)
                continue
            direct = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if any(not is_call_script(p) for p in direct):
                flows.append(path)
                scripts += [p for p in direct if is_call_script(p)]
            else:
                scripts += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                                  and is_call_script(p))
        else:
            problems.append(Problem.at(Loc(str(path)), "no such file or directory"))
    return flows, scripts, problems


def _link_prompts(project: Any, sounds: Path, text_prompts: str
                  ) -> tuple[int, dict[str, PromptRef], int, int]:
    """Link every prompt file of the flows that exists into ``sounds`` (as the switch would
    find it under ``<prompt_dir>``); returns (links, file -> prompt, found, missing)."""
    prompt_of: dict[str, PromptRef] = {}
    links = found = missing = 0
    for flow in project.flows:
        rec_dir = project.recordings.get(flow.name)
        prompt_dir = flow.settings.prompt_dir.replace("$${sounds_dir}", str(sounds)).rstrip("/")
        for pid, prompt in flow.prompts.items():
            for part in prompt.parts:
                rel = getattr(part, "path", None) or getattr(part, "file", "")
                target = f"{prompt_dir}/{rel}"
                prompt_of[target] = PromptRef(flow.name, pid, part.lang)
                source = rec_dir / rel if rec_dir is not None else None
                usable = source is not None and source.is_file() and \
                    (text_prompts == "files" or not getattr(part, "rendered", False))
                if not usable:
                    missing += 1
                    continue
                found += 1
                link = Path(target)
                if not str(link).startswith(str(sounds)) or link.exists():
                    continue
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(source.resolve(), link)  # type: ignore[union-attr]
                links += 1
    sounds.mkdir(parents=True, exist_ok=True)
    return links, prompt_of, found, missing


def _prompt_note(found: int, missing: int, seconds: float, text_prompts: str) -> str:
    how = "rendered text prompts ignored; " if text_prompts == "default" else ""
    return f"{how}{found} prompt WAVs found (real durations), {missing} missing: {seconds:g} s each"


_NODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_WAV_RE = re.compile(r"(/[^\s!']+\.wav)")


def _flow_infos(conf: Conf, prompt_of: dict[str, PromptRef]) -> dict[str, FlowInfo]:
    flows: dict[str, FlowInfo] = {}
    for cname, ctx in conf.contexts.items():
        if not cname.startswith("hotline_"):
            continue
        info = FlowInfo(cname[len("hotline_"):], cname)
        names = [ext.get("name") or "" for ext in ctx.iter("extension")]
        for name in names:
            node = name.split(".")[0]
            if node and node not in info.nodes and (_NODE_RE.match(node)):
                info.nodes.append(node)
            if name.endswith(".ask"):
                info.menus.add(name[:-4])
        for ext in ctx.iter("extension"):
            node = (ext.get("name") or "").split(".")[0]
            for action in ext.iter("action"):
                app, data = action.get("application") or "", action.get("data") or ""
                info.files.update(_WAV_RE.findall(data))
                if app == "set" and data.startswith("timezone=") and node == "hotline_entry":
                    info.timezone = data.partition("=")[2] or None
                elif app == "set" and data.startswith("hotline_lookup="):
                    info.lookups.update(n for n in data.partition("=")[2].split(",") if n)
                elif app == "socket":
                    host, _, port = data.split()[0].rpartition(":")
                    if port.isdigit():
                        info.esl_targets.add((host or "127.0.0.1", int(port)))
                elif app == "callcenter":
                    info.queues.setdefault(node, data.split()[0])
                elif app == "voicemail":
                    parts = data.split()
                    if len(parts) >= 3:
                        info.mailboxes.setdefault(node, parts[-1])
        flows[info.name] = info
    public = conf.contexts.get("public")
    if public is not None:
        for ext in public.iter("extension"):
            name = ext.get("name") or ""
            if name.startswith("hotline_") and name[len("hotline_"):] in flows:
                for cond in ext.iter("condition"):
                    if cond.get("field") == "destination_number":
                        expr = cond.get("expression") or ""
                        inner = re.sub(r"^\^\(\?:|\)\$$", "", expr)
                        flows[name[len("hotline_"):]].numbers = [n.replace("\\+", "+") for n in inner.split("|")
                                                                 if n]
                        break
    for path, ref in prompt_of.items():
        if ref.flow in flows:
            flows[ref.flow].prompts.setdefault(ref.id, []).append(path)
    return flows


_RENDERED_RE = re.compile(r"^(?P<flow>[a-z][a-z0-9_]*)/(?P<id>[A-Za-z0-9_]+)\.(?P<lang>[a-z]{2,3})\.wav$")


def _guess_prompts(flows: dict[str, FlowInfo], sounds: Path) -> dict[str, PromptRef]:
    """Without the flow sources: ``hotline/<flow>/<id>.<lang>.wav`` is a text prompt, any other
    file under ``hotline/`` is known by its file name without ``.wav``."""
    prompt_of: dict[str, PromptRef] = {}
    base = str(sounds / "hotline") + "/"
    for info in flows.values():
        for path in _played_files(info):
            if not path.startswith(base):
                continue
            rel = path[len(base):]
            m = _RENDERED_RE.match(rel)
            ref = PromptRef(info.name, m.group("id"), m.group("lang")) if m else \
                PromptRef(info.name, os.path.splitext(os.path.basename(rel))[0], None)
            prompt_of[path] = ref
            info.prompts.setdefault(ref.id, []).append(path)
    return prompt_of


def _played_files(info: FlowInfo) -> Iterable[str]:
    return sorted(info.files)


def _declared_agents(conf: Conf) -> dict[str, str]:
    cfg = conf.configuration("callcenter.conf")
    agents: dict[str, str] = {}
    if cfg is not None:
        for agent in cfg.iter("agent"):
            name = agent.get("name")
            if name:
                agents[name] = agent.get("contact") or ""
    return agents


def _domain_params(conf: Conf, domain: str) -> dict[str, str]:
    for section in conf.root.findall("section"):
        if section.get("name") != "directory":
            continue
        for dom in section.iter("domain"):
            params: dict[str, str] = {}
            for block in dom.findall("params"):
                for p in block.findall("param"):
                    if p.get("name"):
                        params[p.get("name") or ""] = p.get("value") or ""
            return params
    return {}


# ---- validating a script against the rig ------------------------------------------------------------------------
def check_script(rig: Rig, script: CallScript) -> list[Problem]:
    """Names in the script that the compiled flows do not have (file:line problems)."""
    problems: list[Problem] = []

    def bad(loc: Loc, message: str, hint: str | None = None) -> None:
        problems.append(Problem.at(loc, message, hint=hint))

    info = rig.flow_for(script)
    if info is None:
        if script.flow:
            bad(script.where("flow"), f"no flow named '{script.flow}'{did_you_mean(script.flow, rig.flows)}",
                hint="flows here: " + ", ".join(sorted(rig.flows)))
        elif not script.context:
            numbers = sorted(n for f in rig.flows.values() for n in f.numbers)
            bad(script.where("to"), f"no flow answers {script.to}{did_you_mean(script.to or '', numbers)}",
                hint="numbers here: " + ", ".join(numbers))
        return problems
    if script.flow and script.to and script.to not in info.numbers:
        bad(script.where("to"), f"flow '{info.name}' does not answer {script.to}",
            hint="its numbers: " + ", ".join(info.numbers))

    def prompt_ok(name: str) -> bool:
        if name == "music on hold" or name.endswith(".wav"):   # hold music, stock sounds by file name
            return True
        return name in info.prompts or any(name == os.path.basename(p) or p.endswith("/" + name)
                                           for files in info.prompts.values() for p in files)

    def need_prompt(loc: Loc, name: str) -> None:
        if not prompt_ok(name):
            bad(loc, f"flow '{info.name}' has no prompt '{name}'{did_you_mean(name, info.prompts)}")

    def need_node(loc: Loc, name: str, menu: bool = False) -> None:
        pool = info.menus if menu else set(info.nodes)
        if name not in pool:
            kind = "menu" if menu else "node"
            bad(loc, f"flow '{info.name}' has no {kind} '{name}'{did_you_mean(name, pool)}",
                hint=(f"its menus: {', '.join(sorted(info.menus))}" if menu else None))

    for step in script.steps:
        if step.trigger in ("during", "after"):
            need_prompt(step.loc, str(step.target))
        elif step.trigger in ("menu", "node"):
            need_node(step.loc, str(step.target), menu=step.trigger == "menu")
    for name in script.lookups:
        if name not in info.lookups:
            bad(script.where("lookups"), f"flow '{info.name}' never asks esl_app for '{name}'"
                                         f"{did_you_mean(name, info.lookups)}",
                hint="its lookups: " + (", ".join(sorted(info.lookups)) or "none"))
    ex = script.expect
    if ex is not None:
        for key in ("heard",):
            lst = getattr(ex, key)
            if lst is not None:
                for item in lst.items:
                    need_prompt(ex.locs.get(key, ex.loc), item)
        for item in ex.not_heard:
            need_prompt(ex.locs.get("not_heard", ex.loc), item)
        if ex.menus is not None:
            for item in ex.menus.items:
                need_node(ex.locs.get("menus", ex.loc), item, menu=True)
        if ex.nodes is not None:
            for item in ex.nodes.items:
                need_node(ex.locs.get("nodes", ex.loc), item)
        for item in ex.not_visited:
            need_node(ex.locs.get("not_visited", ex.loc), item)
        if isinstance(ex.queue, str):
            names = set(info.queues) | set(info.queues.values()) | {q.split("@")[0] for q in info.queues.values()}
            if ex.queue not in names:
                bad(ex.locs.get("queue", ex.loc), f"flow '{info.name}' has no queue '{ex.queue}'"
                                                  f"{did_you_mean(ex.queue, names)}")
        if isinstance(ex.voicemail, str):
            boxes = set(info.mailboxes.values())
            if ex.voicemail not in boxes:
                bad(ex.locs.get("voicemail", ex.loc), f"flow '{info.name}' leaves no voicemail in box "
                                                      f"'{ex.voicemail}'{did_you_mean(ex.voicemail, boxes)}",
                    hint="its mailboxes: " + (", ".join(sorted(boxes)) or "none"))
    return sorted_problems(problems)


# ---- running one call --------------------------------------------------------------------------------------------
@dataclass
class StepLog:
    step: Step
    t: float | None = None       # virtual time it ran (None: never)
    note: str = ""


@dataclass
class Run:
    """Everything one replay produced (raw material for the transcript and the expectations)."""

    script: CallScript
    rig: Rig
    flow: FlowInfo
    sim: Simulator
    caller: Channel
    leg: Channel
    start: datetime
    zone: str
    dialled: str
    steps: list[StepLog]
    esl_mode: str
    wall_seconds: float = 0.0
    timed_out: bool = False
    caller_hung_up_at: float | None = None
    others: list[tuple[Any, Channel, list[StepLog]]] = field(default_factory=list)


_DEFAULT_START = datetime.strptime(DEFAULT_TIME, "%Y-%m-%d %H:%M")


def _zone(info: FlowInfo) -> tuple[str, Any]:
    name = info.timezone or "UTC"
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", ZoneInfo("UTC")


_STARTS: dict[tuple[datetime, str], tuple[float, str]] = {}


def _start_of(start: datetime, zone_name: str, zone: Any) -> tuple[float, str]:
    """(epoch, ISO 8601 text) of the script's local start time: the same few on every replay."""
    key = (start, zone_name)
    got = _STARTS.get(key) if start.tzinfo is None else None   # aware times compare by instant
    if got is None:
        local = start.replace(tzinfo=zone)
        got = (local.timestamp(), local.isoformat())
        if start.tzinfo is not None:
            return got
        if len(_STARTS) > 1024:
            _STARTS.clear()
        _STARTS[key] = got
    return got


def run_call(rig: Rig, script: CallScript, *, esl_port: int | None = None) -> Run:
    """Replay ``script`` (already checked with :func:`check_script`) and return the raw run."""
    info = rig.flow_for(script)
    assert info is not None, "check_script() first"
    zone_name, zone = _zone(info)
    start = script.at or _DEFAULT_START
    epoch, start_iso = _start_of(start, zone_name, zone)
    conf = dataclasses.replace(rig.conf, users=dict(rig.conf.users))
    sim = Simulator(conf, start_epoch=epoch, tz="UTC", missing_prompt_seconds=rig.prompt_seconds)
    sim.default_remote = RemoteParty("*", ring=NEVER, answer=False, cause="NO_ANSWER")
    _setup_parties(rig, sim, conf, script)
    targets = sorted(info.esl_targets) or [("127.0.0.1", 8084)]
    stub: LookupStub | None = None
    if script.esl_app == "stub":
        stub = rig.stub()
        stub.attach(sim, dict(script.lookups), targets, {o.caller: dict(o.lookups) for o in script.others})
    elif script.esl_app == "down":
        for target in targets:
            sim.esl_redirect[target] = ("127.0.0.1", rig.dead_port().port)
    elif esl_port is not None:
        for target in targets:
            sim.esl_redirect[target] = ("127.0.0.1", esl_port)
    if script.to:
        dest, context = script.to, script.context or "public"
    elif info.numbers and not script.context:
        dest, context = info.numbers[0], "public"
    else:
        dest, context = "hotline_entry", info.context
    variables = {"origination_caller_id_number": script.caller, "origination_caller_id_name": script.caller_name,
                 "loopback_bowout": "false"}
    a, b = loopback_pair(sim, dest, context, script.caller, script.caller_name, variables, harness=True)
    run = Run(script, rig, info, sim, a, b, start, zone_name, dest, [StepLog(s) for s in script.steps],
              script.esl_app)
    a.task = sim.engine.spawn(_caller(run, a, b, run.steps), "caller:" + a.name, a)
    for other in script.others:
        sim.engine.call_at(other.start, _place_other, run, other, dest, context)
    started = _time.perf_counter()
    try:
        sim.run(until=script.max_seconds, stop=lambda: sim.engine.now > 0 and not sim.channels)
        if sim.channels:
            run.timed_out = True
            for chan in list(sim.channels.values()):
                chan.hangup("NORMAL_CLEARING")
            sim.run(until=script.max_seconds + 5, stop=lambda: not sim.channels)
    finally:
        sim.close()
        if stub is not None:
            stub.detach()
    run.wall_seconds = _time.perf_counter() - started
    sim.trace.meta(start_time=start_iso, start_epoch=epoch, tz=zone_name,
                   script=script.file, call=script.title, simulator="hotline replay")
    return run


def _place_other(run: Run, other: Any, dest: str, context: str) -> None:
    """Another caller of the same hotline, in the same switch (see ``others:``)."""
    variables = {"origination_caller_id_number": other.caller, "origination_caller_id_name": other.caller_name,
                 "loopback_bowout": "false"}
    a, b = loopback_pair(run.sim, dest, context, other.caller, other.caller_name, variables, harness=True)
    logs = [StepLog(s) for s in other.steps]
    run.others.append((other, b, logs))
    a.task = run.sim.engine.spawn(_caller(run, a, b, logs, main=False), "caller:" + a.name, a)


def _setup_parties(rig: Rig, sim: Simulator, conf: Conf, script: CallScript) -> None:
    """Register the users, scripted far ends and callcenter agents the script describes."""
    commands: list[str] = []
    for party in script.parties.values():
        contact = party.contact or rig.agents.get(party.name) or party.name
        contact = contact.replace("${domain}", rig.domain).replace("$${domain}", rig.domain)
        matches = _party_matches(rig, sim, conf, party, contact)
        for match in matches:
            sim.remote_parties.append(_remote(party, match))
        if party.presses:
            _schedule_presses(sim, party, matches)
        is_agent = party.name in rig.agents or party.queue is not None or party.status is not None
        if party.queue is not None and party.name not in rig.agents:
            queue = _queue_name(rig, script, party.queue)
            agent_contact = party.contact or (contact if "/" in contact else f"user/{party.name}@{rig.domain}")
            commands += [f"callcenter_config agent add {party.name} Callback",
                         f"callcenter_config agent set contact {party.name} {agent_contact}",
                         f"callcenter_config tier add {queue} {party.name} 1 1"]
            if party.status is None:
                commands.append(f"callcenter_config agent set status {party.name} Available")
        if is_agent and party.status is not None:
            status = f"'{party.status}'" if " " in party.status else party.status
            commands.append(f"callcenter_config agent set status {party.name} {status}")
    for cmd in commands:
        reply = sim.api(cmd)
        sim.trace.add(None, "api", cmd=cmd, reply=reply.strip())


def _queue_name(rig: Rig, script: CallScript, queue: str) -> str:
    info = rig.flow_for(script)
    if info is not None and queue in info.queues:
        return info.queues[queue]
    return queue if "@" in queue else f"{queue}@default"


def _party_matches(rig: Rig, sim: Simulator, conf: Conf, party: Party, contact: str) -> list[str]:
    """How the party's legs look when dialled, registering directory users as needed."""
    m = re.match(r"^(?:\[[^]]*\]|\{[^}]*\})*user/([^@/]+)", contact)
    if m or re.fullmatch(r"[0-9]+", party.name):
        user = m.group(1) if m else party.name
        if not party.offline:
            if conf.directory_user(user, rig.domain) is None:
                conf.users[(user, rig.domain)] = DirectoryUser(user, rig.domain, {"id": user},
                                                               dict(rig.domain_params))
            sim.registrations[f"{user}@{rig.domain}"] = f"sofia/internal/sip:{user}@127.0.0.1:5060"
        matches = [f"sip:{user}@127.0.0.1"]
        if not m:
            matches.append(f"/{party.name}")   # the same number dialled through a gateway
        return matches
    g = re.match(r"^(?:sofia/)?gateway/([^/]+)/(.+)$", contact)
    if g:
        return [f"gateway/{g.group(1)}/{g.group(2)}"]
    return [contact]


def _remote(party: Party, match: str) -> RemoteParty:
    if party.busy:
        return RemoteParty(match, ring=0.2, answer=False, cause="USER_BUSY", name=party.name)
    if party.offline:
        return RemoteParty(match, ring=0.0, answer=False, cause="GATEWAY_DOWN", name=party.name)
    if party.no_answer or party.answers_after is None:
        return RemoteParty(match, ring=NEVER, answer=False, cause="NO_ANSWER", name=party.name)
    return RemoteParty(match, ring=party.answers_after, answer=True, talk=party.talks, name=party.name)


def _schedule_presses(sim: Simulator, party: Party, matches: list[str]) -> None:
    names = [mt.replace("sip:", "/") for mt in matches]   # sofia channel names drop the "sip:"

    def on_event(chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if event == "answer" and any(mt in chan.name for mt in names):
            for at, digits in party.presses:
                for i, digit in enumerate(digits):
                    sim.engine.call_later(at + i * DIGIT_GAP, chan.receive_dtmf, digit)
    sim.listeners.append(on_event)


# ---- the caller ------------------------------------------------------------------------------------------------
def _files_of(spec: str) -> list[str]:
    if spec.startswith("file_string://"):
        return [p for p in spec[len("file_string://"):].split("!") if p]
    return [spec]


def prompt_window(run: Run, spec: str, t_start: float, name: str) -> tuple[float, float] | None:
    """(start, end) of prompt ``name`` inside the playback of ``spec`` begun at ``t_start``."""
    key = (spec, name)
    window = run.rig.windows.get(key, _UNKNOWN)
    if window is _UNKNOWN:
        window = _prompt_offsets(run, spec, name)
        # durations of absolute paths and streams do not depend on the channel: same for every call
        if all(p.startswith("/") or "://" in p for p in _files_of(spec)):
            run.rig.windows[key] = window
    if window is None:
        return None
    return t_start + window[0], t_start + window[1]


_UNKNOWN = object()


def _prompt_offsets(run: Run, spec: str, name: str) -> tuple[float, float] | None:
    from .media import duration_of

    t_start = 0.0
    offset = 0.0
    begin: float | None = None
    for part in _files_of(spec):
        dur = duration_of(run.leg, part)
        dur = 0.0 if dur is None or dur == float("inf") else dur
        ref = run.rig.prompt_id(part)
        hit = (ref is not None and ref.id == name) or os.path.basename(part) == name or part.endswith("/" + name)
        if hit and begin is None:
            begin = t_start + offset
        elif not hit and begin is not None:
            return begin, t_start + offset
        offset += dur
    if begin is not None:
        return begin, t_start + offset
    return None


def _caller(run: Run, a: Channel, b: Channel, logs: list[StepLog], main: bool = True) -> Generator[Any, Any, None]:
    """A caller (leg a of its loopback pair): waits for the answer, then does the steps in order."""
    sim = run.sim
    records = sim.trace.records
    def kick(chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if event in ("playback_start", "route"):
            a.post("script")
    b.listeners.append(kick)
    while not a.answered and not a.hungup:
        w = yield Wait(("answer", "hangup"), timeout=60.0)
        if w.kind == TIMEOUT:
            a.hangup("NO_ANSWER")
            return
    if a.hungup:
        return
    t0 = b.answered_at if b.answered_at is not None else sim.engine.now
    b_label = sim.trace.leg(b)
    cursor = len(records)
    prev_t = sim.engine.now
    for log in logs:
        step = log.step
        when: float | None = sim.engine.now
        if step.trigger == "at":
            when = t0 + float(step.target)
        elif step.trigger is not None:
            when = None
            while when is None and not b.hungup:
                found, cursor = _find_trigger(run, step, records, cursor, b_label, prev_t)
                if found is not None:
                    when = found
                    break
                yield Wait(("script", "hangup"), channels=(a, b))
            if when is None:
                log.note = "never happened: the call ended first"
                break
        assert when is not None
        if when > sim.engine.now:
            yield Sleep(when - sim.engine.now)
        if b.hungup:
            log.note = "not done: the call had ended"
            break
        if step.action == "press":
            log.t = sim.engine.now
            sim.trace.add(b, "caller_presses", digits=step.digits)
            for i, digit in enumerate(step.digits):
                if i:
                    yield Sleep(DIGIT_GAP)
                if b.hungup:
                    break
                sim.trace.add(b, "send_dtmf", digits=digit, api="uuid_send_dtmf a")
                a.send_dtmf(digit)
        elif step.action == "wait":
            log.t = sim.engine.now
            yield Sleep(step.seconds)
        elif step.action == "speak":
            log.t = sim.engine.now
            sim.trace.add(b, "caller_speaks", seconds=step.seconds)
            yield from execute(a, "playback", f"tone_stream://%({round(step.seconds * 1000)},0,300)")
        else:
            log.t = sim.engine.now
            if main:
                run.caller_hung_up_at = sim.engine.now
            a.hangup("NORMAL_CLEARING")
            return
        cursor = len(records)
        prev_t = log.t if log.t is not None else sim.engine.now
    yield from execute(a, "park", "")


def _find_trigger(run: Run, step: Step, records: list[dict[str, Any]], cursor: int,
                  b_label: str, prev_t: float) -> tuple[float | None, int]:
    """Scan leg b's trace records for the step's trigger; returns (time or None, new cursor).

    Prompt triggers also look at the playback already running when the previous step ran (its
    later parts may be the prompt named), but only at moments after that step."""
    n = len(records)
    start = cursor
    trigger = step.trigger
    prompt = trigger in ("during", "after")
    if prompt:
        for i in range(cursor - 1, max(cursor - 400, 0) - 1, -1):
            r = records[i]
            if r.get("event") == "playback_start" and r.get("leg") == b_label:
                start = i
                break
    # only playback_start (prompt triggers) and route (menu/node triggers) records count
    wanted = "playback_start" if prompt else "route" if trigger in ("menu", "node") else None
    if wanted is None:
        return None, n
    for i in range(start, n):
        r = records[i]
        if r.get("event") != wanted or r.get("leg") != b_label:
            continue
        if prompt:
            window = prompt_window(run, str(r.get("file") or ""), r["t"], str(step.target))
            if window is None:
                continue
            begin, end = window
            when = begin + min(step.when, (end - begin) / 2) if step.trigger == "during" else end + step.when
            if when > prev_t + 1e-6 or (i >= cursor and when >= prev_t):
                return when, i + 1
        elif i >= cursor:
            dest = str(r.get("dest") or "")
            name = str(step.target)
            if step.trigger == "menu" and dest in (f"{name}.ask", f"{name}.invalid", f"{name}.no_input"):
                return r["t"] + step.when, i + 1
            if step.trigger == "node" and dest in (name, f"{name}.back"):
                return r["t"] + step.when, i + 1
    return None, n


def pending_modules(run: Run) -> set[str]:
    """Simulator modules this call needed and the simulator does not have yet."""
    out = set()
    for r in run.sim.trace.errors():
        name = r.get("app") or r.get("api")
        if r.get("kind") in ("unknown_application", "unknown_api") and name in PENDING:
            out.add(PENDING[str(name)])
    return out


# ---- the whole thing: replay, observe, check, transcribe -----------------------------------------------------------
@dataclass
class CallResult:
    """One replayed script: ``ok``, the ``transcript``, the fs-reference ``trace`` records,
    the dialplan leg's final ``variables``, the ``failures`` (with diffs) and ``pending``:
    simulator modules the call reached that are not simulated yet."""

    script: CallScript
    run: Run
    observation: Any
    failures: list[Any]
    transcript: str
    pending: set[str]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def trace(self) -> list[dict[str, Any]]:
        return self.run.sim.trace.records

    @property
    def variables(self) -> dict[str, str]:
        return dict(self.run.leg.variables)

    @property
    def heard(self) -> list[str]:
        return self.observation.heard_ids()

    def report(self) -> str:
        """The failures, one block each (empty when ok)."""
        return "\n".join(f.format() for f in self.failures)


def replay_script(rig: Rig, script: CallScript, *, esl_port: int | None = None) -> CallResult:
    """Replay one checked script: the run, what it showed, and whether it met its expectations."""
    from .expect import check
    from .transcript import observe, render

    run = run_call(rig, script, esl_port=esl_port)
    obs = observe(run)
    missed = [f"step '{log.step.describe()}' ({log.step.loc}) {log.note or 'was not reached'}"
              for log in run.steps if log.t is None and not log.step.optional]
    missed += [f"caller {other.caller}: step '{log.step.describe()}' ({log.step.loc}) {log.note or 'was not reached'}"
               for other, _b, logs in run.others for log in logs if log.t is None and not log.step.optional]
    failures = check(script, obs, missed)
    n = _count_expectations(script)
    if failures:
        verdict = [f"   FAIL  ({len(failures)} problem{'s' if len(failures) != 1 else ''})"] + \
            ["   " + line for f in failures for line in f.format().splitlines()]
    else:
        verdict = [f"   PASS  ({n} expectation{'s' if n != 1 else ''} met)"]
    transcript = render(run, obs, verdict)
    return CallResult(script, run, obs, failures, transcript, pending_modules(run))


def _count_expectations(script: CallScript) -> int:
    ex = script.expect
    if ex is None:
        return 0
    n = sum(x is not None for x in (ex.heard, ex.menus, ex.nodes, ex.queue, ex.bridged_to, ex.voicemail,
                                    ex.recording, ex.hangup))
    return n + len(ex.not_heard) + len(ex.not_visited) + len(ex.variables)
