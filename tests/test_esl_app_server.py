"""The outbound socket path over real TCP on 127.0.0.1: a scripted switch dials esl_app.

Every test runs on SQLite and on a real PostgreSQL server (``db_url`` is parametrised).
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import gevent
import pytest

from esl_app.lookups import LookupRegistry, registry
from tests.esl_app_support.data import add_bill, add_customer, blacklist
from tests.esl_app_support.fake_fs import FakeSwitch
from tests.esl_app_support.harness import RunningServer

pytest_plugins = ["tests.esl_app_support.fixtures"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_session_ended(result):
    assert result.commands[:2] == ["connect", "resume"]
    assert result.exited, "esl_app must send exit so the dialplan continues"


@pytest.mark.parametrize("cli", ["13812345678", "+8613812345678", "008613812345678", "013812345678",
                                 "+86 138 1234 5678", "0755-2345-6789", "075523456789", "+8675523456789"])
def test_known_caller_in_every_cli_form(served, cli):
    c = add_customer("王芳", "950001", ["138 1234 5678", "0755 2345 6789"], tier="platinum", agent="agent1001")
    add_bill(c, "128.50", 12)
    result = served.call(cli, {"hotline_lookup": "customer,arrears"})
    assert_session_ended(result)
    v = result.variables
    assert v["hotline_customer_known"] == "true"
    assert v["hotline_customer_name"] == "王芳"  # non-ASCII survives the wire both ways
    assert v["hotline_customer_tier"] == "platinum" and v["cc_base_score"] == "3000"
    assert v["hotline_designated_agent"] == "agent1001"
    assert (v["hotline_arrears"], v["hotline_arrears_amount"], v["hotline_arrears_days"]) == ("true", "128.50", "12")
    assert v["hotline_lookup_status"] == "ok"
    # hotline_lookup_status is set last, after every lookup variable (esl.set_app: api by default)
    assert result.executed[-1][0] == "uuid_setvar_multi"
    assert "myevents" not in result.commands  # nothing was executed, so no event was needed
    assert result.executed[-1][1].endswith("hotline_lookup_status=ok")


def test_unknown_caller(served):
    add_customer("王芳", "950001", ["13812345678"])
    result = served.call("13999999999", {"hotline_lookup": "customer,arrears"})
    assert_session_ended(result)
    v = result.variables
    assert (v["hotline_customer_known"], v["cc_base_score"], v["hotline_arrears"]) == ("false", "0", "false")
    assert v["hotline_lookup_status"] == "ok"


def test_vip_tiers_order_queue_scores(served):
    add_customer("白金", "1", ["13100000001"], tier="platinum")
    add_customer("黄金", "2", ["13100000002"], tier="gold")
    add_customer("普通", "3", ["13100000003"], tier="normal")
    scores = [int(served.call(n, {"hotline_lookup": "customer"}).variables["cc_base_score"])
              for n in ("13100000001", "13100000002", "13100000003", "13100000004")]
    assert scores[0] > scores[1] > scores[2] == scores[3] == 0


def test_blacklisted_prefix_is_rejected_by_esl_app(served):
    blacklist("170", prefix=True, reason="骚扰号段")
    result = served.call("+8617012345678", {"hotline_lookup": "blacklist,customer"})
    assert result.variables["hotline_blacklisted"] == "true"
    assert ("hangup", "CALL_REJECTED") in result.executed
    assert result.hung_up and result.cause == "CALL_REJECTED"
    assert result.exited
    # a caller outside the prefix goes through
    ok = served.call("13812345678", {"hotline_lookup": "blacklist"})
    assert ok.variables["hotline_blacklisted"] == "false" and not ok.hung_up


def test_blacklist_notice_then_reject(config, database):
    config.blacklist_action, config.blacklist_notice = "notice", "/usr/share/hotline/rejected.wav"
    blacklist("13900001111")
    running = RunningServer(config, database)
    try:
        result = running.call("13900001111", {"hotline_lookup": "blacklist"})
    finally:
        running.close()
    apps = [app for app in result.executed if app[0] not in ("set", "multiset", "uuid_setvar_multi")]
    assert apps == [("playback", "/usr/share/hotline/rejected.wav"), ("hangup", "CALL_REJECTED")]


def test_pin_ok_fail_and_lock_over_the_socket(served):
    add_customer("孙丽", "950004", ["13512345678"], pin="2468")
    ok = served.call("13512345678", {"hotline_lookup": "customer,verify_pin", "hotline_pin": "2468"})
    assert (ok.variables["hotline_pin_ok"], ok.variables["hotline_pin_locked"]) == ("true", "false")
    states = [served.call("13512345678", {"hotline_lookup": "verify_pin", "hotline_pin": "0000"}).variables
              for _ in range(3)]
    assert [(s["hotline_pin_ok"], s["hotline_pin_locked"]) for s in states] == [
        ("false", "false"), ("false", "false"), ("false", "true")]
    locked = served.call("13512345678", {"hotline_lookup": "verify_pin", "hotline_pin": "2468"}).variables
    assert (locked["hotline_pin_ok"], locked["hotline_pin_locked"]) == ("false", "true")
    assert locked["hotline_lookup_status"] == "ok"


def test_survey_over_the_socket(served):
    from esl_app.models import SurveyScore

    result = served.call("13812345678", {"hotline_lookup": "survey", "hotline_survey_score": "5"})
    assert result.variables["hotline_survey_saved"] == "true"
    assert SurveyScore.get().score == 5


def test_deadline_exceeded_still_ends_the_session(config, database):
    slow = registry.copy()
    slow.register("slow", lambda ctx: time.sleep(1.2) or {}, defaults={"hotline_slow": "false"})
    config.lookup_deadline_ms = 150
    add_customer("王芳", "950001", ["13812345678"])
    running = RunningServer(config, database, slow)
    try:
        started = time.perf_counter()
        result = running.call("13812345678", {"hotline_lookup": "slow,customer"})
        elapsed = time.perf_counter() - started
    finally:
        running.close()
    assert_session_ended(result)
    assert result.variables["hotline_lookup_status"] == "failed"
    assert result.variables["hotline_slow"] == "false"
    assert result.variables["hotline_customer_known"] == "true"  # the next lookup still ran
    assert elapsed < 0.9  # the deadline (0.15 s), not the handler (1.2 s), decided; room for a loaded CI runner


def test_database_locked_for_writes_fails_the_write_lookup_only(config, database, db_url):
    """A writer holding the database: the survey write hits the deadline, reads still answer."""
    add_customer("王芳", "950001", ["13812345678"])
    config.lookup_deadline_ms = 300
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(db_url[len("sqlite:///"):], isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO survey_score (call_uuid, caller, flow, score, created_at) "
                       "VALUES ('x', '', '', 1, '2026-01-01')")
        release = holder.rollback
    else:
        import psycopg2

        holder = psycopg2.connect(db_url)
        cur = holder.cursor()
        cur.execute("LOCK TABLE survey_score IN ACCESS EXCLUSIVE MODE")
        release = holder.rollback
    running = RunningServer(config, database)
    try:
        result = running.call("13812345678", {"hotline_lookup": "customer,survey", "hotline_survey_score": "3"})
    finally:
        release()
        holder.close()
        running.close()
    assert_session_ended(result)
    assert result.variables["hotline_customer_known"] == "true"
    assert result.variables["hotline_survey_saved"] == "false"
    assert result.variables["hotline_lookup_status"] == "failed"


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite has no server to stop
def test_postgres_stopped_mid_test_then_back(config, database, db_url, request):
    cluster = request.getfixturevalue("pg_cluster")
    add_customer("王芳", "950001", ["13812345678"], tier="gold")
    running = RunningServer(config, database)
    try:
        before = running.call("13812345678", {"hotline_lookup": "customer,arrears"})
        assert before.variables["hotline_lookup_status"] == "ok"
        cluster.stop("immediate")
        try:
            started = time.perf_counter()
            during = running.call("13812345678", {"hotline_lookup": "customer,arrears"})
            elapsed = time.perf_counter() - started
        finally:
            cluster.start()
        assert_session_ended(during)
        assert during.variables["hotline_lookup_status"] == "failed"
        assert during.variables["hotline_customer_known"] == "false"  # default routing
        assert during.variables["cc_base_score"] == "0"
        assert elapsed < 3
        after = running.call("13812345678", {"hotline_lookup": "customer"})  # reconnects by itself
        assert after.variables["hotline_lookup_status"] == "ok"
        assert after.variables["cc_base_score"] == "2000"
    finally:
        running.close()


def test_frames_split_at_every_byte(served):
    add_customer("欧阳娜娜", "950007", ["13612345678"], tier="gold")
    result = served.call("13612345678", {"hotline_lookup": "customer"}, split_bytes=True, caller_name="欧阳")
    assert result.variables["hotline_customer_name"] == "欧阳娜娜"
    assert result.variables["hotline_lookup_status"] == "ok"


def test_peer_vanishing_or_garbling_does_not_hurt_the_next_call(served):
    add_customer("王芳", "950001", ["13812345678"])
    served.call("13812345678", {"hotline_lookup": "customer"}, vanish_after=1)  # gone after connect
    served.call("13812345678", {"hotline_lookup": "customer"}, vanish_after=2)  # gone before the variables
    garbled = served.call("13812345678", {"hotline_lookup": "customer"}, garbage_after=1)
    assert not garbled.exited  # esl_app dropped a peer that sent a malformed Content-Length
    result = served.call("13812345678", {"hotline_lookup": "customer"})
    assert result.variables["hotline_customer_known"] == "true"


def test_silent_switch_is_dropped_after_the_command_timeout(config, database):
    config.command_timeout_ms = 300
    running = RunningServer(config, database)
    try:
        started = time.perf_counter()
        result = running.call("13812345678", {"hotline_lookup": "customer"}, silent_after=1, timeout=5)
        elapsed = time.perf_counter() - started
    finally:
        running.close()
    assert result.commands[:2] == ["connect", "resume"]
    assert elapsed < 2.5


def test_no_lookup_requested_still_exits(served):
    result = served.call("13812345678", {})
    assert_session_ended(result)
    assert result.variables["hotline_lookup_status"] == "ok"


def test_many_concurrent_calls(served):
    for i in range(20):
        add_customer(f"客户{i}", f"9600{i}", [f"1370000{i:04d}"], tier="gold" if i % 2 else "normal")
    jobs = [gevent.spawn(served.call, f"1370000{i:04d}", {"hotline_lookup": "customer,arrears"}) for i in range(20)]
    gevent.joinall(jobs, timeout=20, raise_error=True)
    for i, job in enumerate(jobs):
        v = job.value.variables
        assert v["hotline_customer_name"] == f"客户{i}"
        assert v["cc_base_score"] == ("2000" if i % 2 else "0")


def test_esl_app_down_leaves_the_pessimistic_default():
    """No server: the socket app fails, and the dialplan's hotline_lookup_status=failed stays."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        FakeSwitch("127.0.0.1", port).call("13812345678", {"hotline_lookup": "customer"}, timeout=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_stops_accepting_and_lets_calls_finish(db_url, database, tmp_path):
    """A real `esl-app serve` process: SIGTERM during a lookup; that call completes, new ones are refused."""
    database.close()
    port = _free_port()
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text(f"esl: {{port: {port}, shutdown_grace_s: 10}}\n"
                   f"database: {{url: '{db_url}'}}\n"
                   "lookups: {deadline_ms: 3000, modules: [tests.esl_app_support.slow_lookup]}\n"
                   "logging: {format: kv, level: debug}\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "esl_app.cli", "serve", "--config", str(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"esl-app serve exited: {proc.stderr.read()}")
                time.sleep(0.05)
        switch = FakeSwitch("127.0.0.1", port)
        in_flight = gevent.spawn(switch.call, "13812345678", {"hotline_lookup": "slow"})
        gevent.sleep(0.25)  # the slow lookup is running now
        proc.send_signal(signal.SIGTERM)
        result = in_flight.get(timeout=10)
        assert result.variables["hotline_slow"] == "true"
        assert result.variables["hotline_lookup_status"] == "ok"
        assert result.exited
        assert proc.wait(timeout=10) == 0
        with pytest.raises(OSError):
            switch.call("13812345678", {"hotline_lookup": "customer"}, timeout=2)
        logs = proc.stderr.read()
        assert "13812345678" not in logs  # phone numbers masked in the structured logs
        assert "caller=*******5678" in logs  # the call's own line (debug)
        summary = [line for line in logs.splitlines() if "msg=\"lookup summary\"" in line]
        assert len(summary) == 1, logs  # written at stop for the calls since the last one
        assert " calls=1 " in summary[0] and " failed=0 " in summary[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def test_registry_rejects_bad_names():
    with pytest.raises(ValueError):
        LookupRegistry().register("Bad-Name", lambda ctx: {})


def _gold_caller_in_mode(config, database, set_app: str, name: str):
    """A gold customer owing 10.00 called in with esl.set_app = ``set_app``: the fake switch's result."""
    config.set_app = set_app
    c = add_customer(name, "950009", ["13812345678"], tier="gold")
    add_bill(c, "10.00", 5)
    running = RunningServer(config, database)
    try:
        return running.call("13812345678", {"hotline_lookup": "customer,arrears"})
    finally:
        running.close()


def test_multiset_mode_sets_the_same_variables(config, database):
    from esl_app.server import variable_apps

    result = _gold_caller_in_mode(config, database, "multiset", "O'Brien 王")
    v = result.variables
    assert v["hotline_customer_name"] == "O'Brien 王"  # a quote cannot ride in multiset: set on its own
    assert (v["cc_base_score"], v["hotline_arrears_amount"], v["hotline_lookup_status"]) == ("2000", "10.00", "ok")
    apps = [app for app, _arg in result.executed]
    assert apps == ["set", "multiset"]
    assert result.executed[-1][1].endswith("hotline_lookup_status=ok")
    assert variable_apps([("a", "1|2~3;4`5"), ("b", "x")], "multiset") == [("set", "a=1|2~3;4`5"), ("set", "b=x")]


def test_api_mode_sends_odd_values_by_set_and_the_rest_with_exit(config, database):
    """esl.set_app: api - one uuid_setvar_multi in the same write as exit; a value its splitter
    would alter (a quote, a ';', spaces at the ends) is set on its own first."""
    result = _gold_caller_in_mode(config, database, "api", "O'Brien; 王")
    v = result.variables
    assert v["hotline_customer_name"] == "O'Brien; 王"
    assert (v["cc_base_score"], v["hotline_arrears_amount"], v["hotline_lookup_status"]) == ("2000", "10.00", "ok")
    assert [app for app, _arg in result.executed] == ["set", "uuid_setvar_multi"]
    assert result.executed[0][1] == "hotline_customer_name=O'Brien; 王"
    assert result.executed[-1][1].endswith(";hotline_lookup_status=ok")
    assert result.commands[:3] == ["connect", "resume", "myevents"]  # events only for the executed set
    assert result.commands[-2].startswith("api uuid_setvar_multi ") and result.commands[-1] == "exit"


def test_setvar_commands_split_safe_and_odd_values():
    from esl_app.server import setvar_commands

    sets, commands = setvar_commands("u1", [("a", "1"), ("b", "x;y"), ("c", " pad"), ("d", "欧阳 娜娜"),
                                            ("e", 'say "hi"'), ("f", "back\\slash"), ("s", "ok")])
    assert sets == [("set", "b=x;y"), ("set", "c= pad"), ("set", 'e=say "hi"'), ("set", "f=back\\slash")]
    assert commands == ["api uuid_setvar_multi u1 a=1;d=欧阳 娜娜;s=ok"]
    _, many = setvar_commands("u1", [(f"v{i}", str(i)) for i in range(130)])
    assert len(many) == 3 and many[-1].endswith("v129=129")


def test_setvar_commands_quick_check_never_lets_an_odd_value_through():
    """The usual case is checked on the joined command text; it must decide exactly as checking
    every value on its own would (random values built from the characters that matter)."""
    import random
    import re

    from esl_app.server import _SETVAR_MULTI_MAX, setvar_commands

    unsafe = re.compile(r"[;'\"\\\x00-\x1f\x7f]|^ | $")

    def exact(uuid, pairs):
        odd = [p for p in pairs if unsafe.search(p[1])]
        plain = [p for p in pairs if not unsafe.search(p[1])]
        commands = [f"api uuid_setvar_multi {uuid} " + ";".join(f"{n}={v}" for n, v in plain[i:i + _SETVAR_MULTI_MAX])
                    for i in range(0, len(plain), _SETVAR_MULTI_MAX)]
        return [("set", f"{n}={v}") for n, v in odd], commands

    rng = random.Random(4)
    alphabet = ["a", "1", " ", ";", "=", "'", '"', "\\", "\n", "\t", "\x7f", "\xa0", "王", "|", "$", "{"]
    for _ in range(5000):
        pairs = [(f"v{i}", "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))))
                 for i in range(rng.randint(0, 5))]
        pairs.append(("hotline_lookup_status", "ok"))
        assert setvar_commands("u", pairs) == exact("u", pairs), pairs
    assert setvar_commands("u", []) == ([], [])


def test_a_finished_session_is_freed_without_the_cyclic_gc(served):
    """Each call's session, greenlets and socket objects go when the call ends, not at the next GC.

    Left to the cyclic GC, every call's ~40 objects piled up between collections and the
    collections cost the server tens of microseconds per call.
    """
    import gc

    from esl_app.server import HotlineSession

    def served_calls(n: int) -> int:
        deadline = time.monotonic() + 5
        while served.server.calls_served < n and time.monotonic() < deadline:
            gevent.sleep(0.01)
        gevent.sleep(0.05)  # the pool unlinks finished greenlets on the hub's next turn
        return served.server.calls_served

    served.call("13812345678", {"hotline_lookup": "customer"})  # warm-up: imports, pools, caches
    assert served_calls(1) == 1
    gc.collect()
    gc.disable()
    try:
        served.call("13812345678", {"hotline_lookup": "customer,arrears"})
        served.call("13812345678", {"hotline_lookup": "customer"}, vanish_after=2)  # ends early
        served.call("13812345678", {"hotline_lookup": "customer"}, garbage_after=1)  # dropped
        served_calls(4)
        alive = [o for o in gc.get_objects() if isinstance(o, HotlineSession)]
    finally:
        gc.enable()
    assert served.server.calls_served == 4
    assert alive == [], f"{len(alive)} finished session(s) held alive by reference cycles"
