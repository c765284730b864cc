"""The switch-side cache: keys the compiled dialplan computes, values equal to what live lookups
answer, and the whole path against a real ``fsgen sim serve`` process (127.0.0.1, ephemeral ports,
always stopped): fill, a ``mode: cached`` flow routing with no hop, a missing key falling back to
the live hop, and a database change reaching the next call's routing."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest
from click.testing import CliRunner

from esl_app import cache
from esl_app.cache import (
    CacheKeeper,
    cacheable_key,
    decode,
    dialplan_key,
    entries_for_numbers,
    fill,
    outbox_size,
    select,
)
from esl_app.changes import ChangeError, add_blacklist, edit_customer, record_payment, remove_blacklist
from esl_app.cli import main
from esl_app.config import Config
from esl_app.db import init_schema, open_database
from esl_app.lookups import CallInfo, LookupRunner
from esl_app.models import Phone
from esl_app.phone import normalise_key
from esl_app.seed import MOBILE_PREFIXES, seed_customers
from esl_app.switch import SwitchConnection, SwitchLink
from tests.esl_app_support.data import add_bill, add_customer, blacklist
from tests.esl_app_support.process import free_port
from tests.sim_serve_support import PASSWORD, RawClient, running_switch
from tests.test_esl_app_callrecords import compile_flow, switch_and_esl_app

pytest_plugins = ["tests.esl_app_support.fixtures"]

LIVE_LOOKUPS = ["customer", "arrears", "blacklist"]


# --- the key the dialplan computes -------------------------------------------------------------

def _forms(national: str) -> list[str]:
    """The shapes a caller ID arrives in for one national number (mobile or area code + local)."""
    return [national, "0" + national, "+86" + national, "0086" + national, "86" + national,
            "+860" + national, "00860" + national, "860" + national]


def test_dialplan_key_is_the_stored_key_for_every_common_form() -> None:
    nationals = [p + "12345678" for p in MOBILE_PREFIXES]
    nationals += [area + local for area in ("10", "20", "21", "755", "571", "351")
                  for local in ("23456789", "2345678")]
    for national in nationals:
        key = normalise_key(national)
        assert cacheable_key(key), national
        for form in _forms(national):
            if form.startswith("86") and len(form) < 12:
                continue  # too short to be +86 without the plus: normalise keeps the 86
            assert dialplan_key(form) == key == normalise_key(form), form


def test_a_dialplan_key_never_names_another_callers_entry() -> None:
    """Whatever arrives, a key the cache could hold is exactly that caller's stored key."""
    rnd = random.Random(95598)
    heads = ["", "0", "00", "000", "+86", "0086", "00860", "86", "860", "+1", "17951", "12593", "+8600", "8686",
             "+", "0085"]
    for _ in range(50000):
        raw = rnd.choice(heads) + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(3, 14)))
        key = dialplan_key(raw)
        if cacheable_key(key):
            assert key == normalise_key(raw), raw
    for raw in ("23456789", "+12125551234", "1795113812345678", "95598", "", "anonymous"):
        assert not cacheable_key(dialplan_key(raw)), raw


def test_value_round_trip_and_what_is_never_cached() -> None:
    scores = {"platinum": 3000, "gold": 2000, "normal": 0}
    value = cache.encode(cache.Facts(42, "gold", "en", "agent.7", True), scores)
    assert value == "1;42;gold;en;agent.7;2000;true"
    assert decode(value, ["customer"]) == {
        "hotline_customer_known": "true", "hotline_customer_id": "42", "hotline_customer_tier": "gold",
        "hotline_language": "en", "hotline_designated_agent": "agent.7", "cc_base_score": "2000"}
    assert decode(value, ["arrears", "blacklist"]) == {"hotline_arrears": "true", "hotline_blacklisted": "false"}
    assert cache.encode(cache.Facts(1, "vip", "fr", "", False), scores) == "1;1;normal;zh;;0;false"
    assert cache.encode(cache.Facts(1, "gold", "zh", "王 经理", False), scores) is None  # live hop handles it
    assert decode("2;42;gold;en;;2000;true") is None  # another format version never matches


# --- cached facts == live lookups ----------------------------------------------------------------

def _seed_cases(database) -> None:
    seed_customers(database, 120, seed=7, with_blacklist=False)
    a = add_customer("王芳", "960001", ["13812345678"], tier="platinum", agent="agent1001", language="en")
    add_bill(a, "128.50", 12)
    b = add_customer("李强", "960002", ["13812345678", "0755-2345 6789"], tier="gold")  # shares a's mobile
    add_bill(b, "50.00", -5)  # not due yet
    add_customer("赵六", "960003", ["13900001111"], agent="王 经理")  # not a plain agent name
    add_customer("钱七", "960004", ["17000001234"])
    add_customer("孙八", "960005", ["13600002222"])
    add_customer("周九", "960006", ["13600003333"])
    blacklist("170", prefix=True)
    blacklist("13600002222")
    blacklist("13600003333", until=dt.datetime(2000, 1, 1))  # expired


def test_cached_facts_equal_live_lookup_answers(database) -> None:
    _seed_cases(database)
    config = Config(db_url="unused", lookup_deadline_ms=5000)
    numbers = [p.number for p in Phone.select()]
    entries = dict(entries_for_numbers(database, config, numbers + ["13999999999"]))
    assert entries["13999999999"] is None  # nobody has it: a deletion
    runner = LookupRunner(config, database)
    try:
        checked = 0
        for number in sorted(set(numbers)):
            if not cacheable_key(number):
                assert number not in entries
                continue
            live = runner.run(LIVE_LOOKUPS, CallInfo.from_channel_data(
                {"Caller-Caller-ID-Number": "+86" + number, "Unique-ID": "u"})).variables
            value = entries[number]
            if value is None:
                assert live["hotline_blacklisted"] == "true" or " " in live["hotline_designated_agent"], number
                continue
            cached = decode(value)
            assert cached == {k: live[k] for k in cached}, number
            checked += 1
    finally:
        runner.close()
    assert checked > 150
    assert entries["13812345678"].startswith("1;") and ";platinum;en;agent1001;3000;true" in entries["13812345678"]
    assert entries["75523456789"].endswith(";gold;zh;;2000;false")
    assert entries["17000001234"] is None and entries["13600002222"] is None and entries["13900001111"] is None
    assert entries["13600003333"] is not None


# --- against a running switch ----------------------------------------------------------------------

FLOW = """\
flow: cachedemo
numbers: ["96003"]
start: ident
settings: {{esl: {{host: 127.0.0.1, port: {port}}}}}
nodes:
  ident: {{type: lookup, lookups: [customer, arrears, blacklist], mode: cached, next: route}}
  route:
    type: branch
    variable: hotline_customer_tier
    cases: [{{equals: platinum, then: vip}}]
    else: general
  vip: {{type: set, variables: {{hotline_route: vip}}, next: hangup}}
  general: {{type: set, variables: {{hotline_route: general}}, next: hangup}}
"""


class Rig:
    def __init__(self, root: Path, switch, url: str):
        self.root = root
        self.switch = switch
        self.url = url
        self.config = Config(db_url=url, fs_enabled=True, fs_cache=True, fs_port=switch.port, fs_password=PASSWORD)

    def conn(self, switch=None) -> SwitchConnection:
        return SwitchConnection("127.0.0.1", (switch or self.switch).port, PASSWORD)

    def call(self, caller: str, switch=None) -> dict[str, str]:
        """Place a call into the flow; the variables the switch reports when it ends, and how many
        lookup hops (``socket``) it made."""
        client = RawClient((switch or self.switch).port)
        try:
            client.command("event plain CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE")
            reply = client.api(f"originate {{origination_caller_id_number={caller}}}sim/answer 96003 XML public")
            assert reply.startswith("+OK"), reply
            uuid = reply.split()[1]
            events = client.events_until(lambda e: e.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE"
                                         and e.get("Unique-ID") == uuid, timeout=15)
        finally:
            client.close()
        end = dict(events[-1].headers)
        hops = [e for e in events if e.get("Unique-ID") == uuid and e.get("Application") == "socket"]
        end["hops"] = str(len(hops))
        return end

    def cli(self, *args: str) -> str:
        env = {"HOTLINE_CONFIG": str(self.root / "cli.yaml")}
        (self.root / "cli.yaml").write_text(
            f"database: {{url: '{self.url}'}}\nfreeswitch: {{host: 127.0.0.1, port: {self.switch.port}, "
            f"password: {PASSWORD}, cache: true}}\n", encoding="utf-8")
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flow compiled once; its lookup hop goes to port 9, where nothing listens."""
    return compile_flow(tmp_path_factory.mktemp("cache-flow"), FLOW, 9)


@pytest.fixture
def rig(database, db_url: str, tmp_path: Path, compiled: Path) -> Iterator[Rig]:
    _seed_cases(database)
    with running_switch(compiled) as switch:
        yield Rig(tmp_path, switch, db_url)


def _dump(conn: SwitchConnection) -> dict[str, str]:
    out = {}
    for line in conn.api("hash_dump db hotline").splitlines():
        if line.startswith("D/hotline_"):
            key, _, value = line[len("D/hotline_"):].partition("/")
            out[key] = value
    return out


def test_fill_loads_exactly_the_database_facts(rig: Rig, database) -> None:
    # One number shared by more customers than a page holds; the lowest id (who got the number
    # last, so its row comes last in the index) wins, as in the live lookup.
    first = add_customer("家长", "970000", ["13711110000"], tier="platinum")
    for i in range(1, 5):
        add_customer(f"家庭{i}", f"97000{i}", ["13711112222"], tier="gold")
    Phone.create(customer=first.id, number="13711112222", kind="mobile")
    conn = rig.conn()
    try:
        conn.api("hash insert/hotline/13600002222/1;9;gold;zh;;2000;false")  # now blacklisted: must go
        report = fill(conn, database, rig.config, page=3)  # pages cut through shared numbers
        held = _dump(conn)
    finally:
        conn.close()
    numbers = {p.number for p in Phone.select()}
    expected = {k: v for k, v in entries_for_numbers(database, rig.config, numbers) if v is not None}
    marker = held.pop(cache.MARKER)
    assert held == expected and report.inserted == len(expected)
    assert "13600002222" not in held and report.deleted >= 3
    assert held["13711112222"].split(";")[2] == "platinum" and held["13812345678"].split(";")[2] == "platinum"
    assert marker.endswith(f";{len(expected)}")


def test_cached_flow_routes_without_a_hop_and_misses_take_the_live_hop(rig: Rig, database, tmp_path: Path) -> None:
    with switch_and_esl_app(tmp_path, FLOW, rig.url) as (live_switch, _app):
        for switch in (rig.switch, live_switch):  # the first one's lookup hops go nowhere
            conn = rig.conn(switch)
            try:
                fill(conn, database, rig.config)
            finally:
                conn.close()
        vip = rig.call("+8613812345678")
        assert (vip["variable_hotline_route"], vip["variable_hotline_lookup_status"], vip["hops"]) == \
            ("vip", "ok", "0")
        assert (vip["variable_cc_base_score"], vip["variable_hotline_arrears"], vip["variable_hotline_language"]) == \
            ("3000", "true", "en")
        assert "variable_hotline_customer_name" not in vip  # names stay out of the switch
        add_customer("新客户", "960100", ["13500005555"], tier="platinum")  # behind esl_app's back: not cached
        missed = rig.call("013500005555")
        assert (missed["hops"], missed["variable_hotline_lookup_status"]) == ("1", "failed")  # tried the hop
        assert rig.call("13812345678", live_switch)["hops"] == "0"
        live = rig.call("013500005555", live_switch)
        assert (live["hops"], live["variable_hotline_lookup_status"], live["variable_hotline_route"]) == \
            ("1", "ok", "vip")
        assert live["variable_hotline_customer_name"] == "新客户"  # only the live lookup sets it
        listed = rig.call("17000001234", live_switch)  # blacklisted: never cached, rejected by the live hop
        assert (listed["hops"], listed["Hangup-Cause"]) == ("1", "CALL_REJECTED")


def test_a_change_in_the_database_reaches_the_next_call(rig: Rig) -> None:
    rig.cli("cache", "fill")
    assert rig.call("13600003333")["variable_hotline_route"] == "general"
    out = rig.cli("customer", "edit", "960006", "--tier", "platinum")
    assert "switch cache updated: 1 numbers" in out
    after = rig.call("+8613600003333")
    assert (after["variable_hotline_route"], after["hops"]) == ("vip", "0")
    rig.cli("blacklist", "add", "13600003333")
    assert rig.call("13600003333")["hops"] == "1"  # no longer cached: the live hop decides
    rig.cli("blacklist", "remove", "13600003333")
    assert rig.call("13600003333")["hops"] == "0"
    conn = rig.conn()
    try:
        assert select(conn, "13812345678").endswith(";true")
        rig.cli("payment", "960001", "128.50")
        assert select(conn, "13812345678").endswith(";false")
        rig.cli("customer", "edit", "960001", "--remove-phone", "+86 138 1234 5678")
        assert select(conn, "13812345678").split(";")[1:3] == [str(_customer_id("960002")), "gold"]
        rig.cli("cache", "clear")
        assert _dump(conn) == {}
    finally:
        conn.close()


def _customer_id(account: str) -> int:
    from esl_app.models import Customer
    return Customer.get(Customer.account == account).id


def test_import_pushes_what_it_changed(rig: Rig, tmp_path: Path) -> None:
    rig.cli("cache", "fill")
    conn = rig.conn()
    try:
        assert select(conn, "13600003333") != ""
    finally:
        conn.close()
    csv = tmp_path / "mis.csv"
    csv.write_text("户号,户名,手机,等级\n960006,周九,13600004444,白金\n970001,新用户,+86 137 0000 9999,金\n",
                   encoding="utf-8")
    out = rig.cli("import", "customers", str(csv), "--column", "account=户号", "--column", "name=户名",
                  "--column", "phone=手机", "--column", "tier=等级")
    assert "switch cache updated" in out
    conn = rig.conn()
    try:
        assert select(conn, "13700009999").split(";")[2] == "gold"
        assert select(conn, "13600004444").split(";")[2] == "platinum"
        assert select(conn, "13600003333") == ""  # the number the row dropped is gone from the cache
    finally:
        conn.close()


def test_changes_wait_in_the_outbox_until_serve_reaches_the_switch(rig: Rig, database) -> None:
    change = edit_customer(database, "960004", tier="gold")  # no push: nobody listening yet
    record_payment(database, "960001", "10")
    assert outbox_size(database) == 2 and change.numbers == ["17000001234"]
    link = SwitchLink("127.0.0.1", rig.switch.port, PASSWORD, backoff_min=0.05)
    keeper = CacheKeeper(link, database, rig.config, poll_s=0.05)
    link.on_connect.append(keeper.on_connect)
    try:
        keeper.start()
        link.start()
        deadline = gevent.get_hub().loop.now() + 20
        while (outbox_size(database) or not keeper.fills) and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.05)
        assert keeper.fills == 1 and outbox_size(database) == 0  # empty switch filled, outbox drained
        conn = link.connection(1)
        assert select(conn, "13812345678").split(";")[2] == "platinum"
        conn.api(f"hash delete/hotline/{cache.MARKER}")  # the switch restarted: its memory is gone
        conn.close()
        while keeper.fills < 2 and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.05)
        assert keeper.fills == 2
    finally:
        keeper.stop()
        link.stop()


def test_time_alone_changes_facts_and_the_keeper_notices(database) -> None:
    a = add_customer("王芳", "960001", ["13812345678"])
    add_bill(a, "20.00", -1)  # due tomorrow
    entry = blacklist("13900001111", until=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1))
    add_customer("赵六", "960003", ["13900001111"])
    config = Config(db_url="unused")
    assert entries_for_numbers(database, config, ["13812345678"])[0][1].endswith(";false")
    later = dt.date.today() + dt.timedelta(days=2)
    assert entries_for_numbers(database, config, ["13812345678"], today=later)[0][1].endswith(";true")
    link = SwitchLink("127.0.0.1", 9, "x")
    keeper = CacheKeeper(link, database, config)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert keeper.queue_time_changes(today=dt.date.today(), now=now) == 0
    assert keeper.queue_time_changes(today=later, now=entry.until + dt.timedelta(seconds=1)) == 2
    assert outbox_size(database) == 2


def test_change_errors_say_what_to_do(database) -> None:
    add_customer("王芳", "960001", ["13812345678"])
    for call, message in [
        (lambda: edit_customer(database, "nobody", tier="gold"), "account number, #<id> or one of their phone"),
        (lambda: edit_customer(database, "960001", tier="diamond"), "tier must be one of"),
        (lambda: edit_customer(database, "960001", remove_phones=["13900000000"]), "has no phone"),
        (lambda: record_payment(database, "960001", "-5"), "must be positive"),
        (lambda: record_payment(database, "960001", "abc"), "not a number"),
        (lambda: remove_blacklist(database, "13900000000"), "is not blacklisted"),
        (lambda: add_blacklist(database, "abc", prefix=True), "not a phone number prefix"),
    ]:
        with pytest.raises(ChangeError, match=message):
            call()
    assert outbox_size(database) == 0  # nothing half-written


def test_cache_fill_against_no_switch_is_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    init_schema(open_database(url))
    (tmp_path / "h.yaml").write_text(f"database: {{url: '{url}'}}\nfreeswitch: {{port: {free_port()}}}\n")
    result = CliRunner().invoke(main, ["cache", "fill", "--config", str(tmp_path / "h.yaml")])
    assert result.exit_code == 2 and "cannot connect to the switch" in result.output
    assert "Traceback" not in result.output


def test_change_commands_report_errors_without_tracebacks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    database = open_database(url)
    init_schema(database)
    add_customer("王芳", "960001", ["13812345678"])
    env = {"HOTLINE_CONFIG": "", "HOTLINE_DB_URL": url}
    runner = CliRunner()
    for args, message in [
        (["customer", "edit", "nobody", "--tier", "gold"], "no customer 'nobody'"),
        (["payment", "960001", "12.345"], "at most 2 decimals"),
        (["blacklist", "remove", "13900000000"], "is not blacklisted"),
        (["cache", "push", "nobody"], "no customer 'nobody'"),
    ]:
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    result = runner.invoke(main, ["payment", "13812345678", "5"], env=env)  # by phone number; no switch configured
    assert result.exit_code == 0 and "payment of 0.00 applied to 960001" in result.output
    assert outbox_size(database) == 0  # no cache configured: nothing queued


def test_serve_fills_the_switch_and_pushes_changes_the_cli_could_not(database, db_url: str, tmp_path: Path) -> None:
    _seed_cases(database)
    with switch_and_esl_app(tmp_path, FLOW, db_url, freeswitch="cache: true") as (switch, _app):
        rig = Rig(tmp_path, switch, db_url)
        conn = rig.conn()
        try:
            deadline = time.monotonic() + 20
            while not cache.marker(conn) and time.monotonic() < deadline:  # serve filled the empty switch
                time.sleep(0.1)
            assert cache.marker(conn)
            assert rig.call("13600003333")["hops"] == "0"
            (tmp_path / "away.yaml").write_text(  # a CLI whose switch address is wrong: the push fails
                f"database: {{url: '{db_url}'}}\nfreeswitch: {{port: {free_port()}, cache: true}}\n", encoding="utf-8")
            result = CliRunner().invoke(main, ["customer", "edit", "960006", "--tier", "platinum",
                                               "--config", str(tmp_path / "away.yaml")])
            assert result.exit_code == 0 and "wait in the outbox" in result.output, result.output
            deadline = time.monotonic() + 20  # serve drains the outbox every second; a loaded CI box is slow
            while (facts := select(conn, "13600003333")).split(";")[2] != "platinum" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert facts.split(";")[2] == "platinum", f"serve did not push the outbox within 20 s: {facts!r}"
            assert rig.call("13600003333")["variable_hotline_route"] == "vip"
            assert outbox_size(database) == 0
        finally:
            conn.close()
