"""record / record_session / stop_record_session in the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsgen.sim.sim import RemoteParty
from fsgen.sim.testing import act, call, make_conf, simulator, write_wav


def plan(*actions: str) -> str:
    acts = "".join(actions)
    return ('<context name="t"><extension name="r"><condition field="destination_number" expression="^100$">'
            f'<action application="answer"/>{acts}'
            '<action application="log" data="INFO vars ms=${record_ms} s=${record_seconds} n=${record_samples} '
            'term=${playback_terminator_used} cause=${record_completion_cause} gone=${RECORD_DISCARDED}"/>'
            "</condition></extension></context>")


@pytest.fixture
def sounds(tmp_path: Path) -> Path:
    d = tmp_path / "sounds"
    write_wav(d / "long.wav", 30.0)
    write_wav(d / "two.wav", 2.0)
    return d


def run(tmp_path: Path, sounds: Path, dialplan: str, a_app: str | None = "&playback(${ref_sounds}/long.wav)",
        dtmf=(), start: str = "2026-11-22T23:26:00+00:00", parties: dict[str, dict] | None = None):
    sim = simulator(make_conf(tmp_path / "conf", dialplan), sounds=sounds, start=start)
    for name, how in (parties or {}).items():
        sim.remote_parties.append(RemoteParty(f"{name}@127.0.0.1", dest=name, **how))
    return call(sim, "100", "t", a_app=a_app, dtmf=dtmf)


def events(sim, name: str) -> list[dict]:
    return [r for r in sim.trace.records if r["event"] == name and r["leg"] == "b"]


def vars_line(sim) -> dict[str, str]:
    text = next(r["text"] for r in sim.trace.records if r["event"] == "log" and str(r.get("text")).startswith("vars "))
    return dict(part.split("=", 1) for part in text.split()[1:])


def recordings(sim):
    return sim.modules["record"].recordings


def test_record_stops_on_a_terminator_and_sets_the_length(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("set", "playback_terminators=#"), act("record", "/rec/a.wav 60")),
              dtmf=[(1.0, "5"), (3.0, "#")])
    assert [(r["t"], r["file"]) for r in events(sim, "record_start")] == [(0.0, "/rec/a.wav")]
    assert [r["t"] for r in events(sim, "record_stop")] == [3.035]
    v = vars_line(sim)
    assert (v["ms"], v["s"], v["n"], v["term"]) == ("3035", "3", "24280", "#")
    (rec,) = recordings(sim)
    assert (rec.path, rec.kind, rec.digit) == ("/rec/a.wav", "record", "#")


def test_default_terminator_is_star(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record", "/rec/a.wav")), dtmf=[(1.0, "#"), (2.0, "*")])
    assert [r["t"] for r in events(sim, "record_stop")] == [2.035]
    assert vars_line(sim)["term"] == "*"


@pytest.mark.parametrize(("start", "stop"), [("2026-11-22T23:26:00+00:00", 4.0),
                                             ("2026-11-22T23:26:00.700+00:00", 3.3)])
def test_time_limit_counts_whole_epoch_seconds(tmp_path: Path, sounds: Path, start: str, stop: float) -> None:
    sim = run(tmp_path, sounds, plan(act("record", "/rec/a.wav 3")), start=start)
    assert [r["t"] for r in events(sim, "record_stop")] == [stop]


def test_silence_ends_the_recording(tmp_path: Path, sounds: Path) -> None:
    # a parked caller sends nothing: 3 s below the threshold end it
    sim = run(tmp_path, sounds, plan(act("record", "/rec/a.wav 60 200 3")), a_app=None)
    assert [r["t"] for r in events(sim, "record_stop")] == [3.0]
    assert recordings(sim)[0].cause == "success-silence"


def test_a_talking_caller_is_not_silence(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record", "/rec/a.wav 60 200 3")),
              a_app="&playback(${ref_sounds}/two.wav)")
    # the caller talks for 2 s and hangs up: the recording ends with the call, not on silence
    assert [r["t"] for r in events(sim, "record_stop")] == [2.0]
    assert recordings(sim)[0].cause == ""


def test_record_without_a_file_logs(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record")))
    assert events(sim, "record_start") == []
    assert any(r.get("text") == "No file specified." for r in sim.trace.records)


def test_record_session_counts_only_bridged_time_with_record_bridge_req(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("set", "RECORD_BRIDGE_REQ=true"),
                                     act("record_session", "/rec/calls/${uuid}.wav"),
                                     act("playback", "$${ref_sounds}/two.wav"),
                                     act("bridge", "sofia/test/sip:agent@127.0.0.1")),
              parties={"agent": {"ring": 1.0, "talk": 4.0}})
    (start,) = events(sim, "record_start")
    assert start["t"] == 0.0 and start["file"].startswith("/rec/calls/")
    (stop,) = events(sim, "record_stop")
    hangup = events(sim, "hangup")[0]
    assert stop["t"] == hangup["t"]
    (rec,) = recordings(sim)
    assert rec.kind == "record_session" and rec.seconds == pytest.approx(4.02)
    assert not rec.discarded


def test_short_session_recording_is_discarded(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record_session", "/rec/x.wav"), act("playback", "$${ref_sounds}/two.wav"),
                                     act("stop_record_session", "/rec/x.wav")))
    (rec,) = recordings(sim)
    assert rec.discarded and rec.cause == "input-too-short" and rec.seconds == pytest.approx(2.0)
    v = vars_line(sim)
    assert (v["gone"], v["cause"], v["s"]) == ("true", "input-too-short", "2")


def test_session_recording_time_limit(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record_session", "/rec/x.wav +5"), act("playback", "$${ref_sounds}/long.wav")))
    assert [r["t"] for r in events(sim, "record_stop")] == [5.0]
    assert recordings(sim)[0].cause == "success-maxtime"


def test_stop_record_session_all(tmp_path: Path, sounds: Path) -> None:
    sim = run(tmp_path, sounds, plan(act("record_session", "/rec/x.wav"), act("record_session", "/rec/y.wav"),
                                     act("playback", "$${ref_sounds}/two.wav"), act("stop_record_session", "all")))
    assert [(r["t"], r["file"]) for r in events(sim, "record_stop")] == [(2.0, "/rec/x.wav"), (2.0, "/rec/y.wav")]
