"""esl_app against the call simulator (fsgen/sim) over a real TCP socket on 127.0.0.1.

A real ``esl-app serve`` process; the simulator runs a dialplan shaped like a compiled lookup node
(set hotline_lookup, pessimistic hotline_lookup_status=failed, socket, transfer) and the next
extension branches on what esl_app set. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import socket
import time

import pytest

from esl_app.db import open_database
from fsgen.sim.testing import apps_run, call, make_conf, simulator
from tests.esl_app_support.data import add_bill, add_customer, blacklist
from tests.esl_app_support.process import esl_app_serving

pytest_plugins = ["tests.esl_app_support.fixtures"]

PLAN = """<context name="hotline_demo">
  <extension name="identify"><condition field="destination_number" expression="^identify$">
    <action application="answer"/>
    <action application="set" data="hotline_lookup={lookups}"/>
    <action application="set" data="hotline_lookup_status=failed"/>
    <action application="socket" data="127.0.0.1:{port} async full"/>
    <action application="transfer" data="route XML hotline_demo"/>
  </condition></extension>
  <extension name="route_failed"><condition field="destination_number" expression="^route$"/>
    <condition field="${{hotline_lookup_status}}" expression="^failed$">
      <action application="log" data="INFO route=default"/><action application="hangup"/>
    </condition></extension>
  <extension name="route_vip"><condition field="destination_number" expression="^route$"/>
    <condition field="${{hotline_customer_tier}}" expression="^platinum$">
      <action application="log" data="INFO route=vip score=${{cc_base_score}} arrears=${{hotline_arrears_amount}} name=${{hotline_customer_name}}"/>
      <action application="hangup"/>
    </condition></extension>
  <extension name="route_general"><condition field="destination_number" expression="^route$">
    <action application="log" data="INFO route=general known=${{hotline_customer_known}}"/><action application="hangup"/>
  </condition></extension>
</context>"""


@pytest.fixture(params=["api", "set", "multiset"])
def esl_app_process(request, db_url, database, tmp_path):
    database.close()
    with esl_app_serving(tmp_path, db_url, esl=f"set_app: {request.param}") as process:
        yield process.port


def run_call(tmp_path, port, caller, lookups="customer,arrears"):
    conf = make_conf(tmp_path / f"conf{time.monotonic_ns()}", PLAN.format(port=port, lookups=lookups))
    sim = simulator(conf)
    call(sim, "identify", "hotline_demo", caller=caller)
    logs = [r.get("text") for r in sim.trace.records if r["event"] == "log"]
    return sim, logs


def test_vip_known_and_unknown_callers_route_through_the_simulator(db_url, esl_app_process, tmp_path, request):
    db = open_database(db_url)
    try:
        c = add_customer("欧阳 芳", "950001", ["13812345678"], tier="platinum")  # a space: multiset keeps it
        add_bill(c, "128.50", 12)
        add_customer("李强", "950002", ["0755-2345 6789"])
    finally:
        db.close()
    sim, logs = run_call(tmp_path, esl_app_process, "+8613812345678")
    assert not sim.trace.errors(), sim.trace.errors()
    assert "route=vip score=3000 arrears=128.50 name=欧阳 芳" in logs
    executed = [arg for app, arg in apps_run(sim) if app in ("set", "multiset") and "status=ok" in arg]
    if request.node.callspec.params["esl_app_process"] == "api":
        assert not executed  # uuid_setvar_multi over the socket: no app ran on the channel
    else:
        assert executed and executed[-1].endswith("hotline_lookup_status=ok")
    assert ("set", "hotline_lookup_status=failed") in apps_run(sim)  # the pessimistic default came first
    _sim, logs = run_call(tmp_path, esl_app_process, "075523456789")
    assert "route=general known=true" in logs
    _sim, logs = run_call(tmp_path, esl_app_process, "13900000000")
    assert "route=general known=false" in logs


def test_blacklisted_caller_is_rejected_in_the_simulator(db_url, esl_app_process, tmp_path):
    db = open_database(db_url)
    try:
        blacklist("170", prefix=True)
    finally:
        db.close()
    sim, logs = run_call(tmp_path, esl_app_process, "17012345678", lookups="blacklist,customer")
    hangups = [r for r in sim.trace.records if r["event"] == "hangup" and r["leg"] == "b"]
    assert hangups and hangups[0]["cause"] == "CALL_REJECTED"
    assert not any(text and text.startswith("route=") for text in logs)


def test_esl_app_down_means_default_routing(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sim, logs = run_call(tmp_path, port, "13812345678")
    assert "route=default" in logs
    ran = apps_run(sim)
    assert ("set", "hotline_lookup_status=failed") in ran and ("transfer", "route XML hotline_demo") in ran
