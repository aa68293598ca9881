"""Long-lived instances: loops far past the library's own task-tree depth limit of 1000."""

from __future__ import annotations

from bench import dispatch_model as model
from bench.engine_throughput import OPERATOR
from tests.conftest import make_engine, make_user


def drive(db, clock, *, rework: int, fresh_engine_every: int = 0):
    """Run one dispatch order with ``rework`` QC failures; optionally a new engine now and then."""
    eng = make_engine(db, clock)
    eng.deploy({"dispatch.bpmn": model.bpmn(OPERATOR).encode(), **model.form_schemas()})
    actors = {group: make_user(db, f"u_{group}", group) for group in model.LANES}
    result = eng.start(model.PROCESS_ID, {}, actor=actors["customer_service"])
    data: dict = {}
    steps = 0
    while result.open_tasks:
        task = result.open_tasks[0]
        form = model.form_data(task.element_id, 1, data, rework=rework)
        data.update(form)
        if fresh_engine_every and steps % fresh_engine_every == 3:
            eng = make_engine(db, clock)  # an empty cache: the state is read back from the database
        result = eng.complete(task.id, form, actor=actors[task.group_id])
        steps += 1
    return eng, result, steps


def test_an_instance_reworked_400_times_still_runs_to_its_end(sqlite_db, clock):
    # 400 turns of the three-task rework loop make the task tree about 1,200 levels deep;
    # SpiffWorkflow alone stops seeing READY tasks at depth 1000 (about 330 turns).
    eng, result, steps = drive(sqlite_db, clock, rework=400)
    assert result.status == "completed"
    assert steps == 9 + 2 * 400
    history = eng.history(result.instance_id)
    assert sum(1 for e in history if e.kind == "task_completed" and e.element_id == "quality_check") == 401


def test_a_long_lived_instance_continues_in_a_new_process_from_its_archive(db, clock):
    _eng, result, steps = drive(db, clock, rework=30, fresh_engine_every=7)
    assert result.status == "completed" and steps == 9 + 2 * 30
    with db.read() as s:
        from sqlalchemy import func, select

        from engine.models import Instance, TaskArchive

        archived = s.scalar(select(func.count()).select_from(TaskArchive))
        state_size = len(s.get(Instance, result.instance_id).state)
    assert archived > 60 and state_size < 12_000
