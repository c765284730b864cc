"""API commands (what ``fs_cli``/ESL ``api`` and ``${name(args)}`` expansions call).

Register more with :func:`api_command`; a function gets ``(sim, args, channel)`` (channel
is the channel whose variables are being expanded, or None from ESL) and returns the reply
text.  Replies follow FreeSWITCH: ``+OK ...`` / ``-ERR ...`` for commands, plain values for
functions such as ``cond``.
"""

from __future__ import annotations

import re
import time as _time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Optional

from .apps.args import separate

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel
    from .sim import Simulator

ApiFunc = Callable[["Simulator", str, Optional["Channel"]], str]
API_COMMANDS: dict[str, ApiFunc] = {}


def api_command(name: str) -> Callable[[ApiFunc], ApiFunc]:
    def deco(fn: ApiFunc) -> ApiFunc:
        API_COMMANDS[name] = fn
        return fn
    return deco


# ---- cond ------------------------------------------------------------------------------
_NUM_RE = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$")


def _split_unquoted(s: str, sep: str) -> int:
    quoted = False
    for i, c in enumerate(s):
        if c == "'":
            quoted = not quoted
        elif c == sep and not quoted:
            return i
    return -1


def _unquote(s: str) -> tuple[str, bool]:
    s = s.strip()
    if len(s) >= 2 and s[0] == "'" and s[-1] == "'":
        return s[1:-1], True
    return s, False


_OPS = ("==", "!=", ">=", "<=", ">", "<")


@api_command("cond")
def cond(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``cond(<a> <op> <b> ? <true> : <false>)``; numbers compare numerically (mod_commands)."""
    q = _split_unquoted(args, "?")
    if q < 0:
        return "-ERR syntax: <expr> ? <true val> : <false val>"
    expr, rest = args[:q], args[q + 1:]
    c = _split_unquoted(rest, ":")
    if c < 0:
        return "-ERR syntax: <expr> ? <true val> : <false val>"
    true_val, _ = _unquote(rest[:c])
    false_val, _ = _unquote(rest[c + 1:])
    op = None
    pos = -1
    quoted = False
    for i, ch in enumerate(expr):
        if ch == "'":
            quoted = not quoted
            continue
        if quoted:
            continue
        for candidate in _OPS:
            if expr.startswith(candidate, i):
                op, pos = candidate, i
                break
        if op:
            break
    if op is None:
        a, _ = _unquote(expr)
        is_true = a != ""
    else:
        a, aq = _unquote(expr[:pos])
        b, bq = _unquote(expr[pos + len(op):])
        if not aq and not bq and _NUM_RE.match(a) and _NUM_RE.match(b):
            x: float | str = float(a)
            y: float | str = float(b)
        else:
            x, y = a, b
        is_true = {
            "==": x == y, "!=": x != y,
            ">=": x >= y, "<=": x <= y,  # type: ignore[operator]
            ">": x > y, "<": x < y,  # type: ignore[operator]
        }[op]
    return true_val if is_true else false_val


# ---- time ------------------------------------------------------------------------------
@api_command("strftime")
def strftime_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    fmt = args or "%Y-%m-%d %T"
    when = sim.wall_time()
    if "|" in fmt:
        head, fmt = fmt.split("|", 1)
        try:
            when = float(head)
        except ValueError:
            pass
    fmt = fmt.replace("%T", "%H:%M:%S")
    return datetime.fromtimestamp(when, sim.local_tz(None)).strftime(fmt)


@api_command("strftime_tz")
def strftime_tz_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    zone, _, fmt = args.partition(" ")
    fmt = (fmt or "%Y-%m-%d %T").replace("%T", "%H:%M:%S")
    return datetime.fromtimestamp(sim.wall_time(), sim.local_tz(zone)).strftime(fmt)


@api_command("strepoch")
def strepoch(sim: Simulator, args: str, chan: Channel | None) -> str:
    if not args.strip():
        return str(int(sim.wall_time()))
    try:
        dt = datetime.strptime(args.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=sim.local_tz(None))
    except ValueError:
        return "-ERR bad date"
    return str(int(dt.timestamp()))


@api_command("epoch")
def epoch(sim: Simulator, args: str, chan: Channel | None) -> str:
    return str(int(sim.wall_time()))


# ---- misc functions --------------------------------------------------------------------
@api_command("create_uuid")
def create_uuid(sim: Simulator, args: str, chan: Channel | None) -> str:
    from .channel import new_uuid
    return new_uuid(sim)


@api_command("echo")
def echo(sim: Simulator, args: str, chan: Channel | None) -> str:
    return args


@api_command("eval")
def eval_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    if args.startswith("uuid:"):
        target, _, rest = args[5:].partition(" ")
        return sim.expand(rest, sim.channels.get(target))
    return sim.expand(args, chan)


@api_command("regex")
def regex_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``regex <data>|<pattern>[|<substitution>]`` (``%1`` or ``$1`` captures)."""
    delim = "|"
    if args.startswith("m:") and len(args) > 3:
        delim, args = args[2], args[3:]
    parts = args.split(delim)
    if len(parts) < 2:
        return "-ERR syntax: <data>|<pattern>[|<subst string>]"
    data, pattern = parts[0], parts[1]
    try:
        m = re.search(pattern, data)
    except re.error:
        return "-ERR bad regex"
    if len(parts) < 3:
        return "true" if m else "false"
    if not m:
        return data
    return re.sub(r"[%$](\d)", lambda g: m.group(int(g.group(1))) or "" if int(g.group(1)) <= (m.re.groups)
                  else "", parts[2])


@api_command("global_getvar")
def global_getvar(sim: Simulator, args: str, chan: Channel | None) -> str:
    return sim.globals.get(args.strip(), "")


@api_command("global_setvar")
def global_setvar(sim: Simulator, args: str, chan: Channel | None) -> str:
    name, _, value = args.partition("=")
    if not name.strip():
        return "-ERR Usage: global_setvar <var>=<value>"
    sim.globals[name.strip()] = value.strip()
    return "+OK"


# ---- uuid_* ------------------------------------------------------------------------------
def _target(sim: Simulator, uuid: str) -> Channel | None:
    chan = sim.channels.get(uuid)
    return chan if chan is not None and not chan.hungup else None


@api_command("uuid_exists")
def uuid_exists(sim: Simulator, args: str, chan: Channel | None) -> str:
    return "true" if _target(sim, args.strip()) else "false"


@api_command("uuid_getvar")
def uuid_getvar(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <var>"
    target = _target(sim, parts[0])
    if target is None:
        return "-ERR No such channel!"
    value = target.var(parts[1])
    return value if value is not None else "_undef_"


@api_command("uuid_setvar")
def uuid_setvar(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split(None, 2)
    if len(parts) < 2:
        return "-USAGE: <uuid> <var> [value]"
    target = _target(sim, parts[0])
    if target is None:
        return "-ERR No such channel!"
    target.set_var(parts[1], parts[2] if len(parts) > 2 else None)
    return "+OK"


@api_command("uuid_setvar_multi")
def uuid_setvar_multi(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``uuid_setvar_multi <uuid> a=1;b=2``: split at ';' (quotes honoured, spaces at both ends
    dropped), each item at its first '='; an item without a value unsets its variable."""
    uuid, _, rest = args.strip().partition(" ")
    if not rest:
        return "-USAGE: <uuid> <var>=<value>;<var>=<value>..."
    target = _target(sim, uuid)
    if target is None:
        return "-ERR No such channel!"
    count = 0
    errors = ""
    for item in separate(rest, ";")[:64]:
        name, eq, value = item.strip().partition("=")
        if not name:
            errors += "-ERR No variable specified\n"
            continue
        target.set_var(name, value if eq and value != "" else None)
        count += 1
    return errors + ("+OK" if count else "-USAGE: <uuid> <var>=<value>;<var>=<value>...")


@api_command("uuid_send_dtmf")
def uuid_send_dtmf(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <dtmf_data>"
    target = _target(sim, parts[0])
    if target is None:
        return "-ERR no such channel"
    digits = parts[1].split("@")[0]
    target.send_dtmf(digits)
    return f"+OK {target.uuid} sent DTMF {digits}."


@api_command("uuid_kill")
def uuid_kill(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split()
    if not parts:
        return "-USAGE: <uuid> [cause]"
    target = _target(sim, parts[0])
    if target is None:
        return "-ERR No such channel!"
    target.hangup(parts[1] if len(parts) > 1 else "NORMAL_CLEARING")
    return "+OK"


@api_command("uuid_break")
def uuid_break(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split()
    target = _target(sim, parts[0]) if parts else None
    if target is None:
        return "-ERR No such channel!"
    target.post("break")
    return "+OK"


@api_command("uuid_transfer")
def uuid_transfer(sim: Simulator, args: str, chan: Channel | None) -> str:
    parts = args.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]"
    target = _target(sim, parts[0])
    if target is None:
        return "-ERR No such channel!"
    rest = parts[1:]
    if rest[0] in ("-bleg", "-both"):
        rest = rest[1:]
        if not rest:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]"
    dest = rest[0]
    dialplan = rest[1] if len(rest) > 1 else "XML"
    context = rest[2] if len(rest) > 2 else None
    target.transfer(dest, dialplan, context)
    return "+OK"


@api_command("hupall")
def hupall(sim: Simulator, args: str, chan: Channel | None) -> str:
    cause = args.split()[0] if args.split() else "MANAGER_REQUEST"
    for c in list(sim.channels.values()):
        c.hangup(cause)
    return "+OK hangup all channels with cause " + cause


@api_command("status")
def status(sim: Simulator, args: str, chan: Channel | None) -> str:
    return ("UP 0 years, 0 days, 0 hours, 0 minutes, %d seconds\nFreeSWITCH (hotline simulator) is ready\n"
            "%d session(s) since startup\n" % (int(sim.engine.now), sim.created_count))


@api_command("version")
def version(sim: Simulator, args: str, chan: Channel | None) -> str:
    return "FreeSWITCH Version 1.10.11-release (hotline simulator)"


@api_command("user_data")
def user_data(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``user_data <user>@<domain> [var|param|attr] <name>``."""
    parts = args.split()
    if len(parts) < 3:
        return ""
    user, _, domain = parts[0].partition("@")
    entry = sim.conf.directory_user(user, domain or sim.globals.get("domain", ""))
    if entry is None:
        return ""
    kind, name = parts[1], parts[2]
    if kind == "attr":
        return entry.attrs.get(name, "")
    if kind == "var":
        return entry.variables.get(name, "")
    return entry.params.get(name, "")


@api_command("sofia_contact")
def sofia_contact(sim: Simulator, args: str, chan: Channel | None) -> str:
    target = args.split()[-1] if args.split() else ""
    user, _, domain = target.rpartition("/")[2].partition("@")
    contact = sim.registrations.get("{}@{}".format(user, domain or sim.globals.get("domain", "")))
    return contact or "error/user_not_registered"


def wall_clock_now() -> float:  # pragma: no cover - used by the CLI when no start time is given
    return _time.time()
