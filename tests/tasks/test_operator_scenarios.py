"""Every service operator called from a real BPMN service task, its result routing a gateway.

One small model per operator (``tests/tasks/models/<operator>.bpmn``): start → service task →
exclusive gateway → one of two user tasks. Each case starts it through the facade, with the
demo reference data in the database, and checks which user task waits in the lane's queue.
"""

from __future__ import annotations

import os

import pytest

from engine.reference import DatabaseReferenceData
from tasks import registry
from tasks.refcsv import demo_csv_texts
from tests.conftest import make_engine, make_user

MODELS = os.path.join(os.path.dirname(__file__), "models")

WARRANTY = {
    "serial_no": "AC2025000123",
    "product_model": "KFR-35GW/NhGd1BAj",
    "order_type": "repair",
    "purchase_date": "2025-08-01",
    "customer_phone": "13800138001",
}
QUOTE = {
    "order_type": "install",
    "category": "A",
    "zone": "out_of_city",
    "parts": [{"code": "KT-DR-35", "qty": 1}],
    "materials": [{"code": "CU-PIPE", "qty": 2}],
    "contract": None,
}
DEADLINES = {
    "order_type": "repair",
    "zone": "in_city",
    "dispatched_at": "2026-03-02T09:00:00+08:00",
    "appointment_at": None,
}
REPLY = {
    "order_type": "repair",
    "zone": "in_city",
    "dispatched_at": "2026-03-02T09:00:00+08:00",
    "replied_at": "2026-03-02T18:00:00+08:00",
}
LATE_CARD = {
    "rule": "late_card",
    "order_no": "WO-20260301-0001",
    "technician_id": "T001",
    "completed_at": "2026-03-01T10:00:00+08:00",
    "handed_in_at": "2026-03-02T14:00:00+08:00",
    "reported_in_advance": False,
}
SETTLED_ORDER = {
    "order_no": "WO-20260210-0001",
    "station": "杭州城西服务站",
    "technician_id": "T001",
    "labour_fee": "80.00",
    "callback_passed": True,
    "audit_passed": True,
    "completed_at": "2026-02-10T10:00:00+08:00",
}

# operator, lane (group), start data, result variable, the user task it leads to
CASES = [
    ("check_warranty", "customer_service", WARRANTY, "warranty", "free_service"),
    ("check_warranty", "customer_service", {**WARRANTY, "serial_no": "HX55E3F20230815A01", "product_model": "55E3F"},
     "warranty", "charged_service"),
    ("product_info", "dispatcher", {"product_model": "KFR-35GW/NhGd1BAj"}, "product", "air_conditioner_team"),
    ("product_info", "dispatcher", {"product_model": "BCD-470WDPG"}, "product", "general_team"),
    ("quote_fees", "finance", QUOTE, "quote", "collect_fee"),
    ("quote_fees", "finance", {**QUOTE, "category": "C"}, "quote", "no_fee"),
    ("compute_deadlines", "dispatcher", {**DEADLINES, "appointment_at": "2026-03-03"}, "deadlines",
     "confirm_appointment"),
    ("compute_deadlines", "dispatcher", DEADLINES, "deadlines", "watch_standard_deadline"),
    ("check_status_reply", "customer_service", REPLY, "reply_check", "accept_reply"),
    ("check_status_reply", "customer_service", {**REPLY, "replied_at": "2026-03-02T11:00:00+08:00"}, "reply_check",
     "flag_false_reply"),
    ("assess_penalty", "settlement_auditor", LATE_CARD, "penalty", "book_penalty"),
    ("assess_penalty", "settlement_auditor", {**LATE_CARD, "reported_in_advance": True}, "penalty", "no_penalty"),
    ("requisition_parts", "warehouse", {"items": [{"code": "KT-DR-35", "qty": 2}]}, "requisition", "issue_parts"),
    ("requisition_parts", "warehouse", {"items": [{"code": "KT-YSJ-15", "qty": 5}]}, "requisition", "order_parts"),
    ("audit_part_price", "tech_supervisor", {"part_code": "KT-DR-35", "invoice_price": "30.00"}, "audit", "stock_in"),
    ("audit_part_price", "tech_supervisor", {"part_code": "KT-DR-35", "invoice_price": "45.00"}, "audit",
     "return_invoice"),
    ("appraise_replaced_part", "tech_supervisor", {"part_code": "KT-ZB-BP", "fault_found": False}, "appraisal",
     "book_no_fault_penalty"),
    ("appraise_replaced_part", "tech_supervisor", {"part_code": "KT-ZB-BP", "fault_found": True}, "appraisal",
     "close_appraisal"),
    ("monthly_settlement", "settlement_auditor", {"month": "2026-02", "orders": [SETTLED_ORDER], "penalties": []},
     "settlement", "approve_settlement"),
    ("monthly_settlement", "settlement_auditor",
     {"month": "2026-02", "orders": [{**SETTLED_ORDER, "callback_passed": False}], "penalties": []}, "settlement",
     "review_excluded"),
]  # fmt: skip


@pytest.fixture
def eng(db, clock):
    e = make_engine(db, clock, ref=DatabaseReferenceData(db))
    for kind, text in demo_csv_texts().items():
        e.import_reference(kind, text)
    return e


def deploy(eng, operator: str) -> None:
    with open(os.path.join(MODELS, f"{operator}.bpmn"), "rb") as fh:
        eng.deploy({f"{operator}.bpmn": fh.read()})


def test_every_policy_operator_has_a_model_and_both_branches_here():
    ours = {name for name in registry.names() if registry.get(name).func.__module__.startswith("tasks.")}
    assert {case[0] for case in CASES} == ours
    assert sorted(f[: -len(".bpmn")] for f in os.listdir(MODELS)) == sorted(ours)
    branches = {}
    for operator, *_, task in CASES:
        branches.setdefault(operator, set()).add(task)
    assert all(len(tasks) == 2 for tasks in branches.values())


@pytest.mark.parametrize(("operator", "lane", "data", "result", "task"), CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES])
def test_the_operator_result_routes_the_gateway(eng, db, operator, lane, data, result, task):
    deploy(eng, operator)
    clerk = make_user(db, "clerk", lane)
    started = eng.start(f"scenario_{operator}", data, actor=clerk)
    assert started.incident is None
    instance = eng.get_instance(started.instance_id)
    assert [t.element_id for t in instance.open_tasks] == [task], instance.data.get(result)
    assert [t.element_id for t in eng.queue(clerk).items] == [task]
    assert result in instance.data
