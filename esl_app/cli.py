"""``esl-app``: serve lookups, manage the schema, seed demo data, import MIS exports.

Every expected failure (bad config, unreachable database, bad mapping, unreadable CSV) becomes a
message naming the file and line and exit code 2; no traceback reaches the operator. An import
that skipped bad rows exits 1 after listing them, so scripts notice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import gevent

from .config import Config, ConfigError, find_config, load_config
from .db import DB_ERRORS, DatabaseURLError, describe_url, init_schema, open_database
from .logs import BufferedStreamHandler, event, setup_logging
from .stats import LookupStats

EXIT_USAGE = 2
log = logging.getLogger("esl_app.serve")


def _fail(message: str) -> NoReturn:
    click.echo(f"esl-app: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _load(config_path: str | None) -> Config:
    try:
        return load_config(find_config(config_path))
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"esl-app: {problem}", err=True)
        sys.exit(EXIT_USAGE)


def _open(config: Config, *, init: bool = False) -> Any:
    try:
        database = open_database(config.db_url, query_timeout_ms=max(config.db_query_timeout_ms, 30000))
        database.connect(reuse_if_open=True)
        if init:
            init_schema(database)
        return database
    except DatabaseURLError as exc:
        _fail(f"{config.source}: database.url {exc}")
    except DB_ERRORS as exc:
        _fail(f"cannot use the database {describe_url(config.db_url)}: {str(exc).strip()}")


def _require_schema(database: Any, config: Config) -> None:
    from .db import SCHEMA_VERSION, schema_version

    try:
        version = schema_version(database)
    except DB_ERRORS as exc:
        _fail(f"cannot use the database {describe_url(config.db_url)}: {str(exc).strip()}")
    if version < SCHEMA_VERSION:
        _fail(f"the database {describe_url(config.db_url)} has schema version {version}, expected "
              f"{SCHEMA_VERSION}: run 'esl-app db init' first")


config_option: Callable[[Any], Any] = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    help="hotline.yaml (default: $HOTLINE_CONFIG, else ./hotline.yaml if present, else built-in defaults)")


@click.group()
def main() -> None:
    """hotline's Event Socket application: live caller lookups for FreeSWITCH."""


@main.command()
@config_option
def serve(config_path: str | None) -> None:
    """Serve outbound Event Socket sessions (default 127.0.0.1:8084) until SIGTERM."""
    from .lookups import LookupRunner, load_site_modules
    from .server import HotlineServer, lookup_application

    config = _load(config_path)
    handler = setup_logging(config.log_level, config.log_format, buffered=True)
    assert isinstance(handler, BufferedStreamHandler)
    try:
        load_site_modules(config.lookup_modules)
    except ImportError as exc:
        _fail(f"{config.source}: lookups.modules: cannot import {exc.name or exc}: {exc}")
    database = _open(config)
    _require_schema(database, config)
    database.close()
    database = open_database(config.db_url, query_timeout_ms=config.db_query_timeout_ms)
    runner = LookupRunner(config, database)
    server = HotlineServer(config, lookup_application(runner, config))
    switch_side = _SwitchSide(config, database) if config.fs_enabled else None
    flusher = gevent.spawn(_flush_logs_forever, handler)
    summaries = gevent.spawn(_summarise_lookups_forever, runner.stats, config.log_summary_s) \
        if config.log_summary_s else None
    try:
        if switch_side is not None:
            switch_side.start()
        server.serve_forever()
    except OSError as exc:
        _fail(f"cannot listen on {config.esl_host}:{config.esl_port}: {exc.strerror or exc} "
              "(set esl.port in the config or HOTLINE_ESL_PORT)")
    finally:
        if switch_side is not None:
            switch_side.stop()
        flusher.kill()
        if summaries is not None:
            summaries.kill()
            _summarise_lookups(runner.stats)  # the last interval's calls
        runner.close()
        handler.tick()


class _SwitchSide:
    """What serve does over the switch's inbound Event Socket (``freeswitch:`` configured): call
    records from hangup events, and the switch-side cache (fill when empty, push the outbox)."""

    def __init__(self, config: Config, database: Any):
        from .cache import CacheKeeper
        from .callrecords import EVENTS, FILTERS, CallRecorder
        from .switch import SwitchLink

        self.recorder = CallRecorder(database, config.records_spool, default_area_code=config.default_area_code) \
            if config.fs_records else None
        self.link = SwitchLink(
            config.fs_host, config.fs_port, config.fs_password, timeout=config.fs_timeout_ms / 1000,
            events=EVENTS if self.recorder else (), filters=FILTERS if self.recorder else (),
            on_event=self.recorder.on_event if self.recorder else None)
        self.keeper = CacheKeeper(self.link, database, config) if config.fs_cache else None
        if self.keeper is not None:
            self.link.on_connect.append(self.keeper.on_connect)

    def start(self) -> None:
        if self.recorder is not None:
            self.recorder.start()
        if self.keeper is not None:
            self.keeper.start()
        self.link.start()

    def stop(self) -> None:
        """After the outbound server stopped: no more hangups will come; keep every record."""
        if self.keeper is not None:
            self.keeper.stop()
        gevent.sleep(0.2)  # hangup events of the last calls may still be on their way
        self.link.stop()
        if self.recorder is not None:
            self.recorder.stop()


def _summarise_lookups(stats: LookupStats) -> None:
    fields = stats.take()
    if fields is not None:
        event(log, logging.INFO, "lookup summary", **fields)


def _summarise_lookups_forever(stats: LookupStats, every_s: int) -> None:
    while True:
        gevent.sleep(every_s)
        _summarise_lookups(stats)


def _flush_logs_forever(handler: BufferedStreamHandler) -> None:
    while True:
        gevent.sleep(0.25)
        handler.tick()


@main.group()
def db() -> None:
    """Database schema and demo data."""


@db.command("init")
@config_option
def db_init(config_path: str | None) -> None:
    """Create or upgrade the schema (safe to run again)."""
    from .db import schema_version

    config = _load(config_path)
    database = _open(config)
    before = schema_version(database)
    try:
        init_schema(database)
    except DatabaseURLError as exc:
        _fail(str(exc))
    except DB_ERRORS as exc:
        _fail(f"cannot create the schema in {describe_url(config.db_url)}: {str(exc).strip()}")
    after = schema_version(database)
    if before == after:
        click.echo(f"schema already at version {after} in {describe_url(config.db_url)}")
    else:
        click.echo(f"schema upgraded from version {before} to {after} in {describe_url(config.db_url)}")


@db.command("seed")
@config_option
@click.option("--customers", type=click.IntRange(1, 50_000_000), default=1000, show_default=True)
@click.option("--seed", "seed_value", type=int, default=95598, show_default=True, help="random seed (same seed, same data)")
def db_seed(config_path: str | None, customers: int, seed_value: int) -> None:
    """Add realistic fake customers (names, mobiles, landlines, tiers, arrears)."""
    from .seed import seed_customers

    config = _load(config_path)
    database = _open(config, init=True)
    try:
        with click.progressbar(length=customers, label="seeding customers", file=sys.stderr) as bar:
            report = seed_customers(database, customers, seed=seed_value, progress=bar.update)
    except DB_ERRORS as exc:
        _fail(f"seeding failed in {describe_url(config.db_url)}: {str(exc).strip()} "
              "(batches already committed are kept)")
    click.echo(f"added {report.customers} customers, {report.phones} phone numbers, {report.bills} bills"
               + (f", {report.blacklist} blacklist entries" if report.blacklist else ""))


@main.group("import")
def import_group() -> None:
    """Import data exported from other systems."""


@import_group.command("customers")
@config_option
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--mapping", "mapping_path", type=click.Path(dir_okay=False), default=None,
              help="YAML: columns: {account: 户号, name: 户名, phone: [手机, 固话], ...}, tiers: {...}")
@click.option("--column", "columns", multiple=True, metavar="FIELD=HEADER",
              help="map one field to a CSV header (repeatable; phone may repeat)")
@click.option("--encoding", default=None, help="file encoding (default utf-8; gbk for many MIS exports)")
def import_customers_cmd(config_path: str | None, csv_file: str, mapping_path: str | None, columns: tuple[str, ...],
                         encoding: str | None) -> None:
    """Upsert customers from a MIS/billing CSV export (by account number)."""
    from .importer import ImportSetupError, count_rows, import_customers, load_mapping

    config = _load(config_path)
    if not Path(csv_file).is_file():
        _fail(f"{csv_file}: no such file")
    if mapping_path and not Path(mapping_path).is_file():
        _fail(f"{mapping_path}: no such mapping file")
    try:
        mapping = load_mapping(mapping_path, list(columns), encoding)
        if not mapping.default_area_code:
            mapping.default_area_code = config.default_area_code
        total = count_rows(Path(csv_file), mapping)
    except ImportSetupError as exc:
        for problem in exc.problems:
            click.echo(f"esl-app: {problem}", err=True)
        sys.exit(EXIT_USAGE)
    database = _open(config, init=True)
    on_batch = _queue_import_batch(database) if _caching(config) else None
    try:
        with click.progressbar(length=total, label="importing customers", file=sys.stderr) as bar:
            report = import_customers(database, csv_file, mapping, progress=bar.update, on_batch=on_batch)
    except ImportSetupError as exc:
        for problem in exc.problems:
            click.echo(f"esl-app: {problem}", err=True)
        sys.exit(EXIT_USAGE)
    except DB_ERRORS as exc:
        _fail(f"import stopped, database {describe_url(config.db_url)}: {str(exc).strip()} "
              "(rows in batches already committed are kept)")
    for rejected in report.rejected:
        click.echo(f"{csv_file}:{rejected.line}: rejected: {rejected.message}", err=True)
    click.echo(f"{report.created} created, {report.updated} updated, {len(report.rejected)} rejected "
               f"({report.processed} rows)")
    if _caching(config):
        _publish(config, database)
    if report.rejected:
        sys.exit(1)



# --- the switch-side cache and the changes that feed it ----------------------------------------

def _caching(config: Config) -> bool:
    return config.fs_enabled and config.fs_cache


def _connect_switch(config: Config) -> Any:
    from .switch import SwitchConnection, SwitchError

    try:
        return SwitchConnection(config.fs_host, config.fs_port, config.fs_password, timeout=config.fs_timeout_ms / 1000)
    except SwitchError as exc:
        _fail(f"{exc} (freeswitch.host/port/password in {config.source}, or HOTLINE_FS_HOST, HOTLINE_FS_PORT, "
              "HOTLINE_ESL_PASSWORD)")


def _queue_import_batch(database: Any) -> Callable[[Any], None]:
    from .cache import numbers_of_customers
    from .changes import queue_numbers

    def queue(touched: Any) -> None:
        queue_numbers(numbers_of_customers(database, touched.customer_ids) + touched.removed_numbers)

    return queue


REFILL_ABOVE = 50_000  # queued numbers beyond which a full fill is cheaper than targeted pushes


def _publish(config: Config, database: Any) -> None:
    """Push what the change queued; a switch that cannot be reached gets it from esl-app serve later."""
    from .cache import CacheError, drain_outbox, fill, outbox_size
    from .db import DB_ERRORS
    from .switch import SwitchConnection, SwitchError

    push_errors: tuple[type[BaseException], ...] = (SwitchError, CacheError, *DB_ERRORS)
    queued = outbox_size(database)
    if not queued:
        return
    try:
        conn = SwitchConnection(config.fs_host, config.fs_port, config.fs_password,
                                timeout=config.fs_timeout_ms / 1000)
    except SwitchError as exc:
        click.echo(f"esl-app: switch cache not updated now ({exc}); {queued} numbers wait in the outbox and "
                   "esl-app serve pushes them when it reaches the switch", err=True)
        return
    try:
        if queued > REFILL_ABOVE:
            last = database.execute_sql("SELECT MAX(id) FROM cache_outbox").fetchone()[0]
            report = fill(conn, database, config)
            database.execute_sql(f"DELETE FROM cache_outbox WHERE id <= {int(last)}")
            click.echo(f"switch cache refilled: {report.inserted} keys")
            return
        pushed = 0
        while (done := drain_outbox(conn, database, config)) > 0:
            pushed += done
        click.echo(f"switch cache updated: {pushed} numbers")
    except push_errors as exc:
        click.echo(f"esl-app: switch cache not updated now ({exc}); the numbers stay in the outbox for "
                   "esl-app serve", err=True)
    finally:
        conn.close()


@main.group()
def cache() -> None:
    """The switch-side cache (mod_hash) behind flows' `mode: cached` lookups."""


@cache.command("fill")
@config_option
def cache_fill(config_path: str | None) -> None:
    """Load every customer number's routing facts into the switch (safe to run again)."""
    from .cache import CacheError, fill
    from .switch import SwitchError

    config = _load(config_path)
    database = _open(config)
    _require_schema(database, config)
    total = database.execute_sql("SELECT COUNT(DISTINCT number) FROM phone").fetchone()[0]
    conn = _connect_switch(config)
    try:
        with click.progressbar(length=total, label="filling the switch cache", file=sys.stderr) as bar:
            report = fill(conn, database, config, progress=bar.update)
    except (SwitchError, CacheError) as exc:
        _fail(f"cache fill stopped: {exc}")
    except DB_ERRORS as exc:
        _fail(f"cache fill stopped, database {describe_url(config.db_url)}: {str(exc).strip()}")
    finally:
        conn.close()
    rate = int(report.keys / report.seconds) if report.seconds else 0
    click.echo(f"{report.inserted} keys loaded, {report.deleted} deleted (blacklisted or not cacheable) "
               f"in {report.seconds:.1f} s ({rate} keys/s)")


@cache.command("push")
@config_option
@click.argument("customers", nargs=-1, required=True)
def cache_push(config_path: str | None, customers: tuple[str, ...]) -> None:
    """Rewrite the cache entries of CUSTOMERS (account number, #id or phone number)."""
    from .cache import CacheError, numbers_of_customers, push_numbers
    from .changes import ChangeError, find_customer
    from .switch import SwitchError

    config = _load(config_path)
    database = _open(config)
    _require_schema(database, config)
    numbers: list[str] = []
    for ref in customers:
        try:
            customer = find_customer(ref, config.default_area_code)
        except ChangeError as exc:
            _fail(str(exc))
        numbers += numbers_of_customers(database, [customer.id])
    conn = _connect_switch(config)
    try:
        report = push_numbers(conn, database, config, numbers)
    except (SwitchError, CacheError) as exc:
        _fail(f"cache push failed: {exc}")
    finally:
        conn.close()
    click.echo(f"{len(numbers)} numbers pushed ({report.inserted} cached, {report.deleted} removed)")


@cache.command("clear")
@config_option
def cache_clear(config_path: str | None) -> None:
    """Delete the cache from the switch (do it before stopping FreeSWITCH: mod_hash's shutdown is
    quadratic in the keys it still holds)."""
    from .cache import CacheError, clear
    from .switch import SwitchError

    config = _load(config_path)
    database = _open(config)
    _require_schema(database, config)
    conn = _connect_switch(config)
    try:
        report = clear(conn, database, config)
    except (SwitchError, CacheError) as exc:
        _fail(f"cache clear stopped: {exc}")
    finally:
        conn.close()
    click.echo(f"{report.deleted} keys deleted in {report.seconds:.1f} s")


@cache.command("show")
@config_option
@click.argument("number")
def cache_show(config_path: str | None, number: str) -> None:
    """What the switch holds for a caller ID, and the variables a cached lookup would set."""
    from .cache import decode, dialplan_key, select
    from .phone import mask_phone
    from .switch import SwitchError

    config = _load(config_path)
    conn = _connect_switch(config)
    try:
        key = dialplan_key(number)
        value = select(conn, key)
    except SwitchError as exc:
        _fail(str(exc))
    finally:
        conn.close()
    if not value:
        click.echo(f"{mask_phone(key)}: not cached (the call takes the live hop)")
        return
    variables = decode(value)
    click.echo(f"{mask_phone(key)}: {value}")
    for name, text in (variables or {}).items():
        click.echo(f"  {name}={text}")


def _change(config_path: str | None, make: Callable[[Config, Any], Any]) -> None:
    from .changes import ChangeError

    config = _load(config_path)
    database = _open(config)
    _require_schema(database, config)
    try:
        change = make(config, database)
    except ChangeError as exc:
        _fail(str(exc))
    except DB_ERRORS as exc:
        _fail(f"nothing changed, database {describe_url(config.db_url)}: {str(exc).strip()}")
    click.echo(change.summary)
    if _caching(config):
        _publish(config, database)


@main.group()
def customer() -> None:
    """Change customers (the switch-side cache follows)."""


@customer.command("edit")
@config_option
@click.argument("ref")
@click.option("--name")
@click.option("--tier", type=click.Choice(["platinum", "gold", "normal"]))
@click.option("--language", type=click.Choice(["zh", "en"]))
@click.option("--agent", help="designated agent ('' for none)")
@click.option("--add-phone", "add_phones", multiple=True)
@click.option("--remove-phone", "remove_phones", multiple=True)
def customer_edit(config_path: str | None, ref: str, name: str | None, tier: str | None, language: str | None,
                  agent: str | None, add_phones: tuple[str, ...], remove_phones: tuple[str, ...]) -> None:
    """Edit the customer REF (account number, #id or phone number)."""
    from .changes import edit_customer

    _change(config_path, lambda config, database: edit_customer(
        database, ref, name=name, tier=tier, language=language, agent=agent, add_phones=add_phones,
        remove_phones=remove_phones, default_area_code=config.default_area_code, cache=_caching(config)))


@main.command()
@config_option
@click.argument("ref")
@click.argument("amount")
@click.option("--date", "paid_on", type=click.DateTime(["%Y-%m-%d"]), default=None, help="day paid (default today)")
def payment(config_path: str | None, ref: str, amount: str, paid_on: Any) -> None:
    """Record a payment of AMOUNT by customer REF (oldest bills first)."""
    from .changes import record_payment

    _change(config_path, lambda config, database: record_payment(
        database, ref, amount, paid_on=paid_on.date() if paid_on else None,
        default_area_code=config.default_area_code, cache=_caching(config)))


@main.group()
def blacklist() -> None:
    """Blacklist numbers or prefixes (the switch-side cache follows)."""


@blacklist.command("add")
@config_option
@click.argument("number")
@click.option("--prefix", is_flag=True, help="every number starting with NUMBER")
@click.option("--reason", default="")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), default=None, help="UTC; default for good")
def blacklist_add(config_path: str | None, number: str, prefix: bool, reason: str, until: Any) -> None:
    from .changes import add_blacklist

    _change(config_path, lambda config, database: add_blacklist(
        database, number, prefix=prefix, reason=reason, until=until, cache=_caching(config)))


@blacklist.command("remove")
@config_option
@click.argument("number")
@click.option("--prefix", is_flag=True)
def blacklist_remove(config_path: str | None, number: str, prefix: bool) -> None:
    from .changes import remove_blacklist

    _change(config_path, lambda config, database: remove_blacklist(
        database, number, prefix=prefix, cache=_caching(config)))


if __name__ == "__main__":  # pragma: no cover
    main()
