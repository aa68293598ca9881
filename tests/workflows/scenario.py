"""Helpers for the process scenario tests: the staff of every lane, and a driver for one instance.

A scenario drives a real ``workflows/*.bpmn`` process through the engine facade, one
transaction per call, as staff would click it: :class:`Run` finds the open task of an
element, completes it as the assignee (or as a member of the task's group; the engine
refuses anyone else) and collects the notifications the process sent.
"""

from __future__ import annotations

from typing import Any

from engine import InstanceFilter
from tests.conftest import WORKFLOWS, make_engine, make_user

STAFF = {
    "kefu": "customer_service",
    "diaodu": "dispatcher",
    "zhangwei": "technician",
    "liqiang": "technician",
    "zhuguan": "tech_supervisor",
    "cangku": "warehouse",
    "huifang": "call_center",
    "jiesuan": "settlement_auditor",
    "caiwu": "finance",
    "guwen": "service_advisor",
    "banzu": "workshop_lead",
    "xiche": "washer",
    "baoan": "security",
    "xiangmu": "project_manager",
    "shouhou": "install_lead",
}
# what a step of the audit log says an element was reached by
REACHED = ("element", "task_created", "task_completed", "message_received")
# events that begin a step (one transaction) in the audit log
STEP_KINDS = frozenset({"started", "task_completed", "message_received", "timer_fired", "timers_checked", "retried",
                        "variables_changed"})
# (scenario key, process id, trace) of every instance a scenario ran, for tests/workflows/test_flow_coverage.py
TRACES: list[tuple[str, str, list[tuple[str, str]]]] = []
HARVESTED: set[str] = set()


def make_staff(db) -> dict:
    """One user per staff group, named as the demo users.

    Passwords are hashed with a single PBKDF2 round: these users never log in, and the
    default hash would make every scenario spend two seconds creating its staff.
    """
    from werkzeug.security import generate_password_hash

    from engine import identity

    real = identity.generate_password_hash
    identity.generate_password_hash = lambda password: generate_password_hash(password, "pbkdf2:sha256:1")
    try:
        return {name: make_user(db, name, group) for name, group in STAFF.items()}
    finally:
        identity.generate_password_hash = real


def deployed_engine(db, clock):
    """An engine on ``db`` with the demo reference data and every workflow deployed."""
    from tasks.refcsv import demo_reference_data

    eng = make_engine(db, clock, ref=demo_reference_data())
    eng.deploy_directory(WORKFLOWS)
    return eng


def scenario_key(function) -> str:
    """``module::function`` of a scenario test."""
    return f"{function.__module__.rsplit('.', 1)[-1]}::{function.__name__}"


def engine_fixture(db, clock, request):
    """The ``eng`` fixture of a scenario module: deployed, and harvested for flow coverage afterwards."""
    eng = deployed_engine(db, clock)
    yield eng
    harvest(eng, scenario_key(request.function))


def harvest(eng, key: str) -> None:
    """Record the trace of every instance ``eng`` ran under the scenario ``key``."""
    page = 1
    while True:
        listed = eng.list_instances(InstanceFilter(page=page, per_page=200))
        for row in listed.items:
            TRACES.append((key, row["process_id"], trace(eng.history(row["id"]))))
        if page * listed.per_page >= listed.total:
            break
        page += 1
    HARVESTED.add(key)


def trace(history) -> list[tuple[str, str]]:
    """``(kind, element id)`` in causal order: completions, then the elements run, then the tasks created.

    A step writes its audit events in the order action, cancelled and created tasks, engine
    elements; the elements that ran come before the user tasks they made ready.
    """
    out: list[tuple[str, str]] = []
    later: list[tuple[str, str]] = []
    for event in history:
        if event.kind in STEP_KINDS:
            out.extend(later)
            later = []
        if not event.element_id:
            continue
        if event.kind in ("task_created", "task_cancelled"):
            later.append((event.kind, event.element_id))
        elif event.kind in ("element", "task_completed"):
            out.append((event.kind, event.element_id))
    out.extend(later)
    return out


class Outbox:
    """Every notification delivered so far, in order."""

    def __init__(self, eng) -> None:
        self.eng = eng
        self.sent: list[tuple[str, dict]] = []

    def collect(self) -> list[tuple[str, dict]]:
        self.eng.deliver_outbox(lambda topic, payload, _id: self.sent.append((topic, payload)))
        return self.sent

    def topics(self) -> list[str]:
        return [topic for topic, _ in self.collect()]

    def of(self, topic: str) -> list[dict]:
        return [payload for t, payload in self.collect() if t == topic]


class Run:
    """One process instance driven by the staff of :data:`STAFF`."""

    def __init__(self, eng, staff: dict, instance_id: int) -> None:
        self.eng = eng
        self.staff = staff
        self.id = instance_id

    @classmethod
    def start(cls, eng, staff, process_id: str, data: dict, actor: str = "kefu", business_key: str | None = None) -> Run:
        started = eng.start(process_id, data, actor=staff[actor], business_key=business_key)
        assert started.status != "error", started.incident
        return cls(eng, staff, started.instance_id)

    def open_tasks(self) -> list:
        """The open user tasks of this instance (the engine checks at completion who may do them)."""
        tasks = self.eng.get_instance(self.id, with_data=False).open_tasks
        return sorted(tasks, key=lambda t: (t.created_at, t.element_id))

    def open(self) -> list[str]:
        return sorted(t.element_id for t in self.open_tasks())

    def task(self, element_id: str):
        found = [t for t in self.open_tasks() if t.element_id == element_id]
        assert len(found) == 1, f"{element_id}: open tasks are {self.open()}"
        return found[0]

    def actor_for(self, task):
        if task.assignee:
            return self.staff[task.assignee]
        return next(a for name, a in self.staff.items() if task.group_id in a.groups)

    def do(self, element_id: str, data: dict[str, Any] | None = None, actor: str | None = None):
        task = self.task(element_id)
        who = self.staff[actor] if actor else self.actor_for(task)
        result = self.eng.complete(task.id, data or {}, actor=who)
        assert result.status != "error", result.incident
        return result

    def message(self, name: str, payload: dict | None = None):
        result = self.eng.send_message(name, self.business_key, payload or {})
        assert result.status != "error", result.incident
        return result

    @property
    def business_key(self) -> str:
        return self.eng.get_instance(self.id).business_key

    @property
    def status(self) -> str:
        return self.eng.get_instance(self.id).status

    @property
    def data(self) -> dict:
        return self.eng.get_instance(self.id).data

    def history(self) -> list:
        return self.eng.history(self.id)

    def reached(self) -> list[str]:
        """Element ids in the order the audit log shows them reached or run."""
        return [e.element_id for e in self.history() if e.kind in REACHED and e.element_id]

    def completed(self) -> list[str]:
        return [e.element_id for e in self.history() if e.kind == "task_completed"]
