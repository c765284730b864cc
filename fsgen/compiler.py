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
import time
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
from .write import MANIFEST, commit, discard, manifest, prepare, put, sha256, write_tree

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


def _suffix(name: str) -> str:
    """Path(name).suffix, without building a Path."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def find_flow_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Directories give their *.yaml / *.yml files (not recursive); files are taken as given."""
    files: list[tuple[Path, Path | None]] = []  # (file, its real path when already known)
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            # a directory's regular files (not links) are found by name: one stat-free listing,
            # one real path for the directory instead of one per file
            real_dir: Path | None = None
            found: list[tuple[str, Path | None]] = []
            with os.scandir(path) as entries:
                for entry in entries:
                    name = entry.name
                    if _suffix(name) not in FLOW_SUFFIXES:
                        continue
                    if entry.is_file(follow_symlinks=False):
                        if real_dir is None:
                            real_dir = path.resolve()
                        found.append((name, real_dir / name))
                    elif (path / name).is_file():
                        found.append((name, None))
            found.sort()
            if not found:
                problems.append(Problem.at(Loc(display_path(path)), "no flow files (*.yaml, *.yml) here"))
            files += [(path / name, real) for name, real in found]
        elif path.is_file():
            files.append((path, None))
        else:
            problems.append(Problem.at(Loc(display_path(path)), "no such file or directory"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for f, real in files:
        real = real or f.resolve()
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
            # what was built meanwhile goes to the oldest generation in one step; otherwise the
            # first collection after this would scan all of it
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def load_flow_file(path: Path, recordings: Path | None = None, found: dict[Path, Path] | None = None
                   ) -> tuple[m.Flow | None, list[Problem], Path]:
    """One file through load, schema and model; (flow or None, problems, its recordings dir).

    `found`: recordings directories already looked up during this run, by flow directory."""
    shown = display_path(path)
    flow_recordings = recordings
    if flow_recordings is None:
        if found is None:
            flow_recordings = find_recordings(path)
        else:
            flow_recordings = found.get(path.parent)
            if flow_recordings is None:
                flow_recordings = found[path.parent] = find_recordings(path)
    tree, problems = load_file(path, shown)
    if tree is None:
        return None, problems, flow_recordings
    data, schema_problems = validate_flow(tree, shown)
    problems += schema_problems
    if data is None:
        return None, problems, flow_recordings
    flow, build_problems = build_flow(data, shown, has_errors(problems))
    return flow, problems + build_problems, flow_recordings


def load_project(paths: Iterable[Path], recordings: Path | None = None) -> Project:
    """Every flow of `paths` as a model, with every problem (errors and warnings) found."""
    with _no_gc_pauses():
        files, problems = find_flow_files(paths)
        project = Project(problems=problems)
        found: dict[Path, Path] = {}
        for path in files:
            flow, file_problems, flow_recordings = load_flow_file(path, recordings, found)
            if flow is not None:
                project.flows.append(flow)
                project.recordings[flow.name] = flow_recordings
            project.problems += file_problems
        by_flow = {id(f): project.recordings[f.name] for f in project.flows}
        project.problems += check_flows(project.flows, lambda f: by_flow.get(id(f), Path("recordings")))
        project.problems = sorted_problems(project.problems)
        return project


def render(project: Project, env: dict[str, str] | None = None) -> tuple[dict[str, bytes], list[Problem]]:
    """All output files including the manifest; only call on a project without errors."""
    with _no_gc_pauses():
        files, problems = render_project(project.flows, env)
    sources = {f.name: f.file for f in project.flows}
    files[MANIFEST] = manifest({rel: sha256(c) for rel, c in files.items()}, sources,
                               recording_dirs(project.flows))
    return files, sorted_problems(problems)


@dataclass
class CompileResult:
    problems: list[Problem]
    flows: dict[str, str] = field(default_factory=dict)  # flow name -> source file
    digests: dict[str, str] = field(default_factory=dict)  # written files -> sha256 (empty: nothing written)
    #: seconds spent, for the benchmark: wall time of each phase and CPU time of the busiest worker
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)


def compile_to(paths: Iterable[Path], out: Path, recordings: Path | None = None,
               env: dict[str, str] | None = None, jobs: int | None = None) -> CompileResult:
    """Validate, render and (only when there is no error at all) write the tree at `out`.

    `jobs`: worker processes (None: one per core for big projects, 1: this process only).
    """
    from . import parallel

    paths = list(paths)
    files, found_problems = find_flow_files(paths)
    if jobs is None:
        jobs = parallel.default_jobs(len(files))
    if jobs > 1 and len(files) > 1 and parallel.fork_available():
        return _compile_parallel(files, found_problems, out, recordings, env, min(jobs, len(files)))
    project = load_project(paths, recordings)
    result = CompileResult(project.problems, {f.name: f.file for f in project.flows})
    if not project.ok:
        return result
    rendered, problems = render(project, env)
    result.problems = sorted_problems(project.problems + problems)
    if not result.ok:
        return result
    write_tree(out, rendered)
    result.digests = {rel: sha256(c) for rel, c in rendered.items()}
    return result


def _compile_parallel(files: list[Path], problems: list[Problem], out: Path, recordings: Path | None,
                      env: dict[str, str] | None, jobs: int) -> CompileResult:
    from .checks import check_across
    from .parallel import Pool
    from .render import render_shared

    started = time.perf_counter()
    problems = list(problems)
    pool = Pool(files, recordings, jobs)
    try:
        with _no_gc_pauses():
            loaded = pool.load()
            stats = {"load_wall": time.perf_counter() - started, "load_cpu": max(part.cpu for part in loaded),
                     "workers": float(len(loaded))}
            summaries = [s for _, s in sorted((item for part in loaded for item in part.summaries),
                                              key=lambda item: item[0])]
            problems += [p for part in loaded for p in part.problems] + check_across(summaries)
            result = CompileResult(sorted_problems(problems), {s.name: s.file for s in summaries}, stats=stats)
            if not result.ok:
                return result
            mark = time.perf_counter()
            staging = prepare(out)
            try:
                parts = pool.render(staging, {s.name: s.timezone for s in summaries},
                                    os.environ if env is None else env)
                stats["render_cpu"] = max(part.cpu for part in parts)
                result.problems = sorted_problems(result.problems + [p for r in parts for p in r.problems])
                if not result.ok:
                    discard(staging)
                    return result
                outputs = sorted((o for r in parts for o in r.outputs), key=lambda item: item[0])
                shared = render_shared(o for _, o in outputs)
                digests = {rel: digest for r in parts for rel, digest in r.digests.items()}
                digests.update((rel, sha256(c)) for rel, c in shared.items())
                dirs = sorted({d for r in parts for d in r.recording_dirs})
                shared[MANIFEST] = manifest(digests, result.flows, dirs)
                put(staging, shared)
            except BaseException:
                discard(staging)
                raise
            commit(staging, out)
            stats["render_write_wall"] = time.perf_counter() - mark
            digests[MANIFEST] = sha256(shared[MANIFEST])
            result.digests = digests
            return result
    finally:
        pool.close()
