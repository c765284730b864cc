"""bridge / originate / transfer checked against FreeSWITCH's source (switch_ivr_originate.c,
switch_ivr_bridge.c, switch_channel.c switch_channel_handle_cause, mod_dptools.c, switch_ivr.c
switch_ivr_session_transfer).  Each test names the function that makes FreeSWITCH behave so."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.testing import act, call, make_conf, projection, simulator, write_wav

#: extensions a bridge can dial as loopback/NAME/t
TARGETS = """
<extension name="ring"><condition field="destination_number" expression="^ring\\d*$">
  <action application="park"/></condition></extension>
<extension name="busy"><condition field="destination_number" expression="^busy(\\d*)$">
  <action application="sleep" data="${cond(${1} == '' ? 0 : $1)}"/>
  <action application="hangup" data="USER_BUSY"/></condition></extension>
<extension name="reject"><condition field="destination_number" expression="^reject$">
  <action application="sleep" data="500"/><action application="hangup" data="CALL_REJECTED"/></condition></extension>
<extension name="agent"><condition field="destination_number" expression="^agent$">
  <action application="answer"/><action application="playback" data="$${ref_sounds}/one.wav"/>
  <action application="hangup"/></condition></extension>
<extension name="early"><condition field="destination_number" expression="^early$">
  <action application="playback" data="$${ref_sounds}/two.wav"/>
  <action application="answer"/><action application="playback" data="$${ref_sounds}/one.wav"/>
  <action application="hangup"/></condition></extension>
<extension name="earlyonly"><condition field="destination_number" expression="^earlyonly$">
  <action application="playback" data="$${ref_sounds}/one.wav"/><action application="hangup"/></condition></extension>
<extension name="after"><condition field="destination_number" expression="^200$">
  <action application="log" data="INFO in 200 ${destination_number}"/><action application="hangup"/></condition></extension>
"""


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    for name, secs in (("two", 2.0), ("one", 1.0)):
        write_wav(d / f"{name}.wav", secs)
    return d


def run(tmp_path: Path, sounds: Path, *actions: str, extra: str = "", start: str | None = None):
    plan = ('<context name="t"><extension name="e"><condition field="destination_number" expression="^100$">'
            + "".join(actions) + "</condition></extension>" + TARGETS + extra + "</context>")
    kw = {"start": start} if start else {}
    sim = simulator(make_conf(tmp_path / "conf", plan), sounds=sounds, **kw)
    return call(sim, "100", "t", timeout=60)


def logs(sim) -> list[str]:
    return [r["text"] for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]


def timed_logs(sim) -> list[tuple[float, str]]:
    return [(r["t"], r["text"]) for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]


def b_hangup(sim) -> tuple[float, str]:
    return next((t, c) for t, e, c in (x for x in projection(sim, times=True) if x[1] == "hangup"))


STATUS = act("log", "INFO ${originate_disposition}/${DIALSTATUS}")


# ---- switch_channel_handle_cause -----------------------------------------------------------------------------
def test_no_answer_without_continue_on_fail_goes_on(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: with neither continue_on_fail nor failure_causes set, NO_ANSWER
    # "is *always* a reason to continue" -- the caller is not hung up
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=2"), act("bridge", "loopback/ring/t"),
              STATUS, act("hangup", "NORMAL_UNSPECIFIED"))
    assert logs(sim) == ["NO_ANSWER/NOANSWER"]
    assert b_hangup(sim) == (2.0, "NORMAL_UNSPECIFIED")


def test_continue_on_fail_false_hangs_up_even_on_no_answer(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: once continue_on_fail is set, "false" (not switch_true, names no
    # cause) is no reason to continue, not even for NO_ANSWER
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=false"), act("set", "call_timeout=2"),
              act("bridge", "loopback/ring/t"), STATUS)
    assert logs(sim) == []
    assert b_hangup(sim) == (2.0, "NO_ANSWER")


def test_continue_on_fail_number_is_switch_true(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause tests switch_true(continue_on_fail) first: "17" is a non-zero
    # number, so true -- every cause goes on, CALL_REJECTED too
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=17"), act("bridge", "error/call_rejected"),
              STATUS)
    assert logs(sim) == ["CALL_REJECTED/DONTCALL"]


def test_continue_on_fail_decimal_is_switch_true(tmp_path: Path, sounds: Path) -> None:
    # switch_true: switch_is_number("1.5") (digits and dots) and atoi("1.5") = 1, so true; a
    # Python int() of it would have said no
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=1.5"), act("bridge", "error/call_rejected"),
              STATUS)
    assert logs(sim) == ["CALL_REJECTED/DONTCALL"]


def test_continue_on_fail_list_takes_numbers_and_any_case(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: each list item is compared (strcasecmp) with the cause name and
    # with its number
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=21,user_busy"),
              act("bridge", "error/call_rejected"), STATUS, act("bridge", "error/user_busy"), STATUS,
              act("bridge", "error/no_route_destination"), STATUS)
    assert logs(sim) == ["CALL_REJECTED/DONTCALL", "USER_BUSY/BUSY"]
    assert b_hangup(sim)[1] == "NO_ROUTE_DESTINATION"


def test_failure_causes_is_the_opposite_list(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: a cause failure_causes does not name goes on; one it names hangs up
    sim = run(tmp_path, sounds, act("answer"), act("set", "failure_causes=USER_BUSY"),
              act("bridge", "error/call_rejected"), STATUS, act("bridge", "error/user_busy"), STATUS)
    assert logs(sim) == ["CALL_REJECTED/DONTCALL"]
    assert b_hangup(sim)[1] == "USER_BUSY"


def test_attended_transfer_never_continues(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: "ATTENDED_TRANSFER never is a reason to continue"
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=true"),
              act("bridge", "error/attended_transfer"), STATUS)
    assert logs(sim) == []
    assert b_hangup(sim)[1] == "ATTENDED_TRANSFER"


def test_transfer_on_fail_sends_the_call_on(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_handle_cause: transfer_on_fail "<causes> <dest> <dialplan> <context>" transfers
    # (switch_ivr_session_transfer) when the list names the cause
    sim = run(tmp_path, sounds, act("answer"), act("set", "transfer_on_fail=USER_BUSY 200 XML t"),
              act("bridge", "error/user_busy"), act("log", "INFO not reached"))
    assert logs(sim) == ["in 200 200"]


# ---- switch_ivr_originate: variables and causes -------------------------------------------------------------
def test_dialstatus_names_of_failures(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate (done:): DIALSTATUS is BUSY / NOANSWER / DONTCALL / INVALIDARGS for these
    # causes, the cause name otherwise; originate_disposition is the cause name
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=true"), act("set", "call_timeout=1"),
              act("bridge", "error/user_busy"), STATUS, act("bridge", "loopback/ring/t"), STATUS,
              act("bridge", "error/call_rejected"), STATUS, act("bridge", "error/destination_out_of_order"), STATUS,
              act("bridge", "error/normal_temporary_failure"), STATUS)
    assert logs(sim) == ["USER_BUSY/BUSY", "NO_ANSWER/NOANSWER", "CALL_REJECTED/DONTCALL",
                         "DESTINATION_OUT_OF_ORDER/INVALIDARGS", "NORMAL_TEMPORARY_FAILURE/NORMAL_TEMPORARY_FAILURE"]


def test_error_endpoint_reads_numbers_and_defaults_to_out_of_order(tmp_path: Path, sounds: Path) -> None:
    # mod_dptools error_outgoing_channel: switch_channel_str2cause(dest) (a number or a name),
    # DESTINATION_OUT_OF_ORDER when it names no cause
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=true"),
              act("bridge", "error/17"), STATUS, act("bridge", "error/no_such_thing"), STATUS)
    assert logs(sim) == ["USER_BUSY/BUSY", "DESTINATION_OUT_OF_ORDER/INVALIDARGS"]


def test_empty_dial_string_is_originator_cancel(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: "No origination URL specified!" -- no leg and no reason give the caller's
    # cause (none), i.e. ORIGINATOR_CANCEL, which handle_cause always lets go on
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "{a=b}"), STATUS)
    assert logs(sim) == ["ORIGINATOR_CANCEL/CANCEL"]


def test_simultaneous_failure_reports_the_first_leg(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate (done:): with no winner the cause is that of the first leg in dial order
    # (busy1 hangs up USER_BUSY at 1 s, after reject's CALL_REJECTED at 0.5 s)
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=true"),
              act("bridge", "loopback/busy1000/t,loopback/reject/t"), STATUS)
    assert timed_logs(sim) == [(1.0, "USER_BUSY/BUSY")]


def test_last_bridge_hangup_cause_comes_from_a_leg_only(tmp_path: Path, sounds: Path) -> None:
    # switch_channel_perform_hangup sets last_bridge_hangup_cause on the partner of a channel that
    # hangs up; error/ creates no channel, so it leaves the variable alone.  After a bridge
    # (switch_ivr_multi_threaded_bridge) bridge_hangup_cause is the peer's cause.
    sim = run(tmp_path, sounds, act("answer"), act("set", "continue_on_fail=true"),
              act("bridge", "loopback/busy/t"), act("log", "INFO [${last_bridge_hangup_cause}]"),
              act("bridge", "error/call_rejected"), act("log", "INFO [${last_bridge_hangup_cause}]"),
              act("bridge", "loopback/agent/t"),
              act("log", "INFO [${last_bridge_hangup_cause}] [${bridge_hangup_cause}]"))
    assert logs(sim) == ["[USER_BUSY]", "[USER_BUSY]", "[NORMAL_CLEARING] [NORMAL_CLEARING]"]


def test_braces_win_over_brackets_unless_local_var_clobber(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: the [] variables are set on the new channel first, then the {} ones
    # (overwriting them) -- unless local_var_clobber=true, which puts the [] ones last
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "{x=global}[x=local]loopback/agent/t"),
              act("bridge", "{x=global,local_var_clobber=true}[x=local]loopback/agent/t"))
    a_legs = [c["uuid"] for c in sim.trace.records if c["event"] == "create" and c["name"] == "loopback/agent-a"]
    assert [_SEEN[uuid].get("x") for uuid in a_legs] == ["global", "local"]


#: the variables of every channel when it hung up (filled by the fixture below)
_SEEN: dict[str, dict[str, str]] = {}


@pytest.fixture(autouse=True)
def _remember_channel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every channel's variables when it hangs up (the simulator forgets gone channels)."""
    from fsgen.sim.channel import Channel
    original = Channel.hangup

    def hangup(self: Channel, cause: str = "NORMAL_CLEARING") -> None:
        _SEEN[self.uuid] = dict(self.variables)
        original(self, cause)

    monkeypatch.setattr(Channel, "hangup", hangup)


# ---- switch_ivr_originate: timeouts -------------------------------------------------------------------------
def test_call_timeout_counts_whole_epoch_seconds(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: start and elapsed are switch_epoch_time_now() whole seconds and the
    # group times out when elapsed >= timelimit, so a bridge started 0.5 s into a wall-clock second
    # times out 2.5 s later with call_timeout=3
    sim = run(tmp_path, sounds, act("answer"), act("sleep", "1500"), act("set", "call_timeout=3"),
              act("bridge", "loopback/ring/t"), STATUS)
    assert timed_logs(sim) == [(4.0, "NO_ANSWER/NOANSWER")]


def test_call_timeout_is_read_with_atoi(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: timelimit_sec = atoi(call_timeout): "2.9" is 2, "abc" is 0 -> 60
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=2.9"), act("bridge", "loopback/ring/t"),
              STATUS, act("set", "call_timeout=abc"), act("bridge", "loopback/ring/t"), STATUS)
    assert timed_logs(sim) == [(2.0, "NO_ANSWER/NOANSWER"), (62.0, "NO_ANSWER/NOANSWER")]


def test_originate_timeout_of_the_dial_string_beats_call_timeout(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: originate_timeout comes from the dial string's variables (var_event) and
    # replaces call_timeout; set on the caller channel it is not copied into var_event, so ignored
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=5"),
              act("bridge", "{originate_timeout=2}loopback/ring/t"), STATUS,
              act("set", "originate_timeout=1"), act("bridge", "loopback/ring/t"), STATUS)
    assert timed_logs(sim) == [(2.0, "NO_ANSWER/NOANSWER"), (7.0, "NO_ANSWER/NOANSWER")]


def test_leg_timeout_hangs_the_leg_up_allotted_timeout(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate check_per_channel_timeouts: a leg whose elapsed > leg_timeout is hung up
    # ALLOTTED_TIMEOUT (one whole second later than ">=" of the group limit); that is the
    # originate's cause, and not NO_ANSWER, so handle_cause hangs the caller up
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "[leg_timeout=2]loopback/ring/t"), STATUS)
    assert logs(sim) == []
    assert b_hangup(sim) == (3.0, "ALLOTTED_TIMEOUT")
    c = projection(sim, "c", times=True)
    assert c[-1] == (3.0, "hangup", "ALLOTTED_TIMEOUT")


def test_a_timeout_ends_the_failover(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: after a group times out, "if (to && !oglobals.continue_on_timeout) goto
    # outer_for" -- the next | group is not dialled
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=2"),
              act("bridge", "loopback/ring/t|loopback/agent/t"), STATUS)
    assert timed_logs(sim) == [(2.0, "NO_ANSWER/NOANSWER")]
    assert not [r for r in sim.trace.records if r["event"] == "create" and r["name"].startswith("loopback/agent")]


def test_originate_continue_on_timeout_dials_the_next_group(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: originate_continue_on_timeout (copied from the caller's variables) lets
    # the next | group be dialled after a timeout
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=2"),
              act("set", "originate_continue_on_timeout=true"), act("set", "hangup_after_bridge=true"),
              act("bridge", "loopback/ring/t|loopback/agent/t"))
    p = projection(sim, times=True)
    assert (2.0, "bridge") in p and p[-1] == (3.02, "hangup", "NORMAL_CLEARING")


def test_a_failed_group_fails_over_to_the_next(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: a group that fails (not by timeout) goes on to the next | group
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "error/user_busy|loopback/agent/t"), STATUS)
    assert logs(sim) == ["SUCCESS/SUCCESS"]


# ---- early media ------------------------------------------------------------------------------------------------
def test_early_media_wins_the_originate(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate check_channel_status: early_ok is on by default, so a leg with early media
    # (its dialplan plays a prompt before answering) ends the originate; the bridge starts then and
    # is not limited by call_timeout any more
    sim = run(tmp_path, sounds, act("answer"), act("set", "call_timeout=1"), act("set", "hangup_after_bridge=true"),
              act("bridge", "loopback/early/t"))
    p = projection(sim, times=True)
    assert (0.0, "bridge") in p
    assert p[-1] == (3.02, "hangup", "NORMAL_CLEARING")


def test_ignore_early_media_waits_for_the_answer(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_originate: ignore_early_media=true (copied from the caller) turns early_ok off
    sim = run(tmp_path, sounds, act("answer"), act("set", "ignore_early_media=true"),
              act("set", "hangup_after_bridge=true"), act("bridge", "loopback/early/t"))
    assert (2.0, "bridge") in projection(sim, times=True)


def test_early_only_bridge_ends_through_handle_cause(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_multi_threaded_bridge: when the peer never answered, the end of the bridge goes to
    # switch_channel_handle_cause(peer's cause): NORMAL_CLEARING hangs the caller up although
    # hangup_after_bridge is not set
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "loopback/earlyonly/t"), act("log", "INFO not reached"))
    assert logs(sim) == []
    assert b_hangup(sim) == (1.02, "NORMAL_CLEARING")


# ---- after the bridge ---------------------------------------------------------------------------------------------
def test_dialplan_goes_on_after_a_bridge_by_default(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_multi_threaded_bridge: without hangup_after_bridge the bridge application returns
    sim = run(tmp_path, sounds, act("answer"), act("bridge", "loopback/agent/t"), act("log", "INFO after"))
    assert timed_logs(sim) == [(1.02, "after")]


def test_park_after_bridge_parks_instead_of_going_on(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_multi_threaded_bridge: park_after_bridge (answered peer) -> switch_ivr_park_session;
    # the rest of the extension does not run, the caller stays (parked) until something ends it
    sim = run(tmp_path, sounds, act("answer"), act("set", "park_after_bridge=true"),
              act("bridge", "loopback/agent/t"), act("log", "INFO not reached"))
    assert logs(sim) == []
    b = next(c for c in sim.channels.values() if c.name == "loopback/100-b")
    assert b.parked and not b.hungup
    assert projection(sim)[-1] == ("unbridge",)


def test_transfer_after_bridge_uses_colons(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_bridge.c transfer_after_bridge: "exten:dialplan:context" split at ':'
    sim = run(tmp_path, sounds, act("answer"), act("set", "transfer_after_bridge=200:XML:t"),
              act("bridge", "loopback/agent/t"), act("log", "INFO not reached"))
    assert logs(sim) == ["in 200 200"]
    assert (1.02, "route", "200", "t") in projection(sim, times=True)


def test_hangup_after_bridge_takes_the_peers_cause(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_multi_threaded_bridge: hangup_after_bridge hangs the caller up with the peer's cause
    extra = """<extension name="agent2"><condition field="destination_number" expression="^agent2$">
      <action application="answer"/><action application="hangup" data="CALL_REJECTED"/></condition></extension>"""
    sim = run(tmp_path, sounds, act("answer"), act("set", "hangup_after_bridge=true"),
              act("bridge", "loopback/agent2/t"), extra=extra)
    assert b_hangup(sim)[1] == "CALL_REJECTED"


# ---- transfer (switch_ivr_session_transfer, mod_dptools transfer_function) ------------------------------------------
def test_transfer_loop_is_stopped_by_max_forwards(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_session_transfer: max_forwards starts at 70 and goes down with every transfer; the
    # transfer that would reach 0 hangs up EXCHANGE_ROUTING_ERROR instead (70 transfers happen)
    extra = """<extension name="loop"><condition field="destination_number" expression="^loop$">
      <action application="transfer" data="loop XML t"/></condition></extension>"""
    sim = run(tmp_path, sounds, act("transfer", "loop XML t"), extra=extra)
    routes = [x for x in projection(sim) if x[0] == "route"]
    assert len(routes) == 1 + 70
    assert projection(sim)[-1] == ("hangup", "EXCHANGE_ROUTING_ERROR")


def test_transfer_bleg_without_a_bridged_leg_does_nothing(tmp_path: Path, sounds: Path) -> None:
    # mod_dptools transfer_function: -bleg with no partner only logs "No B-leg present."
    sim = run(tmp_path, sounds, act("transfer", "-bleg 200 XML t"), act("log", "INFO still here"))
    assert logs(sim) == ["still here"]


def test_transfer_defaults_to_the_current_context(tmp_path: Path, sounds: Path) -> None:
    # switch_ivr_session_transfer: no dialplan/context -> the caller profile's own
    sim = run(tmp_path, sounds, act("transfer", "200"))
    assert logs(sim) == ["in 200 200"]
    assert ("route", "200", "t") in projection(sim)
