"""Compiling a large project on every core.

Each worker process owns the flow files it loaded for the whole run: it asks the parent for
the next few files while there are any (so a worker slowed by other load on the machine, or
by bigger flows, simply takes fewer), loads, validates and checks them, sends back only small
summaries (for the cross-flow checks) and its problems, then - when no file anywhere has an
error - renders its flows straight into the staging directory and sends back file digests and
its share of callcenter.conf. Flows never travel between processes, so the cost that does not
parallelise is small.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import model as m
from .checks import FlowSummary, check_flow, summarize
from .errors import Problem
from .render import FlowOutput, recording_dirs, render_flow
from .write import put, sha256

#: below this many files one process is faster than starting workers
MIN_FILES = 48


@dataclass
class Loaded:
    problems: list[Problem] = field(default_factory=list)
    summaries: list[tuple[int, FlowSummary]] = field(default_factory=list)  # (index of its file, summary)
    cpu: float = 0.0  # seconds of CPU this worker spent (for the benchmark)


@dataclass
class Rendered:
    digests: dict[str, str] = field(default_factory=dict)
    outputs: list[tuple[str, FlowOutput]] = field(default_factory=list)  # (flow name, output without files)
    problems: list[Problem] = field(default_factory=list)
    recording_dirs: list[str] = field(default_factory=list)
    cpu: float = 0.0


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def default_jobs(n_files: int) -> int:
    if n_files < MIN_FILES or not fork_available():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _chunk_size(n_files: int, jobs: int) -> int:
    """Files handed out at a time: small enough that workers finish together, large enough
    that asking costs nothing."""
    return max(1, min(16, n_files // (jobs * 16)))


def _worker(conn: Connection, recordings: Path | None) -> None:
    from .compiler import load_flow_file

    # The worker keeps every flow it loaded until it ends, and ends with os._exit: the cyclic
    # GC would only rescan that heap, and freeing it object by object kept the parent waiting.
    gc.disable()
    try:
        flows: list[m.Flow] = []
        loaded = Loaded()
        found: dict[Path, Path] = {}
        conn.send(("next", None))
        conn.send(("next", None))  # one batch always on its way
        while True:
            message = conn.recv()
            if message[0] != "files":
                break
            conn.send(("next", None))
            _, first, paths = message
            for index, path in enumerate(paths, first):
                flow, problems, flow_recordings = load_flow_file(path, recordings, found)
                loaded.problems += problems
                if flow is not None:
                    flows.append(flow)
                    loaded.problems += check_flow(flow, flow_recordings)
                    loaded.summaries.append((index, summarize(flow)))
        conn.recv()  # the answer to the request still on its way
        loaded.cpu = time.process_time()
        conn.send(("loaded", loaded))
        message = conn.recv()
        if message[0] == "render":
            _, staging, timezones, environ = message
            started = time.process_time()
            rendered = Rendered(recording_dirs=recording_dirs(flows))
            made: set[str] = set()
            for flow in flows:
                out = render_flow(flow, timezones, environ)
                put(staging, out.files, made)
                rendered.digests.update((rel, sha256(content)) for rel, content in out.files.items())
                rendered.problems += out.problems
                out.files, out.queues = {}, []  # the main process needs only queues_xml
                rendered.outputs.append((flow.name, out))
            rendered.cpu = time.process_time() - started
            conn.send(("rendered", rendered))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("crash", traceback.format_exc()))
    finally:
        conn.close()
    os._exit(0)


class WorkerCrash(RuntimeError):
    pass


class Pool:
    """`jobs` worker processes sharing out `files` a few at a time (summaries come back in file order)."""

    def __init__(self, files: list[Path], recordings: Path | None, jobs: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.files = files
        self.chunk = _chunk_size(len(files), jobs)
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(min(jobs, len(files))):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, recordings), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    @staticmethod
    def _recv(conn: Connection) -> tuple[str, Any]:
        try:
            tag, payload = conn.recv()
        except EOFError:
            raise WorkerCrash("an fsgen worker process died") from None
        if tag == "crash":
            raise WorkerCrash(payload)
        return tag, payload

    def _receive(self, kind: str) -> list[Any]:
        results = []
        for conn in self.conns:
            tag, payload = self._recv(conn)
            assert tag == kind
            results.append(payload)
        return results

    def load(self) -> list[Loaded]:
        """Hand out the files to whichever worker asks, until every worker has sent its results."""
        given = 0
        results: dict[int, Loaded] = {}
        waiting = dict(enumerate(self.conns))
        while waiting:
            ready = multiprocessing.connection.wait(list(waiting.values()))
            for i, conn in list(waiting.items()):
                if conn not in ready:
                    continue
                tag, payload = self._recv(conn)
                if tag == "loaded":
                    results[i] = payload
                    del waiting[i]
                    continue
                batch = self.files[given:given + self.chunk]
                given += len(batch)
                try:
                    conn.send(("files", given - len(batch), batch) if batch else ("done", None))
                except OSError:
                    raise WorkerCrash("an fsgen worker process died") from None
        return [results[i] for i in range(len(self.conns))]

    def render(self, staging: Path, timezones: dict[str, str | None], environ: Mapping[str, str]) -> list[Rendered]:
        for conn in self.conns:
            conn.send(("render", staging, timezones, dict(environ)))
        return self._receive("rendered")

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass
            conn.close()
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
