"""History growth: the cost of one step of an order that has looped 0, 10, 100 and 1,000 times.

The loop is the dispatch flow's QC rework (``perform_repair`` -> ``quality_check`` failed ->
``perform_repair``); each turn adds two completed user tasks and their engine steps to the
instance's history. For every loop count, orders are driven there through the facade, then
each one's next steps are timed twice: *warm*, by the engine that ran it (its workflow is in
the engine's cache), and *cold*, by a second engine with no cache, which loads the state
and the archived task records from the database as another web process would. Every step
is a committed transaction on SQLite. The order looped 1,000 times is then finished and
checked (completed, 1,001 quality checks in its history).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

from bench import dispatch_model as model
from bench.engine_throughput import OPERATOR

LOOPS = (0, 10, 100, 1000)


class _Order:
    def __init__(self, eng, actors, n: int) -> None:
        self.actors, self.n, self.data = actors, n, {}
        self.result = eng.start(model.PROCESS_ID, {}, actor=actors["customer_service"])
        self.loops = 0

    def step(self, eng, *, rework: bool = True) -> float:
        """Complete the open task (QC fails while ``rework``); seconds taken."""
        task = self.result.open_tasks[0]
        form = model.form_data(task.element_id, self.n, self.data, rework=10**9 if rework else 0)
        self.data.update(form)
        started = time.perf_counter()
        self.result = eng.complete(task.id, form, actor=self.actors[task.group_id])
        took = time.perf_counter() - started
        if task.element_id == "quality_check" and rework:
            self.loops += 1
        return took

    def at(self) -> str:
        return self.result.open_tasks[0].element_id if self.result.open_tasks else ""


def figure(quick: bool, echo: Callable[[str], None] = print, *, tiny: bool = False) -> dict:
    from engine import Database, Engine, identity
    from engine.schema import upgrade

    loops = (0, 10, 100) if tiny else LOOPS
    orders = {0: 8, 10: 8, 100: 4, 1000: 2} if not quick else {0: 4, 10: 4, 100: 2, 1000: 1}
    steps = 4 if quick or tiny else 8
    echo(f"历史增长: 返工循环 {', '.join(map(str, loops))} 次后每一步的耗时 (SQLite, 每步一个事务)")
    out: dict = {"loops": {}, "steps_timed_per_order": steps}
    with tempfile.TemporaryDirectory() as folder:
        db = Database.connect(f"sqlite:///{os.path.join(folder, 'history.sqlite3')}")
        upgrade(db)
        warm = Engine(db)
        cold = Engine(db, cache_size=0)
        warm.deploy({"dispatch.bpmn": model.bpmn(OPERATOR).encode(), **model.form_schemas()})
        with db.write() as s:
            for group in model.LANES:
                identity.create_user(s, f"bench_{group}", "bench-password", group, groups=(group,))
        with db.read() as s:
            actors = {g: identity.actor_for(s, f"bench_{g}") for g in model.LANES}
        n = 0
        longest = None
        for k in loops:
            warm_ms, cold_ms, sizes, prepared = [], [], [], 0.0
            for _ in range(orders[k]):
                n += 1
                order = _Order(warm, actors, n)
                started = time.perf_counter()
                while order.at() != "perform_repair" or order.loops < k:
                    order.step(warm)
                prepared += time.perf_counter() - started
                for _ in range(steps):
                    warm_ms.append(order.step(warm) * 1000)
                for _ in range(steps):
                    cold_ms.append(order.step(cold) * 1000)
                longest = order
                with db.read() as s:
                    from sqlalchemy import func, select

                    from engine.models import Instance, TaskArchive

                    sizes.append((len(s.get(Instance, order.result.instance_id).state),
                                  s.scalar(select(func.count()).select_from(TaskArchive)
                                           .where(TaskArchive.instance_id == order.result.instance_id))))
            row = {"orders": orders[k], "warm_step_ms": round(statistics.median(warm_ms), 2),
                   "cold_step_ms": round(statistics.median(cold_ms), 2),
                   "state_chars": sizes[-1][0], "archived_tasks": sizes[-1][1],
                   "seconds_to_prepare": round(prepared, 1)}
            out["loops"][str(k)] = row
            echo(f"  {k:>5} 次循环: 热 {row['warm_step_ms']:.2f} ms/步, 冷 {row['cold_step_ms']:.2f} ms/步, "
                 f"状态 {row['state_chars']} 字符, 归档 {row['archived_tasks']} 个任务")
        if longest is not None:  # the longest-lived order runs to its end
            order, big = longest, longest.loops
            while order.result.open_tasks:
                order.step(cold, rework=False)
            qc = sum(1 for e in warm.history(order.result.instance_id)
                     if e.kind == "task_completed" and e.element_id == "quality_check")
            out["longest"] = {"loops": big, "status": order.result.status, "quality_checks": qc,
                              "correct": order.result.status == "completed" and qc == big + 1}
            echo(f"  循环 {big} 次的工单走完: 状态 {order.result.status}, 质检 {qc} 次")
        db.dispose()
    base = out["loops"]["0"]
    ref = out["loops"].get("100") or out["loops"][str(max(loops))]
    out["ratio_100_vs_0_cold"] = round(ref["cold_step_ms"] / base["cold_step_ms"], 3)
    out["ratio_100_vs_0_warm"] = round(ref["warm_step_ms"] / base["warm_step_ms"], 3)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(figure("--quick" in sys.argv, tiny="--tiny" in sys.argv), indent=1))
