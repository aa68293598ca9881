"""HTTP under load: gunicorn on PostgreSQL, many clients completing tasks and opening orders.

Each client is a thread with its own bearer token and a keep-alive connection (reopened
when the server closes it). Of every ten requests a client sends, one opens a new work
order (``POST /api/v1/work-orders``, the production work-order process), one reads its
group queue (``GET /api/v1/tasks?tab=queue``) and eight complete the next task of an open
dispatch order (``POST /api/v1/tasks/<id>/complete``), whose answer names the order's next
task; the order goes back into the shared pool for whichever client comes next. Every
request is timed; a 409 (someone else changed the order first) is counted apart, any
other status but 200/201 is an error.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import dispatch_model as model
from bench.common import children, cpu_seconds, free_port, gunicorn, percentile, pg_database, wait_http
from bench.orders import OrderPool, Prepared, prepare


@dataclass
class LoadStats:
    seconds: float = 0.0
    completions: int = 0
    opened: int = 0
    reads: int = 0
    conflicts: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # ms, every request
    complete_latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    pool_empty: int = 0

    def summary(self) -> dict:
        return {
            "seconds": round(self.seconds, 2), "completions": self.completions, "opened": self.opened,
            "reads": self.reads, "conflicts_409": self.conflicts, "errors": self.errors,
            "completions_per_s": round(self.completions / self.seconds, 1) if self.seconds else 0.0,
            "requests_per_s": round(len(self.latencies) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(self.latencies, 0.50), 1), "p95_ms": round(percentile(self.latencies, 0.95), 1),
            "p99_ms": round(percentile(self.latencies, 0.99), 1),
            "complete_p99_ms": round(percentile(self.complete_latencies, 0.99), 1),
            "error_samples": self.error_samples[:5], "pool_empty": self.pool_empty,
        }


def _order_body(rng: random.Random, n: int) -> dict:
    return {"order_type": "repair", "customer_name": rng.choice("王李张刘陈杨") + "先生",
            "customer_phone": f"139{n:08d}"[-11:], "address": "上海市浦东新区世纪大道 100 号",
            "product_model": "KFR-35GW/NhGd1BAj", "serial_no": f"SN{n:010d}", "symptom": "不制冷", "zone": "in_city"}


class _Client(threading.Thread):
    def __init__(self, index: int, port: int, token: str, pool: OrderPool, stop_at: float, stats: LoadStats,
                 lock: threading.Lock, counter: list[int]) -> None:
        super().__init__(daemon=True)
        self.index, self.port, self.pool, self.stop_at = index, port, pool, stop_at
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.stats, self.lock, self.counter = stats, lock, counter
        self.rng = random.Random(index)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.local = LoadStats()

    def _send(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                response = self.conn.getresponse()
                payload = response.read()
                return response.status, payload, (time.perf_counter() - started) * 1000
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _record(self, status: int, payload: bytes, ms: float, what: str) -> bool:
        self.local.latencies.append(ms)
        if status in (200, 201):
            return True
        if status == 409:
            self.local.conflicts += 1
        else:
            self.local.errors += 1
            self.local.error_samples.append(f"{what} {status} {payload[:200]!r}")
        return False

    def run(self) -> None:
        step = 0
        while time.perf_counter() < self.stop_at:
            step += 1
            try:
                if step % 10 == 3:
                    with self.lock:
                        self.counter[0] += 1
                        n = self.counter[0]
                    status, payload, ms = self._send("POST", "/api/v1/work-orders", _order_body(self.rng, n))
                    if self._record(status, payload, ms, "open"):
                        self.local.opened += 1
                    continue
                if step % 10 == 7:
                    status, payload, ms = self._send("GET", "/api/v1/tasks?tab=queue&per_page=25")
                    if self._record(status, payload, ms, "queue"):
                        self.local.reads += 1
                    continue
                item = self.pool.take()
                if item is None:
                    self.local.pool_empty += 1
                    time.sleep(0.01)
                    continue
                iid, task_id, element, data = item
                form = model.form_data(element, iid, data)
                status, payload, ms = self._send("POST", f"/api/v1/tasks/{task_id}/complete", {"data": form})
                if self._record(status, payload, ms, f"complete {element}"):
                    self.local.completions += 1
                    self.local.complete_latencies.append(ms)
                    data = {**data, **form}
                    for nxt in json.loads(payload).get("open_tasks", []):
                        self.pool.put((iid, nxt["id"], nxt["element_id"], data))
            except Exception as exc:  # a refused connection or a broken answer is an error, not a crash
                self.local.errors += 1
                self.local.error_samples.append(f"{type(exc).__name__}: {exc}")
        self.conn.close()


def run_load(port: int, tokens: list[str], pool: OrderPool, seconds: float, clients: int) -> LoadStats:
    stats, lock, counter = LoadStats(), threading.Lock(), [int(time.time() * 1000) % 10_000_000]
    stop_at = time.perf_counter() + seconds
    threads = [_Client(i, port, tokens[i % len(tokens)], pool, stop_at, stats, lock, counter) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.seconds = time.perf_counter() - started
    for t in threads:
        loc = t.local
        stats.completions += loc.completions
        stats.opened += loc.opened
        stats.reads += loc.reads
        stats.conflicts += loc.conflicts
        stats.errors += loc.errors
        stats.pool_empty += loc.pool_empty
        stats.latencies.extend(loc.latencies)
        stats.complete_latencies.extend(loc.complete_latencies)
        stats.error_samples.extend(loc.error_samples)
    return stats


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat", encoding="utf-8") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def measured_run(prepared: Prepared, *, web_processes: int, seconds: float, clients: int, folder: str,
                 warm: float = 3.0, echo: Callable[[str], None] = print, threads: int = 1) -> dict:
    """Start gunicorn with ``web_processes`` workers, warm up, load for ``seconds``; the summary."""
    port = free_port()
    server = gunicorn(prepared.url, web_processes, port, os.path.join(folder, f"gunicorn_{web_processes}.log"),
                      threads=threads)
    try:
        wait_http(port)
        run_load(port, prepared.tokens, prepared.pool, warm, clients)
        workers = children(server.pid)
        cpu_before = {p: cpu_seconds(p) for p in workers}
        busy0, total0 = _machine_busy()
        own0 = time.process_time()
        stats = run_load(port, prepared.tokens, prepared.pool, seconds, clients)
        busy1, total1 = _machine_busy()
        own = time.process_time() - own0
        web_cpu = sum(cpu_seconds(p) - cpu_before[p] for p in workers if os.path.exists(f"/proc/{p}"))
        out = stats.summary()
        out.update(web_processes=web_processes, clients=clients, gunicorn_threads=threads,
                   machine_cpu_busy=round((busy1 - busy0) / max(1, total1 - total0), 3),
                   web_cpu_s_per_completion=round(web_cpu / max(1, stats.completions + stats.opened + stats.reads), 5),
                   web_cpu_share=round(web_cpu / (stats.seconds * (os.cpu_count() or 1)), 3),
                   loadgen_cpu_share=round(own / (stats.seconds * (os.cpu_count() or 1)), 3))
        echo(f"    gunicorn ×{web_processes}: {out['completions_per_s']} 完成/s, p99 {out['p99_ms']} ms, "
             f"409 {out['conflicts_409']}, 错误 {out['errors']}, 机器 CPU {out['machine_cpu_busy']:.0%}")
        if not server.alive():
            raise RuntimeError("gunicorn exited:\n" + server.tail())
        return out
    finally:
        server.stop()


def figure(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False) -> dict:
    """Figure 4: gunicorn with two workers on PostgreSQL."""
    seconds = 2 if tiny else (8 if quick else 60)
    clients = 4 if tiny else 16
    orders = 60 if tiny else (600 if quick else 3000)
    echo(f"HTTP 负载: gunicorn 2 个进程, PostgreSQL, {clients} 个并发客户端, {seconds}s, 预建 {orders} 张工单")
    with tempfile.TemporaryDirectory() as folder, pg_database("http") as url:
        prepared = prepare(url, orders, echo=echo)
        run = measured_run(prepared, web_processes=2, seconds=seconds, clients=clients, folder=folder, echo=echo,
                           warm=1 if tiny else 3)
    return run


def scale_out(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False) -> dict:
    """Figure 7, web half: the same load on 1 and on 2 gunicorn processes against one PostgreSQL."""
    seconds = 2 if tiny else (5 if quick else 20)
    clients = 4 if tiny else 16
    orders = 60 if tiny else (400 if quick else 2000)
    echo(f"横向扩展 (web): 同一负载分别用 1 和 2 个 gunicorn 进程, 各 {seconds}s")
    runs = {}
    with tempfile.TemporaryDirectory() as folder, pg_database("scale") as url:
        prepared = prepare(url, orders, echo=echo)
        for n in (1, 2):
            runs[n] = measured_run(prepared, web_processes=n, seconds=seconds, clients=clients, folder=folder,
                                   echo=echo, warm=1 if tiny else 2)
    return runs


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    print(json.dumps(figure(quick), indent=1, ensure_ascii=False))
