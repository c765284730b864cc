"""End to end: the example flows on the call simulator, their lookup nodes answered by a real esl_app.

The flows of ``examples/`` are compiled in memory (``replay_rig``); every call is a scripted call
(``esl_app: live``) whose ``socket 127.0.0.1:8084`` goes to an ``esl-app serve`` process on an
ephemeral 127.0.0.1 port, reading a seeded SQLite or PostgreSQL database. What the scripts expect
(prompts heard, nodes, variables, queue position, bridges, hangup cause) is what esl_app's answers
made the compiled dialplan do, so these tests cover the lookup contract from the database to the
routing: VIP first in line, arrears read back, blacklist rejection, unknown and known callers, the
PIN check, and a database that goes away mid-test and comes back.

One esl_app and one database per backend for the whole module (every scenario has its own callers),
so both backends stay within a few seconds. PostgreSQL is the throwaway cluster of
``tests/esl_app_support/pg.py``; when it cannot start, the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from esl_app.config import load_config
from esl_app.db import open_database
from esl_app.models import BlacklistHit, SurveyScore
from fsgen.sim.testing import replay_call, replay_rig
from tests.esl_app_support.data import add_bill, add_customer, blacklist
from tests.esl_app_support.pg import Cluster
from tests.esl_app_support.process import EslAppProcess, esl_app_serving

pytest_plugins = ["tests.esl_app_support.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
_databases = itertools.count(1)

# Everyone the scenarios call with, seeded once per backend: (name, account, phones, options).
CUSTOMERS: list[tuple[str, str, list[str], dict[str, Any]]] = [
    # VIP first in line: two normal callers, then a platinum one.
    ("张伟", "950101", ["13800000001"], {}),
    ("李娜", "950102", ["13800000002"], {}),
    ("钱总", "950103", ["13900009999"], {"tier": "platinum"}),
    # Arrears read back.
    ("周敏", "950104", ["13700001111"], {}),
    # Known caller: a name with a space (multiset carries it), a landline stored in another form.
    ("欧阳 娜娜", "950105", ["0755-2345 6789"], {"tier": "gold", "language": "en", "agent": "6008"}),
    # A quote cannot ride in multiset (FreeSWITCH's argument splitter eats it): set on its own.
    ("O'Neil 王", "950106", ["13700002222"], {}),
    # What a billing system might hold: FreeSWITCH would expand it (and ${api(...)} would run).
    ("张${hotline_flow}", "950112", ["13700003333"], {}),
    # Database stopped mid-test.
    ("孙总", "950107", ["13600001234"], {"tier": "platinum"}),
    # PIN check (gps_operator): right PIN, wrong then right, locked.
    ("赵六", "950108", ["13512345678"], {"pin": "123456"}),
    ("钱七", "950109", ["13512340000"], {"pin": "123456", "tier": "gold"}),
    ("孙八", "950110", ["13512349999"], {"pin": "123456"}),
    # PIN check before and after the database restart (a lookup that runs in a worker thread).
    ("吴九", "950111", ["13512341111"], {"pin": "654321"}),
]


@dataclass
class LiveEslApp:
    """A running ``esl-app serve`` and the database it reads."""

    backend: str
    url: str
    process: EslAppProcess
    cluster: Cluster | None

    @property
    def port(self) -> int:
        return self.process.port

    def stop_database(self) -> None:
        """PostgreSQL: the server stops (immediate). SQLite has no server: the table every lookup
        reads first goes away, as during a restore, so reads fail the same way."""
        if self.cluster is not None:
            self.cluster.stop("immediate")
        else:
            with sqlite3.connect(self.url[len("sqlite:///"):], isolation_level=None, timeout=5) as conn:
                conn.execute("ALTER TABLE phone RENAME TO phone_offline")

    def start_database(self) -> None:
        if self.cluster is not None:
            self.cluster.start()
        else:
            with sqlite3.connect(self.url[len("sqlite:///"):], isolation_level=None, timeout=5) as conn:
                conn.execute("ALTER TABLE phone_offline RENAME TO phone")


def _seed(url: str) -> None:
    from esl_app.db import init_schema

    db = open_database(url)
    try:
        init_schema(db)
        for name, account, phones, options in CUSTOMERS:
            customer = add_customer(name, account, phones, **options)
            if account == "950104":
                add_bill(customer, "128.50", 12)
        blacklist("170", prefix=True, reason="repeated misuse")
    finally:
        db.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEslApp]:
    workdir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    cluster: Cluster | None = None
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{workdir}/hotline.db"
    else:
        cluster = request.getfixturevalue("pg_cluster")  # skips visibly when PostgreSQL cannot start
        name = f"hotline_e2e{next(_databases)}"
        cluster.admin(f"CREATE DATABASE {name}")
        url = cluster.url(name)
    try:
        _seed(url)
        with esl_app_serving(workdir, url, settings="pin: {max_failures: 3, window_minutes: 15}\n") as process:
            yield LiveEslApp(request.param, url, process, cluster)
    finally:
        if cluster is not None:
            try:
                cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 - a stopped cluster is reported, not fatal
                print(f"could not drop {name}: {exc}")


@pytest.fixture(scope="module")
def rig() -> Iterator[Any]:
    with replay_rig(ROOT / "examples") as compiled:
        yield compiled


def replay(live: LiveEslApp, rig: Any, script: dict[str, Any]) -> Any:
    """Replay one scripted call against the live esl_app; its expectations must all be met."""
    script = {"esl_app": "live", **script}
    result = replay_call(script, rig=rig, esl_port=live.port)
    assert result.ok, f"{result.transcript}\n--- esl_app log ({live.backend}) ---\n{live.process.log_tail()}"
    errors = result.run.sim.trace.errors()
    assert not errors, errors
    return result


def _read(live: LiveEslApp, query: Any) -> Any:
    db = open_database(live.url)
    try:
        return query()
    finally:
        db.close()


# ---- the scenarios -----------------------------------------------------------------------------


def test_vip_overtakes_a_normal_caller_who_waited_longer(live: LiveEslApp, rig: Any) -> None:
    """The agent is busy with a first normal caller; a second normal caller joins the queue, then a
    platinum one. When the agent is free again, the platinum caller is bridged first."""
    result = replay(live, rig, {
        "call": "platinum caller overtakes", "flow": "utility",
        "from": {"number": "13900009999", "name": "钱总"},
        "others": [{"from": "13800000001", "steps": [{"press": "0", "during": "main_menu"}]},
                   {"from": "13800000002", "at": 2, "steps": [{"press": "0", "during": "main_menu"}]}],
        "parties": {"agents": {"6101": {"queue": "service_desk", "answers_after": 40, "talks": 30}}},
        "steps": [{"press": "0", "after": "main_menu"}, {"hangup": None, "at": 125}],
        "expect": {"heard": ["greet_vip", "main_menu"], "queue": {"name": "service_desk", "position": 1},
                   "bridged_to": "6101",
                   "variables": {"hotline_customer_tier": "platinum", "cc_base_score": "3000",
                                 "hotline_lookup_status": "ok"}},
    })
    trace = result.run.sim.trace
    leg_of = {other.caller: trace.leg(chan) for other, chan, _logs in result.run.others}
    normal = {caller: chan.variables for other, chan, _logs in result.run.others for caller in [other.caller]}
    assert normal["13800000002"]["cc_base_score"] == "0"  # esl_app identified the normal caller too
    joined = {r["leg"]: r["t"] for r in result.trace if r.get("event") == "execute" and r.get("app") == "callcenter"}
    bridged = {}
    for r in result.trace:
        if r.get("event") == "bridge":
            bridged.setdefault(r["leg"], r["t"])
    second, vip = leg_of["13800000002"], trace.leg(result.run.leg)
    assert joined[second] < joined[vip], "the normal caller must be waiting first"
    assert bridged[vip] < bridged[second], f"platinum bridged at {bridged[vip]}, normal at {bridged[second]}"


def test_arrears_are_announced_with_the_amount(live: LiveEslApp, rig: Any) -> None:
    result = replay(live, rig, {
        "call": "caller in arrears", "flow": "utility", "from": "+8613700001111",
        "steps": [{"hangup": None, "during": "main_menu"}],
        "expect": {"heard": {"exact": ["welcome", "arrears_prefix", "arrears_suffix", "arrears_prefix",
                                       "arrears_suffix", "main_menu"]},
                   "nodes": ["identify", "arrears_check", "arrears_say", "main_menu"],
                   "variables": {"hotline_arrears": "true", "hotline_arrears_amount": "128.50",
                                 "hotline_arrears_days": "12", "hotline_lookup_status": "ok"}},
    })
    said = [r["data"] for r in result.trace if r.get("event") == "execute" and r.get("app") == "say"]
    assert said == ["zh CURRENCY pronounced 128.50", "en CURRENCY pronounced 128.50"]


def test_blacklisted_caller_is_rejected_and_the_attempt_logged(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "listed prefix", "flow": "gov12345", "from": "17012345678",
        "expect": {"heard": {"exact": []}, "nodes": {"exact": ["hotline_entry", "screening"]},
                   "variables": {"hotline_blacklisted": "true"}, "hangup": "CALL_REJECTED"},
    })
    hits = _read(live, lambda: [h.caller for h in BlacklistHit.select()])
    assert hits.count("17012345678") >= 1
    replay(live, rig, {  # the neighbouring prefix is not listed
        "call": "not listed", "flow": "gov12345", "from": "17112345678",
        "steps": [{"hangup": None, "during": "welcome"}],
        "expect": {"heard": ["welcome"], "nodes": ["screening", "screening_result", "welcome"],
                   "variables": {"hotline_blacklisted": "false", "hotline_lookup_status": "ok"}},
    })


def test_unknown_caller_goes_to_the_general_queue(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "unknown caller", "flow": "utility", "from": "02088886666",
        "parties": {"agents": {"6101": {"queue": "service_desk", "answers_after": 2, "talks": 10}}},
        "steps": [{"press": "0", "during": "main_menu"}, {"hangup": None, "during": "survey_question"}],
        "expect": {"heard": {"in_order": ["welcome", "main_menu"]}, "not_heard": ["greet_vip", "arrears_prefix"],
                   "nodes": ["identify", "known_caller", "main_menu", "agent_hours", "service_desk"],
                   "queue": {"name": "service_desk", "position": 1}, "bridged_to": "6101",
                   "variables": {"hotline_lookup_status": "ok", "hotline_customer_known": "false",
                                 "cc_base_score": "0", "hotline_customer_name": None}},
    })


def test_known_caller_is_identified_and_reaches_the_account_manager(live: LiveEslApp, rig: Any) -> None:
    """Name with a space (uuid_setvar_multi, the default, keeps it), landline CLI in another form,
    designated agent, then the survey score stored over a second live hop."""
    assert load_config(None, env={}).set_app == "api"
    result = replay(live, rig, {
        "call": "known gold caller", "flow": "utility", "from": {"number": "+8675523456789", "name": "欧阳"},
        "parties": {"agents": {"6008": {"answers_after": 3, "talks": 20}}},
        "steps": [{"press": "0", "during": "main_menu"}, {"press": "4", "during": "survey_question"}],
        "expect": {"heard": ["welcome", "greet_vip", "main_menu", "survey_question", "survey_thanks"],
                   "queue": False, "bridged_to": "6008", "hangup": "NORMAL_CLEARING",
                   "variables": {"hotline_customer_known": "true", "hotline_customer_name": "欧阳 娜娜",
                                 "hotline_customer_tier": "gold", "hotline_account": "950105",
                                 "hotline_language": "en", "hotline_designated_agent": "6008",
                                 "cc_base_score": "2000", "hotline_lookup_status": "ok",
                                 "hotline_survey_saved": "true"}},
    })
    customer_id = result.variables["hotline_customer_id"]
    assert customer_id.isdigit()
    sets = [r["data"] for r in result.trace if r.get("event") == "execute" and r.get("app") in ("set", "multiset")]
    assert not any("hotline_customer_name" in data for data in sets), sets  # set by the api, not by an app
    scores = _read(live, lambda: [(s.score, s.customer_id) for s in SurveyScore.select()
                                  .where(SurveyScore.call_uuid == result.variables["uuid"])])
    assert scores == [(4, int(customer_id))]


def test_a_name_with_a_quote_still_arrives_whole(live: LiveEslApp, rig: Any) -> None:
    result = replay(live, rig, {
        "call": "quote in the name", "flow": "utility", "from": "13700002222",
        "steps": [{"hangup": None, "during": "main_menu"}],
        "expect": {"variables": {"hotline_customer_name": "O'Neil 王", "hotline_lookup_status": "ok"}},
    })
    sets = [r["data"] for r in result.trace if r.get("event") == "execute" and r.get("app") == "set"]
    assert "hotline_customer_name=O'Neil 王" in sets


def test_a_name_that_looks_like_a_variable_is_not_expanded(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "${ in the name", "flow": "utility", "from": "13700003333",
        "steps": [{"hangup": None, "during": "main_menu"}],
        "expect": {"variables": {"hotline_customer_name": "张＄{hotline_flow}", "hotline_lookup_status": "ok"}},
    })


def test_database_stopped_mid_test_means_default_routing_then_back(live: LiveEslApp, rig: Any) -> None:
    identified = {
        "call": "platinum caller", "flow": "utility", "from": "13600001234",
        "steps": [{"hangup": None, "during": "main_menu"}],
        "expect": {"heard": ["greet_vip", "main_menu"],
                   "variables": {"hotline_lookup_status": "ok", "hotline_customer_tier": "platinum"}},
    }
    pin_checked = {
        "call": "PIN check", "flow": "gps_operator", "from": "13512341111",
        "steps": [{"press": "654321", "during": "enter_pin"}, {"hangup": None, "during": "main_menu"}],
        "expect": {"heard": ["enter_pin", "main_menu"],
                   "variables": {"hotline_pin_ok": "true", "hotline_lookup_status": "ok"}},
    }
    replay(live, rig, identified)
    replay(live, rig, pin_checked)
    live.stop_database()
    try:
        replay(live, rig, {
            "call": "database down", "flow": "utility", "from": "13600001234",
            "parties": {"agents": {"6101": {"queue": "service_desk", "answers_after": 2, "talks": 10}}},
            "steps": [{"press": "0", "during": "main_menu"}, {"hangup": None, "during": "survey_question"}],
            "expect": {"heard": {"in_order": ["welcome", "main_menu", "survey_question"]},
                       "not_heard": ["greet_vip", "arrears_prefix"],
                       "nodes": ["identify", "known_caller", "main_menu", "agent_hours", "service_desk"],
                       "queue": {"name": "service_desk"}, "bridged_to": "6101",
                       "variables": {"hotline_lookup_status": "failed", "hotline_customer_known": "false",
                                     "cc_base_score": "0"}},
        })
    finally:
        live.start_database()
    replay(live, rig, identified)  # the next call after the restart is identified again
    replay(live, rig, pin_checked)  # worker-thread lookups too: no connection left from before
    replay(live, rig, {**identified, "call": "and the one after"})


def test_pin_right_first_time(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "right PIN", "flow": "gps_operator", "from": "13512345678",
        "steps": [{"press": "123456", "during": "enter_pin"}, {"hangup": None, "during": "main_menu"}],
        "expect": {"heard": ["enter_pin", "main_menu"], "not_heard": ["pin_wrong", "pin_locked"],
                   "nodes": ["verify_pin", "pin_service", "pin_locked_check", "pin_ok_check", "tier_greeting",
                             "main_menu"],
                   "variables": {"hotline_pin_ok": "true", "hotline_pin_locked": "false", "hotline_pin": None,
                                 "hotline_lookup_status": "ok"}},
    })


def test_pin_wrong_then_right(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "wrong then right", "flow": "gps_operator", "from": "13512340000",
        "steps": [{"press": "111111", "during": "enter_pin"}, {"press": "123456", "during": "enter_pin"},
                  {"hangup": None, "during": "main_menu"}],
        "expect": {"heard": ["enter_pin", "pin_wrong", "enter_pin", "greet_gold", "main_menu"],
                   "nodes": ["verify_pin", "pin_ok_check", "pin_wrong", "enter_pin", "verify_pin", "pin_ok_check",
                             "tier_greeting", "main_menu"],
                   "variables": {"hotline_pin_ok": "true", "hotline_pin_locked": "false"}},
    })


def test_pin_locked_after_three_failures_and_stays_locked(live: LiveEslApp, rig: Any) -> None:
    replay(live, rig, {
        "call": "three wrong PINs", "flow": "gps_operator", "from": "13512349999",
        "steps": [{"press": "000000", "during": "enter_pin"}, {"press": "111111", "during": "enter_pin"},
                  {"press": "222222", "during": "enter_pin"}],
        "expect": {"heard": {"exact": ["welcome", "enter_pin", "pin_wrong", "enter_pin", "pin_wrong", "enter_pin",
                                       "pin_locked"]},
                   "queue": False, "hangup": "NORMAL_CLEARING",
                   "variables": {"hotline_pin_ok": "false", "hotline_pin_locked": "true"}},
    })
    replay(live, rig, {  # within the window even the right PIN is refused
        "call": "right PIN while locked", "flow": "gps_operator", "from": "13512349999",
        "steps": [{"press": "123456", "during": "enter_pin"}],
        "expect": {"heard": ["enter_pin", "pin_locked"], "not_heard": ["main_menu"], "queue": False,
                   "variables": {"hotline_pin_locked": "true"}},
    })
