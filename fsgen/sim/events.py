"""FreeSWITCH events (as ESL sends them) built from simulator channel activity.

``channel_data`` is what switch_channel_event_set_data adds to every channel event (and what
the outbound ``connect`` reply carries): Channel-*, Caller-* and ``variable_*`` headers.
``esl_event`` maps the simulator's trace events to FreeSWITCH event names.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel
    from .sim import Simulator

_seq = itertools.count(1)

#: trace event -> (FreeSWITCH event name, extra headers built from the trace fields)
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


def _state(chan: Channel) -> tuple[str, str, str]:
    if chan.hungup:
        return "CS_HANGUP", "HANGUP", "hangup"
    if chan.answered:
        return chan.state if chan.state != "CS_NEW" else "CS_EXECUTE", "ACTIVE", "answered"
    if chan.pre_answered:
        return chan.state, "EARLY", "early"
    return chan.state, "RINGING", "ringing"


def base_headers(sim: Simulator, name: str, subclass: str | None = None) -> list[tuple[str, str]]:
    now = sim.wall_time()
    local = datetime.fromtimestamp(now, sim.tz)
    gmt = datetime.fromtimestamp(now, UTC)
    h = [("Event-Name", name)]
    if subclass:
        h.append(("Event-Subclass", subclass))
    h += [
        ("Core-UUID", sim.globals.get("core_uuid", "")),
        ("FreeSWITCH-Hostname", sim.globals.get("hostname", "hotline-sim")),
        ("FreeSWITCH-Switchname", sim.globals.get("hostname", "hotline-sim")),
        ("FreeSWITCH-IPv4", sim.globals.get("local_ip_v4", "127.0.0.1")),
        ("FreeSWITCH-IPv6", "::1"),
        ("Event-Date-Local", local.strftime("%Y-%m-%d %H:%M:%S")),
        ("Event-Date-GMT", gmt.strftime("%a, %d %b %Y %H:%M:%S GMT")),
        ("Event-Date-Timestamp", str(int(now * 1_000_000))),
        ("Event-Calling-File", "hotline_sim.c"),
        ("Event-Calling-Function", "simulate"),
        ("Event-Calling-Line-Number", "1"),
        ("Event-Sequence", str(next(_seq))),
    ]
    return h


def channel_data(chan: Channel) -> list[tuple[str, str]]:
    state, call_state, answer_state = _state(chan)
    p = chan.profile
    created = str(int((chan.sim.start_epoch + chan.created_at) * 1_000_000))
    answered = str(int((chan.sim.start_epoch + chan.answered_at) * 1_000_000)) if chan.answered_at is not None else "0"
    h = [
        ("Channel-State", state),
        ("Channel-Call-State", call_state),
        ("Channel-State-Number", {"CS_NEW": "0", "CS_ROUTING": "2", "CS_EXECUTE": "4",
                                  "CS_HANGUP": "10"}.get(state, "4")),
        ("Channel-Name", chan.name),
        ("Unique-ID", chan.uuid),
        ("Call-Direction", chan.direction),
        ("Presence-Call-Direction", chan.direction),
        ("Channel-HIT-Dialplan", "true" if chan.task is not None else "false"),
        ("Channel-Call-UUID", chan.variables.get("call_uuid", chan.uuid)),
        ("Answer-State", answer_state),
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
        ("Caller-Channel-Answered-Time", answered),
        ("Caller-Channel-Hangup-Time", "0"),
        ("Caller-Screen-Bit", "true"),
        ("Caller-Privacy-Hide-Name", "false"),
        ("Caller-Privacy-Hide-Number", "false"),
    ]
    h += [("variable_" + k, v) for k, v in chan.variables.items()]
    return h


def esl_event(chan: Channel, event: str, fields: dict[str, Any],
              app_uuid: str | None = None) -> tuple[list[tuple[str, str]], str | None] | None:
    """(headers, body) of the FreeSWITCH event for a channel activity, or None."""
    name = EVENT_NAMES.get(event)
    if name is None:
        return None
    subclass = None
    if name == "CUSTOM":
        subclass = str(fields.get("subclass") or fields.get("Event-Subclass") or "")
    h = base_headers(chan.sim, name, subclass)
    h += channel_data(chan)
    if event in ("execute", "execute_complete"):
        h.append(("Application", str(fields.get("app", ""))))
        if fields.get("data") is not None:
            h.append(("Application-Data", str(fields["data"])))
        if event == "execute_complete":
            h.append(("Application-Response", str(fields.get("response") or "_none_")))
        if app_uuid:
            h.append(("Application-UUID", app_uuid))
    elif event in ("hangup", "hangup_complete"):
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
            h += [("Bridge-A-Unique-ID", chan.uuid), ("Bridge-B-Unique-ID", peer.uuid),
                  ("Other-Leg-Unique-ID", peer.uuid)]
    elif name == "CUSTOM":
        for k, v in fields.items():
            if k not in ("subclass", "Event-Subclass") and v is not None:
                h.append((k, str(v)))
    return h, None
