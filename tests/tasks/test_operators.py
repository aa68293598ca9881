from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from tasks import registry
from tests.tasks.factories import NOW, floats_in

SAMPLE_CALLS = {
    "check_warranty": {"serial_no": "SN-123456", "product_model": "55E3F", "order_type": "repair",
                       "purchase_date": "2025-01-10"},
    "product_info": {"product_model": "55E3F"},
    "quote_fees": {"order_type": "install", "category": "A", "zone": "out_of_city",
                   "parts": [{"code": "P-CAP", "qty": 2}], "materials": [{"code": "CU-PIPE", "qty": 1}]},
    "compute_deadlines": {"order_type": "install", "zone": "in_city", "dispatched_at": "2025-06-02T08:00:00Z",
                          "completed_at": "2025-06-02T20:00:00Z"},
    "check_status_reply": {"order_type": "repair", "zone": "in_city", "dispatched_at": "2025-06-02T08:00:00Z",
                           "replied_at": "2025-06-03T08:00:00Z"},
    "assess_penalty": {"rule": "late_card", "order_no": "WO-1", "technician_id": "T001", "late_hours": 4},
    "requisition_parts": {"items": [{"code": "P-CAP", "qty": 1}]},
    "audit_part_price": {"part_code": "P-BOARD", "invoice_price": "370.00"},
    "appraise_replaced_part": {"part_code": "P-BOARD", "fault_found": False},
    "monthly_settlement": {"month": "2025-06", "orders": [
        {"order_no": "WO-1", "station": "城西站", "technician_id": "T001", "labour_fee": 80.5,
         "callback_passed": True, "audit_passed": True, "completed_at": "2025-06-02T08:00:00Z"}]},
}  # fmt: skip


def test_every_policy_operator_is_registered_and_sampled_here():
    ours = {name for name in registry.names() if registry.get(name).func.__module__.startswith("tasks.")}
    assert ours == set(SAMPLE_CALLS)


@pytest.mark.parametrize("name", sorted(SAMPLE_CALLS))
def test_operators_take_keyword_arguments_and_return_json_ready_results(name, ref):
    op = registry.get(name)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in inspect.signature(op.func).parameters.values())
    result = op.call(SAMPLE_CALLS[name], now=NOW, ref=ref)
    assert json.loads(json.dumps(result, ensure_ascii=False)) == result
    assert floats_in(result) == []


def test_tasks_package_imports_neither_engine_nor_web_nor_spiffworkflow():
    code = (
        "import sys, tasks.operators, tasks.refcsv;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'engine', 'web', 'SpiffWorkflow', 'flask'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
