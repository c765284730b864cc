"""transfer and execute_extension (mod_dptools)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..channel import Channel
from ..session import run_extension
from . import application
from .args import separate


@application("transfer")
def transfer(chan: Channel, data: str) -> None:
    """``transfer <dest> [<dialplan> [<context>]]`` (``-bleg``/``-both`` move the bridged leg too)."""
    argv = separate(data)
    target = chan
    if argv and argv[0] in ("-bleg", "-both"):
        flag = argv.pop(0)
        peer = chan.bridged
        if flag == "-bleg" and peer is not None:
            target = peer
        elif flag == "-both" and peer is not None:
            _do(peer, argv)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "transfer needs a destination")
        return
    _do(target, argv)


def _do(chan: Channel, argv: list[str]) -> None:
    dest = argv[0]
    dialplan = argv[1] if len(argv) > 1 else "XML"
    context = argv[2] if len(argv) > 2 else chan.profile.context
    chan.emit("dest_change", **{"from": chan.profile.destination_number, "to": dest, "context": context})
    chan.transfer(dest, dialplan, context)


@application("execute_extension")
def execute_extension(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``execute_extension <ext> [<dialplan> [<context>]]``: run that extension's actions here."""
    argv = separate(data)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "execute_extension needs an extension")
        return
    context = argv[2] if len(argv) > 2 else chan.profile.context
    yield from run_extension(chan, argv[0], context)
