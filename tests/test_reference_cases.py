"""Every fs-reference case, replayed by the simulator, must match real FreeSWITCH's trace.

Runs the documented command (``fsgen replay --trace json CASE``) and the reference
``compare.py``; nothing here knows what any particular case contains.

The cases live beside the repository (``../shared/fs-reference``, as on CI's clean clone), or
beside the local checkout a clone was made from; ``HOTLINE_FS_REFERENCE`` points elsewhere. Missing cases fail the suite rather than skip it: a
simulator that is never compared with real FreeSWITCH must not look green.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _reference() -> Path:
    """HOTLINE_FS_REFERENCE, else ``shared/fs-reference`` beside this checkout, else beside the
    checkout it was cloned from when that is a local folder (``git clone . /tmp/x`` to try a
    fresh clone must not need the variable)."""
    given = os.environ.get("HOTLINE_FS_REFERENCE")
    if given:
        return Path(given)
    beside = REPO.parent / "shared" / "fs-reference"
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    source = Path(origin.removeprefix("file://")) if origin and "://" not in origin.removeprefix("file://") else None
    if source is not None and source.is_absolute() and source.is_dir():
        return source.resolve().parent / "shared" / "fs-reference"
    return beside


REF = _reference()
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
