"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, a fake clock, users."""

from __future__ import annotations

import os
import uuid

# Every test step also walks the task tree to check the incrementally derived READY tasks.
os.environ.setdefault("PAIGONG_CHECK_SNAPSHOT", "1")

import pytest
from sqlalchemy import create_engine, text

from engine import Database, Engine, FakeClock, identity
from engine.models import Base
from engine.schema import upgrade

PG_ADMIN_URL = os.environ.get("PAIGONG_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
WORKFLOWS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "workflows")


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_url():
    """A database of our own on the PostgreSQL server, migrated once per test session."""
    reason = _pg_available()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    name = f"paigong_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    db = Database.connect(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.write_engine.begin() as c:
        c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with db.write() as s:
        identity.ensure_standard_groups(s)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """A fresh, migrated database: SQLite file, or a truncated PostgreSQL database."""
    if request.param == "sqlite":
        database = Database.connect(f"sqlite:///{tmp_path}/test.sqlite3")
        upgrade(database)
    else:
        url = request.getfixturevalue("pg_url")
        database = Database.connect(url)
        _truncate_pg(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path):
    database = Database.connect(f"sqlite:///{tmp_path}/test.sqlite3")
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(pg_url):
    database = Database.connect(pg_url)
    _truncate_pg(database)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return FakeClock()


def make_engine(database: Database, clock: FakeClock, **kwargs) -> Engine:
    return Engine(database, clock=clock, **kwargs)


@pytest.fixture
def engine(db, clock):
    return make_engine(db, clock)


def make_user(database: Database, username: str, *groups: str, roles=("staff",)):
    with database.write() as s:
        identity.create_user(s, username, "secret-pass-1", username, groups=groups, roles=roles)
    with database.read() as s:
        return identity.actor_for(s, username)
