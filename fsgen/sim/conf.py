"""Load a FreeSWITCH configuration tree (as under /etc/freeswitch) for the simulator.

What FreeSWITCH's XML preprocessor does, and so what this does:

- ``<X-PRE-PROCESS cmd="set" data="name=value"/>`` sets a global at that point of the text;
- ``$${name}`` is replaced by the global's value as the text is read (later ``set``\\ s do
  not change earlier lines);
- ``<X-PRE-PROCESS cmd="include" data="glob"/>`` splices in the files the glob matches
  (sorted; a relative glob is relative to the including file's folder); a file wrapped in
  ``<include>`` contributes its children;
- ``X-PRE-PROCESS`` inside XML comments is ignored; ``exec``/``exec-set`` are refused (nothing
  from a configuration reaches a shell here).

"Overlay" mode reads the simulator's stock base (``fsgen/sim/stock``) with another folder
laid over it: a file of the overlay replaces the stock file of the same relative path, and
globs see the union (this is how the fs-reference cases' ``conf/`` was used on the rig).
Users written directly at directory-section level (``<include><user>``) belong to the
default domain ``$${domain}``.

Errors come back as :class:`~fsgen.sim.errors.SimError` values naming file and line.
"""

from __future__ import annotations

import glob as _glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SimError
from .xmltree import XElement, XMLSyntaxError, parse

STOCK_DIR = Path(__file__).resolve().parent / "stock"

_PRE_RE = re.compile(r"<X-PRE-PROCESS\b([^>]*?)/?>", re.DOTALL)
_ATTR_RE = re.compile(r'([\w-]+)\s*=\s*"([^"]*)"')
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_GLOBAL_RE = re.compile(r"\$\$\{([^}]+)\}")


@dataclass
class DirectoryUser:
    id: str
    domain: str
    attrs: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    element: XElement | None = None


@dataclass
class Conf:
    """The loaded tree, indexed the way the simulator looks things up."""

    root: XElement
    globals: dict[str, str]
    contexts: dict[str, XElement]
    configurations: dict[str, XElement]
    menus: dict[str, XElement]
    users: dict[tuple[str, str], DirectoryUser]
    files: list[str]
    warnings: list[SimError] = field(default_factory=list)

    def configuration(self, name: str) -> XElement | None:
        """``<configuration name="...">`` of the configuration section (``callcenter.conf``)."""
        if not name.endswith(".conf"):
            name += ".conf"
        return self.configurations.get(name)

    def directory_user(self, user: str, domain: str) -> DirectoryUser | None:
        found = self.users.get((user, domain))
        if found is not None:
            return found
        for entry in self.users.values():
            if entry.domain == domain and entry.attrs.get("number-alias") == user:
                return entry
        return None


class _Layers:
    """Folders searched in order (overlay first); relative paths resolve in the first that has them."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs

    def rel(self, path: Path) -> str | None:
        for d in self.dirs:
            try:
                return str(path.resolve().relative_to(d.resolve()))
            except ValueError:
                continue
        return None

    def resolve(self, rel: str) -> Path | None:
        for d in self.dirs:
            p = d / rel
            if p.is_file():
                return p
        return None

    def glob(self, pattern: str) -> list[Path]:
        if os.path.isabs(pattern):
            return [Path(p) for p in sorted(_glob.glob(pattern)) if os.path.isfile(p)]
        seen: dict[str, Path] = {}
        for d in self.dirs:
            for p in _glob.glob(str(d / pattern)):
                if not os.path.isfile(p):
                    continue
                rel = os.path.normpath(os.path.relpath(p, d))
                seen.setdefault(rel, Path(p))
        return [seen[k] for k in sorted(seen)]


def core_globals(conf_dir: str, *, storage_dir: str = "/var/lib/freeswitch/storage",
                 recordings_dir: str = "/var/lib/freeswitch/recordings",
                 sounds_dir: str = "/usr/share/freeswitch/sounds") -> dict[str, str]:
    """Globals FreeSWITCH sets before reading its configuration (switch_core.c)."""
    return {
        "hostname": "hotline-sim",
        "local_ip_v4": "127.0.0.1",
        "local_mask_v4": "255.0.0.0",
        "local_ip_v6": "::1",
        "base_dir": "/usr",
        "conf_dir": conf_dir,
        "sounds_dir": sounds_dir,
        "recordings_dir": recordings_dir,
        "storage_dir": storage_dir,
        "log_dir": "/var/log/freeswitch",
        "db_dir": "/var/lib/freeswitch/db",
        "script_dir": "/usr/share/freeswitch/scripts",
        "temp_dir": "/tmp",
        "switch_serial": "0",
        "core_uuid": "00000000-0000-4000-8000-000000000000",
        "nat_public_addr": "127.0.0.1",
        "nat_private_addr": "127.0.0.1",
        "nat_type": "none",
    }


def load(conf_dir: str | Path, *, overlay_on_stock: bool = False,
         globals_: dict[str, str] | None = None,
         pinned: dict[str, str] | None = None) -> Conf | SimError:
    """Load ``conf_dir`` (a full tree) or, with ``overlay_on_stock``, the stock base with
    ``conf_dir`` laid over it.

    ``globals_`` seeds the globals before reading (core globals, e.g. storage_dir);
    ``pinned`` globals win over any ``X-PRE-PROCESS set`` (e.g. ``ref_sounds`` given by the
    replay harness).
    """
    conf_dir = Path(conf_dir)
    if not conf_dir.is_dir():
        return SimError("configuration folder not found", file=str(conf_dir),
                        hint="give the folder that holds freeswitch.xml (or a case's conf/)")
    dirs = [conf_dir, STOCK_DIR] if overlay_on_stock else [conf_dir]
    layers = _Layers(dirs)
    main = layers.resolve("freeswitch.xml")
    if main is None:
        return SimError("freeswitch.xml not found", file=str(conf_dir),
                        hint="a full tree needs freeswitch.xml; use overlay mode for a case's conf/")
    pre = _Preprocessor(layers, globals_ or core_globals(str(conf_dir)), pinned or {})
    try:
        nodes = pre.process(main, depth=0)
    except _PreError as err:
        return err.error
    roots = [n for n in nodes if isinstance(n, XElement)]
    if not roots:
        return SimError("no <document> element", file=str(main), line=1)
    return _index(roots[0], pre)


class _PreError(Exception):
    def __init__(self, error: SimError):
        super().__init__(str(error))
        self.error = error


class _Preprocessor:
    def __init__(self, layers: _Layers, globals_: dict[str, str], pinned: dict[str, str]):
        self.layers = layers
        self.globals = dict(globals_)
        self.globals.update(pinned)
        self.pinned = pinned
        self.files: list[str] = []
        self.warnings: list[SimError] = []

    def subst(self, text: str) -> str:
        if "$${" not in text:
            return text
        return _GLOBAL_RE.sub(lambda m: self.globals.get(m.group(1), ""), text)

    def process(self, path: Path, depth: int) -> list[XElement]:
        if depth > 20:
            raise _PreError(SimError("includes nested more than 20 deep", file=str(path)))
        self.files.append(str(path))
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise _PreError(SimError(f"cannot read file: {err}", file=str(path))) from None
        comments = [(m.start(), m.end()) for m in _COMMENT_RE.finditer(raw)]

        def in_comment(pos: int) -> bool:
            return any(a <= pos < b for a, b in comments)

        out: list[str] = []
        included: dict[str, list[XElement]] = {}
        last = 0
        for m in _PRE_RE.finditer(raw):
            if in_comment(m.start()):
                continue
            out.append(self.subst(raw[last:m.start()]))
            last = m.end()
            line = raw.count("\n", 0, m.start()) + 1
            attrs = dict(_ATTR_RE.findall(m.group(1)))
            cmd = attrs.get("cmd", "")
            data = self.subst(attrs.get("data", ""))
            keep_lines = "\n" * m.group(0).count("\n")
            if cmd == "set" or cmd == "stun-set" or cmd == "env-set":
                name, eq, value = data.partition("=")
                if not eq:
                    raise _PreError(SimError('X-PRE-PROCESS set needs data="name=value"', file=str(path),
                                             line=line))
                if name.strip() not in self.pinned:
                    self.globals[name.strip()] = value.strip()
                out.append(keep_lines)
            elif cmd == "include":
                key = "k%d" % len(included)
                included[key] = self.include(path, data, line, depth)
                out.append(f'<X-INCLUDED key="{key}"/>{keep_lines}')
            elif cmd in ("exec", "exec-set"):
                self.warnings.append(SimError(f"X-PRE-PROCESS {cmd} is not run by the simulator",
                                              file=str(path), line=line))
                if cmd == "exec-set":
                    name = data.partition("=")[0].strip()
                    if name and name not in self.pinned:
                        self.globals[name] = ""
                out.append(keep_lines)
            else:
                self.warnings.append(SimError(f"unknown X-PRE-PROCESS cmd {cmd!r} ignored",
                                              file=str(path), line=line))
                out.append(keep_lines)
        out.append(self.subst(raw[last:]))
        text = "".join(out)
        if not text.strip():
            return []
        try:
            root = parse(text, str(path))
        except XMLSyntaxError as err:
            raise _PreError(SimError("XML syntax error: " + err.message, file=err.file, line=err.line,
                                     hint="fix the XML; FreeSWITCH would refuse to load it")) from None
        if included:
            _splice(root, included)
        if root.tag == "include":
            for c in root.children:
                c.parent = None
            return root.children
        return [root]

    def include(self, path: Path, pattern: str, line: int, depth: int) -> list[XElement]:
        if not pattern:
            raise _PreError(SimError('X-PRE-PROCESS include needs data="file or glob"', file=str(path),
                                     line=line))
        if os.path.isabs(pattern):
            rel_pattern = pattern
        else:
            base = self.layers.rel(path.parent)
            rel_pattern = os.path.normpath(os.path.join(base, pattern)) if base is not None else \
                str(path.parent / pattern)
        files = self.layers.glob(rel_pattern)
        if not files and not any(ch in pattern for ch in "*?["):
            raise _PreError(SimError(f"included file {pattern!r} not found", file=str(path), line=line))
        nodes: list[XElement] = []
        for f in files:
            nodes.extend(self.process(f, depth + 1))
        return nodes


def _splice(el: XElement, included: dict[str, list[XElement]]) -> None:
    new_children: list[XElement] = []
    for c in el.children:
        if c.tag == "X-INCLUDED":
            for n in included.get(c.attrib.get("key", ""), []):
                n.parent = el
                new_children.append(n)
        else:
            _splice(c, included)
            new_children.append(c)
    el.children = new_children


def _index(root: XElement, pre: _Preprocessor) -> Conf | SimError:
    contexts: dict[str, XElement] = {}
    configurations: dict[str, XElement] = {}
    menus: dict[str, XElement] = {}
    users: dict[tuple[str, str], DirectoryUser] = {}
    domain_default = pre.globals.get("domain", "")
    for section in root.findall("section"):
        name = section.get("name")
        if name == "dialplan":
            for ctx in section.iter("context"):
                cname = ctx.get("name")
                if cname is None:
                    return SimError("<context> without name", file=ctx.file, line=ctx.line)
                contexts.setdefault(cname, ctx)
        elif name == "configuration":
            for cfg in section.iter("configuration"):
                cname = cfg.get("name")
                if cname:
                    configurations.setdefault(cname, cfg)
        elif name == "directory":
            for user in section.iter("user"):
                dom = _domain_of(user) or domain_default
                uid = user.get("id")
                if uid is None:
                    return SimError("<user> without id", file=user.file, line=user.line)
                entry = DirectoryUser(id=uid, domain=dom, attrs=dict(user.attrib), element=user)
                for dom_el in _ancestors(user, "domain"):
                    _collect(dom_el, entry)
                for grp in _ancestors(user, "group"):
                    _collect(grp, entry)
                _collect(user, entry)
                users.setdefault((uid, dom), entry)
    ivr = configurations.get("ivr.conf")
    if ivr is not None:
        for m in ivr.iter("menu"):
            mname = m.get("name")
            if mname:
                menus.setdefault(mname, m)
    return Conf(root=root, globals=pre.globals, contexts=contexts, configurations=configurations,
                menus=menus, users=users, files=pre.files, warnings=pre.warnings)


def _ancestors(el: XElement, tag: str) -> list[XElement]:
    out = []
    p = el.parent
    while p is not None:
        if p.tag == tag:
            out.append(p)
        p = p.parent
    return list(reversed(out))


def _domain_of(user: XElement) -> str | None:
    doms = _ancestors(user, "domain")
    return doms[-1].get("name") if doms else None


def _collect(el: XElement, entry: DirectoryUser) -> None:
    """params/variables defined directly on a domain, group or user (user wins, last)."""
    for params in el.findall("params"):
        for p in params.findall("param"):
            if p.get("name") is not None:
                entry.params[p.get("name") or ""] = p.get("value", "") or ""
    for variables in el.findall("variables"):
        for v in variables.findall("variable"):
            if v.get("name") is not None:
                entry.variables[v.get("name") or ""] = v.get("value", "") or ""
