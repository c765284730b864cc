"""The life of a channel that runs the dialplan: route, hunt, execute, re-route, hang up.

Mirrors switch_core_state_machine: ROUTING hunts the XML dialplan, EXECUTE runs the queued
applications one by one while the channel is ready; a transfer re-routes (new hunt with
the new destination/context); running out of applications hangs up NORMAL_CLEARING; no
matching extension hangs up NO_ROUTE_DESTINATION.
"""

from __future__ import annotations

from collections.abc import Generator
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from . import apps as _apps
from .apps.args import separate
from .dialplan import Action, Extension, Hunter

if TYPE_CHECKING:  # pragma: no cover
    from .channel import CallerProfile, Channel
    from .xmltree import XElement


def execute(chan: Channel, app: str, data: str | None) -> Generator[Any, Any, Any]:
    """Run one application on ``chan`` (expands ``data``, emits ``execute``)."""
    if chan.hungup:
        return None
    arg = chan.expand(data) if data and "$" in data else (data or "")
    spec = _apps.lookup(app)
    outer = chan.variables.get("current_application")
    chan.variables["current_application"] = app
    if arg:
        chan.variables["current_application_data"] = arg
    else:
        chan.variables.pop("current_application_data", None)
    chan.emit("execute", app=app, data=arg if arg else None)
    if spec is None:
        chan.sim.trace.error(chan, "unknown_application",
                             f"application {app!r} is not simulated; the call ends here "
                             "(FreeSWITCH would log 'Invalid Application')", app=app)
        chan.hangup("DESTINATION_OUT_OF_ORDER")
        return None
    chan.app_stack.append(app)
    result: Any = None
    try:
        result = spec.func(chan, arg)
        if isinstance(result, GeneratorType):
            result = yield from result
    finally:
        chan.app_stack.pop()
    chan.variables["current_application"] = app  # a nested app (ivr -> transfer) may have replaced it
    if isinstance(result, str):
        chan.variables["current_application_response"] = result
    if chan.listeners or chan.sim.listeners:
        chan.notify_listeners("execute_complete", app=app, data=arg if arg else None,
                              response=result if isinstance(result, str) else "_none_")
    if outer is not None and chan.app_stack:
        chan.variables["current_application"] = outer
    return result


def execute_inline(chan: Channel, app: str, data: str, src: XElement | None = None) -> None:
    """``inline="true"``: run during the hunt; only applications that do not wait."""
    spec = _apps.lookup(app)
    if spec is not None and not spec.inline:
        chan.sim.trace.error(chan, "not_inline", f"application {app!r} cannot be executed inline",
                             where=src.where() if src is not None else "")
        return
    gen = execute(chan, app, data)
    try:
        req = gen.send(None)
    except StopIteration:
        return
    gen.close()
    chan.sim.trace.error(chan, "not_inline", f"application {app!r} waited during an inline execution",
                         request=repr(req))


def inline_extension(dest: str) -> Extension:
    """The ``inline`` dialplan: ``app:arg,app2:arg`` (as in ``transfer 'set:x=1,park' inline``)."""
    ext = Extension("inline")
    for item in separate(dest, ","):
        app, _, arg = item.strip().partition(":")
        if app:
            ext.actions.append(Action(app, arg))
    return ext


def hunt(chan: Channel, profile: CallerProfile) -> Extension | None:
    """Hunt ``profile.context`` (falling back to context "global" as FreeSWITCH does)."""
    if (profile.dialplan or "").lower() == "inline":
        return inline_extension(profile.destination_number)
    contexts = chan.sim.conf.contexts
    ctx = contexts.get(profile.context or "default") or contexts.get("global")
    if ctx is None:
        chan.sim.trace.add(chan, "log", level="WARNING", text=f"Context {profile.context} not found")
        return None
    hunter = Hunter(chan, profile, lambda app, data, src: execute_inline(chan, app, data, src))
    return hunter.hunt(ctx)


def run_dialplan(chan: Channel) -> Generator[Any, Any, None]:
    """Task body for a channel that routes through the XML dialplan."""
    chan.state = "CS_ROUTING"
    p = chan.profile
    chan.emit("route", dest=p.destination_number, context=p.context, dialplan="xml")
    while not chan.hungup:
        chan.state = "CS_ROUTING"
        ext = hunt(chan, chan.profile)
        if ext is None:
            chan.hangup("NO_ROUTE_DESTINATION")
            return
        chan.state = "CS_EXECUTE"
        for action in ext.actions:
            if not chan.ready:
                break
            yield from execute(chan, action.app, action.data)
        if chan.hungup:
            return
        if chan.reroute is not None:
            dest, dialplan, context = chan.reroute
            chan.reroute = None
            old = chan.profile.destination_number
            chan.profile = chan.profile.copy(destination_number=dest, context=context, dialplan=dialplan)
            chan.emit("route", dest=dest, context=context, dialplan=dialplan, reroute=True, from_dest=old)
            continue
        chan.hangup("NORMAL_CLEARING")
        return


def run_extension(chan: Channel, dest: str, context: str) -> Generator[Any, Any, bool]:
    """execute_extension: hunt ``dest`` in ``context`` and run its actions inline, then return."""
    profile = chan.profile.copy(destination_number=dest, context=context)
    ext = hunt(chan, profile)
    if ext is None:
        return False
    for action in ext.actions:
        if not chan.ready:
            break
        yield from execute(chan, action.app, action.data)
    return True
