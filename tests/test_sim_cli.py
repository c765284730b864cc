"""``replay`` command: exit codes and messages (the lead wires it into ``fsgen``)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fsgen.sim.cli import replay
from fsgen.sim.testing import make_conf, write_wav


def case(tmp_path: Path, dialplan: str, call: dict) -> Path:
    write_wav(tmp_path / "sounds" / "hi.wav", 1.25)
    d = tmp_path / "case"
    make_conf(d / "conf", dialplan)
    (d / "call.json").write_text(json.dumps(call), encoding="utf-8")
    return d


PLAN = """<context name="c"><extension name="e"><condition field="destination_number" expression="^1$">
  <action application="answer"/><action application="playback" data="$${ref_sounds}/hi.wav"/>%s
</condition></extension></context>"""


def test_replay_prints_the_trace(tmp_path: Path) -> None:
    d = case(tmp_path, PLAN % "", {"dest": "1", "context": "c", "caller": "1000", "caller_name": "X"})
    res = CliRunner().invoke(replay, ["--trace", "json", str(d)])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    assert recs[0]["event"] == "meta"
    stops = [r for r in recs if r["event"] == "playback_stop"]
    assert stops[0]["t"] == 1.25 and stops[0]["leg"] == "b"
    assert recs[-1]["event"] == "hangup_complete"


def test_unknown_application_exits_1_with_the_reason(tmp_path: Path) -> None:
    d = case(tmp_path, PLAN % '<action application="no_such_app"/>', {"dest": "1", "context": "c"})
    res = CliRunner().invoke(replay, [str(d)])
    assert res.exit_code == 1
    assert "no_such_app" in res.stderr and '"event": "error"' in res.stdout


def test_bad_xml_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    d = case(tmp_path, PLAN % '<action application="set" data="x=1">', {"dest": "1", "context": "c"})
    res = CliRunner().invoke(replay, [str(d)])
    assert res.exit_code == 2
    assert "test.xml:4:" in res.stderr  # where </condition> closes the unclosed <action> and "XML syntax error" in res.stderr
    assert res.stdout == ""


def test_bad_call_json_exits_2(tmp_path: Path) -> None:
    d = case(tmp_path, PLAN % "", {"dest": "1"})
    (d / "call.json").write_text("{not json", encoding="utf-8")
    res = CliRunner().invoke(replay, [str(d)])
    assert res.exit_code == 2 and "call.json" in res.stderr and "not valid JSON" in res.stderr


def test_multi_call_form_places_every_call_and_runs_api_commands(tmp_path: Path) -> None:
    d = case(tmp_path, PLAN % '<action application="log" data="INFO ${global_flag}"/>',
             {"calls": [{"dest": "1", "context": "c", "caller": "2000", "caller_name": "X", "at": 0.0},
                        {"dest": "1", "context": "c", "caller": "2001", "caller_name": "Y", "at": 5.0}],
              "api_at": [{"at": 3.0, "cmd": "global_setvar global_flag=set-at-3"}], "timeout": 40})
    res = CliRunner().invoke(replay, [str(d)])
    assert res.exit_code == 0, res.output
    recs = [json.loads(line) for line in res.stdout.splitlines()]
    legs = {r["leg"]: r["cid_num"] for r in recs if r["event"] == "create"}
    assert legs == {"a": "2001", "b": "2000", "c": "2001"}  # harness legs are all "a"
    logs = [(r["leg"], r["t"], r["text"]) for r in recs if r["event"] == "log"]
    assert logs == [("b", 1.25, ""), ("c", 6.25, "set-at-3")]
    assert [r["reply"] for r in recs if r["event"] == "api"] == ["+OK"]
