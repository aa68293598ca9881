"""Invariants of a database after concurrent or crashing runs, checked in SQL and against
each instance's stored state reloaded from scratch (no engine cache involved).

A *step* is one committed instance transaction; each logs exactly one of ``STEP_KINDS``
first, then what it caused (tasks created or cancelled, elements run, incidents). So a
stored instance must satisfy ``version == 1 + its step events`` (the row is inserted with
version 1 and the start step bumps it), and its events split into steps at those kinds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from engine import runtime
from engine.db import Database
from engine.models import Definition, Event, HumanTask, Instance, Job, MessageSubscription, Outbox, TaskArchive
from engine.spiff import StateSerializer

STEP_KINDS = frozenset({
    "started", "task_completed", "message_received", "timer_fired", "retried", "timers_checked",
    "variables_changed", "suspended", "resumed", "terminated",
})


@dataclass
class Report:
    """What was checked, for the test's closing figures."""

    instances: int = 0
    steps: int = 0
    completed_tasks: int = 0
    open_tasks: int = 0
    timer_firings: int = 0
    outbox: int = 0
    statuses: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(message)


def stored_workflows(db: Database):
    """Yield ``(instance row, workflow)`` for every instance, each loaded from its stored state."""
    serializer = StateSerializer()
    specs: dict[int, tuple] = {}
    with db.read() as s:
        definitions = {d.id: d.spec for d in s.scalars(select(Definition))}
        archive: dict[int, list[str]] = defaultdict(list)
        for instance_id, record in s.execute(select(TaskArchive.instance_id, TaskArchive.record)
                                             .order_by(TaskArchive.instance_id, TaskArchive.seq)):
            archive[instance_id].append(record)
        rows = list(s.scalars(select(Instance).order_by(Instance.id)))
    for row in rows:
        if row.definition_id not in specs:
            specs[row.definition_id] = serializer.load_spec(definitions[row.definition_id])
        spec, subs = specs[row.definition_id]
        yield row, serializer.load_state(row.state, spec, subs, archive.get(row.id, []))


def check(db: Database, *, timer_elements: tuple[str, ...] = ("sla",)) -> Report:
    """Check every invariant; the report's ``problems`` lists each violation found."""
    report = Report()
    with db.read() as s:
        events = list(s.execute(select(Event.id, Event.instance_id, Event.kind, Event.element_id, Event.task_id,
                                       Event.data).where(Event.instance_id.is_not(None)).order_by(Event.id)))
        tasks = list(s.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.status, HumanTask.element_id)))
        jobs = list(s.execute(select(Job.instance_id, Job.task_id, Job.kind, Job.status)))
        subs = list(s.execute(select(MessageSubscription.instance_id, MessageSubscription.element_id,
                                     MessageSubscription.message_name)))
        report.outbox = len(list(s.scalars(select(Outbox.id))))

    by_instance: dict[int, list] = defaultdict(list)
    for e in events:
        by_instance[e.instance_id].append(e)
    completed_events = Counter(e.task_id for e in events if e.kind == "task_completed")
    cancelled_events = Counter(e.task_id for e in events if e.kind == "task_cancelled")
    created_events = Counter(e.task_id for e in events if e.kind == "task_created")
    for task_id, n in completed_events.items():
        if n != 1:
            report.fail(f"task {task_id}: completed {n} times in the audit log")
    for task_id, n in created_events.items():
        if n != 1:
            report.fail(f"task {task_id}: created {n} times in the audit log")
    open_rows: dict[int, set[str]] = defaultdict(set)
    for t in tasks:
        if created_events[t.id] != 1:
            report.fail(f"task {t.id}: a row without exactly one task_created event")
        if t.status == "open":
            open_rows[t.instance_id].add(t.id)
            report.open_tasks += 1
            if completed_events[t.id] or cancelled_events[t.id]:
                report.fail(f"task {t.id}: open and yet completed/cancelled in the audit log")
        elif t.status == "completed":
            report.completed_tasks += 1
            if completed_events[t.id] != 1:
                report.fail(f"task {t.id}: completed row with {completed_events[t.id]} task_completed events")
        elif t.status == "cancelled" and completed_events[t.id]:
            report.fail(f"task {t.id}: cancelled and completed")
    rows_by_id = {t.id: t for t in tasks}
    for task_id in completed_events:
        row = rows_by_id.get(task_id)
        if row is None or row.status != "completed":
            report.fail(f"task {task_id}: a task_completed event but the row is {row and row.status}")
    timer_rows: dict[int, set[str]] = defaultdict(set)
    for j in jobs:
        if j.kind == "timer":
            timer_rows[j.instance_id].add(j.task_id)
    sub_rows: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for sub in subs:
        sub_rows[sub.instance_id].add((sub.element_id, sub.message_name))

    for row, workflow in stored_workflows(db):
        report.instances += 1
        report.statuses[row.status] += 1
        steps = _steps(by_instance[row.id])
        report.steps += len(steps)
        if row.version != 1 + len(steps):
            report.fail(f"instance {row.id}: version {row.version} but {len(steps)} committed steps")
        if not steps or steps[0][0].kind != "started":
            report.fail(f"instance {row.id}: the first step is not its start")
        for head, rest in steps:
            if head.kind == "timer_fired":
                report.timer_firings += 1
                ran = [x for e in rest if e.kind == "elements" for x in (e.data or {}).get("ran", [])]
                fired = [x for x in ran if x in timer_elements]
                if len(fired) != 1:
                    report.fail(f"instance {row.id}: timer step {head.id} fired {fired} (a job fired twice?)")
        snap = runtime.snapshot(workflow)
        ready = set(snap.ready)
        if row.status not in ("terminated",) and ready != open_rows[row.id]:
            report.fail(f"instance {row.id}: open task rows {sorted(open_rows[row.id])} != READY {sorted(ready)}")
        if row.status == "terminated" and open_rows[row.id]:
            report.fail(f"instance {row.id}: terminated with open tasks")
        if row.status not in ("terminated",):
            if set(snap.timers) != timer_rows[row.id]:
                report.fail(f"instance {row.id}: timer jobs {sorted(timer_rows[row.id])} != waiting timers "
                            f"{sorted(snap.timers)}")
            if set(snap.messages.values()) != sub_rows[row.id]:
                report.fail(f"instance {row.id}: subscriptions {sorted(sub_rows[row.id])} != waiting messages "
                            f"{sorted(snap.messages.values())}")
        if row.status in ("running", "waiting", "completed") and row.status != runtime.status_of(workflow, snap):
            report.fail(f"instance {row.id}: status {row.status} but the state says {runtime.status_of(workflow)}")
    return report


def _steps(events) -> list[tuple]:
    """Split one instance's events (in id order) into committed steps."""
    steps: list[tuple] = []
    for e in events:
        if e.kind in STEP_KINDS:
            steps.append((e, []))
        elif steps:
            steps[-1][1].append(e)
    return steps
