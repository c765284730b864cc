"""Importing customers from a utility MIS/billing CSV export.

Columns are mapped to fields by a small YAML file or ``--column field=HEADER`` options. Each row
is validated completely before anything is written and written inside its own savepoint, so a
bad row is reported (with its line number and why) and skipped while every other row, and
everything already stored, stays intact. Rows are upserted by account number, so importing the
same export twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import peewee

from .config import ConfigProblem, _read_yaml
from .db import DB_ERRORS
from .models import Bill, Customer, Phone, utcnow
from .phone import normalise
from .pins import hash_pin

FIELDS = ("account", "name", "phone", "tier", "region", "area", "designated_agent", "language", "pin",
          "period", "amount_due", "due_date", "last_payment_date", "last_payment_amount")
REQUIRED = ("account", "name")
TIER_WORDS = {"platinum": "platinum", "白金": "platinum", "vip": "platinum", "gold": "gold", "金": "gold",
              "黄金": "gold", "normal": "normal", "普通": "normal", "": "normal"}
LANGUAGE_WORDS = {"zh": "zh", "cn": "zh", "中文": "zh", "普通话": "zh", "en": "en", "english": "en", "英文": "en",
                  "": "zh"}


class ImportSetupError(Exception):
    """A problem with the file or the mapping as a whole; nothing was imported."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Mapping:
    columns: dict[str, list[str]]  # field -> CSV headers (phone may have several)
    tiers: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    default_area_code: str = ""


@dataclass
class RowProblem:
    line: int
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[RowProblem] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return self.created + self.updated + len(self.rejected)


def load_mapping(path: str | None, options: list[str], encoding: str | None = None) -> Mapping:
    """Build the column mapping from a YAML file and/or ``field=HEADER`` options (options win)."""
    problems: list[ConfigProblem] = []
    columns: dict[str, list[str]] = {}
    mapping = Mapping(columns)
    if path:
        data, lines, problems = _read_yaml(Path(path))
        for key, value in data.items():
            line = lines.get((str(key),))
            if key == "columns":
                if not isinstance(value, dict):
                    problems.append(ConfigProblem(path, line, "columns must map fields to CSV headers"))
                    continue
                for fname, header in value.items():
                    fline = lines.get(("columns", str(fname)), line)
                    if fname not in FIELDS:
                        problems.append(ConfigProblem(path, fline, f"unknown field {fname!r} (fields: {', '.join(FIELDS)})"))
                    elif isinstance(header, list) and fname == "phone" and all(isinstance(h, str) for h in header):
                        columns[fname] = list(header)
                    elif isinstance(header, (str, int)):
                        columns[fname] = [str(header)]
                    else:
                        problems.append(ConfigProblem(path, fline, f"{fname}: give one CSV header (a list only for phone)"))
            elif key == "tiers":
                if not isinstance(value, dict) or any(v not in ("platinum", "gold", "normal") for v in value.values()):
                    problems.append(ConfigProblem(path, line, "tiers must map export values to platinum, gold or normal"))
                else:
                    mapping.tiers = {str(k).strip().lower(): v for k, v in value.items()}
            elif key in ("encoding", "delimiter", "default_area_code"):
                setattr(mapping, key, str(value))
            else:
                problems.append(ConfigProblem(path, line, f"unknown key {key!r} (use columns, tiers, encoding, delimiter, default_area_code)"))
    from_options: set[str] = set()
    for option in options:
        fname, sep, header = option.partition("=")
        fname = fname.strip()
        if not sep or not header.strip():
            problems.append(ConfigProblem("--column", None, f"{option!r}: write field=HEADER, e.g. account=户号"))
        elif fname not in FIELDS:
            problems.append(ConfigProblem("--column", None, f"unknown field {fname!r} (fields: {', '.join(FIELDS)})"))
        elif fname == "phone" and fname in from_options:
            columns[fname].append(header.strip())
        else:
            columns[fname] = [header.strip()]
            from_options.add(fname)
    if encoding:
        mapping.encoding = encoding
    if len(mapping.delimiter) != 1:
        problems.append(ConfigProblem(path or "--mapping", None, "delimiter must be one character"))
    if problems:
        raise ImportSetupError(problems)
    return mapping


def _open_rows(path: Path, mapping: Mapping) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportSetupError([ConfigProblem(str(path), None, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        hint = "; exports from Chinese MIS systems are often GBK: try --encoding gbk" if mapping.encoding != "gbk" else ""
        line = raw[: getattr(exc, "start", 0)].count(b"\n") + 1 if isinstance(exc, UnicodeDecodeError) else None
        raise ImportSetupError([ConfigProblem(str(path), line, f"not {mapping.encoding} text{hint}")]) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportSetupError([ConfigProblem(str(path), 1, "the file is empty (expected a header row)")]) from None
    header = [h.strip() for h in header]

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        line = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                yield line, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
            line = reader.line_num + 1

    return header, rows()


def _check_headers(path: Path, header: list[str], mapping: Mapping) -> None:
    if not mapping.columns:
        mapping.columns = {f: [f] for f in FIELDS if f in header}
    problems = []
    for fname in REQUIRED:
        if fname not in mapping.columns:
            problems.append(ConfigProblem(str(path), 1, f"no column mapped to {fname!r}: add --column {fname}=HEADER"))
    for fname, headers in mapping.columns.items():
        for h in headers:
            if h not in header:
                problems.append(ConfigProblem(str(path), 1, f"column {h!r} (for {fname}) is not in the header row; "
                                              f"headers are: {', '.join(header)}"))
    if problems:
        raise ImportSetupError(problems)


def _date(value: str, what: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{what} {value!r} is not a date (write YYYY-MM-DD)")


def _money(value: str, what: str) -> Decimal | None:
    value = value.strip().replace(",", "").replace("¥", "").replace("￥", "")
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not an amount") from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int) or amount < 0 or exponent < -2 \
            or amount >= Decimal(10) ** 10:
        raise ValueError(f"{what} {value!r} must be >= 0 with at most 2 decimals")
    return amount.quantize(Decimal("0.01"))


@dataclass
class Touched:
    """What a batch changed that the switch-side cache must hear about."""

    customer_ids: list[int] = field(default_factory=list)
    removed_numbers: list[str] = field(default_factory=list)


@dataclass
class CleanRow:
    account: str
    values: dict[str, Any]
    phones: list[tuple[str, str, str]]  # key, kind, extension
    bill: dict[str, Any] | None


def clean_row(row: dict[str, str], mapping: Mapping) -> CleanRow:
    """Validate one CSV row completely; raises ValueError naming the first problem."""

    def cell(fname: str) -> str:
        headers = mapping.columns.get(fname)
        return row.get(headers[0], "").strip() if headers else ""

    account = cell("account")
    name = cell("name")
    if not account:
        raise ValueError("account is empty")
    if len(account) > 32:
        raise ValueError(f"account {account!r} is longer than 32 characters")
    if not name:
        raise ValueError("name is empty")
    if len(name) > 100:
        raise ValueError("name is longer than 100 characters")
    values: dict[str, Any] = {"name": name}
    if "tier" in mapping.columns:
        raw_tier = cell("tier").lower()
        tier = mapping.tiers.get(raw_tier) or TIER_WORDS.get(raw_tier)
        if tier is None:
            raise ValueError(f"tier {cell('tier')!r} is not platinum, gold or normal (map it under tiers: in the mapping file)")
        values["tier"] = tier
    if "language" in mapping.columns:
        lang = LANGUAGE_WORDS.get(cell("language").lower())
        if lang is None:
            raise ValueError(f"language {cell('language')!r} is not zh or en")
        values["language"] = lang
    for fname, limit in (("region", 50), ("area", 50), ("designated_agent", 64)):
        if fname in mapping.columns:
            if len(cell(fname)) > limit:
                raise ValueError(f"{fname} is longer than {limit} characters")
            values[fname] = cell(fname)
    if "pin" in mapping.columns and cell("pin"):
        pin = cell("pin")
        if not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError("pin must be 4 to 8 digits")
        values["pin"] = pin
    phones: list[tuple[str, str, str]] = []
    for header in mapping.columns.get("phone", []):
        for raw in row.get(header, "").replace("、", ";").replace("，", ";").replace("/", ";").split(";"):
            if not raw.strip():
                continue
            number = normalise(raw, mapping.default_area_code)
            if number.kind in ("other", "short") and not number.key.startswith("+"):
                raise ValueError(f"phone {raw.strip()!r} is not a phone number")
            if (number.key, number.kind, number.extension) not in phones:
                phones.append((number.key, number.kind, number.extension))
    bill = None
    if "amount_due" in mapping.columns:
        amount = _money(cell("amount_due"), "amount_due")
        due = _date(cell("due_date"), "due_date")
        if amount is not None:
            if due is None:
                raise ValueError("amount_due is given but due_date is empty")
            bill = {
                "period": cell("period") or due.strftime("%Y-%m"),
                "amount_due": amount,
                "due_date": due,
                "last_payment_date": _date(cell("last_payment_date"), "last_payment_date"),
                "last_payment_amount": _money(cell("last_payment_amount"), "last_payment_amount"),
            }
    return CleanRow(account, values, phones, bill)


def _store(clean: CleanRow, touched: Touched | None = None) -> bool:
    """Upsert one validated row; True when the customer was created.

    ``touched`` collects the customer's id and the numbers it lost (for the switch-side cache).
    """
    values = dict(clean.values)
    pin = values.pop("pin", None)
    found = Customer.get_or_none(Customer.account == clean.account)
    created = found is None
    customer: Customer = Customer.create(account=clean.account, **values) if found is None else found
    if not created:
        changed = {k: v for k, v in values.items() if getattr(customer, k) != v}
        if changed:
            Customer.update(updated_at=utcnow(), **changed).where(Customer.id == customer.id).execute()
    if pin is not None:
        from .pins import verify_pin
        if not verify_pin(pin, customer.pin_hash):
            Customer.update(pin_hash=hash_pin(pin)).where(Customer.id == customer.id).execute()
    if clean.phones:
        existing = {p.number: p for p in Phone.select().where(Phone.customer == customer.id)}
        wanted = {key: (kind, ext) for key, kind, ext in clean.phones}
        stale = [p.id for n, p in existing.items() if n not in wanted]
        if touched is not None:
            touched.removed_numbers += [n for n in existing if n not in wanted]
        if stale:
            Phone.delete().where(Phone.id.in_(stale)).execute()
        for key, (kind, ext) in wanted.items():
            if key not in existing:
                Phone.create(customer=customer.id, number=key, kind=kind, extension=ext)
            elif (existing[key].kind, existing[key].extension) != (kind, ext):
                Phone.update(kind=kind, extension=ext).where(Phone.id == existing[key].id).execute()
    if clean.bill:
        bill = Bill.get_or_none((Bill.customer == customer.id) & (Bill.period == clean.bill["period"]))
        if bill is None:
            Bill.create(customer=customer.id, **clean.bill)
        else:
            Bill.update(**clean.bill).where(Bill.id == bill.id).execute()
    if touched is not None:
        touched.customer_ids.append(customer.id)
    return created


def count_rows(path: Path, mapping: Mapping) -> int:
    _header, rows = _open_rows(path, mapping)
    return sum(1 for _ in rows)


def import_customers(database: peewee.Database, path: str | Path, mapping: Mapping, *, batch: int = 500,
                     progress: Callable[[int], None] | None = None,
                     on_batch: Callable[[Touched], None] | None = None) -> ImportReport:
    """Import a CSV export; raises :class:`ImportSetupError` for whole-file problems.

    ``on_batch`` runs inside each batch's transaction with what the batch changed (the CLI queues
    the affected numbers for the switch-side cache there, so they commit together).
    """
    path = Path(path)
    header, rows = _open_rows(path, mapping)
    _check_headers(path, header, mapping)
    report = ImportReport()
    pending: list[tuple[int, CleanRow]] = []

    def flush() -> None:
        with database.atomic():
            touched = Touched() if on_batch else None
            for line, clean in pending:
                try:
                    with database.atomic():
                        if _store(clean, touched):
                            report.created += 1
                        else:
                            report.updated += 1
                except DB_ERRORS as exc:
                    report.rejected.append(RowProblem(line, f"database refused the row: {exc}"))
            if on_batch and touched is not None:
                on_batch(touched)
        if progress:
            progress(len(pending))
        pending.clear()

    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            clean = clean_row(row, mapping)
            if clean.account in seen:
                raise ValueError(f"account {clean.account} already appeared on line {seen[clean.account]}")
            seen[clean.account] = line
            pending.append((line, clean))
        except ValueError as exc:
            report.rejected.append(RowProblem(line, str(exc)))
            if progress:
                progress(1)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    report.rejected.sort(key=lambda p: p.line)
    return report


__all__ = ["FIELDS", "ImportReport", "ImportSetupError", "Mapping", "RowProblem", "Touched", "clean_row",
           "count_rows", "import_customers", "load_mapping"]
