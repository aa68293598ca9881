"""P1, the generic work-order lifecycle, driven through the facade (real BPMN, real warranty rules).

Each call is its own transaction, on SQLite and on PostgreSQL, as the staff would click it.
"""

from __future__ import annotations

import pytest

from engine import NotAllowed
from tests.conftest import WORKFLOWS, make_engine, make_user

ORDER = {
    "work_order_no": "WO-20260302-0001", "order_type": "install", "customer_name": "刘芳",
    "customer_phone": "13800138001", "address": "杭州市西湖区文三路 1 号 1201 室", "zone": "in_city",
    "product_model": "KFR-35GW/NhGd1BAj", "serial_no": "AC2025000123", "purchase_date": "2025-08-01",
    "symptom": "新机安装", "channel": "phone", "requested_at": "2026-03-02T09:00:00+08:00",
}
DISPATCH = {"technician": "zhangwei", "accept_within": "PT2H", "dispatch_note": "客户下午在家"}
ACCEPT = {"customer_contacted": True, "appointment_at": "2026-03-02T14:00:00+08:00"}
CHECK_IN = {"arrived_at": "2026-03-02T13:52:00+08:00"}
COMPLETION = {"result": "fixed", "work_done": "安装室内外机并试机", "parts_used": [{"code": "P-PIPE-3M", "qty": 1}],
              "fee_collected": "0.00", "customer_signed": True}


@pytest.fixture
def staff(db):
    return {
        "kefu": make_user(db, "kefu", "customer_service"),
        "diaodu": make_user(db, "diaodu", "dispatcher"),
        "zhangwei": make_user(db, "zhangwei", "technician"),
        "liqiang": make_user(db, "liqiang", "technician"),
        "huifang": make_user(db, "huifang", "call_center"),
    }


@pytest.fixture
def eng(db, clock):
    from tasks.refcsv import demo_reference_data

    e = make_engine(db, clock, ref=demo_reference_data())
    e.deploy_directory(WORKFLOWS)
    return e


def only_task(eng, actor, element_id):
    items = [t for t in eng.inbox(actor).items + eng.queue(actor).items if t.element_id == element_id]
    assert len(items) == 1, [t.element_id for t in eng.inbox(actor).items + eng.queue(actor).items]
    return items[0]


def test_an_order_runs_from_new_to_closed_with_every_step_in_the_right_inbox(eng, staff, db):
    started = eng.start("work_order", ORDER, actor=staff["kefu"])
    inst = eng.get_instance(started.instance_id)
    assert inst.business_key == ORDER["work_order_no"]
    assert inst.data["warranty"]["category"] == "C" and inst.data["warranty"]["covered"] is True

    dispatch = only_task(eng, staff["diaodu"], "dispatch")
    assert dispatch.group_id == "dispatcher" and dispatch.customer_name == "刘芳"
    eng.complete(dispatch.id, DISPATCH, actor=staff["diaodu"])

    sent = []
    eng.deliver_outbox(lambda topic, payload, oid: sent.append((topic, payload)))
    assert sent[0][0] == "dispatch_reminder" and sent[0][1]["technician"] == "zhangwei"

    accept = only_task(eng, staff["zhangwei"], "accept_task")
    assert accept.assignee == "zhangwei" and accept.due_at is not None
    with pytest.raises(NotAllowed):  # assigned by the dispatcher: a colleague cannot take it
        eng.complete(accept.id, ACCEPT, actor=staff["liqiang"])
    eng.complete(accept.id, ACCEPT, actor=staff["zhangwei"])
    eng.complete(only_task(eng, staff["zhangwei"], "check_in").id, CHECK_IN, actor=staff["zhangwei"])
    eng.complete(only_task(eng, staff["zhangwei"], "report_progress").id,
                 {"finished": False, "progress_note": "已拆旧机"}, actor=staff["zhangwei"])
    eng.complete(only_task(eng, staff["zhangwei"], "report_progress").id,
                 {"finished": True, "progress_note": "安装调试完成"}, actor=staff["zhangwei"])
    eng.complete(only_task(eng, staff["zhangwei"], "complete_service").id, COMPLETION, actor=staff["zhangwei"])

    evaluation = only_task(eng, staff["huifang"], "customer_evaluation")
    result = eng.complete(evaluation.id, {"stars": 5, "satisfied": True, "evaluation_comment": "师傅很专业"},
                          actor=staff["huifang"])
    assert result.status == "completed"
    done = [e.element_id for e in eng.history(started.instance_id) if e.kind == "task_completed"]
    assert done == ["dispatch", "accept_task", "check_in", "report_progress", "report_progress",
                    "complete_service", "customer_evaluation"]
    assert eng.archive(staff["zhangwei"]).total == 5


def test_late_acceptance_escalates_to_the_dispatcher_and_a_missed_deadline_reassigns(eng, staff, clock):
    started = eng.start("work_order", ORDER, actor=staff["kefu"])
    eng.complete(only_task(eng, staff["diaodu"], "dispatch").id, DISPATCH, actor=staff["diaodu"])
    clock.advance(hours=1, minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=2)
    assert eng.fire_due_jobs() == 1
    overdue = only_task(eng, staff["diaodu"], "handle_accept_overdue")
    assert only_task(eng, staff["zhangwei"], "accept_task")  # still open: the timer does not interrupt
    eng.complete(overdue.id, {"overdue_action": "urged", "overdue_note": "已电话催办"}, actor=staff["diaodu"])

    clock.advance(hours=23)  # install in the city: 24 h from dispatch
    assert eng.fire_due_jobs() == 1
    assert eng.inbox(staff["zhangwei"]).total == 0
    reassign = only_task(eng, staff["diaodu"], "reassign")
    eng.complete(reassign.id, {"technician": "liqiang", "accept_within": "PT2H", "deadline_extension": "PT24H",
                               "reassign_reason": "张伟未能按时完工"}, actor=staff["diaodu"])
    assert only_task(eng, staff["liqiang"], "accept_task").assignee == "liqiang"
    kinds = [e.kind for e in eng.history(started.instance_id)]
    assert kinds.count("timer_fired") == 2


def test_an_order_without_purchase_proof_asks_customer_service_first(eng, staff):
    order = {**ORDER, "purchase_date": None, "work_order_no": "WO-20260302-0002"}
    started = eng.start("work_order", order, actor=staff["kefu"])
    proof = only_task(eng, staff["kefu"], "request_purchase_proof")
    assert eng.get_instance(started.instance_id).data["warranty"]["decided"] is False
    eng.complete(proof.id, {"proof_provided": True, "proof_type": "invoice", "purchase_date": "2025-09-01"},
                 actor=staff["kefu"])
    assert eng.get_instance(started.instance_id).data["warranty"]["category"] == "C"
    assert only_task(eng, staff["diaodu"], "dispatch")


def test_a_failing_warranty_check_at_start_leaves_the_order_in_error_for_an_admin(eng, staff):
    from engine import Actor

    order = {**ORDER, "product_model": "NO-SUCH-MODEL", "work_order_no": "WO-20260302-0003"}
    started = eng.start("work_order", order, actor=staff["kefu"])
    assert started.status == "error"
    assert started.incident.element_id == "product_lookup" and "product_model" in started.incident.message
    admin = Actor("boss", frozenset({"admin"}), frozenset({"admin"}))
    eng.update_variables(started.instance_id, {"product_model": "KFR-35GW/NhGd1BAj"}, actor=admin,
                         reason="型号录入错误")
    assert eng.retry(started.instance_id, actor=admin).status == "running"
    assert only_task(eng, staff["diaodu"], "dispatch").work_order_no == "WO-20260302-0003"
