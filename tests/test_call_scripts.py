"""Call scripts: loading (file:line errors), checking against the flows, timing of the caller's
steps, the scripted esl_app stand-in on real TCP, parties, expectations and their diffs, the
``replay`` command's exit codes, and the pytest helper.

Most tests use a small flow written here with ``file:`` prompts of known length (hello 3.0 s,
choose 2.0 s, wrong 1.0 s, bye 1.5 s) so every time below can be worked out by hand.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsgen.sim import batch
from fsgen.sim.batch import MIN_SCRIPTS, default_jobs, replay_scripts
from fsgen.sim.cli import replay as replay_cmd
from fsgen.sim.replay import Rig, check_script, replay_script
from fsgen.sim.script import load_scripts, scripts_from_text
from fsgen.sim.testing import ScriptProblem, replay_call, replay_rig, write_wav

ROOT = Path(__file__).resolve().parent.parent

FLOW = """\
flow: mini
numbers: ["7700"]
languages: [en]
start: menu
settings: {timezone: Asia/Shanghai}
prompts:
  hello: {file: mini/hello.wav}
  choose: {file: mini/choose.wav}
  wrong: {file: mini/wrong.wav}
  bye: {file: mini/bye.wav}
nodes:
  menu:
    type: menu
    prompts: [hello, choose]
    reprompts: [choose]
    options: {"1": who, "2": bye}
    invalid: {prompt: wrong, max: 2, then: bye}
    no_input: {max: 2, then: bye}
  who:
    type: lookup
    lookups: [customer]
    next: tier
  tier:
    type: branch
    variable: hotline_customer_tier
    cases: [{equals: platinum, then: vip}]
    else: bye
  vip:
    type: transfer
    user: "2001"
    timeout: 10
    fallback: bye
  bye:
    type: hangup
    prompt: bye
"""


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mini")
    for name, secs in (("hello", 3.0), ("choose", 2.0), ("wrong", 1.0), ("bye", 1.5)):
        write_wav(root / "recordings" / "mini" / f"{name}.wav", secs)
    (root / "flows").mkdir()
    (root / "flows" / "mini.yaml").write_text(FLOW, encoding="utf-8")
    return root / "flows"


@pytest.fixture(scope="module")
def rig(flows: Path) -> Iterator[Rig]:
    built = replay_rig(flows)
    try:
        yield built
    finally:
        built.close()


def run(rig: Rig, text: str):
    scripts, problems = scripts_from_text(text, "t.yaml")
    assert not problems, [p.format() for p in problems]
    problems = check_script(rig, scripts[0])
    assert not problems, [p.format() for p in problems]
    return replay_script(rig, scripts[0])


def dtmf_times(result) -> list[tuple[float, str]]:
    return [(r["t"], r["digit"]) for r in result.trace if r.get("leg") == "b" and r["event"] == "dtmf"]


# ---- loading ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "line", "words"), [
    ("call: x\nflow: mini\nsteps:\n  - press: '1'\n    durring: choose\n", 5, "did you mean 'during'"),
    ("call: x\nflow: mini\nflow: other\n", 3, "duplicate key 'flow'"),
    ("call: x\nsteps:\n  - wait: 3\n", 1, "flow: <name>"),
    ("flow: mini\n", 1, "needs 'call:'"),
    ("call: x\nflow: mini\nsteps:\n  - press: '1x'\n", 4, "DTMF digits"),
    ("call: x\nflow: mini\nsteps:\n  - press: '1'\n    during: choose\n    at: 3\n", 6, "two timings"),
    ("call: x\nflow: mini\nsteps:\n  - wait: soon\n", 4, "number of seconds"),
    ("call: x\nflow: mini\nat: tomorrow\n", 3, "not a local time"),
    ("call: x\nflow: mini\nexpect:\n  queue: {name: q, position: 0}\n", 4, "whole number"),
    ("call: x\nflow: mini\nparties:\n  agents:\n    '1001': {busy: true, answers_after: 2}\n", 5, "cannot both"),
    ("call: x\nflow: mini\n  steps: [\n", 3, "YAML syntax error"),
])
def test_bad_scripts_are_reported_with_file_and_line(text: str, line: int, words: str) -> None:
    scripts, problems = scripts_from_text(text, "calls/bad.yaml")
    assert problems and not scripts
    assert problems[0].file == "calls/bad.yaml" and problems[0].line == line, problems[0].format()
    assert words in problems[0].format()


def test_a_file_may_hold_several_calls(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text("calls:\n  - {call: a, flow: mini}\n  - {call: b, to: '7700', from: {number: '1', name: N}}\n",
                 encoding="utf-8")
    scripts, problems = load_scripts(f)
    assert not problems
    assert [(s.title, s.flow, s.to, s.caller, s.caller_name) for s in scripts] == [
        ("a", "mini", None, "13800138000", "Caller"), ("b", None, "7700", "1", "N")]


def test_names_are_checked_against_the_compiled_flow(rig: Rig) -> None:
    scripts, _ = scripts_from_text(
        "call: x\nflow: mini\nlookups: {custmer: {a: b}}\nsteps:\n  - press: '1'\n    during: chose\n"
        "expect:\n  menus: [who]\n  voicemail: '8000'\n", "t.yaml")
    messages = [p.format() for p in check_script(rig, scripts[0])]
    assert any("t.yaml:3:1" in m and "never asks esl_app for 'custmer'" in m and "customer" in m for m in messages)
    assert any("t.yaml:5:5" in m and "no prompt 'chose'" in m and "did you mean 'choose'" in m for m in messages)
    assert any("no menu 'who'" in m for m in messages)
    assert any("no voicemail in box '8000'" in m for m in messages)
    scripts, _ = scripts_from_text("call: x\nflow: mimi\n", "t.yaml")
    assert "did you mean 'mini'" in check_script(rig, scripts[0])[0].format()
    scripts, _ = scripts_from_text("call: x\nto: '7701'\n", "t.yaml")
    assert "no flow answers 7701" in check_script(rig, scripts[0])[0].format()


# ---- timing of the caller's steps -------------------------------------------------------------------------
def test_during_presses_into_the_named_prompt_of_a_playback(rig: Rig) -> None:
    # hello (0-3 s) then choose (3-5 s) in one playback: 'during choose' is 1 s into choose
    res = run(rig, "call: x\nflow: mini\nsteps:\n  - press: '2'\n    during: choose\n")
    assert dtmf_times(res) == [(4.035, "2")]   # + the loopback's 35 ms DTMF latency
    assert res.heard == ["hello", "choose", "bye"]
    assert not res.observation.heard[1].complete


def test_after_at_menu_and_offsets(rig: Rig) -> None:
    res = run(rig, "call: x\nflow: mini\nsteps:\n  - press: '9'\n    after: hello\n    offset: 0.5\n"
                   "  - press: '2'\n    menu: menu\n    offset: 0.2\n")
    # 9 at 3.5 (0.5 s after hello) is invalid; the menu asks again (wrong 1 s, then choose): 2 at ask + 0.2
    assert [d for _, d in dtmf_times(res)] == ["9", "2"]
    assert dtmf_times(res)[0][0] == 3.535
    ask = next(r["t"] for r in res.trace if r["event"] == "route" and r.get("dest") == "menu.invalid")
    assert dtmf_times(res)[1][0] == pytest.approx(ask + 0.2 + 0.035)
    res = run(rig, "call: x\nflow: mini\nsteps:\n  - press: '2'\n    at: 1.25\n")
    assert dtmf_times(res) == [(1.285, "2")]


def test_a_step_whose_moment_never_comes_fails_the_call(rig: Rig) -> None:
    res = run(rig, "call: x\nflow: mini\nsteps:\n  - press: '2'\n    during: choose\n"
                   "  - press: '1'\n    during: hello\n")
    assert not res.ok
    assert "step 'press 1 during hello'" in res.report() and "never happened" in res.report()


def test_no_input_runs_into_the_flows_timeouts(rig: Rig) -> None:
    res = run(rig, "call: x\nflow: mini\nexpect:\n  heard: {exact: [hello, choose, choose, bye]}\n"
                   "  hangup: NORMAL_CLEARING\n")
    assert res.ok, res.transcript
    assert res.variables["hotline_menu_noinput"] == "xx"


# ---- the pagd _invalid rule the compiled menus rely on --------------------------------------------------------
def test_invalid_then_silence_script_catches_a_leaking_invalid_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """FreeSWITCH clears ${var}_invalid when play_and_get_digits (with a regex) starts; the shipped
    script passes with that rule and fails, with a diff, on a switch that kept the old value."""
    from fsgen.sim import apps
    from fsgen.sim.apps import digits

    script = ROOT / "examples" / "calls" / "paging" / "invalid_then_silence_counts_as_no_input.yaml"
    with replay_rig(ROOT / "examples") as rig:
        assert replay_call(script, rig=rig).ok
        original = digits.play_and_get_digits

        def leaky(chan, data):  # the same app, but the stale value survives into the next attempt
            kept = chan.var("hotline_digits_invalid")
            result = yield from original(chan, data)
            if kept and chan.var("hotline_digits_invalid") is None and chan.var("hotline_digits") is None:
                chan.set_var("hotline_digits_invalid", kept)
            return result
        monkeypatch.setitem(apps.APPS, "play_and_get_digits",
                            apps.AppSpec("play_and_get_digits", leaky, apps.APPS["play_and_get_digits"].inline))
        broken = replay_call(script, rig=rig)
    assert not broken.ok
    report = broken.report()
    assert "hotline_main_noinput = 'x': it is unset" in report   # silence was counted as a wrong key
    assert "hotline_main_invalid = 'x': it is 'xxx'" in report   # ... until the wrong-key limit
    assert "step 'hang up during no_input'" in report and "never happened" in report


# ---- the esl_app stand-in ---------------------------------------------------------------------------------
def test_lookups_are_answered_over_the_outbound_protocol_by_the_stub(rig: Rig) -> None:
    res = run(rig, "call: x\nflow: mini\nlookups:\n  customer: {hotline_customer_tier: platinum}\n"
                   "parties:\n  agents:\n    user/2001: {answers_after: 2, talks: 5}\n"
                   "steps:\n  - press: '1'\n    during: hello\n"
                   "expect:\n  bridged_to: user/2001\n  variables: {hotline_lookup_status: ok}\n")
    assert res.ok, res.transcript
    sockets = [r["data"] for r in res.trace if r["event"] == "execute" and r["app"] == "socket"]
    assert sockets == ["127.0.0.1:8084 async full"]          # the trace keeps the configured target
    stub = res.run.rig.stub()
    assert stub.port != 8084 and stub.hops[-1].lookups == ["customer"]
    sets = [r["data"] for r in res.trace if r["event"] == "execute" and r["app"] == "set"]
    at = sets.index("hotline_customer_tier=platinum")
    assert sets[at - 1:at + 2] == ["hotline_lookup_status=failed", "hotline_customer_tier=platinum",
                                   "hotline_lookup_status=ok"]


def test_answers_in_a_list_are_used_one_per_lookup_and_unlisted_lookups_fail(rig: Rig) -> None:
    text = ("call: x\nflow: mini\nlookups:\n  customer: [{hotline_customer_tier: gold}, {hotline_customer_tier: "
            "platinum}]\nsteps:\n  - press: '1'\n    during: hello\n")
    first = run(rig, text)
    assert first.variables["hotline_customer_tier"] == "gold"
    res = run(rig, "call: x\nflow: mini\nsteps:\n  - press: '1'\n    during: hello\n")
    assert res.variables["hotline_lookup_status"] == "failed"
    assert "esl_app customer -> failed" in res.transcript


def test_esl_app_down_leaves_the_lookup_failed(rig: Rig) -> None:
    res = run(rig, "call: x\nflow: mini\nesl_app: down\nsteps:\n  - press: '1'\n    during: hello\n"
                   "expect:\n  heard: [hello, bye]\n  variables: {hotline_lookup_status: failed}\n")
    assert res.ok, res.transcript
    assert any(r["event"] == "log" and r.get("text", "").startswith("Socket Error") for r in res.trace)


def test_the_stub_stops_with_the_rig(flows: Path) -> None:
    rig = replay_rig(flows)
    port = rig.stub().port
    rig.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


# ---- parties ---------------------------------------------------------------------------------------------
def test_busy_user_falls_back_and_a_party_can_press_digits(rig: Rig) -> None:
    vip = "call: x\nflow: mini\nlookups: {customer: {hotline_customer_tier: platinum}}\n"
    busy = run(rig, vip + "parties:\n  agents:\n    user/2001: busy\nsteps:\n  - {press: '1', during: hello}\n"
                          "expect:\n  nodes: [vip, bye]\n  bridged_to: false\n")
    assert busy.ok, busy.transcript
    assert busy.variables["originate_disposition"] == "USER_BUSY"
    presses = run(rig, vip + "parties:\n  agents:\n    user/2001: {answers_after: 1, talks: 10, "
                             "presses: [{digits: '42', at: 2}]}\nsteps:\n  - {press: '1', during: hello}\n")
    agent_leg = next(r["leg"] for r in presses.trace if r["event"] == "create" and "2001@" in r.get("name", ""))
    answered = next(r["t"] for r in presses.trace if r["leg"] == agent_leg and r["event"] == "answer")
    got = [(round(r["t"] - answered, 2), r["digit"]) for r in presses.trace
           if r["leg"] == agent_leg and r["event"] == "dtmf"]
    assert got == [(2.0, "4"), (2.25, "2")]


def test_unscripted_parties_do_not_answer(rig: Rig) -> None:
    # user 2001 is in no directory: FreeSWITCH fails the user/ dial string with SUBSCRIBER_ABSENT
    res = run(rig, "call: x\nflow: mini\nlookups: {customer: {hotline_customer_tier: platinum}}\n"
                   "steps:\n  - {press: '1', during: hello}\nexpect: {nodes: [vip, bye], bridged_to: false}\n")
    assert res.ok, res.transcript
    assert res.variables["originate_disposition"] == "SUBSCRIBER_ABSENT"
    # a user the script mentions without saying it answers is registered but never picks up
    res = run(rig, "call: x\nflow: mini\nlookups: {customer: {hotline_customer_tier: platinum}}\n"
                   "parties: {status: {}, agents: {user/2001: no_answer}}\nsteps:\n  - {press: '1', during: hello}\n")
    assert res.variables["originate_disposition"] == "NO_ANSWER"
    assert res.observation.nodes[-1] == (pytest.approx(1.0 + 0.035 + 10, abs=0.05), "bye")  # call_timeout 10


# ---- expectations ------------------------------------------------------------------------------------------
def test_ordered_subsequence_and_exact_lists_with_diffs(rig: Rig) -> None:
    ok = run(rig, "call: x\nflow: mini\nsteps:\n  - {press: '2', during: choose}\n"
                  "expect:\n  heard: [hello, bye]\n  nodes: {exact: [hotline_entry, menu, bye]}\n")
    assert ok.ok, ok.transcript
    bad = run(rig, "call: x\nflow: mini\nsteps:\n  - {press: '2', during: choose}\n"
                   "expect:\n  heard: [bye, hello]\n  nodes: {exact: [menu, bye]}\n  not_heard: [choose]\n"
                   "  variables: {hotline_digits: '1', hotline_flow: null}\n  hangup: CALL_REJECTED\n")
    report = bad.report()
    assert "t.yaml:6:10: expected prompts heard: these in this order" in report
    assert "missing:  hello after bye" in report
    assert "- hotline_entry" not in report and "+ hotline_entry" in report   # ndiff: observed extra
    assert "expected not to hear choose: heard it at 3.0 s" in report
    assert "hotline_digits = '1': it is '2'" in report and "hotline_flow unset: it is 'mini'" in report
    assert "hangup cause CALL_REJECTED: the call ended with NORMAL_CLEARING" in report
    assert "FAIL" in bad.transcript


# ---- the command -------------------------------------------------------------------------------------------
def test_replay_command_exit_codes_and_outputs(flows: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("call: two hangs up\nflow: mini\nsteps:\n  - {press: '2', during: choose}\n"
                    "expect: {heard: [hello, choose, bye]}\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("call: wrong\nflow: mini\nexpect: {hangup: USER_BUSY}\n", encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("call: broken\nflow: mini\nsteps:\n  - press: '1'\n    during: nothing\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(replay_cmd, [str(flows), str(good)])
    assert res.exit_code == 0, res.output
    assert "hears choose" in res.stdout and "presses 2" in res.stdout and "1 call: 1 passed" in res.stdout
    res = runner.invoke(replay_cmd, [str(flows), str(good), str(bad)])
    assert res.exit_code == 1
    assert "expected hangup cause USER_BUSY: the call ended with NORMAL_CLEARING" in res.stdout
    assert "2 calls: 1 passed, 1 failed" in res.stdout
    res = runner.invoke(replay_cmd, [str(flows), str(broken)])
    assert res.exit_code == 2
    assert "broken.yaml:4:5: error: flow 'mini' has no prompt 'nothing'" in res.stderr
    assert "Traceback" not in res.output
    res = runner.invoke(replay_cmd, [str(flows)])
    assert res.exit_code == 2 and "no call scripts given" in res.stderr
    res = runner.invoke(replay_cmd, ["--trace", "json", str(flows), str(good)])
    assert res.exit_code == 0
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert records[0]["event"] == "meta" and records[0]["call"] == "two hangs up"
    assert {"route", "playback_start", "dtmf", "hangup"} <= {r["event"] for r in records}


MANY = [
    "call: two hangs up\nflow: mini\nsteps:\n  - {press: '2', during: choose}\nexpect: {heard: [hello, choose, bye]}\n",
    "call: wrong key twice\nflow: mini\nsteps:\n  - {press: '9', during: choose}\n  - {press: '8', during: choose}\n",
    "call: silence\nflow: mini\n",
    "call: expects the wrong cause\nflow: mini\nexpect: {hangup: USER_BUSY}\n",
    "call: hangs up early\nflow: mini\nsteps:\n  - wait: 1\n  - hangup\n",
]
VIP = ("call: vip {n}\nflow: mini\nlookups:\n  customer: {{hotline_customer_tier: platinum, hotline_customer_id: c{n}}}\n"
       "parties:\n  agents:\n    user/2001: {{answers_after: 2, talks: 5}}\n"
       "steps:\n  - press: '1'\n    during: hello\nexpect:\n  bridged_to: user/2001\n")


def _normalized(text: str) -> str:
    return re.sub(r"hotline-replay-[A-Za-z0-9_]+", "WORKDIR", text)


def test_several_processes_print_what_one_process_prints(flows: Path, tmp_path: Path) -> None:
    paths = []
    for i, text in enumerate(MANY * 3):
        paths.append(tmp_path / f"s{i:02d}.yaml")
        paths[-1].write_text(text, encoding="utf-8")
    runner = CliRunner()
    for extra in ([], ["--trace", "json"]):
        one = runner.invoke(replay_cmd, [*extra, "--jobs", "1", str(flows), *map(str, paths)])
        three = runner.invoke(replay_cmd, [*extra, "--jobs", "3", str(flows), *map(str, paths)])
        assert one.exit_code == three.exit_code == 1, three.output
        assert "15 calls: 12 passed, 3 failed" in (one.stderr if extra else one.stdout)
        assert _normalized(three.stdout) == _normalized(one.stdout)
        assert three.stderr == one.stderr
    assert one.stdout.count('"event": "meta"') == 15


def test_workers_answer_lookups_with_stubs_of_their_own(rig: Rig) -> None:
    first = run(rig, VIP.format(n=0))          # the parent's stub is listening now
    assert first.ok, first.transcript
    scripts = [scripts_from_text(VIP.format(n=n), f"vip{n}.yaml")[0][0] for n in range(1, 7)]
    results = list(replay_scripts(rig, scripts, jobs=2))
    assert [r.title for r in results] == [f"vip {n}" for n in range(1, 7)]
    assert all(r.ok for r in results), [r.transcript for r in results if not r.ok]
    assert all(f"hotline_customer_id=c{n}" in r.transcript for n, r in enumerate(results, 1))  # its own answers
    assert rig.stub().hops[-1].lookups == ["customer"]
    assert run(rig, VIP.format(n=7)).ok          # and the parent's still answers


def test_a_worker_that_dies_ends_the_replay_with_an_error(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    real = batch.replay_one

    def dies_on_the_third(rig: Rig, script, **kwargs):
        if script.title == "vip 3":
            os._exit(9)  # as the kernel's OOM killer would end it: no exception, no result
        return real(rig, script, **kwargs)

    monkeypatch.setattr(batch, "replay_one", dies_on_the_third)  # the workers fork with it
    scripts = [scripts_from_text(VIP.format(n=n), f"vip{n}.yaml")[0][0] for n in range(1, 7)]
    with pytest.raises(batch.WorkerDied, match="--jobs 1"):
        list(replay_scripts(rig, scripts, jobs=2))


def test_default_jobs_one_per_core_only_when_there_are_enough_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_jobs(MIN_SCRIPTS - 1) == 1
    assert default_jobs(MIN_SCRIPTS) == (2 if "fork" in multiprocessing.get_all_start_methods() else 1)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_jobs(1000) in (1, 8)


def test_replay_a_compiled_conf_dir(flows: Path, tmp_path: Path) -> None:
    from fsgen.compiler import compile_to

    result = compile_to([flows], tmp_path / "conf", env={})
    assert result.ok, [p.format() for p in result.problems]
    with Rig.from_sources([tmp_path / "conf"], recordings=flows.parent / "recordings") as rig:
        res = replay_call({"call": "from the conf dir", "flow": "mini", "steps": [{"press": "2", "during": "choose"}],
                           "expect": {"heard": ["hello.wav", "choose.wav", "bye.wav"], "hangup": "NORMAL_CLEARING"}},
                          rig=rig)
    assert res.ok, res.transcript
    assert dtmf_times(res) == [(4.035, "2")]   # real WAV durations through the recordings folder


def test_replay_call_helper_takes_a_dict_and_reports_problems(flows: Path) -> None:
    res = replay_call({"call": "a few lines of Python", "flow": "mini",
                       "steps": [{"press": "2", "during": "choose"}], "expect": {"heard": ["bye"]}}, flows=flows)
    assert res.ok and res.heard[-1] == "bye" and res.variables["hotline_digits"] == "2"
    assert res.trace[0]["event"] == "meta"
    with pytest.raises(ScriptProblem, match="no prompt 'byebye'"):
        replay_call({"call": "x", "flow": "mini", "expect": {"heard": ["byebye"]}}, flows=flows)


def test_text_prompts_default_ignores_rendered_wavs(tmp_path: Path) -> None:
    """A text prompt lasts the stated default even when `fsgen prompts` rendered it."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "t.yaml").write_text(
        "flow: t\nnumbers: ['7800']\nlanguages: [en]\nstart: m\nprompts: {p: {en: Press two}}\n"
        "nodes:\n  m: {type: menu, prompts: [p], options: {'2': hangup}}\n", encoding="utf-8")
    write_wav(tmp_path / "recordings" / "t" / "p.en.wav", 7.0)
    script = {"call": "x", "flow": "t", "steps": [{"hangup": True, "after": "p", "offset": 0.0}]}
    with replay_rig(tmp_path / "flows", text_prompts="default") as rig:
        stable = replay_call(script, rig=rig)
    with replay_rig(tmp_path / "flows", text_prompts="files") as rig:
        rendered = replay_call(script, rig=rig)
    assert stable.observation.hangup_t == pytest.approx(2.0)
    assert rendered.observation.hangup_t == pytest.approx(7.0)


# ---- a real esl_app ------------------------------------------------------------------------------------------
@pytest.fixture
def live_esl_app(tmp_path: Path) -> Iterator[int]:
    """esl_app serving a SQLite database with one platinum customer (13912345678) on 127.0.0.1:<free>."""
    import os
    import subprocess
    import sys
    import time

    from esl_app.db import init_schema, open_database
    from tests.esl_app_support.data import add_bill, add_customer

    url = f"sqlite:///{tmp_path}/hotline.db"
    db = open_database(url)
    init_schema(db)
    customer = add_customer("周总", "950123", ["13912345678"], tier="platinum", agent="1002")
    add_bill(customer, "88.00", 3)
    db.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "hotline.yaml"
    config.write_text("{}\n", encoding="utf-8")
    env = dict(os.environ, HOTLINE_DB_URL=url, HOTLINE_ESL_HOST="127.0.0.1", HOTLINE_ESL_PORT=str(port),
               HOTLINE_CONFIG=str(config))
    log = (tmp_path / "esl_app.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "esl_app.cli", "serve"], env=env, cwd=str(tmp_path),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("esl_app did not start: " + (tmp_path / "esl_app.log").read_text(errors="replace"))
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_esl_app_live_answers_the_demo_flows_lookups(live_esl_app: int) -> None:
    """The compiled demo flow against the real esl_app: the lookup contract end to end."""
    script = {"call": "a known platinum caller with a small balance", "flow": "water", "esl_app": "live",
              "from": {"number": "13912345678", "name": "周总"},
              "steps": [{"hangup": True, "during": "main_menu"}],
              "expect": {"heard": ["welcome", "arrears_prefix", "arrears_suffix", "main_menu"],
                         "variables": {"hotline_lookup_status": "ok", "hotline_customer_tier": "platinum",
                                       "cc_base_score": "3000", "hotline_designated_agent": "1002",
                                       "hotline_arrears": "true", "hotline_arrears_amount": "88.00"}}}
    result = replay_call(script, flows=ROOT / "flows", esl_port=live_esl_app)
    assert result.ok, result.transcript


def test_a_call_reaching_an_unsimulated_module_reports_it_as_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/test_example_calls.py turns such calls into strict xfails; they must name the module."""
    from fsgen.sim import apps

    apps.load_all()
    monkeypatch.delitem(apps.APPS, "voicemail")
    res = replay_call(ROOT / "examples" / "calls" / "paging" / "operator_no_agent_voicemail.yaml", flows=ROOT / "examples")
    assert not res.ok and res.pending == {"mod_voicemail"}
    assert "application 'voicemail' is not simulated" in res.report()
