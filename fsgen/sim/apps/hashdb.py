"""mod_hash and mod_db: realm/key/value stores behind dialplan apps, API commands and ``${hash(...)}``.

Both modules split their argument at ``/`` into at most four parts (the value keeps any
further slashes).  mod_hash keeps an in-memory hash keyed ``<realm>_<key>`` (so realm
``a_b`` + key ``c`` and realm ``a`` + key ``b_c`` are the same entry, as in FreeSWITCH);
mod_db keeps a ``db_data`` table per (realm, key).  FreeSWITCH persists mod_db in SQLite
across restarts; a simulator starts empty.

Replies follow the C modules: ``hash`` answers ``+OK`` / ``-ERR ...`` lines and the bare
value for ``select``; ``db`` answers ``+OK`` (no newline), the value, ``true``/``false`` for
``exists`` and ``!err!`` for anything malformed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..api import api_command
from . import application
from .args import separate

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel
    from ..sim import Simulator

HASH_USAGE = "[insert|insert_ifempty|delete|delete_ifmatch]/<realm>/<key>/<val>"
HASH_API_USAGE = "insert|insert_ifempty|select|delete|delete_ifmatch/realm/key[/value]"
DB_USAGE = "[insert|delete]/<realm>/<key>/<val>"


def hash_table(sim: Simulator) -> dict[str, str]:
    """mod_hash's db_hash (``<realm>_<key>`` -> value), created on first use."""
    return sim.modules.setdefault("hash", {})


def db_table(sim: Simulator) -> dict[tuple[str, str], str]:
    """mod_db's db_data rows ((realm, key) -> value, insertion ordered)."""
    return sim.modules.setdefault("db", {})


def _split(data: str) -> list[str]:
    return separate(data, "/", maxparts=4) if data else []


def _warn(chan: Channel, text: str) -> None:
    chan.sim.trace.add(chan, "log", level="WARNING", text=text)


# ---- mod_hash ---------------------------------------------------------------------------------
@application("hash")
def hash_app(chan: Channel, data: str) -> None:
    argv = _split(data)
    if len(argv) < 3 or not argv[0]:
        _warn(chan, "USAGE: hash " + HASH_USAGE)
        return
    table = hash_table(chan.sim)
    key = f"{argv[1]}_{argv[2]}"
    op = argv[0].lower()
    if op in ("insert", "insert_ifempty", "delete_ifmatch") and len(argv) < 4:
        _warn(chan, "USAGE: hash " + HASH_USAGE)
        return
    if op == "insert":
        table[key] = argv[3]
    elif op == "insert_ifempty":
        table.setdefault(key, argv[3])
    elif op == "delete":
        table.pop(key, None)
    elif op == "delete_ifmatch":
        if table.get(key) == argv[3]:
            del table[key]
    else:
        _warn(chan, "USAGE: hash " + HASH_USAGE)


@api_command("hash")
def hash_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    argv = _split(args.strip())
    usage = f"-ERR Usage: hash {HASH_API_USAGE}\n"
    if len(argv) < 3 or not argv[0]:
        return usage
    table = hash_table(sim)
    key = f"{argv[1]}_{argv[2]}"
    op = argv[0].lower()
    if op in ("insert", "insert_ifempty", "delete_ifmatch") and len(argv) < 4:
        return usage
    if op == "insert":
        table[key] = argv[3]
        return "+OK\n"
    if op == "insert_ifempty":
        if key in table:
            return "-ERR key already exists\n"
        table[key] = argv[3]
        return "+OK\n"
    if op == "delete":
        if table.pop(key, None) is None:
            return "-ERR Not found\n"
        return "+OK\n"
    if op == "delete_ifmatch":
        if key not in table:
            return "-ERR Not found\n"
        if table[key] != argv[3]:
            return "-ERR Doesn't match\n"
        del table[key]
        return "+OK\n"
    if op == "select":
        return table.get(key, "")
    return usage


@api_command("hash_dump")
def hash_dump_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``hash_dump all|limit|db [<realm>]``: ``D/<realm>_<key>/<value>`` lines (no limit data here)."""
    argv = args.split()
    if not argv or argv[0] not in ("all", "limit", "db"):
        return "Usage: all|limit|db [<realm>]\n"
    if argv[0] == "limit":
        return ""
    prefix = argv[1] + "_" if len(argv) > 1 else ""
    return "".join(f"D/{k}/{v}\n" for k, v in hash_table(sim).items() if prefix in k)


# ---- mod_db -----------------------------------------------------------------------------------
@application("db")
def db_app(chan: Channel, data: str) -> None:
    argv = _split(data)
    if len(argv) < 3 or not argv[0]:
        _warn(chan, "USAGE: db " + DB_USAGE)
        return
    table = db_table(chan.sim)
    op = argv[0].lower()
    if op == "insert":
        if len(argv) < 4:
            _warn(chan, "USAGE: db " + DB_USAGE)
            return
        table.pop((argv[1], argv[2]), None)
        table[(argv[1], argv[2])] = argv[3]
    elif op == "delete":
        table.pop((argv[1], argv[2]), None)
    else:
        _warn(chan, "USAGE: db " + DB_USAGE)


@api_command("db")
def db_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    argv = _split(args.strip())
    if not argv or not argv[0]:
        return "!err!"
    table = db_table(sim)
    op = argv[0].lower()
    if op == "insert":
        if len(argv) < 4:
            return "!err!"
        table.pop((argv[1], argv[2]), None)
        table[(argv[1], argv[2])] = argv[3]
        return "+OK"
    if op == "delete":
        if len(argv) < 2:
            return "!err!"
        table.pop((argv[1], argv[2] if len(argv) > 2 else ""), None)
        return "+OK"
    if op in ("select", "exists"):
        if len(argv) < 3:
            return "!err!"
        value = table.get((argv[1], argv[2]))
        if op == "exists":
            return "true" if value is not None else "false"
        return value or ""
    if op == "count":
        if len(argv) < 2:
            return str(len({realm for realm, _ in table}))
        return str(sum(1 for realm, _ in table if realm == argv[1]))
    if op == "list":
        if len(argv) < 2:
            names = list(dict.fromkeys(realm for realm, _ in table))
        else:
            names = list(dict.fromkeys(key for realm, key in table if realm == argv[1]))
        return ",".join(names)
    return "!err!"
