"""Compiled flows run in the simulator (fsgen/sim, modelled on real FreeSWITCH 1.10):
what callers experience - menus attempt by attempt, barge-in, back, ranges, hours in the
flow's time zone, queues timing out, collect failures.

Prompts are silent WAVs of known length, so timings are exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.compiler import compile_to
from fsgen.sim import testing as simt

MENU = 2.0  # seconds of every prompt


def run(tmp_path: Path, flow: str, dtmf: list[tuple[float, str]] = (),  # type: ignore[assignment]
        start: str = "2026-11-22T23:26:00+00:00", dest: str = "96000") -> list[tuple]:
    recordings = tmp_path / "recordings"
    (tmp_path / "flows").mkdir(parents=True, exist_ok=True)
    text = flow.replace("PROMPT_DIR", str(recordings))
    (tmp_path / "flows" / "t.yaml").write_text(text, encoding="utf-8")
    import yaml

    data = yaml.safe_load(text)
    for pid, spec in (data.get("prompts") or {}).items():
        for lang in data.get("languages", ["zh"]):
            if lang in spec:
                simt.write_wav(recordings / data["flow"] / f"{pid}.{lang}.wav", MENU)
    result = compile_to([tmp_path / "flows"], tmp_path / "conf", recordings=recordings, env={}, jobs=1)
    assert result.ok, [p.format() for p in result.problems]
    sim = simt.simulator(tmp_path / "conf", start=start)
    simt.call(sim, dest, "public", dtmf=dtmf)
    return simt.projection(sim, times=True)


def routes(events: list[tuple]) -> list[str]:
    """Extensions the call went through after entering the flow."""
    out = [e[2] for e in events if e[1] == "route"]
    assert out[:2] == ["96000", "hotline_entry"]
    return out[2:]


def hangup(events: list[tuple]) -> tuple:
    return next(e for e in events if e[1] == "hangup")


FLOW = """
flow: t
numbers: ["96000"]
start: main
settings: {prompt_dir: PROMPT_DIR, timezone: Asia/Shanghai}
prompts:
  menu: {zh: 菜单}
  sub: {zh: 子菜单}
  bad: {zh: 按键无效}
nodes:
  main:
    type: menu
    prompts: [menu]
    timeout: 3
    options: {"1": sub, "9": bye, "1000-1099": desk}
    inter_digit_timeout: 1
    invalid: {prompt: bad, max: 2, then: agents}
    no_input: {max: 2, then: bye}
  sub:
    type: menu
    prompts: [sub]
    options: {"*": back, "2": bye}
  desk: {type: hangup, cause: CALL_REJECTED}
  agents: {type: hangup, cause: USER_BUSY}
  bye: {type: hangup, cause: NORMAL_CLEARING}
"""


def test_invalid_keys_and_silence_are_counted_apart(tmp_path: Path) -> None:
    # invalid key, then silence, then another invalid key: the second invalid entry is the max
    events = run(tmp_path, FLOW, [(2.5, "7"), (12.5, "7")])
    assert routes(events) == ["main", "main.ask", "main.route", "main.invalid",
                              "main.route", "main.no_input", "main.route", "main.invalid", "agents"]
    assert hangup(events)[2] == "USER_BUSY"
    played = [e[2] for e in events if e[1] == "playback_start" and not e[2].startswith("silence")]
    assert played[1].startswith("file_string://") and "bad.zh.wav" in played[1]  # "invalid key" + menu


def test_silence_until_no_input_max(tmp_path: Path) -> None:
    events = run(tmp_path, FLOW)
    assert routes(events)[-3:] == ["main.route", "main.no_input", "bye"]
    assert routes(events).count("main.no_input") == 2
    assert hangup(events)[0] == pytest.approx(2 * (MENU + 3 + 0.1), abs=0.1)


def test_barge_in_and_back(tmp_path: Path) -> None:
    events = run(tmp_path, FLOW, [(0.5, "1"), (3.5, "*"), (4.0, "9")])
    stop = next(e for e in events if e[1] == "playback_stop")
    assert stop[0] == pytest.approx(0.53, abs=0.05)  # the key stopped the prompt
    assert routes(events) == ["main", "main.ask", "main.route", "sub", "sub.ask", "sub.route", "main.back",
                              "main.ask", "main.route", "bye"]


def test_a_caller_browsing_for_long_is_not_cut_off_by_max_forwards(tmp_path: Path) -> None:
    # every transfer takes one from max_forwards and FreeSWITCH hangs up EXCHANGE_ROUTING_ERROR at
    # 0 (switch_ivr_session_transfer); 30 rounds of main -> sub -> back are ~180 transfers, and
    # each key the caller chose gives back the count the call arrived with
    rounds = 30
    keys = [(0.5 + 3.5 * k, "1") for k in range(rounds)] + [(3.5 + 3.5 * k, "*") for k in range(rounds)]
    events = run(tmp_path, FLOW, sorted(keys) + [(4.0 + 3.5 * (rounds - 1), "9")])
    assert routes(events).count("sub") == rounds
    assert routes(events)[-1] == "bye" and hangup(events)[2] == "NORMAL_CLEARING"


def test_a_loop_without_caller_input_still_ends_at_max_forwards(tmp_path: Path) -> None:
    # the restore happens only on a chosen key: silence keeps counting down, as on FreeSWITCH
    flow = FLOW.replace("no_input: {max: 2, then: bye}", "no_input: {max: 2, then: main}")
    events = run(tmp_path, flow)
    assert hangup(events)[2] == "EXCHANGE_ROUTING_ERROR"


def test_multi_digit_range_option(tmp_path: Path) -> None:
    events = run(tmp_path, FLOW, [(2.1, "1"), (2.3, "0"), (2.5, "4"), (2.7, "2")])
    assert routes(events)[-1] == "desk"
    single = run(tmp_path / "single", FLOW, [(2.1, "9")])
    end = hangup(single)
    assert routes(single)[-1] == "bye" and end[0] == pytest.approx(2.1 + 1.0 + 0.1, abs=0.15)


HOURS = """
flow: t
numbers: ["96000"]
start: open
settings: {timezone: Asia/Shanghai}
nodes:
  open:
    type: hours
    open: {mon-fri: "08:30-17:30"}
    holidays: [2026-11-24]
    then_open: served
    then_closed: closed
  served: {type: hangup, cause: NORMAL_CLEARING}
  closed: {type: hangup, cause: USER_BUSY}
"""


@pytest.mark.parametrize("start, cause", [
    ("2026-11-22T23:26:00+00:00", "USER_BUSY"),  # Monday 07:26 in Shanghai: before opening
    ("2026-11-23T02:00:00+00:00", "NORMAL_CLEARING"),  # Monday 10:00 in Shanghai
    ("2026-11-24T02:00:00+00:00", "USER_BUSY"),  # Tuesday 10:00, a holiday
    ("2026-11-28T02:00:00+00:00", "USER_BUSY"),  # Saturday
])
def test_hours_in_the_flow_time_zone(tmp_path: Path, start: str, cause: str) -> None:
    assert hangup(run(tmp_path, HOURS, start=start))[2] == cause


QUEUE = """
flow: t
numbers: ["96000"]
start: desk
nodes:
  desk:
    type: queue
    max_wait: 3
    on_timeout: later
    after: hangup
  later: {type: hangup, cause: USER_BUSY}
"""


def _simulates(app: str) -> bool:
    from fsgen.sim.apps import lookup

    return lookup(app) is not None


@pytest.mark.skipif(not _simulates("callcenter"), reason="the simulator has no mod_callcenter yet")
def test_queue_timeout_routes_on_cc_cancel_reason(tmp_path: Path) -> None:
    events = run(tmp_path, QUEUE)
    assert ("execute", "callcenter", "t_desk@default") in [e[1:] for e in events]
    assert routes(events)[-2:] == ["desk.result", "later"]
    assert hangup(events)[0] == pytest.approx(3.0, abs=0.7)


COLLECT = """
flow: t
numbers: ["96000"]
start: pin
settings: {prompt_dir: PROMPT_DIR}
prompts: {enter: {zh: 请输入}}
nodes:
  pin:
    type: collect
    prompts: [enter]
    variable: hotline_pin
    min: 4
    max: 4
    tries: 2
    timeout: 2
    next: check
    failure: failed
  check:
    type: branch
    variable: hotline_pin
    cases: [{equals: "1234", then: ok}, {gt: 5000, then: big}]
    else: failed
  ok: {type: hangup, cause: NORMAL_CLEARING}
  big: {type: hangup, cause: CALL_REJECTED}
  failed: {type: hangup, cause: USER_BUSY}
"""


@pytest.mark.parametrize("keys, cause", [
    ("1234", "NORMAL_CLEARING"),
    ("7777", "CALL_REJECTED"),
    ("0042", "USER_BUSY"),
    ("", "USER_BUSY"),
])
def test_collect_then_branch(tmp_path: Path, keys: str, cause: str) -> None:
    dtmf = [(1.0 + 0.2 * i, k) for i, k in enumerate(keys)]
    assert hangup(run(tmp_path, COLLECT, dtmf))[2] == cause


LOOKUP_DOWN = """
flow: t
numbers: ["96000"]
start: ident
mailboxes: {desk: {number: "8123"}}
settings: {esl: {host: 127.0.0.1, port: ESL_PORT}}
nodes:
  ident: {type: lookup, lookups: [customer], next: check}
  check:
    type: branch
    variable: hotline_lookup_status
    cases: [{equals: ok, then: hangup}]
    else: complaint
  complaint: {type: record, name: complaints, max_seconds: 5, silence_seconds: 2, next: msg}
  msg: {type: voicemail, mailbox: desk}
"""


def test_lookup_with_esl_app_down_then_record_and_voicemail(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events = run(tmp_path, LOOKUP_DOWN.replace("ESL_PORT", str(port)))
    assert routes(events) == ["ident", "check", "complaint", "msg"]
    assert ("execute", "socket", f"127.0.0.1:{port} async full") in [e[1:] for e in events]
    record = next(e for e in events if e[1] == "record_start")
    assert "/recordings/hotline/t/complaints/" in record[2] and record[2].endswith(".wav")
    assert ("execute", "voicemail", "default 127.0.0.1 8123") in [e[1:] for e in events]


DESIGNATED = """
flow: t
numbers: ["96000"]
start: tag
nodes:
  tag:
    type: set
    variables: {hotline_designated_agent: "1001"}
    next: desk
  desk:
    type: queue
    designated_agent: {timeout: 5}
    agents: [{name: agent1, contact: "[call_timeout=10]sofia/gateway/gw/13800000001"}]
    max_wait: 30
    on_timeout: later
    after: rated
  rated: {type: hangup, cause: NORMAL_CLEARING}
  later: {type: hangup, cause: USER_BUSY}
"""


@pytest.mark.skipif(not _simulates("callcenter"), reason="the simulator has no mod_callcenter yet")
@pytest.mark.parametrize("designated_answers", [True, False])
def test_designated_agent_first_then_the_queue(tmp_path: Path, designated_answers: bool) -> None:
    from fsgen.sim.sim import RemoteParty

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "t.yaml").write_text(DESIGNATED, encoding="utf-8")
    result = compile_to([tmp_path / "flows"], tmp_path / "conf", recordings=tmp_path, env={}, jobs=1)
    assert result.ok, [p.format() for p in result.problems]
    # agent 1001: a stock directory user, registered from a SIP phone
    (tmp_path / "conf" / "directory" / "default").mkdir(parents=True, exist_ok=True)
    (tmp_path / "conf" / "directory" / "default" / "1001.xml").write_text('<include><user id="1001"/></include>')
    sim = simt.simulator(tmp_path / "conf")
    sim.registrations["1001@127.0.0.1"] = "sofia/internal/sip:1001@127.0.0.1:5060"
    sim.remote_parties.append(RemoteParty("1001", ring=2.0, answer=designated_answers, talk=3.0,
                                          cause="NO_ANSWER"))
    sim.remote_parties.append(RemoteParty("13800000001", ring=1.0, answer=True, talk=4.0))
    simt.call(sim, "96000", "public")
    events = simt.projection(sim, times=True)
    apps = [e[3] for e in events if e[1] == "execute" and e[2] in ("bridge", "callcenter")]
    assert apps[0] == "user/1001@127.0.0.1"
    if designated_answers:
        assert apps == ["user/1001@127.0.0.1"]  # the queue is never joined
        assert routes(events)[-2:] == ["desk.designated_result", "rated"]
        assert hangup(events)[0] == pytest.approx(2.0 + 3.0, abs=0.2)
    else:
        assert apps == ["user/1001@127.0.0.1", "t_desk@default"]
        assert routes(events)[-3:] == ["desk.designated_result", "desk.result", "rated"]
        assert hangup(events)[0] == pytest.approx(2.0 + 1.0 + 4.0, abs=0.3)
