"""`fsgen prompts`: render text prompts to 8 kHz mono 16-bit WAV with espeak-ng.

Every external program runs from an argument list (never a shell) and the prompt text
goes in on stdin, so nothing in a flow can become a command line option or a command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

from .compiler import Project, display_path

VOICES = {"zh": "cmn", "en": "en"}
RATE = 8000


class PromptToolMissing(Exception):
    pass


def voice_for(lang: str) -> str:
    return VOICES.get(lang, lang)


def _espeak(exe: str, voice: str, text: str, out: Path) -> None:
    proc = subprocess.run([exe, "-v", voice, "-b", "1", "-w", str(out), "--stdin"], input=text.encode("utf-8"),
                          capture_output=True, timeout=120, check=False)
    if proc.returncode != 0 or not out.exists():
        raise PromptToolMissing(f"espeak-ng failed for voice {voice}: {proc.stderr.decode(errors='replace').strip()}")


def _resample(src: Path, dst: Path) -> None:
    sox = shutil.which("sox")
    if sox:
        proc = subprocess.run([sox, str(src), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                               str(dst)], capture_output=True, timeout=120, check=False)
        if proc.returncode == 0:
            return
    _resample_python(src, dst)


def _resample_python(src: Path, dst: Path) -> None:
    """Fallback without sox: linear-interpolation resampling of espeak's 16-bit mono output."""
    with wave.open(str(src), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise PromptToolMissing("unexpected espeak-ng output (not 16-bit); install sox")
    import array

    samples = array.array("h", frames)
    if channels > 1:
        samples = array.array("h", samples[::channels])
    n_out = int(len(samples) * RATE / rate)
    out = array.array("h")
    for i in range(n_out):
        pos = i * rate / RATE
        j = int(pos)
        frac = pos - j
        a = samples[j] if j < len(samples) else 0
        b = samples[j + 1] if j + 1 < len(samples) else a
        out.append(int(a + (b - a) * frac))
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(out.tobytes())


def render_prompts(project: Project, *, force: bool = False, echo: Callable[[str], None] = print) -> int:
    """Render every missing text prompt of the project's flows; returns how many were written."""
    exe = shutil.which("espeak-ng")
    jobs = []
    for flow in project.flows:
        recordings = project.recordings[flow.name]
        for prompt in flow.prompts.values():
            for part in prompt.parts:
                target = recordings / part.path
                if part.rendered and part.text and (force or not target.exists()):
                    jobs.append((part.lang or flow.languages[0], part.text, target))
    if not jobs:
        return 0
    if exe is None:
        raise PromptToolMissing(
            f"espeak-ng is not installed, so {len(jobs)} text prompt(s) cannot be rendered; "
            "install it (apt-get install espeak-ng sox) or record the WAVs yourself")
    with tempfile.TemporaryDirectory(prefix="fsgen-prompts-") as tmp:
        for lang, text, target in jobs:
            raw = Path(tmp) / "espeak.wav"
            _espeak(exe, voice_for(lang), text, raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            _resample(raw, partial)
            os.replace(partial, target)
            echo(f"rendered {display_path(target)}")
    return len(jobs)
