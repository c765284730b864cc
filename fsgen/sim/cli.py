"""``fsgen replay``: scripted calls on compiled flows, or one fs-reference case folder.

    replay FLOWS_OR_CONF... CALLS...      flows (files or directories, compiled in memory) or one
                                          compiled conf directory, then call scripts (files or
                                          directories of them); prints a transcript per call
    replay --trace json CASE_DIR          a reference case (conf/ + call.json): its trace

Exit status: 0 every call met its expectations (or the case replayed), 1 a call failed (the diff
is printed) or the simulator hit errors, 2 bad input (file:line messages, nothing replayed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import SimError
from .refcase import run_case

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@click.command("replay")
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--trace", "trace_format", type=click.Choice(["json"]), default=None,
              help="Print the trace (JSON lines, the fs-reference format) instead of transcripts.")
@click.option("--recordings", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Prompt recordings folder (default: the nearest recordings/ above each flow).")
@click.option("--text-prompts", type=click.Choice(["files", "default"]), default="files", show_default=True,
              help="'default': ignore WAVs rendered from text prompts (every text prompt lasts "
                   "--missing-prompt-seconds), for results that do not depend on `fsgen prompts`.")
@click.option("--esl-port", type=int, default=None,
              help="Scripts with 'esl_app: live': the port your esl_app listens on (127.0.0.1).")
@click.option("-q", "--quiet", is_flag=True, help="Transcripts of failed calls only.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Processes replaying scripts at once (default: one per core, from 24 scripts up). "
                   "The output is the same, in script order.")
@click.option("--sounds-dir", type=click.Path(file_okay=False), default=None,
              help="Reference case: folder behind $${ref_sounds} (default: CASE_DIR/../sounds).")
@click.option("--conf", "conf_dir", type=click.Path(file_okay=False), default=None,
              help="Reference case: configuration laid over the stock base (default: CASE_DIR/conf).")
@click.option("--missing-prompt-seconds", type=float, default=None,
              help="How long a prompt file that does not exist lasts (scripts: 2.0; a reference case: "
                   "it plays nothing, as on the rig).")
@click.option("--max-seconds", type=float, default=600.0, show_default=True,
              help="Reference case: virtual seconds after which calls still up are hung up.")
def replay(sources: tuple[Path, ...], trace_format: str | None, recordings: Path | None, text_prompts: str,
           esl_port: int | None, quiet: bool, jobs: int | None, sounds_dir: str | None, conf_dir: str | None,
           missing_prompt_seconds: float | None, max_seconds: float) -> None:
    """Replay call scripts on compiled flows (or a reference case folder) on the simulator."""
    if len(sources) == 1 and (sources[0] / "call.json").is_file():
        _replay_case(sources[0], sounds_dir, conf_dir, missing_prompt_seconds, max_seconds)
        return
    sys.exit(_replay_scripts(list(sources), trace_format, recordings, text_prompts, esl_port, quiet,
                             2.0 if missing_prompt_seconds is None else missing_prompt_seconds, jobs))


def _replay_case(case_dir: Path, sounds_dir: str | None, conf_dir: str | None,
                 missing_prompt_seconds: float | None, max_seconds: float) -> None:
    result = run_case(case_dir, sounds_dir=sounds_dir, max_seconds=max_seconds, conf_dir=conf_dir,
                      missing_prompt_seconds=missing_prompt_seconds)
    if isinstance(result, SimError):
        click.echo(f"error: {result}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    result.trace.dump(sys.stdout)
    problems = [r for r in result.trace.errors()] + [{"message": e} for e in result.errors]
    for p in problems:
        click.echo("simulator error: {}".format(p.get("message")), err=True)
    if problems:
        sys.exit(EXIT_FAILED)


def _replay_scripts(sources: list[Path], trace_format: str | None, recordings: Path | None, text_prompts: str,
                    esl_port: int | None, quiet: bool, prompt_seconds: float, jobs: int | None = None) -> int:
    from ..errors import Loc, Problem
    from .batch import WorkerDied, replay_scripts
    from .replay import Rig, check_script, split_sources
    from .script import CallScript, load_scripts

    flow_sources, script_files, problems = split_sources(sources)
    if not script_files and not problems:
        problems.append(Problem.at(Loc(" ".join(map(str, sources))), "no call scripts given",
                                   hint="replay FLOWS_OR_CONF CALLS...: a call script has 'call:' at the top"))
    if not flow_sources and not problems:
        problems.append(Problem.at(Loc(str(script_files[0])), "no flows given to call",
                                   hint="name the flows (files or directories) or a compiled conf directory first"))
    scripts: list[CallScript] = []
    for path in script_files:
        found, file_problems = load_scripts(path, _shown(path))
        scripts += found
        problems += file_problems
    if problems:
        return _bad(problems)
    rig = Rig.from_sources(flow_sources, recordings=recordings, text_prompts=text_prompts,
                           prompt_seconds=prompt_seconds)
    if isinstance(rig, list):
        return _bad(rig)
    with rig:
        for script in scripts:
            problems += check_script(rig, script)
        if problems:
            return _bad(problems)
        failed = 0
        try:
            for result in replay_scripts(rig, scripts, jobs=jobs, esl_port=esl_port, trace=trace_format == "json"):
                if result.trace_jsonl is not None:
                    sys.stdout.write(result.trace_jsonl)
                elif not quiet or not result.ok:
                    click.echo(result.transcript)
                if not result.ok:
                    failed += 1
                    if trace_format == "json":
                        click.echo(f"FAIL {result.title} ({result.file})\n{result.report}", err=True)
        except WorkerDied as exc:
            click.echo(f"error: {exc}", err=True)
            return EXIT_FAILED
    n = len(scripts)
    summary = f"{n} call{'s' if n != 1 else ''}: {n - failed} passed" + (f", {failed} failed" if failed else "")
    click.echo(summary, err=trace_format == "json")
    return EXIT_FAILED if failed else 0


def _shown(path: Path) -> str:
    import os

    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover
        return str(path)


def _bad(problems: list) -> int:
    for p in problems:
        click.echo(p.format(), err=True)
    click.echo(f"{len(problems)} error{'s' if len(problems) != 1 else ''}; nothing replayed", err=True)
    return EXIT_BAD_INPUT


@click.group()
def main() -> None:
    """Simulator commands (until the lead wires ``replay`` into ``fsgen``)."""


main.add_command(replay)

if __name__ == "__main__":
    main()
