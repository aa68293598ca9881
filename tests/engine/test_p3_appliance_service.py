"""P3 household appliance install/repair (售后流程图), driven through the facade on SQLite and PostgreSQL.

The fake clock starts on 2026-03-02 01:00 UTC (09:00 in Beijing) and dispatch happens then.
SLA hours come from the default SLA settings: install 24 h in the city, repair 3 days,
status reply from 6 h after dispatch, urge callback within 1 h, card hand-in within 24 h of
completion; penalties from the default penalty settings.

SpiffWorkflow fires a timer once the clock is past its due time (strictly), so the tests
check "not yet" a minute before and "fired" a second after (see tests/workflows/test_engine_gaps.py).
"""

from __future__ import annotations

import pytest

from engine import NotFound
from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

INSTALL = {
    "work_order_no": "AS-20260302-0001", "order_type": "install", "customer_name": "刘芳",
    "customer_phone": "13800138001", "address": "杭州市西湖区文三路 1 号 1201 室", "zone": "in_city",
    "product_model": "KFR-35GW/NhGd1BAj", "serial_no": "AC2025000123", "purchase_date": "2026-02-20",
    "symptom": "新机安装", "channel": "sales", "requested_at": "2026-03-02T14:00:00+08:00",
}
# a small appliance bought in 2023: its 12-month warranty is over, so the repair is self-paid (A)
SMALL_REPAIR = {
    **INSTALL, "work_order_no": "AS-20260302-0002", "order_type": "repair", "product_model": "MB-FB40S701",
    "serial_no": "MB2023000456", "purchase_date": "2023-01-10", "symptom": "电饭煲不加热", "channel": "phone",
}
# a fridge bought last year: in warranty (C)
FRIDGE_REPAIR = {
    **INSTALL, "work_order_no": "AS-20260302-0003", "order_type": "repair", "product_model": "BCD-470WDPG",
    "serial_no": "HE470WD2025010100017", "purchase_date": "2025-06-01", "symptom": "冰箱不制冷",
    "channel": "walk_in",
}
DISPATCH = {"technician": "zhangwei", "dispatch_note": "客户下午在家"}
APPOINTMENT = "2026-03-02T14:00:00+08:00"
PREVISIT_OK = {
    "pv_check_info": {"info_complete": True},
    "pv_analyse": {"parts_needed": [], "parts_at_hand": True, "appointment_at": APPOINTMENT,
                   "can_arrive_on_time": True, "service_mode": "onsite"},
    "pv_contact": {"customer_confirmed": True, "info_matches": True, "need_reschedule": False},
    "pv_prepare": {"tools": True, "parts": True, "receipts": True, "fee_schedule": True, "note_card": True,
                   "badge": True, "floor_cloth": True, "depart_at": "2026-03-02T13:10:00+08:00"},
    "pv_en_route": {"arrival": "arrived"},
}
COMPLETED = {"result": "completed", "work_done": "处理完成，试机正常", "customer_signed": True}
CANNOT = {"result": "cannot_complete", "work_done": "墙体不具备安装条件", "customer_signed": True,
          "cannot_complete_reason": "需物业批准打孔"}
CALLBACK_OK = {"reached": True, "service_confirmed": True, "stars": 5, "callback_comment": "满意"}
FIX = {"fault_found": True, "repair_decision": "repair", "diagnosis": "发热盘损坏"}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def dispatch_and_prepare(eng, staff, order, dispatch=DISPATCH):
    run = Run.start(eng, staff, "appliance_service", order)
    run.do("p3_dispatch", dispatch)
    return prepare(run)


def prepare(run):
    run.do("p3_accept", {"accept_channel": "sms"})
    for element, form in PREVISIT_OK.items():
        run.do(element, form)
    return run


def install(run, mode="regular"):
    run.do("p3_survey", {"install_mode": mode, "materials": []})
    run.do("p3_install", {"installed": True})


def pay_on_site(run, amount):
    run.do("fc_collect", {"collected_amount": amount, "payment_method": "cash", "receipt_no": "SJ-001"})
    run.do("fc_book", {"received_amount": amount, "invoice_action": "mail_later"})


def hand_in_and_close(run, *, reported_in_advance=False, false_reply=False, callback=CALLBACK_OK):
    run.do("p3_hand_in", {"card_no": "K-0001"})
    run.do("p3_receive_card", {"card_checked": True, "reported_in_advance": reported_in_advance,
                               "false_status_reply_found": false_reply})
    run.do("p3_close_system", {"system_completed": True, "receipt_printed": True})
    run.do("cb_call", callback)


def penalties(outbox):
    return [(p["rule"], p["amount"], p["waived"]) for p in outbox.of("penalty_recorded")]


def test_an_extra_material_install_is_quoted_collected_carded_called_back_and_closed(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, INSTALL)
    assert run.data["warranty"]["category"] == "C"
    assert outbox.of("dispatch_reminder")[0]["technician"] == "zhangwei"

    run.do("p3_survey", {"install_mode": "extra", "materials": [{"code": "CU-PIPE", "qty": 3}]})
    material_list = outbox.of("material_list")[0]
    assert material_list["total"] == "195.00" and material_list["lines"][0]["code"] == "CU-PIPE"
    run.do("p3_install", {"installed": True})
    clock.advance(hours=5)
    run.do("p3_completion", COMPLETED)
    assert run.data["fee_total"] == "195.00"  # labour is free in warranty, the extra material is not

    pay_on_site(run, "195.00")
    hand_in_and_close(run)
    assert run.status == "completed"
    assert penalties(outbox) == []
    assert run.completed()[:3] == ["p3_dispatch", "p3_accept", "pv_check_info"]


def test_a_missed_install_deadline_goes_to_the_dispatcher_at_24_hours(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, INSTALL)
    clock.advance(hours=23, minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    overdue = run.task("p3_overdue_handle")
    assert overdue.group_id == "dispatcher"
    run.do("p3_overdue_handle", {"status_reply_received": False, "overdue_action": "urged"})
    assert "p3_survey" in run.open()  # the timer does not interrupt the service


def test_an_appointment_install_runs_to_the_end_of_the_agreed_day(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, INSTALL, {**DISPATCH, "agreed_completion_date": "2026-03-05"})
    assert run.data["sla"]["completion_due_at"] == "2026-03-05T16:00:00Z"  # 2026-03-06 00:00 in Beijing
    clock.advance(days=3, hours=14, minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    assert run.task("p3_overdue_handle")


def test_an_urge_not_called_back_within_an_hour_is_escalated_and_fined(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, INSTALL)
    run.message("urge", {"channel": "phone", "note": "客户催装"})
    callback = run.task("p3_fu_call_back")
    assert callback.assignee == "zhangwei" and outbox.of("urge_notice")[0]["urge_no"] == 1
    clock.advance(minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    assert "p3_fu_call_back" not in run.open()
    assert outbox.of("urge_callback_missed")[0]["technician"] == "zhangwei"
    assert penalties(outbox) == [("missed_urge_callback", "20.00", False)]

    run.message("urge", {"channel": "wechat"})  # a second urge, called back in time: no new penalty
    clock.advance(minutes=30)
    run.do("p3_fu_call_back", {"called_at": "2026-03-02T10:30:00+08:00", "call_note": "已约下午上门"})
    clock.advance(hours=2)
    eng.fire_due_jobs()
    assert penalties(outbox) == [("missed_urge_callback", "20.00", False)]


def test_status_replies_are_checked_against_their_window(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, INSTALL)
    clock.advance(hours=1)
    run.message("status_reply", {"text": "等物业批准"})
    assert outbox.of("status_reply_rejected")[0]["technician"] == "zhangwei"
    clock.advance(hours=6)  # 7 h after dispatch: inside the window
    run.message("status_reply", {"text": "物业明天批准，预计明天完工"})
    assert outbox.of("status_reply_recorded")[0]["reply"]["text"].startswith("物业")


def test_urges_and_replies_stop_being_followed_after_ten_each(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, INSTALL)
    clock.advance(hours=7)
    for n in range(10):
        run.message("urge", {"n": n})
        run.do("p3_fu_call_back", {"called_at": "2026-03-02T17:00:00+08:00", "call_note": "已回电"})
        run.message("status_reply", {"n": n})
    with pytest.raises(NotFound):
        run.message("urge", {"n": 11})
    with pytest.raises(NotFound):
        run.message("status_reply", {"n": 11})
    install(run)
    run.do("p3_completion", COMPLETED)
    assert "fc_collect" not in run.open() and "p3_hand_in" in run.open()  # nothing to pay: labour is free


def test_a_card_handed_in_late_is_fined_per_started_three_hours(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, INSTALL)
    install(run)
    run.do("p3_completion", COMPLETED)
    clock.advance(hours=23, minutes=59)
    assert eng.fire_due_jobs() == 0
    clock.advance(minutes=1, seconds=1)
    assert eng.fire_due_jobs() == 1
    assert outbox.of("card_overdue")[0]["technician"] == "zhangwei"
    clock.advance(hours=4)  # 4 h past the deadline: two started blocks of 3 h
    hand_in_and_close(run)
    assert penalties(outbox) == [("late_card", "2.00", False)]
    assert run.status == "completed"


def test_a_late_card_reported_in_advance_is_waived_and_a_false_reply_costs_fifty(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, INSTALL)
    install(run)
    run.do("p3_completion", COMPLETED)
    clock.advance(hours=30)
    eng.fire_due_jobs()
    hand_in_and_close(run, reported_in_advance=True, false_reply=True)
    assert penalties(outbox) == [("late_card", "0.00", True), ("false_status_reply", "50.00", False)]


def test_a_self_paid_small_appliance_repair_with_a_false_invoice_and_a_faultless_old_part(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, SMALL_REPAIR)
    assert run.data["warranty"]["category"] == "A"
    run.do("p3_diagnose", {**FIX, "parts_needed": [{"code": "XJD-FRP", "qty": 1}], "part_source": "self_purchase"})
    assert run.data["repair_quote"]["total"] == "168.00"  # labour 80 + heating plate 88
    run.do("p3_quote_confirm", {"quote_accepted": True})
    run.do("p3_self_purchase", {"purchased_part_code": "XJD-FRP", "invoice_price": "150.00", "invoice_no": "FP-9",
                                "purchased_from": "五金店"})
    assert penalties(outbox) == [("false_parts_invoice", "50.00", False)]
    run.do("pr_issue", {"issue_slip_no": "CK-001"})  # the part comes from the warehouse instead
    run.do("p3_repair", {"parts_used": [{"code": "XJD-FRP", "qty": 1}], "repair_note": "更换发热盘"})
    run.do("p3_appraise", {"appraised_part_code": "XJD-FRP", "part_fault_found": False})
    assert penalties(outbox)[-1] == ("no_fault_part", "176.00", False)  # 2 x 88
    run.do("p3_completion", COMPLETED)
    assert run.data["fee_total"] == "168.00"
    pay_on_site(run, "168.00")
    hand_in_and_close(run)
    assert run.status == "completed"


def test_an_in_warranty_repair_with_a_genuine_self_bought_part_of_a_pre_sale_unit(eng, staff, clock):
    outbox = Outbox(eng)
    run = dispatch_and_prepare(eng, staff, {**FRIDGE_REPAIR, "pre_sale_unit": True})
    assert run.data["warranty"]["category"] == "C"
    run.do("p3_diagnose", {**FIX, "parts_needed": [{"code": "BX-WKQ", "qty": 1}], "part_source": "self_purchase",
                           "diagnosis": "温控器损坏"})
    run.do("p3_self_purchase", {"purchased_part_code": "BX-WKQ", "invoice_price": "45.00", "invoice_no": "FP-10",
                                "purchased_from": "配件城"})
    run.do("p3_stock_in_out", {"stock_in_no": "RK-1", "stock_out_no": "CK-1"})
    run.do("p3_repair", {"parts_used": [{"code": "BX-WKQ", "qty": 1}], "repair_note": "更换温控器"})
    run.do("p3_appraise", {"appraised_part_code": "BX-WKQ", "part_fault_found": True})
    run.do("p3_completion", COMPLETED)
    assert run.data["fee_total"] == "0.00"
    assert "p3_hand_in" in run.open() and penalties(outbox) == []


def test_a_part_out_of_stock_is_ordered_and_a_repair_without_parts_needs_no_appraisal(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, {**SMALL_REPAIR, "product_model": "C21-WK2102", "serial_no": "CK2025000777",
                                            "purchase_date": "2025-12-01", "symptom": "电磁炉不加热"})
    run.do("p3_diagnose", {**FIX, "parts_needed": [{"code": "XJD-XQP", "qty": 1}], "part_source": "requisition",
                           "diagnosis": "线圈盘烧坏"})
    assert run.data["requisition"]["available"] is False
    run.do("pr_order", {"expected_at": "2026-03-04T10:00:00+08:00", "supplier": "美的总仓"})
    run.do("pr_arrived", {"arrived_at": "2026-03-04T09:00:00+08:00", "issue_slip_no": "CK-2"})
    run.do("p3_repair", {"parts_used": [], "repair_note": "线圈盘到货后发现只是接触不良，已修复"})
    assert "p3_completion" in run.open()


def test_an_in_warranty_repair_without_parts_goes_straight_to_the_repair(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, FRIDGE_REPAIR)
    run.do("p3_diagnose", {**FIX, "parts_needed": [], "part_source": "none", "diagnosis": "门封松动"})
    run.do("p3_repair", {"parts_used": [], "repair_note": "调整门封"})
    run.do("p3_completion", COMPLETED)
    assert "p3_hand_in" in run.open()


def test_small_and_large_appliances_are_exchanged_with_an_appraisal_slip(eng, staff, clock):
    small = dispatch_and_prepare(eng, staff, SMALL_REPAIR)
    small.do("p3_diagnose", {**FIX, "repair_decision": "exchange", "parts_needed": [], "part_source": "none"})
    small.do("p3_appraisal_slip", {"appraisal_slip_no": "JD-1", "appliance_size": "small",
                                   "appraisal_conclusion": "主板故障，予以换新"})
    small.do("p3_pickup", {"invoice_and_slip_checked": True, "new_serial_no": "MB2026000001"})
    assert "p3_completion" in small.open()

    large = dispatch_and_prepare(eng, staff, {**FRIDGE_REPAIR, "work_order_no": "AS-20260302-0009"})
    large.do("p3_diagnose", {**FIX, "repair_decision": "exchange", "parts_needed": [], "part_source": "none"})
    large.do("p3_appraisal_slip", {"appraisal_slip_no": "JD-2", "appliance_size": "large",
                                   "appraisal_conclusion": "压缩机故障，予以换新"})
    large.do("p3_logistics", {"waybill_no": "WL-1", "delivered_at": "2026-03-03T10:00:00+08:00"})
    large.do("p3_install_replacement", {"new_serial_no": "HE470WD2026030100001"})
    assert "p3_completion" in large.open()


def test_no_fault_and_a_declined_quote_end_the_visit_and_an_expensive_repair_is_invoiced_first(eng, staff, clock):
    no_fault = dispatch_and_prepare(eng, staff, FRIDGE_REPAIR)
    no_fault.do("p3_diagnose", {"fault_found": False, "diagnosis": "使用不当，已指导"})
    assert "p3_completion" in no_fault.open()

    declined = dispatch_and_prepare(eng, staff, SMALL_REPAIR)
    declined.do("p3_diagnose", {**FIX, "parts_needed": [{"code": "XJD-FRP", "qty": 1}], "part_source": "requisition"})
    declined.do("p3_quote_confirm", {"quote_accepted": False, "quote_note": "嫌贵，不修了"})
    declined.do("p3_completion", {**COMPLETED, "work_done": "检测，用户放弃维修"})
    assert declined.data["fee_total"] == "80.00"  # the labour of the visit
    pay_on_site(declined, "80.00")
    assert "p3_hand_in" in declined.open()

    compressor = dispatch_and_prepare(eng, staff, {**SMALL_REPAIR, "work_order_no": "AS-20260302-0010",
                                                   "product_model": "KFR-26GW/N8MJA3", "serial_no": "MD2020000123",
                                                   "purchase_date": "2019-05-01", "symptom": "空调不制冷"})
    compressor.do("p3_diagnose", {**FIX, "parts_needed": [{"code": "KT-YSJ-15", "qty": 1}],
                                  "part_source": "requisition"})
    compressor.do("p3_quote_confirm", {"quote_accepted": True})
    compressor.do("pr_issue", {"issue_slip_no": "CK-3"})
    compressor.do("p3_repair", {"parts_used": [{"code": "KT-YSJ-15", "qty": 1}], "repair_note": "更换压缩机"})
    compressor.do("p3_completion", COMPLETED)
    assert compressor.data["fee_total"] == "1060.00"  # over the on-site limit: invoice first
    compressor.do("fc_invoice", {"fee_invoice_no": "FP-2026-001"})
    compressor.do("fc_collect", {"collected_amount": "1060.00", "payment_method": "card", "receipt_no": "SJ-9"})
    compressor.do("fc_book", {"received_amount": "1060.00", "invoice_action": "issued"})
    assert "p3_hand_in" in compressor.open()


def test_an_order_that_cannot_be_completed_is_sealed_and_reopened_at_most_three_times(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, INSTALL)
    for visit in (1, 2, 3, 4):
        install(run)
        run.do("p3_completion", CANNOT)
        run.do("p3_seal", {"seal_reason": f"第 {visit} 次：需物业批准"})
        if visit < 4:
            assert run.data["visit_no"] == visit + 1
            run.do("p3_dispatch", DISPATCH)
            prepare(run)
    assert run.task("p3_unresolved").group_id == "dispatcher"
    run.do("p3_unresolved", {"resolution": "与物业协调后改期安装，本单结案"})
    assert run.status == "completed"


def test_a_technician_who_cannot_come_is_replaced_and_the_fourth_transfer_goes_to_the_manager(eng, staff, clock):
    run = Run.start(eng, staff, "appliance_service", INSTALL)
    for transfer in range(4):
        run.do("p3_dispatch", {"technician": "liqiang" if transfer % 2 else "zhangwei"})
        run.do("p3_accept", {"accept_channel": "self"})
        run.do("pv_check_info", {"info_complete": True})
        run.do("pv_analyse", {**PREVISIT_OK["pv_analyse"], "can_arrive_on_time": False})
        run.do("pv_reschedule", {"customer_agreed": False, "reschedule_reason": "手上工单冲突"})
        run.do("pv_escalate", {"escalation_action": "transfer", "escalation_note": "转其他技术员"})
    assert run.task("p3_unresolved")


def test_a_failed_callback_seals_the_order_for_another_visit(eng, staff, clock):
    run = dispatch_and_prepare(eng, staff, INSTALL)
    install(run)
    run.do("p3_completion", COMPLETED)
    hand_in_and_close(run, callback={"reached": True, "service_confirmed": False, "stars": 2,
                                     "callback_comment": "空调漏水"})
    run.do("p3_seal", {"seal_reason": "回访：空调漏水"})
    assert run.task("p3_dispatch") and run.data["visit_no"] == 2
