"""Opening the database from a URL and keeping its schema current.

SQLite (default) runs in WAL mode so lookups read while an import writes; PostgreSQL is reached
through the same models with a connect timeout and a statement timeout, so a stopped or stuck
server turns into an error quickly instead of a worker thread blocked for minutes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import peewee
from playhouse import db_url

from .models import ALL_MODELS, SchemaVersion, database_proxy

SCHEMA_VERSION = 4

# Errors that mean "the database did not answer", as opposed to a bug in a lookup.
DB_ERRORS: tuple[type[BaseException], ...] = (peewee.DatabaseError, peewee.InterfaceError)


class WritingSqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose transactions take the write lock when they begin (``BEGIN IMMEDIATE``).

    A change reads, then writes (find the customer, update the tier). Begun the default way, its
    read snapshot cannot become a write once another connection - ``esl-app serve`` writing a
    call record - has committed meanwhile: SQLite then fails the write at once with "database is
    locked", without waiting out the busy timeout. Taken at BEGIN, the lock is waited for like any
    other, and the change goes through.
    """

    def begin(self, lock_type: str | None = None) -> None:
        super().begin(lock_type or "IMMEDIATE")


class DatabaseURLError(ValueError):
    """A database URL esl_app cannot use; the message says what to write instead."""


def describe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in ("postgres", "postgresql")


def open_database(url: str, *, query_timeout_ms: int = 2000, bind: bool = True) -> peewee.Database:
    """Create the peewee database for ``url`` (``sqlite:///path`` or ``postgresql://...``).

    Connections are opened lazily, one per thread (peewee's thread-local state), which is what the
    lookup worker threads need. With ``bind`` the shared models use this database.
    """
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise DatabaseURLError(f"{describe_url(url)}: write sqlite:///relative/path.db or sqlite:////abs/path.db")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: peewee.Database = WritingSqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "cache_size": -32000,
            },
            timeout=query_timeout_ms / 1000.0,
        )
    elif scheme in ("postgres", "postgresql"):
        timeout_s = max(1, round(query_timeout_ms / 1000))
        try:
            db = db_url.connect(
                url,
                connect_timeout=timeout_s,
                options=f"-c statement_timeout={int(query_timeout_ms)} -c lock_timeout={int(query_timeout_ms)}",
                application_name="esl_app",
            )
        except Exception as exc:  # noqa: BLE001 - db_url raises assorted errors for malformed URLs
            raise DatabaseURLError(f"{describe_url(url)}: {exc}") from None
    else:
        raise DatabaseURLError(
            f"{describe_url(url)}: unsupported database; use sqlite:///path.db or postgresql://user:pw@host/db")
    if bind:
        database_proxy.initialize(db)
    return db


def _migration_1(db: peewee.Database) -> None:
    db.create_tables(ALL_MODELS, safe=True)


def _migration_2(db: peewee.Database) -> None:
    """Call records keep the hangup cause apart from the outcome; the switch-side cache outbox.

    Version 1 databases created by a newer esl_app already have both (migration 1 creates every
    current model), so each step checks first.
    """
    from playhouse.migrate import SchemaMigrator, migrate

    from .models import CacheOutbox, CallRecord

    if "hangup_cause" not in {c.name for c in db.get_columns(CallRecord._meta.table_name)}:
        migrate(SchemaMigrator.from_database(db).add_column(
            CallRecord._meta.table_name, "hangup_cause", peewee.CharField(max_length=64, default="")))
    db.create_tables([CacheOutbox], safe=True)


def _migration_3(db: peewee.Database) -> None:
    """Phone numbers indexed with their customer, replacing the index on the number alone: the
    live lookup's "who has this number, lowest id first" and the cache fill's shared numbers are
    answered from the index without reading the table."""
    from .models import Phone

    indexes = {i.name for i in db.get_indexes(Phone._meta.table_name)}
    if "phone_number_customer_id" not in indexes:
        db.execute_sql("CREATE INDEX phone_number_customer_id ON phone (number, customer_id)")
    if "phone_number" in indexes:
        db.execute_sql("DROP INDEX phone_number")


def _migration_4(db: peewee.Database) -> None:
    """Overdue bills indexed on their own (``bill_overdue``, see models.Bill): the arrears part of
    a live lookup is then read from the index alone."""
    from .models import Bill

    if "bill_overdue" not in {i.name for i in db.get_indexes(Bill._meta.table_name)}:
        db.execute_sql("CREATE INDEX bill_overdue ON bill (customer_id, due_date, amount_due) WHERE amount_due > 0")


MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {
    1: _migration_1, 2: _migration_2, 3: _migration_3, 4: _migration_4}


def schema_version(db: peewee.Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    with db.bind_ctx([SchemaVersion]):
        row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row or 0)


def init_schema(db: peewee.Database) -> tuple[int, int]:
    """Create or upgrade the schema; safe to run any number of times. Returns (before, after)."""
    with db.bind_ctx([SchemaVersion, *ALL_MODELS]):
        db.create_tables([SchemaVersion], safe=True)
        before = schema_version(db)
        if before > SCHEMA_VERSION:
            raise DatabaseURLError(
                f"the database schema is version {before}, newer than this esl_app ({SCHEMA_VERSION}); upgrade esl_app")
        for version in range(before + 1, SCHEMA_VERSION + 1):
            with db.atomic():
                MIGRATIONS[version](db)
                SchemaVersion.create(version=version)
    return before, SCHEMA_VERSION


def reset_sequences(db: peewee.Database) -> None:
    """After bulk inserts with explicit ids, move PostgreSQL sequences past the highest id."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for model in ALL_MODELS:
        table = model._meta.table_name
        db.execute_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
