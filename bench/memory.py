"""Memory: resident size of a web process and a worker process at 1,000 and at 100,000 instances.

One gunicorn worker process and one ``paigong worker`` run against a PostgreSQL database
holding 1,000 open dispatch orders (plus one-timer instances). The same load runs (HTTP
clients completing tasks, opening orders and reading queues; timers coming due for the
worker) and both processes' RSS is read from /proc. Then the database grows to 100,000
orders, the load runs again on orders from the new range, and RSS is read again; the
figure is the growth between the two readings. The processes are the same throughout.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import children, free_port, gunicorn, pg_database, rss_mb, wait_http, worker
from bench.http_load import run_load
from bench.orders import OrderPool, add_orders, setup, template
from bench.timers import TimerBench


def figure(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False) -> dict:
    small, large = (200, 1000) if tiny else ((1000, 5000) if quick else (1000, 100_000))
    seconds = 2 if tiny else (4 if quick else 15)
    timers = 20 if tiny else 200
    echo(f"内存: 同一个 web 进程和 worker 进程, {small} 与 {large} 个实例时的 RSS"
         + (" (快速模式: 缩小规模)" if quick or tiny else ""))
    with tempfile.TemporaryDirectory() as folder, pg_database("memory") as url:
        eng, tokens = setup(url, users=8)
        tid, task_id, element = template(eng)
        timer_bench = TimerBench(url, folder, echo)
        pool = OrderPool()
        add_orders(eng, tid, task_id, element, small, pool, echo=echo)
        port = free_port()
        web = gunicorn(url, 1, port, os.path.join(folder, "gunicorn.log"))
        jobs = worker(url, os.path.join(folder, "worker.log"), interval=0.5)
        readings = {}
        try:
            wait_http(port)
            web_pid = children(web.pid)[0]

            def phase(label: str, orders: OrderPool) -> dict:
                start = datetime.now(UTC) + timedelta(seconds=1)
                timer_bench.add([start + timedelta(seconds=seconds * i / timers) for i in range(timers)])
                stats = run_load(port, tokens, orders, seconds, 8)
                reading = {"instances": label, "web_rss_mb": round(rss_mb(web_pid), 1),
                           "worker_rss_mb": round(rss_mb(jobs.pid), 1), "completions": stats.completions,
                           "errors": stats.errors}
                echo(f"    {label} 个实例: web RSS {reading['web_rss_mb']} MiB, worker RSS "
                     f"{reading['worker_rss_mb']} MiB ({stats.completions} 次完成)")
                return reading

            phase("warm-up", pool)
            readings[str(small)] = phase(str(small), pool)
            fresh = OrderPool()
            add_orders(eng, tid, task_id, element, large - small, fresh, echo=echo)
            readings[str(large)] = phase(str(large), fresh)
            if not (web.alive() and jobs.alive()):
                raise RuntimeError("a process exited:\n" + web.tail() + jobs.tail())
        finally:
            web.stop()
            jobs.stop()
            timer_bench.close()
            eng.db.dispose()
    a, b = readings[str(small)], readings[str(large)]
    return {"sizes": [small, large], "readings": readings,
            "web_growth": round(b["web_rss_mb"] / a["web_rss_mb"] - 1, 3),
            "worker_growth": round(b["worker_rss_mb"] / a["worker_rss_mb"] - 1, 3)}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figure("--quick" in sys.argv, tiny="--tiny" in sys.argv), indent=1))
