"""esl_app.switch: the inbound Event Socket client, against a real ``fsgen sim serve`` process
(127.0.0.1, ephemeral ports, always stopped) and against scripted misbehaving peers."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import gevent
import pytest
from gevent.server import StreamServer

from esl_app import protocol as P
from esl_app.switch import AuthError, SwitchClosed, SwitchConnection, SwitchError, SwitchLink
from tests.esl_app_support.waiting import wait_for
from tests.sim_serve_support import PASSWORD, compile_flows, running_switch, write_flow

CALL = "{origination_caller_id_number=13800138000}sim/answer/dtmf:2@0.3 95001 XML public"  # 2: hang up


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("switch")
    write_flow(root / "flows")
    compile_flows(root / "flows", root / "conf")
    return root / "conf"


@pytest.fixture(scope="module")
def switch(conf: Path):
    with running_switch(conf) as sw:
        yield sw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_auth_api_and_clean_close(switch) -> None:
    conn = SwitchConnection("127.0.0.1", switch.port, PASSWORD)
    try:
        assert conn.api("hash insert/t/k/张三") == "+OK\n"
        assert conn.api("hash select/t/k") == "张三"
        assert conn.api("no_such_command").startswith("-ERR")
    finally:
        conn.close()
    assert conn.closed
    with pytest.raises(SwitchClosed):
        conn.api("status")


def test_wrong_password_and_nobody_listening_are_clear_errors(switch) -> None:
    with pytest.raises(AuthError, match="password"):
        SwitchConnection("127.0.0.1", switch.port, "wrong")
    started = time.monotonic()
    with pytest.raises(SwitchError, match="cannot connect"):
        SwitchConnection("127.0.0.1", _free_port(), PASSWORD)
    assert time.monotonic() - started < 2


def test_pipelined_api_replies_come_back_in_order(switch) -> None:
    conn = SwitchConnection("127.0.0.1", switch.port, PASSWORD)
    try:
        n = 3000
        commands = [f"hash insert/pipe/k{i}/v{i}" for i in range(n)] + [f"hash select/pipe/k{i}" for i in range(n)]
        replies = list(conn.api_many(commands, window=500, chunk=50))
        assert replies[:n] == ["+OK\n"] * n
        assert replies[n:] == [f"v{i}" for i in range(n)]
    finally:
        conn.close()


def test_bgapi_result_arrives_as_background_job(switch) -> None:
    jobs: list[P.Event] = []

    def on_event(msg: P.Message) -> None:
        ev = P.parse_event(msg)
        assert isinstance(ev, P.Event)
        jobs.append(ev)

    conn = SwitchConnection("127.0.0.1", switch.port, PASSWORD, on_event=on_event)
    try:
        conn.subscribe(["BACKGROUND_JOB"])
        conn.api("hash insert/bg/key/value")
        job = conn.bgapi("hash select/bg/key")
        assert wait_for(lambda: any(e.get("Job-UUID") == job for e in jobs))
        found = next(e for e in jobs if e.get("Job-UUID") == job)
        assert found.body == "value" and found.get("Job-Command") == "hash"
    finally:
        conn.close()


def test_filtered_subscription_sees_only_hotline_calls(switch) -> None:
    seen: list[P.Event] = []
    conn = SwitchConnection("127.0.0.1", switch.port, PASSWORD, on_event=lambda m: seen.append(P.parse_event(m)))
    try:
        conn.subscribe(["CHANNEL_HANGUP_COMPLETE"])
        conn.add_filter("variable_hotline_flow", "/./")
        plain = conn.api("originate sim/answer &hangup()").split()[1]
        hotline = conn.api(f"originate {CALL}").split()[1]
        assert wait_for(lambda: any(e.get("Unique-ID") == hotline for e in seen), timeout=30)
        gevent.sleep(0.3)
        assert {e.get("Unique-ID") for e in seen} == {hotline}
        assert plain not in {e.get("Unique-ID") for e in seen}
        assert seen[0].get("variable_hotline_flow") == "esltest"
    finally:
        conn.close()


def test_link_reconnects_with_backoff_and_resubscribes(conf: Path) -> None:
    port = _free_port()
    connects: list[int] = []
    events: list[str] = []
    link = SwitchLink("127.0.0.1", port, PASSWORD, events=["CHANNEL_HANGUP_COMPLETE"],
                      on_event=lambda m: events.append(P.parse_event(m).get("Unique-ID")),
                      on_connect=[lambda c: connects.append(1)], backoff_min=0.05, backoff_max=0.5)
    try:
        link.start()
        gevent.sleep(0.3)
        assert not link.connected  # nothing listening yet: retrying, not failing
        with running_switch(conf, "--listen", f"127.0.0.1:{port}"):
            assert wait_for(lambda: link.connected and connects == [1])
        assert wait_for(lambda: not link.connected)
        with running_switch(conf, "--listen", f"127.0.0.1:{port}"):
            assert wait_for(lambda: link.connected and len(connects) == 2)
            uuid = link.connection(1).api("originate sim/answer &hangup()").split()[1]
            assert wait_for(lambda: uuid in events)  # the subscription came back with the connection
    finally:
        link.stop()


# --- misbehaving peers -------------------------------------------------------------------------

def _fake_switch(script):
    server = StreamServer(("127.0.0.1", 0), script)
    server.start()
    return server


def test_peer_vanishing_mid_command_fails_the_waiter() -> None:
    def script(sock, _addr):
        sock.sendall(b"Content-Type: auth/request\n\n")
        sock.recv(1024)
        sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        sock.recv(1024)
        sock.sendall(b"Content-Type: api/response\nContent-Length: 10\n\n+OK")  # 3 of 10 bytes, then gone
        sock.close()

    server = _fake_switch(script)
    try:
        conn = SwitchConnection("127.0.0.1", server.server_port, "x", timeout=5)
        started = time.monotonic()
        with pytest.raises(SwitchClosed, match="peer closed the stream"):
            conn.api("status")
        assert time.monotonic() - started < 2
    finally:
        server.stop()


def test_silent_peer_times_out_instead_of_hanging() -> None:
    def script(sock, _addr):
        sock.sendall(b"Content-Type: auth/request\n\n")
        gevent.sleep(10)

    server = _fake_switch(script)
    try:
        started = time.monotonic()
        with pytest.raises(SwitchError, match="did not answer"):
            SwitchConnection("127.0.0.1", server.server_port, "x", timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        server.stop(timeout=0.1)


def test_replies_split_at_every_byte_and_chinese_bodies() -> None:
    body = "王芳 欠费 128.50 元".encode()
    wire = (b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
            + b"Content-Type: api/response\nContent-Length: " + str(len(body)).encode() + b"\n\n" + body)

    def script(sock, _addr):
        sock.sendall(b"Content-Type: auth/request\n\n")
        sock.recv(1024)
        for i in range(len(wire)):
            sock.sendall(wire[i:i + 1])
            if i == 56:
                sock.recv(1024)  # the api command arrives once auth was answered
            gevent.sleep(0)
        gevent.sleep(0.5)

    server = _fake_switch(script)
    try:
        conn = SwitchConnection("127.0.0.1", server.server_port, "x", timeout=5)
        assert conn.api("anything") == "王芳 欠费 128.50 元"
        conn.close()
    finally:
        server.stop(timeout=0.1)


def test_not_an_event_socket_is_named() -> None:
    def script(sock, _addr):
        sock.sendall(b"HTTP/1.1 400 Bad Request\nContent-Type: text/html\n\n")
        gevent.sleep(0.5)

    server = _fake_switch(script)
    try:
        with pytest.raises(SwitchError, match="not a FreeSWITCH Event Socket"):
            SwitchConnection("127.0.0.1", server.server_port, "x", timeout=2)
    finally:
        server.stop(timeout=0.1)


# --- configuration of the switch-facing side ----------------------------------------------------

def test_freeswitch_section_switches_the_switch_side_on(tmp_path: Path) -> None:
    from esl_app.config import ConfigError, load_config

    assert not load_config(None, env={}).fs_enabled
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("freeswitch:\n  port: 8022\n  cache: yes\nrecords:\n  spool: spool/records.jsonl\n", encoding="utf-8")
    config = load_config(cfg, env={"HOTLINE_ESL_PASSWORD": "pw"})
    assert (config.fs_enabled, config.fs_port, config.fs_cache, config.fs_records, config.fs_password) == \
        (True, 8022, True, True, "pw")
    assert config.records_spool == str(tmp_path / "spool" / "records.jsonl")
    assert load_config(None, env={"HOTLINE_FS_HOST": "127.0.0.1", "HOTLINE_FS_CACHE": "1"}).fs_cache
    cfg.write_text("freeswitch:\n  cache: maybe\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    assert f"{cfg}:2: freeswitch.cache must be true or false" in str(err.value)
