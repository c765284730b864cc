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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import gevent
import peewee
from gevent.threadpool import ThreadPool

from .config import Config
from .db import DB_ERRORS
from .logs import event
from .models import BlacklistEntry, BlacklistHit, Customer, PinFailure, SurveyScore, database_proxy, utcnow
from .phone import normalise_key
from .pins import verify_pin as _verify_pin_hash

log = logging.getLogger("esl_app.lookups")

TRUE, FALSE = "true", "false"


@dataclass(frozen=True)
class CallInfo:
    """What the switch told us about the call (the connect reply's channel data)."""

    uuid: str
    caller: str  # as received
    caller_key: str  # normalised (esl_app.phone)
    destination: str
    did: str
    flow: str
    node: str
    channel: Mapping[str, str]

    @classmethod
    def from_channel_data(cls, data: Mapping[str, str], default_area_code: str = "") -> CallInfo:
        caller = data.get("Caller-Caller-ID-Number") or data.get("variable_caller_id_number") or ""
        return cls(
            uuid=data.get("Unique-ID") or data.get("variable_uuid") or "",
            caller=caller,
            caller_key=normalise_key(caller, default_area_code),
            destination=data.get("Caller-Destination-Number", ""),
            did=data.get("variable_hotline_did", ""),
            flow=data.get("variable_hotline_flow", ""),
            node=data.get("variable_hotline_node", ""),
            channel=data,
        )

    def var(self, name: str) -> str | None:
        return self.channel.get("variable_" + name)

    @property
    def requested(self) -> list[str]:
        raw = self.var("hotline_lookup") or ""
        return [n.strip() for n in raw.split(",") if n.strip()]


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


LookupHandler = Callable[[LookupContext], "Mapping[str, str] | LookupResult"]


@dataclass(frozen=True)
class LookupSpec:
    name: str
    handler: LookupHandler
    defaults: Mapping[str, str]  # set when the lookup fails, so the flow's default routing applies


class LookupRegistry:
    """name -> handler. Sites register their own lookups here (see module docstring)."""

    def __init__(self) -> None:
        self._specs: dict[str, LookupSpec] = {}

    def register(self, name: str, handler: LookupHandler | None = None, *,
                 defaults: Mapping[str, str] | None = None) -> Any:
        """Register ``handler`` under ``name``; without a handler, return a decorator."""
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"lookup name {name!r} must match [a-z][a-z0-9_]*")

        def add(fn: LookupHandler) -> LookupHandler:
            self._specs[name] = LookupSpec(name, fn, dict(defaults or {}))
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


def lookup(name: str, *, defaults: Mapping[str, str] | None = None) -> Callable[[LookupHandler], LookupHandler]:
    """Decorator registering a lookup in the default registry."""
    return registry.register(name, defaults=defaults)


def load_site_modules(modules: list[str]) -> None:
    """Import the site's lookup modules (``lookups.modules``); importing registers them."""
    for module in modules:
        importlib.import_module(module)


# --- built-in lookups -------------------------------------------------------------------------

def _clean(value: Any) -> str:
    """A value safe for one sendmsg header line."""
    return re.sub(r"[\r\n]+", " ", "" if value is None else str(value)).strip()


_SQL_CACHE: dict[tuple[str, str], str] = {}


def _rows(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run a fixed hot-path query directly: building a peewee query per call cost more than the
    query itself (about 0.2 ms each), and live lookups run on every call."""
    database = database_proxy.obj
    key = (sql, database.param)
    text = _SQL_CACHE.get(key)
    if text is None:
        text = _SQL_CACHE[key] = sql.replace("?", database.param)
    return database.execute_sql(text, params).fetchall()


_CUSTOMER_BY_PHONE = (
    "SELECT c.id, c.name, c.account, c.tier, c.language, c.designated_agent FROM phone p "
    "JOIN customer c ON c.id = p.customer_id WHERE p.number = ? ORDER BY c.id LIMIT 1")
_CUSTOMER_ID_BY_PHONE = "SELECT customer_id FROM phone WHERE number = ? ORDER BY customer_id LIMIT 1"
_OVERDUE = ("SELECT SUM(amount_due), MIN(due_date) FROM bill "
            "WHERE customer_id = ? AND amount_due > 0 AND due_date < ?")


def find_customer_id(ctx: LookupContext) -> int | None:
    """The caller's customer id: the one an earlier lookup set, else found by caller ID."""
    known_id = ctx.get("hotline_customer_id")
    if known_id and known_id.isdigit():
        return int(known_id)
    if not ctx.call.caller_key:
        return None
    rows = _rows(_CUSTOMER_ID_BY_PHONE, (ctx.call.caller_key,))
    return int(rows[0][0]) if rows else None


def find_customer(ctx: LookupContext) -> Customer | None:
    """The caller's customer as a model (for lookups that are not on every call's path)."""
    customer_id = find_customer_id(ctx)
    return Customer.get_or_none(Customer.id == customer_id) if customer_id is not None else None


@lookup("customer", defaults={"hotline_customer_known": FALSE, "hotline_customer_tier": "normal",
                              "cc_base_score": "0"})
def customer_lookup(ctx: LookupContext) -> dict[str, str]:
    rows = _rows(_CUSTOMER_BY_PHONE, (ctx.call.caller_key,)) if ctx.call.caller_key else []
    if not rows:
        return {"hotline_customer_known": FALSE, "hotline_customer_id": "", "hotline_customer_name": "",
                "hotline_customer_tier": "normal", "hotline_account": "", "hotline_designated_agent": "",
                "cc_base_score": str(ctx.config.tier_scores.get("normal", 0))}
    customer_id, name, account, tier, language, agent = rows[0]
    tier = tier if tier in ctx.config.tier_scores else "normal"
    return {
        "hotline_customer_known": TRUE,
        "hotline_customer_id": str(customer_id),
        "hotline_customer_name": _clean(name),
        "hotline_customer_tier": tier,
        "hotline_account": _clean(account),
        "hotline_language": language if language in ("zh", "en") else "zh",
        "hotline_designated_agent": _clean(agent),
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


@lookup("arrears", defaults={"hotline_arrears": FALSE})
def arrears_lookup(ctx: LookupContext) -> dict[str, str]:
    customer_id = find_customer_id(ctx)
    none = {"hotline_arrears": FALSE, "hotline_arrears_amount": "0", "hotline_arrears_days": "0"}
    if customer_id is None:
        return none
    today = dt.date.today()
    rows = _rows(_OVERDUE, (customer_id, today.isoformat()))
    owed, oldest = rows[0] if rows else (None, None)
    amount = format_amount(owed)
    if amount == "0":
        return none
    oldest_date = _as_date(oldest)
    days = (today - oldest_date).days if oldest_date else 0
    return {"hotline_arrears": TRUE, "hotline_arrears_amount": amount, "hotline_arrears_days": str(days)}


def find_blacklist_entry(key: str, now: dt.datetime | None = None) -> BlacklistEntry | None:
    """The entry matching ``key`` exactly, else the longest matching prefix entry, if in force."""
    if not key:
        return None
    now = now or utcnow()
    prefixes = [key[:i] for i in range(1, len(key) + 1)]
    candidates = (BlacklistEntry.select()
                  .where(((BlacklistEntry.pattern == key) & (BlacklistEntry.is_prefix == False))
                         | ((BlacklistEntry.pattern.in_(prefixes)) & (BlacklistEntry.is_prefix == True)))
                  .where(BlacklistEntry.until.is_null() | (BlacklistEntry.until > now)))
    best = None
    for entry in candidates:
        rank = (not entry.is_prefix, len(entry.pattern))
        if best is None or rank > (not best.is_prefix, len(best.pattern)):
            best = entry
    return best


@lookup("blacklist", defaults={"hotline_blacklisted": FALSE})
def blacklist_lookup(ctx: LookupContext) -> LookupResult:
    entry = find_blacklist_entry(ctx.call.caller_key)
    if entry is None:
        return LookupResult({"hotline_blacklisted": FALSE})
    try:
        BlacklistHit.create(entry=entry.id, caller=ctx.call.caller_key, call_uuid=ctx.call.uuid)
    except DB_ERRORS:
        log.warning("could not record blacklist hit", exc_info=True)
    event(log, logging.WARNING, "blacklisted caller rejected", caller=ctx.call.caller_key, uuid=ctx.call.uuid,
          entry=entry.id, prefix=entry.is_prefix, reason=entry.reason, action=ctx.config.blacklist_action)
    actions: list[tuple[str, str]] = []
    if ctx.config.blacklist_action == "notice" and ctx.config.blacklist_notice:
        actions.append(("playback", ctx.config.blacklist_notice))
    actions.append(("hangup", "CALL_REJECTED"))
    return LookupResult({"hotline_blacklisted": TRUE}, actions)


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
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "failed" if self.failures else "ok"


class _Task:
    """One lookup handed to a worker thread; skipped if its deadline passed while it queued."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


class LookupRunner:
    """Runs named lookups for a call, each under the configured deadline, in worker threads."""

    def __init__(self, config: Config, database: peewee.Database, lookups: LookupRegistry | None = None,
                 threads: int | None = None):
        self.config = config
        self.database = database
        self.registry = lookups or registry
        self.pool = ThreadPool(threads or config.db_threads)
        self._local = threading.local()

    def close(self) -> None:
        self.pool.kill()

    def _invoke(self, task: _Task, spec: LookupSpec, ctx: LookupContext) -> LookupResult | BaseException:
        """Runs in a worker thread. Failures come back as values: gevent would print an exception
        raised here as an unstructured traceback."""
        if task.abandoned:
            return TimeoutError("deadline passed before a worker was free")
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
        if isinstance(result, LookupResult):
            return result
        return LookupResult(dict(result or {}))

    def run(self, names: list[str], call: CallInfo, deadline_ms: int | None = None) -> LookupOutcome:
        outcome = LookupOutcome()
        deadline = (deadline_ms or self.config.lookup_deadline_ms) / 1000.0
        for name in names:
            spec = self.registry.get(name)
            if spec is None:
                outcome.failures.append((name, "unknown lookup"))
                event(log, logging.ERROR, "unknown lookup requested", lookup=name, uuid=call.uuid, flow=call.flow,
                      known=",".join(self.registry.names()))
                continue
            ctx = LookupContext(call, self.config, dict(outcome.variables))
            task = _Task()
            started = time.perf_counter()
            try:
                with gevent.Timeout(deadline):
                    result = self.pool.spawn(self._invoke, task, spec, ctx).get()
                if isinstance(result, BaseException):
                    raise result
            except gevent.Timeout:
                task.abandoned = True
                outcome.failures.append((name, f"deadline of {int(deadline * 1000)} ms exceeded"))
                event(log, logging.ERROR, "lookup deadline exceeded", lookup=name, uuid=call.uuid,
                      caller=call.caller_key, deadline_ms=int(deadline * 1000))
                outcome.variables.update(spec.defaults)
                continue
            except Exception as exc:  # noqa: BLE001 - any failure means default routing, never a hung call
                outcome.failures.append((name, f"{type(exc).__name__}: {exc}"))
                event(log, logging.ERROR, "lookup failed", lookup=name, uuid=call.uuid, caller=call.caller_key,
                      error=f"{type(exc).__name__}: {exc}")
                outcome.variables.update(spec.defaults)
                continue
            finally:
                outcome.timings_ms[name] = (time.perf_counter() - started) * 1000
            outcome.variables.update({k: _clean(v) for k, v in result.variables.items()})
            outcome.actions.extend(result.actions)
        return outcome
