"""FreeSWITCH events (as ESL sends them) built from simulator activity.

``channel_data`` is what switch_channel_event_set_data adds to a channel event (and what the
outbound ``connect`` reply carries): Channel-*, Caller-* and, for the event types
switch_channel_event_set_extended_data whitelists, the ``variable_*`` headers.
``esl_event`` maps the simulator's trace events to FreeSWITCH event names; ``background_job``,
``heartbeat`` and ``custom`` build the events that belong to no channel, and ``fire`` hands
those to whoever listens (the inbound Event Socket server registers a sink).  ``encode``
frames an event in the three formats ``event plain|json|xml`` asks for.

Header order follows FreeSWITCH (Event-Name first, then the core headers, then the channel
data) so a client that prints events sees what it would see on a real switch.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from esl_app import protocol as P

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel
    from .sim import Simulator

_seq = itertools.count(1)

#: trace event -> FreeSWITCH event name
EVENT_NAMES = {
    "create": "CHANNEL_CREATE",
    "answer": "CHANNEL_ANSWER",
    "pre_answer": "CHANNEL_PROGRESS_MEDIA",
    "execute": "CHANNEL_EXECUTE",
    "execute_complete": "CHANNEL_EXECUTE_COMPLETE",
    "hangup": "CHANNEL_HANGUP",
    "hangup_complete": "CHANNEL_HANGUP_COMPLETE",
    "park": "CHANNEL_PARK",
    "channel_unpark": "CHANNEL_UNPARK",
    "dtmf": "DTMF",
    "playback_start": "PLAYBACK_START",
    "playback_stop": "PLAYBACK_STOP",
    "record_start": "RECORD_START",
    "record_stop": "RECORD_STOP",
    "bridge": "CHANNEL_BRIDGE",
    "unbridge": "CHANNEL_UNBRIDGE",
    "custom": "CUSTOM",
    "custom_event": "CUSTOM",
}

#: every event name switch_name_event() knows (``event plain NAME`` accepts these)
KNOWN_EVENTS = frozenset({
    "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "API", "LOG", "INBOUND_CHAN",
    "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH", "TALK", "NOTALK", "SESSION_CRASH",
    "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE", "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT",
    "PRESENCE_PROBE", "MESSAGE_WAITING", "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB",
    "DETECTED_SPEECH", "DETECTED_TONE", "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE",
    "DEL_SCHEDULE", "EXE_SCHEDULE", "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE", "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA", "GENERAL",
    "COMMAND", "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED", "SEND_INFO", "RECV_INFO",
    "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT", "RECORD_START", "RECORD_STOP",
    "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE", "SOCKET_DATA", "MEDIA_BUG_START",
    "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA", "CALL_SETUP_REQ", "CALL_SETUP_RESULT",
    "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED", "ALL",
})

#: events that carry the channel variables (switch_channel_event_set_extended_data)
WITH_VARIABLES = frozenset({
    "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_ANSWER", "CHANNEL_PARK",
    "CHANNEL_UNPARK", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "REQUEST_PARAMS", "CHANNEL_DATA", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_DESTROY", "SESSION_HEARTBEAT", "API", "RECORD_START",
    "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "MEDIA_BUG_START",
    "MEDIA_BUG_STOP", "CUSTOM",
})

_STATE_NUMBERS = {"CS_NEW": "0", "CS_INIT": "1", "CS_ROUTING": "2", "CS_SOFT_EXECUTE": "3",
                  "CS_EXECUTE": "4", "CS_EXCHANGE_MEDIA": "5", "CS_PARK": "6", "CS_CONSUME_MEDIA": "7",
                  "CS_HIBERNATE": "8", "CS_RESET": "9", "CS_HANGUP": "10", "CS_REPORTING": "11",
                  "CS_DESTROY": "12"}

Headers = list[tuple[str, str]]
Sink = Callable[[Headers, "str | None", "Channel | None"], None]


def channel_state(chan: Channel) -> tuple[str, str, str]:
    """(Channel-State, Channel-Call-State, Answer-State) as FreeSWITCH reports them."""
    if chan.hungup:
        return "CS_HANGUP", "HANGUP", "hangup"
    if chan.answered:
        return chan.state if chan.state != "CS_NEW" else "CS_EXECUTE", "ACTIVE", "answered"
    if chan.pre_answered:
        return chan.state, "EARLY", "early"
    return chan.state, "RINGING", "ringing"


_DATES: dict[tuple[int, Any], tuple[str, str]] = {}


def _dates(now: float, tz: Any) -> tuple[str, str]:
    """Event-Date-Local and Event-Date-GMT: whole seconds, so one formatting per second."""
    key = (math.floor(now), tz)
    got = _DATES.get(key)
    if got is None:
        local = datetime.fromtimestamp(now, tz)
        gmt = datetime.fromtimestamp(now, UTC)
        got = (local.strftime("%Y-%m-%d %H:%M:%S"), gmt.strftime("%a, %d %b %Y %H:%M:%S GMT"))
        if len(_DATES) > 4096:
            _DATES.clear()
        _DATES[key] = got
    return got


def url_encode(value: str) -> str:
    """:func:`esl_app.protocol.url_encode`, remembered: the same variables are encoded again
    and again (each ``connect`` reply and event carries every channel variable)."""
    got = _ENCODED.get(value)
    if got is None:
        got = P.url_encode(value)
        if len(_ENCODED) > 20000:
            _ENCODED.clear()
        _ENCODED[value] = got
    return got


_ENCODED: dict[str, str] = {}


def base_headers(sim: Simulator, name: str, subclass: str | None = None) -> Headers:
    now = sim.wall_time()
    local, gmt = _dates(now, sim.tz)
    h = [("Event-Name", name)]
    if subclass:
        h.append(("Event-Subclass", subclass))
    h += [
        ("Core-UUID", sim.globals.get("core_uuid", "")),
        ("FreeSWITCH-Hostname", sim.globals.get("hostname", "hotline-sim")),
        ("FreeSWITCH-Switchname", sim.globals.get("hostname", "hotline-sim")),
        ("FreeSWITCH-IPv4", sim.globals.get("local_ip_v4", "127.0.0.1")),
        ("FreeSWITCH-IPv6", "::1"),
        ("Event-Date-Local", local),
        ("Event-Date-GMT", gmt),
        ("Event-Date-Timestamp", str(int(now * 1_000_000))),
        ("Event-Calling-File", "hotline_sim.c"),
        ("Event-Calling-Function", "simulate"),
        ("Event-Calling-Line-Number", "1"),
        ("Event-Sequence", str(next(_seq))),
    ]
    return h


def _usec(chan: Channel, t: float | None) -> str:
    return str(int((chan.sim.start_epoch + t) * 1_000_000)) if t is not None else "0"


def channel_data(chan: Channel, with_variables: bool = True) -> Headers:
    state, call_state, answer_state = channel_state(chan)
    p = chan.profile
    created = _usec(chan, chan.created_at)
    h = [
        ("Channel-State", state),
        ("Channel-Call-State", call_state),
        ("Channel-State-Number", _STATE_NUMBERS.get(state, "4")),
        ("Channel-Name", chan.name),
        ("Unique-ID", chan.uuid),
        ("Call-Direction", chan.direction),
        ("Presence-Call-Direction", chan.direction),
        ("Channel-HIT-Dialplan", "true" if chan.direction == "inbound" or chan.task is not None else "false"),
        ("Channel-Call-UUID", chan.variables.get("call_uuid", chan.uuid)),
        ("Answer-State", answer_state),
    ]
    if chan.hangup_cause:
        h.append(("Hangup-Cause", chan.hangup_cause))
    if chan.answered or chan.pre_answered:
        h += [("Channel-Read-Codec-Name", "PCMU"), ("Channel-Read-Codec-Rate", "8000"),
              ("Channel-Read-Codec-Bit-Rate", "64000"), ("Channel-Write-Codec-Name", "PCMU"),
              ("Channel-Write-Codec-Rate", "8000"), ("Channel-Write-Codec-Bit-Rate", "64000")]
    h += [
        ("Caller-Direction", chan.direction),
        ("Caller-Logical-Direction", chan.direction),
        ("Caller-Username", p.username),
        ("Caller-Dialplan", p.dialplan or "XML"),
        ("Caller-Caller-ID-Name", p.caller_id_name),
        ("Caller-Caller-ID-Number", p.caller_id_number),
        ("Caller-Orig-Caller-ID-Name", p.caller_id_name),
        ("Caller-Orig-Caller-ID-Number", p.caller_id_number),
        ("Caller-Callee-ID-Name", p.callee_id_name),
        ("Caller-Callee-ID-Number", p.callee_id_number),
        ("Caller-Network-Addr", p.network_addr),
        ("Caller-ANI", p.ani),
        ("Caller-Destination-Number", p.destination_number),
        ("Caller-Unique-ID", chan.uuid),
        ("Caller-Source", p.source),
        ("Caller-Context", p.context),
        ("Caller-RDNIS", p.rdnis),
        ("Caller-Channel-Name", chan.name),
        ("Caller-Profile-Index", "1"),
        ("Caller-Profile-Created-Time", created),
        ("Caller-Channel-Created-Time", created),
        ("Caller-Channel-Answered-Time", _usec(chan, chan.answered_at)),
        ("Caller-Channel-Progress-Time", "0"),
        ("Caller-Channel-Progress-Media-Time", "0"),
        ("Caller-Channel-Hangup-Time", _usec(chan, chan.sim.engine.now) if chan.hungup else "0"),
        ("Caller-Channel-Transfer-Time", "0"),
        ("Caller-Channel-Resurrect-Time", "0"),
        ("Caller-Channel-Bridged-Time", "0"),
        ("Caller-Channel-Last-Hold", "0"),
        ("Caller-Channel-Hold-Accum", "0"),
        ("Caller-Screen-Bit", "true"),
        ("Caller-Privacy-Hide-Name", "false"),
        ("Caller-Privacy-Hide-Number", "false"),
    ]
    peer = chan.bridged
    if peer is not None:
        h += [("Other-Type", "originatee" if chan.direction == "inbound" else "originator"),
              ("Other-Leg-Direction", peer.direction),
              ("Other-Leg-Caller-ID-Name", peer.profile.caller_id_name),
              ("Other-Leg-Caller-ID-Number", peer.profile.caller_id_number),
              ("Other-Leg-Destination-Number", peer.profile.destination_number),
              ("Other-Leg-Unique-ID", peer.uuid),
              ("Other-Leg-Channel-Name", peer.name)]
    if with_variables:
        h += [("variable_" + k, v) for k, v in chan.variables.items()]
    return h


def _call_times(chan: Channel) -> Headers:
    """What switch_channel_set_timestamps adds at hangup: epochs, duration, billsec."""
    start = chan.sim.start_epoch + chan.created_at
    end = chan.sim.wall_time()
    answer = chan.sim.start_epoch + chan.answered_at if chan.answered_at is not None else 0.0
    return [("variable_start_epoch", str(int(start))), ("variable_answer_epoch", str(int(answer))),
            ("variable_end_epoch", str(int(end))), ("variable_duration", str(int(end - start))),
            ("variable_billsec", str(int(end - answer)) if answer else "0")]


def esl_event(chan: Channel, event: str, fields: dict[str, Any],
              app_uuid: str | None = None) -> tuple[Headers, str | None] | None:
    """(headers, body) of the FreeSWITCH event for a channel activity, or None."""
    name = EVENT_NAMES.get(event)
    if name is None:
        return None
    subclass = None
    if name == "CUSTOM":
        subclass = str(fields.get("subclass") or fields.get("Event-Subclass") or "")
    h = base_headers(chan.sim, name, subclass)
    h += channel_data(chan, with_variables=name in WITH_VARIABLES)
    if event == "hangup_complete":
        h += _call_times(chan)
        chan.sim.modules.get("app_uuid_stacks", {}).pop(chan.uuid, None)
    if event in ("execute", "execute_complete"):
        h.append(("Application", str(fields.get("app", ""))))
        if fields.get("data") is not None:
            h.append(("Application-Data", str(fields["data"])))
        if event == "execute_complete":
            h.append(("Application-Response", str(fields.get("response") or "_none_")))
        h.append(("Application-UUID", app_uuid or _app_uuid(chan, event, fields)))
    elif event in ("hangup", "hangup_complete"):
        if not any(k == "Hangup-Cause" for k, _ in h):
            h.append(("Hangup-Cause", str(fields.get("cause", ""))))
    elif event == "dtmf":
        h += [("DTMF-Digit", str(fields.get("digit", ""))), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP")]
    elif event in ("playback_start", "playback_stop"):
        h.append(("Playback-File-Path", str(fields.get("file", ""))))
        if event == "playback_stop":
            h.append(("Playback-Status", str(fields.get("status", "done"))))
    elif event in ("record_start", "record_stop"):
        h.append(("Record-File-Path", str(fields.get("file", ""))))
    elif event in ("bridge", "unbridge"):
        peer = chan.bridged
        if peer is not None:
            h += [("Bridge-A-Unique-ID", chan.uuid), ("Bridge-B-Unique-ID", peer.uuid)]
    elif name == "CUSTOM":
        for k, v in fields.items():
            if k not in ("subclass", "Event-Subclass", "Event-Name") and v is not None:
                h.append((k, str(v)))
    return h, None


def _app_uuid(chan: Channel, event: str, fields: dict[str, Any]) -> str:
    """FreeSWITCH stamps each execution with a uuid (``app_uuid`` if the sender set one, else a
    fresh one) carried by both CHANNEL_EXECUTE and its CHANNEL_EXECUTE_COMPLETE.  ``fields`` is
    the one dict every listener of this activity sees, so the uuid is chosen once; a stack per
    channel pairs nested executions (an IVR menu running ``transfer``)."""
    got = fields.get("_app_uuid")
    if got:
        return str(got)
    stacks: dict[str, list[str]] = chan.sim.modules.setdefault("app_uuid_stacks", {})
    stack = stacks.setdefault(chan.uuid, [])
    if event == "execute":
        from .channel import new_uuid
        got = chan.variables.pop("app_uuid", None) or new_uuid(chan.sim)
        stack.append(got)
    else:
        from .channel import new_uuid
        got = stack.pop() if stack else new_uuid(chan.sim)
        if not stack:
            stacks.pop(chan.uuid, None)
    fields["_app_uuid"] = got
    return got


# ---- events that belong to no channel --------------------------------------------------------
def background_job(sim: Simulator, job_uuid: str, command: str, arg: str, reply: str) -> tuple[Headers, str]:
    h = base_headers(sim, "BACKGROUND_JOB") + [("Job-UUID", job_uuid), ("Job-Command", command)]
    if arg:
        h.append(("Job-Command-Arg", arg))
    return h, reply


def uptime_text(seconds: float) -> str:
    s = int(seconds)
    ms = int((seconds - s) * 1000)
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    years, days = divmod(days, 365)
    return (f"{years} years, {days} days, {hours} hours, {minutes} minutes, {secs} seconds, "
            f"{ms} milliseconds, 0 microseconds")


def heartbeat(sim: Simulator, uptime: float, sessions_since_startup: int, peak: int) -> Headers:
    """HEARTBEAT as switch_core sends it every 20 s."""
    return base_headers(sim, "HEARTBEAT") + [
        ("Event-Info", "System Ready"),
        ("Up-Time", uptime_text(uptime)),
        ("FreeSWITCH-Version", "1.10.11-release"),
        ("Uptime-msec", str(int(uptime * 1000))),
        ("Session-Count", str(len(sim.channels))),
        ("Max-Sessions", "1000"),
        ("Session-Per-Sec", "30"),
        ("Session-Per-Sec-Last", "0"),
        ("Session-Per-Sec-Max", "0"),
        ("Session-Per-Sec-FiveMin", "0"),
        ("Session-Since-Startup", str(sessions_since_startup)),
        ("Session-Peak-Max", str(peak)),
        ("Session-Peak-FiveMin", str(peak)),
        ("Idle-CPU", "99.000000"),
    ]


def custom(sim: Simulator, subclass: str, fields: dict[str, Any], chan: Channel | None = None) -> Headers:
    """A CUSTOM event (``callcenter::info``...), with the channel's data when there is one."""
    h = base_headers(sim, "CUSTOM", subclass)
    if chan is not None:
        h += channel_data(chan)
    h += [(k, str(v)) for k, v in fields.items() if v is not None]
    return h


def skip_event() -> None:
    """An event nobody listens to is not built, but it still takes its Event-Sequence number."""
    next(_seq)


def sinks(sim: Simulator) -> list[Sink]:
    return sim.modules.setdefault("event_sinks", [])


def fire(sim: Simulator, headers: Headers, body: str | None = None, chan: Channel | None = None) -> None:
    """Deliver an event that is not a channel activity (BACKGROUND_JOB, HEARTBEAT, callcenter::info
    about an agent...) to every registered sink.  Modules call this; nothing listens when no
    Event Socket server runs."""
    for sink in list(sinks(sim)):
        sink(headers, body, chan)


# ---- wire formats ------------------------------------------------------------------------------
def to_xml(headers: Headers, body: str | None) -> str:
    """switch_event_xmlize: header values URL-encoded as element text, the body escaped."""
    lines = ["<event>", "  <headers>"]
    for k, v in headers:
        lines.append(f"    <{k}>{escape(url_encode(v))}</{k}>")
    lines.append("  </headers>")
    if body is not None:
        lines.append(f"  <body>{escape(body)}</body>")
    lines.append("</event>")
    return "\n".join(lines)


def to_json(headers: Headers, body: str | None) -> str:
    obj: dict[str, Any] = {}
    for k, v in headers:
        prev = obj.get(k)
        obj[k] = v if prev is None else (prev + [v] if isinstance(prev, list) else [prev, v])
    if body is not None:
        obj["Content-Length"] = str(len(body.encode("utf-8")))
        obj["_body"] = body
    return json.dumps(obj, ensure_ascii=False)


def encode(headers: Headers, body: str | None, fmt: str) -> bytes:
    """One framed ``text/event-plain|json|xml`` message."""
    if fmt == "xml":
        payload = to_xml(headers, body).encode("utf-8")
        return P.encode_message([("Content-Type", "text/event-xml")], payload)
    if fmt == "json":
        payload = to_json(headers, body).encode("utf-8")
        return P.encode_message([("Content-Type", "text/event-json")], payload)
    return P.encode_event(headers, body, "plain")
