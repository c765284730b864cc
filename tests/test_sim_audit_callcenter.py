"""mod_callcenter audit: behaviours pinned against FreeSWITCH's mod_callcenter.c (master).

Each test names the C function whose behaviour it asserts."""

from __future__ import annotations

from pathlib import Path

from fsgen.sim.apps.callcenter import module
from fsgen.sim.refcase import place_call
from fsgen.sim.testing import projection
from tests.test_sim_callcenter import (
    agent,
    call_with_exit_key,
    cc_events,
    make_sim,
    results,
    run_calls,
    sounds,
)

__all__ = ["sounds"]   # the fixture, used by name


def test_agent_status_is_stored_verbatim_and_only_exact_statuses_get_calls(tmp_path: Path, sounds: Path) -> None:
    # cc_agent_update() stores the status as given ('%q', value) after a case-insensitive check;
    # the dispatcher's agents query (members_callback) selects agents.status = 'Available' (SQL '='
    # is case-sensitive), so an agent set "available" is never offered a call
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "3"},
                   agents=[agent("agent1", status="available")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 0.5, "talk": 1.0}})
    assert sim.api("callcenter_config agent get status agent1") == "available"
    assert sim.api("callcenter_config queue count agents q1@default Available") == "0\n"
    run_calls(sim, [(0.0, "2000", {})])
    assert cc_events(sim, "agent-offering") == []
    assert results(sim)["2000"]["reason"] == "TIMEOUT"


def test_agent_set_exact_status_is_offered(tmp_path: Path, sounds: Path) -> None:
    # the same agent set to the exact "Available" is selected by members_callback's query
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "6"},
                   agents=[agent("agent1", status="available")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 0.5, "talk": 1.0}})
    run_calls(sim, [(0.0, "2000", {})], api=[(1.0, "callcenter_config agent set status agent1 Available")])
    assert [e["agent"] for e in cc_events(sim, "agent-offering")] == ["agent1"]
    assert results(sim)["2000"]["cause"] == "answered"


def test_agent_type_is_stored_as_given(tmp_path: Path, sounds: Path) -> None:
    # cc_agent_add() inserts the type as given ('%q', type) after a case-insensitive check
    sim = make_sim(tmp_path, sounds)
    assert sim.api("callcenter_config agent add agent7 Callback") == "+OK\n"
    row = sim.api("callcenter_config agent list agent7").splitlines()[1]
    assert row.startswith("agent7|single_box||Callback|")
    assert module(sim).agents["agent7"].type == "Callback"


def test_no_agent_timeout_overrides_a_timeout_reached_in_the_same_member_tick(tmp_path: Path, sounds: Path) -> None:
    # cc_member_thread_run checks max-wait-time first, then max-wait-time-with-no-agent, and each
    # sets m->member_cancel_reason: when both are reached in the same 0.5 s tick, the later one
    # (NO_AGENT_TIMEOUT) is what callcenter_function reports
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "3", "max-wait-time-with-no-agent": "1",
                                             "max-wait-time-with-no-agent-time-reached": "2"},
                   agents=[agent("agent1", status="Logged Out")], tiers=[("agent1", 1, 1)])
    run_calls(sim, [(0.3, "2000", {})])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"]) == ("cancel", "NO_AGENT_TIMEOUT")
    assert 3.2 <= res["t"] <= 3.4    # the tick at join + 3.0 s: both limits reached together
    assert cc_events(sim, "member-queue-end")[0]["cancel_reason"] == "NO_AGENT_TIMEOUT"


def test_timeout_alone_still_reports_timeout(tmp_path: Path, sounds: Path) -> None:
    # the no-agent limit (1 + 5 s grace) is not reached at the max-wait-time tick: TIMEOUT
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "3", "max-wait-time-with-no-agent": "1"},
                   agents=[agent("agent1", status="Logged Out")], tiers=[("agent1", 1, 1)])
    run_calls(sim, [(0.3, "2000", {})])
    assert results(sim)["2000"]["reason"] == "TIMEOUT"


def test_missing_moh_file_keeps_the_caller_waiting_without_exit_keys(tmp_path: Path, sounds: Path) -> None:
    # callcenter_function: switch_ivr_play_file returns SWITCH_STATUS_NOTFOUND for a file it cannot
    # open; the "Couldn't play file ... continuing wait with no audio" branch only matches
    # SWITCH_STATUS_FALSE, so the loop calls play_file again and again: the caller hears nothing,
    # no DTMF is read (cc_exit_keys does nothing) and only the member thread's limits end the wait
    sim = make_sim(tmp_path, sounds, params={"moh-sound": "$${ref_sounds}/missing.wav", "max-wait-time": "4"},
                   agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    call_with_exit_key(sim, [(1.0, "#")])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"], res["key"]) == ("cancel", "TIMEOUT", "")
    assert 3.5 <= res["t"] <= 4.6
    assert not [p for p in projection(sim) if p[0].startswith("playback")]


def test_no_moh_at_all_waits_silently_and_honours_exit_keys(tmp_path: Path, sounds: Path) -> None:
    # no moh-sound (queue->moh NULL): callcenter_function waits in switch_ivr_collect_digits_callback,
    # whose moh_on_dtmf callback ends the wait on a cc_exit_keys digit
    sim = make_sim(tmp_path, sounds, params={"max-wait-time": "4"},
                   agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    q = module(sim).get_queue("q1@default")
    assert q is not None
    q.moh_sound = None
    call_with_exit_key(sim, [(1.0, "#")])
    res = results(sim)["2000"]
    assert (res["cause"], res["reason"], res["key"]) == ("cancel", "EXIT_WITH_KEY", "#")


def test_missing_moh_file_caller_hangup_ends_the_wait(tmp_path: Path, sounds: Path) -> None:
    # callcenter_function leaves its loop when the channel is no longer ready: member-queue-end
    # Cancel/BREAK_OUT at the caller's hangup
    sim = make_sim(tmp_path, sounds, params={"moh-sound": "$${ref_sounds}/missing.wav"},
                   agents=[agent("agent1", status="On Break")], tiers=[("agent1", 1, 1)])
    place_call(sim, {"dest": "2000", "context": "t", "caller": "2000", "caller_name": "X"}, 60, "&sleep(2000)")
    sim.run(until=60, stop=lambda: sim.engine.now > 0 and not sim.channels)
    (end,) = cc_events(sim, "member-queue-end")
    assert (end["cause"], end["cancel_reason"]) == ("Cancel", "BREAK_OUT")
    assert 1.9 <= end["t"] <= 2.2


def test_queue_params_parse_like_switch_xml_config_parse_event(tmp_path: Path, sounds: Path) -> None:
    # switch_xml_config_parse_event: an INT is atoi() of anything switch_is_number accepts (sign,
    # digits and dots: "5.5" -> 5, "+4" -> 4, "" -> 0), else the default; a BOOL that is neither
    # switch_true nor switch_false keeps its default; parameter names are event headers, looked
    # up case-insensitively
    sim = make_sim(tmp_path, sounds, params={
        "max-wait-time": "5.5", "Max-Wait-Time-With-No-Agent": "+4", "discard-abandoned-after": "",
        "max-wait-time-with-no-agent-time-reached": " 7", "tier-rule-no-agent-no-wait": "maybe",
        "skip-agents-with-external-calls": "perhaps", "tier-rules-apply": "1.0",
        "abandoned-resume-allowed": "off"})
    q = module(sim).get_queue("q1@default")
    assert q is not None
    assert (q.max_wait_time, q.max_wait_time_with_no_agent, q.discard_abandoned_after) == (5, 4, 0)
    assert q.max_wait_time_with_no_agent_time_reached == 5      # " 7" is not a number: default
    assert (q.tier_rule_no_agent_no_wait, q.skip_agents_with_external_calls) == (True, True)
    assert (q.tier_rules_apply, q.abandoned_resume_allowed) == (True, False)


def test_numbers_from_variables_api_and_xml_are_read_with_atoi(tmp_path: Path, sounds: Path) -> None:
    # callcenter_function: cc_base_score_int += atoi(cc_base_score); cc_config_api_function's
    # tier add, cc_tier_update and cc_agent_update read numbers with atoi()/atol(); load_tier
    # passes atoi(level)/atoi(position) of non-empty attributes
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1", status="On Break")],
                   tiers=[("agent1", "x", 1)],  # type: ignore[list-item]
                   params={"max-wait-time": "2", "time-base-score": "queue"})
    api = sim.api
    cc = module(sim)
    assert cc._tier("q1@default", "agent1").level == 0
    assert api("callcenter_config agent add agent9 callback") == "+OK\n"
    assert api("callcenter_config tier add q1@default agent9 2x 3rd") == "+OK\n"
    t9 = cc._tier("q1@default", "agent9")
    assert (t9.level, t9.position) == (2, 3)
    assert api("callcenter_config tier set level q1@default agent9 5abc") == "+OK\n"
    assert api("callcenter_config agent set wrap_up_time agent9 7s") == "+OK\n"
    assert (t9.level, cc.agents["agent9"].wrap_up_time) == (5, 7)
    seen = []
    sim.engine.call_at(1.0, lambda: seen.extend(m.base_score for m in cc.members))
    run_calls(sim, [(0.0, "2000", {"cc_base_score": " 100abc"})])
    assert seen == [100]


def test_member_gone_before_the_bridge_plays_the_failed_announce_to_the_agent(tmp_path: Path, sounds: Path) -> None:
    # outbound_agent_thread_run: when switch_ivr_uuid_bridge fails because the member is gone, the
    # agent hears the member's cc_bridge_failed_outbound_announce (playback_array) and only then a
    # callback agent is hung up with ORIGINATOR_CANCEL
    sim = make_sim(tmp_path, sounds, agents=[agent("agent1")], tiers=[("agent1", 1, 1)],
                   parties={"agent1": {"ring": 0.5, "talk": 30.0}})
    ann = str(sounds / "announce.wav")
    spec = {"dest": "2000", "context": "t", "caller": "2000", "caller_name": "X",
            "set": {"cc_outbound_announce": ann, "cc_bridge_failed_outbound_announce": ann}}
    place_call(sim, spec, 60, "&sleep(1000)")
    sim.run(until=60, stop=lambda: sim.engine.now > 0 and not sim.channels)
    start = cc_events(sim, "bridge-agent-start")[0]
    leg = start["agent_leg"]
    p = projection(sim, leg, times=True)
    plays = [e for e in p if e[1] == "playback_start"]
    assert len(plays) == 2 and plays[1][0] >= 1.5            # the outbound announce, then the failed one
    hangup = [e for e in p if e[1] == "hangup"]
    assert hangup[0][2] == "ORIGINATOR_CANCEL" and hangup[0][0] >= plays[1][0] + 0.9
