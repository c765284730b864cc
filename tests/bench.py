"""`make bench`: every benchmark of the project, one after the other, figures printed.

Targets live here and in the printed lines, never in unit tests: a slow machine must not turn the
test suite red, but a regression must be visible to whoever runs the benchmarks.
Pass `--full` for the issue-sized runs (1,000,000 customers for esl_app); the default sizes finish
in a few minutes on the 2-core reference machine.
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHES = [
    ("compile: 1,000 flows x 50 nodes (target < 3 s)", "tests.bench_compile", []),
    ("simulator: scripted calls per second (target >= 500/s)", "tests.bench_sim", []),
    ("replay: example call scripts per second (target >= 500/s)", "tests.bench_replay", []),
    ("esl_app: live lookups through the socket path (targets >= 500/s, p99 <= 20 ms, ratio >= 0.7)",
     "tests.bench_esl_app", []),
    ("esl_app: switch-side cache fill and change propagation (target: 1M customers <= 90 s)",
     "tests.bench_cache", []),
]
FULL_ARGS = {"tests.bench_esl_app": ["--customers", "1000000"],
             "tests.bench_cache": ["--customers", "1000000"]}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    full = "--full" in argv
    failed = []
    for title, module_name, args in BENCHES:
        print(f"\n=== {title}", flush=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            print(f"    not available: {exc}")
            failed.append(module_name)
            continue
        started = time.perf_counter()
        rc = module.main(args + (FULL_ARGS.get(module_name, []) if full else []))
        print(f"    ({module_name} took {time.perf_counter() - started:.1f} s wall, exit {rc})", flush=True)
        if rc:
            failed.append(module_name)
    if failed:
        print("\nbenchmarks that did not run cleanly: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
