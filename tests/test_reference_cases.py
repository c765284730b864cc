"""Every fs-reference case, replayed by the simulator, must match real FreeSWITCH's trace.

Runs the documented command (``python -m fsgen.sim.cli replay --trace json CASE``) and the
reference ``compare.py``; nothing here knows what any particular case contains.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REF = Path("/work/shared/fs-reference")
CASES = REF / "cases"


def _case_dirs() -> list[Path]:
    if not CASES.is_dir():
        return []
    return sorted(p for p in CASES.iterdir() if (p / "call.json").is_file())


def _params() -> list:
    return [pytest.param(case, id=case.name) for case in _case_dirs()]


@pytest.mark.skipif(not CASES.is_dir(), reason="fs-reference cases not mounted")
@pytest.mark.parametrize("case", _params())
def test_reference_case_matches_freeswitch(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    with out.open("w") as f:
        run = subprocess.run([sys.executable, "-m", "fsgen.sim.cli", "replay", "--trace", "json", str(case)],
                             stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert run.returncode == 0, "replay failed (exit %d):\n%s" % (run.returncode, run.stderr)
    cmp = subprocess.run([sys.executable, str(REF / "compare.py"), str(case / "expected.jsonl"), str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert cmp.returncode == 0, cmp.stdout
