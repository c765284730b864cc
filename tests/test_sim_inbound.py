"""``fsgen sim serve``: the inbound Event Socket as FreeSWITCH speaks it, checked with two ESL
clients hotline did not write (greenswitch, genesis) and with raw protocol exchanges.

Every switch here is a real process on 127.0.0.1 with an ephemeral port, stopped by its fixture."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from esl_app import protocol as P
from fsgen.sim.serve import parse_script, serve
from tests.sim_serve_support import PASSWORD, RawClient, compile_flows, running_switch, write_flow

# The order checks need the key pressed after play_and_get_digits starts. 0.5 s after answer left
# the dialplan too little time on a loaded machine (the likeliest cause of one failure seen there).
CALL = "{origination_caller_id_number=13800138000}sim/answer:0.2/dtmf:9@1.5 95001 XML public"


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inbound")
    write_flow(root / "flows")
    compile_flows(root / "flows", root / "conf")
    return root / "conf"


@pytest.fixture(scope="module")
def switch(conf: Path):
    with running_switch(conf, "--heartbeat-seconds", "0.5") as sw:
        yield sw


def _order(names: list[str], *wanted: str) -> list[int]:
    return [names.index(w) for w in wanted]


# ---- third-party clients ----------------------------------------------------------------------------
def test_greenswitch_inbound_drives_a_scripted_call(switch) -> None:
    import gevent
    from greenswitch.esl import InboundESL

    esl = InboundESL("127.0.0.1", switch.port, PASSWORD)
    esl.connect()
    try:
        seen: list[dict[str, str]] = []
        esl.register_handle("*", lambda ev: seen.append(dict(ev.headers)))
        assert esl.send("event plain ALL").data == "+OK event listener enabled plain"
        reply = esl.send(f"api originate {CALL}").data
        assert reply.startswith("+OK "), reply
        uuid = reply.split()[1]

        def mine(name: str) -> list[dict[str, str]]:
            return [h for h in seen if h.get("Unique-ID") == uuid and h.get("Event-Name") == name]

        deadline = time.monotonic() + 10
        while not mine("DTMF") and time.monotonic() < deadline:
            gevent.sleep(0.05)
        assert mine("DTMF")[0]["DTMF-Digit"] == "9"
        assert esl.send(f"api uuid_kill {uuid}").data.startswith("+OK")
        while not mine("CHANNEL_HANGUP_COMPLETE") and time.monotonic() < deadline:
            gevent.sleep(0.05)
        names = [h["Event-Name"] for h in seen if h.get("Unique-ID") == uuid]
        apps = [h.get("Application") for h in seen if h.get("Unique-ID") == uuid
                and h["Event-Name"] == "CHANNEL_EXECUTE"]
        assert "play_and_get_digits" in apps and "transfer" in apps
        first_pagd = next(i for i, h in enumerate(h for h in seen if h.get("Unique-ID") == uuid)
                          if h.get("Application") == "play_and_get_digits")
        order = _order(names, "CHANNEL_CREATE", "CHANNEL_ANSWER", "DTMF", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE")
        assert order == sorted(order) and order[1] < first_pagd < order[2], names
        done = mine("CHANNEL_HANGUP_COMPLETE")[0]
        assert done["Hangup-Cause"] == "NORMAL_CLEARING"
        assert done["variable_hotline_flow"] == "esltest"
        assert done["Caller-Caller-ID-Number"] == "13800138000"
        assert done["Core-UUID"] and int(done["Event-Date-Timestamp"]) > 1_600_000_000_000_000
    finally:
        esl.stop()


def test_genesis_inbound_drives_a_scripted_call(switch) -> None:
    from genesis import Inbound

    async def scenario() -> tuple[str, list[dict], str]:
        seen: list[dict] = []
        got_dtmf = asyncio.Event()
        gone = asyncio.Event()

        async def on_event(ev) -> None:
            seen.append(dict(ev))
            if ev.get("Event-Name") == "DTMF":
                got_dtmf.set()
            if ev.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE":
                gone.set()

        async with Inbound("127.0.0.1", switch.port, PASSWORD) as client:
            client.on("*", on_event)
            reply = await client.send("event plain CHANNEL_CREATE CHANNEL_ANSWER DTMF CHANNEL_EXECUTE "
                                      "CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE")
            assert reply["Reply-Text"] == "+OK event listener enabled plain"
            answer = await client.send(f"api originate {CALL}")
            uuid = answer.body.split()[1]
            await asyncio.wait_for(got_dtmf.wait(), 10)
            killed = await client.send(f"api uuid_kill {uuid} USER_BUSY")
            await asyncio.wait_for(gone.wait(), 10)
            return uuid, seen, killed.body

    uuid, seen, killed = asyncio.run(scenario())
    assert killed.startswith("+OK")
    names = [e["Event-Name"] for e in seen if e.get("Unique-ID") == uuid]
    order = _order(names, "CHANNEL_CREATE", "CHANNEL_ANSWER", "DTMF", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE")
    assert order == sorted(order), names
    hangup = next(e for e in seen if e.get("Unique-ID") == uuid and e["Event-Name"] == "CHANNEL_HANGUP")
    assert hangup["Hangup-Cause"] == "USER_BUSY"
    assert "variable_hotline_flow" in hangup
    # variables are absent where FreeSWITCH leaves them out (DTMF is not whitelisted)
    dtmf = next(e for e in seen if e.get("Unique-ID") == uuid and e["Event-Name"] == "DTMF")
    assert not any(k.startswith("variable_") for k in dtmf)


# ---- authentication ----------------------------------------------------------------------------------
def test_bad_password_gets_err_invalid_then_disconnect(switch) -> None:
    c = RawClient(switch.port, password=None)
    try:
        assert c.greeting.content_type == "auth/request"
        assert c.command("api status").get("Reply-Text") == "-ERR command not found"
        assert c.command("auth wrong").get("Reply-Text") == "-ERR invalid"
        notice = c.read()
        assert notice.content_type == "text/disconnect-notice"
        with pytest.raises(EOFError):
            c.read()
    finally:
        c.close()


def test_peer_outside_the_acl_gets_rude_rejection(conf: Path) -> None:
    with running_switch(conf, "--acl", "127.0.0.2/32") as sw:
        c = RawClient(sw.port, password=None)
        try:
            assert c.greeting.content_type == "text/rude-rejection"
            assert c.greeting.text == "Access Denied, go away.\n"
            with pytest.raises(EOFError):
                c.read()
        finally:
            c.close()


def test_serve_refuses_a_non_loopback_address_and_says_what_to_do(conf: Path) -> None:
    result = CliRunner().invoke(serve, ["--conf", str(conf), "--listen", "0.0.0.0:0"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--allow-remote" in result.output


def test_default_password_only_when_none_is_given_and_a_clean_stop(conf: Path) -> None:
    with running_switch(conf, password=None) as sw:
        c = RawClient(sw.port, password="ClueCon")
        try:
            uuid = c.api("originate sim/answer &park()").split()[1]
            c.command("event plain CHANNEL_HANGUP")
            err = sw.stop()
            hangup = c.events_until(lambda e: e.name == "CHANNEL_HANGUP")[-1]
            assert hangup.get("Unique-ID") == uuid and hangup.get("Hangup-Cause") == "SYSTEM_SHUTDOWN"
            notice = c.read()
            assert notice.content_type == "text/disconnect-notice" and "shut down" in notice.text
        finally:
            c.close()
    assert "ClueCon" in err and "HOTLINE_SIM_ESL_PASSWORD" in err and "stopped" in err
    assert sw.proc.returncode == 0


# ---- api / bgapi ---------------------------------------------------------------------------------------
def test_bgapi_replies_with_job_uuid_then_background_job(switch) -> None:
    c = RawClient(switch.port)
    try:
        c.command("event plain BACKGROUND_JOB")
        reply = c.command("bgapi global_getvar hostname", [("Job-UUID", "job-123")])
        assert reply.get("Reply-Text") == "+OK Job-UUID: job-123" and reply.get("Job-UUID") == "job-123"
        ev = c.events_until(lambda e: e.name == "BACKGROUND_JOB")[-1]
        assert ev.get("Job-UUID") == "job-123" and ev.get("Job-Command") == "global_getvar"
        assert ev.get("Job-Command-Arg") == "hostname" and ev.body == "hotline-sim"
    finally:
        c.close()


def test_api_originate_blocks_until_answer_and_reports_failures(switch) -> None:
    c = RawClient(switch.port)
    try:
        started = time.monotonic()
        ok = c.api("originate sim/answer:1 &park()")
        assert ok.startswith("+OK ") and time.monotonic() - started >= 0.9
        uuid = ok.split()[1].strip()
        assert c.api(f"uuid_getvar {uuid} channel_name") == "sim/answer:1"
        assert c.api(f"uuid_kill {uuid}").startswith("+OK")
        assert c.api("originate sim/busy:0.1 &park()") == "-ERR USER_BUSY\n"
        assert c.api("originate {originate_timeout=1}sim/noanswer &park()") == "-ERR NO_ANSWER\n"
        assert c.api("originate sim/fail:CALL_REJECTED &park()") == "-ERR CALL_REJECTED\n"
        assert c.api("originate sim/answer:x &park()").startswith("-ERR")
        assert c.api("originate").startswith("-USAGE")
    finally:
        c.close()


def test_show_channels_plain_and_json(switch) -> None:
    c = RawClient(switch.port)
    try:
        uuid = c.api("originate {origination_caller_id_name=Lin}sim/answer &park()").split()[1]
        plain = c.api("show channels")
        header, row = plain.splitlines()[:2]
        cols = header.split(",")
        assert cols[:6] == ["uuid", "direction", "created", "created_epoch", "name", "state"]
        assert cols[-1] == "initial_context" and len(cols) == 38
        values = dict(zip(cols, row.split(","), strict=True))
        assert values["uuid"] == uuid and values["application"] == "park" and values["callstate"] == "ACTIVE"
        assert plain.endswith("\n\n1 total.\n")
        data = json.loads(c.api("show channels as json"))
        assert data["row_count"] == 1 and data["rows"][0]["cid_name"] == "Lin"
        assert c.api("show channels count") == "\n1 total.\n"
        c.api(f"uuid_kill {uuid}")
        assert json.loads(c.api("show channels as json")) == {"row_count": 0}
        assert c.api("show channels") == "\n0 total.\n"
    finally:
        c.close()


def test_uuid_commands_on_a_parked_call(switch) -> None:
    c = RawClient(switch.port)
    try:
        c.command("event plain DTMF CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE")
        uuid = c.api("originate {hotline_x=1}sim/answer &park()").split()[1]
        assert c.api(f"uuid_getvar {uuid} hotline_x") == "1"
        assert c.api(f"uuid_setvar {uuid} agent_id 1007") == "+OK"
        assert c.api(f"uuid_getvar {uuid} agent_id") == "1007"
        assert c.api(f"uuid_setvar_multi {uuid} a=1;name= 欧阳 娜娜 ;agent_id=;eq=x=y") == "+OK"
        assert [c.api(f"uuid_getvar {uuid} {n}") for n in ("a", "name", "agent_id", "eq")] == [
            "1", " 欧阳 娜娜", "_undef_", "x=y"]  # item ends trimmed, empty value unsets, first "=" splits
        assert c.api("uuid_setvar_multi 00000000-dead-beef-0000-000000000000 a=1") == "-ERR No such channel!"
        assert c.api(f"uuid_recv_dtmf {uuid} 42").startswith("+OK")
        digits = [e.get("DTMF-Digit") for e in c.events_until(lambda e: e.get("DTMF-Digit") == "2")
                  if e.name == "DTMF"]
        assert digits == ["4", "2"]
        assert c.api(f"uuid_transfer {uuid} 95001 XML public").startswith("+OK")
        execs = c.events_until(lambda e: e.get("Application") == "play_and_get_digits")
        assert any(e.get("Application") == "transfer" for e in execs)
        assert c.api("uuid_getvar 00000000-dead-beef-0000-000000000000 x").startswith("-ERR")
        assert c.api(f"uuid_kill {uuid}").startswith("+OK")
        c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") == uuid)
        assert c.api("hupall").startswith("+OK")
    finally:
        c.close()


def test_global_vars_version_status(switch) -> None:
    c = RawClient(switch.port)
    try:
        assert c.api("global_setvar hotline_mode=night") == "+OK"
        assert c.api("global_getvar hotline_mode") == "night"
        assert c.api("version").startswith("FreeSWITCH Version 1.10")
        assert c.api("status").startswith("UP ")
        assert c.api("no_such_command x").startswith("-ERR no_such_command Command not found")
    finally:
        c.close()


# ---- event subscriptions ------------------------------------------------------------------------------
def test_custom_subclasses_filters_nixevent_noevents(switch) -> None:
    c = RawClient(switch.port)
    try:
        assert c.command("event plain HEARTBEAT CUSTOM callcenter::info").get("Reply-Text") == \
            "+OK event listener enabled plain"
        c.command("sendevent CUSTOM", [("Event-Subclass", "conference::maintenance"), ("X", "1")])
        c.command("sendevent CUSTOM", [("Event-Subclass", "callcenter::info"), ("CC-Action", "agent-status-change")])
        got = c.events_until(lambda e: e.name == "CUSTOM")
        assert got[-1].get("Event-Subclass") == "callcenter::info"
        assert got[-1].get("CC-Action") == "agent-status-change"
        assert all(e.get("Event-Subclass") != "conference::maintenance" for e in got)
        # heartbeats every 0.5 s here (20 s by default), with FreeSWITCH's headers
        hb = c.events_until(lambda e: e.name == "HEARTBEAT")[-1]
        assert hb.get("Event-Info") == "System Ready" and hb.get("Up-Time", "").startswith("0 years")
        assert c.command("nixevent HEARTBEAT").get("Reply-Text") == "+OK events nixed"
        assert c.command("filter CC-Action agent-offering").get("Reply-Text") == \
            "+OK filter added. [CC-Action]=[agent-offering]"
        c.command("sendevent CUSTOM", [("Event-Subclass", "callcenter::info"), ("CC-Action", "member-queue-start")])
        c.command("sendevent CUSTOM", [("Event-Subclass", "callcenter::info"), ("CC-Action", "agent-offering")])
        got = c.events_until(lambda e: e.name == "CUSTOM", timeout=3)
        assert [e.get("CC-Action") for e in got] == ["agent-offering"]
        assert all(e.name != "HEARTBEAT" for e in got)
        assert c.command("filter delete CC-Action").get("Reply-Text") == "+OK filter deleted. [CC-Action][]"
        assert c.command("filter Unique-ID").get("Reply-Text") == "-ERR invalid syntax"
        assert c.command("noevents").get("Reply-Text") == "+OK no longer listening for events"
        assert c.command("noevents").get("Reply-Text") == "-ERR not listening for events"
        assert c.command("event plain NOT_AN_EVENT").get("Reply-Text") == "-ERR no keywords supplied"
        assert c.command("log debug").get("Reply-Text") == "+OK log level debug [7]"
        assert c.command("log loud").get("Reply-Text") == "-ERR invalid log level"
        assert c.command("nolog").get("Reply-Text") == "+OK no longer logging"
        assert c.command("linger").get("Reply-Text") == "-ERR not controlling a session"
        assert c.command("frobnicate").get("Reply-Text") == "-ERR command not found"
    finally:
        c.close()


@pytest.mark.parametrize("fmt", ["json", "xml", "plain"])
def test_event_formats(switch, fmt: str) -> None:
    c = RawClient(switch.port)
    try:
        assert c.command(f"event {fmt} CUSTOM hotline::test").get("Reply-Text") == f"+OK event listener enabled {fmt}"
        c.command("sendevent CUSTOM", [("Event-Subclass", "hotline::test"), ("Caller", "张三 <1>&%")],
                  body="free text\n")
        msg = c.read()
        while not msg.content_type.startswith("text/event"):
            msg = c.read()
        assert msg.content_type == f"text/event-{fmt}"
        ev = P.parse_event(msg)
        assert isinstance(ev, P.Event)
        assert ev.get("Caller") == "张三 <1>&%" and ev.get("Event-Subclass") == "hotline::test"
        assert ev.name == "CUSTOM" and ev.body == "free text\n"
    finally:
        c.close()


def test_myevents_binds_one_call_and_linger_notice(switch) -> None:
    other = RawClient(switch.port)
    c = RawClient(switch.port)
    try:
        uuid = other.api("originate sim/answer &park()").split()[1]
        noise = other.api("originate sim/answer &park()").split()[1]
        assert c.command(f"myevents {uuid} json").get("Reply-Text") == "+OK Events Enabled"
        assert c.command("linger 5").get("Reply-Text") == "+OK will linger 5 seconds"
        other.api(f"uuid_kill {noise}")
        other.api(f"uuid_kill {uuid}")
        got = c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
        assert {e.get("Unique-ID") for e in got} == {uuid}
        notice = c.read()
        assert notice.content_type == "text/disconnect-notice"
        assert notice.get("Content-Disposition") == "linger" and notice.get("Controlled-Session-UUID") == uuid
        assert c.command("exit").get("Reply-Text") == "+OK bye"
    finally:
        c.close()
        other.close()


def test_sendmsg_execute_and_hangup(switch) -> None:
    c = RawClient(switch.port)
    try:
        c.command("event plain CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP")
        uuid = c.api("originate sim/answer &park()").split()[1]
        reply = c.command(f"sendmsg {uuid}", [("call-command", "execute"), ("execute-app-name", "set"),
                                              ("execute-app-arg", "ticket=T-1001"), ("Event-UUID", "app-1")])
        assert reply.get("Reply-Text") == "+OK"
        done = c.events_until(lambda e: e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "set")
        start = next(e for e in done if e.name == "CHANNEL_EXECUTE" and e.get("Application") == "set")
        assert start.get("Application-UUID") == done[-1].get("Application-UUID") == "app-1"
        assert c.api(f"uuid_getvar {uuid} ticket") == "T-1001"
        assert c.command("sendmsg nope", [("call-command", "hangup")]).get("Reply-Text") == \
            "-ERR invalid session id [nope]"
        c.command(f"sendmsg {uuid}", [("call-command", "hangup"), ("hangup-cause", "CALL_REJECTED")])
        hangup = c.events_until(lambda e: e.name == "CHANNEL_HANGUP")[-1]
        assert hangup.get("Hangup-Cause") == "CALL_REJECTED"
    finally:
        c.close()


# ---- configuration ------------------------------------------------------------------------------------
def test_reloadxml_rejects_broken_xml_like_freeswitch_and_keeps_the_old_tree(tmp_path: Path) -> None:
    write_flow(tmp_path / "flows")
    compile_flows(tmp_path / "flows", tmp_path / "conf")
    with running_switch(tmp_path / "conf") as sw:
        c = RawClient(sw.port)
        try:
            assert c.api("reloadxml") == "+OK [Success]\n"
            located = c.api("xml_locate dialplan context name hotline_esltest")
            assert located.startswith('<context name="hotline_esltest">')
            assert c.api("xml_locate dialplan context name nowhere") == "can't find anything\n"
            assert c.api("xml_locate dialplan context") == "-Error bad args\n"
            broken = tmp_path / "conf" / "dialplan" / "hotline_esltest.xml"
            broken.write_text(broken.read_text(encoding="utf-8").replace("</context>", "", 1), encoding="utf-8")
            reply = c.api("reloadxml")
            assert reply.startswith("+OK [[error near line ") and "hotline_esltest.xml" in reply
            assert c.api("xml_locate dialplan context name hotline_esltest").startswith("<context")
            uuid = c.api("originate sim/answer 95001 XML public").split()[1]
            assert c.api(f"uuid_getvar {uuid} hotline_flow") == "esltest"
        finally:
            c.close()


def test_callcenter_config_is_delegated_to_the_callcenter_module(switch) -> None:
    from fsgen.sim.api import API_COMMANDS
    from fsgen.sim.apps import load_all

    load_all()
    c = RawClient(switch.port)
    try:
        reply = c.api("callcenter_config queue list")
        if "callcenter_config" in API_COMMANDS:
            assert not reply.startswith("-ERR callcenter_config Command not found")
        else:
            assert reply.startswith("-ERR callcenter_config Command not found")
    finally:
        c.close()


def test_scripted_callee_syntax() -> None:
    s = parse_script("13800001111/answer:3/dtmf:12#@2/talk:10")
    assert (s.number, s.outcome, s.delay, s.dtmf, s.talk) == ("13800001111", "answer", 3.0, [(2.0, "12#")], 10.0)
    assert parse_script("busy:1").outcome == "USER_BUSY"
    assert "unknown sim/ step" in parse_script("answer/sing")
    assert "digits" in parse_script("dtmf:x")


def test_loopback_and_user_dial_strings(switch) -> None:
    c = RawClient(switch.port)
    try:
        c.command("event plain DTMF CHANNEL_EXECUTE CHANNEL_HANGUP_COMPLETE")
        a = c.api("originate {origination_uuid=0a0a0a0a-0000-4000-8000-00000000000a}loopback/95001/public &park()")
        assert a == "+OK 0a0a0a0a-0000-4000-8000-00000000000a\n"
        b = c.api("uuid_getvar 0a0a0a0a-0000-4000-8000-00000000000a other_loopback_leg_uuid").strip()
        c.events_until(lambda e: e.get("Unique-ID") == b and e.get("Application") == "play_and_get_digits")
        assert c.api("uuid_send_dtmf 0a0a0a0a-0000-4000-8000-00000000000a 7").startswith("+OK")
        dtmf = c.events_until(lambda e: e.name == "DTMF")[-1]
        assert dtmf.get("Unique-ID") == b and dtmf.get("DTMF-Digit") == "7"
        c.api("uuid_kill 0a0a0a0a-0000-4000-8000-00000000000a")
        c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") == b)
        assert c.api("originate user/4711 &park()") == "-ERR SUBSCRIBER_ABSENT\n"
    finally:
        c.close()


def test_myevents_without_linger_closes_when_the_call_ends(switch) -> None:
    other = RawClient(switch.port)
    c = RawClient(switch.port)
    try:
        uuid = other.api("originate sim/answer/talk:0.5 &park()").split()[1]
        assert c.command(f"myevents {uuid}").get("Reply-Text") == "+OK Events Enabled"
        c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE")
        notice = c.read()
        assert notice.content_type == "text/disconnect-notice"
        assert notice.get("Controlled-Session-UUID") == uuid and notice.get("Content-Disposition") == "disconnect"
        with pytest.raises(EOFError):
            c.read()
        assert other.command("myevents 00000000-0000-4000-8000-000000000000 plain").get("Reply-Text") == \
            "-ERR invalid uuid"
    finally:
        c.close()
        other.close()



def test_outbound_socket_apps_are_served_while_the_inbound_socket_is_open(tmp_path: Path) -> None:
    """A call handed to an outbound ESL app (the ``socket`` application) must not stall the
    inbound side, and the app's commands must run on the real clock."""
    import socket
    import threading

    app = socket.socket()
    app.bind(("127.0.0.1", 0))
    app.listen(1)
    app.settimeout(10)
    port = app.getsockname()[1]
    reader = P.Reader(P.MESSAGES)

    def serve_one() -> None:
        conn, _ = app.accept()
        conn.settimeout(10)
        conn.sendall(P.encode_command("connect"))
        while not isinstance(reader.next(), P.Message):
            reader.feed(conn.recv(65536))
        conn.sendall(P.encode_command("sendmsg", [("call-command", "execute"), ("execute-app-name", "set"),
                                                  ("execute-app-arg", "from_app=yes")]))
        time.sleep(0.3)
        conn.sendall(P.encode_command("exit"))
        time.sleep(0.2)
        conn.close()

    worker = threading.Thread(target=serve_one, daemon=True)
    worker.start()
    write_flow(tmp_path / "flows")
    compile_flows(tmp_path / "flows", tmp_path / "conf")
    (tmp_path / "conf" / "dialplan" / "socket_test.xml").write_text(
        '<include><context name="socket_test"><extension name="s"><condition field="destination_number" '
        f'expression="^7000$"><action application="socket" data="127.0.0.1:{port} async full"/>'
        '</condition></extension></context></include>\n', encoding="utf-8")
    try:
        with running_switch(tmp_path / "conf") as sw:
            c = RawClient(sw.port)
            try:
                c.command("event plain CHANNEL_EXECUTE CHANNEL_HANGUP_COMPLETE")
                started = time.monotonic()
                uuid = c.api("originate sim/answer 7000 XML socket_test").split()[1]
                got = c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") == uuid)
                assert any(e.get("Application") == "set" and e.get("Application-Data") == "from_app=yes"
                           for e in got)
                assert got[-1].get("variable_from_app") == "yes"
                assert time.monotonic() - started < 5
            finally:
                c.close()
    finally:
        worker.join(timeout=5)
        app.close()


def test_bridge_events(switch) -> None:
    c = RawClient(switch.port)
    try:
        c.command("event plain CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE")
        uuid = c.api("originate sim/answer &bridge(sim/answer:0.3/talk:0.5)").split()[1]
        got = c.events_until(lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") == uuid)
        bridge = next(e for e in got if e.name == "CHANNEL_BRIDGE")
        assert bridge.get("Unique-ID") == uuid and bridge.get("Bridge-A-Unique-ID") == uuid
        peer = bridge.get("Other-Leg-Unique-ID")
        assert peer and peer == bridge.get("Bridge-B-Unique-ID") and peer != uuid
        names = [e.name for e in got if e.get("Unique-ID") == uuid]
        assert names.index("CHANNEL_BRIDGE") < names.index("CHANNEL_UNBRIDGE") < names.index("CHANNEL_HANGUP_COMPLETE")
    finally:
        c.close()
