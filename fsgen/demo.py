"""`make demo`: what hotline does, end to end, in one command.

It runs the same commands an engineer would (validate, compile, replay) so the demo can never
show something the tools cannot do: the demo flow in `flows/` and the five example hotlines are
compiled to FreeSWITCH conf trees under `build/`, then the demo flow's scripted calls are replayed
on the simulator with their transcripts, and every example hotline's calls are replayed with a
one-line summary each.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli import main as fsgen

STEPS_SHOWN = "flows/calls"
EXAMPLE_FLOWS = ["cable_tv", "gov12345", "gps_operator", "paging", "utility"]


def run(args: list[str]) -> int:
    """Run one fsgen command in-process, returning its exit status instead of exiting."""
    print(f"\n$ fsgen {' '.join(args)}", flush=True)
    try:
        fsgen.main(args, prog_name="fsgen", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    failures: list[str] = []

    def step(args: list[str]) -> None:
        if run(args) != 0:
            failures.append("fsgen " + " ".join(args))

    print("hotline demo: compile the flows, then place scripted calls on the FreeSWITCH simulator")
    step(["validate", "flows/", "examples/"])
    step(["compile", "flows/", "-o", "build/freeswitch"])
    step(["compile", "examples/", "-o", "build/examples"])
    step(["replay", "flows/", STEPS_SHOWN])
    for flow in EXAMPLE_FLOWS:
        if (root / "examples" / "calls" / flow).is_dir():
            step(["replay", "-q", f"examples/{flow}.yaml", f"examples/calls/{flow}"])
    print()
    if failures:
        print("demo: these steps failed:\n  " + "\n  ".join(failures))
        return 1
    print("demo: compiled trees are in build/freeswitch (flows/) and build/examples (examples/);")
    print("      replay any call yourself:  .venv/bin/fsgen replay flows/ flows/calls/no_input_goodbye.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
