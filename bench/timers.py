"""Timers: thousands coming due at once, and a steady stream, fired by ``paigong worker`` processes.

A one-timer process (start, a timer catching the date in ``due``, end) is started once
through the engine and cloned (see :func:`bench.common.clone_instances`) with each copy's
due time written into its state and its job row. The workers are the production command
against one PostgreSQL database. The benchmark watches the job table: a timer has fired
when its job row is gone (deleted in the transaction that ran the instance's step). At the
end every instance must be completed with exactly one ``timer_fired`` event.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.common import clone_instances, percentile, pg_database, worker

PROCESS_ID = "bench_timer"
PLACEHOLDER = "2030-01-01T00:00:00+00:00"
BPMN = f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs_timer" targetNamespace="http://paigong.example/bench">
  <bpmn:process id="{PROCESS_ID}" name="定时器 (基准)" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="wait_due" name="到期">
      <bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_due"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait_due" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
'''


class TimerBench:
    """One PostgreSQL database with the timer process deployed and a template instance."""

    def __init__(self, url: str, folder: str, echo: Callable[[str], None]) -> None:
        from engine import Database, Engine

        self.url, self.folder, self.echo = url, folder, echo
        self.db = Database.connect(url)
        self.eng = Engine(self.db)
        self.eng.deploy({"timer.bpmn": BPMN.encode()})
        self.template = self.eng.start(PROCESS_ID, {"due": PLACEHOLDER}).instance_id

    def close(self) -> None:
        self.db.dispose()

    def add(self, dues: list[datetime]) -> list[int]:
        """Clone one waiting instance per due time; their ids."""
        def edit(k: int, rows: dict) -> None:
            iso = dues[k].isoformat()
            rows["instance"]["state"] = rows["instance"]["state"].replace(PLACEHOLDER, iso)
            for job in rows["jobs"]:
                job["due_at"] = dues[k]

        return [iid for iid, _ in clone_instances(self.db, self.template, len(dues), edit=edit, echo=self.echo)]

    def pending(self, ids: list[int]) -> dict[int, datetime]:
        """Instance id -> due time of the timer jobs still waiting among ``ids``."""
        with self.db.write_engine.connect() as c:
            rows = c.exec_driver_sql(
                "SELECT instance_id, due_at FROM job WHERE kind = 'timer' AND instance_id BETWEEN %(a)s AND %(b)s",
                {"a": min(ids), "b": max(ids)}).all()
        return {r[0]: r[1] for r in rows}

    def check(self, ids: list[int]) -> dict:
        """Completed instances and timer_fired events per instance among ``ids``."""
        with self.db.write_engine.connect() as c:
            a, b = min(ids), max(ids)
            completed = c.exec_driver_sql(
                "SELECT count(*) FROM process_instance WHERE id BETWEEN %(a)s AND %(b)s AND status = 'completed'",
                {"a": a, "b": b}).scalar()
            fired = dict(c.exec_driver_sql(
                "SELECT instance_id, count(*) FROM event WHERE kind = 'timer_fired' "
                "AND instance_id BETWEEN %(a)s AND %(b)s GROUP BY instance_id", {"a": a, "b": b}).all())
        return {"instances": len(ids), "completed": completed, "fired_once": sum(1 for v in fired.values() if v == 1),
                "fired_twice_or_more": sum(1 for v in fired.values() if v > 1),
                "never_fired": len(ids) - len(fired)}

    def start_workers(self, count: int, interval: float, tag: str) -> list:
        procs = [worker(self.url, os.path.join(self.folder, f"worker_{tag}_{i}.log"), interval=interval)
                 for i in range(count)]
        deadline = time.monotonic() + 60
        for p in procs:  # ready once it has printed its first line
            while os.path.getsize(p.log_path) == 0:
                if not p.alive() or time.monotonic() > deadline:
                    raise RuntimeError("worker did not start:\n" + p.tail())
                time.sleep(0.1)
        return procs

    def burst(self, n: int, workers: int, *, interval: float) -> dict:
        """``n`` timers all due at one moment, fired by ``workers`` processes: seconds until the last fired."""
        placeholder = datetime(2030, 1, 1, tzinfo=UTC)
        ids = self.add([placeholder] * n)
        procs = self.start_workers(workers, interval, f"burst{workers}")
        try:
            due = datetime.now(UTC) + timedelta(seconds=1.5)
            with self.db.write_engine.begin() as c:
                c.exec_driver_sql(
                    "UPDATE process_instance SET state = replace(state, %(old)s, %(new)s) "
                    "WHERE id BETWEEN %(a)s AND %(b)s", {"old": PLACEHOLDER, "new": due.isoformat(),
                                                         "a": min(ids), "b": max(ids)})
                c.exec_driver_sql("UPDATE job SET due_at = %(due)s WHERE kind = 'timer' AND instance_id "
                                  "BETWEEN %(a)s AND %(b)s", {"due": due, "a": min(ids), "b": max(ids)})
            while datetime.now(UTC) < due:
                time.sleep(0.01)
            t0 = time.monotonic()
            limit = max(120.0, n / 20)
            left = n
            progress = []
            while left and time.monotonic() - t0 < limit:
                time.sleep(0.1)
                left = len(self.pending(ids))
                progress.append((round(time.monotonic() - t0, 2), n - left))
            drained = time.monotonic() - t0
            time.sleep(0.5)  # let a (wrong) second firing show up
        finally:
            for p in procs:
                p.stop()
        out = {"timers": n, "workers": workers, "seconds_to_fire_all": round(drained, 2),
               "timers_per_s": round(n / drained, 1) if drained else None, "all_fired": left == 0,
               **self.check(ids)}
        self.echo(f"    {n} 个定时器同时到期, {workers} 个 worker: {out['seconds_to_fire_all']}s 全部触发 "
                  f"({out['timers_per_s']}/s), 重复触发 {out['fired_twice_or_more']}, 未触发 {out['never_fired']}")
        return out

    def steady(self, rate: float, seconds: float, workers: int, *, interval: float) -> dict:
        """Timers coming due at ``rate`` per second for ``seconds``: lateness of each firing."""
        n = int(rate * seconds)
        lead = 4.0 + n / 2000  # cloning time
        first = datetime.now(UTC) + timedelta(seconds=lead + 3)
        dues = [first + timedelta(seconds=i / rate) for i in range(n)]
        ids = self.add(dues)
        procs = self.start_workers(workers, interval, f"steady{workers}")
        late: list[float] = []
        try:
            waiting = self.pending(ids)
            end = dues[-1] + timedelta(seconds=30)
            while waiting and datetime.now(UTC) < end:
                time.sleep(0.05)
                now = datetime.now(UTC)
                still = self.pending(ids)
                for iid, due in waiting.items():
                    if iid not in still:
                        late.append((now - due).total_seconds())
                waiting = still
        finally:
            for p in procs:
                p.stop()
        out = {"rate_per_s": rate, "seconds": seconds, "timers": n, "workers": workers,
               "fired": len(late), "lateness_p50_s": round(percentile(late, 0.5), 3),
               "lateness_p99_s": round(percentile(late, 0.99), 3), "lateness_max_s": round(max(late, default=0), 3),
               "poll_resolution_s": 0.05, **self.check(ids)}
        self.echo(f"    稳定负载 {rate}/s × {seconds}s: 延迟 p50 {out['lateness_p50_s']}s, "
                  f"p99 {out['lateness_p99_s']}s, 最大 {out['lateness_max_s']}s")
        return out


def figure(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False,
           interval: float = 1.0) -> dict:
    """Figure 5: 10,000 timers due at once with two workers; lateness at a steady rate."""
    n = 100 if tiny else (1000 if quick else 10_000)
    rate, seconds = (10.0, 3) if tiny else ((20.0, 6) if quick else (20.0, 30))
    echo(f"定时器: {n} 个同时到期 (2 个 worker, PostgreSQL); 稳定负载 {rate}/s × {seconds}s")
    with tempfile.TemporaryDirectory() as folder, pg_database("timers") as url:
        bench = TimerBench(url, folder, echo)
        try:
            burst = bench.burst(n, 2, interval=interval)
            steady = bench.steady(rate, seconds, 2, interval=interval)
        finally:
            bench.close()
    return {"burst": burst, "steady": steady, "worker_interval_s": interval}


def scale_out(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False,
              interval: float = 1.0) -> dict:
    """Figure 7, worker half: the same burst drained by 1 and by 2 workers."""
    n = 100 if tiny else (300 if quick else 4000)
    echo(f"横向扩展 (worker): {n} 个定时器分别由 1 和 2 个 worker 触发")
    with tempfile.TemporaryDirectory() as folder, pg_database("wscale") as url:
        bench = TimerBench(url, folder, echo)
        try:
            return {w: bench.burst(n, w, interval=interval) for w in (1, 2)}
        finally:
            bench.close()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figure("--quick" in sys.argv, tiny="--tiny" in sys.argv), indent=1, default=str))
