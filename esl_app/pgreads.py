"""Read queries on PostgreSQL without a worker thread: psycopg2 asynchronous connections waited on
by gevent.

Handing a query to a thread and waking the event loop when it is done cost more than the query
itself; an asynchronous connection lets the greenlet that serves the call wait on the socket like
any other I/O, so ``gevent.Timeout`` bounds it directly. A connection that was interrupted (deadline,
server gone) is closed, never reused, so the next call starts clean.

The lookups' SQL is fixed, so each connection prepares it once (``PREPARE``) and then only
``EXECUTE``s it: PostgreSQL skips parsing and planning on every call, which was a good part of
its CPU per lookup on a machine whose two cores it shares with esl_app and the switch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg2
import psycopg2.extensions
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


class CooperativeReader:
    """A small pool of asynchronous connections for read-only lookups."""

    def __init__(self, database: str, connect_params: dict[str, Any], size: int = 16):
        self.database = database
        self.params = {k: v for k, v in connect_params.items() if v is not None}
        self.size = size
        self._idle: list[Any] = []
        # At most `size` connections at once; a greenlet beyond that waits (inside its deadline).
        self._slots = BoundedSemaphore(size)
        self._statements: dict[str, tuple[str, str, str]] = {}
        self._prepared: dict[Any, set[str]] = {}  # connection -> the statements it has prepared

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

    def _connect(self) -> Any:
        conn = psycopg2.connect(dbname=self.database, async_=1, **self.params)
        try:
            _wait(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run ``sql`` (fixed text, ``?`` placeholders) with ``params``; all rows."""
        with self._slots:
            return self._rows(sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        name, prepare, run = self._statement(sql)
        conn = self._idle.pop() if self._idle else self._connect()
        try:
            cursor = conn.cursor()
            prepared = self._prepared.setdefault(conn, set())
            if name not in prepared:
                cursor.execute(prepare)
                _wait(conn)
                prepared.add(name)
            cursor.execute(run, params)
            _wait(conn)
            rows = cursor.fetchall()
            cursor.close()
        except BaseException:
            # Interrupted mid-query (deadline) or broken: the connection's state is unknown.
            self._prepared.pop(conn, None)
            with contextlib.suppress(Exception):
                conn.close()
            raise
        self._idle.append(conn)
        return rows

    def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()
            self._prepared.pop(conn, None)
            with contextlib.suppress(Exception):
                conn.close()
