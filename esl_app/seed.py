"""Realistic fake customers for the demo and the benchmark (no external data, no new dependency).

Names come from common surname and given-name tables, numbers from real mobile prefixes and
city area codes; tiers, languages and arrears follow plausible proportions. Rows are generated
deterministically from ``seed`` and inserted in bulk inside transactions, so 1,000,000 customers
take minutes, not hours. Mobile numbers are unique by construction (a permutation of the row id),
which lets the benchmark dial known callers without reading them back one by one.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import peewee

from .db import reset_sequences
from .models import Bill, BlacklistEntry, Customer, Phone, utcnow
from .pins import hash_pin

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉建华晶波宁浩宇欣怡子涵梓轩雨桐"
    "思远佳琪俊杰志强文博一鸣晓东海燕春梅国栋立新永刚淑珍秀珍丹丹婷婷晨阳嘉怡雅琴德明世杰天佑若曦"
)
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "166", "170", "171", "173", "175", "176", "177", "178",
                   "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199")
# (region, area code without trunk 0, districts)
CITIES = (
    ("北京", "10", ("东城区", "西城区", "朝阳区", "海淀区", "丰台区")),
    ("上海", "21", ("黄浦区", "徐汇区", "浦东新区", "静安区")),
    ("广州", "20", ("天河区", "越秀区", "海珠区", "白云区")),
    ("深圳", "755", ("福田区", "南山区", "罗湖区", "宝安区", "龙岗区")),
    ("成都", "28", ("锦江区", "武侯区", "青羊区", "高新区")),
    ("杭州", "571", ("西湖区", "上城区", "拱墅区", "滨江区")),
    ("武汉", "27", ("江岸区", "武昌区", "洪山区")),
    ("西安", "29", ("雁塔区", "碑林区", "未央区")),
    ("南京", "25", ("玄武区", "秦淮区", "鼓楼区")),
    ("太原", "351", ("小店区", "迎泽区", "杏花岭区")),
)
PIN_POOL_SIZE = 32
_PERMUTE = 48_271  # coprime with 10**8: id -> 8 distinct digits


@dataclass
class SeedReport:
    customers: int
    phones: int
    bills: int
    blacklist: int
    pins: dict[int, str]  # a few customer id -> PIN, for demos and tests


def mobile_for(customer_id: int) -> str:
    """The seeded mobile number of a customer (unique for ids below 10**8)."""
    prefix = MOBILE_PREFIXES[customer_id % len(MOBILE_PREFIXES)]
    return prefix + f"{(customer_id * _PERMUTE) % 10**8:08d}"


def landline_for(customer_id: int) -> str:
    _region, code, _d = CITIES[customer_id % len(CITIES)]
    local_len = 8 if len(code) == 2 else 8 if customer_id % 3 else 7
    local = (customer_id * 7919) % 10**local_len
    first = str(2 + customer_id % 7)
    return code + first + f"{local:0{local_len}d}"[1:]


def _name(rnd: random.Random) -> str:
    surname = rnd.choice(COMPOUND_SURNAMES) if rnd.random() < 0.01 else rnd.choice(SURNAMES)
    given = rnd.choice(GIVEN) if rnd.random() < 0.35 else rnd.choice(GIVEN) + rnd.choice(GIVEN)
    return surname + given


def _tier(rnd: random.Random) -> str:
    r = rnd.random()
    return "platinum" if r < 0.01 else "gold" if r < 0.06 else "normal"


def seed_customers(database: peewee.Database, count: int, *, seed: int = 95598, batch: int = 2000,
                   progress: Callable[[int], None] | None = None, with_blacklist: bool = True) -> SeedReport:
    """Insert ``count`` fake customers (with phones and bills) after any already stored."""
    rnd = random.Random(seed)
    # Hashing is deliberately slow (scrypt), so a pool of PINs is hashed once and shared.
    pool_size = max(1, min(PIN_POOL_SIZE, count // 100))
    pin_pool = [f"{rnd.randrange(10**6):06d}" for _ in range(pool_size)]
    pin_hashes = [hash_pin(p) for p in pin_pool]
    today = dt.date.today()
    now = utcnow()
    start = (Customer.select(peewee.fn.MAX(Customer.id)).scalar() or 0) + 1
    phones = bills = 0
    pins: dict[int, str] = {}

    def rows() -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
        nonlocal phones, bills
        cust_rows: list[tuple] = []
        phone_rows: list[tuple] = []
        bill_rows: list[tuple] = []
        for cid in range(start, start + count):
            region, _code, districts = CITIES[cid % len(CITIES)]
            tier = _tier(rnd)
            has_pin = rnd.random() < 0.3
            pin_index = cid % pool_size
            if has_pin and len(pins) < 50:
                pins[cid] = pin_pool[pin_index]
            cust_rows.append((
                cid, _name(rnd), f"95{cid:010d}", tier, region, rnd.choice(districts),
                f"agent{1000 + cid % 50}" if tier == "platinum" else "",
                pin_hashes[pin_index] if has_pin else None,
                "en" if rnd.random() < 0.03 else "zh", now,
            ))
            phone_rows.append((cid, mobile_for(cid), "mobile", ""))
            if rnd.random() < 0.4:
                phone_rows.append((cid, landline_for(cid), "landline", ""))
            overdue = rnd.random() < 0.15
            due = today - dt.timedelta(days=rnd.randint(1, 120)) if overdue else today + dt.timedelta(days=rnd.randint(1, 25))
            amount = Decimal(rnd.randint(2000, 200000)) / 100 if overdue or rnd.random() < 0.5 else Decimal(0)
            last_pay = today - dt.timedelta(days=rnd.randint(20, 200))
            bill_rows.append((cid, due.strftime("%Y-%m"), amount, due, last_pay, Decimal(rnd.randint(1000, 50000)) / 100))
            if len(cust_rows) >= batch:
                phones += len(phone_rows)
                bills += len(bill_rows)
                yield cust_rows, phone_rows, bill_rows
                cust_rows, phone_rows, bill_rows = [], [], []
        if cust_rows:
            phones += len(phone_rows)
            bills += len(bill_rows)
            yield cust_rows, phone_rows, bill_rows

    cust_fields = [Customer.id, Customer.name, Customer.account, Customer.tier, Customer.region, Customer.area,
                   Customer.designated_agent, Customer.pin_hash, Customer.language, Customer.updated_at]
    phone_fields = [Phone.customer, Phone.number, Phone.kind, Phone.extension]
    bill_fields = [Bill.customer, Bill.period, Bill.amount_due, Bill.due_date, Bill.last_payment_date,
                   Bill.last_payment_amount]
    # SQLite allows 32766 bound parameters per statement; stay well below.
    step = 1000
    done = 0
    for cust_rows, phone_rows, bill_rows in rows():
        with database.atomic():
            for i in range(0, len(cust_rows), step):
                Customer.insert_many(cust_rows[i:i + step], fields=cust_fields).execute()
            for i in range(0, len(phone_rows), step):
                Phone.insert_many(phone_rows[i:i + step], fields=phone_fields).execute()
            for i in range(0, len(bill_rows), step):
                Bill.insert_many(bill_rows[i:i + step], fields=bill_fields).execute()
        done += len(cust_rows)
        if progress:
            progress(len(cust_rows))
    blacklisted = 0
    if with_blacklist and not BlacklistEntry.select().exists():
        with database.atomic():
            BlacklistEntry.create(pattern="1700000", is_prefix=True, reason="骚扰电话号段 (demo)")
            BlacklistEntry.create(pattern="13000000000", is_prefix=False, reason="恶意呼叫 (demo)")
        blacklisted = 2
    reset_sequences(database)
    # Fresh statistics, so the planner uses the phone index from the first call on.
    database.execute_sql("ANALYZE")
    return SeedReport(done, phones, bills, blacklisted, pins)
