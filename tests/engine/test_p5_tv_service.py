"""P5 TV dispatch, acceptance and settlement (电视售后派工受理结算流程), all 15 steps, through the facade.

The demo special-sales list holds XML43A2024031200088 (an engineering bulk unit of the
夏新 XM-L43A, sold without warranty). The clock starts on 2026-03-02 01:00 UTC; the
supervisor's monthly summary reaches the settlement auditor on the 1st of the next month,
09:00 in Beijing.
"""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

REPORT = {
    "work_order_no": "TV-20260302-0001", "order_type": "repair", "customer_name": "赵丽",
    "customer_phone": "13706711234", "address": "杭州市滨江区江南大道 300 号", "zone": "in_city",
    "product_model": "XM-L43A", "serial_no": "XML43A2025060100001", "purchase_date": "2025-10-01",
    "symptom": "开机无图像", "channel": "supervisor",
}
SPECIAL_SERIAL = "XML43A2024031200088"
REGISTER = {"serial_no": "XML43A2025060100001", "purchase_date": "2025-10-01"}
SLIP = {"slip_no": "PG-0301", "station": "夏新电视特约维修站", "technician": "zhangwei"}
VISIT = {"confirmed_serial_no": "XML43A2025060100001", "proof_copy_kept": True, "warranty_card_copy_kept": True}
FREE_REPAIR = {"acceptance_form_no": "SL-0301", "work_done": "更换电源板", "parts_used": [{"code": "DS-DYB", "qty": 1}],
               "customer_signed": True}
CALLBACK_OK = {"reached": True, "service_confirmed": True, "stars": 5}
CALLBACK_FAILED = {"reached": True, "service_confirmed": False, "stars": 1, "callback_comment": "用户说没人上门"}
AUDIT_OK = {"slip_matches": True, "acceptance_form_ok": True, "purchase_proof_ok": True, "audit_passed": True}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def test_a_warranty_repair_is_called_back_audited_next_month_and_its_labour_fee_settled(eng, staff, clock):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "tv_service", REPORT)
    assert run.task("p5_register").group_id == "dispatcher"
    run.do("p5_register", REGISTER)
    assert run.data["first_warranty"]["covered"] is True
    run.do("p5_slip", SLIP)
    run.do("p5_visit", VISIT)
    assert run.data["second_warranty"]["covered"] is True
    run.do("p5_free_repair", FREE_REPAIR)
    assert run.data["labour_fee"] == "80.00"
    run.do("p5_enter", {"acceptance_form_received": True})
    assert run.task("cb_call").group_id == "call_center"
    run.do("cb_call", CALLBACK_OK)
    assert run.data["settlement_month"] == "2026-03" and run.open() == []

    clock.set(clock.now().replace(month=3, day=31, hour=23))
    assert eng.fire_due_jobs() == 0
    clock.set(clock.now().replace(month=4, day=1, hour=1, second=1))
    assert eng.fire_due_jobs() == 1
    audit = run.task("p5_audit")
    assert audit.group_id == "settlement_auditor"
    run.do("p5_audit", AUDIT_OK)
    [settled] = outbox.of("labour_fee_settled")
    assert (settled["station"], settled["month"], settled["amount"]) == ("夏新电视特约维修站", "2026-03", "80.00")
    assert run.status == "completed"
    assert run.completed() == ["p5_register", "p5_slip", "p5_visit", "p5_free_repair", "p5_enter", "cb_call",
                               "p5_audit"]


def test_a_special_sale_found_on_site_is_a_paid_repair_and_a_failed_audit_settles_nothing(eng, staff, clock):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "tv_service", {**REPORT, "channel": "station"})
    assert run.task("p5_station_register").group_id == "technician"
    run.do("p5_station_register", {"forwarded_how": "registered", "station_note": "代为登记"})
    run.do("p5_register", REGISTER)
    run.do("p5_slip", SLIP)
    run.do("p5_visit", {**VISIT, "confirmed_serial_no": SPECIAL_SERIAL})
    assert run.data["second_warranty"]["rule"] == "special_sale"
    run.do("p5_paid_service", {"customer_agreed": True, "acceptance_form_no": "SL-0302", "work_done": "更换电源板",
                               "parts_used": [{"code": "DS-DYB", "qty": 1}]})
    assert run.data["fee_total"] == "290.00"  # labour 80 + power board 210: over the on-site limit
    run.do("fc_invoice", {"fee_invoice_no": "FP-0302"})
    run.do("fc_collect", {"collected_amount": "290.00", "payment_method": "cash", "receipt_no": "SJ-0302"})
    run.do("fc_book", {"received_amount": "290.00", "invoice_action": "issued"})
    run.do("p5_enter", {"acceptance_form_received": True})
    run.do("cb_call", CALLBACK_FAILED)
    run.do("p5_reverify", {"confirmed": True, "reverify_note": "用户记错，已核实上门"})
    clock.set(clock.now().replace(month=4, day=1, hour=1, second=1))
    assert eng.fire_due_jobs() == 1
    run.do("p5_audit", {**AUDIT_OK, "purchase_proof_ok": False, "audit_passed": False})
    assert outbox.of("labour_fee_refused")[0]["work_order_no"] == "TV-20260302-0001"
    assert outbox.of("labour_fee_settled") == [] and run.status == "completed"


def test_a_special_sale_found_at_registration_is_paid_service_which_the_customer_may_decline(eng, staff):
    run = Run.start(eng, staff, "tv_service", REPORT)
    run.do("p5_register", {**REGISTER, "serial_no": SPECIAL_SERIAL})
    assert run.data["first_warranty"]["rule"] == "special_sale"
    run.do("p5_paid_dispatch", {**SLIP, "customer_informed": True})
    run.do("p5_paid_service", {"customer_agreed": False, "acceptance_form_no": "SL-0303"})
    assert run.status == "completed" and run.reached()[-1] == "p5_declined"


def test_a_failed_callback_not_confirmed_by_the_supervisor_is_not_settled(eng, staff):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "tv_service", REPORT)
    run.do("p5_register", REGISTER)
    run.do("p5_slip", SLIP)
    run.do("p5_visit", VISIT)
    run.do("p5_free_repair", FREE_REPAIR)
    run.do("p5_enter", {"acceptance_form_received": True})
    run.do("cb_call", CALLBACK_FAILED)
    run.do("p5_reverify", {"confirmed": False, "reverify_note": "用户确认未上门"})
    assert outbox.of("labour_fee_refused")[0]["technician"] == "zhangwei"
    assert run.status == "completed"
