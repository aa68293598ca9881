"""Backup and restore of the whole database as one portable file.

The file is a zip: ``manifest.json`` (format, schema revision, and per table its row count
and the sha256 of its data file) and ``tables/<table>.jsonl``, one JSON object per row in
primary-key order. Values are written by column type, not by backend (times as ISO-8601
UTC, JSON columns as JSON, decimals as text, bytes as base64), so a SQLite backup restores
into PostgreSQL and the checksums of the same data agree on both.

Every table of the models' metadata is included (reference data, channels and admin
tables too, as other modules add them); a table the database has but no model declares is
an error, not a silent gap. Restore goes into a migrated database of the same schema
revision, in one transaction: the file is verified first (counts and checksums), the
target must hold no more than what ``paigong init`` creates (standard groups, seeded
templates) unless forced, its rows are replaced, and PostgreSQL sequences are moved past
the restored ids.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

import engine.facade  # noqa: F401 - every model module registers its tables on Base.metadata
from engine.db import Database
from engine.errors import EngineError
from engine.models import Base

FORMAT = 1
BATCH = 1000
SKIPPED_TABLES = frozenset({"alembic_version"})  # the schema revision goes into the manifest


class BackupError(EngineError):
    """The backup file or the target database is not fit for the operation."""

    code = "backup"


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, or what a restore wrote."""

    revision: str | None
    tables: tuple[TableSummary, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def by_table(self) -> dict[str, tuple[int, str]]:
        return {t.name: (t.rows, t.sha256) for t in self.tables}


def tables(metadata: MetaData = Base.metadata) -> list[Table]:
    """The tables to back up, parents before children."""
    return [t for t in metadata.sorted_tables if t.name not in SKIPPED_TABLES]


# -- values --------------------------------------------------------------------------------


def _python_type(column) -> type | None:
    kind = column.type
    while isinstance(kind, TypeDecorator):  # e.g. UTCDateTime: its python_type says object
        kind = kind.impl_instance
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _encoder(column) -> Callable[[Any], Any]:
    kind = _python_type(column)
    if kind is datetime:
        return lambda v: v if v is None else _utc(v).isoformat()
    if kind in (date, time):
        return lambda v: v if v is None else v.isoformat()
    if kind is Decimal:
        return lambda v: v if v is None else str(v)
    if kind is bytes:
        return lambda v: v if v is None else base64.b64encode(bytes(v)).decode("ascii")
    return lambda v: v


def _decoder(column) -> Callable[[Any], Any]:
    kind = _python_type(column)
    if kind is datetime:
        return lambda v: v if v is None else _utc(datetime.fromisoformat(v))
    if kind is date:
        return lambda v: v if v is None else date.fromisoformat(v)
    if kind is time:
        return lambda v: v if v is None else time.fromisoformat(v)
    if kind is Decimal:
        return lambda v: v if v is None else Decimal(v)
    if kind is bytes:
        return lambda v: v if v is None else base64.b64decode(v)
    return lambda v: v


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _line(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


# -- reading a database --------------------------------------------------------------------


def _ordered(connection: Connection, table: Table):
    """``SELECT *`` in primary-key order, strings compared by code point on every backend."""
    keys = list(table.primary_key.columns) or list(table.columns)
    order = []
    for column in keys:
        if connection.dialect.name == "postgresql" and _python_type(column) is str:
            order.append(column.collate("C"))
        else:
            order.append(column)
    return select(table).order_by(*order)


def _rows(connection: Connection, table: Table) -> Iterator[bytes]:
    encoders = [(c.name, _encoder(c)) for c in table.columns]
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(_ordered(connection, table))
    for row in result:
        mapping = row._mapping
        yield _line({name: encode(mapping[name]) for name, encode in encoders})


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _check_covered(connection: Connection, metadata: MetaData) -> None:
    known = {t.name for t in metadata.sorted_tables} | SKIPPED_TABLES
    unknown = sorted(set(inspect(connection).get_table_names()) - known)
    if unknown:
        raise BackupError(f"数据库中有模型未声明的表，无法完整备份: {', '.join(unknown)}")


def _snapshot(db: Database) -> Connection:
    """A connection that sees one consistent state of every table."""
    connection = db.read_engine.connect()
    if connection.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    connection.begin()
    return connection


def summarize(db: Database, metadata: MetaData = Base.metadata) -> BackupSummary:
    """Row counts and checksums of the database's tables, computed as a backup would."""
    with _snapshot(db) as connection:
        found = []
        for table in tables(metadata):
            digest, count = hashlib.sha256(), 0
            for line in _rows(connection, table):
                digest.update(line)
                count += 1
            found.append(TableSummary(table.name, count, digest.hexdigest()))
        return BackupSummary(_revision(connection), tuple(found))


def backup(db: Database, path: str, metadata: MetaData = Base.metadata) -> BackupSummary:
    """Write every table to the zip file ``path`` (replaced only once it is complete).

    :raises BackupError: the database has a table no model declares
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, partial = tempfile.mkstemp(prefix=".paigong-backup-", suffix=".zip", dir=folder)
    os.close(handle)
    try:
        with _snapshot(db) as connection:
            _check_covered(connection, metadata)
            revision = _revision(connection)
            summaries = []
            with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for table in tables(metadata):
                    digest, count = hashlib.sha256(), 0
                    with archive.open(f"tables/{table.name}.jsonl", "w", force_zip64=True) as out:
                        for line in _rows(connection, table):
                            out.write(line)
                            digest.update(line)
                            count += 1
                    summaries.append(TableSummary(table.name, count, digest.hexdigest()))
                manifest = {
                    "format": FORMAT,
                    "created_at": datetime.now(UTC).isoformat(),
                    "source": connection.dialect.name,
                    "revision": revision,
                    "tables": {s.name: {"rows": s.rows, "sha256": s.sha256,
                                        "columns": [c.name for c in metadata.tables[s.name].columns]}
                               for s in summaries},
                }
                archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1))
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    return BackupSummary(revision, tuple(summaries))


# -- restoring -----------------------------------------------------------------------------


def read_manifest(path: str) -> dict[str, Any]:
    """The manifest of a backup file.

    :raises BackupError: not a backup file of a format we read
    """
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise BackupError(f"不是有效的备份文件: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"不支持的备份格式 {manifest.get('format')!r}")
    return manifest


def verify(path: str) -> BackupSummary:
    """Check every table file against the manifest (row count and sha256).

    :raises BackupError: naming the first table that does not match
    """
    manifest = read_manifest(path)
    found = []
    with zipfile.ZipFile(path) as archive:
        for name, expected in manifest["tables"].items():
            digest, count = hashlib.sha256(), 0
            try:
                with archive.open(f"tables/{name}.jsonl") as lines:
                    for line in lines:
                        digest.update(line)
                        count += 1
            except (KeyError, zipfile.BadZipFile) as exc:
                raise BackupError(f"备份文件中表 {name} 的数据缺失或损坏: {exc}") from None
            if count != expected["rows"] or digest.hexdigest() != expected["sha256"]:
                raise BackupError(f"备份文件中表 {name} 与清单不符 (行数 {count}/{expected['rows']}，校验和不同)")
            found.append(TableSummary(name, count, expected["sha256"]))
    return BackupSummary(manifest.get("revision"), tuple(found))


@lru_cache(maxsize=1)
def _initial_counts() -> dict[str, int]:
    """Rows per table of a database just made by ``paigong init`` (migrations seed some)."""
    from engine.schema import upgrade

    with tempfile.TemporaryDirectory() as folder:
        fresh = Database.connect(f"sqlite:///{folder}/fresh.sqlite3")
        try:
            upgrade(fresh)
            with fresh.read() as s:
                return {t.name: s.execute(select(func.count()).select_from(t)).scalar() for t in tables()}
        finally:
            fresh.dispose()


def _beyond_initial_data(connection: Connection, metadata: MetaData) -> list[str]:
    """Tables holding more rows than ``paigong init`` puts into a new database."""
    initial = _initial_counts()
    busy = []
    for table in tables(metadata):
        count = connection.execute(select(func.count()).select_from(table)).scalar()
        if count > initial.get(table.name, 0):
            busy.append(f"{table.name} ({count} 行)")
    return busy


def restore(db: Database, path: str, *, force: bool = False, metadata: MetaData = Base.metadata) -> BackupSummary:
    """Load the backup at ``path`` into the (migrated) database, in one transaction.

    :raises BackupError: the file is damaged, the schema revisions differ, the backup has a
        table this version does not know, or the target holds data and ``force`` is off
    """
    summary = verify(path)
    manifest = read_manifest(path)
    known = {t.name: t for t in tables(metadata)}
    unknown = sorted(set(manifest["tables"]) - set(known))
    if unknown:
        raise BackupError(f"备份中有本版本不认识的表: {', '.join(unknown)}")
    with db.write_engine.connect() as connection, connection.begin():
        revision = _revision(connection)
        if revision is None:
            raise BackupError("目标数据库尚未初始化，请先运行 paigong init")
        if manifest.get("revision") and manifest["revision"] != revision:
            raise BackupError(f"数据库结构版本不同 (备份 {manifest['revision']}，目标 {revision})；"
                              "请先把两边升级到同一版本")
        busy = _beyond_initial_data(connection, metadata)
        if busy and not force:
            raise BackupError("目标数据库不是空的: " + ", ".join(busy) + "；确认覆盖请加 --force")
        for table in reversed(tables(metadata)):
            connection.execute(table.delete())
        with zipfile.ZipFile(path) as archive:
            for table in tables(metadata):
                if table.name in manifest["tables"]:
                    _load_table(connection, archive, table, manifest["tables"][table.name]["columns"])
        if connection.dialect.name == "postgresql":
            _move_sequences(connection, metadata)
    return summary


def _load_table(connection: Connection, archive: zipfile.ZipFile, table: Table, columns: list[str]) -> None:
    missing = [c.name for c in table.columns if c.name not in columns and not c.nullable
               and c.server_default is None and c.default is None]
    if missing:
        raise BackupError(f"备份中表 {table.name} 缺少必填列: {', '.join(missing)}")
    decoders = {c.name: _decoder(c) for c in table.columns if c.name in columns}
    batch: list[dict[str, Any]] = []
    with archive.open(f"tables/{table.name}.jsonl") as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            row = json.loads(line)
            batch.append({name: decode(row.get(name)) for name, decode in decoders.items()})
            if len(batch) >= BATCH:
                connection.execute(table.insert(), batch)
                batch = []
    if batch:
        connection.execute(table.insert(), batch)


def _move_sequences(connection: Connection, metadata: MetaData) -> None:
    """Let PostgreSQL hand out ids after the restored ones."""
    for table in tables(metadata):
        for column in table.primary_key.columns:
            if _python_type(column) is not int:
                continue
            sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                          {"t": table.name, "c": column.name}).scalar()
            if sequence:
                connection.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM '
                                        f'"{table.name}"), 0) + 1, false)'), {"s": sequence})
