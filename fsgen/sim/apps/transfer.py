"""transfer and execute_extension (mod_dptools)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..channel import Channel
from ..cstr import atoi
from ..session import run_extension
from . import application
from .args import separate


def session_transfer(chan: Channel, dest: str | None, dialplan: str | None = None,
                     context: str | None = None) -> bool:
    """switch_ivr_session_transfer: re-route ``chan`` to ``dest`` after the current application.

    ``max_forwards`` (70 when unset) goes down by one with every transfer; a transfer that would
    take it to 0 hangs the channel up EXCHANGE_ROUTING_ERROR instead (loop protection).  A missing
    dialplan is ``force_transfer_dialplan`` or the current one (``inline`` -> XML), a missing
    context ``force_transfer_context`` or the current one; a missing extension is ``service``.
    """
    if chan.hungup:
        return False
    forward = chan.var("max_forwards")
    forwardval = atoi(forward) - 1 if forward else 70
    if forwardval <= 0:
        chan.hangup("EXCHANGE_ROUTING_ERROR")
        return False
    chan.set_var("max_forwards", str(forwardval))
    if not dialplan:
        dialplan = chan.var("force_transfer_dialplan") or chan.profile.dialplan
        if dialplan and dialplan.lower() == "inline" and not chan.var("force_transfer_dialplan"):
            dialplan = None
    if not context:
        context = chan.var("force_transfer_context") or chan.profile.context
    dest = dest or "service"
    chan.emit("dest_change", **{"from": chan.profile.destination_number, "to": dest, "context": context or "default"})
    chan.transfer(dest, dialplan or "XML", context or "default")
    return True


@application("transfer")
def transfer(chan: Channel, data: str) -> None:
    """``transfer [-bleg|-both] <dest> [<dialplan> [<context>]]`` (mod_dptools transfer_function).

    ``-bleg`` transfers only the bridged leg (nothing when there is none), ``-both`` that leg and
    this one; empty data does nothing.
    """
    argv = separate(data, " ", 4)
    if not argv:
        return
    flag = argv[0].lower()
    if flag in ("-bleg", "-both"):
        rest = argv[1:]
        peer = chan.bridged
        if peer is not None:
            session_transfer(peer, *_dest(rest))
        if flag == "-both":
            session_transfer(chan, *_dest(rest))
        return
    session_transfer(chan, *_dest(argv))


def _dest(argv: list[str]) -> tuple[str | None, str | None, str | None]:
    return (argv[0] if argv else None, argv[1] if len(argv) > 1 else None, argv[2] if len(argv) > 2 else None)


@application("execute_extension")
def execute_extension(chan: Channel, data: str) -> Generator[Any, Any, None]:
    """``execute_extension <ext> [<dialplan> [<context>]]``: run that extension's actions here."""
    argv = separate(data)
    if not argv:
        chan.sim.trace.error(chan, "bad_argument", "execute_extension needs an extension")
        return
    context = argv[2] if len(argv) > 2 else chan.profile.context
    yield from run_extension(chan, argv[0], context)
