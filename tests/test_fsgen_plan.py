"""What each node compiles to (flows/README.md "How it compiles"), read back from the XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fsgen.compiler import load_project, render


class Dialplan:
    """The compiled context of one flow, indexed by destination number."""

    def __init__(self, files: dict[str, bytes], flow: str) -> None:
        self.files = files
        self.root = ET.fromstring(files[f"dialplan/hotline_{flow}.xml"])
        self.context = self.root.find("context")
        assert self.context is not None and self.context.get("name") == f"hotline_{flow}"

    def extensions(self, dest: str) -> list[ET.Element]:
        """Extensions hunted for `dest`, in order (first condition is the destination test)."""
        want = "^" + dest.replace(".", "\\.") + "$"
        assert self.context is not None
        return [e for e in self.context.findall("extension") if e.find("condition").get("expression") == want]

    def actions(self, dest: str, index: int = -1) -> list[tuple[str, str | None]]:
        ext = self.extensions(dest)[index]
        cond = ext.findall("condition")[-1]
        return [(a.get("application") or "", a.get("data")) for a in cond.findall("action")]

    def tests(self, dest: str, index: int) -> list[dict[str, str]]:
        return [dict(c.attrib) for c in self.extensions(dest)[index].findall("condition")[1:]]


def compile_flow(tmp_path: Path, text: str, *others: str) -> tuple[Dialplan, dict[str, bytes]]:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (tmp_path / "recordings").mkdir(exist_ok=True)
    (flows / "main.yaml").write_text(text, encoding="utf-8")
    for i, other in enumerate(others):
        (flows / f"other{i}.yaml").write_text(other, encoding="utf-8")
    project = load_project([flows])
    errors = [p.format() for p in project.problems if p.is_error]
    assert not errors, errors
    files, _ = render(project, env={})
    name = project.flows[[f.file.endswith("main.yaml") for f in project.flows].index(True)].name
    return Dialplan(files, name), files


PROMPTS = """
languages: [zh, en]
prompts:
  menu: {zh: 菜单, en: Menu}
  sub: {zh: 子菜单}
  bad: {zh: 按键无效, en: Invalid key}
  quiet: {zh: 没有按键}
  beep: {file: tones/beep.wav}
"""


@pytest.fixture
def menu_flow(tmp_path: Path) -> Dialplan:
    (tmp_path / "recordings" / "tones").mkdir(parents=True)
    (tmp_path / "recordings" / "tones" / "beep.wav").write_bytes(b"RIFF")
    dp, _ = compile_flow(tmp_path, "flow: m\nstart: main\n" + PROMPTS + """
nodes:
  main:
    type: menu
    prompts: [menu]
    timeout: 4
    inter_digit_timeout: 1.5
    options:
      "1": sub
      "0": top
      "9": hangup
      "1000-1099": desk
    invalid: {prompt: bad, max: 2, then: desk}
    no_input: {prompt: quiet, max: 4, then: hangup}
  sub:
    type: menu
    prompts: [sub]
    reprompts: [bad, sub]
    barge_in: false
    options:
      "*": back
      "#": top
    terminator: none
    invalid: {prompt: bad, then: desk}
  desk:
    type: hangup
    prompt: beep
""")
    return dp


def test_menu_play_and_get_digits_argument_order(menu_flow: Dialplan) -> None:
    (app, data), xfer = menu_flow.actions("main.ask")
    assert app == "play_and_get_digits"
    assert data == ("1 4 1 4000 # file_string://$${sounds_dir}/hotline/m/menu.zh.wav!"
                    "$${sounds_dir}/hotline/m/menu.en.wav silence_stream://100 hotline_digits "
                    r"^(1|0|9|10\d{2})$ 1500")
    assert xfer == ("transfer", "main.route XML hotline_m")


def test_menu_counts_invalid_keys_and_silence_apart(menu_flow: Dialplan) -> None:
    assert menu_flow.actions("main") == [("set", "hotline_main_invalid="), ("set", "hotline_main_noinput="),
                                         ("transfer", "main.ask XML hotline_m")]
    routes = menu_flow.extensions("main.route")
    assert [e.get("name") for e in routes] == ["main.route.1", "main.route.2", "main.route.3", "main.route.4",
                                              "main.route.invalid", "main.route.no_input"]
    assert menu_flow.tests("main.route", 4) == [{"field": "${hotline_digits_invalid}", "expression": "^.+$"}]
    assert menu_flow.actions("main.route", 4) == [("set", "hotline_main_invalid=${hotline_main_invalid}x"),
                                                 ("transfer", "main.invalid XML hotline_m")]
    assert menu_flow.actions("main.route", 5) == [("set", "hotline_main_noinput=${hotline_main_noinput}x"),
                                                 ("transfer", "main.no_input XML hotline_m")]
    assert menu_flow.tests("main.invalid", 0) == [{"field": "${hotline_main_invalid}", "expression": "^x{2,}$"}]
    assert menu_flow.actions("main.invalid", 0) == [("transfer", "desk XML hotline_m")]
    assert menu_flow.tests("main.no_input", 0) == [{"field": "${hotline_main_noinput}", "expression": "^x{4,}$"}]
    assert menu_flow.actions("main.no_input", 0) == [("hangup", "NORMAL_CLEARING")]
    retry = menu_flow.actions("main.invalid")[0][1] or ""
    assert " file_string://$${sounds_dir}/hotline/m/bad.zh.wav!$${sounds_dir}/hotline/m/bad.en.wav!" in retry
    assert retry.split()[5].endswith("menu.en.wav")
    quiet = menu_flow.actions("main.no_input")[0][1] or ""
    assert "quiet.zh.wav!$${sounds_dir}/hotline/m/menu.zh.wav" in quiet


def test_menu_options_route_to_nodes_top_and_hangup(menu_flow: Dialplan) -> None:
    assert menu_flow.tests("main.route", 0) == [{"field": "${hotline_digits}", "expression": "^(?:1)$"}]
    forwards = ("set", "max_forwards=${hotline_max_forwards}")  # a chosen key gives the count back
    assert menu_flow.actions("main.route", 0) == [forwards, ("set", "hotline_menu_from=main"),
                                                 ("transfer", "sub XML hotline_m")]
    assert menu_flow.actions("main.route", 1) == [forwards, ("set", "hotline_menu_from="),
                                                 ("transfer", "main XML hotline_m")]
    assert menu_flow.actions("main.route", 2) == [forwards, ("hangup", "NORMAL_CLEARING")]
    assert menu_flow.tests("main.route", 3) == [{"field": "${hotline_digits}", "expression": r"^(?:10\d{2})$"}]


def test_back_returns_to_the_menu_that_led_here(menu_flow: Dialplan) -> None:
    sub = menu_flow.extensions("sub")[0].findall("condition")
    assert sub[1].attrib == {"field": "${hotline_menu_from}", "expression": "^sub$", "break": "never"}
    assert [(a.tag, a.get("data")) for a in sub[1]] == [("anti-action", "hotline_sub_back=${hotline_menu_from}")]
    back, back_top = menu_flow.extensions("sub.route")[0:2]
    last = back.findall("condition")[-1]
    assert last.attrib == {"field": "${hotline_sub_back}", "expression": "^([a-z][a-z0-9_]*)$"}
    assert [a.get("data") for a in last] == ["max_forwards=${hotline_max_forwards}", "$1.back XML hotline_m"]
    assert [a.get("data") for a in back_top.findall("condition")[-1]] == [
        "max_forwards=${hotline_max_forwards}", "hotline_menu_from=", "main XML hotline_m"]
    assert menu_flow.actions("main.back") == menu_flow.actions("main")


def test_no_barge_in_plays_the_prompt_to_the_end_first(menu_flow: Dialplan) -> None:
    actions = menu_flow.actions("sub.ask")
    assert actions[:3] == [("set", "playback_terminators=none"),
                           ("playback", "$${sounds_dir}/hotline/m/sub.zh.wav"),
                           ("unset", "playback_terminators")]
    assert actions[3][1] == r"1 1 1 5000 none silence silence_stream://100 hotline_digits ^(\*|#)$ 2000"
    # reprompts after an invalid key: the failure prompt is not repeated back to back
    retry = menu_flow.actions("sub.invalid")[1][1]
    assert retry == "file_string://$${sounds_dir}/hotline/m/bad.zh.wav!$${sounds_dir}/hotline/m/bad.en.wav!" \
                    "$${sounds_dir}/hotline/m/sub.zh.wav"


def test_entry_and_public(tmp_path: Path) -> None:
    dp, files = compile_flow(tmp_path, """
flow: p
numbers: ["96000", "+864006096000"]
start: bye
settings: {timezone: Asia/Shanghai, record_agent_calls: true}
nodes:
  bye: {type: hangup, cause: USER_BUSY}
""")
    assert dp.actions("hotline_entry") == [
        ("set", "hotline_flow=p"), ("set", "hotline_max_forwards=${max_forwards}"), ("answer", None),
        ("set", "timezone=Asia/Shanghai"),
        ("set", "RECORD_BRIDGE_REQ=true"), ("record_session", "$${recordings_dir}/hotline/p/calls/${uuid}.wav"),
        ("transfer", "bye XML hotline_p")]
    assert dp.actions("bye") == [("hangup", "USER_BUSY")]
    public = ET.fromstring(files["dialplan/public/hotline_p.xml"])
    cond = public.find("extension/condition")
    assert cond is not None and cond.get("expression") == r"^(?:96000|\+864006096000)$"
    assert [a.get("data") for a in cond] == ["hotline_flow=p", "hotline_did=${destination_number}",
                                             "hotline_entry XML hotline_p"]


def test_hours_holidays_and_dated_play(tmp_path: Path) -> None:
    dp, _ = compile_flow(tmp_path, """
flow: h
start: notice
prompts: {n: {zh: 通知}}
nodes:
  notice:
    type: play
    prompts: [n]
    between: [2026-12-30, 2027-01-02]
    next: open
  open:
    type: hours
    open:
      mon-fri: "08:30-12:00, 13:30-17:30"
      sat,sun: "09:00-24:00"
    holidays: [2027-10-01, {from: 2027-02-27, to: 2027-03-02}]
    then_open: hangup
    then_closed: closed
  closed: {type: hangup, cause: NORMAL_CLEARING}
""")
    assert [dp.tests("notice", i) for i in range(2)] == [[{"year": "2026", "yday": "364-365"}],
                                                         [{"year": "2027", "yday": "1-2"}]]
    assert dp.actions("notice", 0) == [("playback", "$${sounds_dir}/hotline/h/n.zh.wav"),
                                       ("transfer", "open XML hotline_h")]
    assert dp.actions("notice") == [("transfer", "open XML hotline_h")]
    names = [e.get("name") for e in dp.extensions("open")]
    assert names == ["open.holiday1", "open.holiday2", "open.open1", "open.open2", "open.open3", "open.open4",
                     "open"]
    assert [dp.tests("open", i)[0] for i in range(6)] == [
        {"year": "2027", "yday": "274"},
        {"year": "2027", "yday": "58-61"},
        {"wday": "2-6", "time-of-day": "08:30-12:00"},
        {"wday": "2-6", "time-of-day": "13:30-17:30"},
        {"wday": "1", "time-of-day": "09:00-24:00"},
        {"wday": "7", "time-of-day": "09:00-24:00"},
    ]
    assert dp.actions("open", 0) == [("transfer", "closed XML hotline_h")]
    assert dp.actions("open", 2) == [("hangup", "NORMAL_CLEARING")]
    assert dp.actions("open") == [("transfer", "closed XML hotline_h")]


def test_branch_cases(tmp_path: Path) -> None:
    dp, _ = compile_flow(tmp_path, """
flow: b
start: check
nodes:
  check:
    type: branch
    variable: hotline_arrears_amount
    cases:
      - {equals: "1.5+x", then: a}
      - {regex: "^9\\\\d+$", then: a}
      - {gt: 0, le: 100.5, then: a}
      - {empty: true, then: a}
    else: hangup
  a: {type: hangup}
""")
    v = "${hotline_arrears_amount}"
    assert dp.tests("check", 0) == [{"field": v, "expression": r"^1\.5\+x$"}]
    assert dp.tests("check", 1) == [{"field": v, "expression": r"^9\d+$"}]
    assert dp.tests("check", 2) == [
        {"field": v, "expression": r"^-?\d+(?:\.\d+)?$"},
        {"field": "${cond(${hotline_arrears_amount} > 0 ? yes : no)}", "expression": "^yes$"},
        {"field": v, "expression": r"^-?\d+(?:\.\d+)?$"},
        {"field": "${cond(${hotline_arrears_amount} <= 100.5 ? yes : no)}", "expression": "^yes$"},
    ]
    assert dp.tests("check", 3) == [{"field": v, "expression": "^$"}]
    assert dp.actions("check", 2) == [("transfer", "a XML hotline_b")]
    assert dp.actions("check") == [("hangup", "NORMAL_CLEARING")]


def test_lookup_live_and_cached(tmp_path: Path) -> None:
    dp, _ = compile_flow(tmp_path, """
flow: l
start: ident
settings: {esl: {host: 127.0.0.1, port: 9090}}
nodes:
  ident: {type: lookup, lookups: [customer, arrears], next: fast}
  fast: {type: lookup, lookups: [blacklist], mode: cached, next: hangup}
""")
    assert dp.actions("ident") == [
        ("set", "hotline_node=ident"), ("set", "hotline_lookup=customer,arrears"),
        ("set", "hotline_lookup_status=failed"), ("socket", "127.0.0.1:9090 async full"),
        ("transfer", "fast XML hotline_l")]
    # one mod_hash value per caller, keyed by the normalised caller ID (esl_app.cache)
    assert dp.tests("fast", 0) == [{
        "field": r"${hash(select/hotline/${regex(m:~${caller_id_number}~^(?:\+86|0086|(?!0086)(?:86(?=\d{10,}$))?)"
                 r"0*([1-9]\d{8,10})$~%1)})}",
        "expression": r"^1;(\d+);(platinum|gold|normal);(zh|en);([A-Za-z0-9_.-]*);(\d+);(true|false)$"}]
    assert dp.actions("fast", 0) == [
        ("set", "hotline_blacklisted=false"), ("set", "hotline_lookup_status=ok"), ("hangup", "NORMAL_CLEARING")]
    assert dp.actions("fast")[3] == ("socket", "127.0.0.1:9090 async full")


def test_collect_say_set_record(tmp_path: Path) -> None:
    dp, _ = compile_flow(tmp_path, "flow: c\nstart: acct\n" + PROMPTS.replace("beep: {file: tones/beep.wav}", "") + """
nodes:
  acct:
    type: collect
    prompts: [menu]
    variable: hotline_pin
    min: 4
    max: 6
    tries: 2
    invalid_prompt: bad
    next: readback
    failure: hangup
  readback:
    type: say
    variable: hotline_pin
    as: digits
    prefix: menu
    next: mark
  mark:
    type: set
    variables: {hotline_pin_entered: "true", greeting: "hi ${hotline_customer_name}"}
    next: complaint
  complaint:
    type: record
    name: complaints
    prompt: quiet
    max_seconds: 90
    next: hangup
""")
    (app, data), forwards, nxt = dp.actions("acct")
    assert forwards == ("set", "max_forwards=${hotline_max_forwards}")  # digits entered: count given back
    assert app == "play_and_get_digits"
    assert data == ("4 6 2 5000 # file_string://$${sounds_dir}/hotline/c/menu.zh.wav!$${sounds_dir}/hotline/c/menu.en.wav "
                    "file_string://$${sounds_dir}/hotline/c/bad.zh.wav!$${sounds_dir}/hotline/c/bad.en.wav "
                    r"hotline_pin ^\d{4,6}$ 3000 hotline.hangup XML hotline_c")
    assert nxt == ("transfer", "readback XML hotline_c")
    assert dp.actions("hotline.hangup") == [("hangup", "NORMAL_CLEARING")]
    assert dp.actions("readback") == [
        ("playback", "$${sounds_dir}/hotline/c/menu.zh.wav"), ("say", "zh NUMBER iterated ${hotline_pin}"),
        ("playback", "$${sounds_dir}/hotline/c/menu.en.wav"), ("say", "en NUMBER iterated ${hotline_pin}"),
        ("transfer", "mark XML hotline_c")]
    assert dp.actions("mark") == [("set", "hotline_pin_entered=true"), ("set", "greeting=hi ${hotline_customer_name}"),
                                  ("transfer", "complaint XML hotline_c")]
    assert dp.actions("complaint") == [
        ("playback", "$${sounds_dir}/hotline/c/quiet.zh.wav"),
        ("set", "hotline_recording=$${recordings_dir}/hotline/c/complaints/${strftime(%Y%m%d-%H%M%S)}-${uuid}.wav"),
        ("set", "playback_terminators=#"), ("record", "${hotline_recording} 90 200 5"),
        ("unset", "playback_terminators"), ("hangup", "NORMAL_CLEARING")]


QUEUE = """
flow: q
start: desk
prompts: {wait: {zh: 请稍候}, rate: {zh: 请评价}, thanks: {zh: 谢谢}}
nodes:
  desk:
    type: queue
    strategy: ring-all
    announce: {prompt: wait, every: 30}
    max_wait: 120
    max_wait_no_agent: 20
    designated_agent: {timeout: 12}
    agents:
      - {name: agent1, contact: "user/1001@${domain}", level: 1}
      - {name: agent2, contact: "[call_timeout=10]sofia/gateway/gw/13800000000", level: 2, status: On Break}
    on_timeout: overflow
    on_no_agent: msg
    after: survey
  overflow:
    type: queue
    agents: [{name: agent2, contact: "[call_timeout=10]sofia/gateway/gw/13800000000"}]
    on_timeout: hangup
  msg:
    type: voicemail
    mailbox: desk
  survey:
    type: survey
    prompts: [rate]
    thanks: thanks
    tries: 3
mailboxes:
  desk: {number: "8123", email: desk@example.com}
"""


def test_queue_dialplan(tmp_path: Path) -> None:
    dp, _files = compile_flow(tmp_path, QUEUE)
    assert dp.tests("desk", 0) == [{"field": "${hotline_designated_agent}", "expression": "^[A-Za-z0-9_.-]+$"}]
    assert dp.actions("desk", 0) == [
        ("set", "continue_on_fail=true"), ("set", "hangup_after_bridge=false"), ("set", "call_timeout=12"),
        ("bridge", "user/${hotline_designated_agent}@${domain}"),
        ("transfer", "desk.designated_result XML hotline_q")]
    assert dp.tests("desk.designated_result", 0) == [{"field": "${originate_disposition}",
                                                       "expression": "^SUCCESS$"}]
    assert dp.actions("desk.designated_result", 0) == [("transfer", "survey XML hotline_q")]
    queue = [("set", "hangup_after_bridge=false"), ("callcenter", "q_desk@default"),
             ("transfer", "desk.result XML hotline_q")]
    assert dp.actions("desk.designated_result") == queue
    assert dp.actions("desk") == queue
    assert dp.tests("desk.result", 0) == [{"field": "${cc_cause}", "expression": "^(?:answered|terminated)$"}]
    assert dp.actions("desk.result", 0) == [("transfer", "survey XML hotline_q")]
    assert dp.tests("desk.result", 1) == [{"field": "${cc_cancel_reason}", "expression": "^NO_AGENT_TIMEOUT$"}]
    assert dp.actions("desk.result", 1) == [("transfer", "msg XML hotline_q")]
    assert dp.actions("desk.result") == [("transfer", "overflow XML hotline_q")]
    assert dp.actions("overflow.result", 1) == [("hangup", "NORMAL_CLEARING")]  # on_no_agent = on_timeout


def test_callcenter_conf(tmp_path: Path) -> None:
    _, files = compile_flow(tmp_path, QUEUE)
    conf = ET.fromstring(files["autoload_configs/callcenter.conf.xml"])
    assert conf.get("name") == "callcenter.conf"
    queues = {q.get("name"): {p.get("name"): p.get("value") for p in q} for q in conf.iter("queue")}
    assert queues["q_desk@default"] == {
        "strategy": "ring-all", "moh-sound": "local_stream://moh", "time-base-score": "system",
        "max-wait-time": "120", "max-wait-time-with-no-agent": "20",
        "max-wait-time-with-no-agent-time-reached": "5", "tier-rules-apply": "false",
        "discard-abandoned-after": "60", "abandoned-resume-allowed": "false",
        "announce-sound": "$${sounds_dir}/hotline/q/wait.zh.wav", "announce-frequency": "30"}
    assert "announce-sound" not in queues["q_overflow@default"]
    agents = [(a.get("name"), a.get("contact"), a.get("status"), a.get("type")) for a in conf.iter("agent")]
    assert agents == [("agent1", "user/1001@${domain}", "Available", "callback"),
                      ("agent2", "[call_timeout=10]sofia/gateway/gw/13800000000", "On Break", "callback")]
    tiers = [(t.get("agent"), t.get("queue"), t.get("level")) for t in conf.iter("tier")]
    assert tiers == [("agent1", "q_desk@default", "1"), ("agent2", "q_desk@default", "2"),
                     ("agent2", "q_overflow@default", "1")]
    settings = {p.get("name"): p.get("value") for p in conf.iter("param") if p.get("name", "").startswith("trunc")}
    assert settings == {"truncate-agents-on-load": "true", "truncate-tiers-on-load": "true"}


def test_voicemail_survey_and_directory(tmp_path: Path) -> None:
    dp, files = compile_flow(tmp_path, QUEUE)
    assert dp.actions("msg") == [("voicemail", "default $${domain} 8123"), ("hangup", "NORMAL_CLEARING")]
    (app, data), xfer = dp.actions("survey")
    assert (app, xfer) == ("play_and_get_digits", ("transfer", "survey.save XML hotline_q"))
    assert data == ("1 1 3 5000 # $${sounds_dir}/hotline/q/rate.zh.wav silence_stream://100 "
                    "hotline_survey_score ^[1-5]$ 5000")
    assert dp.tests("survey.save", 0) == [{"field": "${hotline_survey_score}", "expression": "^[1-5]$"}]
    assert dp.actions("survey.save", 0) == [
        ("set", "hotline_node=survey"), ("set", "hotline_lookup=survey"), ("set", "hotline_lookup_status=failed"),
        ("socket", "127.0.0.1:8084 async full"), ("playback", "$${sounds_dir}/hotline/q/thanks.zh.wav"),
        ("hangup", "NORMAL_CLEARING")]
    assert dp.actions("survey.save") == [("hangup", "NORMAL_CLEARING")]
    user = ET.fromstring(files["directory/default/hotline_8123.xml"]).find("user")
    assert user is not None and user.get("id") == "8123"
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    assert params == {"vm-password": "$${default_password}", "sip-forbid-register": "true",
                      "vm-mailto": "desk@example.com", "vm-email-all-messages": "true", "vm-attach-file": "true"}


def test_transfers_and_conference(tmp_path: Path) -> None:
    other = "flow: other\nstart: hi\nsettings: {timezone: Europe/London}\nnodes:\n  hi: {type: hangup}\n"
    dp, _ = compile_flow(tmp_path, """
flow: t
start: pick
prompts: {m: {zh: 请选择}, g: {zh: 请留言}}
mailboxes: {box: {number: "8124"}}
nodes:
  pick:
    type: menu
    prompts: [m]
    options:
      "1": ext
      "2": user
      "3": gw
      "4": flow
      "5": flow_node
      "6": ring
      "8100-8199": direct
      "7": three
  ext: {type: transfer, extension: "8001"}
  user: {type: transfer, user: "1001", timeout: 20, fallback: vm, after: hangup}
  gw: {type: transfer, gateway: carrier, number: "13800000000", fallback: vm}
  flow: {type: transfer, flow: other}
  flow_node: {type: transfer, flow: other, node: hi}
  ring: {type: transfer, extension: "8002", context: offices, timeout: 25, fallback: vm}
  direct: {type: transfer, extension: "${hotline_digits}", fallback: vm}
  three:
    type: conference
    room: dept
    dial: [{user: "1001"}, {gateway: carrier, number: "057112345"}, {extension: "8003"}]
    timeout: 40
    after: vm
  vm: {type: voicemail, mailbox: box, greeting: g, next: hangup}
""", other)
    assert dp.actions("ext") == [("transfer", "8001 XML default")]
    bridge = [("set", "continue_on_fail=true"), ("set", "hangup_after_bridge=false")]
    assert dp.actions("user") == bridge + [("set", "call_timeout=20"), ("bridge", "user/1001@${domain}"),
                                           ("transfer", "user.result XML hotline_t")]
    assert dp.tests("user.result", 0) == [{"field": "${originate_disposition}", "expression": "^SUCCESS$"}]
    assert dp.actions("user.result", 0) == [("hangup", "NORMAL_CLEARING")]
    assert dp.actions("user.result") == [("transfer", "vm XML hotline_t")]
    assert dp.actions("gw")[3] == ("bridge", "sofia/gateway/carrier/13800000000")
    assert dp.actions("flow") == [("set", "hotline_flow=other"), ("transfer", "hotline_entry XML hotline_other")]
    assert dp.actions("flow_node") == [("set", "hotline_flow=other"), ("set", "timezone=Europe/London"),
                                       ("transfer", "hi XML hotline_other")]
    assert dp.actions("ring")[3] == ("bridge", "loopback/8002/offices")
    assert dp.tests("direct", 0) == [{"field": "${hotline_digits}", "expression": "^[0-9A-Za-z_+*#-]{1,32}$"}]
    assert dp.actions("direct", 0)[3] == ("bridge", "loopback/${hotline_digits}/default")
    assert dp.actions("direct") == [("transfer", "vm XML hotline_t")]
    assert dp.actions("three") == [
        ("set", "conference_auto_outcall_timeout=40"),
        ("conference_set_auto_outcall", "user/1001@${domain}"),
        ("conference_set_auto_outcall", "sofia/gateway/carrier/057112345"),
        ("conference_set_auto_outcall", "loopback/8003/default"),
        ("conference", "hotline_t_dept-${uuid}@default++flags{mintwo}"),
        ("transfer", "vm XML hotline_t")]
    assert dp.actions("vm") == [("playback", "$${sounds_dir}/hotline/t/g.zh.wav"), ("set", "skip_greeting=true"),
                                ("set", "skip_instructions=true"), ("voicemail", "default $${domain} 8124"),
                                ("hangup", "NORMAL_CLEARING")]
    assert dp.actions("hotline_entry")[3] == ("unset", "timezone")
