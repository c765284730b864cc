"""The pipeline: find flow files -> load -> validate -> model -> check -> render -> write.

This is the API other parts of hotline use (the CLI, tests, the simulator):

    project = load_project([Path("flows")])
    if not project.ok: ...                      # project.problems: errors and warnings
    files, problems = render(project)          # {"dialplan/hotline_x.xml": b"...", ...}
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import model as m
from .build import build_flow
from .checks import check_flows
from .errors import Loc, Problem, has_errors, sorted_problems
from .loader import load_file
from .render import recording_dirs, render_project
from .schema import validate_flow
from .write import MANIFEST, manifest, write_tree

FLOW_SUFFIXES = (".yaml", ".yml")


@dataclass
class Project:
    flows: list[m.Flow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    recordings: dict[str, Path] = field(default_factory=dict)  # flow name -> recordings dir

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)

    def flow(self, name: str) -> m.Flow:
        for f in self.flows:
            if f.name == name:
                return f
        raise KeyError(name)


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def find_flow_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Directories give their *.yaml / *.yml files (not recursive); files are taken as given."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in FLOW_SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem.at(Loc(display_path(path)), "no flow files (*.yaml, *.yml) here"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem.at(Loc(display_path(path)), "no such file or directory"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for f in files:
        real = f.resolve()
        if real not in seen:
            seen.add(real)
            unique.append(f)
    return unique, problems


def find_recordings(flow_file: Path) -> Path:
    """The nearest `recordings/` directory at or above the flow file's directory."""
    start = flow_file.absolute().parent
    for d in (start, *start.parents):
        if (d / "recordings").is_dir():
            return d / "recordings"
    return start.parent / "recordings"


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Loading keeps every node of every flow alive; Python's cyclic GC would rescan that growing
    heap again and again (compile time grew with the square of the number of flows). The model
    has no reference cycles worth collecting mid-run, so collection waits until the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_project(paths: Iterable[Path], recordings: Path | None = None) -> Project:
    with _no_gc_pauses():
        return _load_project(paths, recordings)


def _load_project(paths: Iterable[Path], recordings: Path | None) -> Project:
    files, problems = find_flow_files(paths)
    project = Project(problems=problems)
    for path in files:
        shown = display_path(path)
        tree, file_problems = load_file(path, shown)
        if tree is not None:
            data, schema_problems = validate_flow(tree, shown)
            file_problems += schema_problems
            if data is not None:
                flow, build_problems = build_flow(data, shown, has_errors(file_problems))
                file_problems += build_problems
                if flow is not None:
                    project.flows.append(flow)
                    project.recordings[flow.name] = recordings or find_recordings(path)
        project.problems += file_problems
    project.problems += check_flows(project.flows, lambda f: project.recordings.get(f.name) or Path("recordings"))
    project.problems = sorted_problems(project.problems)
    return project


def render(project: Project, env: dict[str, str] | None = None) -> tuple[dict[str, bytes], list[Problem]]:
    """All output files including the manifest; only call on a project without errors."""
    with _no_gc_pauses():
        files, problems = render_project(project.flows, env)
    sources = {f.name: f.file for f in project.flows}
    files[MANIFEST] = manifest(files, sources, recording_dirs(project.flows))
    return files, sorted_problems(problems)


def compile_to(paths: Iterable[Path], out: Path, recordings: Path | None = None,
               env: dict[str, str] | None = None) -> tuple[Project, dict[str, bytes]]:
    """Validate, render and (only when there is no error at all) write the tree."""
    project = load_project(paths, recordings)
    if not project.ok:
        return project, {}
    files, problems = render(project, env)
    project.problems = sorted_problems(project.problems + problems)
    if not project.ok:
        return project, {}
    write_tree(out, files)
    return project, files
