from __future__ import annotations

import pytest

from tasks.penalties import assess_penalty
from tasks.registry import ServiceInputError
from tests.tasks.factories import floats_in, make_ref

COMPLETED = "2025-06-02T08:00:00Z"  # card due 2025-06-03T08:00:00Z


def assess(ref, **params):
    params = {"order_no": "WO-20250602-001", "technician_id": "T001"} | params
    return assess_penalty(ref=ref, **params)


@pytest.mark.parametrize(
    ("params", "amount", "waived"),
    [
        ({"completed_at": COMPLETED, "handed_in_at": "2025-06-03T11:00:00Z"}, "1.00", False),
        ({"completed_at": COMPLETED, "handed_in_at": "2025-06-03T11:01:00Z"}, "2.00", False),
        ({"completed_at": COMPLETED, "handed_in_at": "2025-06-03T07:00:00Z"}, "0.00", False),
        (
            {"completed_at": COMPLETED, "handed_in_at": "2025-06-03T11:01:00Z", "reported_in_advance": True},
            "0.00",
            True,
        ),
        ({"late_hours": 3}, "1.00", False),
        ({"late_hours": "3.02"}, "2.00", False),
        ({"late_hours": 0}, "0.00", False),
        ({"late_hours": 7, "reported_in_advance": True}, "0.00", True),
    ],
)
def test_late_card_penalty(ref, params, amount, waived):
    entry = assess(ref, rule="late_card", **params)
    assert (entry["amount"], entry["waived"]) == (amount, waived)
    assert entry["rule"] == "late_card"
    assert entry["reason"]


def test_waived_late_card_says_what_it_would_have_cost(ref):
    entry = assess(ref, rule="late_card", late_hours=7, reported_in_advance=True)
    assert "3.00" in entry["reason"] and "免" in entry["reason"]


@pytest.mark.parametrize(
    ("rule", "params", "amount"),
    [
        ("missed_urge_callback", {}, "20.00"),
        ("missed_urge_callback", {"amount": 5}, "5.00"),
        ("missed_urge_callback", {"amount": "50"}, "50.00"),
        ("false_status_reply", {}, "50.00"),
        ("false_parts_invoice", {}, "50.00"),
        ("no_fault_part", {"amount_basis": "380.00"}, "760.00"),
        ("no_fault_part", {"amount_basis": 19.99}, "39.98"),
        ("no_fault_part", {"part_code": "P-BOARD"}, "720.00"),
    ],
)
def test_penalty_amounts_follow_the_rules(ref, rule, params, amount):
    entry = assess(ref, rule=rule, **params)
    assert entry == {
        "order_no": "WO-20250602-001",
        "technician_id": "T001",
        "rule": rule,
        "rule_name": entry["rule_name"],
        "amount": amount,
        "reason": entry["reason"],
        "waived": False,
    }
    assert amount in entry["reason"]
    assert floats_in(entry) == []


def test_penalty_amounts_are_configurable():
    ref = make_ref(penalties={"false_status_reply": "80", "no_fault_part_multiplier": "3"})
    assert assess(ref, rule="false_status_reply")["amount"] == "80.00"
    assert assess(ref, rule="no_fault_part", amount_basis="10")["amount"] == "30.00"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rule": "late_lunch"}, "rule"),
        ({"rule": "missed_urge_callback", "amount": "4.99"}, "amount"),
        ({"rule": "missed_urge_callback", "amount": 51}, "amount"),
        ({"rule": "missed_urge_callback", "amount": "很多"}, "amount"),
        ({"rule": "false_status_reply", "amount": 10}, "amount"),
        ({"rule": "false_status_reply", "late_hours": 4}, "late_hours"),
        ({"rule": "false_status_reply", "reported_in_advance": True}, "reported_in_advance"),
        ({"rule": "late_card"}, "late_hours"),
        ({"rule": "late_card", "late_hours": -1}, "late_hours"),
        ({"rule": "late_card", "completed_at": COMPLETED}, "handed_in_at"),
        ({"rule": "late_card", "late_hours": 2, "completed_at": "2025-06-02 99:00"}, "handed_in_at"),
        ({"rule": "no_fault_part"}, "amount_basis"),
        ({"rule": "no_fault_part", "amount_basis": "-5"}, "amount_basis"),
        ({"rule": "no_fault_part", "part_code": "NOPE"}, "part_code"),
        ({"rule": "false_status_reply", "order_no": ""}, "order_no"),
        ({"rule": "false_status_reply", "technician_id": None}, "technician_id"),
    ],
)
def test_bad_input_raises_service_input_error_naming_the_field(ref, params, field):
    with pytest.raises(ServiceInputError) as error:
        assess(ref, **params)
    assert error.value.field == field
