"""mod_conference in the simulator: auto outcalls, mintwo/endconf, hangup_after_conference, the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.apps.conference import parse_target
from fsgen.sim.sim import RemoteParty
from fsgen.sim.testing import act, call, make_conf, projection, simulator, write_wav


def plan(*actions: str, name: str = "100") -> str:
    acts = "".join(actions)
    return (f'<extension name="x{name}"><condition field="destination_number" expression="^{name}$">'
            f'<action application="answer"/>{acts}'
            '<action application="log" data="INFO after conference"/>'
            '<action application="hangup" data="NORMAL_CLEARING"/></condition></extension>')


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    write_wav(d / "agent.wav", 1.8)
    return d


def run(tmp_path: Path, sounds: Path, extensions: str, parties: dict[str, dict] | None = None,
        a_app: str | None = None):
    sim = simulator(make_conf(tmp_path / "conf", f'<context name="t">{extensions}</context>'), sounds=sounds)
    for name, how in (parties or {}).items():
        sim.remote_parties.append(RemoteParty(f"{name}@127.0.0.1", dest=name, **how))
    return call(sim, "100", "t", a_app=a_app)


def logged_after(sim, leg: str = "b") -> float | None:
    return next((r["t"] for r in sim.trace.records
                 if r["leg"] == leg and r["event"] == "log" and r.get("text") == "after conference"), None)


def hangup_of(sim, leg: str) -> tuple[float, str] | None:
    return next(((r["t"], r["cause"]) for r in sim.trace.records if r["leg"] == leg and r["event"] == "hangup"),
                None)


def actions_of(sim, action: str) -> list[dict]:
    return [r for r in sim.trace.records if r.get("subclass") == "conference::maintenance"
            and r.get("action") == action]


def test_parse_target() -> None:
    assert parse_target("room@default++flags{mintwo|endconf}") == ("room", "default", None, {"mintwo", "endconf"})
    assert parse_target("room+flags{}") == ("room", "default", None, set())
    assert parse_target("room@big+1234") == ("room", "big", "1234", set())
    assert parse_target("a@b@profile") == ("a@b", "profile", None, set())


def test_mintwo_ends_the_conference_and_hangs_up_the_caller(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"),
               act("conference", "room@default++flags{mintwo}"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 1.0, "talk": 3.0}})
    # leg c = the outcall; it answers at 1.0, joins, hangs up at 4.0
    assert ("execute", "conference", "room+flags{}") in projection(sim, "c")
    assert hangup_of(sim, "c") == (4.0, "NORMAL_CLEARING")
    t, cause = hangup_of(sim, "b")
    assert abs(t - 4.04) < 1e-6 and cause == "NORMAL_CLEARING"
    assert logged_after(sim) is None                      # hung up, not released to the dialplan
    assert [r["conference_size"] for r in actions_of(sim, "add-member")] == ["1", "2"]


def test_hangup_after_conference_false_continues_the_dialplan(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("set", "hangup_after_conference=false"),
               act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"),
               act("conference", "room@default++flags{mintwo}"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 0.5, "talk": 2.0}})
    assert abs(logged_after(sim) - 2.54) < 1e-6
    assert hangup_of(sim, "b")[1] == "NORMAL_CLEARING"


def test_without_mintwo_the_caller_stays_alone(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"), act("conference", "room"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 0.5, "talk": 1.0}}, a_app="&sleep(6000)")
    sim.run(until=sim.engine.now + 1.0)                   # the member leaves 20 ms after its hangup
    assert hangup_of(sim, "c")[0] == 1.5
    assert hangup_of(sim, "b")[0] == 6.0                  # the harness hung up, not the conference
    warned = [r["text"] for r in sim.trace.records if r["event"] == "log" and r.get("level") == "WARNING"]
    assert sum("conf-alone.wav" in w for w in warned) == 2   # alone at the start and after the outcall left
    assert sim.modules["conference"].conferences == {}


def test_failed_outcall_leaves_the_caller_alone_and_mintwo_never_applies(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("set", "conference_auto_outcall_timeout=5"),
               act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"),
               act("conference", "room@default++flags{mintwo}"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 100.0, "talk": 1.0}}, a_app="&sleep(70000)")
    # 5 s is outside 10..500, so FreeSWITCH uses 60 s
    assert hangup_of(sim, "c") == (60.0, "NO_ANSWER")
    assert hangup_of(sim, "b")[0] == 70.0


def test_several_outcalls_with_prefix_and_caller_id(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("set", "conference_auto_outcall_prefix={origination_caller_id_number=95598}"),
               act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1,sofia/test/sip:1300@127.0.0.1"),
               act("conference_set_auto_outcall", "loopback/200/t"),
               act("conference", "room@default++flags{mintwo}"))
    ext += ('<extension name="x200"><condition field="destination_number" expression="^200$">'
            + act("answer") + act("playback", "$${ref_sounds}/agent.wav") + "</condition></extension>")
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 1.0, "talk": 5.0}, "1300": {"ring": 2.0, "talk": 5.0}})
    creates = [r for r in sim.trace.records if r["event"] == "create" and r["leg"] != "b"]
    assert [r["cid_num"] for r in creates if r["name"].startswith("sofia")] == ["95598", "95598"]
    assert {r["name"] for r in creates} >= {"sofia/test/1200@127.0.0.1", "sofia/test/1300@127.0.0.1",
                                            "loopback/200-a", "loopback/200-b"}
    assert len(actions_of(sim, "add-member")) == 4
    # the loopback outcall leaves after its prompt, 1200 at 6.0; the conference ends when 1300 leaves
    legs = {r["name"]: r["leg"] for r in creates}
    assert hangup_of(sim, legs["loopback/200-a"])[0] == pytest.approx(1.8)
    assert hangup_of(sim, "b")[0] == pytest.approx(7.04, abs=1e-6)


def test_endconf_member_leaving_ends_the_conference(tmp_path: Path, sounds: Path) -> None:
    ext = plan(act("set", "conference_utils_auto_outcall_flags=endconf"),
               act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"),
               act("conference", "room"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 1.0, "talk": 2.0}})
    assert ("execute", "conference", "room+flags{endconf}") in projection(sim, "c")
    assert hangup_of(sim, "b") == (pytest.approx(3.04, abs=1e-6), "NORMAL_CLEARING")


def test_outcall_flags_under_the_old_name_are_ignored(tmp_path: Path, sounds: Path) -> None:
    # conference_loop_output reads conference_utils_auto_outcall_flags only
    ext = plan(act("set", "conference_auto_outcall_flags=endconf"),
               act("conference_set_auto_outcall", "sofia/test/sip:1200@127.0.0.1"),
               act("conference", "room"))
    sim = run(tmp_path, sounds, ext, parties={"1200": {"ring": 1.0, "talk": 2.0}})
    assert ("execute", "conference", "room+flags{}") in projection(sim, "c")


def test_join_only_refuses_to_create(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("conference", "room+flags{join-only}")))
    assert logged_after(sim) == 0.0
    assert actions_of(sim, "add-member") == []


def test_api_list_and_kick(tmp_path: Path, sounds: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", f'<context name="t">{plan(act("conference", "room"))}</context>'),
                    sounds=sounds)
    call(sim, "100", "t", run=False)
    sim.run(until=1.0)
    assert hangup_of(sim, "b") is None
    listing = sim.api("conference list")
    assert listing.startswith("+OK Conference room (1 member)") and "loopback/100-b" in listing
    assert sim.api("conference nosuch kick all") == "Conference nosuch not found\n"
    assert sim.api("conference room kick all") == "+OK\n"
    sim.run(until=5.0)
    assert hangup_of(sim, "b")[1] == "NORMAL_CLEARING"
    assert actions_of(sim, "del-member")
    assert sim.api("conference list") == "No active conferences.\n"
