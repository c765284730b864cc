"""Lookups against SQLite and a real PostgreSQL: schema, customer, arrears, blacklist, PIN, survey."""

import datetime as dt

import peewee
import pytest

from esl_app import lookups
from esl_app.db import SCHEMA_VERSION, init_schema, schema_version
from esl_app.lookups import CallInfo, LookupRegistry, LookupRunner, format_amount, registry
from esl_app.models import BlacklistHit, PinFailure, SurveyScore, utcnow
from tests.esl_app_support.data import add_bill, add_customer, blacklist
from tests.esl_app_support.waiting import wait_for

pytest_plugins = ["tests.esl_app_support.fixtures"]


def call(caller: str, lookups: str, **variables: str) -> CallInfo:
    data = {"Caller-Caller-ID-Number": caller, "Unique-ID": "uuid-1", "variable_hotline_lookup": lookups,
            "variable_hotline_flow": "water"}
    data.update({f"variable_{k}": v for k, v in variables.items()})
    return CallInfo.from_channel_data(data)


@pytest.fixture
def runner(config, database):
    r = LookupRunner(config, database)
    yield r
    r.close()


def test_schema_init_is_idempotent(database):
    assert schema_version(database) == SCHEMA_VERSION
    assert init_schema(database) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert database.table_exists("customer") and database.table_exists("call_record")


def _plan(database, sql: str, params: tuple) -> str:
    if isinstance(database, peewee.SqliteDatabase):
        rows = database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r[-1]) for r in rows)
    with database.atomic():
        database.execute_sql("SET LOCAL enable_seqscan = off")  # the test's tables are tiny
        rows = database.execute_sql("EXPLAIN " + sql.replace("?", "%s"), params).fetchall()
    return "\n".join(r[0] for r in rows)


def test_the_every_call_lookup_reads_only_indexes_it_needs(database):
    """customer+arrears is one query on every call: no sort step for its LIMIT 1, and the overdue
    bills come from the partial index bill_overdue, never from the bill table itself."""
    sql = lookups._CUSTOMER_WITH_OVERDUE
    plan = _plan(database, sql, ("2026-11-23", "2026-11-23", "13812345678"))
    assert "bill_overdue" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    if isinstance(database, peewee.SqliteDatabase):
        assert "SEARCH b USING COVERING INDEX bill_overdue" in plan, plan
    else:  # PostgreSQL runs the batch form: it reads each customer's overdue bills once, not twice
        batch = lookups._CUSTOMER_WITH_OVERDUE_BATCH
        plan = _plan(database, batch.sql, ("2026-11-23", ["13812345678", "13912345678"]))
        assert plan.count("bill_overdue") == 1 and "Seq Scan" not in plan, plan
    plan = _plan(database, lookups._OVERDUE, (1, "2026-11-23"))
    assert "bill_overdue" in plan, plan
    plan = _plan(database, lookups._CUSTOMER_BY_PHONE, ("13812345678",))
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_customer_found_in_every_cli_form(runner, database):
    add_customer("王芳", "950001", ["13812345678", "0755-2345 6789"], tier="platinum", agent="agent1001")
    for cli in ("13812345678", "+8613812345678", "008613812345678", "013812345678",
                "075523456789", "+86 755 23456789", "75523456789"):
        outcome = runner.run(["customer"], call(cli, "customer"))
        assert outcome.status == "ok", cli
        v = outcome.variables
        assert v["hotline_customer_known"] == "true", cli
        assert v["hotline_customer_name"] == "王芳"
        assert v["hotline_customer_tier"] == "platinum"
        assert v["cc_base_score"] == "3000"
        assert v["hotline_designated_agent"] == "agent1001"
        assert v["hotline_account"] == "950001"


def test_an_unknown_caller_costs_one_read(runner, database, monkeypatch):
    """customer+arrears for a number nobody has: the arrears lookup does not ask again."""
    add_customer("王芳", "950001", ["13812345678"])
    reads = []
    real = lookups.query_rows
    monkeypatch.setattr(lookups, "query_rows", lambda sql, params: reads.append(sql) or real(sql, params))
    outcome = runner.run(["customer", "arrears"], call("13900000000", "customer,arrears"))
    assert outcome.status == "ok" and outcome.variables["hotline_arrears"] == "false"
    assert reads == [lookups._CUSTOMER_WITH_OVERDUE]
    reads.clear()
    assert runner.run(["arrears"], call("13900000000", "arrears")).variables["hotline_arrears"] == "false"
    assert reads == [lookups._CUSTOMER_ID_BY_PHONE]  # alone, arrears still finds the customer itself


def test_unknown_caller(runner, database):
    add_customer("王芳", "950001", ["13812345678"])
    outcome = runner.run(["customer", "arrears"], call("13900000000", "customer,arrears"))
    assert outcome.status == "ok"
    assert outcome.variables["hotline_customer_known"] == "false"
    assert outcome.variables["cc_base_score"] == "0"
    assert outcome.variables["hotline_arrears"] == "false"
    assert outcome.variables["hotline_arrears_amount"] == "0"


@pytest.mark.parametrize("tier,score", [("platinum", "3000"), ("gold", "2000"), ("normal", "0")])
def test_tier_sets_queue_score(runner, database, tier, score):
    add_customer("李强", "950002", ["13700001111"], tier=tier, language="en")
    v = runner.run(["customer"], call("13700001111", "customer")).variables
    assert (v["hotline_customer_tier"], v["cc_base_score"], v["hotline_language"]) == (tier, score, "en")


def test_arrears_sum_and_days(runner, database):
    c = add_customer("赵敏", "950003", ["02161234567"])
    add_bill(c, "100.25", 40, period="2026-09")
    add_bill(c, "28.25", 10, period="2026-10")
    add_bill(c, "55.00", -5, period="2026-11")  # not yet due: not arrears
    v = runner.run(["customer", "arrears"], call("021-6123-4567", "customer,arrears")).variables
    assert v["hotline_arrears"] == "true"
    assert v["hotline_arrears_amount"] == "128.50"
    assert v["hotline_arrears_days"] == "40"


def test_customer_and_arrears_take_one_query(runner, database, monkeypatch):
    """Asked together (the common case), the customer query brings the overdue bills along; in
    the other order, or alone, arrears reads them itself - with the same answer."""
    from esl_app import lookups

    c = add_customer("赵敏", "950003", ["02161234567"])
    add_bill(c, "100.25", 40, period="2026-09")
    add_bill(c, "55.00", -5, period="2026-11")
    queries = []
    real = lookups.query_rows
    monkeypatch.setattr(lookups, "query_rows", lambda sql, params: queries.append(sql) or real(sql, params))
    answers = []
    for names in (["customer", "arrears"], ["arrears", "customer"], ["arrears"]):
        queries.clear()
        v = runner.run(names, call("02161234567", ",".join(names))).variables
        answers.append((v["hotline_arrears_amount"], v["hotline_arrears_days"], len(queries)))
    assert answers == [("100.25", "40", 1), ("100.25", "40", 3), ("100.25", "40", 2)]


def test_a_change_is_seen_by_the_very_next_lookup(runner, database):
    """Lookups read live: the inline SQLite reader (memory-mapped file, its own page cache) and
    PostgreSQL's pooled connections both answer the next call with what was just written."""
    from esl_app.models import Customer

    c = add_customer("周杰", "950009", ["13655556666"], tier="normal")
    for _ in range(3):  # the pages are in the reader's cache before the change
        assert runner.run(["customer"], call("13655556666", "customer")).variables["hotline_customer_tier"] == "normal"
    Customer.update(tier="gold", name="周杰伦").where(Customer.id == c.id).execute()
    v = runner.run(["customer", "arrears"], call("13655556666", "customer,arrears")).variables
    assert (v["hotline_customer_tier"], v["hotline_customer_name"], v["hotline_arrears"]) == ("gold", "周杰伦", "false")
    add_bill(c, "9.90", 2)
    v = runner.run(["customer", "arrears"], call("13655556666", "customer,arrears")).variables
    assert (v["hotline_arrears"], v["hotline_arrears_amount"]) == ("true", "9.90")


def test_arrears_identifies_caller_itself(runner, database):
    c = add_customer("赵敏", "950003", ["13611112222"])
    add_bill(c, "12", 3)
    v = runner.run(["arrears"], call("+8613611112222", "arrears")).variables
    assert (v["hotline_arrears"], v["hotline_arrears_amount"], v["hotline_arrears_days"]) == ("true", "12.00", "3")


def test_format_amount():
    assert format_amount(None) == "0"
    assert format_amount(0) == "0"
    assert format_amount(128.5) == "128.50"


def test_blacklist_prefix_and_exact(runner, database, config):
    blacklist("+86 170", prefix=True, reason="骚扰号段")
    blacklist("13900001111")
    blacklist("13800002222", until=utcnow() - dt.timedelta(days=1))  # expired
    hit = runner.run(["blacklist"], call("17012345678", "blacklist"))
    assert hit.variables["hotline_blacklisted"] == "true"
    assert hit.actions == [("hangup", "CALL_REJECTED")]
    assert runner.run(["blacklist"], call("+8613900001111", "blacklist")).variables["hotline_blacklisted"] == "true"
    miss = runner.run(["blacklist"], call("13800002222", "blacklist"))
    assert miss.variables["hotline_blacklisted"] == "false" and miss.actions == []
    assert BlacklistHit.select().count() == 2


def test_blacklist_notice_plays_first(config, database):
    config.blacklist_action, config.blacklist_notice = "notice", "/sounds/rejected.wav"
    blacklist("13900001111")
    r = LookupRunner(config, database)
    try:
        outcome = r.run(["blacklist"], call("13900001111", "blacklist"))
    finally:
        r.close()
    assert outcome.actions == [("playback", "/sounds/rejected.wav"), ("hangup", "CALL_REJECTED")]


def test_pin_ok_fail_and_lock(runner, database):
    c = add_customer("孙丽", "950004", ["13512345678"], pin="246810")
    ok = runner.run(["customer", "verify_pin"], call("13512345678", "customer,verify_pin", hotline_pin="246810"))
    assert (ok.variables["hotline_pin_ok"], ok.variables["hotline_pin_locked"]) == ("true", "false")
    for attempt in (1, 2):
        bad = runner.run(["verify_pin"], call("13512345678", "verify_pin", hotline_pin="111111"))
        assert (bad.variables["hotline_pin_ok"], bad.variables["hotline_pin_locked"]) == ("false", "false"), attempt
    third = runner.run(["verify_pin"], call("13512345678", "verify_pin", hotline_pin="111111"))
    assert (third.variables["hotline_pin_ok"], third.variables["hotline_pin_locked"]) == ("false", "true")
    # locked: even the right PIN is refused inside the window
    right = runner.run(["verify_pin"], call("13512345678", "verify_pin", hotline_pin="246810"))
    assert (right.variables["hotline_pin_ok"], right.variables["hotline_pin_locked"]) == ("false", "true")
    # the window passes: failures older than 15 minutes no longer count
    PinFailure.update(at=utcnow() - dt.timedelta(minutes=16)).where(PinFailure.customer == c.id).execute()
    again = runner.run(["verify_pin"], call("13512345678", "verify_pin", hotline_pin="246810"))
    assert (again.variables["hotline_pin_ok"], again.variables["hotline_pin_locked"]) == ("true", "false")


def test_pin_without_customer_or_pin(runner, database):
    add_customer("周杰", "950005", ["13412345678"])  # no PIN on file
    for caller in ("13412345678", "13000000001"):
        v = runner.run(["verify_pin"], call(caller, "verify_pin", hotline_pin="1234")).variables
        assert (v["hotline_pin_ok"], v["hotline_pin_locked"]) == ("false", "false")


def test_survey_is_stored(runner, database):
    v = runner.run(["survey"], call("13812345678", "survey", hotline_survey_score="4")).variables
    assert v["hotline_survey_saved"] == "true"
    row = SurveyScore.get()
    assert (row.score, row.call_uuid, row.flow, row.caller) == (4, "uuid-1", "water", "13812345678")
    bad = runner.run(["survey"], call("13812345678", "survey", hotline_survey_score="9")).variables
    assert bad["hotline_survey_saved"] == "false"
    assert SurveyScore.select().count() == 1


def test_site_lookup_registered_without_touching_the_server(config, database):
    site = registry.copy()

    @site.register("outage", defaults={"hotline_outage": "false"})
    def outage(ctx):
        return {"hotline_outage": "true" if ctx.get("hotline_customer_tier") == "gold" else "false"}

    add_customer("钱多", "950006", ["13312345678"], tier="gold")
    r = LookupRunner(config, database, site)
    try:
        v = r.run(["customer", "outage"], call("13312345678", "customer,outage")).variables
    finally:
        r.close()
    assert v["hotline_outage"] == "true"
    assert "outage" not in registry.names()  # the copy did not leak into the default registry


def test_deadline_exceeded_sets_defaults_and_failed(config, database):
    import time

    slow = LookupRegistry()
    slow.register("slow", lambda ctx: time.sleep(1.2) or {"x": "late"}, defaults={"hotline_slow": "false"})
    config.lookup_deadline_ms = 100
    r = LookupRunner(config, database, slow)
    try:
        started = time.perf_counter()
        outcome = r.run(["slow"], call("13812345678", "slow"))
        elapsed = time.perf_counter() - started
    finally:
        r.close()
    assert outcome.status == "failed"
    assert outcome.variables == {"hotline_slow": "false"}
    assert "deadline of 100 ms exceeded" in outcome.failures[0][1]
    assert elapsed < 0.9  # did not wait for the handler (1.2 s); room for a loaded CI runner


def test_unknown_lookup_fails_but_others_run(runner, database):
    add_customer("王芳", "950001", ["13812345678"])
    outcome = runner.run(["nosuch", "customer"], call("13812345678", "nosuch,customer"))
    assert outcome.status == "failed"
    assert outcome.variables["hotline_customer_known"] == "true"


# Counts to 50 million: seconds of work on either database, far past any deadline in these tests.
_RUNAWAY_READ = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) SELECT count(*) FROM c"


def test_a_runaway_read_is_cut_at_its_deadline(config, database, db_url):
    """Reads run on the event loop: SQLite stops the query itself, PostgreSQL's wait is cut and
    the server stops the read too (it would otherwise run on, using a core, for up to the general
    query timeout of 2 s: a 50M-row count takes far longer)."""
    import time

    from esl_app.lookups import query_rows

    site = registry.copy()

    @site.register("runaway", defaults={"hotline_runaway": "false"}, inline=True)
    def runaway(ctx):
        rows = query_rows(_RUNAWAY_READ, ())
        return {"hotline_runaway": str(rows[0][0])}

    add_customer("王芳", "950001", ["13812345678"])
    config.lookup_deadline_ms = 150
    r = LookupRunner(config, database, site)
    try:
        assert r.inline  # SQLite: stopped by its progress handler; PostgreSQL: a cooperative wait
        started = time.perf_counter()
        outcome = r.run(["runaway", "customer"], call("13812345678", "runaway,customer"))
        elapsed = time.perf_counter() - started
    finally:
        r.close()
    assert outcome.failures[0][0] == "runaway" and "deadline of 150 ms exceeded" in outcome.failures[0][1]
    assert outcome.variables["hotline_runaway"] == "false"
    assert outcome.variables["hotline_customer_known"] == "true"
    assert elapsed < 1.2  # not the read's many seconds; room for a loaded CI runner
    if isinstance(database, peewee.PostgresqlDatabase):
        def nothing_runs() -> bool:
            return database.execute_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state = 'active'").fetchone()[0] == 0

        assert wait_for(nothing_runs, timeout=1.0), "the cut read still runs on the server"


def test_cleaning_all_values_at_once_is_cleaning_each():
    """_clean_all decides on the joined values; it must give what _clean gives value by value
    (random values from the characters that matter: spaces of every kind, breaks, ${, the joiner)."""
    import random

    rng = random.Random(1)
    alphabet = ["a", " ", "\t", "\x1c", "\xa0", "\u3000", "\n", "\r", "$", "{", "|", "\x00", "王"]
    for _ in range(20000):
        values: dict = {}
        for i in range(rng.randint(0, 4)):
            r = rng.random()
            values[f"k{i}"] = None if r < 0.05 else 5 if r < 0.1 else \
                "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        assert lookups._clean_all(values) == {k: lookups._clean(v) for k, v in values.items()}, values


# --- PostgreSQL: the every-call read in batches ------------------------------------------------

def _concurrent_lookups(runner, clis: list[str]) -> list:
    import gevent

    jobs = [gevent.spawn(runner.run, ["customer", "arrears"], call(cli, "customer,arrears")) for cli in clis]
    gevent.joinall(jobs, raise_error=True)
    return [job.value for job in jobs]


postgres_only = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite reads run inline, unbatched


@postgres_only
def test_postgres_answers_concurrent_callers_in_shared_round_trips(runner, database):
    wang = add_customer("王芳", "950001", ["13812345678"], tier="gold")
    add_bill(wang, "128.50", 12)
    add_customer("李四", "950002", ["13912345678", "075523456789"])
    add_customer("共用", "950003", ["075523456789"])  # a shared line: the lowest customer id wins
    clis = ["13812345678", "13912345678", "075523456789", "13700000000", "13812345678"] * 6
    alone = [runner.run(["customer", "arrears"], call(cli, "customer,arrears")).variables for cli in clis]
    before = runner.pg_reader.round_trips
    together = _concurrent_lookups(runner, clis)
    assert [outcome.variables for outcome in together] == alone
    assert all(outcome.status == "ok" for outcome in together)
    assert together[0].variables["hotline_arrears_amount"] == "128.50"
    assert together[2].variables["hotline_customer_name"] == "李四"
    assert runner.pg_reader.round_trips - before < len(clis) / 2  # 30 callers, a handful of batches
    runner.stats.add(1.0)  # the server adds each call; the summary then counts the round trips too
    fields = runner.stats.take()
    assert fields is not None and fields["db_round_trips"] == runner.pg_reader.round_trips > 0


@postgres_only
def test_a_failed_batch_fails_its_callers_and_the_next_one_runs(runner, database, monkeypatch):
    add_customer("王芳", "950001", ["13812345678"])
    reader = runner.pg_reader
    real = reader._rows
    calls = []

    def broken_once(sql, params):
        calls.append(params)
        if len(calls) == 1:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return real(sql, params)

    import psycopg2
    monkeypatch.setattr(reader, "_rows", broken_once)
    first = _concurrent_lookups(runner, ["13812345678"] * 5)
    assert {o.status for o in first[:1]} == {"failed"} and "server closed" in first[0].failures[0][1]
    again = _concurrent_lookups(runner, ["13812345678"] * 3)
    assert all(o.status == "ok" and o.variables["hotline_customer_name"] == "王芳" for o in again)


@postgres_only
def test_a_read_nobody_cuts_is_stopped_by_the_server_at_the_deadline(config, database):
    """The reader's own connections carry the deadline as statement_timeout: even a read with no
    caller-side timeout around it ends there, as a timeout, and the next read runs normally."""
    import time

    config.lookup_deadline_ms = 150
    runner = LookupRunner(config, database)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="stopped by the server after 150 ms"):
            runner.pg_reader.rows(_RUNAWAY_READ, ())
        assert time.monotonic() - started < 1.2  # not the read's many seconds
        assert runner.pg_reader.rows("SELECT ?::int", (7,)) == [(7,)]
    finally:
        runner.close()


@postgres_only
def test_a_caller_keeps_its_deadline_while_its_batch_hangs(config, database, monkeypatch):
    import time

    import gevent

    add_customer("王芳", "950001", ["13812345678"])
    config.lookup_deadline_ms = 200
    runner = LookupRunner(config, database)
    try:
        reader = runner.pg_reader
        real = reader._rows
        hang = [True]

        def slow(sql, params):
            if hang[0]:
                hang[0] = False
                gevent.sleep(2.0)  # longer than the deadline: the batch gives up at batch_timeout
            return real(sql, params)

        monkeypatch.setattr(reader, "_rows", slow)
        started = time.monotonic()
        stuck = runner.run(["customer", "arrears"], call("13812345678", "customer,arrears"))
        assert stuck.status == "failed" and "deadline" in stuck.failures[0][1]
        assert time.monotonic() - started < 1.2  # not the 2 s hang; room for a loaded CI runner
        gevent.sleep(0.5)
        fine = runner.run(["customer", "arrears"], call("13812345678", "customer,arrears"))
        assert fine.status == "ok" and fine.variables["hotline_customer_known"] == "true"
    finally:
        runner.close()
