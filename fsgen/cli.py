"""`fsgen`: validate, compile, draw and voice hotline flows.

Exit status: 0 done (warnings may have been printed), 2 the flows have errors (each
printed as `file:line:col: error: ...`), 1 something outside the flows is missing or
unwritable (graphviz, espeak-ng, the output directory). Never a traceback for bad input.

Other command groups plug in with one line: `main.add_command(sim_cli, "sim")`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

import click

from .compiler import Project, compile_to, load_project
from .errors import Problem, Severity
from .write import OutputError

EXIT_FLOW_ERRORS = 2
EXIT_ENVIRONMENT = 1


def report(problems: Iterable[Problem]) -> None:
    problems = list(problems)
    for p in problems:
        click.echo(p.format(), err=True)
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = len(problems) - errors
    if problems:
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if warnings:
            parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        click.echo(", ".join(parts), err=True)


def fail(message: str, status: int = EXIT_ENVIRONMENT) -> NoReturn:
    click.echo(f"fsgen: {message}", err=True)
    sys.exit(status)


def _load(paths: tuple[Path, ...], recordings: Path | None) -> Project:
    project = load_project(list(paths), recordings)
    report(project.problems)
    if not project.ok:
        sys.exit(EXIT_FLOW_ERRORS)
    return project


PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
RECORDINGS = click.option("--recordings", type=click.Path(path_type=Path, file_okay=False),
                          help="prompt recordings folder (default: the nearest recordings/ above each flow)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Validate and compile hotline call flows (YAML) to FreeSWITCH 1.10 XML."""


@main.command()
@PATHS
@RECORDINGS
def validate(paths: tuple[Path, ...], recordings: Path | None) -> None:
    """Check flow files (or directories of them); print every problem at once."""
    project = _load(paths, recordings)
    click.echo(f"{len(project.flows)} flow{'s' if len(project.flows) != 1 else ''} OK")


@main.command("compile")
@PATHS
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="output tree, laid out like /etc/freeswitch")
@RECORDINGS
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0,
              help="worker processes (0: one per core for big projects)")
def compile_cmd(paths: tuple[Path, ...], out: Path, recordings: Path | None, jobs: int) -> None:
    """Compile flows to a FreeSWITCH conf tree; nothing is written when there is an error."""
    try:
        result = compile_to(list(paths), out, recordings, jobs=jobs or None)
    except OutputError as exc:
        fail(str(exc))
    report(result.problems)
    if not result.ok:
        sys.exit(EXIT_FLOW_ERRORS)
    click.echo(f"wrote {len(result.digests)} files for {len(result.flows)} flows to {out}")


@main.command()
@click.argument("flow")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, dir_okay=False),
              help="FILE.mmd (Mermaid), FILE.dot, FILE.svg or FILE.png (Graphviz); default: Mermaid to stdout")
@click.option("--flows", "flows_dir", type=click.Path(path_type=Path), default=Path("flows"), show_default=True,
              help="where to look when FLOW is a flow name rather than a file")
def graph(flow: str, out: Path | None, flows_dir: Path) -> None:
    """Draw a flow (a file, or a flow name found in --flows)."""
    from .graph import GraphvizMissing, mermaid, render_graphviz, to_dot

    path = Path(flow)
    project = _load((path,) if path.is_file() else (flows_dir,), None)
    name = project.flows[0].name if path.is_file() else flow
    try:
        target = project.flow(name)
    except KeyError:
        fail(f"no flow named '{flow}' in {flows_dir}", EXIT_FLOW_ERRORS)
    suffix = out.suffix.lower() if out else ".mmd"
    if suffix in (".mmd", ".md", ".mermaid"):
        text = mermaid(target)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
        return
    if suffix == ".dot":
        assert out is not None
        out.write_text(to_dot(target), encoding="utf-8")
        return
    if suffix not in (".svg", ".png"):
        fail(f"cannot draw {out}: use .mmd, .dot, .svg or .png")
    assert out is not None
    try:
        out.write_bytes(render_graphviz(target, suffix[1:]))
    except GraphvizMissing as exc:
        fail(str(exc))


@main.command()
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, dir_okay=False),
              help="write here instead of stdout")
def schema(out: Path | None) -> None:
    """JSON Schema of the flow language (for VS Code's YAML extension)."""
    from .jsonschema import flow_schema

    text = json.dumps(flow_schema(), indent=2, ensure_ascii=False) + "\n"
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@PATHS
@RECORDINGS
@click.option("--force", is_flag=True, help="render again even when the WAV exists")
def prompts(paths: tuple[Path, ...], recordings: Path | None, force: bool) -> None:
    """Render text prompts to 8 kHz mono WAV with espeak-ng (zh: cmn voice, en: en)."""
    from .prompts import PromptToolMissing, render_prompts

    project = load_project(list(paths), recordings)
    errors = [p for p in project.problems if p.is_error]
    report(errors)
    if errors:
        sys.exit(EXIT_FLOW_ERRORS)
    try:
        done = render_prompts(project, force=force, echo=lambda msg: click.echo(msg))
    except PromptToolMissing as exc:
        fail(str(exc))
    click.echo(f"{done} prompt file{'s' if done != 1 else ''} rendered")


@main.group()
def sim() -> None:
    """The FreeSWITCH simulator as a long-lived switch (inbound Event Socket)."""


def _register_tools() -> None:
    """Commands that live beside the compiler: call replay, the simulated switch, deploy."""
    from .deploy import deploy
    from .sim.cli import replay
    from .sim.serve import serve

    main.add_command(replay)
    main.add_command(deploy)
    sim.add_command(serve)


_register_tools()
