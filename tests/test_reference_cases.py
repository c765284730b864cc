"""Every fs-reference case, replayed by the simulator, must match real FreeSWITCH's trace.

Runs the documented command (``fsgen replay --trace json CASE``) and the reference
``compare.py``; nothing here knows what any particular case contains.

The cases live beside the repository (``../shared/fs-reference``, as on CI's clean clone);
``HOTLINE_FS_REFERENCE`` points elsewhere. Missing cases fail the suite rather than skip it: a
simulator that is never compared with real FreeSWITCH must not look green.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REF = Path(os.environ.get("HOTLINE_FS_REFERENCE") or REPO.parent / "shared" / "fs-reference")
CASES = REF / "cases"


def _case_dirs() -> list[Path]:
    if not CASES.is_dir():
        return []
    return sorted(p for p in CASES.iterdir() if (p / "call.json").is_file())


def _params() -> list:
    return [pytest.param(case, id=case.name) for case in _case_dirs()]


def test_reference_cases_are_present() -> None:
    assert _case_dirs(), (f"no FreeSWITCH reference cases in {CASES}: put shared/fs-reference beside the "
                          "repository or set HOTLINE_FS_REFERENCE")


@pytest.mark.parametrize("case", _params())
def test_reference_case_matches_freeswitch(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    with out.open("w") as f:
        run = subprocess.run([sys.executable, "-m", "fsgen", "replay", "--trace", "json", str(case)],
                             stdout=f, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert run.returncode == 0, "replay failed (exit %d):\n%s" % (run.returncode, run.stderr)
    cmp = subprocess.run([sys.executable, str(REF / "compare.py"), str(case / "expected.jsonl"), str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, check=False)
    assert cmp.returncode == 0, cmp.stdout
