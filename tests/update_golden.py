"""Regenerate tests/golden/examples from examples/*.yaml.

    .venv/bin/python -m tests.update_golden

Review the diff (git diff tests/golden) before committing: golden files are the compiler's
promise about what reaches the switch.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "examples"


def compile_examples() -> dict[str, bytes]:
    """The compiled tree of examples/ exactly as the golden test sees it (no PIN variables)."""
    from fsgen.compiler import load_project, render
    from fsgen.errors import Severity

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        project = load_project([Path("examples")])
        errors = [p for p in project.problems if p.severity is Severity.ERROR]
        if errors:
            raise SystemExit("examples/ has errors:\n" + "\n".join(p.format() for p in errors))
        files, _ = render(project, env={})
        return files
    finally:
        os.chdir(cwd)


def main() -> int:
    files = compile_examples()
    if GOLDEN.exists():
        shutil.rmtree(GOLDEN)
    for rel, content in files.items():
        path = GOLDEN / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    print(f"wrote {len(files)} golden files to {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
