"""mod_hash and mod_db in the simulator: apps, API replies and ${hash(...)} / ${db(...)} expansions."""

from __future__ import annotations

from pathlib import Path

from fsgen.sim.testing import call, make_conf, simulator


def plan(*actions: str) -> str:
    acts = "".join(f'<action application="{a}" data="{d}"/>' for a, d in actions)
    return ('<context name="t"><extension name="h"><condition field="destination_number" expression="^100$">'
            f"{acts}</condition></extension></context>")


def logs(sim) -> list[str]:
    return [r["text"] for r in sim.trace.records if r["event"] == "log" and r["leg"] == "b"]


def test_hash_app_insert_and_expansion_select(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", plan(
        ("hash", "insert/vip/${caller_id_number}/gold"),
        ("log", "INFO tier=${hash(select/vip/${caller_id_number})} none=[${hash(select/vip/nobody)}]"),
        ("hash", "delete/vip/${caller_id_number}"),
        ("log", "INFO after=[${hash(select/vip/${caller_id_number})}]"),
        ("hash", "insert/bad"),
    )))
    call(sim, "100", "t", caller="95598001")
    assert logs(sim)[:2] == ["tier=gold none=[]", "after=[]"]
    assert any("USAGE: hash" in t for t in logs(sim))


def test_hash_api_replies(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", plan(("answer", ""))))
    api = sim.api
    assert api("hash insert/realm/key/a/b") == "+OK\n"          # the value keeps its slashes
    assert api("hash select/realm/key") == "a/b"
    assert api("hash insert_ifempty/realm/key/c") == "-ERR key already exists\n"
    assert api("hash delete_ifmatch/realm/key/c") == "-ERR Doesn't match\n"
    assert api("hash delete_ifmatch/realm/key/a/b") == "+OK\n"
    assert api("hash delete/realm/key") == "-ERR Not found\n"
    assert api("hash select/realm/key") == ""
    assert api("hash insert/realm").startswith("-ERR Usage: hash insert|insert_ifempty|select|delete")
    # realm_key collide exactly as in mod_hash
    api("hash insert/a_b/c/1")
    assert api("hash select/a/b_c") == "1"
    assert api("hash_dump db a") == "D/a_b_c/1\n"


def test_db_app_and_api(tmp_path: Path) -> None:
    sim = simulator(make_conf(tmp_path / "conf", plan(
        ("db", "insert/blacklist/${caller_id_number}/1"),
        ("log", "INFO listed=${db(exists/blacklist/${caller_id_number})} value=${db(select/blacklist/${caller_id_number})}"),
        ("db", "delete/blacklist/${caller_id_number}"),
        ("log", "INFO listed=${db(exists/blacklist/${caller_id_number})}"),
    )))
    call(sim, "100", "t", caller="13800000000")
    assert logs(sim) == ["listed=true value=1", "listed=false"]
    api = sim.api
    assert api("db insert/r1/k1/v1") == "+OK"
    assert api("db insert/r1/k2/v2") == "+OK"
    assert api("db insert/r2/k1/x") == "+OK"
    assert api("db insert/r1/k1/v9") == "+OK"
    assert api("db select/r1/k1") == "v9"
    assert api("db count") == "2"
    assert api("db count/r1") == "2"
    assert api("db list") == "r1,r2"
    assert api("db list/r1") == "k2,k1"
    assert api("db delete/r1/k1") == "+OK"
    assert api("db select/r1/k1") == ""
    assert api("db insert/r1") == "!err!"
    assert api("db bogus/r1/k1") == "!err!"
