"""Caller lookups: a registry of name -> handler, the built-in lookups, and the runner that
gives every lookup its deadline.

A lookup is plain synchronous Python (it may block on the database): the runner executes it in a
worker thread and waits cooperatively under ``gevent.Timeout``, so a dead, slow or locked database
costs the call at most the deadline and never blocks other calls. Handlers never talk to the
switch; they return variables (and, for the blacklist, apps to execute) and the session applies
them. A site adds its own lookup without touching the server::

    from esl_app.lookups import lookup

    @lookup("outage", defaults={"hotline_outage": "false"})
    def outage(ctx):
        area = ctx.get("hotline_customer_area") or ""
        return {"hotline_outage": "true" if area in CURRENT_OUTAGES else "false"}

and lists the module under ``lookups.modules`` in hotline.yaml.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import re
import select
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import gevent
import peewee
from gevent.threadpool import ThreadPool

from .config import Config
from .db import DB_ERRORS
from .logs import event
from .models import BlacklistHit, Customer, PinFailure, SurveyScore, database_proxy, utcnow
from .pgreads import BatchForm, CooperativeReader
from .phone import normalise_key
from .pins import verify_pin as _verify_pin_hash
from .stats import LookupStats

log = logging.getLogger("esl_app.lookups")

TRUE, FALSE = "true", "false"


@dataclass(slots=True)
class CallInfo:
    """What the switch told us about the call (the connect reply's channel data). Treated as
    read-only; not a frozen dataclass because one is built per call and those cost more."""

    uuid: str
    caller: str  # as received
    caller_key: str  # normalised (esl_app.phone)
    destination: str
    did: str
    flow: str
    node: str
    channel: Mapping[str, str]
    requested: tuple[str, ...] = ()  # the lookups the flow asked for (hotline_lookup)
    # What one lookup read that another of the same call needs (see customer_lookup).
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_channel_data(cls, data: Mapping[str, str], default_area_code: str = "") -> CallInfo:
        get = data.get
        caller = get("Caller-Caller-ID-Number") or get("variable_caller_id_number") or ""
        raw = get("variable_hotline_lookup") or ""
        return cls(
            uuid=get("Unique-ID") or get("variable_uuid") or "",
            caller=caller,
            caller_key=normalise_key(caller, default_area_code),
            destination=get("Caller-Destination-Number", ""),
            did=get("variable_hotline_did", ""),
            flow=get("variable_hotline_flow", ""),
            node=get("variable_hotline_node", ""),
            channel=data,
            requested=tuple([name for name in map(str.strip, raw.split(",")) if name]),
        )

    def var(self, name: str) -> str | None:
        return self.channel.get("variable_" + name)


@dataclass
class LookupContext:
    """Handed to a lookup: the call, the config, and the variables earlier lookups set."""

    call: CallInfo
    config: Config
    variables: Mapping[str, str]

    def get(self, name: str) -> str | None:
        """A variable set earlier in this session, else the channel variable of that name."""
        if name in self.variables:
            return self.variables[name]
        return self.call.var(name)


@dataclass
class LookupResult:
    variables: dict[str, str] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)  # (app, arg) run after the variables
    # Database writes to make after the lookup (in a worker thread), e.g. logging a blacklist hit.
    writes: list[Callable[[], None]] = field(default_factory=list)


LookupHandler = Callable[[LookupContext], "Mapping[str, str] | LookupResult"]


@dataclass(frozen=True)
class LookupSpec:
    name: str
    handler: LookupHandler
    defaults: Mapping[str, str]  # set when the lookup fails, so the flow's default routing applies
    # Only reads the database through ``query_rows`` and does nothing slow: on SQLite it may run on
    # the event loop itself (no thread hand-off), its deadline enforced inside SQLite.
    inline: bool = False


class LookupRegistry:
    """name -> handler. Sites register their own lookups here (see module docstring)."""

    def __init__(self) -> None:
        self._specs: dict[str, LookupSpec] = {}

    def register(self, name: str, handler: LookupHandler | None = None, *,
                 defaults: Mapping[str, str] | None = None, inline: bool = False) -> Any:
        """Register ``handler`` under ``name``; without a handler, return a decorator.

        ``inline=True`` promises the handler only reads through :func:`query_rows` (see
        :class:`LookupSpec`); anything else (writes, HTTP, CPU work) must leave it False.
        """
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"lookup name {name!r} must match [a-z][a-z0-9_]*")

        def add(fn: LookupHandler) -> LookupHandler:
            self._specs[name] = LookupSpec(name, fn, dict(defaults or {}), inline)
            return fn

        return add(handler) if handler is not None else add

    def get(self, name: str) -> LookupSpec | None:
        return self._specs.get(name)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def copy(self) -> LookupRegistry:
        clone = LookupRegistry()
        clone._specs = dict(self._specs)
        return clone


registry = LookupRegistry()


def lookup(name: str, *, defaults: Mapping[str, str] | None = None,
           inline: bool = False) -> Callable[[LookupHandler], LookupHandler]:
    """Decorator registering a lookup in the default registry."""
    return registry.register(name, defaults=defaults, inline=inline)


def load_site_modules(modules: list[str]) -> None:
    """Import the site's lookup modules (``lookups.modules``); importing registers them."""
    for module in modules:
        importlib.import_module(module)


# --- built-in lookups -------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n]+")


def _clean(value: Any) -> str:
    """A value safe for one sendmsg header line and inert on the switch.

    FreeSWITCH's ``set``/``multiset`` expand the value: ``${name}`` reads a variable and
    ``${api(args)}`` runs an API command, so a name imported from a billing system must not carry
    ``${``; its ``$`` becomes the full-width ``＄`` (the text still reads the same on screens).
    """
    text = "" if value is None else str(value)
    if "\r" in text or "\n" in text:
        text = _LINE_BREAKS.sub(" ", text)
    if "${" in text:
        text = text.replace("${", "＄{")
    return text.strip()


def _clean_all(variables: Mapping[str, Any]) -> dict[str, str]:
    """:func:`_clean` on every value, with one check of all of them first: most need nothing.

    Joined by "|", the values are all printable (so no line break, and no whitespace but the plain
    space) and no value starts or ends with a space exactly when no space touches a "|" or either
    end; a "|" inside a value, or a "$" and "{" meeting at one, only sends them the long way."""
    try:
        joined = "|".join(variables.values())
    except TypeError:  # not all text
        return {name: _clean(value) for name, value in variables.items()}
    if "${" not in joined:
        if (joined.isprintable() and "| " not in joined and " |" not in joined
                and joined[:1] != " " and joined[-1:] != " "):
            return dict(variables)
        if "\n" not in joined and "\r" not in joined:
            return {name: value.strip() for name, value in variables.items()}
    return {name: _clean(value) for name, value in variables.items()}


_SQL_CACHE: dict[tuple[str, str], str] = {}


# Set while a lookup runs on the event loop: where query_rows sends its SQL for this greenlet.
_inline_reader: ContextVar[Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]] | None] = ContextVar(
    "hotline_inline_reader", default=None)


def query_rows(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run a read query (``?`` placeholders) on the lookup database and return all rows.

    The hot lookups use fixed SQL: building a peewee query per call cost more than the query
    itself. Inline lookups must read only through this function.
    """
    reader = _inline_reader.get()
    if reader is not None:
        return reader(sql, params)
    database = database_proxy.obj
    key = (sql, database.param)
    text = _SQL_CACHE.get(key)
    if text is None:
        text = _SQL_CACHE[key] = sql.replace("?", database.param)
    return database.execute_sql(text, params).fetchall()


def _by_number(columns: str, *, overdue: bool = False) -> tuple[str, BatchForm]:
    """A read of the customer who has a number (the lowest id when several share it), and the
    same read for many numbers at once, for PostgreSQL (pgreads.BatchForm): DISTINCT ON keeps the
    lowest id per number as ORDER BY ... LIMIT 1 does. ``overdue`` adds the sum and the oldest due
    date of the customer's overdue bills (parameters: today twice, then the number).

    SQLite has no LATERAL, so its read scans the overdue bills twice, once per subquery;
    PostgreSQL's batch scans them once per customer, which cost a tenth less of its CPU per batch
    on the 1M-customer bench (and takes today once)."""
    tables = "FROM phone p JOIN customer c ON c.id = p.customer_id"
    batch_columns, batch_tables = columns, tables
    skip: tuple[int, ...] = ()
    if overdue:
        bills = "FROM bill b WHERE b.customer_id = c.id AND b.amount_due > 0 AND b.due_date < ?"
        columns = f"{columns}, (SELECT SUM(b.amount_due) {bills}), (SELECT MIN(b.due_date) {bills})"
        batch_columns = f"{batch_columns}, o.owed, o.oldest"
        batch_tables = (f"{tables} LEFT JOIN LATERAL "
                        f"(SELECT SUM(b.amount_due) AS owed, MIN(b.due_date) AS oldest {bills}) o ON true")
        skip = (1,)
    single = f"SELECT {columns} {tables} WHERE p.number = ? ORDER BY p.customer_id LIMIT 1"
    batch = (f"SELECT DISTINCT ON (p.number) p.number, {batch_columns} {batch_tables} WHERE p.number = ANY(?) "
             "ORDER BY p.number, p.customer_id")
    return single, BatchForm(batch, key=columns.count("?"), skip=skip)


_CUSTOMER_COLUMNS = "c.id, c.name, c.account, c.tier, c.language, c.designated_agent"
_CUSTOMER_BY_PHONE, _CUSTOMER_BY_PHONE_BATCH = _by_number(_CUSTOMER_COLUMNS)
_CUSTOMER_WITH_OVERDUE, _CUSTOMER_WITH_OVERDUE_BATCH = _by_number(_CUSTOMER_COLUMNS, overdue=True)
_PG_BATCHES = {_CUSTOMER_BY_PHONE: _CUSTOMER_BY_PHONE_BATCH, _CUSTOMER_WITH_OVERDUE: _CUSTOMER_WITH_OVERDUE_BATCH}
_CUSTOMER_ID_BY_PHONE = "SELECT customer_id FROM phone WHERE number = ? ORDER BY customer_id LIMIT 1"
_OVERDUE = ("SELECT SUM(amount_due), MIN(due_date) FROM bill "
            "WHERE customer_id = ? AND amount_due > 0 AND due_date < ?")


_today: tuple[float, dt.date, str] = (0.0, dt.date.min, "")


def today() -> tuple[dt.date, str]:
    """Today's date and its ISO text. Read from the clock at most once a minute and again at
    midnight, not on every call (two lookups per call each asked for it)."""
    global _today
    until, date, text = _today
    now = time.time()
    if now >= until:
        date = dt.date.today()
        midnight = dt.datetime.combine(date + dt.timedelta(days=1), dt.time()).timestamp()
        text = date.isoformat()
        _today = (min(midnight, now + 60.0), date, text)
    return date, text


def find_customer_id(ctx: LookupContext) -> int | None:
    """The caller's customer id: the one an earlier lookup set, else found by caller ID."""
    known_id = ctx.get("hotline_customer_id")
    if known_id and known_id.isdigit():
        return int(known_id)
    if "customer" in ctx.call.memo:  # the customer lookup of this call found nobody by this number
        return None
    if not ctx.call.caller_key:
        return None
    rows = query_rows(_CUSTOMER_ID_BY_PHONE, (ctx.call.caller_key,))
    return int(rows[0][0]) if rows else None


def find_customer(ctx: LookupContext) -> Customer | None:
    """The caller's customer as a model (for lookups that are not on every call's path)."""
    customer_id = find_customer_id(ctx)
    return Customer.get_or_none(Customer.id == customer_id) if customer_id is not None else None


@lookup("customer", defaults={"hotline_customer_known": FALSE, "hotline_customer_tier": "normal",
                              "cc_base_score": "0"}, inline=True)
def customer_lookup(ctx: LookupContext) -> dict[str, str]:
    """When the call also asks for arrears (most do), the overdue bills come in the same query:
    one database round trip per call instead of two (it counts on PostgreSQL)."""
    rows: list[tuple[Any, ...]] = []
    if ctx.call.caller_key:
        if "arrears" in ctx.call.requested:
            day = today()[1]
            rows = query_rows(_CUSTOMER_WITH_OVERDUE, (day, day, ctx.call.caller_key))
            if rows:
                ctx.call.memo["overdue"] = (rows[0][0], day, rows[0][6], rows[0][7])
        else:
            rows = query_rows(_CUSTOMER_BY_PHONE, (ctx.call.caller_key,))
        ctx.call.memo["customer"] = rows[0][0] if rows else None
    if not rows:
        return {"hotline_customer_known": FALSE, "hotline_customer_id": "", "hotline_customer_name": "",
                "hotline_customer_tier": "normal", "hotline_account": "", "hotline_designated_agent": "",
                "cc_base_score": str(ctx.config.tier_scores.get("normal", 0))}
    customer_id, name, account, tier, language, agent = rows[0][:6]
    tier = tier if tier in ctx.config.tier_scores else "normal"
    # name, account and agent come from an import: the runner makes them safe (_clean_all)
    return {
        "hotline_customer_known": TRUE,
        "hotline_customer_id": str(customer_id),
        "hotline_customer_name": name,
        "hotline_customer_tier": tier,
        "hotline_account": account,
        "hotline_language": language if language in ("zh", "en") else "zh",
        "hotline_designated_agent": agent,
        "cc_base_score": str(ctx.config.tier_scores[tier]),
    }


def format_amount(amount: Decimal | float | None) -> str:
    """``128.50`` for money owed, ``0`` for nothing (the contract's wording)."""
    if not amount:
        return "0"
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    return "0" if value <= 0 else f"{value:.2f}"


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


@lookup("arrears", defaults={"hotline_arrears": FALSE}, inline=True)
def arrears_lookup(ctx: LookupContext) -> dict[str, str]:
    customer_id = find_customer_id(ctx)
    none = {"hotline_arrears": FALSE, "hotline_arrears_amount": "0", "hotline_arrears_days": "0"}
    if customer_id is None:
        return none
    date, day = today()
    memo = ctx.call.memo.get("overdue")
    if memo is not None and memo[0] == customer_id and memo[1] == day:
        owed, oldest = memo[2], memo[3]
    else:
        rows = query_rows(_OVERDUE, (customer_id, day))
        owed, oldest = rows[0] if rows else (None, None)
    amount = format_amount(owed)
    if amount == "0":
        return none
    oldest_date = _as_date(oldest)
    days = (date - oldest_date).days if oldest_date else 0
    return {"hotline_arrears": TRUE, "hotline_arrears_amount": amount, "hotline_arrears_days": str(days)}


@dataclass(frozen=True)
class BlacklistMatch:
    id: int
    pattern: str
    is_prefix: bool
    reason: str


def find_blacklist_entry(key: str, now: dt.datetime | None = None) -> BlacklistMatch | None:
    """The entry matching ``key`` exactly, else the longest matching prefix entry, if in force."""
    if not key:
        return None
    now = now or utcnow()
    prefixes = [key[:i] for i in range(1, len(key) + 1)]
    marks = ",".join("?" * len(prefixes))
    rows = query_rows(
        "SELECT id, pattern, is_prefix, reason FROM blacklist_entry WHERE "
        f"((pattern = ? AND is_prefix = ?) OR (pattern IN ({marks}) AND is_prefix = ?)) "
        "AND (until IS NULL OR until > ?)",
        (key, False, *prefixes, True, now.isoformat(sep=" ")))
    matches = [BlacklistMatch(int(r[0]), r[1], bool(r[2]), r[3] or "") for r in rows]
    return max(matches, key=lambda m: (not m.is_prefix, len(m.pattern)), default=None)


@lookup("blacklist", defaults={"hotline_blacklisted": FALSE}, inline=True)
def blacklist_lookup(ctx: LookupContext) -> LookupResult:
    entry = find_blacklist_entry(ctx.call.caller_key)
    if entry is None:
        return LookupResult({"hotline_blacklisted": FALSE})
    event(log, logging.WARNING, "blacklisted caller rejected", caller=ctx.call.caller_key, uuid=ctx.call.uuid,
          entry=entry.id, prefix=entry.is_prefix, reason=entry.reason, action=ctx.config.blacklist_action)
    actions: list[tuple[str, str]] = []
    if ctx.config.blacklist_action == "notice" and ctx.config.blacklist_notice:
        actions.append(("playback", ctx.config.blacklist_notice))
    actions.append(("hangup", "CALL_REJECTED"))

    def record_hit() -> None:
        BlacklistHit.create(entry=entry.id, caller=ctx.call.caller_key, call_uuid=ctx.call.uuid)

    return LookupResult({"hotline_blacklisted": TRUE}, actions, [record_hit])


@lookup("verify_pin", defaults={"hotline_pin_ok": FALSE, "hotline_pin_locked": FALSE})
def verify_pin_lookup(ctx: LookupContext) -> dict[str, str]:
    pin = (ctx.get("hotline_pin") or "").strip()
    customer = find_customer(ctx)
    if customer is None or not customer.pin_hash:
        return {"hotline_pin_ok": FALSE, "hotline_pin_locked": FALSE}
    window_start = utcnow() - dt.timedelta(minutes=ctx.config.pin_window_minutes)
    limit = ctx.config.pin_max_failures
    recent = (PinFailure.select()
              .where((PinFailure.customer == customer.id) & (PinFailure.at >= window_start))
              .count())
    if recent >= limit:
        event(log, logging.WARNING, "PIN locked", customer=customer.id, failures=recent, uuid=ctx.call.uuid)
        return {"hotline_pin_ok": FALSE, "hotline_pin_locked": TRUE}
    if pin.isdigit() and _verify_pin_hash(pin, customer.pin_hash):
        PinFailure.delete().where(PinFailure.customer == customer.id).execute()
        return {"hotline_pin_ok": TRUE, "hotline_pin_locked": FALSE}
    PinFailure.create(customer=customer.id, caller=ctx.call.caller_key, call_uuid=ctx.call.uuid)
    locked = recent + 1 >= limit
    event(log, logging.INFO, "PIN rejected", customer=customer.id, failures=recent + 1, locked=locked,
          uuid=ctx.call.uuid)
    return {"hotline_pin_ok": FALSE, "hotline_pin_locked": TRUE if locked else FALSE}


@lookup("survey", defaults={"hotline_survey_saved": FALSE})
def survey_lookup(ctx: LookupContext) -> dict[str, str]:
    raw = (ctx.get("hotline_survey_score") or "").strip()
    if not (raw.isdigit() and 1 <= int(raw) <= 5):
        return {"hotline_survey_saved": FALSE}
    customer_id = ctx.get("hotline_customer_id")
    SurveyScore.create(
        call_uuid=ctx.call.uuid, caller=ctx.call.caller_key, flow=ctx.call.flow, score=int(raw),
        customer=int(customer_id) if customer_id and customer_id.isdigit() else None,
    )
    return {"hotline_survey_saved": TRUE}


# --- running lookups under a deadline ---------------------------------------------------------

@dataclass
class LookupOutcome:
    variables: dict[str, str] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (lookup, why)

    @property
    def status(self) -> str:
        return "failed" if self.failures else "ok"


class _Batch:
    """A call's lookups handed to one worker thread, run in order.

    One hand-off per call instead of one per lookup: on this class of machine waking the event
    loop from a thread costs about as much as the lookups themselves. The worker publishes each
    lookup's start time and result here; the waiting greenlet enforces every lookup's own deadline
    and, when one overruns, abandons the batch and hands the rest to a fresh worker.
    """

    __slots__ = ("abandoned", "deadline", "results", "started")

    def __init__(self, deadline: float) -> None:
        self.abandoned = False
        self.deadline = deadline
        self.started: dict[int, float] = {}
        self.results: dict[int, LookupResult | BaseException] = {}


class _InlineReads:
    """Where query_rows sends a call's reads while its inline lookups run (one per call, so a
    PostgreSQL lookup that waits for its rows keeps its own deadline while other calls run)."""

    __slots__ = ("give_up_at", "rows")

    def __init__(self, rows: Callable[[str, tuple[Any, ...], float], list[tuple[Any, ...]]]) -> None:
        self.rows = rows
        self.give_up_at = 0.0  # the running lookup's deadline (time.monotonic)

    def __call__(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self.rows(sql, params, self.give_up_at)


# As much of the database file as SQLite may map (it caps this at its compile-time maximum,
# 2 GB by default); the mapping shares the OS page cache, it does not copy the file.
_SQLITE_MMAP_BYTES = 1 << 31


class LookupRunner:
    """Runs named lookups for a call, each under the configured deadline, in worker threads."""

    def __init__(self, config: Config, database: peewee.Database, lookups: LookupRegistry | None = None,
                 threads: int | None = None):
        self.config = config
        self.database = database
        self.registry = lookups or registry
        self.pool = ThreadPool(threads or config.db_threads)
        # SQLite answers an indexed read in tens of microseconds, less than waking the event loop
        # from a worker thread costs; reads run on the loop over a read-only connection that
        # never waits for a lock, their deadline enforced by SQLite's progress handler. The file
        # is memory-mapped: pages come straight from the OS page cache instead of one pread()
        # system call and copy each (a 1M-customer lookup touched ~4 pages its 2 MB page cache
        # did not hold). Still read live: SQLite checks the WAL on every read transaction.
        # PostgreSQL reads go over asynchronous connections the greenlet waits on itself.
        self.inline_database: peewee.Database | None = None
        self.pg_reader: CooperativeReader | None = None
        self._guarded: Any = None  # the inline SQLite connection that has the progress handler
        self._give_up_at = 0.0  # the deadline of the inline SQLite read running now (time.monotonic)
        if isinstance(database, peewee.SqliteDatabase) and database.database != ":memory:":
            self.inline_database = peewee.SqliteDatabase(
                database.database, pragmas={"query_only": 1, "foreign_keys": 1, "mmap_size": _SQLITE_MMAP_BYTES}, timeout=0)
        elif isinstance(database, peewee.PostgresqlDatabase):
            self.pg_reader = CooperativeReader(database.database, dict(database.connect_params),
                                               size=max(4, config.db_threads * 2), batches=_PG_BATCHES,
                                               batch_timeout=config.lookup_deadline_ms / 1000.0)
        # For the summary line (esl_app.stats); the server adds each call.
        reader = self.pg_reader
        self.stats = LookupStats(round_trips=(lambda: reader.round_trips) if reader is not None else None)

    @property
    def inline(self) -> bool:
        return self.inline_database is not None or self.pg_reader is not None

    def close(self) -> None:
        self.pool.kill()
        if self.inline_database is not None:
            self.inline_database.close()
        if self.pg_reader is not None:
            self.pg_reader.close()

    def _sqlite_rows(self, sql: str, params: tuple[Any, ...], give_up_at: float) -> list[tuple[Any, ...]]:
        """An inline SQLite read, stopped by SQLite itself once ``give_up_at`` has passed. The
        progress handler stays on the connection and reads the deadline from ``_give_up_at``
        (no greenlet runs in between: SQLite reads never yield), so a read sets up nothing."""
        connection = self._guarded
        if connection is None:  # the first read: open the connection and give it the handler
            assert self.inline_database is not None
            connection = self._guarded = self.inline_database.connection()
            connection.set_progress_handler(self._past_deadline, 5000)
        self._give_up_at = give_up_at
        return connection.execute(sql, params).fetchall()

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._give_up_at else 0

    def _pg_rows(self, sql: str, params: tuple[Any, ...], give_up_at: float) -> list[tuple[Any, ...]]:
        """An inline PostgreSQL read: a cooperative wait, cut at ``give_up_at``."""
        assert self.pg_reader is not None
        with gevent.Timeout(max(0.0, give_up_at - time.monotonic())):
            return self.pg_reader.rows(sql, params)

    def _drop_stale_connection(self) -> None:
        """In a worker thread: forget this thread's PostgreSQL connection if the server closed it.

        Worker connections sit idle between the lookups that need them (PIN checks, surveys,
        blacklist logging); after a server restart the first use of each would fail the call's
        lookup. An idle connection has nothing to read unless the server hung up (or sent a
        notice), so a zero-timeout select finds the dead ones and peewee reconnects on next use.
        """
        database = self.database
        if not isinstance(database, peewee.PostgresqlDatabase) or database.is_closed():
            return
        try:
            if database.in_transaction():
                return
            connection = database.connection()
            if not select.select([connection.fileno()], [], [], 0)[0]:
                return
        except Exception:  # an unusable connection is closed below either way
            log.debug("checking a pooled connection failed", exc_info=True)
        try:
            database.close()
        except Exception:
            log.debug("closing a stale connection failed", exc_info=True)

    def _write(self, writes: list[Callable[[], None]]) -> BaseException | None:
        self._drop_stale_connection()
        for write in writes:
            try:
                write()
            except Exception as exc:  # noqa: BLE001 - logged by the caller; the call goes on
                return exc
        return None

    def _invoke(self, spec: LookupSpec, ctx: LookupContext) -> LookupResult | BaseException:
        """One lookup, in a worker thread. Failures come back as values: gevent would print an
        exception raised in a worker as an unstructured traceback."""
        try:
            result = spec.handler(ctx)
        except DB_ERRORS as exc:
            # The thread's connection may be dead (server restarted); reconnect next time.
            try:
                if not self.database.in_transaction():
                    self.database.close()
            except Exception:
                log.debug("closing a failed connection failed too", exc_info=True)
            return exc
        except Exception as exc:  # noqa: BLE001 - reported by run() with the lookup's name
            return exc
        # Values are made safe once, here; everything downstream passes them on as they are.
        if isinstance(result, LookupResult):
            result.variables = _clean_all(result.variables)
            return result
        return LookupResult(_clean_all(result or {}))

    def _invoke_batch(self, batch: _Batch, items: list[tuple[int, LookupSpec]], call: CallInfo,
                      variables: dict[str, str]) -> None:
        self._drop_stale_connection()
        variables = dict(variables)
        for index, spec in items:
            if batch.abandoned:
                return
            started = batch.started[index] = time.monotonic()
            result = self._invoke(spec, LookupContext(call, self.config, dict(variables)))
            if time.monotonic() - started > batch.deadline:
                result = TimeoutError("finished after its deadline")
            batch.results[index] = result
            if isinstance(result, LookupResult):
                variables.update(result.variables)
            else:
                variables.update(spec.defaults)

    def run(self, names: Sequence[str], call: CallInfo, deadline_ms: int | None = None) -> LookupOutcome:
        deadline = (deadline_ms or self.config.lookup_deadline_ms) / 1000.0
        if self.inline:
            specs = [self.registry.get(name) for name in names]
            if all(spec is not None and spec.inline for spec in specs):
                return self._run_on_loop(specs, call, deadline)  # type: ignore[arg-type]
        outcome = LookupOutcome()
        items: list[tuple[int, LookupSpec]] = []
        results: dict[int, LookupResult | BaseException] = {}
        pending: list[tuple[int, LookupSpec]] = []
        for index, name in enumerate(names):
            spec = self.registry.get(name)
            if spec is None:
                event(log, logging.ERROR, "unknown lookup requested", lookup=name, uuid=call.uuid, flow=call.flow,
                      known=",".join(self.registry.names()))
                spec = LookupSpec(name, _unknown, {})
                results[index] = LookupError("unknown lookup")
            else:
                pending.append((index, spec))
            items.append((index, spec))
        while pending:
            batch = _Batch(deadline)
            known = dict(outcome.variables)
            for i in sorted(results):
                result = results[i]
                known.update(result.variables if isinstance(result, LookupResult) else items[i][1].defaults)
            submitted = time.monotonic()
            task = self.pool.spawn(self._invoke_batch, batch, pending, call, known)
            while True:
                running = next((i for i, _spec in pending if i not in batch.results), None)
                if running is None:
                    break
                start = batch.started.get(running, submitted if running == pending[0][0] else time.monotonic())
                try:
                    task.get(timeout=max(0.0, start + deadline - time.monotonic()) + 0.001)
                    break
                except gevent.Timeout:
                    running_now = next((i for i, _spec in pending if i not in batch.results), None)
                    if running_now != running:
                        continue  # progress: the next lookup has its own deadline
                    began = batch.started.get(running, submitted)
                    if time.monotonic() - began < deadline:
                        continue
                    batch.abandoned = True
                    results[running] = _overrun(deadline)
                    break
            results.update({i: r for i, r in batch.results.items() if i not in results})
            pending = [(i, spec) for i, spec in pending if i not in results]
        for index, spec in items:
            found = results.get(index)
            self._take(outcome, spec, TimeoutError("not run") if found is None else found, call, deadline)
        return outcome

    def _run_on_loop(self, specs: list[LookupSpec], call: CallInfo, deadline: float) -> LookupOutcome:
        """Every lookup of the call is inline (the usual case): run them here, one after another.

        Each lookup's reads (``reads``, where query_rows sends them meanwhile) are bounded by its
        deadline: SQLite stops the query itself, PostgreSQL's wait is cut by gevent.Timeout. The
        deadline is only armed around a read, the one place an inline lookup can wait."""
        outcome = LookupOutcome()
        known: dict[str, str] = {}
        reads = _InlineReads(self._sqlite_rows if self.inline_database is not None else self._pg_rows)
        token = _inline_reader.set(reads)
        results: list[LookupResult | BaseException] = []
        try:
            for spec in specs:
                reads.give_up_at = time.monotonic() + deadline
                try:
                    result = self._invoke(spec, LookupContext(call, self.config, dict(known)))
                except gevent.Timeout:
                    result = _overrun(deadline)
                if isinstance(result, LookupResult):
                    known.update(result.variables)
                else:
                    if isinstance(result, (sqlite3.OperationalError, peewee.OperationalError)) \
                            and "interrupted" in str(result):
                        result = _overrun(deadline)
                    known.update(spec.defaults)
                results.append(result)
        finally:
            _inline_reader.reset(token)
        for spec, result in zip(specs, results):
            self._take(outcome, spec, result, call, deadline)
        return outcome

    def _take(self, outcome: LookupOutcome, spec: LookupSpec, result: LookupResult | BaseException,
              call: CallInfo, deadline: float) -> None:
        """Add one lookup's result to the call's outcome: its variables, apps and writes, or its
        defaults and the failure (logged)."""
        if isinstance(result, LookupResult):
            outcome.variables.update(result.variables)
            if result.actions:
                outcome.actions.extend(result.actions)
            if result.writes:
                try:
                    with gevent.Timeout(deadline):
                        failed = self.pool.spawn(self._write, result.writes).get()
                except gevent.Timeout:
                    failed = TimeoutError("write did not finish within the deadline")
                if failed is not None:
                    event(log, logging.WARNING, "lookup write failed", lookup=spec.name, uuid=call.uuid,
                          error=f"{type(failed).__name__}: {failed}")
            return
        why = str(result) if isinstance(result, (LookupError, TimeoutError)) else f"{type(result).__name__}: {result}"
        outcome.failures.append((spec.name, why))
        outcome.variables.update(spec.defaults)
        if isinstance(result, TimeoutError):
            event(log, logging.ERROR, "lookup deadline exceeded", lookup=spec.name, uuid=call.uuid,
                  caller=call.caller_key, deadline_ms=int(deadline * 1000))
        elif not isinstance(result, LookupError):
            event(log, logging.ERROR, "lookup failed", lookup=spec.name, uuid=call.uuid,
                  caller=call.caller_key, error=why)


def _overrun(deadline: float) -> TimeoutError:
    return TimeoutError(f"deadline of {int(deadline * 1000)} ms exceeded")


def _unknown(ctx: LookupContext) -> LookupResult:
    raise LookupError("unknown lookup")
