"""Every fs-reference case, replayed by the simulator, must match real FreeSWITCH's trace.

Runs the documented command (``python -m fsgen.sim.cli replay --trace json CASE``) and the
reference ``compare.py``; nothing here knows what any particular case contains.  Cases that
need modules another helper is still adding are strict xfails, so they turn into failures
(to be un-marked) the moment they pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fsgen.sim import apps

REF = Path("/work/shared/fs-reference")
CASES = REF / "cases"
# applications of modules another helper is adding (mod_callcenter, mod_conference, mod_voicemail)
PENDING_APPS = {"callcenter", "conference", "conference_set_auto_outcall", "voicemail"}
PENDING_REASON = "needs mod_callcenter/conference/voicemail in the simulator (pending)"
_APP_RE = re.compile(r'application="([^"]+)"')


def _case_dirs() -> list[Path]:
    if not CASES.is_dir():
        return []
    return sorted(p for p in CASES.iterdir() if (p / "call.json").is_file())


def _needs_pending_module(case: Path) -> bool:
    """The case runs an application of a pending module that the simulator lacks so far."""
    used: set[str] = set()
    for xml in (case / "conf").rglob("*.xml"):
        used |= set(_APP_RE.findall(xml.read_text(encoding="utf-8", errors="replace")))
    missing = {app for app in used & PENDING_APPS if apps.lookup(app) is None}
    return bool(missing)


def _params() -> list:
    out = []
    for case in _case_dirs():
        marks = [pytest.mark.xfail(reason=PENDING_REASON, strict=True)] if _needs_pending_module(case) else []
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


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
