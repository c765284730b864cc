"""The switch-side cache: routing facts kept in FreeSWITCH's mod_hash, so most calls need no hop.

A flow's ``lookup`` node with ``mode: cached`` (``customer``, ``arrears``, ``blacklist``) reads the
caller's facts inside the dialplan and falls back to the live esl_app hop when they are not there.
This module owns the format both sides agree on, computes the facts from the database, and loads
them into the switch over the inbound Event Socket. The database is the truth: the cache is only
ever rebuilt from it, never read back into it.

Key scheme (realm ``hotline``)
==============================
- key: the caller's canonical number as :func:`esl_app.phone.normalise` stores it (``13812345678``,
  ``75523456789`` for 0755-2345 6789). One key per number, so a million customers cost about as
  many keys, not one per variable.
- value: ``1;<customer id>;<tier>;<language>;<designated agent>;<cc_base_score>;<has arrears>``
  (``1`` is the format version; a dialplan compiled for another version never matches and falls
  back to the live hop).
- ``cache:filled`` holds ``<epoch>;<keys>`` once a full fill finished: a switch without it has lost
  its memory (restarted) and ``esl-app serve`` fills it again.

The compiled dialplan (fsgen/plan.py) looks the caller up with one condition
(:data:`DIALPLAN_FIELD`, matched against :data:`VALUE_EXPRESSION`)::

    ${hash(select/hotline/${regex(m:~${caller_id_number}~<CALLER_KEY_EXPRESSION>~%1)})}

The ``regex`` API turns the caller ID into the key: ``+86``, ``0086``, a leading ``86`` on 12+
digits and the trunk ``0`` are dropped, which gives exactly ``normalise()``'s key for mobiles and
landlines with area code (:func:`dialplan_key` mirrors it; the tests compare both on many shapes).
Other shapes (local numbers without area code, carrier prefixes, international callers) come out
unchanged, can never equal a cached key, and take the live hop, whose normalisation is complete.

What is cached, and what is not
-------------------------------
Only routing facts: known, customer id, tier, language, designated agent, cc_base_score and
whether the customer owes money. Names, account numbers, amounts and days overdue are live-only
(fresh or personal data; a flow that says the amount uses a live ``arrears`` lookup). A blacklisted
number is never cached (its key is deleted): the live hop rejects it and logs the attempt, so the
cached path always sets ``hotline_blacklisted=false``. A designated agent name that is not a plain
``[A-Za-z0-9_.-]`` name is not cached either (the live hop handles it).

Keeping it honest
-----------------
Every change made through esl_app (import, customer edit, payment, blacklist; :mod:`esl_app.changes`)
writes the affected numbers to the ``cache_outbox`` table in the same transaction and pushes them at
once; whatever could not be pushed (switch down) is pushed by ``esl-app serve`` when the switch is
back (:class:`CacheKeeper`). Facts that change with time alone (a bill falling due, a blacklist
entry expiring) are re-pushed by the keeper as the time passes.

Loading fast
------------
One ``api hash insert`` per key costs a command round of the switch's Event Socket each (about
13-15k keys/s on a real FreeSWITCH). Inserts are therefore packed into one ``api eval`` whose
argument expands ``${hash(insert/hotline/<key>/<value>)}`` for many keys (API expansion, the same
mechanism as the dialplan's ``${hash(select/...)}``), kept under :attr:`Config.cache_command_bytes`
per command (older mod_event_socket read commands into a 2 KB buffer), with many commands in
flight. Replacing a key is a delete plus insert inside mod_hash, so a refill never duplicates
entries; keys of numbers removed through esl_app are deleted as they are removed. Before stopping
FreeSWITCH, ``esl-app cache clear`` deletes the keys: mod_hash's shutdown is quadratic in the
number of keys it still holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import gevent
import peewee

from .config import Config
from .db import DB_ERRORS
from .logs import event
from .models import utcnow
from .switch import SwitchConnection, SwitchError, SwitchLink

log = logging.getLogger("esl_app.cache")

REALM = "hotline"
VALUE_VERSION = "1"
MARKER = "cache:filled"
#: caller_id_number -> key (capture 1); a PCRE both FreeSWITCH and Python's re accept
# (once +86/0086 matched there is no way back: "0086" + a short number is no key at all)
CALLER_KEY_EXPRESSION = r"^(?:\+86|0086|(?!0086)(?:86(?=\d{10,}$))?)0*([1-9]\d{8,10})$"
#: a cached value; the captures feed :data:`CACHED_VARIABLES`
VALUE_EXPRESSION = r"^1;(\d+);(platinum|gold|normal);(zh|en);([A-Za-z0-9_.-]*);(\d+);(true|false)$"
#: per cacheable lookup, the variables the dialplan sets from a value (``$n`` = capture n)
CACHED_VARIABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "customer": (
        ("hotline_customer_known", "true"), ("hotline_customer_id", "$1"), ("hotline_customer_tier", "$2"),
        ("hotline_language", "$3"), ("hotline_designated_agent", "$4"), ("cc_base_score", "$5"),
    ),
    "arrears": (("hotline_arrears", "$6"),),
    "blacklist": (("hotline_blacklisted", "false"),),
}

#: the dialplan condition's field: the cached value for this caller ('' when there is none)
DIALPLAN_FIELD = f"${{hash(select/{REALM}/${{regex(m:~${{caller_id_number}}~{CALLER_KEY_EXPRESSION}~%1)}})}}"

_CALLER_KEY = re.compile(CALLER_KEY_EXPRESSION)
_VALUE = re.compile(VALUE_EXPRESSION)
_KEY = re.compile(r"[1-9]\d{8,10}")
_SAFE_AGENT = re.compile(r"[A-Za-z0-9_.-]*")


class CacheError(Exception):
    """The switch refused cache commands (not a connection problem: see SwitchError)."""


# --- the format ------------------------------------------------------------------------------

def dialplan_key(caller_id: str) -> str:
    """The key the compiled dialplan looks up for this caller ID (the ``regex`` API's answer)."""
    m = _CALLER_KEY.search(caller_id)
    return m.group(1) if m else caller_id


def cacheable_key(number: str) -> bool:
    """A canonical number the dialplan can reach (the key regex maps it onto itself)."""
    return _KEY.fullmatch(number) is not None


@dataclass(frozen=True)
class Facts:
    """A caller's routing facts, as the live customer/arrears lookups would find them."""

    customer_id: int
    tier: str
    language: str
    agent: str
    arrears: bool


def encode(facts: Facts, tier_scores: dict[str, int]) -> str | None:
    """The cached value, or None when these facts cannot be cached (the live hop handles them).

    Normalised exactly like :func:`esl_app.lookups.customer_lookup` does for live calls.
    """
    tier = facts.tier if facts.tier in tier_scores else "normal"
    language = facts.language if facts.language in ("zh", "en") else "zh"
    agent = (facts.agent or "").strip()
    if "\n" in agent or "\r" in agent:
        agent = re.sub(r"[\r\n]+", " ", agent)
    if tier not in ("platinum", "gold", "normal") or not _SAFE_AGENT.fullmatch(agent):
        return None
    arrears = "true" if facts.arrears else "false"
    return f"{VALUE_VERSION};{facts.customer_id};{tier};{language};{agent};{tier_scores[tier]};{arrears}"


def decode(value: str, lookups: Iterable[str] = tuple(CACHED_VARIABLES)) -> dict[str, str] | None:
    """The variables the compiled dialplan sets from ``value`` for ``lookups`` (None: no match)."""
    m = _VALUE.match(value)
    if m is None:
        return None
    out: dict[str, str] = {}
    for name in lookups:
        for var, template in CACHED_VARIABLES[name]:
            out[var] = m.group(int(template[1:])) if template.startswith("$") else template
    return out


# --- facts from the database -------------------------------------------------------------------

# A fill reads customers in id order (sequential in both tables, whatever the numbers look like);
# numbers several customers share are settled from the (number, customer_id) index beforehand.
_PAGE = ("SELECT p.number, c.id, c.tier, c.language, c.designated_agent FROM customer c "
         "JOIN phone p ON p.customer_id = c.id WHERE c.id > ? ORDER BY c.id LIMIT ?")
_ONE = ("SELECT p.number, c.id, c.tier, c.language, c.designated_agent FROM customer c "
        "JOIN phone p ON p.customer_id = c.id WHERE c.id = ?")
_SHARED = "SELECT number, MIN(customer_id) FROM phone GROUP BY number HAVING COUNT(*) > 1"
_BY_NUMBER = ("SELECT p.number, c.id, c.tier, c.language, c.designated_agent FROM phone p "
              "JOIN customer c ON c.id = p.customer_id WHERE p.number IN ({marks}) ORDER BY p.number, c.id")
_OVERDUE = "SELECT DISTINCT customer_id FROM bill WHERE amount_due > 0 AND due_date < ?"
_OVERDUE_FOR = ("SELECT DISTINCT customer_id FROM bill WHERE amount_due > 0 AND due_date < ? "
                "AND customer_id IN ({marks})")
_BLACKLIST = "SELECT pattern, is_prefix FROM blacklist_entry WHERE until IS NULL OR until > ?"


def _rows(database: peewee.Database, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return database.execute_sql(sql.replace("?", database.param), params).fetchall()


def _in(database: peewee.Database, sql: str, head: tuple[Any, ...], items: list[Any],
        chunk: int = 500) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        out += _rows(database, sql.format(marks=",".join("?" * len(part))), (*head, *part))
    return out


class Blacklist:
    """The entries in force, in memory, matched like :func:`esl_app.lookups.find_blacklist_entry`."""

    def __init__(self, exact: set[str], prefixes: set[str]):
        self.exact = exact
        self.prefixes = prefixes
        self._lengths = sorted({len(p) for p in prefixes})

    @classmethod
    def load(cls, database: peewee.Database, now: dt.datetime | None = None) -> Blacklist:
        exact: set[str] = set()
        prefixes: set[str] = set()
        for pattern, is_prefix in _rows(database, _BLACKLIST, ((now or utcnow()).isoformat(sep=" "),)):
            (prefixes if is_prefix else exact).add(pattern)
        return cls(exact, prefixes)

    def listed(self, key: str) -> bool:
        if key in self.exact:
            return True
        return any(key[:n] in self.prefixes for n in self._lengths if n <= len(key))


Entry = tuple[str, "str | None"]  # (key, value); None deletes the key


def _first_customers(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows sorted by number -> one row per number, the lowest customer id's (as the live lookup)."""
    best: tuple[Any, ...] | None = None
    for row in rows:
        if best is not None and row[0] == best[0]:
            if int(row[1]) < int(best[1]):
                best = row
            continue
        if best is not None:
            yield best
        best = row
    if best is not None:
        yield best


def _entries(rows: Iterable[tuple[Any, ...]], overdue: set[int], blacklist: Blacklist,
             tier_scores: dict[str, int], owners: dict[str, int] | None = None) -> list[Entry]:
    """One entry per number. ``rows`` are sorted by number, or ``owners`` names the customer
    (lowest id, as in the live lookup) of every number several customers share."""
    out: list[Entry] = []
    for number, customer_id, tier, language, agent in (rows if owners is not None else _first_customers(rows)):
        if not cacheable_key(number):
            continue
        if owners is not None and owners.get(number, customer_id) != customer_id:
            continue
        if blacklist.listed(number):
            out.append((number, None))
            continue
        out.append((number, encode(Facts(int(customer_id), tier, language, agent or "", int(customer_id) in overdue),
                                   tier_scores)))
    return out


def entries_for_numbers(database: peewee.Database, config: Config, numbers: Iterable[str],
                        today: dt.date | None = None) -> list[Entry]:
    """Current entries for these canonical numbers (a deletion for those no customer has)."""
    wanted = sorted({n for n in numbers if cacheable_key(n)})
    if not wanted:
        return []
    rows = _in(database, _BY_NUMBER, (), wanted)
    ids = sorted({int(r[1]) for r in rows})
    when = (today or dt.date.today()).isoformat()
    overdue = {int(r[0]) for r in _in(database, _OVERDUE_FOR, (when,), ids)} if ids else set()
    entries = dict(_entries(rows, overdue, Blacklist.load(database), config.tier_scores))
    return [(n, entries.get(n)) for n in wanted]


def numbers_of_customers(database: peewee.Database, customer_ids: Iterable[int]) -> list[str]:
    ids = sorted(set(customer_ids))
    return [r[0] for r in _in(database, "SELECT DISTINCT number FROM phone WHERE customer_id IN ({marks})", (), ids)]


def numbers_with_prefix(database: peewee.Database, prefix: str) -> list[str]:
    """Numbers starting with ``prefix`` (a digit range on the index: LIKE would scan on SQLite)."""
    if not prefix.isdigit():
        return []
    return [r[0] for r in _rows(database, "SELECT DISTINCT number FROM phone WHERE number >= ? AND number < ?",
                                (prefix, prefix + ":"))]


def numbers_falling_due(database: peewee.Database, since: dt.date, until: dt.date) -> list[str]:
    """Numbers of customers with a bill that became overdue between the two days (since <= due < until)."""
    return [r[0] for r in _rows(
        database, "SELECT DISTINCT p.number FROM bill b JOIN phone p ON p.customer_id = b.customer_id "
        "WHERE b.amount_due > 0 AND b.due_date >= ? AND b.due_date < ?", (since.isoformat(), until.isoformat()))]


def numbers_unlisted_between(database: peewee.Database, since: dt.datetime, until: dt.datetime) -> list[str]:
    """Numbers whose blacklist entry expired in (since, until]."""
    numbers: list[str] = []
    for pattern, is_prefix in _rows(
            database, "SELECT pattern, is_prefix FROM blacklist_entry WHERE until > ? AND until <= ?",
            (since.isoformat(sep=" "), until.isoformat(sep=" "))):
        numbers += numbers_with_prefix(database, pattern) if is_prefix else [pattern]
    return numbers


# --- talking to the switch ---------------------------------------------------------------------

def _expression(key: str, value: str | None) -> str:
    if value is None:
        return f"${{hash(delete/{REALM}/{key})}}"
    return f"${{hash(insert/{REALM}/{key}/{value})}}"


@dataclass
class PushReport:
    inserted: int = 0
    deleted: int = 0
    commands: int = 0
    seconds: float = 0.0

    @property
    def keys(self) -> int:
        return self.inserted + self.deleted

    def add(self, other: PushReport) -> None:
        self.inserted += other.inserted
        self.deleted += other.deleted
        self.commands += other.commands
        self.seconds += other.seconds


def push(conn: SwitchConnection, entries: Iterable[Entry], command_bytes: int = 1800,
         window: int = 64) -> PushReport:
    """Insert/delete ``entries`` in the switch's mod_hash: packed ``eval`` commands, pipelined."""
    report = PushReport()
    expected: deque[tuple[int, int]] = deque()
    started = time.perf_counter()
    limit = max(command_bytes - len("api eval \n\n"), 80)

    def commands() -> Iterator[str]:
        parts: list[str] = []
        size = inserts = deletes = 0
        for key, value in entries:
            text = _expression(key, value)
            if parts and size + len(text) > limit:
                expected.append((inserts, deletes))
                yield "eval " + "".join(parts)
                parts, size, inserts, deletes = [], 0, 0, 0
            parts.append(text)
            size += len(text)
            if value is None:
                deletes += 1
            else:
                inserts += 1
        if parts:
            expected.append((inserts, deletes))
            yield "eval " + "".join(parts)

    for reply in conn.api_many(commands(), window=window, chunk=16):
        inserts, deletes = expected.popleft()
        ok = reply.count("+OK")
        refused = reply.count("-ERR") - reply.count("-ERR Not found")
        if ok < inserts or refused:
            raise CacheError(f"the switch refused cache commands: {reply.strip()[:200]!r} "
                             "(is mod_hash loaded and API expansion enabled?)")
        report.inserted += inserts
        report.deleted += deletes
        report.commands += 1
    report.seconds = time.perf_counter() - started
    return report


def select(conn: SwitchConnection, key: str) -> str:
    """The value the switch holds under ``key`` ('' for none: FreeSWITCH answers an empty API
    result with ``-ERR no reply``)."""
    value = conn.api(f"hash select/{REALM}/{key}").strip()
    return "" if value.startswith("-ERR") else value


def marker(conn: SwitchConnection) -> str:
    """The switch's ``cache:filled`` value ('' when it holds no full fill)."""
    return select(conn, MARKER)


@dataclass
class FillReport(PushReport):
    numbers: int = 0
    skipped: int = 0
    read_seconds: float = 0.0


def _run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Blocking database work off the event loop (the outbound server shares it)."""
    return gevent.get_hub().threadpool.spawn(fn, *args).get()


def fill(conn: SwitchConnection, database: peewee.Database, config: Config, *, page: int = 20000,
         progress: Callable[[int], None] | None = None, today: dt.date | None = None) -> FillReport:
    """Load the facts of every customer number into the switch (see the module docstring).

    Pages are read in customer order (keyset pagination, bounded memory) in a worker thread while
    the previous page is being pushed. Blacklisted numbers are deleted from the switch.
    """
    started = time.perf_counter()
    report = FillReport()
    when = (today or dt.date.today()).isoformat()

    def setup() -> tuple[set[int], Blacklist, dict[str, int]]:
        overdue = {int(r[0]) for r in _rows(database, _OVERDUE, (when,))}
        return overdue, Blacklist.load(database), {r[0]: int(r[1]) for r in _rows(database, _SHARED)}

    def read(after: int) -> tuple[list[tuple[Any, ...]], float]:
        """A page of whole customers: one whose phones the limit cut is left for the next page."""
        t = time.perf_counter()
        rows = _rows(database, _PAGE, (after, page))
        if len(rows) == page:
            last = rows[-1][1]
            cut = len(rows)
            while cut and rows[cut - 1][1] == last:
                cut -= 1
            rows = rows[:cut] if cut else _rows(database, _ONE, (last,))
        return rows, time.perf_counter() - t

    overdue, blacklist, owners = _run_in_thread(setup)
    pool = gevent.get_hub().threadpool

    def entries() -> Iterator[Entry]:
        # One stream over all pages, so the pipeline to the switch never drains at a page boundary.
        pending = pool.spawn(read, 0)
        while True:
            rows, took = pending.get()
            report.read_seconds += took
            if not rows:
                return
            pending = pool.spawn(read, rows[-1][1])
            page_entries = _entries(rows, overdue, blacklist, config.tier_scores, owners)
            report.numbers += len(page_entries)
            report.skipped += sum(1 for _key, value in page_entries if value is None)
            yield from page_entries
            if progress:
                progress(len(page_entries))

    report.add(push(conn, entries(), config.cache_command_bytes, window=256))
    conn.api(f"hash insert/{REALM}/{MARKER}/{int(time.time())};{report.inserted}")
    report.seconds = time.perf_counter() - started
    return report


def clear(conn: SwitchConnection, database: peewee.Database, config: Config, *, page: int = 20000,
          progress: Callable[[int], None] | None = None) -> PushReport:
    """Delete the cache keys of every number esl_app knows, and the marker (before stopping the switch)."""
    report = PushReport()
    after = ""
    while True:
        rows = _run_in_thread(_rows, database, "SELECT DISTINCT number FROM phone WHERE number > ? "
                              "ORDER BY number LIMIT ?", (after, page))
        if not rows:
            break
        after = rows[-1][0]
        keys = [r[0] for r in rows if cacheable_key(r[0])]
        report.add(push(conn, [(k, None) for k in keys], config.cache_command_bytes))
        if progress:
            progress(len(keys))
    leftovers = _run_in_thread(_rows, database, "SELECT DISTINCT number FROM cache_outbox")
    report.add(push(conn, [(r[0], None) for r in leftovers if cacheable_key(r[0])], config.cache_command_bytes))
    conn.api(f"hash delete/{REALM}/{MARKER}")
    return report


def push_numbers(conn: SwitchConnection, database: peewee.Database, config: Config,
                 numbers: Iterable[str]) -> PushReport:
    """Rewrite these numbers' entries from the database as it is now."""
    entries = _run_in_thread(entries_for_numbers, database, config, list(numbers))
    return push(conn, entries, config.cache_command_bytes)


def drain_outbox(conn: SwitchConnection, database: peewee.Database, config: Config, limit: int = 5000) -> int:
    """Push the numbers waiting in ``cache_outbox`` and remove the rows pushed; returns how many."""
    rows = _run_in_thread(_rows, database, "SELECT id, number FROM cache_outbox ORDER BY id LIMIT ?", (limit,))
    if not rows:
        return 0
    push_numbers(conn, database, config, {r[1] for r in rows})
    ids = [r[0] for r in rows]

    def forget() -> None:
        with database.atomic():
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                database.execute_sql(f"DELETE FROM cache_outbox WHERE id IN ({','.join([database.param] * len(part))})",
                                     part)

    _run_in_thread(forget)
    return len(rows)


def outbox_size(database: peewee.Database) -> int:
    return int(_rows(database, "SELECT COUNT(*) FROM cache_outbox")[0][0])


class CacheKeeper:
    """``esl-app serve``'s side of the cache: fill a switch that has none, push the outbox, and
    re-push facts that change with time (bills falling due, blacklist entries expiring)."""

    def __init__(self, link: SwitchLink, database: peewee.Database, config: Config, *,
                 poll_s: float = 1.0, refresh_s: float = 60.0):
        self.link = link
        self.database = database
        self.config = config
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self.fills = 0
        self.pushed = 0
        self._filling = False
        self._day = dt.date.today()
        self._checked = utcnow()
        self._loop: gevent.Greenlet | None = None

    def on_connect(self, conn: SwitchConnection) -> None:
        """A (re)connected switch without the marker lost its cache (or never had one): fill it."""
        if self._filling:
            return
        if marker(conn):
            return
        self._filling = True
        try:
            event(log, logging.INFO, "switch cache empty, filling", host=self.link.host)
            report = fill(conn, self.database, self.config)
            self.fills += 1
            event(log, logging.INFO, "switch cache filled", keys=report.inserted, deleted=report.deleted,
                  seconds=round(report.seconds, 1),
                  keys_per_s=int(report.keys / report.seconds) if report.seconds else 0)
        finally:
            self._filling = False

    def start(self) -> None:
        if self._loop is None:
            self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill(block=True, timeout=2)

    def _run(self) -> None:
        last_refresh = time.monotonic()
        while True:
            gevent.sleep(self.poll_s)
            if not self.link.connected or self._filling:
                continue
            try:
                if time.monotonic() - last_refresh >= self.refresh_s:
                    last_refresh = time.monotonic()
                    _run_in_thread(self.queue_time_changes)
                conn = self.link.connection(0)
                while (done := drain_outbox(conn, self.database, self.config)) > 0:
                    self.pushed += done
            except (SwitchError, CacheError) as exc:
                event(log, logging.WARNING, "cache push failed, will retry", error=str(exc))
            except DB_ERRORS as exc:
                event(log, logging.WARNING, "cache: database unavailable, will retry", error=str(exc).strip())

    def queue_time_changes(self, today: dt.date | None = None, now: dt.datetime | None = None) -> int:
        """Queue numbers whose facts changed because time passed since the last check."""
        from .changes import queue_numbers

        today = today or dt.date.today()
        now = now or utcnow()
        numbers: list[str] = []
        if today != self._day:
            numbers += numbers_falling_due(self.database, self._day, today)
        numbers += numbers_unlisted_between(self.database, self._checked, now)
        if numbers:
            with self.database.atomic():
                queue_numbers(numbers)
        self._day, self._checked = today, now
        return len(numbers)
