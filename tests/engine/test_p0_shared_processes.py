"""The shared processes the DOMAIN processes call: callback, fee collection, parts requisition, penalty entry.

Each is started on its own here, with the data its callers pass, to drive the branches its
callers seldom reach.
"""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

ORDER = {
    "work_order_no": "SH-20260302-0001", "order_type": "repair", "customer_name": "李秀英",
    "customer_phone": "13905718888", "address": "杭州市上城区解放路 18 号", "zone": "in_city",
    "product_model": "BCD-470WDPG", "serial_no": "HE470WD2021050300211", "technician": "zhangwei",
}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def test_an_unreachable_customer_is_called_three_times_four_hours_apart(eng, staff, clock):
    run = Run.start(eng, staff, "callback", ORDER)
    for attempt in (1, 2):
        run.do("cb_call", {"reached": False, "callback_comment": "无人接听"})
        assert run.open() == []
        clock.advance(hours=3, minutes=59)
        assert eng.fire_due_jobs() == 0
        clock.advance(minutes=1, seconds=1)
        assert eng.fire_due_jobs() == 1
        assert run.data["callback_attempts"] == attempt
    run.do("cb_call", {"reached": False})
    assert run.status == "completed"
    assert run.data["callback_passed"] is False and "三次" in run.data["callback_note"]


def test_a_callback_result_from_the_call_system_replaces_the_manual_call(eng, staff):
    run = Run.start(eng, staff, "callback", ORDER)
    assert run.task("cb_call").group_id == "call_center"
    run.message("callback_result", {"passed": True, "note": "IVR：客户按 1 确认已修好"})
    assert run.status == "completed"
    assert run.data["callback_passed"] is True and run.data["callback_note"].startswith("IVR")


def test_fees_are_skipped_when_nothing_is_due_and_taken_at_the_counter_otherwise(eng, staff):
    free = Run.start(eng, staff, "fee_collection", {**ORDER, "fee_total": "0.00"})
    assert free.status == "completed" and free.data["fee_mode"] == "none"

    counter = Run.start(eng, staff, "fee_collection",
                        {**ORDER, "work_order_no": "SH-20260302-0002", "fee_total": "360.00", "fee_pay_at": "counter"})
    assert counter.task("fc_counter").group_id == "finance"
    counter.do("fc_counter", {"collected_amount": "360.00", "payment_method": "alipay", "receipt_no": "SJ-5",
                              "fee_invoice_no": "FP-5"})
    assert counter.status == "completed" and counter.data["fee_paid"] is True
    assert counter.data["fee_receipt_no"] == "SJ-5"


def test_the_on_site_limit_can_be_raised_by_the_caller(eng, staff):
    run = Run.start(eng, staff, "fee_collection", {**ORDER, "fee_total": "360.00", "onsite_fee_limit": "500"})
    assert run.task("fc_collect").assignee == "zhangwei"


def test_a_penalty_entry_is_assessed_and_notified_without_staying_in_the_order_data(eng, staff):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "penalty_entry",
                    {**ORDER, "penalty_rule": "late_card", "penalty_args": {"late_hours": 7}})
    assert run.status == "completed"
    [entry] = outbox.of("penalty_recorded")
    assert (entry["rule"], entry["amount"], entry["technician"]) == ("late_card", "3.00", "zhangwei")
    assert "penalty" not in run.data and run.data["last_penalty_amount"] == "3.00"
