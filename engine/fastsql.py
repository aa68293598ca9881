"""The few statements every step runs, sent straight to the database driver.

Building and executing SQLAlchemy statements costs more than SQLite needs to run them, and
these run several times per user click. Values are written exactly as the SQLAlchemy models
store them (UTC datetimes as SQLAlchemy's SQLite text format, JSON as text), so the ORM and
the queries read them back unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"

LOCK = ("SELECT id, status, version, definition_id, business_key, process_id, ended_at "
        "FROM process_instance WHERE id = ?")
STATE = "SELECT state FROM process_instance WHERE id = ?"
TASK_HEAD = ("SELECT id, instance_id, status, assignee, group_id, form, element_id, completed_by "
             "FROM human_task WHERE id = ?")
COMPLETE_TASK = ("UPDATE human_task SET status = 'completed', completed_at = ?, completed_by = ?, "
                 "assignee = COALESCE(assignee, ?), draft = NULL "
                 "WHERE id = ? AND status = 'open' AND (assignee = ? OR (assignee IS NULL AND ?))")
TASK_COLUMNS = ("id", "instance_id", "process_id", "element_id", "name", "group_id", "assignee", "status", "form",
                "due_at", "created_at", "work_order_no", "order_type", "zone", "customer_name", "customer_phone",
                "product_model", "serial_no")
LATEST_DEFINITION = ("SELECT id, process_id, version FROM process_definition WHERE process_id = ? "
                     "ORDER BY version DESC LIMIT 1")
NEW_INSTANCE = ("INSERT INTO process_instance (definition_id, process_id, business_key, customer_phone, serial_no, "
                "status, version, state, summary, started_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'running', 1, '', '{}', ?, ?, ?) RETURNING id")
DELETE_TIMER = "DELETE FROM job WHERE instance_id = ? AND task_id = ? AND kind = 'timer'"
MOVE_TIMER = "UPDATE job SET due_at = ?, status = 'pending' WHERE instance_id = ? AND task_id = ? AND kind = 'timer'"
NEW_TIMER = ("INSERT INTO job (instance_id, kind, task_id, element_id, due_at, status, attempts) "
             "VALUES (?, 'timer', ?, ?, ?, 'pending', 0)")
DELETE_SUBSCRIPTION = ("DELETE FROM message_subscription WHERE instance_id = ? AND element_id = ? "
                       "AND message_name = ?")
NEW_SUBSCRIPTION = ("INSERT INTO message_subscription (instance_id, message_name, business_key, element_id) "
                    "VALUES (?, ?, ?, ?)")
ARCHIVED = "SELECT record FROM task_archive WHERE instance_id = ? ORDER BY seq"
ARCHIVE = "INSERT INTO task_archive (instance_id, seq, record) VALUES (?, ?, ?)"
EVENT_COLUMNS = ("instance_id", "at", "actor", "kind", "element_id", "task_id", "data")


class FastSQL:
    """Driver-level execution on the connection of the current SQLAlchemy transaction."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self._last_time: tuple[datetime | None, Any] = (None, None)

    def _sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def time(self, value: datetime | None):
        if value is None or not self.sqlite:
            return value
        last, text = self._last_time  # a step stamps several rows with the same time
        if value != last or value.tzinfo != last.tzinfo:
            text = value.astimezone(UTC).strftime(_SQLITE_TIME)
            self._last_time = (value, text)
        return text

    def json(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def flag(self, value: bool):
        return int(value) if self.sqlite else bool(value)

    def _cursor(self, conn):
        return conn.connection.driver_connection.cursor()

    def one(self, conn, text: str, params: tuple) -> tuple | None:
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(text), params)
            return cur.fetchone()
        finally:
            cur.close()

    def run(self, conn, text: str, params: tuple) -> int:
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(text), params)
            return cur.rowcount
        finally:
            cur.close()

    def many(self, conn, text: str, rows: list[tuple]) -> None:
        cur = self._cursor(conn)
        try:
            cur.executemany(self._sql(text), rows)
        finally:
            cur.close()

    def bump(self, conn, instance_id: int, version: int, values: dict[str, Any]) -> int:
        """``UPDATE process_instance SET ..., version = version + 1 WHERE id AND version``."""
        names, params = [], []
        for key, value in values.items():
            names.append(f"{key} = ?")
            if key in ("updated_at", "ended_at"):
                value = self.time(value)
            elif key == "summary":
                value = self.json(value)
            params.append(value)
        sql = f"UPDATE process_instance SET {', '.join(names)}, version = version + 1 WHERE id = ? AND version = ?"
        return self.run(conn, sql, (*params, instance_id, version))

    def insert_tasks(self, conn, rows: list[dict[str, Any]]) -> None:
        marks = ", ".join("?" for _ in TASK_COLUMNS)
        sql = f"INSERT INTO human_task ({', '.join(TASK_COLUMNS)}) VALUES ({marks})"
        self.many(conn, sql, [tuple(self.time(r[c]) if c in ("due_at", "created_at") else r[c] for c in TASK_COLUMNS)
                              for r in rows])

    def insert_events(self, conn, rows: list[dict[str, Any]]) -> None:
        marks = ", ".join("?" for _ in EVENT_COLUMNS)
        sql = f"INSERT INTO event ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})"
        stamps: dict[datetime, Any] = {}
        self.many(conn, sql, [(r["instance_id"], stamps.get(r["at"]) or stamps.setdefault(r["at"], self.time(r["at"])),
                               r["actor"], r["kind"], r.get("element_id"), r.get("task_id"), self.json(r.get("data")))
                              for r in rows])
