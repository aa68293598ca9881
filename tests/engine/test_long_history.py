"""Long-lived instances: loops far past the library's own task-tree depth limit of 1000."""

from __future__ import annotations

from bench import dispatch_model as model
from bench.engine_throughput import OPERATOR
from tests.conftest import make_engine, make_user


def test_an_instance_reworked_400_times_still_runs_to_its_end(sqlite_db, clock):
    # 400 turns of the three-task rework loop make the task tree about 1,200 levels deep;
    # SpiffWorkflow alone stops seeing READY tasks at depth 1000 (about 330 turns).
    eng = make_engine(sqlite_db, clock)
    eng.deploy({"dispatch.bpmn": model.bpmn(OPERATOR).encode(), **model.form_schemas()})
    actors = {group: make_user(sqlite_db, f"u_{group}", group) for group in model.LANES}
    result = eng.start(model.PROCESS_ID, {}, actor=actors["customer_service"])
    data: dict = {}
    steps = 0
    while result.open_tasks:
        task = result.open_tasks[0]
        form = model.form_data(task.element_id, 1, data, rework=400)
        data.update(form)
        result = eng.complete(task.id, form, actor=actors[task.group_id])
        steps += 1
    assert result.status == "completed"
    assert steps == 9 + 2 * 400
    history = eng.history(result.instance_id)
    assert sum(1 for e in history if e.kind == "task_completed" and e.element_id == "quality_check") == 401
