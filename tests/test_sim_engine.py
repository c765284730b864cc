"""The virtual-clock scheduler: ordering, waits, timeouts, hangup interrupts."""

from __future__ import annotations

import time
from pathlib import Path

from fsgen.sim.channel import CallerProfile, Channel
from fsgen.sim.engine import TIMEOUT, Engine, Hangup, Sleep, Wait
from fsgen.sim.testing import make_conf, simulator


def test_sleeps_run_in_virtual_time_and_same_instant_events_keep_their_order() -> None:
    eng = Engine()
    log: list[tuple[float, str]] = []

    def worker(name: str, pause: float):
        for _ in range(3):
            yield Sleep(pause)
            log.append((round(eng.now, 3), name))

    eng.spawn(worker("a", 100.0), "a")
    eng.spawn(worker("b", 100.0), "b")
    eng.spawn(worker("c", 150.0), "c")
    started = time.perf_counter()
    eng.run()
    assert time.perf_counter() - started < 1.0  # 450 virtual seconds, no real sleeping
    # at 300 c's timer (set at 150) was scheduled before a's and b's (set at 200): it runs first
    assert log == [(100.0, "a"), (100.0, "b"), (150.0, "c"), (200.0, "a"), (200.0, "b"), (300.0, "c"),
                   (300.0, "a"), (300.0, "b"), (450.0, "c")]


def test_wait_wakes_on_post_or_times_out_and_hangup_is_thrown(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", '<context name="t"/>'))
    chan = Channel(sim, "test/1", CallerProfile(destination_number="1", context="t"))
    sim.add_channel(chan)
    seen: list = []

    def body():
        w = yield Wait({"ping"}, timeout=5)
        seen.append((sim.engine.now, w.kind, w.data))
        w = yield Wait({"ping"}, timeout=5)
        seen.append((sim.engine.now, w.kind))
        try:
            yield Wait({"never"})
        except Hangup as h:
            seen.append((sim.engine.now, "hangup", h.cause))
            raise

    task = sim.engine.spawn(body(), "t", chan)
    sim.engine.call_at(2.0, chan.post, "ping", 42)
    sim.engine.call_at(20.0, chan.hangup, "USER_BUSY")
    sim.run()
    assert seen == [(2.0, "ping", 42), (7.0, TIMEOUT), (20.0, "hangup", "USER_BUSY")]
    assert task.done


def test_other_tasks_waiting_on_a_channel_see_its_hangup(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", '<context name="t"/>'))
    watched = Channel(sim, "test/1", CallerProfile())
    sim.add_channel(watched)
    seen: list = []

    def watcher():
        w = yield Wait({"hangup"}, channels=(watched,))
        seen.append((sim.engine.now, w.kind, w.data))

    sim.engine.spawn(watcher(), "watcher")
    sim.engine.call_at(3.0, watched.hangup, "NO_ANSWER")
    sim.run()
    assert seen == [(3.0, "hangup", "NO_ANSWER")]


def test_a_crashing_task_becomes_an_error_record_not_a_traceback(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", '<context name="t"/>'))
    chan = Channel(sim, "test/1", CallerProfile())
    sim.add_channel(chan)

    def broken():
        yield Sleep(1)
        raise KeyError("oops")

    sim.engine.spawn(broken(), "broken", chan)
    sim.run()
    err = sim.trace.errors()
    assert err and err[0]["kind"] == "internal_error" and "KeyError" in err[0]["message"]
    assert chan.hangup_cause == "DESTINATION_OUT_OF_ORDER"
