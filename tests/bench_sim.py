"""Benchmark: scripted calls replayed per second by the simulator (target: >= 500 calls/s).

    .venv/bin/python -m tests.bench_sim [--calls N]

Each call answers, evaluates a ${cond()}, runs play_and_get_digits with one invalid key and
one valid key (2 s prompt, 1.2 s invalid prompt), plays a 1 s prompt and hangs up: ~30 trace
records and ~8 s of virtual call time per call, calls overlapping 10 ms apart.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from fsgen.sim.refcase import place_call
from fsgen.sim.testing import make_conf, simulator, write_wav

PLAN = """<context name="bench"><extension name="pagd"><condition field="destination_number" expression="^7000$">
  <action application="answer"/>
  <action application="set" data="tier=${cond(${caller_id_number} &gt; 5000 ? vip : std)}"/>
  <action application="play_and_get_digits"
          data="1 1 3 4000 # $${ref_sounds}/menu.wav $${ref_sounds}/invalid.wav choice ^[12]$ 2000"/>
  <action application="playback" data="$${ref_sounds}/beep.wav"/>
  <action application="hangup"/>
</condition></extension></context>"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, secs in (("menu", 2.0), ("invalid", 1.2), ("beep", 1.0)):
            write_wav(root / "sounds" / f"{name}.wav", secs)
        sim = simulator(make_conf(root / "conf", PLAN), sounds=root / "sounds")
        for i in range(args.calls):
            spec = {"dest": "7000", "context": "bench", "caller": str(1000 + i % 9000), "caller_name": "Bench",
                    "dtmf": [{"at": 3.0, "digit": "9"}, {"at": 7.0, "digit": "1"}]}
            sim.engine.call_at(i * 0.01, place_call, sim, spec, 30, None)
        started = time.perf_counter()
        sim.run()
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        hangups = sum(1 for r in sim.trace.records if r["event"] == "hangup" and r["leg"] != "a")
        errors = sim.trace.errors()
    rate = args.calls / elapsed
    print(f"sim: {args.calls} calls, {len(sim.trace.records)} trace records, {sim.engine.now:.1f} s virtual "
          f"in {elapsed:.2f} s real = {rate:.0f} calls/s (target >= 500); peak RSS "
          f"{peak / 1e6:.1f} MB; {hangups} dialplan legs hung up; {len(errors)} errors")
    return 0 if rate >= 500 and hangups == args.calls and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
