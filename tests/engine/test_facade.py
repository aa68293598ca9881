"""The facade's verbs on a small model, on SQLite and PostgreSQL, each call its own transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine import Actor, Conflict, InvalidInput, NotAllowed, NotFound
from engine.models import Event, HumanTask, Incident, Instance
from tests.conftest import make_engine, make_user
from tests.engine.conftest import SERVICE, model_dir

ADMIN = Actor("boss", frozenset({"admin"}), frozenset({"admin"}))


@pytest.fixture
def eng(db, clock):
    e = make_engine(db, clock)
    e.deploy_directory(model_dir("basic"))
    return e


@pytest.fixture
def tech(db):
    return make_user(db, "zhang", "technician")


def open_task(eng, actor, element_id=None):
    items = eng.queue(actor).items + eng.inbox(actor).items
    return next(t for t in items if element_id is None or t.element_id == element_id)


def count(db, stmt):
    with db.read() as s:
        return s.scalar(stmt)


def test_start_puts_the_first_task_in_the_lane_groups_queue(eng, tech):
    result = eng.start("basic", {"work_order_no": "WO-1", "customer_name": "刘芳"})
    assert result.status == "running"
    task = open_task(eng, tech)
    assert (task.element_id, task.group_id, task.work_order_no, task.customer_name) == (
        "first", "technician", "WO-1", "刘芳")
    assert task.due_at is not None  # from the interrupting boundary timer


def test_start_of_an_undeployed_process_is_not_found(eng):
    with pytest.raises(NotFound):
        eng.start("nope", {})


def test_invalid_form_data_gets_per_field_errors_and_changes_nothing(eng, tech, db):
    started = eng.start("basic", {"work_order_no": "WO-2"})
    task = open_task(eng, tech)
    with pytest.raises(InvalidInput) as err:
        eng.complete(task.id, {"ok": "yes", "note": "far too long"}, actor=tech)
    assert set(err.value.fields) == {"ok", "note"}
    assert "备注" in err.value.fields["note"]
    with pytest.raises(InvalidInput) as err:
        eng.complete(task.id, {}, actor=tech)
    assert set(err.value.fields) == {"ok"}
    assert eng.get_instance(started.instance_id).version == started.version
    assert open_task(eng, tech).id == task.id
    assert count(db, select(func.count()).select_from(Event).where(Event.kind == "task_completed")) == 0


def test_reserved_or_underscore_names_in_form_data_are_refused(eng, tech):
    eng.start("basic", {"work_order_no": "WO-3"})
    task = open_task(eng, tech)
    for bad in ({"ok": True, "typename": "x"}, {"ok": True, "_secret": 1}, {"ok": True, "now_iso": 1}):
        with pytest.raises(InvalidInput):
            eng.complete(task.id, bad, actor=tech)


def test_only_the_group_or_the_assignee_may_complete(eng, tech, db):
    other = make_user(db, "wang", "customer_service")
    colleague = make_user(db, "li", "technician")
    eng.start("basic", {"work_order_no": "WO-4"})
    task = open_task(eng, tech)
    with pytest.raises(NotAllowed):
        eng.complete(task.id, {"ok": True}, actor=other)
    eng.claim(task.id, actor=tech)
    with pytest.raises(NotAllowed):
        eng.complete(task.id, {"ok": True}, actor=colleague)
    with pytest.raises(Conflict):
        eng.claim(task.id, actor=colleague)
    eng.complete(task.id, {"ok": True}, actor=tech)
    with pytest.raises(Conflict):
        eng.complete(task.id, {"ok": True}, actor=tech)


def test_claim_unclaim_and_reassign_move_the_task_between_inboxes(eng, tech, db):
    colleague = make_user(db, "li", "technician")
    dispatcher = make_user(db, "chen", "dispatcher")
    eng.start("basic", {"work_order_no": "WO-5"})
    task = open_task(eng, tech)
    eng.claim(task.id, actor=tech)
    assert eng.inbox(tech).total == 1 and eng.queue(colleague).total == 0
    eng.unclaim(task.id, actor=tech)
    assert eng.queue(colleague).total == 1
    with pytest.raises(InvalidInput):
        eng.reassign(task.id, "li", actor=dispatcher, reason=" ")
    with pytest.raises(InvalidInput):
        eng.reassign(task.id, "chen", actor=dispatcher, reason="不在技术员组")
    eng.reassign(task.id, "li", actor=dispatcher, reason="张伟请假")
    assert eng.inbox(colleague).total == 1
    kinds = [e.kind for e in eng.history(task.instance_id)]
    assert "task_reassigned" in kinds
    logged = next(e for e in eng.history(task.instance_id) if e.kind == "task_reassigned")
    assert logged.data == {"from": None, "to": "li", "reason": "张伟请假"}


def test_a_failing_service_task_leaves_an_incident_and_retry_continues(eng, tech, db):
    started = eng.start("basic", {"work_order_no": "WO-6"})
    task = open_task(eng, tech)
    SERVICE["fail"] = True
    result = eng.complete(task.id, {"ok": True}, actor=tech)
    assert result.status == "error"
    assert result.incident.element_id == "svc"
    assert "ERP 超时" in result.incident.message and "ConnectionError" in result.incident.traceback
    inst = eng.get_instance(started.instance_id)
    assert inst.status == "error" and inst.open_tasks == ()
    # the user's own completion is kept: the task is done, nothing past the service ran
    assert count(db, select(func.count()).select_from(HumanTask).where(HumanTask.status == "completed")) == 1
    assert "echo" not in inst.data
    SERVICE["fail"] = False
    retried = eng.retry(started.instance_id, actor=ADMIN)
    assert retried.status == "waiting"
    incident = eng.get_instance(started.instance_id).incidents[0]
    assert incident.resolved_at is not None


def test_an_admin_fixes_a_variable_then_retries(eng, tech):
    started = eng.start("basic", {"work_order_no": "WO-7"})
    SERVICE["fail"] = True
    eng.complete(open_task(eng, tech).id, {"ok": True}, actor=tech)
    with pytest.raises(NotAllowed):
        eng.update_variables(started.instance_id, {"ok": False}, actor=tech, reason="x")
    eng.update_variables(started.instance_id, {"note": "修正"}, actor=ADMIN, reason="补录备注")
    SERVICE["fail"] = False
    eng.retry(started.instance_id, actor=ADMIN)
    inst = eng.get_instance(started.instance_id)
    assert inst.data["note"] == "修正" and inst.data["echo"]["value"] is True
    assert any(e.kind == "variables_changed" for e in eng.history(started.instance_id))


def test_a_message_reaches_the_instance_waiting_under_its_work_order(eng, tech):
    started = eng.start("basic", {"work_order_no": "WO-8"})
    eng.complete(open_task(eng, tech).id, {"ok": True}, actor=tech)
    with pytest.raises(NotFound):
        eng.send_message("urge", "WO-unknown", {})
    eng.send_message("urge", "WO-8", {"level": 2})
    inst = eng.get_instance(started.instance_id)
    assert inst.data["urge"] == {"level": 2}
    assert [t.element_id for t in inst.open_tasks] == ["second"]


def test_a_due_timer_fires_once_and_cancels_the_task(eng, tech, clock, db):
    dispatcher = make_user(db, "chen", "dispatcher")
    started = eng.start("basic", {"work_order_no": "WO-9"})
    assert eng.fire_due_jobs() == 0
    clock.advance(hours=1, minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=2)
    assert eng.fire_due_jobs() == 1
    assert eng.fire_due_jobs() == 0
    inst = eng.get_instance(started.instance_id)
    assert [t.element_id for t in inst.open_tasks] == ["escalate"]
    assert open_task(eng, dispatcher).element_id == "escalate"
    assert eng.queue(tech).total == 0
    with db.read() as s:
        cancelled = s.scalar(select(HumanTask.status).where(HumanTask.element_id == "first"))
    assert cancelled == "cancelled"


def test_suspended_instances_refuse_work_until_resumed(eng, tech):
    started = eng.start("basic", {"work_order_no": "WO-10"})
    task = open_task(eng, tech)
    eng.suspend(started.instance_id, actor=ADMIN, reason="客户要求暂停")
    with pytest.raises(Conflict):
        eng.complete(task.id, {"ok": True}, actor=tech)
    eng.resume(started.instance_id, actor=ADMIN)
    assert eng.complete(task.id, {"ok": True}, actor=tech).status == "waiting"


def test_terminate_cancels_open_tasks_and_timers(eng, tech, clock):
    started = eng.start("basic", {"work_order_no": "WO-11"})
    with pytest.raises(NotAllowed):
        eng.terminate(started.instance_id, actor=tech)
    eng.terminate(started.instance_id, actor=ADMIN, reason="重复工单")
    inst = eng.get_instance(started.instance_id)
    assert inst.status == "terminated" and inst.open_tasks == () and inst.jobs == ()
    clock.advance(hours=3)
    assert eng.fire_due_jobs() == 0


def test_a_thrown_message_becomes_one_outbox_notification(db, clock, tech):
    eng = make_engine(db, clock)
    eng.deploy_directory(model_dir("notify"))
    eng.start("notify_flow", {"work_order_no": "WO-12", "technician": "zhang"})
    sent = []
    assert eng.deliver_outbox(lambda topic, payload, oid: sent.append((topic, payload))) == 1
    assert eng.deliver_outbox(lambda topic, payload, oid: sent.append((topic, payload))) == 0
    assert sent == [("dispatch_reminder", {"work_order_no": "WO-12", "technician": "zhang"})]


def test_a_failing_sender_is_retried_until_delivered_once(db, clock):
    eng = make_engine(db, clock)
    eng.deploy_directory(model_dir("notify"))
    eng.start("notify_flow", {"work_order_no": "WO-13", "technician": "zhang"})
    attempts = []

    def flaky(topic, payload, oid):
        attempts.append(oid)
        if len(attempts) < 3:
            raise OSError("短信网关不可用")

    assert eng.deliver_outbox(flaky) == 0
    clock.advance(seconds=11)
    assert eng.deliver_outbox(flaky) == 0
    clock.advance(seconds=21)
    assert eng.deliver_outbox(flaky) == 1
    clock.advance(hours=1)
    assert eng.deliver_outbox(flaky) == 0
    assert len(attempts) == 3


def test_state_survives_a_new_engine_without_the_cache(eng, tech, db, clock):
    started = eng.start("basic", {"work_order_no": "WO-14"})
    fresh = make_engine(db, clock)  # another process: empty cache
    fresh.complete(open_task(fresh, tech).id, {"ok": True}, actor=tech)
    # the first engine's cached copy is now stale and must not be used
    eng.send_message("urge", "WO-14", {})
    assert [t.element_id for t in eng.get_instance(started.instance_id).open_tasks] == ["second"]
    with db.read() as s:
        assert s.get(Instance, started.instance_id).version == started.version + 2
    assert count(db, select(func.count()).select_from(Incident)) == 0


def test_changing_variables_does_not_move_a_suspended_or_failed_instance(eng, tech):
    started = eng.start("basic", {"work_order_no": "WO-15"})
    SERVICE["fail"] = True
    eng.complete(open_task(eng, tech).id, {"ok": True}, actor=tech)
    SERVICE["fail"] = False
    fixed = eng.update_variables(started.instance_id, {"note": "修正"}, actor=ADMIN, reason="补录")
    assert fixed.status == "error" and SERVICE["calls"] == 1  # the failed call only: nothing runs until retry
    eng.suspend(started.instance_id, actor=ADMIN)
    assert eng.update_variables(started.instance_id, {"note": "再改"}, actor=ADMIN, reason="再改").status == "suspended"
    assert eng.get_instance(started.instance_id).status == "suspended"


def test_connections_of_ended_threads_are_released(db, clock):
    import threading

    eng = make_engine(db, clock)
    eng.deploy_directory(model_dir("basic"))

    def start_one(n):
        eng.start("basic", {"work_order_no": f"WO-T{n}"})

    for n in range(5):
        worker = threading.Thread(target=start_one, args=(n,))
        worker.start()
        worker.join()
    start_one(99)  # a step on a live thread prunes the connections of the ended ones
    assert len(db._held) == 1


def test_the_queue_is_searched_by_number_phone_serial_or_name(eng, tech):
    from engine import TaskFilter

    eng.start("basic", {"work_order_no": "WO-20", "customer_phone": "13800000020", "serial_no": "SN-A20",
                        "customer_name": "刘芳"})
    eng.start("basic", {"work_order_no": "WO-21", "customer_phone": "13800000021", "serial_no": "SN-A21",
                        "customer_name": "王_强%"})
    for term, expected in (("WO-20", ["WO-20"]), ("13800000021", ["WO-21"]), ("SN-A20", ["WO-20"]),
                           ("刘", ["WO-20"]), ("_强%", ["WO-21"]), ("nothing", [])):
        found = [t.work_order_no for t in eng.queue(tech, TaskFilter(search=term)).items]
        assert found == expected, term
    assert [o["business_key"] for o in eng.open_orders_like(phone="13800000020")] == ["WO-20"]
    assert [o["business_key"] for o in eng.open_orders_like(serial_no="SN-A21")] == ["WO-21"]
