"""P4 service management rules (售后服务管理办法): intake, on-site service, carry-in repair, charged service."""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

CHARGED = {
    "work_order_no": "SR-20260302-0001", "customer_name": "陈明", "customer_phone": "13588001122",
    "address": "杭州市余杭区五常大道 20 号", "zone": "in_city", "product_model": "MB-FB40S701",
    "serial_no": "MB2023000999", "purchase_date": "2023-01-10", "symptom": "不通电",
}
FREE = {**CHARGED, "work_order_no": "SR-20260302-0002", "product_model": "BCD-470WDPG",
        "serial_no": "HE470WD2025020200002", "purchase_date": "2025-06-01", "symptom": "冷藏室结冰"}
REGISTER = {"site_situation": "家中有人，可随时上门", "slip_printed": True}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def dispatched(eng, staff, order):
    run = Run.start(eng, staff, "service_request", order)
    run.do("p4_register", REGISTER)
    assert run.task("p4_dispatch").group_id == "dispatcher"
    run.do("p4_dispatch", {"technician": "zhangwei"})
    return run


def test_a_charged_repair_fixed_on_site_is_paid_on_site_and_the_slip_returned(eng, staff):
    run = dispatched(eng, staff, CHARGED)
    assert run.data["warranty"]["category"] == "A"
    run.do("p4_onsite", {"fixed_on_site": True, "work_done": "更换电源线", "parts_used": [], "voucher_signed": True})
    assert run.data["fee_total"] == "80.00"
    run.do("fc_collect", {"collected_amount": "80.00", "payment_method": "cash", "receipt_no": "SJ-11"})
    run.do("fc_book", {"received_amount": "80.00", "invoice_action": "mail_later"})
    run.do("p4_return_slip", {"slip_returned": True})
    assert run.status == "completed"


def test_a_free_repair_fixed_on_site_needs_no_payment(eng, staff):
    run = dispatched(eng, staff, FREE)
    assert run.data["warranty"]["category"] == "C"
    run.do("p4_onsite", {"fixed_on_site": True, "work_done": "调整温控", "parts_used": [], "voucher_signed": True})
    assert run.open() == ["p4_return_slip"]


def test_a_product_carried_in_is_received_repaired_reminded_collected_and_paid_at_the_counter(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatched(eng, staff, CHARGED)
    run.do("p4_onsite", {"fixed_on_site": False, "work_done": "现场无法修复，需携回", "parts_used": []})
    run.do("p4_pickup_receipt", {"pickup_receipt_no": "LQ-001", "customer_signed_slip": True,
                                 "items_taken": "电饭煲一台，内胆一个，外观完好"})
    run.do("p4_carry_in", {"product_received": True})
    assert run.data["service_kind"] == "carry_in"
    run.do("p4_workshop", {"workshop_repaired": True, "work_done": "更换发热盘",
                           "parts_used": [{"code": "XJD-FRP", "qty": 1}]})
    assert outbox.of("pickup_ready")[0]["pickup_receipt_no"] == "LQ-001"
    clock.advance(days=6, hours=23)
    assert eng.fire_due_jobs() == 0
    clock.advance(hours=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    assert outbox.of("pickup_reminder")[0]["customer_phone"] == "13588001122"
    run.do("p4_customer_pickup", {"receipt_returned": True, "picked_up_by": "陈明"})
    assert run.data["fee_total"] == "168.00" and run.task("fc_counter").group_id == "finance"
    run.do("fc_counter", {"collected_amount": "168.00", "payment_method": "wechat", "receipt_no": "SJ-12",
                          "fee_invoice_no": "FP-12"})
    run.do("p4_return_slip", {"slip_returned": True})
    assert run.status == "completed"


def test_a_carried_in_product_that_cannot_be_repaired_is_returned_free(eng, staff):
    run = dispatched(eng, staff, CHARGED)
    run.do("p4_onsite", {"fixed_on_site": False, "work_done": "需携回", "parts_used": []})
    run.do("p4_pickup_receipt", {"pickup_receipt_no": "LQ-002", "customer_signed_slip": True, "items_taken": "电饭煲"})
    run.do("p4_carry_in", {"product_received": True})
    run.do("p4_workshop", {"workshop_repaired": False, "work_done": "主板停产，无法修复", "parts_used": []})
    run.do("p4_customer_pickup", {"receipt_returned": True, "picked_up_by": "陈明"})
    assert run.open() == ["p4_return_slip"]
