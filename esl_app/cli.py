"""``esl-app``: serve lookups, manage the schema, seed demo data, import MIS exports.

Every expected failure (bad config, unreachable database, bad mapping, unreadable CSV) becomes a
message naming the file and line and exit code 2; no traceback reaches the operator. An import
that skipped bad rows exits 1 after listing them, so scripts notice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
import gevent

from .config import Config, ConfigError, find_config, load_config
from .db import DB_ERRORS, DatabaseURLError, describe_url, init_schema, open_database
from .logs import BufferedStreamHandler, setup_logging

EXIT_USAGE = 2


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
    flusher = gevent.spawn(_flush_logs_forever, handler)
    try:
        server.serve_forever()
    except OSError as exc:
        _fail(f"cannot listen on {config.esl_host}:{config.esl_port}: {exc.strerror or exc} "
              "(set esl.port in the config or HOTLINE_ESL_PORT)")
    finally:
        flusher.kill()
        runner.close()
        handler.tick()


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
    try:
        with click.progressbar(length=total, label="importing customers", file=sys.stderr) as bar:
            report = import_customers(database, csv_file, mapping, progress=bar.update)
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
    if report.rejected:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
