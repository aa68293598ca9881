"""Races between real processes on PostgreSQL: one winner, the loser told, nothing lost."""

from __future__ import annotations

import multiprocessing as mp
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine import Conflict, Database, Engine, FakeClock
from engine.models import Event, HumanTask, Instance
from tests.conftest import make_engine, make_user
from tests.engine.conftest import model_dir

CTX = mp.get_context("fork")


def _complete_in_child(url, task_id, username, barrier, results):
    from engine import identity

    db = Database.connect(url)
    eng = Engine(db)
    with db.read() as s:
        actor = identity.actor_for(s, username)
    barrier.wait(timeout=30)
    try:
        eng.complete(task_id, {"ok": True}, actor=actor)
        results.put("ok")
    except Conflict:
        results.put("conflict")
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()


def _fire_in_child(url, now_iso, barrier, results):
    db = Database.connect(url)
    eng = Engine(db, clock=FakeClock(datetime.fromisoformat(now_iso)))
    barrier.wait(timeout=30)
    try:
        results.put(eng.fire_due_jobs())
    except Exception as exc:
        results.put(f"error: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()


def run_children(target, args_list):
    barrier = CTX.Barrier(len(args_list))
    results = CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, barrier, results)) for args in args_list]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return out


@pytest.fixture
def eng(pg_db, clock):
    e = make_engine(pg_db, clock)
    e.deploy_directory(model_dir("basic"))
    return e


def count_events(db, kind):
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def test_two_processes_completing_the_same_task_give_one_success_and_one_conflict(eng, pg_db, pg_url):
    make_user(pg_db, "zhang", "technician")
    make_user(pg_db, "li", "technician")
    started = eng.start("basic", {"work_order_no": "WO-RACE"})
    task_id = eng.get_instance(started.instance_id).open_tasks[0].id
    outcomes = run_children(_complete_in_child, [(pg_url, task_id, "zhang"), (pg_url, task_id, "li")])
    assert sorted(outcomes) == ["conflict", "ok"], outcomes
    with pg_db.read() as s:
        row = s.get(Instance, started.instance_id)
        task = s.get(HumanTask, task_id)
    assert row.version == started.version + 1
    assert row.status == "waiting"
    assert task.status == "completed" and task.completed_by in ("zhang", "li")
    assert count_events(pg_db, "task_completed") == 1
    # the instance is intact: it goes on from where the winner left it
    assert eng.send_message("urge", "WO-RACE", {}).status == "running"


def test_a_timer_fires_exactly_once_while_two_workers_race(eng, pg_db, pg_url, clock):
    make_user(pg_db, "chen", "dispatcher")
    ids = [eng.start("basic", {"work_order_no": f"WO-T{i}"}).instance_id for i in range(6)]
    due = clock.advance(hours=3)
    fired = run_children(_fire_in_child, [(pg_url, due.isoformat()), (pg_url, due.isoformat())])
    assert all(isinstance(n, int) for n in fired), fired
    assert sum(fired) == len(ids)
    assert count_events(pg_db, "timer_fired") == len(ids)
    for instance_id in ids:
        inst = eng.get_instance(instance_id)
        assert [t.element_id for t in inst.open_tasks] == ["escalate"]
        assert inst.jobs == ()
