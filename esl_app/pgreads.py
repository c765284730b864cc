"""Read queries on PostgreSQL without a worker thread: psycopg2 asynchronous connections waited on
by gevent.

Handing a query to a thread and waking the event loop when it is done cost more than the query
itself; an asynchronous connection lets the greenlet that serves the call wait on the socket like
any other I/O, so ``gevent.Timeout`` bounds it directly. A connection that was interrupted (deadline,
server gone) is closed, never reused, so the next call starts clean.

The lookups' SQL is fixed, so each connection prepares it once (``PREPARE``) and then only
``EXECUTE``s it: PostgreSQL skips parsing and planning on every call, which was a good part of
its CPU per lookup on a machine whose two cores it shares with esl_app and the switch.

The every-call read also runs in batches (:class:`BatchForm`): while one round trip for it is
out, the calls that reach the same read queue up, and the next round trip answers all of them
with one statement over an array of keys. Nothing waits to fill a batch; under load, batches
form by themselves (three to four callers per round trip at 2,000 calls/s on two cores), which
saves PostgreSQL's fixed cost per statement and esl_app's send, wait and receive per caller.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gevent
import psycopg2
import psycopg2.extensions
from gevent.hub import Waiter, get_hub
from gevent.lock import BoundedSemaphore
from gevent.socket import wait_read, wait_write


def _wait(conn: Any) -> None:
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            wait_read(conn.fileno())
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_write(conn.fileno())
        else:  # pragma: no cover - psycopg2 documents no other state
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


@dataclass(frozen=True)
class BatchForm:
    """How a fixed read (its SQL is the key of ``batches``) runs for many callers at once.

    ``sql`` takes the same parameters except the ``key``-th, which it takes as an array of all the
    callers' values; the first column of each row says which key the row belongs to. A caller gets
    its rows without that column, in the order ``sql`` returns them, as if it had run the read
    alone. Callers are batched only with callers whose other parameters are equal. ``skip`` lists
    parameters of the single read that ``sql`` does not take (repeats of one it takes); they
    still count in ``key``'s position."""

    sql: str
    key: int
    skip: tuple[int, ...] = ()


class CooperativeReader:
    """A small pool of asynchronous connections for read-only lookups."""

    def __init__(self, database: str, connect_params: dict[str, Any], size: int = 16,
                 batches: Mapping[str, BatchForm] | None = None, batch_timeout: float = 5.0):
        self.database = database
        self.params = {k: v for k, v in connect_params.items() if v is not None}
        # Plan each prepared read once. PostgreSQL otherwise keeps planning a batch anew on every
        # run (its plan for "= ANY(array)" looks better with the array's length known), which cost
        # more than the read itself: 290 instead of 690 us for a batch of four here.
        # A read nobody waits for any more must stop on the server too: closing the connection
        # does not stop it (PostgreSQL notices only when it sends the rows), so a runaway read cut
        # at its deadline went on using a core for up to the general statement_timeout, slowing
        # every call after it. The last -c of a setting wins.
        stop_ms = max(1, math.ceil(batch_timeout * 1000))
        self.params["options"] = (f"{self.params.get('options', '')} -c plan_cache_mode=force_generic_plan"
                                  f" -c statement_timeout={stop_ms}").strip()
        self.size = size
        self._idle: list[tuple[Any, Any, set[str]]] = []  # (connection, its cursor, statements it prepared)
        # At most `size` connections at once; a greenlet beyond that waits (inside its deadline).
        self._slots = BoundedSemaphore(size)
        self._statements: dict[str, tuple[str, str, str]] = {}
        self.batches = dict(batches or {})
        self.batch_timeout = batch_timeout  # a read that takes longer fails (its batch) and stops on the server
        # (sql, the other parameters) -> the callers waiting for the next round trip, while one runs
        # A caller waits on a bare Waiter, woken from the hub: AsyncResult's link bookkeeping cost
        # more (9k of 150k instructions per caller in a batch of four).
        self._queues: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, Waiter]]] = {}
        self.round_trips = 0  # reads sent (a batch is one)

    def _statement(self, sql: str) -> tuple[str, str, str]:
        """``sql`` (``?`` placeholders) as a statement name, its ``PREPARE`` and its ``EXECUTE``."""
        found = self._statements.get(sql)
        if found is None:
            name = f"hotline_{len(self._statements) + 1}"
            parts = sql.split("?")
            text = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
            run = f"EXECUTE {name} ({', '.join(['%s'] * (len(parts) - 1))})" if len(parts) > 1 else f"EXECUTE {name}"
            found = self._statements[sql] = (name, f"PREPARE {name} AS {text}", run)
        return found

    def _connect(self) -> tuple[Any, Any, set[str]]:
        conn = psycopg2.connect(dbname=self.database, async_=1, **self.params)
        try:
            _wait(conn)
        except BaseException:
            conn.close()
            raise
        return conn, conn.cursor(), set()

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (fixed text, ``?`` placeholders) with ``params``; all rows. The caller bounds
        the wait (gevent.Timeout); a batched read goes on for the other callers without it."""
        form = self.batches.get(sql)
        if form is not None:
            return self._batched(sql, form, params)
        with self._slots:
            return self._rows(sql, params)

    def _batched(self, sql: str, form: BatchForm, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        group = (sql, params[:form.key] + params[form.key + 1:])
        result = Waiter()
        queue = self._queues.get(group)
        if queue is None:  # no round trip out for this read: start one (it takes whoever queues meanwhile)
            self._queues[group] = [(params[form.key], result)]
            # A raw greenlet: gevent.spawn's Greenlet records the stack it was spawned from, line
            # numbers and all (about 15k instructions, once per batch).
            gevent.spawn_raw(self._drain, form, group)
        else:
            queue.append((params[form.key], result))
        rows: list[tuple[Any, ...]] = result.get()
        return rows

    def _drain(self, form: BatchForm, group: tuple[str, tuple[Any, ...]]) -> None:
        """Answer the queued callers, one round trip per batch, until nobody waits."""
        others = group[1]
        later = get_hub().loop.run_callback
        before = tuple(p for i, p in enumerate(others[:form.key]) if i not in form.skip)
        after = tuple(p for i, p in enumerate(others[form.key:], form.key + 1) if i not in form.skip)
        while True:
            callers = self._queues[group]
            if not callers:
                del self._queues[group]
                return
            self._queues[group] = []
            keys = list(dict.fromkeys([key for key, _result in callers]))
            try:
                with self._slots, gevent.Timeout(self.batch_timeout):
                    rows = self._rows(form.sql, before + (keys,) + after)
            except BaseException as exc:  # noqa: BLE001 - every caller of the batch gets it
                failure = exc if isinstance(exc, Exception) else TimeoutError("batched read took too long")
                for _key, result in callers:
                    later(result.throw, failure)
                continue
            found: dict[Any, list[tuple[Any, ...]]] = {}
            for row in rows:
                found.setdefault(row[0], []).append(row[1:])
            for key, result in callers:
                later(result.switch, found.get(key, []))

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        name, prepare, run = self._statement(sql)
        line = self._idle.pop() if self._idle else self._connect()
        conn, cursor, prepared = line
        sent = time.monotonic()
        try:
            if name not in prepared:
                cursor.execute(prepare)
                _wait(conn)
                prepared.add(name)
            cursor.execute(run, params)
            self.round_trips += 1
            _wait(conn)
            rows = cursor.fetchall()
        except BaseException as exc:
            # Interrupted mid-query (deadline) or broken: the connection's state is unknown.
            with contextlib.suppress(Exception):
                conn.close()
            # The server's text is in its own language (lc_messages); the time says which cancel it was.
            if isinstance(exc, psycopg2.extensions.QueryCanceledError) \
                    and time.monotonic() - sent >= self.batch_timeout * 0.9:
                raise TimeoutError(f"stopped by the server after {self.batch_timeout * 1000:.0f} ms") from None
            raise
        self._idle.append(line)
        return rows

    def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()[0]
            with contextlib.suppress(Exception):
                conn.close()
