"""``paigong backup`` / ``paigong restore``: every table round-trips with equal counts and
checksums on SQLite, on PostgreSQL and from SQLite to PostgreSQL, and the restored database
serves: orders started before the backup finish after the restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile

import pytest
from sqlalchemy import create_engine, func, select, text

from engine import Actor, Database, Engine, FakeClock, backup
from engine.models import Base, Event, Instance, Outbox, TaskArchive
from engine.schema import upgrade
from tests.conftest import PG_ADMIN_URL, WORKFLOWS, make_user
from tests.engine.conftest import model_dir
from tests.reliability import invariants
from tests.reliability.conftest import SERVICE, reliability_model

ADMIN = Actor("boss", frozenset({"admin"}), frozenset({"admin"}))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def pg_target(pg_url):
    """A second, freshly migrated PostgreSQL database to restore into."""
    name = f"paigong_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    upgrade(database)
    yield database
    database.dispose()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_target(tmp_path):
    database = Database.connect(f"sqlite:///{tmp_path}/restored.sqlite3")
    upgrade(database)
    yield database
    database.dispose()


def populate(db: Database, *, everything: bool = True) -> dict[str, int]:
    """A bit of everything: demo users and reference data, definitions, orders at every
    stage (open tasks, timers, messages, incidents, archived history, outbox, audit)."""
    from web.demo import load_demo

    clock = FakeClock()
    eng = Engine(db, clock=clock)
    if everything:
        eng.deploy_directory(WORKFLOWS)
    eng.deploy_directory(model_dir("basic"))
    eng.deploy_directory(reliability_model("race"))
    if everything:
        list(load_demo(eng))
    tech = make_user(db, "backup_tech", "technician")
    orders = {}
    for i in range(6):  # loops of the race model: archived task records and notifications
        started = eng.start("race", {"work_order_no": f"WO-B{i}", "limit": 2, "note": "<b>原样</b>\u0000"})
        orders[f"race{i}"] = started.instance_id
        for _ in range(i % 3):
            task = eng.get_instance(started.instance_id).open_tasks[0]
            eng.complete(task.id, {"ok": True, "note": f"第{i}单"}, actor=tech)
            if eng.get_instance(started.instance_id).status == "waiting":
                eng.send_message("poke", f"WO-B{i}", {"by": "备份测试"})
    waiting = eng.start("basic", {"work_order_no": "WO-BW", "customer_name": "刘芳"})
    eng.complete(waiting.open_tasks[0].id, {"ok": True}, actor=tech)
    orders["waiting"] = waiting.instance_id
    SERVICE["fail"] = True
    failing = eng.start("basic", {"work_order_no": "WO-BE"})
    assert eng.complete(failing.open_tasks[0].id, {"ok": True}, actor=tech).status == "error"
    SERVICE["fail"] = False
    orders["failing"] = failing.instance_id
    orders["timer"] = eng.start("basic", {"work_order_no": "WO-BT"}).instance_id
    finished = eng.start("race", {"work_order_no": "WO-BF", "limit": 1})
    eng.complete(finished.open_tasks[0].id, {"ok": True}, actor=tech)
    orders["finished"] = finished.instance_id
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TaskArchive)) > 0
        assert s.scalar(select(func.count()).select_from(Outbox)) > 0
    return orders


def assert_round_trip(source: Database, target: Database, path: str) -> backup.BackupSummary:
    written = backup.backup(source, path)
    assert written.by_table() == backup.summarize(source).by_table()
    assert {t.name for t in written.tables} == {t.name for t in backup.tables()}
    assert written.rows > 300 and sum(1 for t in written.tables if t.rows) >= 15
    restored = backup.restore(target, path)
    assert restored.by_table() == written.by_table()
    assert backup.summarize(target).by_table() == written.by_table()  # counts and checksums equal
    assert invariants.check(target).problems == []
    return written


def assert_serves(target: Database, orders: dict[str, int]) -> None:
    """Orders started before the backup go on and finish on the restored database."""
    clock = FakeClock()
    eng = Engine(target, clock=clock)
    with target.read() as s:
        before = s.scalar(select(func.max(Event.id)))
    with target.read() as s:
        from engine import identity

        tech = identity.actor_for(s, "backup_tech")
    assert eng.send_message("urge", "WO-BW", {}).status == "running"
    second = eng.get_instance(orders["waiting"]).open_tasks[0]
    assert eng.complete(second.id, {}, actor=tech).status == "completed"
    assert eng.retry(orders["failing"], actor=ADMIN).status == "waiting"
    clock.advance(hours=3)
    assert eng.fire_due_jobs() >= 1
    assert [t.element_id for t in eng.get_instance(orders["timer"]).open_tasks] == ["escalate"]
    fresh = eng.start("race", {"work_order_no": "WO-AFTER", "limit": 1})  # ids continue after the restored
    assert fresh.instance_id > max(orders.values())
    with target.read() as s:
        assert s.scalar(select(func.min(Event.id)).where(Event.id > before)) > before
    assert invariants.check(target).problems == []


def test_backup_and_restore_round_trip_on_sqlite_and_the_restored_database_serves(sqlite_db, sqlite_target,
                                                                                 tmp_path, figures):
    orders = populate(sqlite_db)
    assert_round_trip(sqlite_db, sqlite_target, str(tmp_path / "paigong.zip"))
    figures.add("backup", "round trips (SQLite, PostgreSQL, SQLite to PostgreSQL)")
    assert_serves(sqlite_target, orders)


def test_backup_and_restore_round_trip_on_postgresql_and_the_restored_database_serves(pg_db, pg_target,
                                                                                     tmp_path, figures):
    orders = populate(pg_db)
    assert_round_trip(pg_db, pg_target, str(tmp_path / "paigong.zip"))
    figures.add("backup", "round trips (SQLite, PostgreSQL, SQLite to PostgreSQL)")
    assert_serves(pg_target, orders)


def test_a_sqlite_backup_restores_into_postgresql_with_equal_checksums(sqlite_db, pg_target, tmp_path, figures):
    orders = populate(sqlite_db)
    written = assert_round_trip(sqlite_db, pg_target, str(tmp_path / "grown-up.zip"))
    figures.add("backup", "round trips (SQLite, PostgreSQL, SQLite to PostgreSQL)")
    figures.add("backup", "rows restored into PostgreSQL from SQLite", written.rows)
    assert backup.read_manifest(str(tmp_path / "grown-up.zip"))["source"] == "sqlite"
    assert written.by_table()["process_instance"][0] == len(orders) + 2  # plus the demo orders
    assert_serves(pg_target, orders)


def test_restore_refuses_a_database_with_data_unless_forced(sqlite_db, sqlite_target, tmp_path):
    populate(sqlite_db, everything=False)
    path = str(tmp_path / "b.zip")
    backup.backup(sqlite_db, path)
    Engine(sqlite_target, clock=FakeClock()).deploy_directory(model_dir("basic"))
    before = backup.summarize(sqlite_target)
    with pytest.raises(backup.BackupError, match="不是空的"):
        backup.restore(sqlite_target, path)
    assert backup.summarize(sqlite_target) == before
    backup.restore(sqlite_target, path, force=True)
    assert backup.summarize(sqlite_target).by_table() == backup.summarize(sqlite_db).by_table()


def test_a_damaged_or_foreign_backup_is_refused_before_anything_is_written(sqlite_db, sqlite_target, tmp_path):
    populate(sqlite_db, everything=False)
    good = str(tmp_path / "good.zip")
    backup.backup(sqlite_db, good)
    empty = backup.summarize(sqlite_target)

    def rewritten(name: str, change) -> str:
        bad = str(tmp_path / f"bad-{uuid.uuid4().hex[:6]}.zip")
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
            for item in src.infolist():
                data = src.read(item.filename)
                dst.writestr(item.filename, change(data) if item.filename == name else data)
        return bad

    def manifest_with(**changes):
        def change(data: bytes) -> bytes:
            manifest = json.loads(data)
            manifest.update(changes)
            return json.dumps(manifest).encode()
        return change

    damaged = [
        rewritten("tables/process_instance.jsonl", lambda d: d.replace(b'"waiting"', b'"running"', 1)),
        rewritten("tables/event.jsonl", lambda d: d[: len(d) // 2]),
        rewritten("manifest.json", manifest_with(revision="0000_other")),
        rewritten("manifest.json", manifest_with(format=99)),
    ]
    (tmp_path / "not-a-zip.zip").write_bytes(b"PK\x03\x04 not really")
    damaged.append(str(tmp_path / "not-a-zip.zip"))
    for path in damaged:
        with pytest.raises(backup.BackupError):
            backup.restore(sqlite_target, path)
        assert backup.summarize(sqlite_target) == empty


def test_every_table_of_the_models_is_in_the_backup():
    names = {t.name for t in backup.tables()}
    assert names == {t.name for t in Base.metadata.sorted_tables} - {"alembic_version"}
    assert {"process_instance", "task_archive", "event", "outbox", "ref_product", "staff_user"} <= names


def test_the_paigong_backup_and_restore_commands(sqlite_db, tmp_path):
    populate(sqlite_db, everything=False)
    target_url = f"sqlite:///{tmp_path}/cli-target.sqlite3"
    upgrade(Database.connect(target_url))
    path = str(tmp_path / "cli.zip")
    env = dict(os.environ, PAIGONG_SECRET_KEY="test-secret", PAIGONG_WORKFLOWS=WORKFLOWS)
    paigong = [sys.executable, "-c", "from paigong.cli import main; main()"]

    def run(url, *args):
        return subprocess.run([*paigong, *args], cwd=ROOT, env=dict(env, PAIGONG_DATABASE_URL=url),
                              capture_output=True, text=True, timeout=300)

    made = run(sqlite_db.url, "backup", path)
    assert made.returncode == 0, made.stderr
    assert "process_instance" in made.stdout and "完成" in made.stdout
    loaded = run(target_url, "restore", path)
    assert loaded.returncode == 0, loaded.stderr
    assert "行数与校验和与备份一致" in loaded.stdout
    again = run(target_url, "restore", path)
    assert again.returncode == 1 and "--force" in again.stderr
    assert run(target_url, "restore", "--force", path).returncode == 0
    target = Database.connect(target_url)
    try:
        assert backup.summarize(target).by_table() == backup.summarize(sqlite_db).by_table()
        with target.read() as s:
            assert s.scalar(select(func.count()).select_from(Instance)) > 0
    finally:
        target.dispose()
