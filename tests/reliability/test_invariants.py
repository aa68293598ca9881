"""The invariant checker itself: quiet on a healthy database, loud on each kind of damage."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from engine import Engine
from engine.models import Event, HumanTask, Instance, Job
from tests.reliability import invariants
from tests.reliability.conftest import reliability_model
from tests.reliability.racing import SharedClock, load_actors, make_staff


@pytest.fixture
def healthy(sqlite_db):
    eng = Engine(sqlite_db, clock=SharedClock())
    eng.deploy_directory(reliability_model("race"))
    make_staff(sqlite_db)
    tech = load_actors(sqlite_db)["technician"][0]
    first = eng.start("race", {"work_order_no": "WO-1", "limit": 3})
    eng.complete(first.open_tasks[0].id, {"ok": True}, actor=tech)
    second = eng.start("race", {"work_order_no": "WO-2", "limit": 3})
    eng.clock.advance(7200)
    assert eng.fire_due_jobs() == 1
    eng.start("race", {"work_order_no": "WO-3", "limit": 3})  # its timer waits
    assert invariants.check(sqlite_db).problems == []
    return sqlite_db, first, second


def damage(db, statement):
    with db.write() as s:
        s.execute(statement)


@pytest.mark.parametrize("what", ["lost update", "skipped version", "task open and completed", "timer lost",
                                  "double completion event", "timer fired twice"])
def test_the_checker_reports_each_kind_of_damage(healthy, what):
    db, first, second = healthy
    done = first.open_tasks[0].id
    if what == "lost update":  # a step's state written over by another without its version
        damage(db, update(Instance).where(Instance.id == first.instance_id).values(version=Instance.version - 1))
    elif what == "skipped version":
        damage(db, update(Instance).where(Instance.id == first.instance_id).values(version=Instance.version + 1))
    elif what == "task open and completed":
        damage(db, update(HumanTask).where(HumanTask.id == done).values(status="open"))
    elif what == "timer lost":
        damage(db, delete(Job))
    elif what == "double completion event":
        damage(db, Event.__table__.insert().values(instance_id=first.instance_id, at=SharedClock().now(),
                                                    actor="x", kind="task_completed", task_id=done))
    else:
        damage(db, Event.__table__.insert().values(instance_id=second.instance_id, at=SharedClock().now(),
                                                    actor="system", kind="timer_fired"))
    assert invariants.check(db).problems != []
