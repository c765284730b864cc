"""Audit of the simulator's XML dialplan against FreeSWITCH's C source.

Each test pins one behaviour of mod_dialplan_xml.c (parse_exten), switch_xml.c
(switch_xml_std_datetime_check), switch_utils.c (switch_number_cmp, switch_dow_cmp,
switch_tod_cmp, switch_fulldate_cmp, switch_str_time), switch_regex.c or switch_channel.c
(switch_channel_expand_variables_check), named in the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import apps_run, call, make_conf, simulator


def run(tmp_path: Path, dialplan: str, dest: str = "100", caller: str = "1000",
        start: str = "2026-11-23T10:15:00+00:00", variables: dict | None = None, tz: str | None = None):
    kwargs = {"tz": tz} if tz else {}
    sim = simulator(make_conf(tmp_path / "conf", dialplan), start=start, **kwargs)
    return call(sim, dest, "t", caller=caller, variables=variables)


def sets(sim) -> list[str]:
    return [d for a, d in apps_run(sim) if a in ("set", "log")]


def timed(tmp_path: Path, attrs: str, start: str = "2026-11-23T10:15:00+00:00", variables: dict | None = None,
          tz: str | None = None) -> str:
    """'hit' / 'miss' of one condition carrying only time attributes."""
    sim = run(tmp_path, f"""<context name="t"><extension name="a"><condition {attrs}>
  <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
</condition></extension></context>""", start=start, variables=variables, tz=tz)
    return sets(sim)[-1].split("=", 1)[1]


# ---- switch_dow_cmp -------------------------------------------------------------------------

@pytest.mark.parametrize("spec,start,expected", [
    # only the first three letters of a day name are a token; "day" after "mon" is a parse error
    # that ends the walk, so "monday-friday" matches Mondays only
    ("monday-friday", "2026-11-24T10:15:00+00:00", "miss"),     # Tuesday
    ("monday-friday", "2026-11-23T10:15:00+00:00", "hit"),      # Monday: "mon" matched before the error
    ("mon-fri", "2026-11-24T10:15:00+00:00", "hit"),
    (" 2", "2026-11-23T10:15:00+00:00", "miss"),                # a space is a parse error
    ("sat-mon", "2026-11-22T10:15:00+00:00", "hit"),             # reversed range wraps (Sunday)
    ("2-4-6", "2026-11-27T10:15:00+00:00", "hit"),               # 2-4, then 4-6: Friday is 6
])
def test_wday_tokens_as_switch_dow_cmp_reads_them(tmp_path: Path, spec: str, start: str, expected: str) -> None:
    assert timed(tmp_path, f'wday="{spec}"', start=start) == expected


# ---- switch_number_cmp ----------------------------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ("8 ,10", "miss"),       # strtol stops at the space; not a ',' -> the list ends after 8
    ("9-11", "hit"),
    ("11-9", "miss"),        # reversed: >= 11 or <= 9
    ("22-10", "hit"),        # reversed range wraps around midnight
    ("10x", "hit"),          # strtol reads 10 and the rest is ignored
    ("1-5-10", "miss"),      # 1-5, then '-' is not ',': stop
])
def test_hour_lists_as_switch_number_cmp_reads_them(tmp_path: Path, spec: str, expected: str) -> None:
    assert timed(tmp_path, f'hour="{spec}"') == expected     # 10:15 UTC


def test_empty_minute_attribute_is_minute_zero(tmp_path: Path) -> None:
    # switch_number_cmp("") : strtol converts nothing and returns 0, compared with tm_min
    assert timed(tmp_path, 'minute=""', start="2026-11-23T10:00:30+00:00") == "hit"
    assert timed(tmp_path / "2", 'minute=""') == "miss"


# ---- switch_tod_cmp -------------------------------------------------------------------------

@pytest.mark.parametrize("spec,start,expected", [
    ("9-17", "2026-11-23T10:15:00+00:00", "miss"),          # no ':' -> never matches
    ("10:15", "2026-11-23T10:15:00+00:00", "miss"),         # no '-' -> never matches
    ("10:15-10:15", "2026-11-23T10:15:00+00:00", "hit"),    # both ends included
    ("10:15-10:15", "2026-11-23T10:15:01+00:00", "miss"),
    ("22:00-06:00", "2026-11-23T02:00:00+00:00", "hit"),    # reversed: wraps past midnight
    ("08:00-09:00,10:00:30-10:20", "2026-11-23T10:15:00+00:00", "hit"),
    ("10:15:30-11:00", "2026-11-23T10:15:00+00:00", "miss"),
])
def test_time_of_day_as_switch_tod_cmp_reads_it(tmp_path: Path, spec: str, start: str, expected: str) -> None:
    assert timed(tmp_path, f'time-of-day="{spec}"', start=start) == expected


# ---- switch_fulldate_cmp / switch_str_time --------------------------------------------------

@pytest.mark.parametrize("spec,expected", [
    ("2026-11-23 10:00~2026-11-23 10:15", "miss"),          # the end is excluded (start <= now < end)
    ("2026-11-23 10:15~2026-11-23 10:16", "hit"),
    ("10:00~11:00", "hit"),                                  # a time alone is today at that time
    ("bogus~x,2026-11-23 10:00~2026-11-23 11:00", "miss"),  # a bound it cannot parse ends the list
    ("nonsense,2026-11-23 10:00~2026-11-23 11:00", "hit"),  # a piece without '~' is skipped
    ("2026-11-23 9:75~2026-11-23 11:00", "hit"),             # minutes overflow into the hour (10:15)
])
def test_date_time_as_switch_fulldate_cmp_reads_it(tmp_path: Path, spec: str, expected: str) -> None:
    assert timed(tmp_path, f'date-time="{spec}"') == expected


def test_date_time_bounds_are_process_local_not_the_channel_timezone(tmp_path: Path) -> None:
    # switch_fulldate_cmp -> switch_str_time reads bounds with switch_time_exp_lt (process zone);
    # the channel's timezone variable only reaches the other attributes
    spec = 'date-time="2026-11-23 10:00~2026-11-23 11:00"'
    assert timed(tmp_path, spec, variables={"timezone": "Asia/Shanghai"}) == "hit"
    # a process zone of New York moves the window to 15:00-16:00 UTC
    assert timed(tmp_path / "ny", spec, tz="America/New_York") == "miss"
    assert timed(tmp_path / "ny2", spec, tz="America/New_York", start="2026-11-23T15:30:00+00:00") == "hit"


# ---- dst / tz-offset / check_tz -------------------------------------------------------------

@pytest.mark.parametrize("attrs,start,variables,tz,expected", [
    # time_match = (tm2.tm_isdst > 0 && dst > 0): dst="false" can never match
    ('dst="false"', "2026-11-23T10:15:00+00:00", None, None, "miss"),
    # tm2 is the process zone: a channel timezone in summer time does not count
    ('dst="true"', "2026-07-01T10:15:00+00:00", {"timezone": "America/New_York"}, None, "miss"),
    ('dst="true"', "2026-07-01T10:15:00+00:00", None, "America/New_York", "hit"),
    ('dst="false"', "2026-07-01T10:15:00+00:00", None, "America/New_York", "miss"),
])
def test_dst_attribute(tmp_path: Path, attrs: str, start: str, variables, tz, expected: str) -> None:
    assert timed(tmp_path, attrs, start=start, variables=variables, tz=tz) == expected


def test_empty_dst_attribute_is_no_time_condition(tmp_path: Path) -> None:
    # `if (!zstr(isdst))`: dst="" is not checked, so time_match stays -1 (no time attributes):
    # a field condition then decides alone (with time_match 1 a failing field still runs actions)
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="caller_id_number" expression="^9" dst="">
    <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
  </condition></extension></context>""")
    assert sets(sim) == ["t=miss"]


def test_tz_offset_uses_c_integer_division(tmp_path: Path) -> None:
    # eoffset = tm.tm_gmtoff / 3600 truncates toward zero: St John's (-3:30) is -3, not -4
    v = {"timezone": "America/St_Johns"}
    assert timed(tmp_path, 'tz-offset="-3"', variables=v) == "hit"
    assert timed(tmp_path / "2", 'tz-offset="-4"', variables=v) == "miss"


@pytest.mark.parametrize("offset,expected", [
    ("5.5", "hit"),     # switch_is_number accepts dots; atoi -> +5 h: 10:15 UTC is 15:15
    (" 5", "miss"),     # a space is not a number: the offset is ignored (UTC, hour 10)
])
def test_tod_tz_offset_parsing_as_check_tz(tmp_path: Path, offset: str, expected: str) -> None:
    assert timed(tmp_path, 'hour="15"', variables={"tod_tz_offset": offset}) == expected


# ---- parse_exten: conditions ------------------------------------------------------------------

NEXT = """<extension name="next"><condition><action application="set" data="next=ran"/></condition></extension>"""


def test_matching_time_attributes_queue_actions_even_when_the_field_fails(tmp_path: Path) -> None:
    # parse_exten: time_match == 1 sets anti_action = FALSE; the failing field only sets
    # proceed = 0, so the actions are queued (captures empty) and the hunt goes on
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a"><condition field="caller_id_number" expression="^(9)" hour="10">
    <action application="set" data="t=hit[$1]"/><anti-action application="set" data="t=miss"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["t=hit[]", "next=ran"]


def test_a_passing_field_queues_actions_even_when_the_time_attributes_fail(tmp_path: Path) -> None:
    # parse_exten: time_match == 0 only clears proceed; the field's regex then sets proceed = 1
    # and anti_action = FALSE
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a"><condition field="destination_number" expression="^100$" hour="3">
    <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["t=hit"]


def test_matching_time_attributes_override_a_failing_regex_list(tmp_path: Path) -> None:
    # same anti_action flag for regex="all": the list failing does not set it back
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition regex="all" hour="10">
    <regex field="destination_number" expression="^100$"/><regex field="caller_id_number" expression="^9"/>
    <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
  </condition></extension></context>""")
    assert sets(sim) == ["t=hit"]


def test_any_list_captures_come_from_an_earlier_failed_regex(tmp_path: Path) -> None:
    # parse_exten: a <regex> with a field and '(' that runs its loop turn to the end is saved
    # (save_re, save_proceed); the passing one breaks the loop before being saved, so the
    # failed one's captures (none) and proceed (0) are used: actions queued, the hunt goes on
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a"><condition regex="any">
    <regex field="caller_id_number" expression="^(9)(\\d+)$"/>
    <regex field="destination_number" expression="^(1)(\\d+)$"/>
    <action application="set" data="t=[$1][$2]"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["t=[][]", "next=ran"]


def test_any_list_captures_of_the_regex_that_broke_the_loop(tmp_path: Path) -> None:
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a"><condition regex="any">
    <regex field="caller_id_number" expression="^9"/>
    <regex field="destination_number" expression="^(1)(\\d+)$"/>
    <action application="set" data="t=[$1][$2]"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["t=[1][00]"]


def test_xor_list_captures_come_from_the_last_regex_with_a_group(tmp_path: Path) -> None:
    # xor never breaks: every <regex> with a field and '(' is saved, the last one wins even
    # when it failed (its proceed 0 makes the extension not match)
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a"><condition regex="xor">
    <regex field="destination_number" expression="^(1)(\\d+)$"/>
    <regex field="caller_id_number" expression="^(9)$"/>
    <action application="set" data="t=[$1][$2]"/><anti-action application="set" data="t=anti"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["t=[][]", "next=ran"]


def test_all_list_failing_after_a_saved_pass_still_matches_the_extension(tmp_path: Path) -> None:
    # regex="all": the first <regex> (with '(') passes and is saved; the second fails and breaks;
    # anti_action stays TRUE but proceed is the saved 1, so the extension matches and the hunt
    # stops although nothing was queued by it
    sim = run(tmp_path, f"""<context name="t">
  <extension name="first" continue="true"><condition><action application="set" data="first=ran"/></condition></extension>
  <extension name="a"><condition regex="all">
    <regex field="destination_number" expression="^(100)$"/>
    <regex field="caller_id_number" expression="^9"/>
    <action application="set" data="t=all"/>
  </condition></extension>{NEXT}</context>""")
    assert sets(sim) == ["first=ran"]


def test_dp_match_and_dp_regex_match_variables(tmp_path: Path) -> None:
    # parse_exten: switch_capture_regex pushes every group onto DP_MATCH (a pushed header is an
    # ARRAY::), and onto DP_REGEX_MATCH_<n> for each <regex> with a field and '('
    sim = run(tmp_path, """<context name="t">
  <extension name="a" continue="true"><condition field="destination_number" expression="^(1)(\\d+)$">
    <action application="log" data="INFO ${DP_MATCH}" inline="true"/>
  </condition></extension>
  <extension name="b"><condition regex="all">
    <regex field="caller_id_number" expression="^(\\d)000$"/>
    <regex field="destination_number" expression="^1"/>
    <action application="log" data="INFO ${DP_REGEX_MATCH_1}|${DP_MATCH}"/>
  </condition></extension></context>""")
    logs = [r["text"] for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]
    assert logs == ["ARRAY::100|:1|:00", "ARRAY::1000|:1|ARRAY::1000|:1"]


# ---- switch_perform_substitution / switch_regex_perform ---------------------------------------

def test_brace_captures_and_no_backslash_escape(tmp_path: Path) -> None:
    # switch_perform_substitution: ${N} is a capture too; a backslash does not escape '$';
    # ${x} is left for the execution-time expansion (x unset: "")
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="destination_number" expression="^(1)(0)(0)$">
    <action application="set" data="a=${1}x${3}"/>
    <action application="set" data="b=$9|${x}|$"/>
    <action application="log" data="INFO \\$2"/>
  </condition></extension></context>""")
    assert sets(sim) == ["a=1x0", "b=||$", "INFO \\0"]


@pytest.mark.parametrize("expr,dest,expected", [
    ("_1XX", "100", "hit"),          # switch_ast2regex: ^1[0-9][0-9]$
    ("_1XX", "1000", "miss"),
    ("_NXX", "100", "miss"),         # N is [2-9]
    ("_2.", "2345", "hit"),          # . is .*
    ("/^ABC$/i", "abc", "hit"),      # /.../i : caseless
    ("/^abc", "/^abc", "miss"),      # no closing '/': an error, no match
    ("^\\d+$", "\u0661\u0662", "miss"),   # PCRE without UTF: \d is ASCII only
])
def test_expression_forms_of_switch_regex_perform(tmp_path: Path, expr: str, dest: str, expected: str) -> None:
    sim = run(tmp_path, f"""<context name="t"><extension name="a">
  <condition field="destination_number" expression="{expr}">
    <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
  </condition></extension></context>""", dest=dest)
    assert sets(sim) == ["t=" + expected]


def test_profile_field_names_are_case_insensitive(tmp_path: Path) -> None:
    # switch_caller_get_field_by_name compares with strcasecmp
    sim = run(tmp_path, """<context name="t"><extension name="a">
  <condition field="Caller_ID_Number" expression="^1000$">
    <action application="set" data="t=hit"/><anti-action application="set" data="t=miss"/>
  </condition></extension></context>""")
    assert sets(sim) == ["t=hit"]


@pytest.mark.parametrize("loop,count", [("", 0), ("x", 0), ("2x", 2), ("3", 3)])
def test_loop_attribute_is_atoi(tmp_path: Path, loop: str, count: int) -> None:
    # parse_exten: if (loop) loop_count = atoi(loop)
    sim = run(tmp_path, f"""<context name="t"><extension name="a"><condition>
  <action application="set" data="t=1" loop="{loop}"/><action application="set" data="end=1"/>
</condition></extension></context>""")
    assert sets(sim) == ["t=1"] * count + ["end=1"]


@pytest.mark.parametrize("value,inline", [("2", True), ("0", False), (" true", False), ("TRUE", True)])
def test_inline_attribute_is_switch_true(tmp_path: Path, value: str, inline: bool) -> None:
    # switch_true(): yes/on/true/t/enabled/active/allow (any case) or a non-zero number
    sim = run(tmp_path, f"""<context name="t">
  <extension name="a" continue="true"><condition>
    <action application="set" data="x=1" inline="{value}"/></condition></extension>
  <extension name="b"><condition field="${{x}}" expression="^1$">
    <action application="set" data="saw=yes"/><anti-action application="set" data="saw=no"/>
  </condition></extension></context>""")
    assert sets(sim)[-1] == ("saw=yes" if inline else "saw=no")
