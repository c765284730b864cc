"""Benchmark: the examples' call scripts replayed per second (target >= 500/s) and virtual / wall time.

    .venv/bin/python -m tests.bench_replay [--rounds N]

Every script of ``examples/calls/`` and ``flows/calls/`` is replayed ``--rounds`` times on one rig
(each round timed on its own; the median round is held against the target)
(flows compiled once, as ``fsgen replay`` and the tests do), each with its transcript and
expectations, exactly as ``fsgen replay`` runs them.  Calls with lookups talk to the scripted
esl_app stand-in over real TCP on 127.0.0.1.  Printed: scripted calls per second, virtual call time
per wall-clock second, and the slowest scripts.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fsgen.sim.replay import check_script, replay_script
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7, help="times every script is replayed (default 7)")
    args = ap.parse_args(argv)
    scripts = _scripts()
    with replay_rig([ROOT / "examples", ROOT / "flows"]) as rig:
        for script in scripts:
            problems = check_script(rig, script)
            if problems:
                raise SystemExit("\n".join(p.format() for p in problems))
        for script in scripts:                      # warm-up: imports, caches
            replay_script(rig, script)
        per_script: dict[str, float] = {}
        virtual = 0.0
        failed = 0
        round_walls: list[float] = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            for script in scripts:
                t0 = time.perf_counter()
                result = replay_script(rig, script)
                per_script[script.title] = per_script.get(script.title, 0.0) + time.perf_counter() - t0
                virtual += result.run.sim.engine.now
                failed += not result.ok
            round_walls.append(time.perf_counter() - started)
    calls = len(scripts) * args.rounds
    wall = sum(round_walls)
    # Each round replays every script once; the median round is held against the target (this VM's
    # speed drifts by tens of percent within seconds), and every round is printed.
    median = sorted(round_walls)[len(round_walls) // 2]
    rate = len(scripts) / median
    print(f"replayed {calls} scripted calls ({len(scripts)} scripts x {args.rounds} rounds) in {wall:.2f} s wall: "
          f"{rate:.0f} calls/s in the median round (target >= {TARGET:.0f}/s: {'met' if rate >= TARGET else 'NOT met'}); "
          f"all rounds {calls / wall:.0f} calls/s")
    print("rounds (calls/s): " + ", ".join(f"{len(scripts) / w:.0f}" for w in round_walls))
    print(f"virtual call time {virtual:.0f} s = {virtual / wall:.0f} x wall-clock time "
          f"(mean call {virtual / calls:.0f} s virtual, {wall / calls * 1000:.2f} ms wall)")
    slow = sorted(per_script.items(), key=lambda kv: -kv[1])[:5]
    print("slowest scripts (ms per replay): " + "; ".join(f"{t / args.rounds * 1000:.1f} {name}"
                                                          for name, t in slow))
    if failed:
        print(f"{failed} replays did not meet their expectations")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
