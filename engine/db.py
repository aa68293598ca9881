"""Database engines and session factories (SQLite by default, PostgreSQL in production).

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for write transactions, so two
writers queue instead of failing on a lock upgrade; reads use plain deferred transactions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///instance/paigong.sqlite3"


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(eng, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions are off).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # fewer, larger checkpoints: each one syncs the database file
        cur.execute("PRAGMA wal_autocheckpoint=8000")
        cur.close()

    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(eng, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        conn.connection.dbapi_connection.execute(statement)

    return eng


@dataclass
class Database:
    """A database URL with one engine for writes and one for reads.

    On PostgreSQL both are the same engine; on SQLite the write engine starts every
    transaction with ``BEGIN IMMEDIATE``.
    """

    url: str
    write_engine: Engine
    read_engine: Engine

    @classmethod
    def connect(cls, url: str | None = None) -> Database:
        url = url or DEFAULT_URL
        if url.startswith("sqlite"):
            _ensure_sqlite_dir(url)
            return cls(url, _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False))
        eng = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        return cls(url, eng, eng)

    @property
    def is_sqlite(self) -> bool:
        return self.write_engine.dialect.name == "sqlite"

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._held: dict[int, Connection] = {}
        self._held_lock = threading.Lock()
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on any exception."""
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def step(self) -> Iterator[Connection]:
        """One write transaction on this thread's own connection (the engine's hot path).

        The connection stays checked out for the thread, which saves a pool round trip per
        step; a failed transaction is rolled back and the connection dropped.
        """
        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = self.write_engine.connect()
            self._local.connection = connection
            self._hold(connection)
        try:
            with connection.begin():
                yield connection
        except BaseException:
            self._local.connection = None
            connection.close()
            raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read-only transaction (rolled back at the end)."""
        session = self._reader()
        try:
            yield session
        finally:
            session.close()  # ends the transaction without expiring what was loaded

    def _hold(self, connection: Connection) -> None:
        """Remember this thread's connection; close those of threads that have ended."""
        alive = {t.ident for t in threading.enumerate()}
        with self._held_lock:
            for ident in [i for i in self._held if i not in alive]:
                _close_quietly(self._held.pop(ident))
            previous = self._held.get(threading.get_ident())
            if previous is not None and previous is not connection:
                _close_quietly(previous)
            self._held[threading.get_ident()] = connection

    def dispose(self) -> None:
        with self._held_lock:
            for connection in self._held.values():
                _close_quietly(connection)
            self._held.clear()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _close_quietly(connection: Connection) -> None:
    try:
        connection.close()
    except Exception:  # already closed or broken: nothing left to release
        pass


def _ensure_sqlite_dir(url: str) -> None:
    import os

    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
