"""pytest fixtures for esl_app tests (loaded with ``pytest_plugins`` by the esl_app test modules).

``backend`` parametrises a test over SQLite and a real PostgreSQL server; the PostgreSQL cluster is
started once per session and always stopped. When it cannot start, the PostgreSQL half of every
test is skipped with the reason, so a machine without PostgreSQL never passes them silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from esl_app.config import Config
from esl_app.db import init_schema, open_database

from .harness import RunningServer
from .pg import Cluster, PostgresUnavailable, start_cluster

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/hotline.db"
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = f"hotline_t{next(_counter)}"
    cluster.admin(f"CREATE DATABASE {name}")
    try:
        yield cluster.url(name)
    finally:
        try:
            cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception as exc:  # noqa: BLE001 - the cluster may have been stopped by the test itself
            print(f"could not drop {name}: {exc}")


@pytest.fixture
def database(db_url: str):
    db = open_database(db_url, query_timeout_ms=2000)
    init_schema(db)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def config(db_url: str) -> Config:
    return Config(db_url=db_url, esl_port=0, lookup_deadline_ms=500, command_timeout_ms=3000, db_threads=4)


@pytest.fixture
def served(config: Config, database) -> Iterator[RunningServer]:
    running = RunningServer(config, database)
    try:
        yield running
    finally:
        running.close()
