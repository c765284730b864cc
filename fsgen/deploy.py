"""``fsgen deploy``: put compiled flows on a live FreeSWITCH and make it load them, or change nothing.

Steps, each of which can stop the deploy:

1. validate and compile the flows in memory (the compiler's own functions);
2. plan against the conf dir: files added / changed / removed.  What hotline owns is what the
   previous ``hotline-manifest.json`` in the conf dir lists; a file hotline did not write is never
   touched (a name clash is an error unless ``--take-over PATH``, which keeps the original as
   ``PATH.hotline-orig``), and a generated file edited by hand since the last deploy is not
   overwritten without ``--force``;
3. connect to the Event Socket before touching anything (a switch that is down means no change);
4. write: every new file is staged in ``.hotline-staging-*`` inside the conf dir, every file
   about to be replaced or removed is copied to ``.hotline-backup-*``, then files are renamed
   into place one by one and the manifest last;
5. ``reloadxml`` -- FreeSWITCH answers ``+OK [Success]``, or ``+OK [[error near line N]: ...]``
   when the XML does not parse (still ``+OK``: the reply text is what counts);
6. ``callcenter_config queue load|reload|unload`` for the mod_callcenter queues that were added,
   changed or removed (agents and tiers are read by mod_callcenter only when it loads: a change
   to them is reported, not applied);
7. ``xml_locate dialplan context name <context>`` for every flow (and the public entry points):
   the new dialplan must be the one the switch now routes with.

Any failure after step 4 restores the previous files byte for byte, reloads again and exits
non-zero naming what failed.  Every deploy that touched the conf dir appends one JSON line to
``hotline-deploy.log`` there: who, when, which manifest, what changed, the result.
"""

from __future__ import annotations

import difflib
import getpass
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import click

from esl_app import protocol as P

from .write import MANIFEST

LOG_NAME = "hotline-deploy.log"
ORIG_SUFFIX = ".hotline-orig"
CALLCENTER = "autoload_configs/callcenter.conf.xml"
DEFAULT_ESL = "127.0.0.1:8021"
DEFAULT_PASSWORD = "ClueCon"
PASSWORD_ENV = "HOTLINE_ESL_PASSWORD"

Echo = Callable[[str], None]


class DeployError(Exception):
    """Why the deploy stopped, as a message for the engineer."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe_rel(rel: str) -> str:
    """A manifest path must stay inside the conf dir (a tampered manifest must not reach /etc/passwd)."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or rel != p.as_posix():
        raise DeployError(f"{MANIFEST} lists {rel!r}, which is not a plain path inside the conf dir; "
                          "fix or remove that entry")
    return rel


# ---- the plan ----------------------------------------------------------------------------------
@dataclass
class Plan:
    conf_dir: Path
    files: dict[str, bytes]                       # the new tree, manifest included
    old_manifest: dict[str, str]                  # previously generated path -> sha256
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    taken_over: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)   # not ours, different content
    edited: list[str] = field(default_factory=list)      # ours, edited by hand since
    old_bytes: dict[str, bytes] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def new_manifest_hash(self) -> str:
        return sha256(self.files.get(MANIFEST, b""))


def read_manifest(conf_dir: Path) -> dict[str, str]:
    path = conf_dir / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise DeployError(f"{path} is not a manifest fsgen wrote (unreadable JSON or no 'files'); "
                          "restore it from the last deploy or move it aside") from None
    return {_safe_rel(str(k)): str(v) for k, v in files.items()}


def plan_deploy(conf_dir: Path, files: dict[str, bytes], take_over: Iterable[str] = (),
                force: bool = False) -> Plan:
    old = read_manifest(conf_dir)
    plan = Plan(conf_dir, files, old)
    wanted_take_over = {t.strip("/") for t in take_over}
    for rel in sorted(files):
        _safe_rel(rel)
        target = conf_dir / rel
        new = files[rel]
        if not target.exists():
            plan.added.append(rel)
            continue
        if not target.is_file():
            raise DeployError(f"{target} exists and is not a file; hotline needs that path for a generated file")
        current = target.read_bytes()
        if current == new:
            plan.unchanged.append(rel)
            continue
        plan.old_bytes[rel] = current
        if rel == MANIFEST or rel in old:
            if rel != MANIFEST and sha256(current) != old[rel]:
                plan.edited.append(rel)
            plan.changed.append(rel)
        elif rel in wanted_take_over:
            plan.taken_over.append(rel)
            plan.changed.append(rel)
        else:
            plan.conflicts.append(rel)
    for rel in sorted(set(old) - set(files)):
        target = conf_dir / rel
        if target.is_file():
            current = target.read_bytes()
            plan.old_bytes[rel] = current
            if sha256(current) != old[rel]:
                plan.edited.append(rel)
            plan.removed.append(rel)
    unknown = wanted_take_over - set(plan.taken_over) - set(plan.unchanged)
    if unknown:
        raise DeployError("--take-over " + ", ".join(sorted(unknown)) + ": hotline does not generate that "
                          "file, or it is already hotline's")
    if plan.conflicts:
        raise DeployError(
            "these files exist in {} but hotline did not write them: {}. Hotline never overwrites "
            "them; move them aside, or pass --take-over PATH for each (the original is kept as "
            "PATH{})".format(conf_dir, ", ".join(plan.conflicts), ORIG_SUFFIX))
    if plan.edited and not force:
        raise DeployError(
            "these generated files were edited by hand since the last deploy: {}. Put the change "
            "into the flow (or pass --force to overwrite them)".format(", ".join(sorted(plan.edited))))
    return plan


def describe(plan: Plan, echo: Echo, diff: bool = True) -> None:
    """What would change, with a unified diff per file (``--dry-run``)."""
    for tag, names in (("A", plan.added), ("M", plan.changed), ("D", plan.removed)):
        for rel in names:
            note = f" (taken over; original kept as {rel}{ORIG_SUFFIX})" if rel in plan.taken_over else ""
            note += " (edited by hand since the last deploy)" if rel in plan.edited else ""
            echo(f"{tag} {rel}{note}")
    echo(f"{len(plan.added)} added, {len(plan.changed)} changed, {len(plan.removed)} removed, "
         f"{len(plan.unchanged)} unchanged")
    if not diff:
        return
    for rel in plan.added + plan.changed + plan.removed:
        before = plan.old_bytes.get(rel, b"").decode("utf-8", "replace").splitlines(keepends=True)
        after = plan.files.get(rel, b"").decode("utf-8", "replace").splitlines(keepends=True)
        a = "/dev/null" if rel in plan.added else f"a/{rel}"
        b = "/dev/null" if rel in plan.removed else f"b/{rel}"
        for line in difflib.unified_diff(before, after, a, b):
            echo(line.rstrip("\n"))


# ---- writing and restoring ------------------------------------------------------------------------
@dataclass
class Applied:
    """What the write step did, so that it can be undone exactly."""

    backup: Path
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    made_dirs: list[Path] = field(default_factory=list)
    originals: list[str] = field(default_factory=list)   # PATH.hotline-orig files written


def _fsync_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)


def apply(plan: Plan) -> Applied:
    """Stage, back up, rename into place (the manifest last).  Raises DeployError (having undone
    whatever it did) when the conf dir cannot be written."""
    conf = plan.conf_dir
    try:
        staging = Path(tempfile.mkdtemp(prefix=".hotline-staging-", dir=conf))
        backup = Path(tempfile.mkdtemp(prefix=".hotline-backup-", dir=conf))
    except OSError as exc:
        raise DeployError(f"cannot write in {conf}: {exc.strerror or exc}; nothing was changed") from None
    done = Applied(backup)
    try:
        writes = [r for r in plan.added + plan.changed if r != MANIFEST]
        for rel in writes + ([MANIFEST] if MANIFEST in plan.added + plan.changed else []):
            staged = staging / rel
            staged.parent.mkdir(parents=True, exist_ok=True)
            target = conf / rel
            mode = target.stat().st_mode & 0o777 if target.is_file() else 0o644
            _fsync_write(staged, plan.files[rel], mode)
        for rel in plan.changed + plan.removed:
            saved = backup / rel
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(conf / rel, saved)
        for rel in plan.taken_over:
            orig = conf / (rel + ORIG_SUFFIX)
            if not orig.exists():
                shutil.copy2(conf / rel, orig)
                done.originals.append(rel + ORIG_SUFFIX)
        for rel in writes + ([MANIFEST] if MANIFEST in plan.added + plan.changed else []):
            target = conf / rel
            for parent in reversed(target.relative_to(conf).parents[:-1]):
                d = conf / parent
                if not d.exists():
                    d.mkdir()
                    done.made_dirs.append(d)
            existed = target.exists()
            os.replace(staging / rel, target)
            (done.replaced if existed else done.created).append(rel)
        for rel in plan.removed:
            (conf / rel).unlink()
            done.deleted.append(rel)
    except OSError as exc:
        problem = f"cannot write {conf}: {exc.strerror or exc}"
        try:
            restore(plan, done)
        except DeployError as again:
            raise DeployError(f"{problem}; and restoring failed too: {again}") from None
        raise DeployError(f"{problem}; the previous files were restored") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return done


def restore(plan: Plan, done: Applied) -> None:
    """Put back exactly the bytes that were there before ``apply``."""
    conf = plan.conf_dir
    failures = []
    for rel in done.created:
        try:
            (conf / rel).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            failures.append(f"{rel}: {exc.strerror or exc}")
    for rel in done.replaced + done.deleted:
        try:
            os.replace(_staged_copy(done.backup / rel, conf / rel), conf / rel)
        except OSError as exc:
            failures.append(f"{rel}: {exc.strerror or exc}")
    for rel in done.originals:
        try:
            (conf / rel).unlink()
        except OSError:
            pass
    for d in reversed(done.made_dirs):
        try:
            d.rmdir()
        except OSError:
            pass
    if failures:
        raise DeployError(f"could not restore {', '.join(failures)}; the previous files are kept in {done.backup}")
    shutil.rmtree(done.backup, ignore_errors=True)


def _staged_copy(src: Path, target: Path) -> Path:
    """A copy of ``src`` next to ``target`` (same file system), for an atomic rename."""
    tmp = target.parent / f".{target.name}.hotline-restore"
    shutil.copy2(src, tmp)
    return tmp


def finish(done: Applied) -> None:
    shutil.rmtree(done.backup, ignore_errors=True)


# ---- what the switch must load --------------------------------------------------------------------
def queue_params(xml: bytes | None) -> dict[str, tuple[tuple[str, str], ...]]:
    """mod_callcenter queue name -> its params, from callcenter.conf.xml."""
    if not xml:
        return {}
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    out = {}
    for q in root.iter("queue"):
        name = q.get("name")
        if name:
            out[name] = tuple(sorted((p.get("name", ""), p.get("value", "")) for p in q.iter("param")))
    return out


def agents_and_tiers(xml: bytes | None) -> tuple[set[tuple], set[tuple]]:
    if not xml:
        return set(), set()
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return set(), set()
    agents = {tuple(sorted(a.attrib.items())) for a in root.iter("agent")}
    tiers = {tuple(sorted(t.attrib.items())) for t in root.iter("tier")}
    return agents, tiers


def queue_actions(old: bytes | None, new: bytes | None) -> list[tuple[str, str]]:
    """[(verb, queue)] with verb load (new), reload (changed), unload (gone)."""
    before, after = queue_params(old), queue_params(new)
    acts = [("load", q) for q in sorted(set(after) - set(before))]
    acts += [("reload", q) for q in sorted(set(after) & set(before)) if after[q] != before[q]]
    acts += [("unload", q) for q in sorted(set(before) - set(after))]
    return acts


def live_names(files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """(contexts of the generated dialplan, extensions generated for the public context)."""
    contexts: list[str] = []
    public: list[str] = []
    for rel, data in sorted(files.items()):
        if not rel.startswith("dialplan/") or not rel.endswith(".xml"):
            continue
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            continue
        if rel.startswith("dialplan/public/"):
            public += [e.get("name", "") for e in root.iter("extension") if e.get("name")]
        elif rel.count("/") == 1:
            contexts += [c.get("name", "") for c in root.iter("context") if c.get("name")]
    return contexts, public


# ---- a small blocking Event Socket client ------------------------------------------------------------
class EslClient:
    """Inbound ESL over a plain blocking socket, framed by esl_app.protocol."""

    def __init__(self, host: str, port: int, password: str, timeout: float = 30.0):
        self.where = f"{host}:{port}"
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=min(timeout, 10.0))
        except OSError as exc:
            raise DeployError(f"cannot reach the switch's Event Socket at {self.where} "
                              f"({exc.strerror or exc}); is FreeSWITCH running and mod_event_socket "
                              "listening there?") from None
        self.sock.settimeout(timeout)
        self.reader = P.Reader(P.MESSAGES)
        first = self._read()
        if first.content_type == "text/rude-rejection":
            self.close()
            raise DeployError(f"the Event Socket at {self.where} rejected this address "
                              "(event_socket.conf.xml apply-inbound-acl)")
        if first.content_type != "auth/request":
            self.close()
            raise DeployError(f"{self.where} does not speak the Event Socket protocol "
                              f"(first message: {first.content_type or 'no Content-Type'})")
        if "\n" in password or "\r" in password:
            self.close()
            raise DeployError("the Event Socket password cannot contain a line break")
        self.sock.sendall(P.encode_command(f"auth {password}"))
        reply = self._read()
        if reply.get("Reply-Text") != "+OK accepted":
            self.close()
            raise DeployError(f"the Event Socket at {self.where} refused the password; give the one in "
                              f"event_socket.conf.xml with --password or ${PASSWORD_ENV}")

    def _read(self) -> P.Message:
        while True:
            item = self.reader.next()
            if isinstance(item, P.Message):
                return item
            if item is P.CLOSED:
                raise DeployError(f"the Event Socket at {self.where} closed the connection")
            if isinstance(item, P.ProtocolError):
                raise DeployError(f"garbled reply from {self.where}: {item.message}")
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise DeployError(f"no answer from the Event Socket at {self.where} within "
                                  f"{self.timeout:.0f} s") from None
            except OSError as exc:
                raise DeployError(f"lost the Event Socket at {self.where}: {exc.strerror or exc}") from None
            self.reader.feed(data)

    def api(self, command: str) -> str:
        try:
            self.sock.sendall(P.encode_command("api " + command))
        except OSError as exc:
            raise DeployError(f"lost the Event Socket at {self.where}: {exc.strerror or exc}") from None
        while True:
            msg = self._read()
            if msg.content_type == "api/response":
                return msg.text
            if msg.content_type == "text/disconnect-notice":
                raise DeployError(f"the switch at {self.where} closed the Event Socket while running '{command}'")

    def close(self) -> None:
        try:
            self.sock.sendall(P.encode_command("exit"))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def parse_esl(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DeployError(f"--esl {text!r}: expected HOST:PORT, e.g. {DEFAULT_ESL}")
    return host.strip("[]"), int(port)


def reload_failed(reply: str) -> str | None:
    """The reason a ``reloadxml`` reply means failure, or None."""
    text = reply.strip()
    if not text.startswith("+OK"):
        return text or "empty reply"
    if "[error" in text.lower() or "cannot open" in text.lower():
        detail = text.removeprefix("+OK").strip()
        if detail.startswith("[") and detail.endswith("]"):
            detail = detail[1:-1]
        return detail
    return None


# ---- the deploy --------------------------------------------------------------------------------------
def _log(plan: Plan, previous: str | None, result: str, error: str | None, echo: Echo) -> None:
    flows = sorted(json.loads(plan.files[MANIFEST]).get("flows", {})) if MANIFEST in plan.files else []
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "manifest_sha256": plan.new_manifest_hash(),
        "previous_manifest_sha256": previous,
        "flows": flows,
        "added": plan.added, "changed": plan.changed, "removed": plan.removed,
        "result": result,
    }
    if error:
        entry["error"] = error
    log = plan.conf_dir / LOG_NAME
    try:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    except OSError as exc:
        echo(f"warning: could not append to {log}: {exc.strerror or exc}")


def _reload_and_check(client: EslClient, plan: Plan, echo: Echo, done: list[tuple[str, str]]) -> None:
    """reloadxml, queues, contexts; the queue actions taken go to ``done`` (to undo them)."""
    reply = client.api("reloadxml")
    why = reload_failed(reply)
    if why:
        raise DeployError(f"the switch rejected the new XML: reloadxml said {why}")
    echo("reloadxml: " + reply.strip())
    old_cc = plan.old_bytes.get(CALLCENTER) if CALLCENTER in plan.changed + plan.removed else None
    if CALLCENTER in plan.unchanged:
        old_cc = plan.files[CALLCENTER]
    for verb, queue in queue_actions(old_cc, plan.files.get(CALLCENTER)):
        reply = client.api(f"callcenter_config queue {verb} {queue}").strip()
        if not reply.startswith("+OK"):
            raise DeployError(f"callcenter_config queue {verb} {queue} failed: {reply or 'no reply'}"
                              " (is mod_callcenter loaded?)")
        done.append((verb, queue))
        echo(f"callcenter: queue {verb} {queue}: {reply}")
    if agents_and_tiers(old_cc) != agents_and_tiers(plan.files.get(CALLCENTER)):
        echo("note: agents or tiers changed; mod_callcenter reads them only when it loads. Apply them "
             "with 'reload mod_callcenter' at a quiet hour (it drops queued callers) or with "
             "callcenter_config agent/tier commands.")
    contexts, public = live_names(plan.files)
    for ctx in contexts:
        located = client.api(f"xml_locate dialplan context name {ctx}")
        if not re.search(r'<context\b[^>]*\bname="' + re.escape(ctx) + '"', located):
            raise DeployError(f"after reloadxml the switch has no dialplan context {ctx!r} (xml_locate said "
                              f"{located.strip()[:120]!r}); is {plan.conf_dir}/dialplan/*.xml included by "
                              "freeswitch.xml?")
    if public:
        located = client.api("xml_locate dialplan context name public")
        missing = [e for e in public if not re.search(r'<extension\b[^>]*\bname="' + re.escape(e) + '"', located)]
        if missing:
            raise DeployError(f"after reloadxml the public context lacks {', '.join(missing)}; is "
                              "dialplan/public/*.xml included by dialplan/public.xml?")
    echo("live contexts: " + (", ".join(contexts) or "none"))


def _undo_queues(client: EslClient, done: list[tuple[str, str]], echo: Echo) -> None:
    undo = {"load": "unload", "unload": "load", "reload": "reload"}
    for verb, queue in reversed(done):
        try:
            reply = client.api(f"callcenter_config queue {undo[verb]} {queue}").strip()
        except DeployError as exc:
            echo(f"rollback: callcenter_config queue {undo[verb]} {queue}: {exc}")
            continue
        echo(f"rollback: callcenter_config queue {undo[verb]} {queue}: {reply}")


def deploy_files(files: dict[str, bytes], conf_dir: Path, esl: str, password: str, *, dry_run: bool = False,
                 take_over: Iterable[str] = (), force: bool = False, timeout: float = 30.0,
                 echo: Echo = print) -> None:
    """Deploy an already compiled tree; raises DeployError saying what failed (and whether the
    previous files are back)."""
    if not conf_dir.is_dir():
        raise DeployError(f"{conf_dir}: no such directory; give FreeSWITCH's conf folder (e.g. /etc/freeswitch)")
    leftovers = sorted(p.name for p in conf_dir.glob(".hotline-backup-*"))
    if leftovers:
        echo(f"warning: {conf_dir} holds {', '.join(leftovers)} from an interrupted deploy: the files "
             "there are what it replaced; check them, then delete the folder")
    plan = plan_deploy(conf_dir, files, take_over, force)
    if dry_run:
        describe(plan, echo)
        return
    host, port = parse_esl(esl)
    client = EslClient(host, port, password, timeout)
    try:
        if not plan.changes:
            echo(f"nothing to change in {conf_dir}; checking that the switch has it loaded")
            _reload_and_check(client, plan, echo, [])
            return
        describe(plan, echo, diff=False)
        old_manifest = conf_dir / MANIFEST
        previous = sha256(old_manifest.read_bytes()) if old_manifest.is_file() else None
        done = apply(plan)
        queues: list[tuple[str, str]] = []
        try:
            _reload_and_check(client, plan, echo, queues)
        except DeployError as exc:
            problem = str(exc)
            try:
                restore(plan, done)
            except DeployError as again:
                _log(plan, previous, "rollback failed", f"{problem}; {again}", echo)
                raise DeployError(f"{problem}. Restoring the previous files failed: {again}") from None
            reply = client.api("reloadxml")
            _undo_queues(client, queues, echo)
            again_why = reload_failed(reply)
            _log(plan, previous, "rolled back", problem, echo)
            if again_why:
                raise DeployError(f"{problem}. The previous files were restored, but reloading them failed "
                                  f"too: {again_why}") from None
            raise DeployError(f"{problem}. The previous files were restored and reloaded.") from None
        finish(done)
        _log(plan, previous, "deployed", None, echo)
        echo(f"deployed to {conf_dir}: manifest {plan.new_manifest_hash()[:12]}")
    finally:
        client.close()


@click.command("deploy")
@click.argument("flows", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--conf-dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="FreeSWITCH's conf folder on this machine (/etc/freeswitch on a stock install).")
@click.option("--esl", default=DEFAULT_ESL, show_default=True, help="The switch's Event Socket, HOST:PORT.")
@click.option("--password", envvar=PASSWORD_ENV, show_envvar=True, default=None,
              help=f"Event Socket password (event_socket.conf.xml); FreeSWITCH's default "
                   f"'{DEFAULT_PASSWORD}' only when neither this nor ${PASSWORD_ENV} is set.")
@click.option("--dry-run", is_flag=True, help="Print the files that would be added/changed/removed, with a "
                                              "unified diff; change nothing, contact nothing.")
@click.option("--take-over", multiple=True, metavar="PATH",
              help="Let hotline own PATH (relative to --conf-dir) although it did not write it; the "
                   f"original is kept as PATH{ORIG_SUFFIX}. E.g. the stock {CALLCENTER}.")
@click.option("--force", is_flag=True, help="Overwrite generated files that were edited by hand.")
@click.option("--recordings", type=click.Path(path_type=Path, file_okay=False),
              help="prompt recordings folder (default: the nearest recordings/ above each flow)")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for each Event Socket reply.")
def deploy(flows: tuple[Path, ...], conf_dir: Path, esl: str, password: str | None, dry_run: bool,
           take_over: tuple[str, ...], force: bool, recordings: Path | None, timeout: float) -> None:
    """Compile FLOWS and deploy them to a running FreeSWITCH with reload and rollback.

    Exit status: 0 deployed (or nothing to do), 2 the flows have errors (nothing touched),
    1 the deploy failed (the message says what, and whether the previous files are back).
    """
    from .cli import EXIT_ENVIRONMENT, EXIT_FLOW_ERRORS, report
    from .compiler import load_project, render

    project = load_project(list(flows), recordings)
    report(project.problems)
    if not project.ok:
        sys.exit(EXIT_FLOW_ERRORS)
    files, problems = render(project)
    report(problems)
    if any(p.is_error for p in problems):
        sys.exit(EXIT_FLOW_ERRORS)
    if password is None:
        password = DEFAULT_PASSWORD
    try:
        deploy_files(files, conf_dir, esl, password, dry_run=dry_run, take_over=take_over, force=force,
                     timeout=timeout, echo=click.echo)
    except DeployError as exc:
        click.echo(f"fsgen deploy: {exc}", err=True)
        sys.exit(EXIT_ENVIRONMENT)


if __name__ == "__main__":
    deploy()
