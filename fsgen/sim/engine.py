"""Discrete-event scheduler on a virtual clock.

A call that lasts minutes replays in milliseconds because nothing here sleeps on the real
clock: time jumps from one scheduled event to the next.  Only real socket I/O (outbound Event
Socket connections) takes real time; the I/O adapter feeds what it reads back through
:meth:`Engine.call_at`, stamped with the virtual time plus the real time that elapsed.

Channel behaviour is written as *tasks*: Python generators that ``yield`` wait requests
(:class:`Sleep`, :class:`Wait`) and are resumed with the outcome.  Ordering is deterministic:
events at the same virtual time run in the order they were scheduled.
"""

from __future__ import annotations

import heapq
import itertools
import time as _time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from heapq import heappush as _push
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .channel import Channel


class Hangup(Exception):
    """Thrown into a channel's task when its channel hangs up while the task waits.

    Applications that must clean up (close a recording, leave a queue) catch it or use
    ``finally``; everything else just lets it propagate and the dialplan ends.
    """

    def __init__(self, cause: str = "NORMAL_CLEARING"):
        super().__init__(cause)
        self.cause = cause


@dataclass(slots=True)
class Sleep:
    """Resume after ``seconds`` of virtual time (interrupted only by hangup)."""

    seconds: float


@dataclass(slots=True)
class Wait:
    """Resume when one of ``kinds`` is posted to one of ``channels``, or after ``timeout``.

    ``channels`` defaults to the waiting task's own channel.  The task is resumed with a
    :class:`Woken`; ``Woken.kind == "timeout"`` when the timeout expired first.
    """

    kinds: frozenset[str] | set[str] | tuple[str, ...]
    timeout: float | None = None
    channels: tuple[Channel, ...] | None = None


@dataclass(slots=True)
class Woken:
    kind: str
    data: Any = None
    channel: Channel | None = None


TIMEOUT = "timeout"
_INF = float("inf")
_NO_KINDS: frozenset[str] = frozenset()

TaskGen = Generator[Any, Any, Any]


@dataclass(eq=False, slots=True)
class Task:
    """A running generator; ``channel`` (optional) is the channel it acts for."""

    gen: TaskGen
    name: str
    channel: Channel | None = None
    done: bool = False
    result: Any = None
    # current wait: kinds, the channels listened to, and the timer entry
    wait_kinds: frozenset[str] = frozenset()
    wait_channels: tuple = ()
    timer: list | None = None
    on_done: list[Callable[[Task], None]] = field(default_factory=list)


class IOPoller(Protocol):
    """What the engine needs from a real-I/O adapter (see ``fsgen.sim.outbound``)."""

    def active(self) -> bool: ...

    def realtime(self) -> bool:
        """True while a channel waits for the peer (virtual time must then follow real time)."""
        ...

    def poll(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` real seconds (None = until something happens); schedule
        what was read via ``engine.call_at``; return True if anything was read."""
        ...


class Engine:
    """The scheduler: a heap of timed callbacks and the tasks they resume."""

    #: how long (real seconds) a connected Event Socket peer may stay silent before the
    #: virtual clock jumps to the next timer; see the module docstring.
    io_quiet = 0.05
    #: real waits shorter than this are spun (non-blocking polls) instead of slept, when every
    #: active poller allows it (``spin_ok``: polling it costs nothing and schedules nothing)
    spin_below = 0.002

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[list] = []
        self._seq = itertools.count()
        self.io: list[IOPoller] = []
        self.errors: list[str] = []
        self.on_task_error: Callable[[Task, BaseException], None] | None = None
        self._running: tuple[float | None, Callable[[], bool] | None] | None = None   # run()'s until, stop

    # ---- timers -------------------------------------------------------------------------
    def call_at(self, t: float, fn: Callable[..., Any], *args: Any) -> list:
        now = self.now
        entry = [now if now > t else t, next(self._seq), fn, args]  # noqa: FURB136 - max(t, now) without a call
        _push(self._heap, entry)
        return entry

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> list:
        now = self.now
        t = now + delay
        entry = [now if now > t else t, next(self._seq), fn, args]  # noqa: FURB136
        _push(self._heap, entry)
        return entry

    @staticmethod
    def cancel(entry: list | None) -> None:
        if entry is not None:
            entry[2] = None

    def ticks(self, t: float, tick: Callable[[], float | None]) -> None:
        """A periodic check that mostly finds nothing to do: ``tick()`` runs at ``t``, at the place
        in the event order a ``Sleep`` begun now would have, and returns the time of the next
        check (having scheduled nothing), or None when it is done (e.g. it resumed its task).
        While nothing else is due before that next time, the next check runs at once with the
        clock moved on, exactly as the run loop would run it, instead of going through the heap."""
        self.call_at(t, self._tick, tick)

    def _tick(self, tick: Callable[[], float | None]) -> None:
        nxt = tick()
        if nxt is None:
            return
        # until the chain reaches the heap's next entry, nothing else happens: the run loop
        # would pop each check next, after asking stop() (time moves on) -- unless it must
        # stop at ``until`` or poll real I/O, where the check goes on the heap instead
        running = self._running
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        if running is None or self._io_active():
            self.call_at(nxt, self._tick, tick)
            return
        until, stop = running
        # nothing the chain does moves the heap's top, nor ``until``: one bound for both
        top = heap[0][0] if heap else None
        if until is not None and (top is None or until < top):
            bound, strict = until, True         # stop once past ``until``...
        elif top is not None:
            bound, strict = top, False          # ...or on reaching the next entry
        else:
            bound, strict = _INF, True          # ...or never (nothing scheduled, no ``until``)
        while True:
            if (nxt > bound if strict else nxt >= bound) or (stop is not None and nxt > self.now and stop()):
                self.call_at(nxt, self._tick, tick)
                return
            if nxt > self.now:  # noqa: PLR1730 - max(now, nxt) without a call
                self.now = nxt
            nxt = tick()
            if nxt is None:
                return

    def _io_active(self) -> bool:
        for p in self.io:
            if p.active():
                return True
        return False

    # ---- tasks --------------------------------------------------------------------------
    def spawn(self, gen: TaskGen, name: str, channel: Channel | None = None,
              delay: float = 0.0) -> Task:
        task = Task(gen=gen, name=name, channel=channel)
        self.call_later(delay, self._step, task, None, None)
        return task

    def _step(self, task: Task, value: Any, exc: BaseException | None) -> None:
        if task.done:
            return
        if task.timer is not None or task.wait_channels or task.channel is not None:
            self._clear_wait(task)
        else:
            task.wait_kinds = _NO_KINDS
        try:
            req = task.gen.throw(exc) if exc is not None else task.gen.send(value)
        except StopIteration as stop:
            self._finish(task, stop.value)
            return
        except Hangup:
            self._finish(task, None)
            return
        except Exception as err:  # a bug in an application must not kill the whole run
            self._finish(task, None)
            if self.on_task_error is not None:
                self.on_task_error(task, err)
            else:
                raise
            return
        self._arm(task, req)

    def _arm(self, task: Task, req: Any) -> None:
        chan = task.channel
        if type(req) is Sleep:
            task.wait_kinds = _NO_KINDS
            task.wait_channels = (chan,) if chan is not None else ()
            now = self.now
            t = now + max(req.seconds, 0.0)
            task.timer = entry = [now if now > t else t, next(self._seq), self._step, (task, None, None)]  # noqa: FURB136
            _push(self._heap, entry)
        elif isinstance(req, Wait):
            chans = req.channels if req.channels is not None else ((chan,) if chan is not None else ())
            task.wait_kinds = frozenset(req.kinds)
            task.wait_channels = tuple(chans)
            for ch in chans:
                ch.waiters.append(task)
            if chan is not None and chan not in chans:
                chan.waiters.append(task)  # still interruptible by its own hangup
            if req.timeout is not None:
                task.timer = self.call_later(max(req.timeout, 0.0), self._step, task,
                                             Woken(TIMEOUT), None)
        elif isinstance(req, Sleep):
            task.wait_kinds = _NO_KINDS
            task.wait_channels = (chan,) if chan is not None else ()
            task.timer = self.call_later(max(req.seconds, 0.0), self._step, task, None, None)
        elif req is None:
            self.call_later(0.0, self._step, task, None, None)
        else:
            self._step(task, None, TypeError(f"task {task.name} yielded {req!r}, not Sleep/Wait"))
            return
        if chan is not None and task not in chan.waiters:
            chan.waiters.append(task)

    def _clear_wait(self, task: Task) -> None:
        timer = task.timer
        if timer is not None:
            timer[2] = None
            task.timer = None
        if task.wait_channels:
            for ch in task.wait_channels:
                try:
                    ch.waiters.remove(task)
                except ValueError:
                    pass
            task.wait_channels = ()
        chan = task.channel
        if chan is not None:
            try:
                chan.waiters.remove(task)
            except ValueError:
                pass
        task.wait_kinds = _NO_KINDS

    def _finish(self, task: Task, result: Any) -> None:
        task.done = True
        task.result = result
        for cb in task.on_done:
            cb(task)

    # ---- notifications ------------------------------------------------------------------
    def notify(self, channel: Channel, kind: str, data: Any = None) -> None:
        """Wake every task waiting for ``kind`` on ``channel`` (in the current instant)."""
        for task in list(channel.waiters):
            if kind in task.wait_kinds and channel in task.wait_channels and not task.done:
                self._clear_wait(task)
                self.call_later(0.0, self._step, task, Woken(kind, data, channel), None)

    def interrupt(self, channel: Channel, cause: str) -> None:
        """Throw :class:`Hangup` into the task(s) acting for ``channel``."""
        for task in list(channel.waiters):
            if task.channel is channel and not task.done:
                self._clear_wait(task)
                self.call_later(0.0, self._step, task, None, Hangup(cause))

    # ---- running ------------------------------------------------------------------------
    def pending(self) -> bool:
        return any(e[2] is not None for e in self._heap)

    def _next_time(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run(self, until: float | None = None, stop: Callable[[], bool] | None = None,
            real_timeout: float = 60.0) -> None:
        """Run events until none are left, ``until`` is reached or ``stop()`` is true.

        ``real_timeout`` bounds the real time spent blocked on socket I/O with nothing else
        scheduled (a peer that never answers must not hang the simulator).
        """
        self._running = (until, stop)
        try:
            self._run(until, stop, real_timeout)
        finally:
            self._running = None

    def _run(self, until: float | None, stop: Callable[[], bool] | None, real_timeout: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        pollers = self.io
        while True:
            while heap and heap[0][2] is None:
                pop(heap)
            nxt = heap[0][0] if heap else None
            # finish the current instant (cleanup after a hangup) before asking stop()
            if stop is not None and (nxt is None or nxt > self.now) and stop():
                return
            if pollers:
                for p in pollers:
                    if p.active():
                        self._poll_io([p for p in pollers if p.active()], nxt, until, real_timeout)
                        nxt = self._next_time()
                        break
            if nxt is None:
                if any(p.active() for p in self.io):
                    continue
                return
            if until is not None and nxt > until:
                self.now = max(self.now, until)
                return
            entry = pop(heap)
            fn = entry[2]
            if fn is None:
                continue
            t = entry[0]
            if t > self.now:        # noqa: PLR1730 - max(now, t) without a call
                self.now = t
            fn(*entry[3])

    def _poll_io(self, io: Iterable[IOPoller], nxt: float | None, until: float | None,
                 real_timeout: float) -> None:
        """Let real sockets speak.  While a channel waits for its Event Socket app (parked,
        nothing queued) time flows at real speed; otherwise a silent peer gets ``io_quiet``
        real seconds before the virtual clock jumps to the next timer."""
        io = list(io)
        realtime = False
        for p in io:
            rt = getattr(p, "realtime", None)
            if rt is not None and rt():
                realtime = True
                break
        started = _time.monotonic()
        if nxt is not None and nxt <= self.now:
            wait: float | None = 0.0
        elif realtime or nxt is None:
            wait = min(real_timeout, nxt - self.now) if nxt is not None else real_timeout
        else:
            wait = self.io_quiet
        got = False
        if wait is not None and 0.0 < wait < self.spin_below and all(getattr(p, "spin_ok", False) for p in io):
            # shorter than the poller's timer resolution (epoll sleeps whole milliseconds):
            # look without blocking until the wait is over, so real speed stays real speed
            deadline = started + wait
            while True:
                for p in io:
                    got = p.poll(0.0) or got
                if got or _time.monotonic() >= deadline:
                    break
        else:
            for p in io:
                got = p.poll(wait if not got else 0.0) or got
                wait = max(0.0, (wait or 0.0) - (_time.monotonic() - started))
        elapsed = _time.monotonic() - started
        if got:
            return
        if (realtime or nxt is None) and elapsed >= real_timeout:
            self.errors.append(f"no Event Socket traffic for {real_timeout:.0f} s of real time; giving up")
            for p in io:
                close = getattr(p, "abort", None)
                if close is not None:
                    close("timeout")
        if realtime or nxt is None:
            self.now = min(self.now + elapsed, nxt) if nxt is not None else self.now + elapsed
