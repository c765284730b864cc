"""Audit of the outbound ``socket`` application against mod_event_socket.c (parse_command, socket_function).

Each test drives a hand-written outbound ESL app (a thread on 127.0.0.1) through one simulated call
and checks the replies FreeSWITCH gives to its commands.
"""

from __future__ import annotations

import socket
from pathlib import Path

from esl_app import protocol as P
from fsgen.sim.testing import call, make_conf, simulator
from tests.sim_socket_support import reply_reader, socket_call


def _run(tmp_path: Path, commands: list[str], mode: str = "async full",
         after: str = '<action application="log" data="INFO after ${socket_resume}"/>') -> tuple[list[P.Message], object]:
    """Send ``commands`` one by one after ``connect`` and collect each reply; then ``exit``."""
    replies: list[P.Message] = []

    def peer(conn: socket.socket) -> None:
        recv = reply_reader(conn, ("command/reply", "api/response"))
        conn.sendall(P.encode_command("connect"))
        recv()
        for c in commands:
            conn.sendall(_raw(c))
            replies.append(recv())
        conn.sendall(P.encode_command("exit"))
        recv()

    sim = socket_call(tmp_path, peer, before='<action application="set" data="tier=gold"/>', mode=mode, after=after)
    return replies, sim


def _raw(command: str) -> bytes:
    """A command with header lines (``sendmsg``) as an ESL app sends it."""
    return (command.rstrip("\n") + "\n\n").encode()


def _texts(replies: list[P.Message]) -> list[str]:
    return [P.decoded_headers(r).get("Reply-Text", "") for r in replies]


def test_resume_sets_socket_resume_variable(tmp_path: Path) -> None:
    # parse_command: "resume" sets LFLAG_RESUME and the channel variable socket_resume=true
    replies, sim = _run(tmp_path, ["resume"])
    assert _texts(replies) == ["+OK"]
    logs = [r.get("text") for r in sim.trace.records if r["event"] == "log"]
    assert "after true" in logs


def test_linger_reply_names_the_seconds(tmp_path: Path) -> None:
    # parse_command "linger": "+OK will linger %d seconds" with a time (atoi), "+OK will linger" without
    replies, _ = _run(tmp_path, ["linger 10", "linger", "linger abc", "resume"])
    assert _texts(replies) == ["+OK will linger 10 seconds", "+OK will linger", "+OK will linger 0 seconds", "+OK"]


def test_myevents_twice_is_refused(tmp_path: Path) -> None:
    # parse_command "myevents": LFLAG_MYEVENTS already set -> "-ERR aready enabled." (sic)
    replies, _ = _run(tmp_path, ["myevents", "myevents", "resume"])
    assert _texts(replies) == ["+OK Events Enabled", "-ERR aready enabled.", "+OK"]


def test_event_without_keywords_and_noevents_when_not_listening(tmp_path: Path) -> None:
    # parse_command "event": only a format word -> "-ERR no keywords supplied";
    # "noevents" without LFLAG_EVENTS -> "-ERR not listening for events"
    replies, _ = _run(tmp_path, ["noevents", "event plain", "event plain CHANNEL_ANSWER", "noevents", "resume"])
    assert _texts(replies) == ["-ERR not listening for events", "-ERR no keywords supplied",
                               "+OK event listener enabled plain", "+OK no longer listening for events", "+OK"]


def test_getvar_replies_with_the_value(tmp_path: Path) -> None:
    # parse_command "getvar": the reply text is the variable's value ("" when unset)
    replies, _ = _run(tmp_path, ["getvar tier", "getvar nothing_here", "resume"])
    assert _texts(replies) == ["gold", "", "+OK"]


def test_non_full_outbound_refuses_api_event_linger(tmp_path: Path) -> None:
    # parse_command: LFLAG_OUTBOUND without LFLAG_FULL stops after sendmsg -> "-ERR command not found"
    # for api, bgapi, linger, event...; myevents, resume, filter still work
    replies, _ = _run(tmp_path, ["api uptime", "linger", "event plain ALL", "myevents", "resume"], mode="async")
    assert _texts(replies)[1:] == ["-ERR command not found", "-ERR command not found", "+OK Events Enabled", "+OK"]
    assert _texts(replies)[0] == "-ERR command not found"
    assert replies[0].content_type == "command/reply"


def test_sendmsg_unknown_command_is_accepted(tmp_path: Path) -> None:
    # parse_command "sendmsg" queues the event (async) and replies "+OK" whatever its call-command;
    # switch_ivr_parse_event ignores what it does not know
    replies, _ = _run(tmp_path, ["sendmsg\ncall-command: bogus", "resume"])
    assert _texts(replies) == ["+OK", "+OK"]


def test_myevents_does_not_forward_playback_events(tmp_path: Path) -> None:
    # parse_command "myevents" subscribes to a fixed list of channel events (CHANNEL_*, DTMF, TALK...):
    # PLAYBACK_START/STOP are not in it
    from fsgen.sim.inbound import MYEVENTS
    assert "PLAYBACK_START" not in MYEVENTS
    names: list[str] = []

    def peer(conn: socket.socket) -> None:
        reader = P.Reader(P.MESSAGES)
        for c in ("connect", "myevents", "resume",
                  "sendmsg\ncall-command: execute\nexecute-app-name: playback\nexecute-app-arg: silence_stream://200"):
            conn.sendall(_raw(c))
        while True:
            data = conn.recv(65536)
            if not data:
                break
            reader.feed(data)
            while isinstance(item := reader.next(), P.Message):
                if item.content_type == "text/event-plain":
                    body = item.text
                    for line in body.splitlines():
                        if line.startswith("Event-Name: "):
                            names.append(line.split(": ", 1)[1])
                    if "CHANNEL_EXECUTE_COMPLETE" in body:
                        conn.sendall(P.encode_command("exit"))

    socket_call(tmp_path, peer)
    assert "CHANNEL_EXECUTE_COMPLETE" in names
    assert "PLAYBACK_START" not in names and "PLAYBACK_STOP" not in names


# ---- mod_conference ------------------------------------------------------------------------------
def _conf_run(tmp_path: Path, *actions: str) -> object:
    acts = "".join(f'<action application="{a}" data="{d}"/>' for a, d in (x.split(" ", 1) for x in actions))
    plan = f"""<context name="t">
<extension name="e"><condition field="destination_number" expression="^100$">
  <action application="answer"/>{acts}</condition></extension>
<extension name="o"><condition field="destination_number" expression="^200$">
  <action application="answer"/><action application="sleep" data="1000"/><action application="hangup" data="NORMAL_CLEARING"/></condition></extension>
</context>"""
    sim = simulator(make_conf(tmp_path / "conf", plan))
    call(sim, "100", "t")
    return sim


def _conference_datas(sim) -> list[str]:
    return [r.get("data") for r in sim.trace.records if r["event"] == "execute" and r.get("app") == "conference"]


def test_outcall_timeout_is_read_with_atoi() -> None:
    # conference_loop_output: to = atoi(conference_auto_outcall_timeout), 60 outside 10..500;
    # "15s" is 15 s (atoi stops at the first non-digit), not the default 60
    from fsgen.sim.apps import conference as C
    assert C.outcall_timeout("15s") == 15 and C.outcall_timeout("abc") == 60 and C.outcall_timeout("501") == 60
    assert C.outcall_timeout(None) == 60 and C.outcall_timeout(" 12") == 12


def test_outcall_delimiter_splits_the_dial_strings(tmp_path: Path) -> None:
    # conference_loop_output: a one-character conference_auto_outcall_delimiter replaces ',' as the
    # separator of each conference_set_auto_outcall entry
    sim = _conf_run(tmp_path, "set conference_auto_outcall_delimiter=|",
                    "conference_set_auto_outcall loopback/200/t|loopback/200/t", "conference room")
    assert _conference_datas(sim).count("room+flags{}") == 2
