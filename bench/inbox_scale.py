"""Inbox at scale: a group's queue filtered and sorted by work-order fields, at 10k and 100k open orders.

The projections are written in bulk (``process_instance`` rows and their ``human_task``
rows: benchmark data, no workflow runs; SQL ``executemany`` on SQLite, ``COPY`` on
PostgreSQL) into two databases, each with the same history (finished orders with
1,000,000 completed tasks), one with 10,000 open orders and one with 100,000; the query is
timed on both in alternating chunks, side by side. The query is the engine's own (:meth:`engine.queries.Queries.queue` with a
:class:`~engine.queries.TaskFilter`), the one behind the inbox page and ``GET
/api/v1/tasks?tab=queue``: the dispatcher group's unassigned open tasks of one order type,
sorted by customer name, first page and count; also the page's three tab counts. Wall-clock
and the calling thread's CPU time are both reported: on a shared machine the latter moves
far less when other processes load it.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import percentile, pg_database
from bench.inbox_bench import MODELS, ORDER_TYPES, STEPS, SURNAMES, TECHNICIANS

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TASK_COLUMNS = ("id", "instance_id", "process_id", "element_id", "name", "group_id", "assignee", "status", "form",
                "due_at", "created_at", "completed_at", "completed_by", "work_order_no", "order_type", "zone",
                "customer_name", "customer_phone", "product_model", "serial_no")
INSTANCE_COLUMNS = ("id", "definition_id", "process_id", "business_key", "customer_phone", "serial_no", "status",
                    "version", "state", "summary", "started_by", "created_at", "updated_at", "ended_at")
OFFICE = ["diaodu", "huifang", "kefu"] + [f"office{i:02d}" for i in range(27)]  # who finished the office tasks
FILTER = {"order_type": "repair", "sort": "customer_name"}


class Seeder:
    def __init__(self, db, definition_id: int, seed: int = 5) -> None:
        self.db, self.definition_id = db, definition_id
        self.rng = random.Random(seed)
        self.next_id = 1
        self.sqlite = db.is_sqlite

    def _time(self, value: datetime | None):
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def _order(self, i: int) -> dict:
        rng = self.rng
        return {"work_order_no": f"WO-2026{(i % 12) + 1:02d}{(i % 28) + 1:02d}-{i:07d}",
                "order_type": rng.choice(ORDER_TYPES), "zone": rng.choice(("in_city", "in_city", "out_of_city")),
                "customer_name": rng.choice(SURNAMES) + rng.choice("芳伟强敏静磊洋艳军杰"),
                "customer_phone": f"13{i:09d}", "product_model": rng.choice(MODELS), "serial_no": f"SN{i:010d}"}

    def add(self, *, open_orders: int = 0, finished_orders: int = 0, tasks_per_finished: int = 10,
            echo: Callable[[str], None] | None = None) -> None:
        """Write finished orders (each with completed tasks) and open orders (one open task each)."""
        import json

        rng = self.rng
        instances: list[tuple] = []
        tasks: list[tuple] = []
        total = open_orders + finished_orders
        started = time.monotonic()
        for k in range(total):
            i = self.next_id
            self.next_id += 1
            order = self._order(i)
            created = NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 300))
            finished = k < finished_orders
            ended = created + timedelta(hours=rng.randint(2, 200)) if finished else None
            instances.append((i, self.definition_id, "work_order", order["work_order_no"], order["customer_phone"],
                              order["serial_no"], "completed" if finished else "waiting", 1, "{}",
                              json.dumps(order, ensure_ascii=False), "kefu", self._time(created),
                              self._time(ended or created), self._time(ended)))
            fields = tuple(order[c] for c in TASK_COLUMNS[13:])
            if finished:
                for t in range(tasks_per_finished):
                    element, name, group, assigned, _share = STEPS[t % len(STEPS)]
                    who = rng.choice(TECHNICIANS) if assigned else rng.choice(OFFICE)
                    done = created + timedelta(minutes=10 * (t + 1))
                    tasks.append((str(uuid.UUID(int=rng.getrandbits(128))), i, "work_order", element, name, group,
                                  who, "completed", None, None, self._time(created), self._time(done), who, *fields))
            else:
                element, name, group, assigned, _share = rng.choices(STEPS, weights=[s[4] for s in STEPS])[0]
                due = created + timedelta(hours=rng.choice((2, 8, 24, 72, 168))) if element != "dispatch" else None
                tasks.append((str(uuid.UUID(int=rng.getrandbits(128))), i, "work_order", element, name, group,
                              rng.choice(TECHNICIANS) if assigned else None, "open", None, self._time(due),
                              self._time(created), None, None, *fields))
            if len(instances) >= 20_000:
                self._write(instances, tasks)
                instances, tasks = [], []
                if echo is not None:
                    echo(f"    已写入 {k + 1}/{total} 张工单 ({time.monotonic() - started:.0f}s)")
        self._write(instances, tasks)
        with self.db.write_engine.begin() as c:
            c.exec_driver_sql("ANALYZE")

    def _write(self, instances: list[tuple], tasks: list[tuple]) -> None:
        if not instances:
            return
        with self.db.write_engine.begin() as c:
            raw = c.connection.driver_connection
            if self.sqlite:
                cur = raw.cursor()
                cur.executemany(f"INSERT INTO process_instance ({', '.join(INSTANCE_COLUMNS)}) VALUES "
                                f"({', '.join('?' for _ in INSTANCE_COLUMNS)})", instances)
                cur.executemany(f"INSERT INTO human_task ({', '.join(TASK_COLUMNS)}) VALUES "
                                f"({', '.join('?' for _ in TASK_COLUMNS)})", tasks)
                cur.close()
            else:
                with raw.cursor() as cur:
                    for table, columns, rows in (("process_instance", INSTANCE_COLUMNS, instances),
                                                 ("human_task", TASK_COLUMNS, tasks)):
                        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)


def time_side_by_side(sides: dict[str, tuple], requests: int) -> dict[str, dict]:
    """Time the query on every database in alternating chunks of ten, so that a busy moment
    of the shared machine hits all sizes alike."""
    from engine import TaskFilter

    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    counts_ms: dict[str, list[float]] = {k: [] for k in sides}
    totals: dict[str, int] = {}
    for eng, actor in sides.values():
        for _ in range(5):
            eng.queue(actor, TaskFilter(**FILTER))
    for chunk in range(0, requests, 10):
        for key, (eng, actor) in sides.items():
            for i in range(chunk, min(requests, chunk + 10)):
                flt = TaskFilter(**FILTER, page=1 + i % 3)
                started, started_cpu = time.perf_counter(), time.thread_time()
                page = eng.queue(actor, flt)
                wall[key].append((time.perf_counter() - started) * 1000)
                cpu[key].append((time.thread_time() - started_cpu) * 1000)
                totals[key] = page.total
                started = time.perf_counter()
                eng.counts(actor)
                counts_ms[key].append((time.perf_counter() - started) * 1000)
    return {key: {"p50_ms": round(percentile(wall[key], 0.5), 2), "p95_ms": round(percentile(wall[key], 0.95), 2),
                  "cpu_p95_ms": round(percentile(cpu[key], 0.95), 2), "matching": totals[key],
                  "counts_p95_ms": round(percentile(counts_ms[key], 0.95), 2), "requests": requests}
            for key in sides}


def build_db(url: str, open_orders: int, completed_tasks: int, echo: Callable[[str], None]):
    """A database with the finished history and ``open_orders`` open orders; (engine, dispatcher actor)."""
    from bench.common import ROOT
    from engine import Database, Engine, identity
    from engine.models import Definition
    from engine.schema import upgrade

    db = Database.connect(url)
    upgrade(db)
    eng = Engine(db)
    with db.write() as s:
        identity.ensure_standard_groups(s)
        identity.create_user(s, "diaodu", "bench-pass-1", "调度 陈刚", groups=("dispatcher",))
    eng.deploy_directory(os.path.join(ROOT, "workflows"))
    with db.read() as s:
        definition_id = s.query(Definition.id).filter(Definition.process_id == "work_order").scalar()
        actor = identity.actor_for(s, "diaodu")
    Seeder(db, definition_id).add(finished_orders=completed_tasks // 10, open_orders=open_orders, echo=echo)
    return eng, actor


def run_on(urls: tuple[str, str], sizes: tuple[int, int], completed_tasks: int, requests: int,
           echo: Callable[[str], None]) -> dict:
    started = time.monotonic()
    sides = {str(size): build_db(url, size, completed_tasks, echo) for url, size in zip(urls, sizes, strict=True)}
    out: dict = {"completed_tasks": completed_tasks, "seed_seconds": round(time.monotonic() - started, 1)}
    out.update(time_side_by_side(sides, requests))
    for size in sizes:
        r = out[str(size)]
        echo(f"    {size} 张未完成工单: p95 {r['p95_ms']} ms (CPU p95 {r['cpu_p95_ms']} ms, 匹配 {r['matching']} 条), "
             f"三个计数 p95 {r['counts_p95_ms']} ms")
    out["ratio"] = round(out[str(sizes[1])]["p95_ms"] / out[str(sizes[0])]["p95_ms"], 3)
    out["cpu_ratio"] = round(out[str(sizes[1])]["cpu_p95_ms"] / out[str(sizes[0])]["cpu_p95_ms"], 3)
    for eng, _actor in sides.values():
        eng.db.dispose()
    return out


def figure(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False) -> dict:
    sizes, completed = ((200, 2000), 10_000) if tiny else (((1000, 10_000), 30_000) if quick
                                                          else ((10_000, 100_000), 1_000_000))
    requests = 20 if tiny else (100 if quick else 300)
    echo(f"收件箱规模: 调度组队列, 筛选 order_type=repair, 按客户姓名排序; {sizes[0]} 与 {sizes[1]} 张未完成工单, "
         f"{completed} 个已完成任务" + (" (快速模式: 缩小规模)" if quick or tiny else ""))
    out: dict = {"sizes": list(sizes), "completed_tasks": completed, "filter": FILTER}
    with tempfile.TemporaryDirectory() as folder:
        echo("  SQLite (两个数据库, 交替测量):")
        urls = tuple(f"sqlite:///{os.path.join(folder, f'inbox{size}.sqlite3')}" for size in sizes)
        out["sqlite"] = run_on(urls, sizes, completed, requests, echo)
    with pg_database("inbox_small") as small, pg_database("inbox_large") as large:
        echo("  PostgreSQL (两个数据库, 交替测量):")
        out["postgresql"] = run_on((small, large), sizes, completed, requests, echo)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figure("--quick" in sys.argv, tiny="--tiny" in sys.argv), indent=1))
