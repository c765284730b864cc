"""The ``bridge`` application (mod_dptools audio_bridge_function).

switch_ivr_originate calls the dial string (``fsgen.sim.bridge.originate``); a failure goes to
switch_channel_handle_cause (``continue_on_fail``, ``failure_causes``, ``transfer_on_fail``);
a success is bridged (switch_ivr_multi_threaded_bridge) and what follows the bridge is decided
there: ``hangup_after_bridge``, ``park_after_bridge``, ``transfer_after_bridge``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..bridge import bridge_channels, cause_code, originate
from ..channel import Channel
from ..cstr import is_true
from . import application
from .args import separate
from .basic import park_session
from .transfer import session_transfer


def _in_list(value: str, cause: str) -> bool:
    """A comma-separated list (switch_separate_string) names ``cause`` or its number, any case."""
    num = str(cause_code(cause))
    return any(item.strip().upper() == cause or item.strip() == num for item in separate(value, ","))


def handle_cause(chan: Channel, cause: str) -> None:
    """switch_channel_handle_cause: hang up ``chan`` with ``cause`` unless told to go on.

    ``continue_on_fail`` true (switch_true: also any non-zero number) or a list naming the cause
    (name or number) lets the dialplan go on; ``failure_causes`` is the opposite list (a cause it
    does not name goes on).  With neither set, NO_ANSWER, NO_USER_RESPONSE and ORIGINATOR_CANCEL
    always go on.  ATTENDED_TRANSFER never does.  ``transfer_on_fail`` (``true`` or a list, then
    ``[dest [dialplan [context]]]``; dest ``auto_cause`` or none = the cause name) transfers.
    """
    if chan.hungup:
        return
    tof_parts = (chan.var("transfer_on_fail") or "").split(" ")
    transfer_on_fail = tof_parts[0] if tof_parts[0] else None
    if cause != "ATTENDED_TRANSFER":
        cof = chan.var("continue_on_fail")
        failure_causes = chan.var("failure_causes")
        if cof is not None or failure_causes is not None:
            if failure_causes is not None and not _in_list(failure_causes, cause):
                return
            if cof is not None and (is_true(cof) or _in_list(cof, cause)):
                return
        elif cause in ("NO_ANSWER", "NO_USER_RESPONSE", "ORIGINATOR_CANCEL"):
            return
        if transfer_on_fail is not None and not is_true(transfer_on_fail) and _in_list(transfer_on_fail, cause):
            dest = tof_parts[1] if len(tof_parts) > 1 and tof_parts[1] else "auto_cause"
            if dest.lower() == "auto_cause":
                dest = cause
            session_transfer(chan, dest, tof_parts[2] if len(tof_parts) > 2 else None,
                             tof_parts[3] if len(tof_parts) > 3 else None)
    if chan.reroute is None:
        chan.hangup(cause)


def _transfer_after_bridge(chan: Channel, where: str) -> None:
    """switch_ivr_bridge.c transfer_after_bridge: ``exten[:dialplan[:context]]``."""
    chan.set_var("transfer_after_bridge", None)
    argv = separate(where, ":")
    if argv and argv[0]:
        session_transfer(chan, argv[0], argv[1] if len(argv) > 1 else None, argv[2] if len(argv) > 2 else None)


@application("bridge")
def bridge(chan: Channel, data: str) -> Generator[Any, Any, None]:
    if not data:   # audio_bridge_function: zstr(data) -> return
        return
    peer, cause = yield from originate(chan.sim, data, caller=chan)
    if peer is None:
        handle_cause(chan, cause)
        return
    # switch_ivr_originate: an answered peer answers the caller, early media pre-answers it
    if peer.answered:
        chan.answer()
    else:
        chan.pre_answer()
    how = yield from bridge_channels(chan, peer)
    if peer.hungup:
        chan.set_var("bridge_hangup_cause", peer.hangup_cause or "NORMAL_CLEARING")
    if how != "peer" or chan.hungup or chan.reroute is not None:
        return
    # switch_ivr_multi_threaded_bridge, after the bridge
    cause = peer.hangup_cause or "NORMAL_CLEARING"
    hup = chan.var("hangup_after_bridge")
    answered, early = peer.answered, peer.pre_answered
    if not answered:
        handle_cause(chan, cause)
    if hup is not None and hup.lower() == "explicit":
        chan.hangup(cause)
    if chan.hungup or chan.reroute is not None or not (answered or early):
        return
    if (answered and chan.true("park_after_bridge")) or chan.true("park_after_early_bridge"):
        yield from park_session(chan)
        return
    where = (chan.var("transfer_after_bridge") if answered else None) or chan.var("transfer_after_early_bridge")
    if where:
        _transfer_after_bridge(chan, where)
    elif answered and is_true(hup):
        chan.hangup(cause)
