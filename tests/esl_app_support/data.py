"""Small helpers that put known customers, bills and blacklist entries in the test database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from esl_app.models import Bill, BlacklistEntry, Customer, Phone
from esl_app.phone import normalise, normalise_prefix
from esl_app.pins import hash_pin


def add_customer(name: str, account: str, phones: list[str], *, tier: str = "normal", language: str = "zh",
                 agent: str = "", pin: str | None = None, region: str = "深圳", area: str = "南山区") -> Customer:
    customer = Customer.create(name=name, account=account, tier=tier, language=language, designated_agent=agent,
                               pin_hash=hash_pin(pin) if pin else None, region=region, area=area)
    for raw in phones:
        number = normalise(raw)
        Phone.create(customer=customer.id, number=number.key, kind=number.kind, extension=number.extension)
    return customer


def add_bill(customer: Customer, amount: str, days_overdue: int, period: str = "2026-10") -> Bill:
    due = dt.date.today() - dt.timedelta(days=days_overdue)
    return Bill.create(customer=customer.id, period=period, amount_due=Decimal(amount), due_date=due)


def blacklist(pattern: str, *, prefix: bool = False, reason: str = "test", until: dt.datetime | None = None) -> BlacklistEntry:
    key = normalise_prefix(pattern) if prefix else normalise(pattern).key
    return BlacklistEntry.create(pattern=key, is_prefix=prefix, reason=reason, until=until)
