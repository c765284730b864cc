"""Benchmark: the examples' call scripts replayed per second (target >= 500/s) and virtual / wall time.

    .venv/bin/python -m tests.bench_replay [--rounds N] [--jobs N]

Every script of ``examples/calls/`` and ``flows/calls/`` is replayed ``--rounds`` times on one
rig (flows compiled once, as ``fsgen replay`` and the tests do), each with its transcript and
expectations, exactly as ``fsgen replay`` runs them.  Calls with lookups talk to the scripted
esl_app stand-in over real TCP on 127.0.0.1.

Two ways are timed, round by round, taking turns (this VM's speed drifts by tens of percent
within seconds): one process, and ``fsgen replay``'s default of one process per core (``--jobs``;
worker start-up is inside every round's time, as it is in every ``fsgen replay`` run).  The median
round of the default way is held against the target; both are printed, with the virtual call
time per wall-clock second and the slowest scripts.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from fsgen.sim.batch import default_jobs, replay_one, replay_scripts
from fsgen.sim.replay import check_script
from fsgen.sim.script import CallScript, load_scripts
from fsgen.sim.testing import replay_rig

ROOT = Path(__file__).resolve().parent.parent
TARGET = 500.0


def _scripts() -> list[CallScript]:
    out: list[CallScript] = []
    for d in (ROOT / "examples" / "calls", ROOT / "flows" / "calls"):
        for path in sorted(d.rglob("*.yaml")):
            scripts, problems = load_scripts(path, str(path.relative_to(ROOT)))
            if problems:
                raise SystemExit("\n".join(p.format() for p in problems))
            out += scripts
    return out


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7, help="rounds of each way (default 7)")
    ap.add_argument("--jobs", type=int, default=None, help="processes for the default way (default: as fsgen replay)")
    args = ap.parse_args(argv)
    scripts = _scripts()
    jobs = args.jobs or default_jobs(len(scripts))
    n = len(scripts)
    with replay_rig([ROOT / "examples", ROOT / "flows"]) as rig:
        for script in scripts:
            problems = check_script(rig, script)
            if problems:
                raise SystemExit("\n".join(p.format() for p in problems))
        for script in scripts:                      # warm-up: imports, caches
            replay_one(rig, script)
        per_script: dict[str, float] = {}
        virtual = 0.0
        failed = 0
        walls: dict[int, list[float]] = {1: [], jobs: []}
        for _ in range(args.rounds):
            started = time.perf_counter()
            for script in scripts:
                t0 = time.perf_counter()
                result = replay_one(rig, script)
                per_script[script.title] = per_script.get(script.title, 0.0) + time.perf_counter() - t0
                virtual += result.virtual_seconds
                failed += not result.ok
            walls[1].append(time.perf_counter() - started)
            if jobs > 1:
                started = time.perf_counter()
                results = list(replay_scripts(rig, scripts, jobs=jobs))
                walls[jobs].append(time.perf_counter() - started)
                failed += sum(not r.ok for r in results)
    one = walls[1]
    calls = n * args.rounds
    rate = n / _median(walls[jobs])
    print(f"replayed {n} scripts x {args.rounds} rounds each way; cores: {os.cpu_count()}")
    if jobs > 1:
        print(f"  fsgen replay default ({jobs} processes): {rate:.0f} calls/s in the median round "
              f"(target >= {TARGET:.0f}/s: {'met' if rate >= TARGET else 'NOT met'}); rounds: "
              + ", ".join(f"{n / w:.0f}" for w in walls[jobs]))
    print(f"  one process{'' if jobs > 1 else ' (the default here)'}: {n / _median(one):.0f} calls/s in the median round"
          + ("" if jobs > 1 else f" (target >= {TARGET:.0f}/s: {'met' if rate >= TARGET else 'NOT met'})")
          + "; rounds: " + ", ".join(f"{n / w:.0f}" for w in one)
          + f"; {sum(one) / calls * 1000:.2f} ms per call")
    print(f"virtual call time {virtual:.0f} s = {virtual / sum(one):.0f} x wall-clock time in one process "
          f"(mean call {virtual / calls:.0f} s virtual)")
    slow = sorted(per_script.items(), key=lambda kv: -kv[1])[:5]
    print("slowest scripts (ms per replay, one process): " + "; ".join(f"{t / args.rounds * 1000:.1f} {name}"
                                                                        for name, t in slow))
    if failed:
        print(f"{failed} replays did not meet their expectations")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
