"""peewee models shared by SQLite and PostgreSQL.

The models are bound to :data:`database_proxy`; :func:`esl_app.db.open_database` picks the real
database from a URL, so the same classes serve both backends. Phone numbers are stored only in
the canonical form of :func:`esl_app.phone.normalise` (``Phone.number``) so a lookup is one indexed
equality, whatever shape the caller ID arrives in.
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    SQL,
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
)

database_proxy = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Naive UTC timestamps: identical on SQLite (no time zones) and PostgreSQL (timestamp)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=utcnow)


class Customer(BaseModel):
    id = AutoField()
    name = CharField(max_length=100)
    account = CharField(max_length=32, unique=True)
    tier = CharField(max_length=10, default="normal")  # platinum | gold | normal
    region = CharField(max_length=50, default="")
    area = CharField(max_length=50, default="")
    designated_agent = CharField(max_length=64, default="")
    pin_hash = CharField(max_length=200, null=True)
    language = CharField(max_length=5, default="zh")  # zh | en
    updated_at = DateTimeField(default=utcnow)


class Phone(BaseModel):
    id = AutoField()
    customer = ForeignKeyField(Customer, backref="phones", on_delete="CASCADE")
    number = CharField(max_length=32)  # canonical key (esl_app.phone.normalise)
    kind = CharField(max_length=10, default="other")
    extension = CharField(max_length=8, default="")

    class Meta:
        # (number, customer) answers "who has this number, lowest id first" from the index alone.
        indexes = ((("customer", "number"), True), (("number", "customer"), False))


class Bill(BaseModel):
    id = AutoField()
    customer = ForeignKeyField(Customer, backref="bills", on_delete="CASCADE")
    period = CharField(max_length=16)  # e.g. 2026-10; unique per customer so imports upsert
    amount_due = DecimalField(max_digits=12, decimal_places=2, default=0)
    due_date = DateField()
    last_payment_date = DateField(null=True)
    last_payment_amount = DecimalField(max_digits=12, decimal_places=2, null=True)

    class Meta:
        indexes = ((("customer", "period"), True),)


# A caller's overdue bills are read on most calls (the arrears lookup): an index holding only the
# bills with something to pay, with the columns the lookup reads, answers it without touching the
# table (most customers owe nothing and have no entry at all).
Bill.add_index(Bill.index(Bill.customer, Bill.due_date, Bill.amount_due, name="bill_overdue",
                          where=SQL("amount_due > 0")))


class BlacklistEntry(BaseModel):
    id = AutoField()
    pattern = CharField(max_length=32, index=True)  # canonical number, or canonical prefix
    is_prefix = BooleanField(default=False)
    reason = CharField(max_length=200, default="")
    until = DateTimeField(null=True)  # UTC; null = for good
    created_at = DateTimeField(default=utcnow)


class BlacklistHit(BaseModel):
    """Each rejected attempt, so operators can see who keeps calling."""

    id = AutoField()
    entry = ForeignKeyField(BlacklistEntry, null=True, on_delete="SET NULL")
    caller = CharField(max_length=32)
    call_uuid = CharField(max_length=64, default="")
    at = DateTimeField(default=utcnow)


class CallRecord(BaseModel):
    id = AutoField()
    call_uuid = CharField(max_length=64, unique=True)
    caller = CharField(max_length=32, default="")
    did = CharField(max_length=32, default="")
    flow = CharField(max_length=64, default="")
    nodes_visited = TextField(default="")  # comma list, in order
    start_at = DateTimeField(null=True)
    answer_at = DateTimeField(null=True)
    end_at = DateTimeField(null=True)
    outcome = CharField(max_length=64, default="")  # agent, voicemail, abandoned, rejected, ivr... (callrecords)
    hangup_cause = CharField(max_length=64, default="")
    queue = CharField(max_length=64, default="")
    agent = CharField(max_length=64, default="")
    recording_path = CharField(max_length=255, default="")
    lookup_status = CharField(max_length=10, default="")
    customer = ForeignKeyField(Customer, null=True, on_delete="SET NULL")


class SurveyScore(BaseModel):
    id = AutoField()
    call_uuid = CharField(max_length=64, index=True)
    caller = CharField(max_length=32, default="")
    customer = ForeignKeyField(Customer, null=True, on_delete="SET NULL")
    flow = CharField(max_length=64, default="")
    score = SmallIntegerField()
    created_at = DateTimeField(default=utcnow)


class PinFailure(BaseModel):
    id = AutoField()
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    caller = CharField(max_length=32, default="")
    call_uuid = CharField(max_length=64, default="")
    at = DateTimeField(default=utcnow, index=True)


class CacheOutbox(BaseModel):
    """Phone numbers whose switch-side cache entry must be rewritten (esl_app.cache).

    Written in the same transaction as the change that affects them, so a change whose push to the
    switch failed (switch down, esl-app killed) is still pushed later by ``esl-app serve``.
    """

    id = AutoField()
    number = CharField(max_length=32)
    queued_at = DateTimeField(default=utcnow)


ALL_MODELS: list[type[BaseModel]] = [
    Customer, Phone, Bill, BlacklistEntry, BlacklistHit, CallRecord, SurveyScore, PinFailure, CacheOutbox,
]
