"""P2 technician pre-visit procedure (售后服务工作流程), started on its own through the facade.

P3 calls the same process for every visit; here each branch of the procedure is driven
directly: verifying incomplete information, requisitioning parts, rescheduling with the
customer (at most three times), delays en route and the customer's own reschedule message.
"""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

ORDER = {
    "work_order_no": "PV-20260302-0001", "order_type": "repair", "customer_name": "王建国",
    "customer_phone": "13857112345", "address": "杭州市拱墅区湖墅南路 88 号", "zone": "in_city",
    "product_model": "EG100MATE55", "serial_no": "EG2025000321", "purchase_date": "2025-04-01",
    "symptom": "洗衣机脱水异响", "requested_at": "2026-03-02T15:00:00+08:00", "technician": "zhangwei",
}
APPOINTMENT = "2026-03-02T15:00:00+08:00"
ANALYSE = {"parts_needed": [], "parts_at_hand": True, "appointment_at": APPOINTMENT, "can_arrive_on_time": True,
           "service_mode": "onsite"}
CONTACT = {"customer_confirmed": True, "info_matches": True, "need_reschedule": False}
PREPARE = {"tools": True, "parts": True, "receipts": True, "fee_schedule": True, "note_card": True, "badge": True,
           "floor_cloth": True, "depart_at": "2026-03-02T14:10:00+08:00"}
AGREED = {"customer_agreed": True, "new_appointment_at": "2026-03-03T10:00:00+08:00", "reschedule_reason": "路途远"}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def test_unclear_information_is_checked_with_the_store_then_the_customer_and_parts_are_requisitioned(eng, staff):
    run = Run.start(eng, staff, "previsit", ORDER)
    run.do("pv_check_info", {"info_complete": False, "missing_info": "无购买日期，型号不全"})
    run.do("pv_verify_staff", {"verified_with": "store_manager", "verified": False})
    run.do("pv_call_customer", {"customer_reached": True, "confirmed_model": "EG100MATE55"})
    run.do("pv_analyse", {**ANALYSE, "parts_needed": [{"code": "XY-ZC-TJ", "qty": 1}], "parts_at_hand": False,
                          "service_mode": "carry_in"})
    run.do("pr_issue", {"issue_slip_no": "CK-7"})
    run.do("pv_contact", CONTACT)
    run.do("pv_prepare", PREPARE)
    run.do("pv_en_route", {"arrival": "arrived"})
    assert run.status == "completed"
    assert run.data["previsit_outcome"] == "carry_in" and run.data["parts_issued"][0]["code"] == "XY-ZC-TJ"


def test_information_confirmed_by_the_salesperson_goes_straight_to_the_analysis(eng, staff):
    run = Run.start(eng, staff, "previsit", ORDER)
    run.do("pv_check_info", {"info_complete": False, "missing_info": "地址不详"})
    run.do("pv_verify_staff", {"verified_with": "salesperson", "verified": True, "corrected_info": "1 单元 302"})
    assert run.task("pv_analyse").assignee == "zhangwei"


def test_rescheduling_is_agreed_at_most_three_times_then_the_dispatcher_transfers(eng, staff):
    run = Run.start(eng, staff, "previsit", ORDER)
    run.do("pv_check_info", {"info_complete": True})
    run.do("pv_analyse", {**ANALYSE, "can_arrive_on_time": False})
    for _ in range(3):
        run.do("pv_reschedule", AGREED)
        run.do("pv_contact", {**CONTACT, "need_reschedule": True})
    assert run.data["reschedules"] == 3
    escalation = run.task("pv_escalate")
    assert escalation.group_id == "dispatcher"
    run.do("pv_escalate", {"escalation_action": "transfer", "escalation_note": "改约三次，转李强"})
    assert run.status == "completed" and run.data["previsit_outcome"] == "transfer"


def test_a_delay_en_route_is_rescheduled_with_consent_and_escalated_without(eng, staff):
    run = Run.start(eng, staff, "previsit", ORDER)
    run.do("pv_check_info", {"info_complete": True})
    run.do("pv_analyse", ANALYSE)
    run.do("pv_contact", CONTACT)
    run.do("pv_prepare", PREPARE)
    run.do("pv_en_route", {"arrival": "delayed", "customer_consents": True, "delay_reason": "塞车",
                           "new_appointment_at": "2026-03-02T16:00:00+08:00"})
    assert run.data["appointment_at"] == "2026-03-02T16:00:00+08:00"
    run.do("pv_prepare", PREPARE)
    run.do("pv_en_route", {"arrival": "delayed", "customer_consents": False, "delay_reason": "车坏了"})
    assert run.task("pv_escalate")


def test_a_late_technician_is_reported_and_customer_reschedules_arrive_as_messages(eng, staff, clock):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "previsit", ORDER)
    run.do("pv_check_info", {"info_complete": True})
    run.do("pv_analyse", ANALYSE)
    run.do("pv_contact", CONTACT)
    run.do("pv_prepare", PREPARE)
    clock.advance(hours=5, minutes=59)  # 14:59 in Beijing
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    assert outbox.of("technician_late")[0]["appointment_at"] == APPOINTMENT
    assert "pv_en_route" in run.open()  # the reminder does not interrupt the visit

    for n in range(1, 4):
        run.message("reschedule", {"appointment_at": f"2026-03-0{n + 2}T10:00:00+08:00", "reason": "临时有事"})
        assert run.data["reschedules"] == n
        run.do("pv_prepare", PREPARE)
    run.message("reschedule", {"appointment_at": "2026-03-08T10:00:00+08:00", "reason": "又有事"})
    assert run.task("pv_escalate")
