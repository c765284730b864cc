"""``fsgen sim serve``: the simulator as a long-lived switch on the real clock, with an inbound
Event Socket, so tools written for FreeSWITCH (fs_cli-like scripts, greenswitch, campaign
dialers, ``fsgen deploy``) can drive it unchanged.

What this module adds to the simulator core:

- the real-time loop: the engine runs as usual, but its first I/O poller (the inbound server)
  keeps virtual time in step with the monotonic clock, so a 5 s ``sleep`` takes 5 s;
- API commands a live switch needs: ``show channels [as json]``, ``reloadxml``,
  ``xml_locate``, ``uuid_recv_dtmf``, and ``originate`` with FreeSWITCH's blocking reply
  (``+OK <uuid>`` once answered, ``-ERR <CAUSE>`` otherwise);
- HEARTBEAT every 20 s;
- the ``sim/`` endpoint: a scripted far end for tests and demos.

Scripted far end (``sim/``)
===========================
``sim/[NUMBER/]STEP[/STEP...]`` is a party that is called and behaves as the steps say::

    answer[:S]        answer S seconds after being called (default 0)
    busy[:S]          reject with USER_BUSY after S seconds
    fail:CAUSE[:S]    reject with CAUSE (any FreeSWITCH hangup cause) after S seconds
    noanswer          ring until the caller gives up (originate_timeout -> NO_ANSWER)
    dtmf:DIGITS[@S]   after answering, press DIGITS S seconds after the answer (default 1),
                      one digit every 0.25 s; several dtmf steps may be given
    talk:S            hang up (NORMAL_CLEARING) S seconds after answering;
                      without it the party stays until the other side hangs up

``NUMBER`` (optional first segment that is not a step) is the dialled number the channel
reports.  Example: ``originate {origination_caller_id_number=13800001111}sim/answer:1/dtmf:1@2/talk:20
96000 XML public`` -- answered after 1 s, routed to 96000 in ``public``, presses 1 two
seconds after answering and hangs up after 20 s of call.  The digits arrive on the called
channel as received DTMF (what the caller pressing keys looks like to the dialplan).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import click

from . import bridge as _bridge
from . import conf as _conf
from . import events as E
from .api import api_command
from .apps.args import separate
from .apps.basic import cause_of
from .bridge import KNOWN_CAUSES, new_profile
from .channel import Channel, Endpoint
from .engine import Sleep, Wait
from .errors import SimError
from .inbound import DEFAULT_PASSWORD, LOOPBACK_ACL, InboundServer, blocking_api
from .sim import Simulator
from .xmltree import XElement

HEARTBEAT_SECONDS = 20.0
DTMF_GAP = 0.25
PASSWORD_ENV = "HOTLINE_SIM_ESL_PASSWORD"


# ---- the switch ------------------------------------------------------------------------------
class ServeState:
    """What the long-lived switch remembers beyond the simulator: where its conf comes from,
    when it started, and each channel's first caller profile (``show channels`` initial_*)."""

    def __init__(self, conf_dir: Path, overlay: bool, pinned: dict[str, str], started: float):
        self.conf_dir = conf_dir
        self.overlay = overlay
        self.pinned = pinned
        self.started = started
        self.initial: dict[str, tuple[str, str, str, str, str, str]] = {}
        self.peak = 0

    @staticmethod
    def of(sim: Simulator) -> ServeState | None:
        return sim.modules.get("serve")


def load_conf(conf_dir: Path, pinned: dict[str, str]) -> tuple[_conf.Conf | SimError, bool]:
    """A full tree (with freeswitch.xml) is read as it is; a partial one (``fsgen compile``
    output) is laid over the simulator's stock base."""
    overlay = not (conf_dir / "freeswitch.xml").is_file()
    loaded = _conf.load(conf_dir, overlay_on_stock=overlay, globals_=_conf.core_globals(str(conf_dir)),
                        pinned=pinned)
    return loaded, overlay


def make_switch(conf_dir: Path, *, sounds_dir: str | None = None, tz: str = "UTC",
                missing_prompt_seconds: float | None = None,
                heartbeat: float = HEARTBEAT_SECONDS) -> Simulator | SimError:
    pinned = {"sounds_dir": sounds_dir} if sounds_dir else {}
    loaded, overlay = load_conf(conf_dir, pinned)
    if isinstance(loaded, SimError):
        return loaded
    sim = Simulator(loaded, tz=tz, missing_prompt_seconds=missing_prompt_seconds, seed=secrets.randbits(64))
    sim.globals["core_uuid"] = str(uuid.UUID(int=secrets.randbits(128), version=4))
    sim.trace.enabled = False  # a switch that runs for days must not keep every call's trace
    state = ServeState(conf_dir, overlay, pinned, sim.wall_time())
    sim.modules["serve"] = state
    sim.listeners.append(_track_profiles)
    _schedule_heartbeat(sim, heartbeat)
    return sim


def _track_profiles(chan: Channel, event: str, fields: dict[str, Any]) -> None:
    state = ServeState.of(chan.sim)
    if state is None:
        return
    if event == "create":
        p = chan.profile
        state.initial[chan.uuid] = (p.caller_id_name, p.caller_id_number, p.network_addr,
                                    p.destination_number, p.dialplan or "XML", p.context)
        state.peak = max(state.peak, len(chan.sim.channels))
    elif event == "hangup_complete":
        state.initial.pop(chan.uuid, None)


def _schedule_heartbeat(sim: Simulator, every: float) -> None:
    def beat() -> None:
        state = ServeState.of(sim)
        if state is not None:
            E.fire(sim, E.heartbeat(sim, sim.wall_time() - state.started, sim.created_count, state.peak))
        sim.engine.call_later(every, beat)
    sim.engine.call_later(every, beat)


# ---- API: reloadxml, xml_locate, show, uuid_recv_dtmf -------------------------------------------
def reload_reply(error: SimError) -> str:
    """switch_xml_open_root's error text, as ``reloadxml`` prints it (``+OK [...]`` even then)."""
    msg = error.message.removeprefix("XML syntax error: ")
    where = f" ({error.file})" if error.file else ""
    if error.line:
        return f"+OK [[error near line {error.line}]: {msg}{where}]\n"
    return f"+OK [{msg}{where}]\n"


@api_command("reloadxml")
def reloadxml(sim: Simulator, args: str, chan: Channel | None) -> str:
    """Re-read the conf tree; on error keep the previous one (FreeSWITCH does the same)."""
    state = ServeState.of(sim)
    if state is None:
        return "+OK [Success]\n"
    loaded, overlay = load_conf(state.conf_dir, state.pinned)
    if isinstance(loaded, SimError):
        return reload_reply(loaded)
    state.overlay = overlay
    sim.conf = loaded
    sim.globals.update(loaded.globals)
    E.fire(sim, E.base_headers(sim, "RELOADXML"))
    return "+OK [Success]\n"


def to_xml(el: XElement, indent: int = 0) -> str:
    """switch_xml_toxml-like rendering of a located element."""
    pad = "  " * indent
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in el.attrib.items())
    text = el.text.strip()
    if not el.children and not text:
        return f"{pad}<{el.tag}{attrs}/>\n"
    out = [f"{pad}<{el.tag}{attrs}>"]
    if text:
        out.append(escape(text))
    if el.children:
        out.append("\n")
        out += [to_xml(c, indent + 1) for c in el.children]
        out.append(pad)
    out.append(f"</{el.tag}>\n")
    return "".join(out)


@api_command("xml_locate")
def xml_locate(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``xml_locate root`` or ``xml_locate <section> <tag> <attr> <value>`` (mod_commands)."""
    argv = args.split()
    root = sim.conf.root
    if argv == ["root"]:
        return to_xml(root)
    if len(argv) not in (1, 4):
        return "-Error bad args\n"
    section = next((s for s in root.findall("section") if s.get("name") == argv[0]), None)
    if section is None:
        return "can't find anything\n"
    if len(argv) == 1:
        return to_xml(section)
    tag, attr, value = argv[1:]
    found = next((c for c in section.children if c.tag == tag and c.get(attr) == value), None)
    return to_xml(found) if found is not None else "can't find anything\n"


SHOW_COLUMNS = (
    "uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num", "ip_addr",
    "dest", "application", "application_data", "dialplan", "context", "read_codec", "read_rate",
    "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure", "hostname", "presence_id",
    "presence_data", "accountcode", "callstate", "callee_name", "callee_num", "callee_direction",
    "call_uuid", "sent_callee_name", "sent_callee_num", "initial_cid_name", "initial_cid_num",
    "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context",
)


def channel_row(chan: Channel) -> dict[str, str]:
    sim = chan.sim
    state, call_state, _ = E.channel_state(chan)
    created = sim.start_epoch + chan.created_at
    p = chan.profile
    media = chan.answered or chan.pre_answered
    state_ = ServeState.of(sim)
    init = (state_.initial.get(chan.uuid) if state_ is not None else None) or (
        p.caller_id_name, p.caller_id_number, p.network_addr, p.destination_number, p.dialplan or "XML", p.context)
    v = chan.variables
    return dict(zip(SHOW_COLUMNS, [
        chan.uuid, chan.direction, datetime.fromtimestamp(created, sim.tz).strftime("%Y-%m-%d %H:%M:%S"),
        str(int(created)), chan.name, state, p.caller_id_name, p.caller_id_number, p.network_addr,
        p.destination_number, v.get("current_application", ""), v.get("current_application_data", ""),
        p.dialplan or "XML", p.context, "PCMU" if media else "", "8000" if media else "",
        "64000" if media else "", "PCMU" if media else "", "8000" if media else "", "64000" if media else "",
        "", sim.globals.get("hostname", "hotline-sim"), v.get("presence_id", ""), v.get("presence_data", ""),
        v.get("accountcode", ""), call_state, p.callee_id_name, p.callee_id_number,
        "", v.get("call_uuid", chan.uuid), "", "", *init], strict=True))


@api_command("show")
def show(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``show channels [count|as json|as delim X]`` in mod_commands' formats."""
    argv = args.split()
    if not argv or argv[0] not in ("channels", "calls"):
        return "-USAGE: codec|endpoint|application|api|dialplan|file|timer|calls [count]|channels [count|like " \
               "<match string>]|calls|detailed_calls|bridged_calls|detailed_bridged_calls|aliases|complete|" \
               "chat|management|modules|nat_map|say|interfaces|interface_types|tasks|limits|status\n"
    chans = sorted((c for c in sim.channels.values() if not c.hungup), key=lambda c: c.created_at)
    rest = argv[1:]
    if rest[:1] == ["count"]:
        return f"\n{len(chans)} total.\n"
    if rest[:1] == ["like"] and len(rest) > 1:
        needle = rest[1]
        chans = [c for c in chans if any(needle in x for x in (c.uuid, c.name, c.profile.caller_id_number,
                                                                  c.profile.destination_number))]
        rest = rest[2:]
    rows = [channel_row(c) for c in chans]
    if rest[:2] == ["as", "json"]:
        if not rows:
            return json.dumps({"row_count": 0}) + "\n"
        return json.dumps({"row_count": len(rows), "rows": rows}, indent="\t", ensure_ascii=False) + "\n"
    delim = ","
    if rest[:2] == ["as", "delim"] and len(rest) > 2:
        delim = rest[2]
    elif rest[:1] == ["as"] and rest[1:2] not in (["delim"], ["csv"]):
        return f"-ERR Cannot find format {rest[1] if len(rest) > 1 else ''}\n"
    if not rows:
        return "\n0 total.\n"
    lines = [delim.join(SHOW_COLUMNS)] + [delim.join(r[c] for c in SHOW_COLUMNS) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


@api_command("uuid_recv_dtmf")
def uuid_recv_dtmf(sim: Simulator, args: str, chan: Channel | None) -> str:
    """Queue digits on a channel as if its far end had pressed them."""
    parts = args.split()
    if len(parts) < 2:
        return "-USAGE: <uuid> <dtmf_data>\n"
    target = sim.channels.get(parts[0])
    if target is None or target.hungup:
        return "-ERR no such channel\n"
    for d in parts[1].split("@")[0]:
        if d.upper() in "0123456789*#ABCD":
            target.receive_dtmf(d.upper())
    return "+OK\n"


# ---- originate -----------------------------------------------------------------------------------
@blocking_api("originate")
def originate_job(sim: Simulator, args: str) -> Generator[Any, Any, str]:
    """``originate <dial string> <exten>|&app(args) [dialplan] [context] [cid name] [cid num]
    [timeout]``: reply ``+OK <uuid>`` once a leg answers, ``-ERR <CAUSE>`` otherwise."""
    argv = separate(args)
    if len(argv) < 2:
        return ("-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] "
                "[<cid_name>] [<cid_num>] [<timeout_sec>]\n")
    dial, target = argv[0], argv[1]
    dialplan = argv[2] if len(argv) > 2 and argv[2] else "XML"
    context = argv[3] if len(argv) > 3 and argv[3] else "default"
    variables: dict[str, str] = {}
    if len(argv) > 4 and argv[4] != "undef":
        variables["origination_caller_id_name"] = argv[4]
    if len(argv) > 5 and argv[5] != "undef":
        variables["origination_caller_id_number"] = argv[5]
    timeout: float | None = None
    if len(argv) > 6:
        try:
            timeout = float(argv[6])
        except ValueError:
            timeout = None
    leg, cause = yield from _bridge.originate(sim, dial, None, timeout, variables)
    if leg is None:
        return f"-ERR {cause or 'NORMAL_CLEARING'}\n"
    leg.task = sim.engine.spawn(_after_answer(sim, leg, target, dialplan, context), "originated:" + leg.name, leg)
    return f"+OK {leg.uuid}\n"


def _after_answer(sim: Simulator, leg: Channel, target: str, dialplan: str, context: str
                  ) -> Generator[Any, Any, None]:
    """The answered leg runs ``&app(args)`` (then hangs up, unless transferred meanwhile) or
    the dialplan extension."""
    from .session import execute, run_dialplan
    if target.startswith("&"):
        name, _, rest = target[1:].partition("(")
        yield from execute(leg, name, rest.removesuffix(")"))
        if leg.hungup:
            return
        if leg.reroute is None:
            leg.hangup("NORMAL_CLEARING")
            return
        dest, dialplan, context = leg.reroute
        leg.reroute = None
        target = dest
    leg.profile = leg.profile.copy(destination_number=target, context=context, dialplan=dialplan)
    yield from run_dialplan(leg)


# ---- the scripted far end -----------------------------------------------------------------------
class Script:
    """A parsed ``sim/...`` target."""

    def __init__(self) -> None:
        self.number = "sim"
        self.delay = 0.0
        self.outcome = "answer"          # answer | noanswer | a hangup cause
        self.dtmf: list[tuple[float, str]] = []
        self.talk: float | None = None


def parse_script(rest: str) -> Script | str:
    """``[NUMBER/]STEP/...`` -> Script, or an error message."""
    script = Script()
    parts = [p for p in rest.split("/") if p]
    keywords = ("answer", "busy", "fail", "noanswer", "dtmf", "talk")
    if parts and parts[0].split(":")[0] not in keywords:
        script.number = parts.pop(0)
    for part in parts:
        word, _, arg = part.partition(":")
        try:
            if word == "answer":
                script.outcome, script.delay = "answer", float(arg or 0)
            elif word == "busy":
                script.outcome, script.delay = "USER_BUSY", float(arg or 0)
            elif word == "fail":
                cause, _, secs = arg.partition(":")
                cause = cause.upper()
                if cause not in KNOWN_CAUSES:
                    return f"unknown hangup cause {cause!r} in sim/ step {part!r}"
                script.outcome, script.delay = cause, float(secs or 0)
            elif word == "noanswer":
                script.outcome = "noanswer"
            elif word == "dtmf":
                digits, _, at = arg.partition("@")
                if not digits or any(d.upper() not in "0123456789*#ABCD" for d in digits):
                    return f"sim/ step {part!r}: digits must be 0-9, *, #, A-D"
                script.dtmf.append((float(at or 1), digits.upper()))
            elif word == "talk":
                script.talk = float(arg)
            else:
                return f"unknown sim/ step {part!r} (answer, busy, fail, noanswer, dtmf, talk)"
        except ValueError:
            return f"sim/ step {part!r}: expected a number of seconds"
    return script


class ScriptedEndpoint(Endpoint):
    """DTMF sent to a scripted party is heard by nobody (as with a real phone)."""


def start_scripted(sim: Simulator, rest: str, variables: dict[str, str], cid_num: str, cid_name: str
                   ) -> Channel | str:
    script = parse_script(rest)
    if isinstance(script, str):
        sim.trace.error(None, "bad_argument", script)
        return "INVALID_NUMBER_FORMAT"
    chan = Channel(sim, "sim/" + rest, new_profile(sim, script.number, "default", cid_num, cid_name),
                   uuid=variables.get("origination_uuid"), variables=variables, endpoint=ScriptedEndpoint(),
                   direction="outbound")
    chan.profile.source = "hotline_sim"
    sim.add_channel(chan)
    sim.engine.spawn(_play_script(sim, chan, script), "sim:" + chan.name, chan)
    return chan


def _play_script(sim: Simulator, chan: Channel, script: Script) -> Generator[Any, Any, None]:
    chan.ring_ready()
    if script.outcome == "noanswer":
        yield Wait(("never",))
    if script.delay:
        yield Sleep(script.delay)
    if script.outcome != "answer":
        chan.hangup(cause_of(script.outcome, "NORMAL_CLEARING"))
        return
    chan.answer()
    for at, digits in script.dtmf:
        for i, d in enumerate(digits):
            sim.engine.call_later(at + i * DTMF_GAP, chan.receive_dtmf, d)
    if script.talk is None:
        yield Wait(("never",))
        return
    yield Sleep(script.talk)
    chan.hangup("NORMAL_CLEARING")


_bridge.ENDPOINTS["sim"] = start_scripted


# ---- running ------------------------------------------------------------------------------------
def parse_listen(text: str) -> tuple[str, int] | str:
    host, sep, port_s = text.rpartition(":")
    if not sep:
        return f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8021"
    host = host.strip("[]")
    try:
        port = int(port_s)
    except ValueError:
        return f"--listen {text!r}: the port must be a number"
    if not 0 <= port <= 65535:
        return f"--listen {text!r}: the port must be 0-65535"
    return host, port


def is_loopback(host: str) -> bool:
    import ipaddress
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_forever(sim: Simulator, server: InboundServer) -> None:
    """The real-time loop; returns when ``server.stopping`` is set (SIGTERM/SIGINT)."""
    try:
        sim.engine.run(stop=lambda: server.stopping, real_timeout=3600.0)
    finally:
        for chan in list(sim.channels.values()):
            chan.hangup("SYSTEM_SHUTDOWN")
        server.close()
        sim.close()


@click.command("serve")
@click.option("--conf", "conf_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="FreeSWITCH conf tree: a full one (with freeswitch.xml) or fsgen compile's output, "
                   "which is laid over the simulator's stock base.")
@click.option("--listen", default="127.0.0.1:8021", show_default=True,
              help="Event Socket address (HOST:PORT; port 0 picks a free one and prints it).")
@click.option("--password", envvar=PASSWORD_ENV, default=None, show_envvar=True,
              help=f"Event Socket password; default: ${PASSWORD_ENV}, and only when neither is set "
                   f"FreeSWITCH's stock '{DEFAULT_PASSWORD}'.")
@click.option("--allow-remote", is_flag=True,
              help="Allow listening on a non-loopback address (peers must still pass --acl).")
@click.option("--acl", "acl", multiple=True, metavar="CIDR",
              help="Networks allowed to connect (repeatable; default: loopback only). Others get "
                   "text/rude-rejection.")
@click.option("--sounds-dir", type=click.Path(file_okay=False), default=None,
              help="Folder behind $${sounds_dir} (prompt lengths come from the WAV files there).")
@click.option("--missing-prompt-seconds", type=float, default=None,
              help="Pretend prompts that do not exist last this long (default: they play nothing).")
@click.option("--timezone", "tz", default="UTC", show_default=True, help="The switch's local time zone.")
@click.option("--heartbeat-seconds", type=click.FloatRange(min=0.1), default=HEARTBEAT_SECONDS, show_default=True,
              help="HEARTBEAT event interval (FreeSWITCH: 20 s).")
def serve(conf_dir: Path, listen: str, password: str | None, allow_remote: bool, acl: tuple[str, ...],
          sounds_dir: str | None, missing_prompt_seconds: float | None, tz: str, heartbeat_seconds: float) -> None:
    """Run the simulator as a long-lived FreeSWITCH with an inbound Event Socket.

    Time is real (a 30 s prompt takes 30 s). `api reloadxml` re-reads --conf. Stop with
    Ctrl-C or SIGTERM: calls are hung up (SYSTEM_SHUTDOWN) and clients get a disconnect notice.
    The line "listening on HOST:PORT" on stdout says the switch is ready.
    """
    where = parse_listen(listen)
    if isinstance(where, str):
        raise click.UsageError(where)
    host, port = where
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(f"refusing to listen on {host}: not a loopback address. The Event Socket "
                               "controls every call; pass --allow-remote (and --acl) if you really mean it.")
    try:
        import ipaddress
        for a in acl:
            ipaddress.ip_network(a, strict=False)
    except ValueError as err:
        raise click.UsageError(f"--acl: {err}") from None
    if password is None:
        password = DEFAULT_PASSWORD
        click.echo(f"fsgen sim serve: no --password and no ${PASSWORD_ENV}: using FreeSWITCH's default "
                   f"'{DEFAULT_PASSWORD}'", err=True)
    if not conf_dir.is_dir():
        click.echo(f"fsgen sim serve: {conf_dir}: configuration folder not found (give the folder "
                   "fsgen compile wrote, or one holding freeswitch.xml)", err=True)
        sys.exit(2)
    sim = make_switch(conf_dir, sounds_dir=sounds_dir, tz=tz, missing_prompt_seconds=missing_prompt_seconds,
                      heartbeat=heartbeat_seconds)
    if isinstance(sim, SimError):
        click.echo(f"fsgen sim serve: cannot load the configuration: {sim}", err=True)
        sys.exit(2)
    try:
        server = InboundServer(sim, host, port, password, tuple(acl) or LOOPBACK_ACL,
                               log=lambda msg: click.echo(f"fsgen sim serve: {msg}", err=True))
    except OSError as err:
        click.echo(f"fsgen sim serve: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        sys.exit(1)

    def stop(signum: int, frame: Any) -> None:
        server.stopping = True
        server.wake()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound_host, bound_port = server.address
    click.echo(f"fsgen sim serve: listening on {bound_host}:{bound_port} (conf {conf_dir}, pid {os.getpid()})")
    sys.stdout.flush()
    run_forever(sim, server)
    click.echo("fsgen sim serve: stopped", err=True)


if __name__ == "__main__":
    serve()
