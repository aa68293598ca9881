"""P1, the generic work-order lifecycle: the branches and timers tests/engine/test_work_order.py leaves out.

Run through the facade and harvested for the flow-coverage check like every process scenario.
"""

from __future__ import annotations

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
