"""What the benchmarks share: the machine's description, a PostgreSQL database of their own,
percentiles, process memory, child processes, and instances cloned in bulk.

Cloning copies one real instance (its state, archived task records, open tasks, timers
and message subscriptions) under fresh ids: every task id in the state is replaced by a
new one, so each clone is an independent order the engine loads, steps and saves like any
other. It builds large databases in seconds where starting each order through the engine
would take minutes; the figures measured afterwards always go through the engine.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_URL = os.environ.get("PAIGONG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- numbers ------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the machine --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU, memory and the versions every figure depends on."""
    import sqlite3
    from importlib.metadata import version

    import sqlalchemy

    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gb = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            memory_gb = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    info = {
        "cpu_count": os.cpu_count(), "cpu_model": model, "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "sqlalchemy": sqlalchemy.__version__,
        "spiffworkflow": version("SpiffWorkflow"), "postgresql": pg_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for name in ("gunicorn", "psycopg", "Flask"):
        try:
            info[name.lower()] = version(name)
        except Exception:
            info[name.lower()] = None
    return info


def pg_version() -> str | None:
    try:
        from sqlalchemy import create_engine, text

        eng = create_engine(PG_URL)
        with eng.connect() as c:
            found = c.execute(text("SHOW server_version")).scalar()
        eng.dispose()
        return found
    except Exception:
        return None


# -- a PostgreSQL database of our own -----------------------------------------------------


def _admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@contextmanager
def pg_database(label: str) -> Iterator[str]:
    """A fresh, migrated database ``paigong_bench_<label>_<pid>`` on the benchmark server, dropped afterwards."""
    from sqlalchemy import text

    from engine import Database
    from engine.schema import upgrade

    name = f"paigong_bench_{label}_{os.getpid()}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    db = Database.connect(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- processes ----------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (from /proc)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="utf-8") as fh:
                out.extend(int(x) for x in fh.read().split())
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (from /proc)."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(url: str, **more: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PAIGONG_DATABASE_URL": url, "PAIGONG_SECRET_KEY": "bench-secret", "PYTHONPATH": ROOT,
                "PAIGONG_WORKFLOWS": os.path.join(ROOT, "workflows")})
    env.pop("PAIGONG_CHECK_SNAPSHOT", None)
    env.update(more)
    return env


class Service:
    """A child process (gunicorn or a worker) started for a benchmark and stopped with it."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return ""


def python() -> str:
    return sys.executable


def gunicorn(url: str, workers: int, port: int, log_path: str, *, threads: int = 1) -> Service:
    """gunicorn serving the app (with the benchmark's service operator) on 127.0.0.1:``port``."""
    args = [python(), "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--backlog", "512", "--log-level", "warning", "bench.wsgi:app"]
    if threads > 1:
        args[3:3] = ["--threads", str(threads)]
    return Service(args, bench_env(url), log_path)


def worker(url: str, log_path: str, *, interval: float = 0.2) -> Service:
    """One ``paigong worker`` process, as deployed."""
    command = os.path.join(os.path.dirname(sys.executable), "paigong")
    return Service([command, "worker", "--interval", str(interval)], bench_env(url), log_path)


def wait_http(port: int, path: str = "/api/v1/openapi.json", timeout: float = 60.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"HTTP server on port {port} did not answer in {timeout:.0f}s")
        time.sleep(0.2)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- cloning instances --------------------------------------------------------------------


def _remap(text: str | None, mapping: dict[str, str]) -> str | None:
    if text is None:
        return None
    return UUID_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


def clone_instances(db, template_id: int, count: int, *, batch: int = 1000,
                    edit: Callable[[int, dict[str, Any]], None] | None = None,
                    echo: Callable[[str], None] | None = None) -> list[tuple[int, dict[str, str]]]:
    """Insert ``count`` copies of instance ``template_id``; return ``(new id, {old task id: new})`` per copy.

    ``edit(k, rows)`` may change the k-th copy's rows (``rows`` has "instance", "tasks",
    "jobs", "subscriptions", "archive") before they are written.
    """
    from sqlalchemy import func, select

    from engine.models import HumanTask, Instance, Job, MessageSubscription, TaskArchive

    with db.read() as s:
        inst = {c: v for c, v in s.execute(select(Instance.__table__).where(Instance.id == template_id))
                .one()._mapping.items()}
        tasks = [dict(r._mapping) for r in s.execute(select(HumanTask.__table__).where(
            HumanTask.instance_id == template_id, HumanTask.status == "open"))]
        jobs = [dict(r._mapping) for r in s.execute(select(Job.__table__).where(Job.instance_id == template_id))]
        subs = [dict(r._mapping) for r in s.execute(select(MessageSubscription.__table__).where(
            MessageSubscription.instance_id == template_id))]
        archive = [dict(r._mapping) for r in s.execute(select(TaskArchive.__table__).where(
            TaskArchive.instance_id == template_id).order_by(TaskArchive.seq))]
        next_id = (s.scalar(select(func.max(Instance.id))) or 0) + 1
    ids = set(UUID_RE.findall(inst["state"]))
    for r in archive:
        ids.update(UUID_RE.findall(r["record"]))
    ids.update(t["id"] for t in tasks)
    out: list[tuple[int, dict[str, str]]] = []
    pending: dict[str, list] = {"i": [], "t": [], "j": [], "s": [], "a": []}

    def flush() -> None:
        with db.write() as s:
            for key, table in (("i", Instance), ("t", HumanTask), ("j", Job), ("s", MessageSubscription),
                               ("a", TaskArchive)):
                if pending[key]:
                    s.execute(table.__table__.insert(), pending[key])
                    pending[key].clear()

    started = time.monotonic()
    for k in range(count):
        new_id = next_id + k
        mapping = {old: str(uuid.uuid4()) for old in ids}
        rows = {
            "instance": {**{c: v for c, v in inst.items() if c != "id"}, "id": new_id,
                         "state": _remap(inst["state"], mapping),
                         "business_key": f"{inst['business_key'] or 'BENCH'}-{new_id}"},
            "tasks": [{**t, "id": mapping[t["id"]], "instance_id": new_id} for t in tasks],
            "jobs": [{**{c: v for c, v in j.items() if c != "id"}, "instance_id": new_id,
                      "task_id": mapping.get(j["task_id"], j["task_id"])} for j in jobs],
            "subscriptions": [{**{c: v for c, v in m.items() if c != "id"}, "instance_id": new_id} for m in subs],
            "archive": [{**a, "instance_id": new_id, "record": _remap(a["record"], mapping)} for a in archive],
        }
        if edit is not None:
            edit(k, rows)
        pending["i"].append(rows["instance"])
        pending["t"].extend(rows["tasks"])
        pending["j"].extend(rows["jobs"])
        pending["s"].extend(rows["subscriptions"])
        pending["a"].extend(rows["archive"])
        out.append((new_id, mapping))
        if len(pending["i"]) >= batch:
            flush()
            if echo is not None and (k + 1) % (batch * 10) == 0:
                echo(f"    已复制 {k + 1}/{count} 个实例 ({time.monotonic() - started:.0f}s)")
    flush()
    if not db.is_sqlite:
        with db.write_engine.begin() as c:
            c.exec_driver_sql("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), "
                              "(SELECT max(id) FROM process_instance))")
            c.exec_driver_sql("ANALYZE")
    return out


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
