"""esl-app CLI: db init/seed, CSV import (mapping, upserts, rejected rows), errors without tracebacks."""

import pytest
from click.testing import CliRunner

from esl_app.cli import main
from esl_app.db import SCHEMA_VERSION, open_database
from esl_app.lookups import CallInfo, LookupRunner
from esl_app.models import Bill, Customer, Phone
from esl_app.pins import verify_pin

pytest_plugins = ["tests.esl_app_support.fixtures"]

MIS_CSV = """户号,户名,手机,固话,客户等级,语言,欠费金额,应缴日期,服务密码
3100001,张伟,13812345678,0755-2345 6789,VIP,中文,128.50,2026-01-15,2468
3100002,李娜,+86 139 0000 1111,,普通,英文,0,2026-12-01,
3100003,,13700002222,,普通,中文,,,
3100004,王强,not-a-number,,普通,中文,,,
3100005,赵敏,13600003333,,钻石,中文,,,
3100006,钱多,13500004444,,重要,中文,12.345,2026-01-01,
"""

MAPPING = """columns:
  account: 户号
  name: 户名
  phone: [手机, 固话]
  tier: 客户等级
  language: 语言
  amount_due: 欠费金额
  due_date: 应缴日期
  pin: 服务密码
tiers:
  vip: platinum
  重要: gold
  普通: normal
"""


def run(args, env=None):
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def env(db_url):
    return {"HOTLINE_DB_URL": db_url, "HOTLINE_CONFIG": ""}


def test_db_init_twice(env, db_url):
    code, out = run(["db", "init"], env)
    assert code == 0 and f"upgraded from version 0 to {SCHEMA_VERSION}" in out
    code, out = run(["db", "init"], env)
    assert code == 0 and f"already at version {SCHEMA_VERSION}" in out


def test_seed_makes_findable_customers(env, db_url):
    code, out = run(["db", "seed", "--customers", "300"], env)
    assert code == 0, out
    assert "added 300 customers" in out
    database = open_database(db_url)
    try:
        assert Customer.select().count() == 300
        assert Phone.select().count() >= 300
        tiers = {c.tier for c in Customer.select(Customer.tier)}
        assert "normal" in tiers and tiers <= {"platinum", "gold", "normal"}
        assert all("\u4e00" <= c.name[0] <= "\u9fff" for c in Customer.select().limit(50))
        from esl_app.config import Config
        from esl_app.seed import mobile_for

        runner = LookupRunner(Config(db_url=db_url), database)
        try:
            call = CallInfo.from_channel_data({"Caller-Caller-ID-Number": "+86" + mobile_for(42)})
            v = runner.run(["customer"], call).variables
        finally:
            runner.close()
        assert v["hotline_customer_id"] == "42"
        # seeding again appends after the existing rows instead of colliding
        code, out = run(["db", "seed", "--customers", "10"], env)
        assert code == 0 and Customer.select().count() == 310
    finally:
        database.close()


def test_import_with_mapping_rejects_bad_rows_and_is_idempotent(env, db_url, tmp_path):
    csv_path = tmp_path / "mis.csv"
    csv_path.write_text(MIS_CSV, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    code, out = run(["import", "customers", str(csv_path), "--mapping", str(mapping)], env)
    assert code == 1, out
    assert "2 created, 0 updated, 4 rejected" in out
    assert f"{csv_path}:4: rejected: name is empty" in out
    assert f"{csv_path}:5: rejected: phone 'not-a-number' is not a phone number" in out
    assert f"{csv_path}:6: rejected: tier '钻石'" in out
    assert f"{csv_path}:7: rejected: amount_due '12.345' must be >= 0 with at most 2 decimals" in out

    database = open_database(db_url)
    try:
        zhang = Customer.get(Customer.account == "3100001")
        assert (zhang.name, zhang.tier, zhang.language) == ("张伟", "platinum", "zh")
        assert verify_pin("2468", zhang.pin_hash)
        assert sorted(p.number for p in zhang.phones) == ["13812345678", "75523456789"]
        assert Bill.get(Bill.customer == zhang.id).amount_due == 128.5
        li = Customer.get(Customer.account == "3100002")
        assert (li.language, [p.number for p in li.phones]) == ("en", ["13900001111"])

        # the same export again changes nothing; a corrected export updates in place
        code, out = run(["import", "customers", str(csv_path), "--mapping", str(mapping)], env)
        assert "0 created, 2 updated, 4 rejected" in out
        assert Customer.select().count() == 2 and Phone.select().count() == 3
        fixed = MIS_CSV.replace("3100003,,", "3100003,孙丽,").replace("张伟,13812345678,0755-2345 6789", "张伟,13812345678,")
        csv_path.write_text(fixed, encoding="utf-8")
        code, out = run(["import", "customers", str(csv_path), "--mapping", str(mapping)], env)
        assert "1 created, 2 updated, 3 rejected" in out
        assert sorted(p.number for p in Customer.get(Customer.account == "3100001").phones) == ["13812345678"]
    finally:
        database.close()


def test_bad_row_never_loses_stored_data(env, db_url, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("account,name,phone\n1,甲,13812345678\n", encoding="utf-8")
    assert run(["import", "customers", str(good)], env)[0] == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("account,name,phone\n1,,13800000000\n", encoding="utf-8")
    code, out = run(["import", "customers", str(bad)], env)
    assert code == 1 and f"{bad}:2: rejected: name is empty" in out
    database = open_database(db_url)
    try:
        c = Customer.get(Customer.account == "1")
        assert c.name == "甲" and [p.number for p in c.phones] == ["13812345678"]
    finally:
        database.close()


def test_import_with_column_options_and_gbk(env, db_url, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("用户编号,用户名称,联系电话\n88,周杰,010-12345678\n".encode("gbk"))
    code, out = run(["import", "customers", str(path), "--column", "account=用户编号",
                     "--column", "name=用户名称", "--column", "phone=联系电话"], env)
    assert code == 2 and "not utf-8-sig text; exports from Chinese MIS systems are often GBK: try --encoding gbk" in out
    code, out = run(["import", "customers", str(path), "--encoding", "gbk", "--column", "account=用户编号",
                     "--column", "name=用户名称", "--column", "phone=联系电话"], env)
    assert code == 0, out
    assert "1 created" in out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_setup_errors_exit_2_with_a_message(env, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("acct,nm\n1,a\n", encoding="utf-8")
    code, out = run(["import", "customers", str(path)], env)
    assert code == 2 and "no column mapped to 'account': add --column account=HEADER" in out
    code, out = run(["import", "customers", str(path), "--column", "account=ACCOUNT", "--column", "name=nm"], env)
    assert code == 2 and "column 'ACCOUNT' (for account) is not in the header row" in out
    code, out = run(["import", "customers", str(tmp_path / "missing.csv")], env)
    assert code == 2 and "no such file" in out
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  acount: acct\n", encoding="utf-8")
    code, out = run(["import", "customers", str(path), "--mapping", str(mapping)], env)
    assert code == 2 and f"{mapping}:2: unknown field 'acount'" in out
    config = tmp_path / "hotline.yaml"
    config.write_text("esl:\n  port: -1\n", encoding="utf-8")
    code, out = run(["serve", "--config", str(config)], env)
    assert code == 2 and f"{config}:2: esl.port must be between 0 and 65535" in out
    code, out = run(["db", "init"], {"HOTLINE_DB_URL": "mysql://nobody@127.0.0.1/x", "HOTLINE_CONFIG": ""})
    assert code == 2 and "unsupported database" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_refuses_an_uninitialised_database(env):
    code, out = run(["serve"], env)
    assert code == 2 and "run 'esl-app db init' first" in out
