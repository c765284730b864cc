"""mod_ivr's ``ivr`` application: XML menus run as switch_ivr_menu_execute does.

Per round: greet-long on the first round (and again after returning from a sub-menu),
greet-short afterwards; the first digit cuts the greeting, more digits are collected up to
the menu's digit length (inter-digit-timeout, overall ``timeout``).  No input -> a timeout
(no sound); input matching no entry -> invalid-sound and a failure.  ``max-failures`` or
``max-timeouts`` end the menu (``ivr_menu_status`` failure/timeout), then the top menu plays
its exit-sound and the dialplan continues.  A transfer from ``menu-exec-app`` ends the menu
at once (the channel is no longer ready, so nothing else is played).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from .. import media
from ..channel import Channel
from ..cstr import atoi
from ..session import execute
from ..xmltree import XElement
from . import application
from .digits import play_and_get

ACTIONS = ("menu-exit", "menu-sub", "menu-exec-app", "menu-play-sound", "menu-back", "menu-top")


@dataclass
class Menu:
    name: str
    greet_long: str | None
    greet_short: str | None
    invalid_sound: str | None
    exit_sound: str | None
    transfer_sound: str | None
    timeout: float
    inter_timeout: float
    max_failures: int
    max_timeouts: int
    inlen: int
    pin: str | None = None
    pin_file: str | None = None
    bad_pin_file: str | None = None
    tts_engine: str | None = None
    tts_voice: str | None = None
    exec_on_max_failures: str | None = None
    exec_on_max_timeouts: str | None = None
    entries: list[tuple[str, str, str]] = field(default_factory=list)   # (action, digits, param)


def build_menu(el: XElement) -> Menu:
    """switch_ivr_menu_stack_xml_build + switch_ivr_menu_init: numbers read with atoi; the
    inter-digit default is half the *given* timeout (0 when there is none) and is taken before
    the timeout's own 10 s default; max-timeouts falls back to max-failures only when absent or
    empty; a maximum that is not positive becomes 3."""
    a = el.attrib
    raw_timeout = atoi(a.get("timeout"))
    inter = atoi(a.get("inter-digit-timeout")) or int(raw_timeout / 2)
    timeout = raw_timeout if raw_timeout > 0 else 10000
    failures_text = a.get("max-failures") or ""
    timeouts_text = a.get("max-timeouts") or failures_text
    max_failures = atoi(failures_text)
    max_timeouts = atoi(timeouts_text)
    menu = Menu(name=a.get("name", ""), greet_long=a.get("greet-long"), greet_short=a.get("greet-short"),
                invalid_sound=a.get("invalid-sound"), exit_sound=a.get("exit-sound"),
                transfer_sound=a.get("transfer-sound"), timeout=timeout / 1000.0, inter_timeout=max(inter, 0) / 1000.0,
                max_failures=max_failures if max_failures > 0 else 3,
                max_timeouts=max_timeouts if max_timeouts > 0 else 3,
                inlen=max(atoi(a.get("digit-len")), 0),
                tts_engine=a.get("tts-engine"), tts_voice=a.get("tts-voice"), pin=a.get("pin") or None,
                pin_file=a.get("pin-file") or "ivr/ivr-please_enter_pin_followed_by_pound.wav",
                bad_pin_file=a.get("bad-pin-file") or "conference/conf-bad-pin.wav",
                exec_on_max_failures=a.get("exec-on-max-failures"),
                exec_on_max_timeouts=a.get("exec-on-max-timeouts"))
    for e in el.findall("entry"):
        action, digits = e.get("action"), e.get("digits")
        if action in ACTIONS and digits:
            menu.entries.append((action, digits, e.get("param", "") or ""))
            if not digits.startswith("/"):
                menu.inlen = max(menu.inlen, len(digits))
    return menu


def _builds(menus: dict[str, XElement], name: str, built: set[str]) -> bool:
    """switch_ivr_menu_stack_xml_build: every entry needs a known action and digits, else the
    whole tree fails to build; a menu-sub target found in the XML is built (and checked) too."""
    built.add(name)
    for e in menus[name].findall("entry"):
        action, digits = e.get("action"), e.get("digits")
        if action not in ACTIONS or not digits:
            return False
        param = e.get("param", "") or ""
        if action == "menu-sub" and param not in built and param in menus and not _builds(menus, param, built):
            return False
    return True


class _Stack:
    def __init__(self) -> None:
        self.count = 0
        self.fall_to_main = False
        self.top: str | None = None


def _play_and_collect(chan: Channel, menu: Menu, sound: str | None, need: int
                      ) -> Generator[Any, Any, tuple[str, str]]:
    """Returns (status, digits); status 'timeout' when nothing came in time."""
    if not sound:
        return ("false", "")
    sound = chan.expand(sound)
    terms = chan.var("ivr_menu_terminator") or "#"
    if not need:
        # args.buf NULL: switch_ivr_play_file dequeues the digit, then breaks (the key is lost)
        res = yield from media.play(chan, sound, dtmf=_eat_and_break)
        return (res.status, "")
    res = yield from media.play(chan, sound, dtmf=media.BUFFER)
    buf = res.digit or ""
    if res.status == "hangup" or not chan.ready:
        return ("false", buf)
    status = "success"
    if len(buf) < need:
        col = yield from media.collect_digits(chan, buf, need, terms,
                                              menu.inter_timeout if buf else menu.timeout,
                                              menu.inter_timeout, menu.timeout)
        buf = col.digits
        status = col.status
    return (status, buf)


def _eat_and_break(digit: str) -> bool:
    return True


def _matches(bind: str, buf: str) -> re.Match | None:
    if bind.startswith("/"):
        # switch_regex_perform: "/expr/opts" up to the *last* '/', options i and s; no closing
        # '/' is a regex error (no match)
        body, slash, opts = bind[1:].rpartition("/")
        if not slash:
            return None
        flags = (re.IGNORECASE if "i" in opts else 0) | (re.DOTALL if "s" in opts else 0)
        try:
            return re.search(body, buf, flags)
        except re.error:
            return None
    return re.match(r"", "") if bind == buf else None


def run_menu(chan: Channel, stack: _Stack, name: str) -> Generator[Any, Any, str]:
    stack.count += 1
    el: XElement | None = None
    try:
        if stack.count > 12:
            chan.sim.trace.error(chan, "ivr", "too many levels of menu recursion")
            return "false"
        el = chan.sim.conf.menus.get(name)
        if el is None:
            chan.sim.trace.error(chan, "ivr", f"IVR menu {name!r} not found")
            return "false"
        menu = build_menu(el)
        if stack.top is None:
            stack.top = name
        # SWITCH_IVR_MENU_FLAG_STACK marks the menu itself: run again through a menu-sub, the top
        # menu still catches menu-top
        is_top = name == stack.top
        if menu.tts_engine and menu.tts_voice:
            chan.set_var("tts_engine", menu.tts_engine)
            chan.set_var("tts_voice", menu.tts_voice)
        chan.set_var("ivr_menu_status", "success")
        _menu_event(chan, "menu::enter", name)
        if menu.pin:
            # switch_play_and_get_digits(len, len, 3 tries, 3000 ms, "#", pin-file, bad-pin-file,
            # ^pin$, 10000 ms); anything but SUCCESS -> "goto end" (no exit-sound)
            n = len(menu.pin)
            ok = yield from play_and_get(chan, n, n, 3, 3000, "#", menu.pin_file, menu.bad_pin_file, None,
                                         "^" + menu.pin + "$", 10000)
            if not ok:
                return "false"
        reps = errs = timeouts = 0
        running = True
        status = "success"
        while running and status == "success":
            if not chan.ready:
                break
            if errs == menu.max_failures:
                chan.set_var("ivr_menu_status", "failure")
                if menu.exec_on_max_failures:
                    app, _, arg = menu.exec_on_max_failures.partition(" ")
                    yield from execute(chan, app, arg)
                break
            if timeouts == menu.max_timeouts:
                chan.set_var("ivr_menu_status", "timeout")
                if menu.exec_on_max_timeouts:
                    app, _, arg = menu.exec_on_max_timeouts.partition(" ")
                    yield from execute(chan, app, arg)
                break
            greeting = menu.greet_short if reps > 0 and menu.greet_short else menu.greet_long
            pstatus, buf = yield from _play_and_collect(chan, menu, greeting, menu.inlen)
            if pstatus == "timeout" and not buf:
                timeouts += 1
                reps += 1
                continue
            match = 0
            if buf:
                for action, bind, param in menu.entries:
                    m = _matches(bind, buf)
                    if m is None:
                        continue
                    match += 1
                    errs = 0
                    arg = _subst(param, m) if bind.startswith("/") else param
                    if action == "menu-exit":
                        status = "false"
                    elif action == "menu-play-sound":
                        # status = switch_ivr_play_file(): only SUCCESS keeps the menu going
                        res = yield from media.play(chan, chan.expand(arg), dtmf=media.NO_INPUT)
                        status = {"done": "success", "break": "break", "notfound": "notfound"}.get(res.status, "false")
                    elif action == "menu-sub":
                        if arg == menu.name:
                            status = "success"
                        else:
                            reps = -1
                            _menu_event(chan, "menu::exit", name)
                            status = yield from run_menu(chan, stack, arg)
                            _menu_event(chan, "menu::enter", name)
                    elif action == "menu-exec-app" and not arg:
                        status = "false"    # SWITCH_IVR_ACTION_EXECAPP with nothing to run
                    elif action == "menu-exec-app":
                        app, _, app_arg = arg.partition(" ")
                        if menu.transfer_sound and app == "transfer":
                            yield from _play_and_collect(chan, menu, menu.transfer_sound, 0)
                        yield from execute(chan, app, app_arg)
                        status = "success"
                    elif action == "menu-back":
                        running = False
                        status = "success"
                    elif action == "menu-top":
                        stack.fall_to_main = True
                        status = "break"
                if is_top and stack.fall_to_main:
                    stack.fall_to_main = False
                    status = "success"
                    running = True
                    reps += 1
                    continue
            if not match:
                if buf and menu.invalid_sound:
                    yield from _play_and_collect(chan, menu, menu.invalid_sound, 0)
                errs += 1
                if status == "break":
                    status = "success"
            reps += 1
        if stack.count == 1 and menu.exit_sound:
            yield from _play_and_collect(chan, menu, menu.exit_sound, 0)
        return status
    finally:
        stack.count -= 1
        if el is not None:
            _menu_event(chan, "menu::exit", name)


def _menu_event(chan: Channel, subclass: str, name: str) -> None:
    """ivr_send_event: CUSTOM menu::enter / menu::exit with Menu-Name."""
    chan.emit("custom", subclass=subclass, **{"Menu-Name": name})


def _subst(param: str, m: re.Match) -> str:
    from ..dialplan import substitute
    return substitute(param, m)


@application("ivr")
def ivr(chan: Channel, data: str) -> Generator[Any, Any, None]:
    name = data.strip()
    if not name:
        chan.sim.trace.error(chan, "bad_argument", "ivr needs a menu name")
        return
    menus = chan.sim.conf.menus
    if name in menus and not _builds(menus, name, set()):
        # ivr_application_function: the build failed -> nothing is played, the dialplan goes on
        chan.sim.trace.add(chan, "log", level="ERR", text="Unable to build xml menu")
        chan.sim.trace.add(chan, "log", level="ERR", text="Unable to create menu")
        return
    yield from run_menu(chan, _Stack(), name)
