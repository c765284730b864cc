"""The database layer under concurrent writers: a change made by the CLI while ``esl-app serve``
writes (call records, the cache outbox) must wait for the lock, not fail."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import peewee

from esl_app.db import open_database


def test_a_change_that_reads_then_writes_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "hotline.db"
    db = open_database(f"sqlite:///{path}", bind=False)
    db.execute_sql("CREATE TABLE t (x INTEGER)")
    db.execute_sql("INSERT INTO t VALUES (1)")
    serve = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    errors: list[Exception] = []

    def serve_writes() -> None:
        try:
            serve.execute("INSERT INTO t VALUES (2)")  # a call record, committed at once
        except sqlite3.Error as exc:
            errors.append(exc)

    writer = threading.Thread(target=serve_writes)
    with db.atomic():
        assert db.execute_sql("SELECT x FROM t").fetchall() == [(1,)]   # the change reads the customer,
        writer.start()
        writer.join(0.3)                                                 # serve writes meanwhile,
        db.execute_sql("UPDATE t SET x = 3 WHERE x = 1")                 # then the change writes
    writer.join(5)
    assert not errors
    assert serve.execute("SELECT x FROM t ORDER BY x").fetchall() == [(2,), (3,)]
    assert isinstance(db, peewee.SqliteDatabase)
    db.close()
    serve.close()
