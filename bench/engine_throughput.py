"""Engine throughput: raw in-memory SpiffWorkflow vs paigong durable vs naive JSON-per-step.

Measured side by side in one run on the same 9-user-task dispatch BPMN. The last line is
``durable_vs_raw_ratio=<x>``.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from bench import dispatch_model as model
from tasks import registry

OPERATOR = "bench_warranty_check"


@registry.operator(OPERATOR)
def _bench_warranty(*, serial_no, purchase_date):
    """Warranty rule of the benchmark flow (two years from purchase)."""
    return model.warranty_check(serial_no, purchase_date)


class _RawEnvironment(TaskDataEnvironment):
    def call_service(self, context, operation_name, operation_params, **kwargs):
        args = {k: v["value"] for k, v in operation_params.items()}
        return json.dumps(model.warranty_check(**args))


class _RawEngine(PythonScriptEngine):
    def call_service(self, task, **kwargs):
        return self.environment.call_service(task.data, **kwargs)


def _parse():
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_str(model.bpmn(OPERATOR).encode(), filename="dispatch.bpmn")
    return parser.get_spec(model.PROCESS_ID), parser.get_subprocess_specs(model.PROCESS_ID)


def _drive_memory(wf: BpmnWorkflow, n: int) -> None:
    data: dict = {}
    while _complete_next(wf, n, data):
        pass


def _complete_next(wf: BpmnWorkflow, n: int, data: dict) -> bool:
    """Fill in and complete the next READY user task; False when there is none."""
    task = wf.get_next_task(state=TaskState.READY, manual=True)
    if task is None:
        return False
    form = model.form_data(task.task_spec.bpmn_id, n, data)
    data.update(form)
    task.data.update(form)
    task.run()
    wf.do_engine_steps()
    return True


def raw_driver() -> Callable[[int], None]:
    """One instance driven entirely in memory (the library alone)."""
    spec, subs = _parse()
    engine = _RawEngine(environment=_RawEnvironment({}))

    def one(n: int) -> None:
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.do_engine_steps()
        _drive_memory(wf, n)
        assert wf.is_completed()

    return one


def raw(count: int) -> float:
    """Instances per second, entirely in memory."""
    return _rate(raw_driver(), count)


def naive(count: int, folder: str) -> float:
    """Instances per second, loading and saving the whole JSON (spec included) every step."""
    spec, subs = _parse()
    engine = _RawEngine(environment=_RawEnvironment({}))
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    conn = sqlite3.connect(os.path.join(folder, "naive.sqlite3"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE wf (id INTEGER PRIMARY KEY, state TEXT)")

    def one(n: int) -> None:
        wf = BpmnWorkflow(spec, subs, script_engine=engine)
        wf.do_engine_steps()
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO wf (state) VALUES (?)", (serializer.serialize_json(wf),))
        conn.execute("COMMIT")
        wid, data = cur.lastrowid, {}
        while True:
            conn.execute("BEGIN IMMEDIATE")
            (state,) = conn.execute("SELECT state FROM wf WHERE id = ?", (wid,)).fetchone()
            wf = serializer.deserialize_json(state)
            wf.script_engine = engine
            if not _complete_next(wf, n, data):
                conn.execute("COMMIT")
                return
            conn.execute("UPDATE wf SET state = ? WHERE id = ?", (serializer.serialize_json(wf), wid))
            conn.execute("COMMIT")

    try:
        return _rate(one, count)
    finally:
        conn.close()


def durable(count: int, url: str) -> float:
    """Instances per second through the facade: every call a committed transaction."""
    one, close = durable_driver(url)
    try:
        return _rate(one, count)
    finally:
        close()


def durable_driver(url: str):
    """One instance through the facade (every call a committed transaction), and a closer."""
    from engine import Database, Engine, identity
    from engine.schema import upgrade

    db = Database.connect(url)
    upgrade(db)
    eng = Engine(db)
    files = {"dispatch.bpmn": model.bpmn(OPERATOR).encode(), **model.form_schemas()}
    eng.deploy(files)
    actors = {}
    with db.write() as s:
        for group in model.LANES:
            identity.create_user(s, f"bench_{group}", "bench-password", group, groups=(group,))
    with db.read() as s:
        for group in model.LANES:
            actors[group] = identity.actor_for(s, f"bench_{group}")

    def one(n: int) -> None:
        result = eng.start(model.PROCESS_ID, {}, actor=actors["customer_service"])
        data: dict = {}
        while result.open_tasks:
            task = result.open_tasks[0]
            form = model.form_data(task.element_id, n, data)
            data.update(form)
            result = eng.complete(task.id, form, actor=actors[task.group_id])
        assert result.status == "completed", result

    return one, db.dispose


def _rate(one: Callable[[int], None], count: int, *, warm: int | None = None, first: int = 0) -> float:
    warm = max(5, count // 20) if warm is None else warm
    for i in range(warm):
        one(10_000_000 + first + i)
    gc.collect()
    start = time.perf_counter()
    for i in range(count):
        one(first + i)
    return count / (time.perf_counter() - start)


def main(quick: bool = False, echo: Callable[[str], None] = print, *, tiny: bool = False,
         pg_url: str | None = None) -> dict:
    """Alternate short chunks of raw, durable (SQLite, and PostgreSQL when ``pg_url`` is given) and
    naive driving; report the median per-chunk ratio.

    The machine is shared: alternating chunks measure all sides under the same conditions, and
    the median of the per-chunk ratios is robust to a slow stretch hitting one side.
    """
    rounds = 3 if tiny else (5 if quick else 21)
    n_raw, n_durable, n_naive = (20, 6, 4) if tiny else ((100, 30, 20) if quick else (200, 60, 40))
    echo(f"引擎吞吐: 9 个用户任务的派工流程, {rounds} 轮交替测量 "
         f"(每轮 raw {n_raw} / 持久 {n_durable} / naive {n_naive} 个实例)")
    runs: dict[str, list[float]] = {"raw": [], "durable_sqlite": [], "naive_json": [], "ratio": []}
    if pg_url:
        runs.update(durable_postgresql=[], ratio_postgresql=[])
    with tempfile.TemporaryDirectory() as folder:
        raw_one = raw_driver()
        durable_one, close = durable_driver(f"sqlite:///{folder}/durable.sqlite3")
        pg_one, pg_close = durable_driver(pg_url) if pg_url else (None, None)
        try:
            _rate(raw_one, 0, warm=20)
            _rate(durable_one, 0, warm=10, first=50_000_000)
            if pg_one is not None:
                _rate(pg_one, 0, warm=10, first=60_000_000)
            for r in range(rounds):
                runs["raw"].append(_rate(raw_one, n_raw, warm=0, first=r * n_raw))
                runs["durable_sqlite"].append(_rate(durable_one, n_durable, warm=0, first=r * n_durable))
                runs["ratio"].append(runs["durable_sqlite"][-1] / runs["raw"][-1])
                line = (f"  第 {r + 1} 轮: raw {runs['raw'][-1]:.1f}/s, SQLite {runs['durable_sqlite'][-1]:.1f}/s "
                        f"(比值 {runs['ratio'][-1]:.3f})")
                if pg_one is not None:
                    runs["durable_postgresql"].append(_rate(pg_one, n_durable, warm=0, first=r * n_durable))
                    runs["ratio_postgresql"].append(runs["durable_postgresql"][-1] / runs["raw"][-1])
                    line += f", PostgreSQL {runs['durable_postgresql'][-1]:.1f}/s"
                if r % 3 == 0:
                    runs["naive_json"].append(naive(n_naive, _fresh(folder, r)))
                    line += f", naive {runs['naive_json'][-1]:.1f}/s"
                echo(line)
        finally:
            close()
            if pg_close is not None:
                pg_close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    echo(f"raw_inmemory_instances_per_s={med['raw']:.1f}")
    echo(f"durable_sqlite_instances_per_s={med['durable_sqlite']:.1f}")
    if pg_url:
        echo(f"durable_postgresql_instances_per_s={med['durable_postgresql']:.1f}")
    echo(f"naive_json_instances_per_s={med['naive_json']:.1f}")
    echo(f"naive_vs_raw_ratio={med['naive_json'] / med['raw']:.3f}")
    echo(f"durable_vs_raw_ratio={med['ratio']:.3f}")
    return {"median": med, "runs": runs, "durable_vs_raw_ratio": med["ratio"]}


def _fresh(folder: str, r: int) -> str:
    sub = os.path.join(folder, f"naive{r}")
    os.makedirs(sub, exist_ok=True)
    return sub


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv)
