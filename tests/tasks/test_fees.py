from __future__ import annotations

import pytest

from tasks.fees import quote_fees
from tasks.registry import ServiceInputError
from tests.tasks.factories import floats_in

CAPACITOR = {"code": "P-CAP", "qty": 2}  # 2 × 28.00
PIPE = {"code": "CU-PIPE", "qty": 3}  # 3 × 65.00


def quote(ref, **params):
    params = {"order_type": "install", "category": "A", "zone": "in_city"} | params
    return quote_fees(ref=ref, **params)


def amounts(result):
    return {line["kind"]: line["amount"] for line in result["lines"]}


def test_charged_install_itemises_labour_parts_and_extra_materials(ref):
    result = quote(ref, parts=[CAPACITOR], materials=[PIPE])
    assert result["lines"] == [
        {"kind": "labour", "code": "LABOUR", "name": "安装人工费", "qty": 1, "unit_price": "120.00",
         "list_amount": "120.00", "amount": "120.00", "free": False},
        {"kind": "part", "code": "P-CAP", "name": "空调启动电容", "qty": 2, "unit_price": "28.00",
         "list_amount": "56.00", "amount": "56.00", "free": False},
        {"kind": "material", "code": "CU-PIPE", "name": "加长铜管", "qty": 3, "unit_price": "65.00",
         "list_amount": "195.00", "amount": "195.00", "free": False},
    ]  # fmt: skip
    assert result["total"] == result["list_total"] == "371.00"


@pytest.mark.parametrize(
    ("zone", "total", "has_travel"), [("in_city", "120.00", False), ("out_of_city", "170.00", True)]
)
def test_out_of_city_orders_add_the_travel_fee(ref, zone, total, has_travel):
    result = quote(ref, zone=zone)
    assert result["total"] == total
    assert ("travel" in amounts(result)) is has_travel


@pytest.mark.parametrize(
    ("category", "extra", "expected", "total"),
    [
        ("A", {}, {"labour": "80.00", "travel": "50.00", "part": "56.00"}, "186.00"),
        ("C", {}, {"labour": "0.00", "travel": "0.00", "part": "0.00"}, "0.00"),
        ("C", {"labour_covered": False}, {"labour": "80.00", "travel": "50.00", "part": "0.00"}, "130.00"),
        ("C", {"parts_covered": False}, {"labour": "0.00", "travel": "0.00", "part": "56.00"}, "56.00"),
        ("B", {"contract": "HT-ENDS-TODAY"}, {"labour": "0.00", "travel": "0.00", "part": "56.00"}, "56.00"),
        ("B", {"contract": "HT-SCHOOL"}, {"labour": "0.00", "travel": "0.00", "part": "0.00"}, "0.00"),
    ],
)
def test_service_category_decides_which_lines_are_free(ref, category, extra, expected, total):
    result = quote(ref, order_type="repair", category=category, zone="out_of_city", parts=[CAPACITOR], **extra)
    assert amounts(result) == expected
    assert result["total"] == total
    assert result["list_total"] == "186.00"


def test_free_service_keeps_every_line_with_its_list_price(ref):
    result = quote(ref, category="C", parts=[CAPACITOR], materials=[PIPE])
    assert [line["unit_price"] for line in result["lines"]] == ["120.00", "28.00", "65.00"]
    assert all(line["free"] and line["amount"] == "0.00" for line in result["lines"])
    assert result["total"] == "0.00"


@pytest.mark.parametrize(
    ("category", "extra", "material"), [("B", {"contract": "HT-SCHOOL"}, "195.00"), ("A", {}, "195.00")]
)
def test_extra_materials_are_charged_outside_free_service(ref, category, extra, material):
    result = quote(ref, category=category, materials=[PIPE], **extra)
    assert amounts(result)["material"] == material


def test_contract_number_is_echoed_only_for_contract_service(ref):
    assert quote(ref, category="B", contract="HT-SCHOOL")["contract_no"] == "HT-SCHOOL"
    assert quote(ref, category="A", contract="HT-SCHOOL")["contract_no"] is None


@pytest.mark.parametrize("qty", [3, "3", 3.0])
def test_money_is_exact_to_the_cent_and_never_a_float(ref, qty):
    result = quote(ref, parts=[{"code": "P-ODD", "qty": qty}])
    assert amounts(result)["part"] == "59.97"
    assert result["total"] == "179.97"
    assert floats_in(result) == []


def test_quantity_defaults_to_one(ref):
    assert quote(ref, parts=[{"code": "P-BOARD"}])["lines"][1]["qty"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"parts": [CAPACITOR, {"code": "P-CAP", "qty": -1}]}, "parts[1].qty"),
        ({"parts": [{"code": "P-CAP", "qty": 1.5}]}, "parts[0].qty"),
        ({"parts": [{"code": "P-CAP", "qty": 0}]}, "parts[0].qty"),
        ({"parts": [{"code": "P-CAP", "qty": "two"}]}, "parts[0].qty"),
        ({"parts": [{"code": "P-CAP", "qty": True}]}, "parts[0].qty"),
        ({"parts": [CAPACITOR, CAPACITOR, {"code": "NOPE", "qty": 1}]}, "parts[2].code"),
        ({"parts": "P-CAP"}, "parts"),
        ({"parts": ["P-CAP"]}, "parts[0]"),
        ({"materials": [{"code": "GOLD-PIPE", "qty": 1}]}, "materials[0].code"),
        ({"materials": [{"code": "CU-PIPE", "qty": -2}]}, "materials[0].qty"),
        ({"category": "D"}, "category"),
        ({"category": None}, "category"),
        ({"category": "B"}, "contract"),
        ({"category": "B", "contract": "HT-NONE"}, "contract"),
        ({"category": "C", "parts_covered": "yes"}, "parts_covered"),
        ({"zone": "moon"}, "zone"),
        ({"order_type": "fix"}, "order_type"),
        ({"order_type": "training"}, "order_type"),  # no fee schedule configured
    ],
)
def test_bad_input_raises_service_input_error_naming_the_field(ref, params, field):
    with pytest.raises(ServiceInputError) as error:
        quote(ref, **params)
    assert error.value.field == field
