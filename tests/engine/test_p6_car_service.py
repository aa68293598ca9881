"""P6 car dealership (4S) workshop (汽车4S店售后服务流程), through the facade.

Additional items are done only after the customer's signed approval; QC failures go back to
the workshop at most twice; an unsatisfied customer sends the car back at most twice; a
final price above the estimate (plus approved additional items) by more than 10 % must be
explained; undecidable warranty goes to the manufacturer, whose answer arrives as the
message manufacturer_approval correlated by the repair-order number.
"""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

CAR = {
    "work_order_no": "RO-20260302-0001", "customer_name": "周强", "customer_phone": "13967100001",
    "plate_no": "浙A12345", "vin": "LFV2A21K8F3123456", "car_model": "一汽-大众 迈腾", "mileage": 45000,
    "symptom": "刹车异响",
}
RECEPTION = {"covers_installed": True, "walkaround_done": True, "valuables_reminded": True,
             "interview": "低速刹车时前轮异响，一周前开始", "new_customer": False, "warranty_decision": "not_covered"}
ORDER = {"repair_items": "更换前刹车片", "estimate_amount": "600.00", "estimate_hours": 1.5,
         "pickup_at": "2026-03-02T17:00:00+08:00", "old_parts_handling": "return", "customer_accepts": True}
WORK = {"work_done": "更换前刹车片", "needs_test_drive": False}
DELIVERY = {"final_amount": "620.00", "customer_satisfied": True}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def to_workshop(run):
    run.do("p6_repair_order", ORDER)
    assert run.task("p6_dispatch").group_id == "dispatcher"
    run.do("p6_dispatch", {"team_lead": "banzu"})
    run.do("p6_to_bay", {"bay": "A3", "technician": "zhangwei"})


def finish(run, qc=True):
    run.do("p6_self_check", {"self_check_ok": True})
    run.do("p6_qc", {"qc_passed": qc})


def deliver(run, delivery=DELIVERY):
    run.do("p6_old_parts", {"old_parts_tagged": True})
    run.do("p6_wash", {"wash_card_seen": True, "washed": True})
    run.do("p6_predelivery", delivery)


def pay_and_leave(run, amount):
    run.do("fc_counter", {"collected_amount": amount, "payment_method": "card", "receipt_no": "SJ-RO1",
                          "fee_invoice_no": "FP-RO1"})
    assert run.task("p6_exit_pass").group_id == "security"
    run.do("p6_exit_pass", {"exit_pass_collected": True})
    run.do("cb_call", {"reached": True, "service_confirmed": True, "stars": 5})


def test_a_car_is_received_repaired_checked_washed_paid_released_and_called(eng, staff):
    run = Run.start(eng, staff, "car_service", CAR)
    run.do("p6_guide", {"returning_car": False})
    assert run.task("p6_reception").group_id == "service_advisor"
    run.do("p6_reception", RECEPTION)
    to_workshop(run)
    assert run.task("p6_work").assignee == "zhangwei"
    run.do("p6_work", WORK)
    assert run.task("p6_self_check").assignee == "banzu"
    finish(run)
    deliver(run)
    pay_and_leave(run, "620.00")
    assert run.status == "completed"
    assert run.completed()[-4:] == ["p6_predelivery", "fc_counter", "p6_exit_pass", "cb_call"]


def test_a_returning_car_of_a_new_customer_waits_for_the_manufacturer_and_needs_approval_for_more_work(eng, staff):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "car_service", CAR)
    run.do("p6_guide", {"returning_car": True})
    assert outbox.of("returning_car")[0]["plate_no"] == "浙A12345"
    run.do("p6_reception", {**RECEPTION, "new_customer": True, "warranty_decision": "undecided"})
    run.do("p6_customer_file", {"customer_file_no": "KH-0099", "brochure_given": True})
    run.do("p6_diagnose", {"diagnosis": "刹车卡钳活塞锈蚀"})
    run.do("p6_warranty_review", {"warranty_decision": "undecided"})
    assert outbox.of("warranty_claim")[0]["vin"] == "LFV2A21K8F3123456" and run.open() == []
    run.message("manufacturer_approval", {"approved": True, "claim_no": "SQ-2026-77"})
    assert run.data["warranty_decision"] == "covered"
    to_workshop(run)
    run.do("p6_work", {**WORK, "additional_items": "更换刹车油", "additional_amount": "180.00", "needs_test_drive": True})
    run.do("p6_additional_approval", {"additional_approved": True})
    run.do("p6_additional_work", {"additional_done": "已更换刹车油"})
    run.do("p6_test_drive", {"test_drive_ok": True})
    finish(run, qc=False)
    assert run.data["reworks"] == 1
    run.do("p6_work", WORK)
    finish(run)
    deliver(run, {"final_amount": "900.00", "customer_satisfied": False, "complaint": "仍有轻微异响"})
    run.do("p6_work", WORK)
    finish(run)
    deliver(run, {"final_amount": "900.00", "customer_satisfied": True})
    run.do("p6_price_explain", {"customer_signed": True, "explain_note": "增加更换刹车盘"})  # 900 > (600 + 180) x 1.1
    pay_and_leave(run, "900.00")
    assert run.status == "completed"


def test_a_customer_who_declines_the_repair_gets_a_safety_warning(eng, staff):
    run = Run.start(eng, staff, "car_service", CAR)
    run.do("p6_guide", {"returning_car": False})
    run.do("p6_reception", {**RECEPTION, "warranty_decision": "undecided"})
    run.do("p6_diagnose", {"diagnosis": "刹车片磨损到极限"})
    run.do("p6_warranty_review", {"warranty_decision": "not_covered"})
    run.do("p6_repair_order", {**ORDER, "customer_accepts": False})
    run.do("p6_safety_warning", {"warning_given": True, "customer_signed": True})
    assert run.status == "completed" and run.reached()[-1] == "p6_declined"


def test_refused_extra_work_is_skipped_and_qc_and_customer_returns_are_bounded(eng, staff):
    run = Run.start(eng, staff, "car_service", CAR)
    run.do("p6_guide", {"returning_car": False})
    run.do("p6_reception", RECEPTION)
    to_workshop(run)
    run.do("p6_work", {**WORK, "additional_items": "更换雨刮", "additional_amount": "120.00"})
    run.do("p6_additional_approval", {"additional_approved": False})
    for _ in range(3):  # the third failed QC lets the car go, unfinished items recorded
        finish(run, qc=False)
        if "p6_work" in run.open():
            run.do("p6_work", WORK)
    assert run.data["reworks"] == 2 and "p6_old_parts" in run.open()
    for _ in range(2):
        deliver(run, {"final_amount": "600.00", "customer_satisfied": False, "complaint": "不满意"})
        run.do("p6_work", WORK)
        finish(run)
    deliver(run, {"final_amount": "600.00", "customer_satisfied": False, "complaint": "仍不满意"})
    assert run.data["returns"] == 2 and "fc_counter" in run.open()
