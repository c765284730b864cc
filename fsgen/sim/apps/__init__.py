"""Dialplan applications of the simulator, and how to add one.

How to add an application
=========================

Put it in its own module ``fsgen/sim/apps/<name>.py``; every module of this package is
imported on first use, so nothing else needs editing::

    from fsgen.sim.apps import application
    from fsgen.sim import media
    from fsgen.sim.engine import Sleep, Wait, TIMEOUT, Hangup

    @application("my_app")                      # name as written in <action application=...>
    def my_app(chan, data):                     # data: the argument, ${} already expanded
        chan.answer()
        result = yield from media.play(chan, "/path/x.wav", dtmf=media.BUFFER)
        if result.digit == "1":
            chan.set_var("picked", "1")
        yield Sleep(0.5)                        # virtual seconds
        woken = yield Wait({"dtmf", "my_event"}, timeout=2.0)
        if woken.kind == TIMEOUT: ...
        return "+OK"                            # optional: Application-Response

Contract
--------
- The function receives the :class:`~fsgen.sim.channel.Channel` running it and its argument
  string (already expanded; the engine emitted the ``execute`` trace record).  It is either a
  plain function (instantaneous: ``set``, ``log``...) or a generator function that waits.
- Waiting is only ever done by ``yield``-ing engine requests: ``Sleep(seconds)`` or
  ``Wait(kinds, timeout=None, channels=None)``.  ``Wait`` resumes with a
  :class:`~fsgen.sim.engine.Woken` whose ``kind`` is the posted kind or ``"timeout"``.
  Anything can post a kind to a channel with ``chan.post(kind, data)``: built-in kinds are
  ``dtmf``, ``break`` (uuid_break / transfer), ``answer``, ``hangup`` (to *other* tasks
  waiting on that channel), ``peer_hangup`` (posted to a channel whose ``bridged`` peer hung
  up).  Invent your own kinds freely (``"cc_offer"``...).  Never sleep on the real clock.
- When the channel running the app hangs up while the app waits, :class:`Hangup` is thrown
  at the ``yield``; let it propagate (``try/finally`` for cleanup such as ``record_stop``).
- Reusable building blocks: ``fsgen.sim.media`` (``play``, ``silence``, ``collect_digits``,
  DTMF policies), ``chan.answer()/pre_answer()/hangup(cause)/transfer(dest, dp, ctx)``,
  ``chan.var()/set_var()/expand()``, ``chan.emit(event, **fields)`` (trace + listeners;
  use the fs-reference event names: ``playback_start``, ``record_start``, ``bridge``...),
  ``fsgen.sim.session.execute(chan, app, data)`` (run another app, e.g. from a menu) and
  ``fsgen.sim.bridge`` (originate legs, bridge two channels).
- Long-lived background work (a queue dispatcher, a conference mixer) is a task:
  ``chan.sim.engine.spawn(generator, name)``; per-simulator state lives in
  ``chan.sim.modules`` (a dict; key it by your module name, create lazily), and module
  configuration is ``chan.sim.conf.configuration("callcenter.conf")`` (an
  :class:`~fsgen.sim.xmltree.XElement`, with file and line for error messages).
- API commands (``callcenter_config ...``, ``${hash(...)}``) register with
  :func:`fsgen.sim.api.api_command` in the same module.
- ``inline=True`` marks apps FreeSWITCH allows in ``inline="true"`` dialplan actions
  (SAF_ROUTING_EXEC); they must not wait.
- Errors in the arguments: ``chan.sim.trace.error(chan, kind, message)`` and behave as
  FreeSWITCH does (usually: log and return).  An exception escaping the app is a simulator
  bug: it is recorded as an error and the call is hung up.
- Testing: ``fsgen.sim.testing`` builds a conf from XML strings (``make_conf``), prompts of a
  given length (``write_wav``), a simulator (``simulator``), places a harness call exactly as
  the fs-reference rig did (``call``) and gives the compared projection (``projection``).
  Scripted far ends (agents): ``sim.remote_parties.append(RemoteParty(match, ring, answer,
  talk))``; ``fsgen.sim.bridge.originate(sim, dial_string, caller, timeout, variables)``
  rings legs (``[leg_timeout=10]sofia/...`` limits one leg) and ``bridge_channels`` bridges them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel

AppFunc = Callable[["Channel", str], Any]


@dataclass(frozen=True)
class AppSpec:
    name: str
    func: AppFunc
    inline: bool = False


APPS: dict[str, AppSpec] = {}
_loaded = False


def application(name: str, *, inline: bool = False) -> Callable[[AppFunc], AppFunc]:
    """Register ``func`` as dialplan application ``name`` (see the module docstring)."""
    def deco(func: AppFunc) -> AppFunc:
        APPS[name] = AppSpec(name, func, inline)
        return func
    return deco


def load_all() -> None:
    """Import every module of this package once (they register themselves)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def lookup(name: str) -> AppSpec | None:
    load_all()
    return APPS.get(name)
