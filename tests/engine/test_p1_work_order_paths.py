"""P1, the generic work-order lifecycle: the branches and timers tests/engine/test_work_order.py leaves out.

Run through the facade and harvested for the flow-coverage check like every process scenario.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

ORDER = {
    "work_order_no": "WO-20260302-0101", "order_type": "maintenance", "customer_name": "杭州西溪明珠酒店",
    "customer_phone": "0571-88234567", "address": "杭州市西湖区天目山路 398 号", "zone": "in_city",
    "product_model": "KFR-72LW/NhAa1BAj", "serial_no": "GR72LW2024070100031", "purchase_date": "2025-07-01",
    "symptom": "季度保养", "channel": "maintenance_due", "requested_at": "2026-03-02T10:00:00+08:00",
}
DISPATCH = {"technician": "zhangwei", "accept_within": "PT1H"}
ACCEPT = {"customer_contacted": True, "appointment_at": "2026-03-02T14:00:00+08:00"}
COMPLETION = {"result": "fixed", "work_done": "清洗滤网、检查冷媒", "parts_used": [], "fee_collected": "0",
              "customer_signed": True}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def serve(run):
    run.do("accept_task", ACCEPT)
    run.do("check_in", {"arrived_at": "2026-03-02T13:55:00+08:00"})
    run.do("report_progress", {"finished": False, "progress_note": "已清洗室内机"})
    run.do("report_progress", {"finished": True, "progress_note": "保养完成"})
    run.do("complete_service", COMPLETION)


def test_an_order_is_served_in_several_progress_reports_and_closed_satisfied(eng, staff):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "work_order", ORDER)
    run.do("dispatch", DISPATCH)
    serve(run)
    run.do("customer_evaluation", {"stars": 5, "satisfied": True})
    assert run.status == "completed" and outbox.of("dispatch_reminder")[0]["technician"] == "zhangwei"


def test_an_order_without_proof_twice_is_served_as_charged(eng, staff):
    run = Run.start(eng, staff, "work_order", {**ORDER, "purchase_date": None, "serial_no": "GR72LW2019010100001"})
    run.do("request_purchase_proof", {"proof_provided": False, "proof_note": "发票遗失"})
    assert run.data["warranty"]["category"] == "A" and run.data["warranty"]["rule"] == "proof_missing"
    assert run.task("dispatch")


def test_late_acceptance_and_completion_escalate_and_an_unsatisfied_customer_gets_two_more_visits(eng, staff, clock):
    run = Run.start(eng, staff, "work_order", ORDER)
    run.do("dispatch", DISPATCH)
    clock.advance(hours=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    run.do("handle_accept_overdue", {"overdue_action": "urged"})
    clock.advance(days=3)  # maintenance falls back to the repair deadline: 3 days in the city
    assert eng.fire_due_jobs() == 1
    run.do("reassign", {"technician": "liqiang", "accept_within": "PT2H", "deadline_extension": "PT24H",
                        "reassign_reason": "张伟未能按时完工"})
    for visit in range(3):
        serve(run)
        run.do("customer_evaluation", {"stars": 2, "satisfied": False, "evaluation_comment": "仍有异响"})
        if visit < 2:
            run.do("dispatch", {**DISPATCH, "accept_within": "PT8H"})
    assert run.status == "completed" and run.reached()[-1] == "closed_unsatisfied"


def dispatched(eng, staff, clock, **order):
    run = Run.start(eng, staff, "work_order", {**ORDER, **order})
    run.do("dispatch", {**DISPATCH, "accept_within": "PT8H"})
    return run


def test_each_urge_asks_the_dispatched_technician_to_call_back_within_an_hour(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatched(eng, staff, clock)
    run.message("urge", {"urged_at": "2026-03-02T11:00:00+08:00", "note": "客户催促"})
    clock.advance(minutes=10)
    run.message("urge", {"note": "客户再次催促"})
    callbacks = [t for t in run.open_tasks() if t.element_id == "urge_callback"]
    assert [t.assignee for t in callbacks] == ["zhangwei", "zhangwei"]
    eng.complete(callbacks[0].id, {"customer_reached": True, "callback_note": "已说明下午上门"},
                 actor=staff["zhangwei"])
    clock.advance(minutes=59, seconds=59)
    assert eng.fire_due_jobs() == 0  # the second urge came 10 minutes later: its hour is not over
    clock.advance(seconds=2)
    assert eng.fire_due_jobs() == 1
    missed = outbox.of("urge_callback_missed")
    assert len(missed) == 1 and missed[0]["technician"] == "zhangwei" and missed[0]["urge"] == {"note": "客户再次催促"}
    run.do("urge_callback", {"customer_reached": False, "callback_note": "无人接听"})
    assert "urge_callback" not in run.open() and "accept_task" in run.open()


def test_a_customer_reschedules_the_visit_and_check_in_waits_for_the_new_time(eng, staff, clock):
    run = dispatched(eng, staff, clock)
    run.do("accept_task", ACCEPT)
    first = run.task("check_in")
    run.message("reschedule", {"appointment_at": "2026-03-03T09:00:00+08:00", "reason": "客户临时外出"})
    again = run.task("check_in")
    assert again.id != first.id and again.due_at.isoformat().startswith("2026-03-03T01:00")
    assert run.data["reschedule_count"] == 1 and run.data["appointment_at"] == "2026-03-03T09:00:00+08:00"
    run.do("check_in", {"arrived_at": "2026-03-03T08:55:00+08:00"})
    assert run.task("report_progress")


def test_reassigning_the_technicians_task_makes_the_next_tasks_follow_the_new_technician(eng, staff, clock):
    run = dispatched(eng, staff, clock)
    accept = run.task("accept_task")
    eng.reassign(accept.id, "liqiang", actor=staff["diaodu"], reason="张伟今日请假")
    run.do("accept_task", ACCEPT)
    assert run.task("check_in").assignee == "liqiang" and run.data["technician"] == "liqiang"
    run.message("urge", {"note": "催促"})
    assert run.task("urge_callback").assignee == "liqiang"


def _to_progress(run):
    run.do("accept_task", ACCEPT)
    run.do("check_in", {"arrived_at": "2026-03-02T13:55:00+08:00"})


def test_a_repair_waiting_two_days_for_parts_is_not_late_within_three_working_days_plus_the_wait(eng, staff, clock):
    run = dispatched(eng, staff, clock, order_type="repair", symptom="不制冷")
    _to_progress(run)
    clock.advance(hours=5)
    run.do("report_progress", {"finished": False, "waiting_for": "parts", "progress_note": "压缩机电容损坏，等配件"})
    assert run.open() == ["wait_resume"]
    clock.advance(days=2)
    assert eng.fire_due_jobs() == 0  # the deadline (3 days) passed while waiting: it is held
    run.do("wait_resume", {"resume_note": "配件到货 PJ-0001"})
    data = run.data  # the deadline the technician sees moves by the wait as well
    assert (datetime.fromisoformat(data["completion_deadline"])
            == datetime.fromisoformat(data["dispatched_at"]) + timedelta(days=5))
    clock.advance(days=2, hours=18, minutes=59)  # 3 days of work after dispatch + 2 days of waiting, less a minute
    assert eng.fire_due_jobs() == 0
    run.do("report_progress", {"finished": True, "progress_note": "更换电容，制冷恢复"})
    run.do("complete_service", COMPLETION)
    assert "reassign" not in run.reached() and run.task("customer_evaluation")
    kinds = {e.kind: e.data for e in run.history() if e.kind in ("sla_paused", "sla_resumed")}
    assert kinds["sla_paused"]["reason"] == "parts" and list(kinds["sla_paused"]["timers"]) == ["completion_overdue"]
    assert kinds["sla_resumed"]["paused_seconds"] == 2 * 86400


def test_a_repair_not_paused_is_late_three_days_after_dispatch(eng, staff, clock):
    run = dispatched(eng, staff, clock, order_type="repair", symptom="不制冷")
    _to_progress(run)
    run.do("report_progress", {"finished": False, "progress_note": "检修中"})
    clock.advance(days=3, seconds=-1)
    assert eng.fire_due_jobs() == 0
    clock.advance(seconds=2)
    assert eng.fire_due_jobs() == 1
    assert run.open() == ["reassign"] and "report_progress" not in run.open()
