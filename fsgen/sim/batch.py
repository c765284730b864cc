"""Replaying many call scripts on every core.

Each call runs on a fresh :class:`~fsgen.sim.sim.Simulator` over the rig's configuration, so
calls are independent and their results do not depend on which process replayed them or in what
order. A replay of a whole folder of scripts is therefore split over worker processes forked
after the rig is built: each worker inherits the loaded configuration (nothing is compiled or
parsed twice), replays the scripts it is handed and sends back only what gets printed (the
transcript, the failures, the trace as JSON lines if asked, the virtual call time). The results
come back in script order, so the output is the same, byte for byte, as a replay in one process.

A worker starts its own scripted esl_app stand-in when a script needs one (the rig creates it
lazily, and a listening socket inherited from the parent would be shared with it).
"""

from __future__ import annotations

import gc
import io
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .replay import Rig, replay_script
from .script import CallScript

#: below this many scripts one process is faster than starting workers
MIN_SCRIPTS = 24


class WorkerDied(Exception):
    """A worker process ended without sending its results back."""


@dataclass
class Replayed:
    """What a replay printed and decided, without the simulator behind it (it travels between
    processes)."""

    title: str
    file: str
    ok: bool
    transcript: str
    report: str
    trace_jsonl: str | None
    virtual_seconds: float


def default_jobs(n_scripts: int) -> int:
    if n_scripts < MIN_SCRIPTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def replay_one(rig: Rig, script: CallScript, *, esl_port: int | None = None,
               trace: bool = False) -> Replayed:
    result = replay_script(rig, script, esl_port=esl_port)
    trace_jsonl = None
    if trace:
        out = io.StringIO()
        result.run.sim.trace.dump(out)
        trace_jsonl = out.getvalue()
    return Replayed(script.title, str(script.file), result.ok, result.transcript, result.report(),
                    trace_jsonl, result.run.sim.engine.now)


# What a forked worker inherits: set in the parent just before the pool forks.
_job: tuple[Rig, Sequence[CallScript], int | None, bool] | None = None


def _start_worker() -> None:
    assert _job is not None
    _job[0].forget_servers()


def _replay_index(index: int) -> Replayed:
    assert _job is not None
    rig, scripts, esl_port, trace = _job
    return replay_one(rig, scripts[index], esl_port=esl_port, trace=trace)


def replay_scripts(rig: Rig, scripts: Sequence[CallScript], *, jobs: int | None = None,
                   esl_port: int | None = None, trace: bool = False) -> Iterator[Replayed]:
    """Replay ``scripts`` (already checked against the rig) on ``jobs`` processes (default: one
    per core when there are enough scripts to pay for starting them); results in script order."""
    global _job
    jobs = default_jobs(len(scripts)) if jobs is None else max(1, jobs)
    jobs = min(jobs, len(scripts))
    if jobs <= 1:
        for script in scripts:
            yield replay_one(rig, script, esl_port=esl_port, trace=trace)
        return
    _job = (rig, scripts, esl_port, trace)
    # Objects that exist now are never collected in the workers: freezing them keeps the
    # collector from touching (and so copying) every inherited page.
    gc.freeze()
    try:
        chunk = max(1, min(4, len(scripts) // (jobs * 8)))
        # concurrent.futures rather than multiprocessing.Pool: a worker that dies (killed, out of
        # memory) ends the replay with an error instead of leaving it waiting forever.
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_start_worker) as pool:
            try:
                yield from pool.map(_replay_index, range(len(scripts)), chunksize=chunk)
            except BrokenProcessPool as exc:
                raise WorkerDied("a replay worker process died; replay with --jobs 1 to see which "
                                 "script it was on") from exc
    finally:
        gc.unfreeze()
        _job = None
