from __future__ import annotations

import pytest

from tasks.parts import appraise_replaced_part, audit_part_price, requisition_parts
from tasks.registry import ServiceInputError
from tests.tasks.factories import make_ref


def test_parts_in_stock_are_listed_for_reservation(ref):
    result = requisition_parts(items=[{"code": "P-CAP", "qty": 2}, {"code": "P-BOARD", "qty": 1}], ref=ref)
    assert result["available"] is True
    assert result["missing"] == []
    assert result["reserve"] == [{"code": "P-CAP", "qty": 2}, {"code": "P-BOARD", "qty": 1}]
    assert [line["stock"] for line in result["lines"]] == [40, 1]


def test_out_of_stock_is_a_result_and_reserves_nothing(ref):
    result = requisition_parts(items=[{"code": "P-CAP", "qty": 1}, {"code": "P-HEATER", "qty": 1}], ref=ref)
    assert result["available"] is False
    assert result["missing"] == [{"code": "P-HEATER", "name": "冰箱化霜加热丝", "qty": 1, "stock": 0, "shortfall": 1}]
    assert result["reserve"] == []
    assert "冰箱化霜加热丝" in result["reason"]


def test_repeated_codes_are_added_up_before_checking_stock(ref):
    result = requisition_parts(items=[{"code": "P-BOARD", "qty": 1}, {"code": "P-BOARD", "qty": 1}], ref=ref)
    assert result["lines"] == [{"code": "P-BOARD", "name": "空调变频主控板", "qty": 2, "stock": 1, "in_stock": False}]
    assert result["missing"][0]["shortfall"] == 1


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"code": "P-CAP", "qty": 1}, {"code": "NOPE", "qty": 1}], "items[1].code"),
        ([{"code": "P-CAP", "qty": -1}], "items[0].qty"),
        ([{"code": "P-CAP", "qty": 0.5}], "items[0].qty"),
        ({"code": "P-CAP"}, "items"),
    ],
)
def test_requisition_bad_input_names_the_field(ref, items, field):
    with pytest.raises(ServiceInputError) as error:
        requisition_parts(items=items, ref=ref)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("invoice_price", "tolerance", "genuine"),
    [
        ("300.00", None, True),
        ("396.00", None, True),  # list price 360 + 10 %
        ("396.01", None, False),
        (396, None, True),
        ("380.00", "5%", False),
        ("378.00", "5%", True),
        ("430.00", 0.2, True),
        ("360.01", 0, False),
    ],
)
def test_self_bought_part_price_check(ref, invoice_price, tolerance, genuine):
    result = audit_part_price(part_code="P-BOARD", invoice_price=invoice_price, tolerance=tolerance, ref=ref)
    assert result["genuine"] is genuine
    assert result["penalty_applies"] is not genuine
    assert result["penalty_rule"] == (None if genuine else "false_parts_invoice")
    assert result["list_price"] == "360.00"


def test_default_tolerance_comes_from_the_penalty_settings():
    ref = make_ref(penalties={"part_price_tolerance": "0"})
    assert audit_part_price(part_code="P-BOARD", invoice_price="361", ref=ref)["genuine"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"part_code": "NOPE"}, "part_code"),
        ({"invoice_price": "0"}, "invoice_price"),
        ({"invoice_price": "-1"}, "invoice_price"),
        ({"invoice_price": "1.005"}, "invoice_price"),
        ({"tolerance": "1.5"}, "tolerance"),
        ({"tolerance": "abc%"}, "tolerance"),
    ],
)
def test_price_check_bad_input_names_the_field(ref, params, field):
    params = {"part_code": "P-BOARD", "invoice_price": "360"} | params
    with pytest.raises(ServiceInputError) as error:
        audit_part_price(ref=ref, **params)
    assert error.value.field == field


@pytest.mark.parametrize(("fault_found", "applies", "amount"), [(True, False, "0.00"), (False, True, "720.00")])
def test_replaced_part_without_fault_costs_twice_its_price(ref, fault_found, applies, amount):
    result = appraise_replaced_part(part_code="P-BOARD", fault_found=fault_found, ref=ref)
    assert (result["penalty_applies"], result["penalty_amount"]) == (applies, amount)
    assert result["penalty_rule"] == ("no_fault_part" if applies else None)


@pytest.mark.parametrize(
    ("params", "field"), [({"fault_found": "no"}, "fault_found"), ({"part_code": "X"}, "part_code")]
)
def test_appraisal_bad_input_names_the_field(ref, params, field):
    with pytest.raises(ServiceInputError) as error:
        appraise_replaced_part(ref=ref, **({"part_code": "P-BOARD", "fault_found": True} | params))
    assert error.value.field == field
