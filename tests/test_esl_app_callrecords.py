"""Call records: one per call, written when it ends, from the switch's CHANNEL_HANGUP_COMPLETE;
spooled while the database is away and replayed when it is back (no loss, no duplicate).

The end-to-end tests run a real ``fsgen sim serve`` (the switch) and a real ``esl-app serve``
(lookups + records) on 127.0.0.1 ephemeral ports, and stop the database in the middle."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import peewee
import pytest

from esl_app.callrecords import CallRecorder, CallSummary, Spool, nodes_from_history, summarise, upsert
from esl_app.db import SCHEMA_VERSION, init_schema, open_database, schema_version
from esl_app.models import CallRecord
from tests.esl_app_support.data import add_customer
from tests.esl_app_support.process import esl_app_serving
from tests.sim_serve_support import PASSWORD, RawClient, compile_flows, running_switch

pytest_plugins = ["tests.esl_app_support.fixtures"]

T0 = 1795389998  # 2026-11-22 in epoch seconds


def hangup(uuid: str = "c0ffee00-0000-4000-8000-000000000001", **variables: str) -> dict[str, str]:
    headers = {
        "Event-Name": "CHANNEL_HANGUP_COMPLETE", "Unique-ID": uuid, "Hangup-Cause": "NORMAL_CLEARING",
        "Caller-Caller-ID-Number": "+8613812345678", "Caller-Destination-Number": "main",
        "Caller-Context": "hotline_water",
        "variable_hotline_flow": "water", "variable_hotline_did": "96116",
        "variable_start_uepoch": str(T0 * 1_000_000), "variable_answer_uepoch": str((T0 + 1) * 1_000_000),
        "variable_end_uepoch": str((T0 + 95) * 1_000_000 + 500_000),
        "variable_hotline_lookup_status": "ok",
    }
    headers.update({f"variable_{k}": v for k, v in variables.items()})
    return headers


def history(*targets: str, flow: str = "water") -> str:
    """transfer_history as FreeSWITCH keeps it: one pushed item per blind transfer."""
    items = [f"{T0 + i}:c0ffee00-0000-4000-8000-000000000001:bl_xfer:{t}/"
             f"{'public' if t == '96116' else 'hotline_' + flow}/XML" for i, t in enumerate(targets)]
    return items[0] if len(items) == 1 else "ARRAY::" + "|:".join(items)


# --- reading a hangup --------------------------------------------------------------------------

def test_nodes_come_from_transfer_history() -> None:
    h = history("hotline_entry", "welcome", "identify", "main_menu", "main_menu.ask", "main_menu.route",
                "main_menu.invalid", "main_menu.ask", "main_menu.route", "repairs", "repairs.result",
                "repairs.result")
    h += "|:1795390100:c0ffee00-0000-4000-8000-000000000001:uuid_br:5b1d7c1e-0000-4000-8000-000000000002"
    assert nodes_from_history(h, "water") == ["welcome", "identify", "main_menu", "repairs"]
    other = history("menu", "billing", flow="gas")
    assert nodes_from_history(other, "water") == ["gas:menu", "gas:billing"]
    assert nodes_from_history("", "water") == []


def test_summary_of_a_call_answered_by_an_agent() -> None:
    s = summarise(hangup(transfer_history=history("hotline_entry", "identify", "repairs", "repairs.result"),
                         cc_queue="water_repairs@default", cc_agent="agent1001", cc_agent_bridged="true",
                         cc_cause="answered", hotline_customer_id="42",
                         hotline_recording="/rec/hotline/water/msg/1.wav"),
                  recordings=["/rec/hotline/water/calls/c0ffee00.wav"])
    assert s.call_uuid == "c0ffee00-0000-4000-8000-000000000001"
    assert s.caller == "13812345678"  # normalised: +86 gone
    assert (s.did, s.flow, s.nodes) == ("96116", "water", ["identify", "repairs"])
    assert (s.start, s.answer, s.end) == (T0, T0 + 1, T0 + 95.5)
    assert (s.outcome, s.hangup_cause, s.queue, s.agent) == ("agent", "NORMAL_CLEARING", "water_repairs@default",
                                                             "agent1001")
    assert s.recording == "/rec/hotline/water/msg/1.wav,/rec/hotline/water/calls/c0ffee00.wav"
    assert (s.lookup_status, s.customer_id) == ("ok", 42)
    row = s.row()
    assert row["nodes_visited"] == "identify,repairs"
    assert row["end_at"] == dt.datetime(2026, 11, 22, 23, 28, 13, 500000)


@pytest.mark.parametrize(("variables", "cause", "outcome"), [
    ({"hotline_blacklisted": "true"}, "CALL_REJECTED", "rejected"),
    ({"voicemail_message_len": "12", "cc_cause": "cancel", "cc_cancel_reason": "TIMEOUT"}, "NORMAL_CLEARING",
     "voicemail"),
    ({"cc_cause": "cancel", "cc_cancel_reason": "NO_AGENT_TIMEOUT"}, "NORMAL_CLEARING", "queue_timeout"),
    ({"cc_cause": "cancel", "cc_cancel_reason": "BREAK_OUT"}, "ORIGINATOR_CANCEL", "abandoned"),
    ({"originate_disposition": "SUCCESS"}, "NORMAL_CLEARING", "bridged"),
    ({}, "NORMAL_CLEARING", "ivr"),
    ({"answer_uepoch": "0"}, "NO_ANSWER", "unanswered"),
])
def test_outcomes(variables: dict[str, str], cause: str, outcome: str) -> None:
    headers = hangup(**variables)
    headers["Hangup-Cause"] = cause
    assert summarise(headers).outcome == outcome


def test_designated_agent_bridge_counts_as_answered_by_that_agent() -> None:
    s = summarise(hangup(originate_disposition="SUCCESS", hotline_designated_agent="6008",
                         transfer_history=history("identify", "vip", "vip.designated_result")))
    assert (s.outcome, s.agent, s.nodes) == ("agent", "6008", ["identify", "vip"])


def test_without_transfer_history_the_record_keeps_lookup_node_and_last_node() -> None:
    s = summarise(hangup(hotline_node="identify"))
    assert s.nodes == ["identify", "main"]


# --- the spool ---------------------------------------------------------------------------------

def test_spool_keeps_complete_lines_and_drops_only_what_was_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.jsonl")
    assert not spool.pending()
    spool.append([CallSummary("a", caller="13800000001", nodes=["x", "y"]), CallSummary("b")])
    with open(spool.path, "ab") as fh:
        fh.write(b'{"call_uuid": "torn')  # esl_app died in the middle of a write
    records, used = spool.read()
    assert [r.call_uuid for r in records] == ["a", "b"] and records[0].nodes == ["x", "y"]
    spool.consume(used)
    rest = spool.path.read_bytes()
    assert rest.startswith(b'{"call_uuid": "torn')


# --- writing -----------------------------------------------------------------------------------

def test_upsert_is_idempotent_on_the_call_uuid(database) -> None:
    first = summarise(hangup())
    upsert(database, [first])
    again = summarise(hangup(cc_agent="agent1002", cc_agent_bridged="true"))
    upsert(database, [again, again])
    rows = list(CallRecord.select())
    assert len(rows) == 1 and rows[0].agent == "agent1002" and rows[0].outcome == "agent"
    assert rows[0].caller == "13812345678" and rows[0].nodes_visited == "main"


def test_a_record_naming_a_missing_customer_is_kept_without_it(database, tmp_path: Path) -> None:
    customer = add_customer("王芳", "960009", ["13812345678"])
    recorder = CallRecorder(database, tmp_path / "spool.jsonl")
    good = summarise(hangup("good-1", hotline_customer_id=str(customer.id)))
    bad = summarise(hangup("bad-1", hotline_customer_id="999999"))  # deleted meanwhile (foreign key)
    recorder._keep([good, bad])
    assert {r.call_uuid: r.customer_id for r in CallRecord.select()} == {"good-1": customer.id, "bad-1": None}
    assert not recorder.spool.pending()


def test_locked_sqlite_spools_then_replays_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hotline.db"
    database = open_database(url, query_timeout_ms=200)
    init_schema(database)
    recorder = CallRecorder(database, tmp_path / "spool.jsonl")
    recorder._keep([summarise(hangup("u1"))])
    locker = sqlite3.connect(tmp_path / "hotline.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        recorder._keep([summarise(hangup("u2")), summarise(hangup("u3"))])
        assert recorder.spooled == 2 and recorder.spool.pending()
        recorder._keep([summarise(hangup("u4"))])
        assert recorder.spooled == 3
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    recorder._keep([summarise(hangup("u3"))])  # replay, then a duplicate of a spooled one
    assert not recorder.spool.pending()
    assert sorted(r.call_uuid for r in CallRecord.select()) == ["u1", "u2", "u3", "u4"]
    database.close()


def test_schema_upgrade_from_version_1_adds_what_records_and_the_cache_need(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    database = open_database(f"sqlite:///{path}")
    init_schema(database)
    database.close()
    with sqlite3.connect(path) as conn:  # make it a version 1 database
        conn.execute("ALTER TABLE call_record DROP COLUMN hangup_cause")
        conn.execute("DROP TABLE cache_outbox")
        conn.execute("DROP INDEX phone_number_customer_id")
        conn.execute("CREATE INDEX phone_number ON phone (number)")
        conn.execute("DROP INDEX bill_overdue")
        conn.execute("DELETE FROM schema_version WHERE version > 1")
    database = open_database(f"sqlite:///{path}")
    assert schema_version(database) == 1
    assert init_schema(database) == (1, SCHEMA_VERSION)
    assert "hangup_cause" in {c.name for c in database.get_columns("call_record")}
    assert database.table_exists("cache_outbox")
    assert {"phone_number_customer_id"} <= {i.name for i in database.get_indexes("phone")} and \
        "phone_number" not in {i.name for i in database.get_indexes("phone")}
    assert "bill_overdue" in {i.name for i in database.get_indexes("bill")}
    database.close()


# --- end to end: switch + esl-app serve + a database that goes away ---------------------------

FLOW = """\
flow: rec
numbers: ["96002"]
start: ident
settings: {{esl: {{host: 127.0.0.1, port: {port}}}}}
nodes:
  ident: {{type: lookup, lookups: [customer], next: route}}
  route:
    type: branch
    variable: hotline_lookup_status
    cases: [{{equals: "ok", then: known}}]
    else: fallback
  known: {{type: set, variables: {{hotline_route: lookup}}, next: hangup}}
  fallback: {{type: set, variables: {{hotline_route: default}}, next: hangup}}
"""


def _records(url: str) -> list[CallRecord]:
    db = open_database(url, query_timeout_ms=2000)
    try:
        return list(CallRecord.select())
    except peewee.DatabaseError:
        return []
    finally:
        db.close()


def _calls(client: RawClient, n: int, caller: str) -> list[str]:
    uuids = []
    for _ in range(n):
        reply = client.api(f"originate {{origination_caller_id_number={caller}}}sim/answer 96002 XML public")
        assert reply.startswith("+OK "), reply
        uuids.append(reply.split()[1])
    return uuids


def _idle(client: RawClient, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.api("show channels count").strip() == "0 total.":
            return True
        time.sleep(0.1)
    return False


def _wait_records(url: str, count: int, timeout: float = 30.0) -> list[CallRecord]:
    deadline = time.monotonic() + timeout
    rows = _records(url)
    while len(rows) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = _records(url)
    return rows


def compile_flow(root: Path, text: str, esl_port: int) -> Path:
    (root / "flows").mkdir(exist_ok=True)
    (root / "flows" / "flow.yaml").write_text(text.format(port=esl_port), encoding="utf-8")
    compile_flows(root / "flows", root / "conf")
    return root / "conf"


@contextmanager
def switch_and_esl_app(root: Path, flow: str, db_url: str, settings: str = "",
                       freeswitch: str = "") -> Iterator[tuple[Any, Any]]:
    """A switch running ``flow`` whose lookup hops reach a real ``esl-app serve``, itself connected
    to the switch's inbound socket (``freeswitch:``). Each needs the other's port: the flow is
    compiled again once esl-app listens, and the switch reloads it."""
    with running_switch(compile_flow(root, flow, 9)) as switch, esl_app_serving(
            root, db_url, settings=f"freeswitch: {{host: 127.0.0.1, port: {switch.port}, password: {PASSWORD}"
                                   f"{', ' + freeswitch if freeswitch else ''}}}\n"
                                   f"records: {{spool: {root}/spool.jsonl}}\nlookups: {{deadline_ms: 300}}\n"
                                   + settings) as app:
        compile_flow(root, flow, app.port)
        client = RawClient(switch.port)
        try:
            assert client.api("reloadxml").startswith("+OK")
        finally:
            client.close()
        yield switch, app


def _run_outage(tmp_path: Path, url: str, stop, start, during_route: tuple[str, str]) -> None:
    db = open_database(url)
    init_schema(db)
    add_customer("王芳", "960001", ["13812345678"], tier="gold")
    db.close()
    with switch_and_esl_app(tmp_path, FLOW, url) as (switch, _app):
        client = RawClient(switch.port)
        try:
            # esl-app connects to the switch in the background: calls ending before that leave no record
            warm: list[str] = []
            while not warm or not _wait_records(url, 1, timeout=2):
                assert len(warm) < 10, "esl-app serve never recorded a call"
                warm += _calls(client, 1, "13812345678")
            kept = [r.call_uuid for r in _records(url)]
            before = _calls(client, 8, "+8613812345678")
            assert _idle(client)
            assert len(_wait_records(url, 8 + len(kept))) == 8 + len(kept)
            stop()
            during = _calls(client, 8, "13812345678")
            assert _idle(client), "a call got stuck while the database was down"
            spool = tmp_path / "spool.jsonl"
            deadline = time.monotonic() + 15  # a write waits for the lock (busy timeout) before it gives up
            while not (spool.exists() and spool.stat().st_size) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert spool.stat().st_size > 0
            start()
            after = _calls(client, 4, "013812345678")
            assert _idle(client)
            rows = _wait_records(url, 20 + len(kept))
        finally:
            client.close()
    by_uuid: dict[str, list[CallRecord]] = {}
    for row in rows:
        by_uuid.setdefault(row.call_uuid, []).append(row)
    assert set(by_uuid) == set(kept + before + during + after)  # every finished call, nothing else
    assert all(len(v) == 1 for v in by_uuid.values())  # exactly one each
    for uuid in before + after:
        r = by_uuid[uuid][0]
        assert (r.lookup_status, r.nodes_visited, r.caller) == ("ok", "ident,known", "13812345678")
        assert r.flow == "rec" and r.did == "96002" and r.outcome == "ivr" and r.end_at is not None
    for uuid in during:
        assert (by_uuid[uuid][0].lookup_status, by_uuid[uuid][0].nodes_visited) == during_route
    assert not (tmp_path / "spool.jsonl").read_bytes()


def test_postgres_killed_mid_run_loses_no_record_and_strands_no_call(request, tmp_path: Path) -> None:
    cluster = request.getfixturevalue("pg_cluster")  # skips visibly when PostgreSQL cannot start
    name = f"hotline_rec{os.getpid()}"
    cluster.admin(f"CREATE DATABASE {name}")
    try:
        # lookups fail while the server is down: those calls take the default routing
        _run_outage(tmp_path, cluster.url(name), lambda: cluster.stop("immediate"), cluster.start,
                    during_route=("failed", "ident,fallback"))
    finally:
        try:
            cluster.admin("SELECT 1")
        except Exception:  # noqa: BLE001 - stopped by the test: other tests share the cluster
            cluster.start()
        cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_sqlite_locked_mid_run_loses_no_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hotline.db"
    holder: list[sqlite3.Connection] = []

    def lock() -> None:  # another writer holds the database: writes wait, then fail
        conn = sqlite3.connect(tmp_path / "hotline.db", isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        holder.append(conn)

    def unlock() -> None:
        conn = holder.pop()
        conn.execute("ROLLBACK")
        conn.close()

    # WAL readers are not blocked by a writer: lookups still answer, only the records wait
    _run_outage(tmp_path, url, lock, unlock, during_route=("ok", "ident,known"))
