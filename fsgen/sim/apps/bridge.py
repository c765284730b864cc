"""The ``bridge`` application (mod_dptools audio_bridge_function)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..bridge import bridge_channels, originate
from ..channel import Channel
from . import application


def _timeout(chan: Channel) -> float | None:
    for name in ("call_timeout", "originate_timeout"):
        v = chan.var(name)
        if v:
            try:
                return float(v)
            except ValueError:
                continue
    return None


def _continue_on_fail(chan: Channel, cause: str) -> bool:
    v = chan.var("continue_on_fail")
    if v is None:
        return False
    if v.strip().lower() in ("true", "yes", "on", "1"):
        return True
    return cause in [c.strip().upper() for c in v.split(",")]


@application("bridge")
def bridge(chan: Channel, data: str) -> Generator[Any, Any, None]:
    if not data.strip():
        chan.sim.trace.error(chan, "bad_argument", "bridge needs a dial string")
        return
    peer, cause = yield from originate(chan.sim, data, caller=chan, timeout=_timeout(chan))
    if peer is None:
        chan.set_var("originate_disposition", cause)
        chan.set_var("DIALSTATUS", cause)
        chan.set_var("last_bridge_hangup_cause", cause)
        if not _continue_on_fail(chan, cause):
            chan.hangup(cause)
        return
    # switch_ivr_originate: on success originate_disposition/DIALSTATUS = cause2str(SUCCESS)
    chan.set_var("originate_disposition", "SUCCESS")
    chan.set_var("DIALSTATUS", "SUCCESS")
    chan.answer()
    how = yield from bridge_channels(chan, peer)
    cause = peer.hangup_cause or "NORMAL_CLEARING"
    chan.set_var("last_bridge_hangup_cause", cause)
    if how == "peer" and chan.true("hangup_after_bridge") and not chan.hungup:
        chan.hangup(cause)
