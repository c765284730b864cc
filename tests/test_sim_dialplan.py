"""mod_dialplan_xml semantics and ${} expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import apps_run, call, make_conf, projection, simulator


def run(tmp_path: Path, dialplan: str, dest: str = "100", context: str = "t", caller: str = "1000",
        start: str = "2026-11-22T23:26:00+00:00", variables: dict | None = None):
    sim = simulator(make_conf(tmp_path / "conf", dialplan), start=start)
    return call(sim, dest, context, caller=caller, variables=variables)


def sets(sim) -> list[str]:
    return [d for a, d in apps_run(sim) if a in ("set", "log")]


def test_captures_are_per_condition_and_anti_actions_run_on_failure(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t">
  <extension name="a">
    <condition field="destination_number" expression="^(\\d)(\\d)(\\d)$">
      <action application="set" data="d=$1$3"/>
    </condition>
    <condition field="caller_id_number" expression="^(5)(\\d+)$">
      <action application="set" data="c=$2"/>
      <anti-action application="set" data="c_failed=$1"/>
    </condition>
  </extension>
  <extension name="b"><condition field="destination_number" expression="^1"><action application="set" data="b=1"/></condition></extension>
</context>""", dest="123", caller="4000")
    # anti-actions get no substitution; hunting stops at extension a (it queued anti-actions)
    assert sets(sim) == ["d=13", "c_failed=$1"]
    assert projection(sim)[-1] == ("hangup", "NORMAL_CLEARING")


def test_failed_condition_without_anti_action_keeps_earlier_actions_and_hunts_on(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t">
  <extension name="a">
    <condition field="destination_number" expression="^100$"><action application="set" data="kept=1"/></condition>
    <condition field="caller_id_number" expression="^9"><action application="set" data="no=1"/></condition>
  </extension>
  <extension name="b"><condition field="destination_number" expression="^100$"><action application="set" data="b=1"/></condition></extension>
</context>""")
    assert sets(sim) == ["kept=1", "b=1"]


@pytest.mark.parametrize("brk,expected", [
    ("on-false", ["first=no"]),
    ("never", ["first=no", "second=yes"]),
    ("always", ["first=no"]),
])
def test_break_modes_on_a_failing_condition(tmp_path: Path, brk: str, expected: list[str]) -> None:
    sim = run(tmp_path, f"""<context name="t"><extension name="a">
  <condition field="caller_id_number" expression="^999$" break="{brk}">
    <action application="set" data="first=yes"/><anti-action application="set" data="first=no"/>
  </condition>
  <condition field="destination_number" expression="^100$"><action application="set" data="second=yes"/></condition>
</extension></context>""")
    assert sets(sim) == expected


def test_break_on_true_stops_after_a_passing_condition(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="destination_number" expression="^100$" break="on-true"><action application="set" data="one=1"/></condition>
  <condition field="destination_number" expression="^100$"><action application="set" data="two=1"/></condition>
</extension></context>""")
    assert sets(sim) == ["one=1"]


def test_continue_and_inline(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t">
  <extension name="a" continue="true"><condition field="destination_number" expression="^100$">
    <action application="set" data="x=1" inline="true"/><action application="set" data="y=1"/>
  </condition></extension>
  <extension name="b"><condition field="${x}${y}" expression="^1$">
    <action application="set" data="saw=x-only"/><anti-action application="set" data="saw=other"/>
  </condition></extension>
</context>""")
    assert sets(sim) == ["x=1", "y=1", "saw=x-only"]


def test_nested_conditions(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="destination_number" expression="^100$">
    <action application="set" data="outer=1"/>
    <condition field="caller_id_number" expression="^1000$"><action application="set" data="inner=1"/></condition>
  </condition>
</extension></context>""")
    assert sets(sim) == ["outer=1", "inner=1"]


@pytest.mark.parametrize("rule,expected", [("all", "no"), ("any", "yes"), ("xor", "yes")])
def test_regex_lists(tmp_path: Path, rule: str, expected: str) -> None:
    sim = run(tmp_path, f"""<context name="t"><extension name="a">
  <condition regex="{rule}">
    <regex field="destination_number" expression="^100$"/>
    <regex field="caller_id_number" expression="^2000$"/>
    <action application="set" data="m=yes"/><anti-action application="set" data="m=no"/>
  </condition>
</extension></context>""")
    assert sets(sim) == ["m=" + expected]


TIME_PLAN = """<context name="t">
  <extension name="office"><condition wday="mon-fri" time-of-day="08:30-17:30">
    <action application="set" data="branch=office"/></condition></extension>
  <extension name="other"><condition><action application="set" data="branch=closed"/></condition></extension>
</context>"""


@pytest.mark.parametrize("start,variables,branch", [
    ("2026-11-23T09:00:00+00:00", None, "office"),           # Monday 09:00 UTC
    ("2026-11-22T09:00:00+00:00", None, "closed"),           # Sunday
    ("2026-11-23T18:00:00+00:00", None, "closed"),
    ("2026-11-23T02:00:00+00:00", {"timezone": "Asia/Shanghai"}, "office"),   # 10:00 in Beijing
    ("2026-11-23T02:00:00+00:00", {"tod_tz_offset": "8"}, "office"),
    ("2026-11-23T02:00:00+00:00", {"tod_tz_offset": "8", "timezone": "America/New_York"}, "office"),
    ("2026-11-23T14:00:00+00:00", {"timezone": "Asia/Shanghai"}, "closed"),   # 22:00 in Beijing
])
def test_time_conditions_use_the_virtual_clock_and_channel_zone(tmp_path: Path, start: str, variables,
                                                                 branch: str) -> None:
    sim = run(tmp_path, TIME_PLAN, start=start, variables=variables)
    assert sets(sim)[-1] == "branch=" + branch


def test_other_time_attributes(tmp_path: Path) -> None:
    # Monday 23 Nov 2026 10:15 UTC: yday 327, week 47, mweek 4, minute-of-day 616
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition year="2026" mon="11" mday="20-25" yday="327" week="47" mweek="4" hour="10" minute="15"
             minute-of-day="616" date-time="2026-11-23 10:00~2026-11-23 11:00">
    <action application="set" data="all=match"/><anti-action application="set" data="all=miss"/>
  </condition></extension></context>""", start="2026-11-23T10:15:00+00:00")
    assert sets(sim) == ["all=match"]


def test_expansion_channel_profile_global_api(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t"><extension name="a"><condition>
  <action application="set" data="n=12345"/>
  <action application="log" data="INFO ${n:1:3}|${n:-2}|${caller_id_number}|${domain}|${nope}"/>
  <action application="log" data="INFO ${cond(${n} &gt; 999 ? big : small)}|${cond(10 &lt; 9 ? a : b)}|${cond('abc' == 'abc' ? eq : ne)}"/>
  <action application="log" data="INFO ${strftime(%Y-%m-%d %H:%M)}|${regex(95598|^(955)(\\d+)|%2)}"/>
  <action application="set" data="v=${nosuchapi(x)}"/>
</condition></extension></context>""", start="2026-11-23T10:15:00+00:00")
    logs = [r["text"] for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]
    assert logs == ["234|45|1000|127.0.0.1|", "big|b|eq", "2026-11-23 10:15|98"]
    errors = sim.trace.errors()
    assert len(errors) == 1 and errors[0]["kind"] == "unknown_api" and errors[0]["api"] == "nosuchapi"


def test_no_matching_extension_is_no_route_destination(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="destination_number" expression="^999$"><action application="answer"/></condition>
</extension></context>""")
    assert projection(sim) == [("route", "100", "t"), ("hangup", "NO_ROUTE_DESTINATION")]


def test_unknown_application_ends_the_call_with_an_error_record(tmp_path: Path) -> None:
    sim = run(tmp_path, """<context name="t"><extension name="a"><condition>
  <action application="answer"/><action application="frobnicate" data="x"/><action application="set" data="after=1"/>
</condition></extension></context>""")
    assert ("execute", "set", "after=1") not in projection(sim)
    assert projection(sim)[-1] == ("hangup", "DESTINATION_OUT_OF_ORDER")
    assert [e["app"] for e in sim.trace.errors()] == ["frobnicate"]
