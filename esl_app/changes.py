"""Changes written through esl_app: customer edits, payments, blacklist entries.

Each change runs in one transaction that also queues the phone numbers whose switch-side cache
entry it affects (``cache_outbox``, see :mod:`esl_app.cache`): the numbers are pushed right after
the commit, and if the switch cannot be reached then, ``esl-app serve`` pushes them later. A change
never waits for the switch, and a switch that is down never loses a change.

Errors a caller can fix (unknown customer, bad tier, bad amount) are :class:`ChangeError` with a
message saying what to do; nothing is written then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import peewee

from .cache import numbers_of_customers, numbers_with_prefix
from .config import TIERS
from .models import Bill, BlacklistEntry, CacheOutbox, Customer, Phone, utcnow
from .phone import normalise, normalise_key, normalise_prefix


class ChangeError(ValueError):
    """A change that cannot be made as asked; the message says why and what to do."""


@dataclass
class Change:
    summary: str
    numbers: list[str] = field(default_factory=list)  # cache keys affected


def queue_numbers(numbers: Iterable[str]) -> int:
    """Queue numbers for a cache push (call inside the change's transaction)."""
    rows = [{"number": n} for n in dict.fromkeys(numbers) if n]
    for i in range(0, len(rows), 500):
        CacheOutbox.insert_many(rows[i:i + 500]).execute()
    return len(rows)


def find_customer(ref: str, default_area_code: str = "") -> Customer:
    """A customer by account number, ``#<id>``, or any of their phone numbers."""
    text = ref.strip()
    if text.startswith("#") and text[1:].isdigit():
        found = Customer.get_or_none(Customer.id == int(text[1:]))
    else:
        found = Customer.get_or_none(Customer.account == text)
        if found is None:
            key = normalise_key(text, default_area_code)
            phone = (Phone.select().where(Phone.number == key).order_by(Phone.customer).first() if key else None)
            found = Customer.get_or_none(Customer.id == phone.customer_id) if phone is not None else None
    if found is None:
        raise ChangeError(f"no customer {ref!r} (give an account number, #<id> or one of their phone numbers)")
    return found


def edit_customer(database: peewee.Database, ref: str, *, name: str | None = None, tier: str | None = None,
                  language: str | None = None, agent: str | None = None, add_phones: Iterable[str] = (),
                  remove_phones: Iterable[str] = (), default_area_code: str = "", cache: bool = True) -> Change:
    """Change a customer's details and phone numbers."""
    values: dict[str, object] = {}
    if name is not None:
        if not name.strip() or len(name) > 100:
            raise ChangeError("name must be 1 to 100 characters")
        values["name"] = name.strip()
    if tier is not None:
        if tier not in TIERS:
            raise ChangeError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
        values["tier"] = tier
    if language is not None:
        if language not in ("zh", "en"):
            raise ChangeError(f"language must be zh or en, got {language!r}")
        values["language"] = language
    if agent is not None:
        if len(agent) > 64:
            raise ChangeError("designated agent must be at most 64 characters")
        values["designated_agent"] = agent.strip()
    adds = []
    for raw in add_phones:
        number = normalise(raw, default_area_code)
        if not number.key or (number.kind in ("other", "short") and not number.key.startswith("+")):
            raise ChangeError(f"{raw!r} is not a phone number")
        adds.append(number)
    removes = [normalise_key(raw, default_area_code) for raw in remove_phones]
    with database.atomic():
        customer = find_customer(ref, default_area_code)
        before = numbers_of_customers(database, [customer.id])
        missing = [raw for raw, key in zip(remove_phones, removes, strict=True) if key not in before]
        if missing:
            raise ChangeError(f"customer {customer.account} has no phone {missing[0]!r}")
        if values:
            Customer.update(updated_at=utcnow(), **values).where(Customer.id == customer.id).execute()
        if removes:
            Phone.delete().where((Phone.customer == customer.id) & (Phone.number.in_(removes))).execute()
        for number in adds:
            if number.key not in before:
                Phone.create(customer=customer.id, number=number.key, kind=number.kind, extension=number.extension)
        touched = sorted(set(before) | {n.key for n in adds})
        if cache:
            queue_numbers(touched)
    return Change(f"customer {customer.account} updated", touched)


def _amount(text: str | Decimal) -> Decimal:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        raise ChangeError(f"amount {text!r} is not a number (e.g. 128.50)") from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or amount <= 0 or not isinstance(exponent, int) or exponent < -2:
        raise ChangeError(f"amount {text!r} must be positive with at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


def record_payment(database: peewee.Database, ref: str, amount: str | Decimal, *, paid_on: dt.date | None = None,
                   default_area_code: str = "", cache: bool = True) -> Change:
    """Apply a payment to the customer's bills, oldest due first."""
    left = _amount(amount)
    paid_on = paid_on or dt.date.today()
    with database.atomic():
        customer = find_customer(ref, default_area_code)
        bills = list(Bill.select().where((Bill.customer == customer.id) & (Bill.amount_due > 0))
                     .order_by(Bill.due_date, Bill.id))
        applied = Decimal("0.00")
        for bill in bills:
            if left <= 0:
                break
            part = min(left, Decimal(bill.amount_due))
            Bill.update(amount_due=Decimal(bill.amount_due) - part, last_payment_date=paid_on,
                        last_payment_amount=part).where(Bill.id == bill.id).execute()
            left -= part
            applied += part
        touched = numbers_of_customers(database, [customer.id])
        if cache:
            queue_numbers(touched)
    owed = sum((Decimal(b.amount_due) for b in Bill.select().where(Bill.customer == customer.id)), Decimal(0))
    extra = f", {left} not applied (nothing left to pay)" if left > 0 else ""
    return Change(f"payment of {applied} applied to {customer.account}; {owed:.2f} still due{extra}", touched)


def _pattern(raw: str, prefix: bool) -> str:
    key = normalise_prefix(raw) if prefix else normalise(raw).key
    if not key or (prefix and not key.isdigit()):
        raise ChangeError(f"{raw!r} is not a phone number{' prefix' if prefix else ''}")
    return key


def _affected(database: peewee.Database, pattern: str, prefix: bool) -> list[str]:
    return numbers_with_prefix(database, pattern) if prefix else [pattern]


def add_blacklist(database: peewee.Database, raw: str, *, prefix: bool = False, reason: str = "",
                  until: dt.datetime | None = None, cache: bool = True) -> Change:
    """List a number (or every number starting with a prefix); ``until`` in UTC, None = for good."""
    pattern = _pattern(raw, prefix)
    if len(reason) > 200:
        raise ChangeError("reason must be at most 200 characters")
    with database.atomic():
        BlacklistEntry.create(pattern=pattern, is_prefix=prefix, reason=reason, until=until)
        touched = _affected(database, pattern, prefix)
        if cache:
            queue_numbers(touched)
    return Change(f"blacklisted {'prefix ' if prefix else ''}{pattern}", touched)


def remove_blacklist(database: peewee.Database, raw: str, *, prefix: bool = False, cache: bool = True) -> Change:
    pattern = _pattern(raw, prefix)
    with database.atomic():
        removed = (BlacklistEntry.delete()
                   .where((BlacklistEntry.pattern == pattern) & (BlacklistEntry.is_prefix == prefix)).execute())
        if not removed:
            raise ChangeError(f"{'prefix ' if prefix else ''}{pattern} is not blacklisted")
        touched = _affected(database, pattern, prefix)
        if cache:
            queue_numbers(touched)
    return Change(f"removed {'prefix ' if prefix else ''}{pattern} from the blacklist", touched)
