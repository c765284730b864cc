"""mod_callcenter in the simulator: queue order, strategies, timeouts, agent failures, the API."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from fsgen.sim.apps.callcenter import module
from fsgen.sim.refcase import place_call
from fsgen.sim.sim import RemoteParty
from fsgen.sim.testing import make_conf, projection, simulator, write_wav

DIALPLAN = """
<context name="t">
  <extension name="queue">
    <condition field="destination_number" expression="^(\\d+)$">
      <action application="answer"/>
      <action application="callcenter" data="q1@default"/>
      <action application="log" data="INFO result caller=${caller_id_number} cause=${cc_cause} reason=${cc_cancel_reason} agent=${cc_agent} key=${cc_exit_key}"/>
      <action application="hangup"/>
    </condition>
  </extension>
</context>
"""


def callcenter_conf(params: dict[str, str], agents: list[dict[str, str]], tiers: list[tuple[str, int, int]],
                    settings: str = "") -> str:
    p = "".join(f'<param name="{k}" value="{v}"/>' for k, v in params.items())
    a = "".join("<agent {}/>".format(" ".join(f'{k}="{v}"' for k, v in ag.items())) for ag in agents)
    t = "".join(f'<tier agent="{n}" queue="q1@default" level="{lv}" position="{pos}"/>' for n, lv, pos in tiers)
    return (f'<configuration name="callcenter.conf"><settings>{settings}</settings>'
            f'<queues><queue name="q1@default">{p}</queue></queues><agents>{a}</agents><tiers>{t}</tiers>'
            "</configuration>")


def agent(name: str, status: str = "Available", **extra: str) -> dict[str, str]:
    a = {"name": name, "type": "callback", "contact": f"[call_timeout=10]sofia/test/sip:{name}@127.0.0.1:5071",
         "status": status, "max-no-answer": "3", "wrap-up-time": "0"}
    a.update({k.replace("_", "-"): v for k, v in extra.items()})
    return a


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    write_wav(d / "hold.wav", 2.0)
    write_wav(d / "announce.wav", 1.0)
    write_wav(d / "long.wav", 30.0)
    return d


def make_sim(tmp_path: Path, sounds: Path, params: dict[str, str] | None = None,
             agents: list[dict[str, str]] | None = None, tiers: list[tuple[str, int, int]] | None = None,
             parties: dict[str, dict] | None = None, files: dict[str, str] | None = None):
    q = {"strategy": "longest-idle-agent", "moh-sound": "$${ref_sounds}/hold.wav", "time-base-score": "system"}
    q.update(params or {})
    conf = make_conf(tmp_path / "conf", DIALPLAN, files={
        "autoload_configs/callcenter.conf.xml": callcenter_conf(q, agents or [], tiers or []), **(files or {})})
    sim = simulator(conf, sounds=sounds)
    for name, how in (parties or {}).items():
        sim.remote_parties.append(RemoteParty(f"{name}@127.0.0.1", dest=name, **how))
    return sim


def run_calls(sim, calls: list[tuple[float, str, dict[str, str]]], api: list[tuple[float, str]] = (),
              until: float = 300.0):
    """Callers (at, number, channel variables) into extension ``number``; API commands at times."""
    last = max(at for at, _, _ in calls)
    for at, number, variables in calls:
        spec = {"dest": number, "context": "t", "caller": number, "caller_name": f"Caller {number}",
                "set": variables}
        sim.engine.call_at(at, place_call, sim, spec, 300, None)
    for at, cmd in api:
        sim.engine.call_at(at, sim.api, cmd)
    sim.run(until=until, stop=lambda: sim.engine.now > last and not sim.channels)
    return sim


def results(sim) -> dict[str, dict[str, str]]:
    """caller number -> {cause, reason, agent, key, t} from the dialplan's log line."""
    out = {}
    for r in sim.trace.records:
        if r["event"] == "log" and str(r.get("text", "")).startswith("result "):
            fields = dict(part.split("=", 1) for part in r["text"].split()[1:])
            fields["t"] = r["t"]
            out[fields.pop("caller")] = fields
    return out


def call_with_exit_key(sim, dtmf: list[tuple[float, str]]) -> None:
    """Caller 2000 into the queue with ``cc_exit_keys=#``, pressing ``dtmf`` (at, digit); run to the end."""
    spec = {"dest": "2000", "context": "t", "caller": "2000", "caller_name": "X", "set": {"cc_exit_keys": "#"},
            "dtmf": [{"at": at, "digit": d} for at, d in dtmf]}
    place_call(sim, spec, 60, None)
    sim.run(until=60, stop=lambda: sim.engine.now > 0 and not sim.channels)


def cc_events(sim, action: str) -> list[dict]:
    return [r for r in sim.trace.records if r.get("action") == action]


def test_vip_caller_jumps_the_queue_and_others_keep_arrival_order(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 1.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {}), (1.0, "2001", {}), (2.0, "2002", {"cc_base_score": "100"})],
              api=[(4.0, "callcenter_config agent set status agent1 Available")])
    offered = [e["member_cid_number"] for e in cc_events(sim, "agent-offering")]
    assert offered == ["2002", "2000", "2001"]
    res = results(sim)
    assert {k: v["cause"] for k, v in res.items()} == {"2000": "answered", "2001": "answered", "2002": "answered"}
    assert all(v["agent"] == "agent1" for v in res.values())
    # the agent is offered again at the first whole second after its call ended (wrap-up 0)
    ends = [r["t"] for r in cc_events(sim, "bridge-agent-end")]
    offers = [r["t"] for r in cc_events(sim, "agent-offering")]
    for end, nxt in zip(ends, offers[1:]):
        assert 0 < nxt - end <= 1.1


def test_two_agents_take_two_callers_at_once(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1"), agent("agent2")],
                   tiers=[("agent1", 1, 1), ("agent2", 1, 2)],
                   parties={"agent1": {"ring": 1.0, "talk": 5.0}, "agent2": {"ring": 1.0, "talk": 5.0}})
    run_calls(sim, [(0.0, "2000", {}), (0.0, "2001", {})])
    res = results(sim)
    assert {v["agent"] for v in res.values()} == {"agent1", "agent2"}
    starts = [r["t"] for r in cc_events(sim, "bridge-agent-start")]
    assert len(starts) == 2 and abs(starts[0] - starts[1]) < 0.2


def test_max_wait_time_cancels_with_timeout_on_the_half_second_poll(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "3"},
                   agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    run_calls(sim, [(0.0, "2000", {})])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"], res["agent"]) == ("cancel", "TIMEOUT", "")
    stops = [p for p in projection(sim, times=True) if p[1] == "playback_stop"]
    assert stops[-1][3] == "break"            # the music is cut, not finished
    assert 2.0 <= stops[-1][0] <= 3.5
    assert cc_events(sim, "member-queue-end")[0]["cancel_reason"] == "TIMEOUT"


def test_no_agent_logged_in_cancels_with_no_agent_timeout(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"max-wait-time-with-no-agent": "2",
                                             "max-wait-time-with-no-agent-time-reached": "1"},
                   agents=[agent("agent1", status="Logged Out")], tiers=[("agent1", 1, 1)])
    run_calls(sim, [(0.0, "2000", {})])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"]) == ("cancel", "NO_AGENT_TIMEOUT")
    assert 2.0 <= res["t"] <= 4.5


def test_agent_on_break_counts_as_logged_in_for_the_no_agent_timer(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"max-wait-time-with-no-agent": "2", "max-wait-time": "6"},
                   agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    run_calls(sim, [(0.0, "2000", {})])
    assert results(sim)["2000"]["reason"] == "TIMEOUT"


def test_unanswered_agent_is_skipped_for_the_next_one_and_put_on_break(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds,
                   agents=[agent("agent1", max_no_answer="1", no_answer_delay_time="30"), agent("agent2")],
                   tiers=[("agent1", 1, 1), ("agent2", 1, 2)],
                   parties={"agent1": {"ring": 10.0, "answer": False, "cause": "NO_ANSWER"},
                            "agent2": {"ring": 1.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {})])
    assert results(sim)["2000"]["agent"] == "agent2"
    fail = cc_events(sim, "bridge-agent-fail")
    assert [(f["agent"], f["hangup_cause"]) for f in fail] == [("agent1", "NO_ANSWER")]
    cc = sim.modules["callcenter"]
    a1 = cc.agents["agent1"]
    assert (a1.status, a1.no_answer_count) == ("On Break", 1)
    assert a1.ready_time > 0
    assert cc._tier("q1@default", "agent1").state == "No Answer"
    assert cc.agents["agent2"].calls_answered == 1
    statuses = [e["agent_status"] for e in cc_events(sim, "agent-status-change") if e["agent"] == "agent1"]
    assert statuses[-1] == "On Break"


def test_call_timeout_in_a_sofia_contact_does_not_limit_the_ringing(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate reads call_timeout from the originating channel only, and mod_callcenter
    # originates agents without one: the agent rings on (up to agent-originate-timeout, 60 s)
    slow = agent("agent1")
    slow["contact"] = "[call_timeout=3]sofia/test/sip:agent1@127.0.0.1:5071"
    sim = make_sim(tmp_path, sounds, agents=[slow], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 30.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {})])
    assert not cc_events(sim, "bridge-agent-fail")
    res = results(sim)["2000"]
    assert res["cause"] == "answered" and res["agent"] == "agent1"
    assert [e["t"] for e in cc_events(sim, "bridge-agent-start")] == [pytest.approx(30.0, abs=0.2)]


def test_leg_timeout_of_the_contact_limits_the_ringing(tmp_path: Path, sounds: Path) -> None:
    # check_per_channel_timeouts: the leg is hung up ALLOTTED_TIMEOUT once more than leg_timeout
    # whole seconds have passed
    slow = agent("agent1")
    slow["contact"] = "[leg_timeout=3]sofia/test/sip:agent1@127.0.0.1:5071"
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "8"}, agents=[slow], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 30.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {})])
    fails = cc_events(sim, "bridge-agent-fail")
    assert fails and fails[0]["hangup_cause"] == "ALLOTTED_TIMEOUT"
    assert 2.9 <= fails[0]["t"] <= 4.3
    assert results(sim)["2000"]["reason"] == "TIMEOUT"


def test_call_timeout_of_a_user_contact_limits_the_ringing(tmp_path: Path, sounds: Path) -> None:
    # user_outgoing_channel without a session originates the user's dial-string itself, for the
    # call_timeout of the variables it is given: the agent gives up NO_ANSWER after 3 s
    slow = agent("agent1")
    slow["contact"] = "[call_timeout=3]user/agent1"
    user = ('<include><user id="agent1"><params><param name="dial-string" '
            'value="sofia/test/sip:agent1@127.0.0.1:5071"/></params></user></include>')
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "8"}, agents=[slow], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 30.0, "talk": 2.0}}, files={"directory/users.xml": user})
    run_calls(sim, [(0.0, "2000", {})])
    fails = cc_events(sim, "bridge-agent-fail")
    assert fails and fails[0]["hangup_cause"] == "NO_ANSWER"
    assert 1.9 <= fails[0]["t"] <= 3.3
    assert results(sim)["2000"]["reason"] == "TIMEOUT"


def test_exit_key_leaves_the_queue(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    call_with_exit_key(sim, [(1.0, "5"), (2.5, "#")])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"], res["key"]) == ("cancel", "EXIT_WITH_KEY", "#")
    assert 2.5 <= res["t"] <= 2.7


def test_ring_all_rings_everyone_and_the_first_answer_wins(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"strategy": "ring-all"}, agents=[agent("agent1"), agent("agent2")],
                   tiers=[("agent1", 1, 1), ("agent2", 1, 1)],
                   parties={"agent1": {"ring": 3.0, "talk": 2.0}, "agent2": {"ring": 1.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {})])
    assert results(sim)["2000"]["agent"] == "agent2"
    offered = {e["agent"] for e in cc_events(sim, "agent-offering")}
    assert offered == {"agent1", "agent2"}
    lost = [r for r in sim.trace.records if r["event"] == "hangup" and r.get("cause") == "LOSE_RACE"]
    assert len(lost) == 1
    assert sim.modules["callcenter"].agents["agent1"].no_answer_count == 0


def test_round_robin_moves_on_from_the_last_offered_agent(tmp_path: Path, sounds: Path) -> None:
    agents = [agent(f"agent{i}") for i in (1, 2, 3)]
    sim = make_sim(tmp_path, sounds, params={"strategy": "round-robin"}, agents=agents,
                   tiers=[("agent1", 1, 1), ("agent2", 1, 2), ("agent3", 1, 3)],
                   parties={f"agent{i}": {"ring": 0.5, "talk": 1.0} for i in (1, 2, 3)})
    run_calls(sim, [(0.0, "2000", {}), (5.0, "2001", {}), (10.0, "2002", {}), (15.0, "2003", {})])
    assert [e["agent"] for e in cc_events(sim, "agent-offering")] == ["agent1", "agent2", "agent3", "agent1"]


def test_top_down_always_starts_at_the_first_position(tmp_path: Path, sounds: Path) -> None:
    agents = [agent(f"agent{i}") for i in (1, 2)]
    sim = make_sim(tmp_path, sounds, params={"strategy": "top-down"}, agents=agents,
                   tiers=[("agent2", 1, 2), ("agent1", 1, 1)],
                   parties={f"agent{i}": {"ring": 0.5, "talk": 1.0} for i in (1, 2)})
    run_calls(sim, [(0.0, "2000", {}), (5.0, "2001", {})])
    assert [e["agent"] for e in cc_events(sim, "agent-offering")] == ["agent1", "agent1"]


def test_fewest_calls_prefers_the_agent_with_fewer_answered_calls(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"strategy": "agent-with-fewest-calls"},
                   agents=[agent("agent1"), agent("agent2")], tiers=[("agent1", 1, 1), ("agent2", 1, 2)],
                   parties={"agent1": {"ring": 0.5, "talk": 1.0}, "agent2": {"ring": 0.5, "talk": 1.0}})
    run_calls(sim, [(0.0, "2000", {}), (5.0, "2001", {}), (10.0, "2002", {})])
    assert [e["agent"] for e in cc_events(sim, "agent-offering")] == ["agent1", "agent2", "agent1"]


def test_wrap_up_time_keeps_the_agent_away(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1", wrap_up_time="5")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 0.5, "talk": 1.0}})
    run_calls(sim, [(0.0, "2000", {}), (0.5, "2001", {})])
    end = cc_events(sim, "bridge-agent-end")[0]["t"]
    second = cc_events(sim, "agent-offering")[1]["t"]
    assert 5.0 <= second - end <= 6.1


def test_caller_hanging_up_cancels_the_ringing_agent(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 5.0, "talk": 2.0}})
    place_call(sim, {"dest": "2000", "context": "t", "caller": "2000", "caller_name": "X"}, 60, "&sleep(2000)")
    sim.run(until=60, stop=lambda: sim.engine.now > 0 and not sim.channels)
    agent_leg = [r for r in sim.trace.records if r["event"] == "hangup" and r["leg"] == "c"]
    assert agent_leg and agent_leg[0]["cause"] == "ORIGINATOR_CANCEL"
    end = cc_events(sim, "member-queue-end")[0]
    assert (end["cause"], end["cancel_reason"]) == ("Cancel", "BREAK_OUT")
    cc = sim.modules["callcenter"]
    assert [m.state for m in cc.members] == ["Abandoned"]
    assert cc.agents["agent1"].state == "Waiting" and cc.agents["agent1"].no_answer_count == 0


def test_hangup_after_bridge_ends_the_call_with_the_agent(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 1.0, "talk": 2.0}})
    run_calls(sim, [(0.0, "2000", {"hangup_after_bridge": "true"})])
    assert results(sim) == {}
    p = projection(sim)
    assert p[-4][:2] == ("execute", "uuid_bridge")
    assert p[-3:] == [("bridge",), ("unbridge",), ("hangup", "NORMAL_CLEARING")]


def test_announce_sound_is_mixed_in_every_frequency_seconds(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"announce-sound": "$${ref_sounds}/announce.wav",
                                             "announce-frequency": "3", "max-wait-time": "10"})
    run_calls(sim, [(0.0, "2000", {})])
    times = [r["t"] for r in sim.trace.records if r["event"] == "displace"]
    assert len(times) == 3 and all(2.0 <= b - a <= 4.0 for a, b in zip([0.0] + times, times))
    assert not any(p[1] == "playback_start" and p[2].endswith("announce.wav") for p in projection(sim, times=True))


def test_callcenter_config_api(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1")], tiers=[("agent1", 1, 1)])
    api = sim.api
    assert api("callcenter_config agent add agent9 callback") == "+OK\n"
    assert api("callcenter_config agent add agent9 callback") == "-ERR Agent already exist!\n"
    assert api("callcenter_config agent add agent8 phone") == "-ERR Agent type invalid!\n"
    assert api("callcenter_config agent set contact agent9 user/1009") == "+OK\n"
    assert api("callcenter_config agent set status agent9 'Available (On Demand)'") == "+OK\n"
    assert api("callcenter_config agent set status agent9 Lunch") == "-ERR Invalid Agent Status!\n"
    assert api("callcenter_config agent set status nobody Available") == "-ERR Agent not found!\n"
    assert api("callcenter_config agent set colour agent9 red") == "-ERR Invalid Agent Update KEY!\n"
    assert api("callcenter_config agent get status agent9") == "Available (On Demand)"
    assert api("callcenter_config tier add q1@default agent9 2 3") == "+OK\n"
    assert api("callcenter_config tier add nope@default agent9") == "-ERR Queue not found!\n"
    assert api("callcenter_config tier add q1@default agent9") == "-ERR Tier already exist!\n"
    tiers = api("callcenter_config tier list").splitlines()
    assert tiers == ["queue|agent|state|level|position", "q1@default|agent1|Ready|1|1", "q1@default|agent9|Ready|2|3",
                     "+OK"]
    agents = api("callcenter_config agent list agent9").splitlines()
    assert agents[0].startswith("name|instance_id|uuid|type|contact|status|state|")
    assert agents[1].startswith("agent9|single_box||callback|user/1009|Available (On Demand)|Waiting|")
    assert api("callcenter_config queue count") == "1\n"
    assert api("callcenter_config queue count agents q1@default Available") == "1\n"
    assert api("callcenter_config queue list").splitlines()[1].startswith("q1@default|longest-idle-agent|")
    assert api("callcenter_config queue list members q1@default") == "+OK\n"
    assert api("callcenter_config queue load nope@default") == "-ERR Invalid Queue not found!\n"
    assert api("callcenter_config tier del q1@default agent9") == "+OK\n"
    assert api("callcenter_config agent del agent9") == "+OK\n"
    assert "agent9" not in api("callcenter_config agent list")
    assert api("callcenter_config agent") == "-ERR Invalid!\n"


def test_queue_defaults_and_bad_parameters(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "soon", "colour": "red"})
    q = module(sim).get_queue("q1@default")
    assert (q.max_wait_time, q.discard_abandoned_after, q.max_wait_time_with_no_agent_time_reached) == (0, 60, 5)
    assert (q.tier_rule_no_agent_no_wait, q.skip_agents_with_external_calls, q.agent_no_answer_status) == (
        True, True, "On Break")
    warnings = [r for r in sim.trace.records if r["event"] == "log" and r["level"] == "WARNING"]
    assert any("max-wait-time" in w["text"] and w["where"].endswith(".xml:1") for w in warnings)
    assert any("colour" in w["text"] for w in warnings)


def test_unknown_queue_returns_at_once(tmp_path: Path, sounds: Path) -> None:
    conf = make_conf(tmp_path / "conf", DIALPLAN.replace("q1@default", "missing@default"))
    sim = simulator(conf, sounds=sounds)
    run_calls(sim, [(0.0, "2000", {})])
    res = results(sim)["2000"]
    assert res["cause"] == "" and res["t"] == 0.0
    assert any("Queue missing@default not found" in str(r.get("text")) for r in sim.trace.records)


def test_user_contact_unregistered_then_registered(tmp_path: Path, sounds: Path) -> None:
    user_agent = agent("1001", contact="user/1001@${domain}")
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "20"}, agents=[user_agent], tiers=[("1001", 1, 1)],
                   parties={"1001": {"ring": 1.0, "talk": 1.0}},
                   files={"directory/default/u1001.xml": '<include><user id="1001"/></include>'})
    sim.engine.call_at(8.0, sim.registrations.__setitem__, "1001@127.0.0.1", "sofia/internal/sip:1001@127.0.0.1:5060")
    run_calls(sim, [(0.0, "2000", {})])
    fails = cc_events(sim, "bridge-agent-fail")
    assert [f["hangup_cause"] for f in fails] == ["USER_NOT_REGISTERED", "USER_NOT_REGISTERED"]
    # USER_NOT_REGISTERED puts the agent to sleep for 5 s (whole seconds): offered at 0, ~5 and ~10
    offers = [r["t"] for r in cc_events(sim, "agent-offering")]
    assert len(offers) == 3 and all(5.0 <= b - a <= 6.1 for a, b in pairwise(offers))
    assert results(sim)["2000"]["agent"] == "1001"


def test_loopback_contact_needs_a_real_channel_behind_it(tmp_path: Path, sounds: Path) -> None:
    extra = """
<context name="agents">
  <extension name="desk"><condition field="destination_number" expression="^desk$">
    <action application="bridge" data="sofia/test/sip:deskphone@127.0.0.1"/></condition></extension>
  <extension name="bot"><condition field="destination_number" expression="^bot$">
    <action application="answer"/><action application="playback" data="$${ref_sounds}/long.wav"/></condition></extension>
</context>"""
    q = {"strategy": "top-down", "moh-sound": "$${ref_sounds}/hold.wav"}
    agents = [agent("bot", contact="loopback/bot/agents"), agent("desk", contact="loopback/desk/agents")]
    conf = make_conf(tmp_path / "conf", DIALPLAN + extra, files={
        "autoload_configs/callcenter.conf.xml": callcenter_conf(q, agents, [("bot", 1, 1), ("desk", 1, 2)])})
    sim = simulator(conf, sounds=sounds)
    sim.remote_parties.append(RemoteParty("deskphone@127.0.0.1", dest="deskphone", ring=1.0, talk=2.0))
    run_calls(sim, [(0.0, "2000", {})])
    fails = cc_events(sim, "bridge-agent-fail")
    assert [f["agent"] for f in fails] == ["bot"]
    bot_hangups = [r for r in sim.trace.records if r["event"] == "hangup" and r.get("cause") == "DESTINATION_OUT_OF_ORDER"]
    assert bot_hangups and 4.9 <= bot_hangups[0]["t"] <= 5.2   # 5 s without a bridged channel behind the loopback
    assert sim.modules["callcenter"].agents["bot"].no_answer_count == 1
    assert results(sim)["2000"]["agent"] == "desk"
    start = cc_events(sim, "bridge-agent-start")[0]
    leg_names = {r["leg"]: r["name"] for r in sim.trace.records if r["event"] == "create"}
    assert leg_names[start["agent_leg"]] == "sofia/test/deskphone@127.0.0.1"
    # the caller is bridged to the desk phone itself; the loopback pair leaves its bridge and ends
    desk_b = next(leg for leg, name in leg_names.items() if name == "loopback/desk-b")
    assert [p[0] for p in projection(sim, desk_b)][-3:] == ["bridge", "unbridge", "hangup"]
    assert not sim.channels


@pytest.mark.parametrize(("cause", "field", "expected_gap"), [("USER_BUSY", "busy_delay_time", 8),
                                                              ("CALL_REJECTED", "reject_delay_time", 6)])
def test_busy_and_reject_delays(tmp_path: Path, sounds: Path, cause: str, field: str, expected_gap: int) -> None:
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "12"},
                   agents=[agent("agent1", busy_delay_time="8", reject_delay_time="6", no_answer_delay_time="3")],
                   tiers=[("agent1", 1, 1)], parties={"agent1": {"ring": 0.5, "answer": False, "cause": cause}})
    run_calls(sim, [(0.0, "2000", {})])
    offers = [r["t"] for r in cc_events(sim, "agent-offering")]
    assert len(offers) >= 2
    assert expected_gap <= offers[1] - offers[0] <= expected_gap + 1.1   # ready_time in whole seconds
    a1 = sim.modules["callcenter"].agents["agent1"]
    assert a1.no_answer_count == 0 and a1.status == "Available"    # busy/reject are not no-answers


@pytest.mark.parametrize(("multiply", "earliest"), [("false", 5.0), ("true", 10.0)])
def test_tier_rules_hold_the_next_level_back(tmp_path: Path, sounds: Path, multiply: str, earliest: float) -> None:
    sim = make_sim(tmp_path, sounds, params={"tier-rules-apply": "true", "tier-rule-wait-second": "5",
                                             "tier-rule-wait-multiply-level": multiply},
                   agents=[agent("agent1", status="On Break"), agent("agent2")],
                   tiers=[("agent1", 1, 1), ("agent2", 2, 1)], parties={"agent2": {"ring": 0.5, "talk": 1.0}})
    run_calls(sim, [(0.0, "2000", {})])
    (offer,) = cc_events(sim, "agent-offering")
    assert offer["agent"] == "agent2"
    assert earliest <= offer["t"] <= earliest + 1.1


def test_tier_rules_skip_an_empty_level_at_once(tmp_path: Path, sounds: Path) -> None:
    sim = make_sim(tmp_path, sounds, params={"tier-rules-apply": "true", "tier-rule-wait-second": "30"},
                   agents=[agent("agent1", status="Logged Out"), agent("agent2")],
                   tiers=[("agent1", 1, 1), ("agent2", 2, 1)], parties={"agent2": {"ring": 0.5, "talk": 1.0}})
    run_calls(sim, [(0.0, "2000", {})])
    assert cc_events(sim, "agent-offering")[0]["t"] < 0.2   # no logged-in agent at level 1: no wait
