"""The ``socket`` application speaks real outbound ESL: greenswitch handlers work unchanged."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_app import protocol as P
from fsgen.sim.testing import apps_run, call, make_conf, projection, simulator, write_wav
from tests.sim_socket_support import reply_reader, socket_call

GREENSWITCH_APP = textwrap.dedent('''
    import json, sys
    from gevent import monkey; monkey.patch_all()
    import gevent
    from greenswitch.esl import OutboundESLServer

    log = open(sys.argv[1], "a")

    class Handler:
        def __init__(self, session):
            self.session = session

        def run(self):
            s = self.session
            s.connect()
            s.myevents()
            s.linger()
            s.call_command("set", "customer_name=张三丰")
            s.playback(sys.argv[2], block=True)
            digit = s.play_and_get_digits(1, 1, 2, 3000, "#", sys.argv[2], sys.argv[2], "choice", "^[12]$",
                                          1000, "9999 XML t", block=True)
            s.call_command("set", "seen=%s" % digit, block=True)
            log.write(json.dumps({"uuid": s.uuid, "caller": s.caller_id_number, "digit": digit}) + "\\n")
            log.flush()
            s.hangup("NORMAL_CLEARING")

    server = OutboundESLServer(bind_address="127.0.0.1", bind_port=int(sys.argv[3]), application=Handler)

    def report_port():
        while not server._running:
            gevent.sleep(0.01)
        print(server.bound_port, flush=True)

    gevent.spawn(report_port)
    server.listen()
''')


@pytest.fixture
def greenswitch_app(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    script = tmp_path / "app.py"
    script.write_text(GREENSWITCH_APP, encoding="utf-8")
    log = tmp_path / "app.log"
    prompt = write_wav(tmp_path / "sounds" / "p.wav", 1.0)
    probe = _listener()  # greenswitch cannot bind port 0: pick a free ephemeral port for it
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen([sys.executable, str(script), str(log), str(prompt), str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            pytest.fail("greenswitch app did not start: %s" % (proc.stderr.read() if proc.stderr else ""))
        yield int(line), log, prompt.parent
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_greenswitch_outbound_handler_drives_the_call(tmp_path: Path, greenswitch_app) -> None:
    port, log, sounds = greenswitch_app
    plan = """<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">
  <action application="answer"/>
  <action application="socket" data="127.0.0.1:%d async full"/>
  <action application="set" data="not_reached=1"/>
</condition></extension></context>""" % port
    sim = simulator(make_conf(tmp_path / "conf", plan), sounds=sounds)
    started = time.monotonic()
    call(sim, "100", "t", caller="13812345678", dtmf=[(2.5, "2")])
    assert time.monotonic() - started < 20
    assert not sim.trace.errors(), sim.trace.errors()
    ran = apps_run(sim)
    assert ran[:6] == [("answer", ""), ("socket", "127.0.0.1:%d async full" % port),
                       ("set", "customer_name=张三丰"), ("playback", str(sounds / "p.wav")),
                       ("play_and_get_digits", "1 1 2 3000 # {} {} choice ^[12]$ 1000 9999 XML t".format(sounds / "p.wav", sounds / "p.wav")),
                       ("set", "seen=2")]
    assert ran[-1] == ("hangup", "NORMAL_CLEARING")
    assert ("set", "not_reached=1") not in ran
    p = projection(sim, times=True)
    # the prompt played for its virtual second, the digit arrived 35 ms after it was sent
    stop = next(x for x in p if x[1] == "playback_stop")
    assert 1.0 <= stop[0] < 1.5
    assert next(x for x in p if x[1] == "dtmf")[0] == pytest.approx(2.535, abs=0.2)
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["caller"] == "13812345678" and record["digit"] == "2"
    assert record["uuid"] == next(r for r in sim.trace.records if r["leg"] == "b")["uuid"]


def _listener() -> socket.socket:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv


def test_closing_without_resume_hangs_up_and_nothing_listening_continues(tmp_path: Path) -> None:
    closed_port = _listener()
    port = closed_port.getsockname()[1]
    closed_port.close()  # nobody listens there now
    plan = """<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">
  <action application="answer"/>
  <action application="socket" data="127.0.0.1:%d async full"/>
  <action application="log" data="INFO continued"/>
  <action application="socket" data="10.0.0.1:8084 async full"/>
  <action application="log" data="INFO still here"/>
</condition></extension></context>""" % port
    sim = simulator(make_conf(tmp_path / "conf", plan))
    call(sim, "100", "t")
    texts = [r.get("text") for r in sim.trace.records if r["event"] == "log"]
    assert "continued" in texts and "still here" in texts
    assert [e["kind"] for e in sim.trace.errors()] == ["socket_refused"]


def test_raw_outbound_session_api_and_disconnect(tmp_path: Path) -> None:
    """A hand-written app: connect, api, exit without resume -> the call is hung up."""
    seen: dict = {}

    def peer(conn: socket.socket) -> None:
        recv = reply_reader(conn)
        conn.sendall(P.encode_command("connect"))
        seen["connect"] = recv()
        conn.sendall(P.encode_command("api uuid_getvar {} caller_tier".format(P.decoded_headers(seen["connect"])["Unique-ID"])))
        seen["api"] = recv()
        conn.sendall(P.encode_command("exit"))
        seen["exit"] = recv()
        seen["after"] = recv()

    sim = socket_call(tmp_path, peer, before='<action application="set" data="caller_tier=金卡"/>',
                      after='<action application="log" data="INFO not reached"/>')
    raw = seen["connect"]
    assert raw.get("Reply-Text") == "%2BOK" and raw.content_type == "command/reply"  # FreeSWITCH url-encodes it
    connect = P.decoded_headers(raw)
    assert connect["Reply-Text"] == "+OK" and connect["Socket-Mode"] == "async"
    assert connect["variable_caller_tier"] == "金卡" and connect["Caller-Destination-Number"] == "100"
    assert seen["api"].text == "金卡"
    assert seen["exit"].get("Reply-Text") == "+OK bye"
    assert seen["after"].content_type == "text/disconnect-notice"
    assert projection(sim)[-1] == ("hangup", "NORMAL_CLEARING")
    assert not any(r.get("text") == "not reached" for r in sim.trace.records)
