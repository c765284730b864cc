"""Call-control and variable applications of mod_dptools."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from ..bridge import KNOWN_CAUSES
from ..channel import Channel
from ..engine import Wait
from ..media import silence
from . import application
from .args import separate


@application("answer", inline=False)
def answer(chan: Channel, data: str) -> None:
    chan.answer()


@application("pre_answer")
def pre_answer(chan: Channel, data: str) -> None:
    chan.pre_answer()


@application("ring_ready")
def ring_ready(chan: Channel, data: str) -> None:
    chan.ring_ready()


def _name_value(data: str) -> tuple[str, str]:
    name, _, value = data.partition("=")
    return name.strip(), value


@application("set", inline=True)
def set_(chan: Channel, data: str) -> None:
    if not data:
        return
    name, value = _name_value(data)
    if name:
        chan.set_var(name, value if value != "" else None)


@application("multiset", inline=True)
def multiset(chan: Channel, data: str) -> None:
    sep = " "
    if data.startswith("^^") and len(data) > 2:
        sep, data = data[2], data[3:]
    for item in separate(data, sep):
        set_(chan, item)


@application("unset", inline=True)
def unset(chan: Channel, data: str) -> None:
    if data.strip():
        chan.set_var(data.strip(), None)


@application("export", inline=True)
def export(chan: Channel, data: str) -> None:
    local = True
    if data.startswith("nolocal:"):
        local, data = False, data[len("nolocal:"):]
    name, value = _name_value(data)
    if not name:
        return
    if local:
        chan.set_var(name, value if value != "" else None)
    if value == "":
        chan.exported.pop(name, None)
    else:
        chan.exported[name] = value


@application("set_global", inline=True)
def set_global(chan: Channel, data: str) -> None:
    name, value = _name_value(data)
    if name:
        if value == "":
            chan.sim.globals.pop(name, None)
        else:
            chan.sim.globals[name] = value


@application("set_profile_var", inline=True)
def set_profile_var(chan: Channel, data: str) -> None:
    name, value = _name_value(data)
    if name and chan.profile.field(name) is not None:
        setattr(chan.profile, name, value)


@application("log", inline=True)
def log(chan: Channel, data: str) -> None:
    level, _, text = data.partition(" ")
    if level.upper() not in ("DEBUG", "INFO", "NOTICE", "WARNING", "ERR", "ERROR", "CRIT", "ALERT", "CONSOLE"):
        level, text = "DEBUG", data
    chan.sim.trace.add(chan, "log", level=level.upper(), text=text)


@application("info", inline=True)
def info(chan: Channel, data: str) -> None:
    chan.sim.trace.add(chan, "log", level="INFO", text="info: %d variables" % len(chan.variables))


@application("event", inline=True)
def event(chan: Channel, data: str) -> None:
    fields = dict(item.partition("=")[::2] for item in separate(data, ","))
    chan.notify_listeners("custom_event", **fields)


@application("sleep")
def sleep(chan: Channel, data: str) -> Generator[Any, Any, None]:
    try:
        ms = int(data.strip() or "0")
    except ValueError:
        chan.sim.trace.error(chan, "bad_argument", f"sleep needs milliseconds, got {data!r}")
        return
    eat = chan.true("sleep_eat_digits")
    yield from silence(chan, ms / 1000.0, dtmf=(lambda d: False) if eat else None)


def cause_of(text: str, default: str = "NORMAL_CLEARING") -> str:
    t = text.strip().upper()
    if not t:
        return default
    if t.isdigit():
        from ..causes import CAUSE_BY_CODE
        return CAUSE_BY_CODE.get(int(t), default)
    return t if t in KNOWN_CAUSES else default


@application("hangup")
def hangup(chan: Channel, data: str) -> None:
    chan.hangup(cause_of(data))


def park_session(chan: Channel) -> Generator[Any, Any, None]:
    """switch_ivr_park_session: the channel waits (CS_PARK) until it is transferred or hung up."""
    chan.parked = True
    chan.emit("park")
    try:
        while chan.ready:
            yield Wait(("break",))
    finally:
        chan.parked = False


@application("park")
def park(chan: Channel, data: str) -> Generator[Any, Any, None]:
    yield from park_session(chan)
    if not chan.hungup:
        chan.emit("channel_unpark")
