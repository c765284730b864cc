"""``fsgen replay``: run a reference case (or any case-shaped folder) through the simulator."""

from __future__ import annotations

import sys

import click

from .errors import SimError
from .refcase import run_case


@click.command("replay")
@click.argument("case_dir", type=click.Path(file_okay=False))
@click.option("--trace", "trace_format", type=click.Choice(["json"]), default="json", show_default=True,
              help="Trace format printed on stdout (JSON lines, the fs-reference format).")
@click.option("--sounds-dir", type=click.Path(file_okay=False), default=None,
              help="Folder behind $${ref_sounds} (default: CASE_DIR/../sounds).")
@click.option("--conf", "conf_dir", type=click.Path(file_okay=False), default=None,
              help="Configuration laid over the stock base (default: CASE_DIR/conf), e.g. fsgen compile's output.")
@click.option("--missing-prompt-seconds", type=float, default=None,
              help="Pretend prompts that do not exist last this long (default: play nothing, as the rig did).")
@click.option("--max-seconds", type=float, default=600.0, show_default=True,
              help="Virtual seconds after which calls still up are hung up.")
def replay(case_dir: str, trace_format: str, sounds_dir: str | None, conf_dir: str | None,
           missing_prompt_seconds: float | None, max_seconds: float) -> None:
    """Replay CASE_DIR (conf/ + call.json) and print the call trace.

    Exit status: 0 = replayed, 1 = the replay hit simulator errors (listed on stderr; the
    trace is still printed), 2 = the case could not be loaded.
    """
    result = run_case(case_dir, sounds_dir=sounds_dir, max_seconds=max_seconds, conf_dir=conf_dir,
                      missing_prompt_seconds=missing_prompt_seconds)
    if isinstance(result, SimError):
        click.echo(f"error: {result}", err=True)
        sys.exit(2)
    result.trace.dump(sys.stdout)
    problems = [r for r in result.trace.errors()] + [{"message": e} for e in result.errors]
    for p in problems:
        click.echo("simulator error: {}".format(p.get("message")), err=True)
    if problems:
        sys.exit(1)


@click.group()
def main() -> None:
    """Simulator commands (until the lead wires ``replay`` into ``fsgen``)."""


main.add_command(replay)

if __name__ == "__main__":
    main()
