"""Admin console pages rendered server-side with 100,000 work orders in a SQLite database.

Seeds the projections in bulk (``process_instance`` with its summary, ``human_task``,
``event``, ``incident``, ``job``, ``outbox``: benchmark data only, no workflow is run; a
year of orders, about 70 % closed), logs in as an admin through the real app and times
whole requests through Flask's test client: routing, session, the actor reload, the engine
queries and the Jinja rendering. Prints median and p95 per page; the bar is 300 ms.

Run: ``.venv/bin/python bench/admin_bench.py [--instances N] [--requests N] [--db PATH]``
(``--db`` keeps the seeded database for another run).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import Database, Engine, FakeClock, identity  # noqa: E402
from engine.models import Definition, Event, HumanTask, Incident, Instance, Job, Outbox  # noqa: E402
from engine.schema import upgrade  # noqa: E402

PASSWORD = "bench-pass-1"
BAR_MS = 300.0
NOW = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)
TECHNICIANS = [f"tech{i:02d}" for i in range(60)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
ORDER_TYPES = ["install", "repair", "upgrade", "inspection", "maintenance", "testing", "training", "complaint"]
# the P1 user steps: element id, name, group, technician's?
STEPS = [
    ("dispatch", "派工", "dispatcher", False),
    ("accept_task", "任务签收", "technician", True),
    ("check_in", "现场签到", "technician", True),
    ("report_progress", "进程反馈", "technician", True),
    ("complete_service", "完工处理", "technician", True),
    ("customer_evaluation", "客户评价", "call_center", False),
]
ENGINE_ELEMENTS = ["work_order_created", "prepare_order", "product_lookup", "warranty_policy", "warranty_check",
                   "warranty_decided_gateway"]
PAGES = [
    ("instances, no filter", "/admin/instances"),
    ("instances, status waiting", "/admin/instances?status=waiting"),
    ("instances, status waiting, page 40", "/admin/instances?status=waiting&page=40"),
    ("instances, started in a week", "/admin/instances?started_from=2026-01-05&started_to=2026-01-12"),
    ("instances, technician", "/admin/instances?technician=tech07"),
    ("instances, customer name", "/admin/instances?customer=%E7%8E%8B%E8%8A%B3"),
    ("instances, overdue", "/admin/instances?overdue=1"),
    ("instances, has incident", "/admin/instances?has_incident=1"),
    ("instances, by last change", "/admin/instances?sort=updated"),
    ("dashboard", "/admin/"),
    ("heatmap work_order", "/admin/heatmap/work_order"),
]


def seed(db: Database, n: int, *, seed_value: int = 11) -> None:
    """Insert ``n`` work orders over the year before NOW with their tasks, audit events, incidents and timers."""
    rng = random.Random(seed_value)
    with db.read() as s:
        definition_id = s.query(Definition.id).filter(Definition.process_id == "work_order").scalar()
    batch: dict[str, list] = {"i": [], "t": [], "e": [], "x": [], "j": [], "o": []}

    def flush() -> None:
        with db.write() as s:
            for key, table in (("i", Instance), ("t", HumanTask), ("e", Event), ("x", Incident), ("j", Job),
                               ("o", Outbox)):
                if batch[key]:
                    s.execute(table.__table__.insert(), batch[key])
                    batch[key].clear()

    for i in range(1, n + 1):
        created = NOW - timedelta(seconds=int(365 * 86400 * (1 - i / n)) + rng.randint(0, 3600))
        tech = rng.choice(TECHNICIANS)
        order_type = rng.choice(ORDER_TYPES)
        summary = {"work_order_no": f"WO-{created:%Y%m%d}-{i:06d}", "order_type": order_type,
                   "zone": rng.choice(("in_city", "in_city", "out_of_city")),
                   "customer_name": rng.choice(SURNAMES) + rng.choice("芳伟强敏静磊洋艳军杰"),
                   "customer_phone": f"139{i:08d}", "product_model": "KFR-35GW/NhGd1BAj", "serial_no": f"SN{i:010d}"}
        age_days = (NOW - created).days
        roll = rng.random()
        if age_days > 20 or roll < 0.7:
            status = "completed" if rng.random() < 0.95 else "terminated"
            reached = len(STEPS)
        else:
            status = rng.choices(("waiting", "running", "error", "suspended"), (70, 25, 4, 1))[0]
            reached = rng.randint(0, len(STEPS) - 1)
        if reached > 0:
            summary["technician"] = tech
        t = created
        events = [dict(instance_id=i, at=created, actor="kefu", kind="started",
                       data={"process_id": "work_order", "version": 1}),
                  dict(instance_id=i, at=created, actor="kefu", kind="elements", data={"ran": ENGINE_ELEMENTS})]
        steps = list(STEPS[:reached + (0 if status in ("completed", "terminated") else 1)])
        redispatch = status == "completed" and rng.random() < 0.06
        if redispatch:
            steps = steps[:1] + steps + []  # a second dispatch: the customer was not satisfied
        ended = None
        for k, (element, name, group, techs) in enumerate(steps):
            is_open = k == len(steps) - 1 and status not in ("completed", "terminated")
            due = t + timedelta(hours=rng.choice((2, 8, 24, 72))) if element != "dispatch" else None
            spent = timedelta(minutes=rng.randint(5, 60 * 30))
            task_id = str(uuid.UUID(int=rng.getrandbits(128)))
            row = dict(id=task_id, instance_id=i, process_id="work_order", element_id=element, name=name,
                       group_id=group, assignee=tech if techs else None, status="open" if is_open else "completed",
                       due_at=due, created_at=t, completed_at=None if is_open else t + spent,
                       completed_by=None if is_open else (tech if techs else "diaodu"),
                       work_order_no=summary["work_order_no"], order_type=order_type, zone=summary["zone"],
                       customer_name=summary["customer_name"], customer_phone=summary["customer_phone"],
                       product_model=summary["product_model"], serial_no=summary["serial_no"])
            batch["t"].append(row)
            if is_open:
                if due is not None:
                    batch["j"].append(dict(instance_id=i, kind="timer", task_id=task_id, element_id=element,
                                           due_at=due, status="pending", attempts=0))
                break
            t = t + spent
            events.append(dict(instance_id=i, at=t, actor=row["completed_by"], kind="task_completed",
                               element_id=element, task_id=task_id,
                               data={"satisfied": True} if group == "call_center" else {"note": "ok"}))
        if status in ("completed", "terminated"):
            ended = t + timedelta(minutes=1)
            events.append(dict(instance_id=i, at=ended, actor="system", kind=status, data=None))
        if status == "error":
            batch["x"].append(dict(instance_id=i, element_id="product_lookup", element_name="查询产品信息",
                                   message="服务 lookup_product 失败: ValueError: 型号不在目录中",
                                   traceback="Traceback (most recent call last):\n  ...\nValueError: 型号不在目录中",
                                   attempts=1, created_at=t, resolved_at=None))
        batch["e"].extend(events)
        batch["o"].append(dict(instance_id=i, topic="dispatch_reminder", payload={"technician": tech},
                               status="delivered", attempts=1, next_attempt_at=created, created_at=created,
                               delivered_at=created))
        batch["i"].append(dict(id=i, definition_id=definition_id, process_id="work_order",
                               business_key=summary["work_order_no"], customer_phone=summary["customer_phone"],
                               serial_no=summary["serial_no"], status=status, version=len(steps) + 1, state="{}",
                               summary=summary, started_by="kefu", created_at=created, updated_at=t, ended_at=ended))
        if i % 5000 == 0:
            flush()
    flush()
    with db.write_engine.connect() as c:
        from sqlalchemy import text

        c.execute(text("ANALYZE"))
        c.commit()


def build(path: str, n: int) -> None:
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db)
    with db.write() as s:
        identity.ensure_standard_groups(s)
        identity.create_user(s, "admin", PASSWORD, "管理员", roles=("staff", "admin"))
        for tech in TECHNICIANS:
            identity.create_user(s, tech, PASSWORD, tech, groups=("technician",))
    Engine(db, clock=FakeClock(NOW)).deploy_directory(os.path.join(ROOT, "workflows"))
    started = time.perf_counter()
    seed(db, n)
    print(f"seeded {n} instances in {time.perf_counter() - started:.1f} s")
    db.dispose()


def measure(path: str, requests: int) -> list[tuple[str, float, float]]:
    from web import create_app

    folder = tempfile.mkdtemp(prefix="paigong-admin-bench-")
    app = create_app(test_config={
        "SECRET_KEY": "bench", "DATABASE_URL": f"sqlite:///{path}", "CLOCK": FakeClock(NOW),
        "TRANSLATIONS_BUILD_DIR": os.path.join(folder, "translations"), "WTF_CSRF_ENABLED": False,
    })
    client = app.test_client()
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    t0 = time.perf_counter()
    assert client.get("/admin/heatmap/work_order").status_code == 200
    print(f"heatmap first request (folds the whole audit log into the running totals): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    t0 = time.perf_counter()
    assert client.get("/admin/").status_code == 200
    print(f"dashboard first request (computes the facts of the month's closed orders): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    results = []
    for label, url in PAGES:
        first = client.get(url)
        assert first.status_code == 200, (url, first.status_code, first.get_data(as_text=True)[:500])
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        results.append((label, statistics.median(times), p95))
    app.extensions["paigong"].db.dispose()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--db", help="SQLite file to seed (kept), or reuse when it exists")
    args = parser.parse_args(argv)
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="paigong-admin-bench-"), "admin.sqlite3")
    if not os.path.exists(path):
        build(path, args.instances)
    results = measure(path, args.requests)
    print(f"{'page':<40} {'median ms':>10} {'p95 ms':>8}")
    worst = 0.0
    for label, median, p95 in results:
        worst = max(worst, p95)
        print(f"{label:<40} {median:>10.1f} {p95:>8.1f}")
    verdict = "ok" if worst < BAR_MS else "OVER"
    print(f"worst_p95_ms={worst:.1f} bar_ms={BAR_MS:.0f} {verdict}")
    return 0 if worst < BAR_MS else 1


if __name__ == "__main__":
    sys.exit(main())
