"""Writing the output tree atomically, with a manifest.

Everything is rendered in memory first; files go to a staging directory next to the
target, which is then renamed into place. A failure at any point leaves the previous
tree untouched, and a directory that fsgen did not create (no manifest) is never
replaced, so pointing -o at a live /etc/freeswitch cannot wipe it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

MANIFEST = "hotline-manifest.json"


class OutputError(Exception):
    """The output directory cannot be written (a plain message for the CLI)."""


def manifest(digests: dict[str, str], flows: dict[str, str], recording_dirs: list[str]) -> bytes:
    """`digests`: relative path -> sha256 of every other file in the tree."""
    data = {
        "generator": "fsgen",
        "files": dict(sorted(digests.items())),
        "flows": dict(sorted(flows.items())),
        "recording_dirs": sorted(recording_dirs),
    }
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def prepare(out: Path) -> Path:
    """Check that `out` may be replaced and create an empty staging directory next to it."""
    out = out.absolute()
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise OutputError(f"{out} is not empty and was not written by fsgen (no {MANIFEST}); "
                              "choose an empty directory or one fsgen made")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot create {parent}: {exc.strerror or exc}") from None


def put(staging: Path, files: dict[str, bytes], made: set[str] | None = None) -> None:
    """Write files (relative posix paths -> content) into a staging directory; `made`: the
    directories already created (kept across calls by the caller)."""
    if made is None:
        made = set()
    base = os.fspath(staging)
    for rel, content in sorted(files.items()):
        target = f"{base}/{rel}"
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        # one write per file, no Python file object (thousands of files per compile)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def commit(staging: Path, out: Path) -> None:
    """Flush the staged tree and rename it into place of `out` (the old tree goes only then)."""
    out = out.absolute()
    parent = out.parent
    try:
        for d, _, _ in os.walk(staging):
            os.chmod(d, 0o755)
        os.sync()  # one flush for every staged file (an fsync per file costs seconds on big trees)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            old.rmdir()
            os.rename(out, old)
        try:
            os.rename(staging, out)
        except OSError:
            if old is not None:
                os.rename(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        discard(staging)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def write_tree(out: Path, files: dict[str, bytes]) -> None:
    """Replace `out` with exactly `files` (relative posix paths -> content)."""
    staging = prepare(out)
    try:
        put(staging, files)
    except OSError as exc:
        discard(staging)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    commit(staging, out)
