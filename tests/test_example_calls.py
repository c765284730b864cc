"""Every call script shipped with the examples and the demo flow replays and meets its expectations.

The scripts live in ``examples/calls/<flow>/`` and ``flows/calls/``; the flows of ``examples/`` and
``flows/`` are compiled once (in memory) for all of them.  Text prompts last 2.0 s each whether or
not ``fsgen prompts`` rendered them, so the result does not depend on espeak-ng.

A call that reaches a simulator module another helper is still adding (``replay.PENDING``: an
application or API command the simulator reports as unknown) is marked ``xfail(strict=True)``
at run time: it flips back to an ordinary test -- passing or failing on its own expectations --
the moment the module lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fsgen.sim.replay import Rig, check_script, replay_script
from fsgen.sim.script import CallScript, load_scripts
from fsgen.sim.testing import replay_rig

ROOT = Path(__file__).resolve().parent.parent
SCRIPT_DIRS = [ROOT / "examples" / "calls", ROOT / "flows" / "calls"]


def _script_files() -> list[Path]:
    files: list[Path] = []
    for d in SCRIPT_DIRS:
        if d.is_dir():
            files += sorted(p for p in d.rglob("*.yaml") if p.is_file())
    return files


def _params() -> list:
    out = []
    for path in _script_files():
        scripts, problems = load_scripts(path, str(path.relative_to(ROOT)))
        rel = str(path.relative_to(ROOT))
        if problems:
            out.append(pytest.param(path, -1, id=rel))
            continue
        for i, _ in enumerate(scripts):
            out.append(pytest.param(path, i, id=rel if len(scripts) == 1 else f"{rel}#{i + 1}"))
    return out


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    built = replay_rig([ROOT / "examples", ROOT / "flows"])
    try:
        yield built
    finally:
        built.close()


def test_every_example_flow_ships_call_scripts() -> None:
    flows = sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
    have = {p.name for p in (ROOT / "examples" / "calls").iterdir() if p.is_dir()}
    assert set(flows) <= have, f"flows without call scripts: {sorted(set(flows) - have)}"
    assert list((ROOT / "flows" / "calls").glob("*.yaml")), "the demo flow has no call scripts"


@pytest.mark.parametrize(("path", "index"), _params())
def test_call_script(rig: Rig, path: Path, index: int, request: pytest.FixtureRequest) -> None:
    scripts, problems = load_scripts(path, str(path.relative_to(ROOT)))
    assert not problems, "\n".join(p.format() for p in problems)
    script: CallScript = scripts[index]
    problems = check_script(rig, script)
    assert not problems, "\n".join(p.format() for p in problems)
    result = replay_script(rig, script)
    if result.pending:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="needs {} in the simulator (pending)".format(", ".join(sorted(result.pending)))))
    assert result.ok, "\n" + result.transcript
