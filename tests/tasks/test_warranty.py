from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tasks.refdata import Product
from tasks.registry import ServiceInputError
from tasks.warranty import WarrantyPeriod, check_warranty, last_covered_day, product_info, warranty_period


def judge(ref, now, **params):
    params = {"serial_no": "SN-123456", "product_model": "55E3F", "order_type": "repair"} | params
    return check_warranty(now=now, ref=ref, **params)


@pytest.mark.parametrize(
    ("case", "params", "category", "rule", "parts", "labour"),
    [
        (
            "special sale",
            {"serial_no": "SPECIAL-0001", "purchase_date": "2025-05-01"},
            "A",
            "special_sale",
            False,
            False,
        ),
        (
            "special sale beats an active customer contract",
            {"serial_no": "SPECIAL-0001", "customer_phone": "0571-86201234"},
            "A",
            "special_sale",
            False,
            False,
        ),
        ("contract on the unit ending today", {"serial_no": "SN-CONTRACT-1"}, "B", "contract", False, True),
        (
            "contract beats the warranty period",
            {"serial_no": "SN-CONTRACT-1", "purchase_date": "2025-05-01"},
            "B",
            "contract",
            False,
            True,
        ),
        (
            "customer contract, phone written differently",
            {"customer_phone": "057186201234"},
            "B",
            "contract",
            True,
            True,
        ),
        (
            "customer contract that ended yesterday",
            {"customer_phone": "0571-88234567", "purchase_date": "2019-01-01"},
            "A",
            "expired",
            False,
            False,
        ),
        (
            "customer contract that starts tomorrow",
            {"customer_phone": "13800000000", "purchase_date": "2019-01-01"},
            "A",
            "expired",
            False,
            False,
        ),
        (
            "another unit's contract does not cover this unit",
            {"customer_phone": "13900000000", "purchase_date": "2019-01-01"},
            "A",
            "expired",
            False,
            False,
        ),
        ("whole unit in warranty", {"purchase_date": "2025-01-10"}, "C", "warranty_period", True, True),
        (
            "last day of a 72-month warranty is covered",
            {"product_model": "KFR-35GW", "purchase_date": "2019-06-30"},
            "C",
            "warranty_period",
            True,
            True,
        ),
        (
            "the day after the last day is not",
            {"product_model": "KFR-35GW", "purchase_date": "2019-06-29"},
            "A",
            "expired",
            False,
            False,
        ),
        (
            "only parts still covered",
            {"product_model": "KFR-26GW", "purchase_date": "2024-01-15"},
            "C",
            "warranty_period",
            True,
            False,
        ),
        (
            "only labour still covered",
            {"product_model": "JSQ30-16", "purchase_date": "2024-03-01"},
            "C",
            "warranty_period",
            False,
            True,
        ),
        ("expired", {"product_model": "MB-FB40", "purchase_date": "2023-05-01"}, "A", "expired", False, False),
    ],
)
def test_warranty_rules_decide_the_service_category(ref, now, case, params, category, rule, parts, labour):
    result = judge(ref, now, **params)
    assert result["decided"] is True
    assert (result["category"], result["rule"]) == (category, rule), case
    assert (result["parts_covered"], result["labour_covered"]) == (parts, labour), case
    assert result["covered"] is (category in ("B", "C"))
    assert result["reason"]


def test_contract_result_names_the_contract_and_its_end(ref, now):
    result = judge(ref, now, serial_no="SN-CONTRACT-1")
    assert result["contract_no"] == "HT-ENDS-TODAY"
    assert result["warranty_until"] == "2025-06-30"
    assert "HT-ENDS-TODAY" in result["reason"]


@pytest.mark.parametrize("purchase_date", [None, "", "   "])
def test_missing_purchase_proof_is_an_undecided_result_not_an_error(ref, now, purchase_date):
    result = judge(ref, now, purchase_date=purchase_date)
    assert result["decided"] is False
    assert result["category"] is None
    assert result["rule"] == "no_purchase_proof"
    assert result["covered"] is False
    assert "购买" in result["reason"]


@pytest.mark.parametrize(
    ("request_date", "category"),
    [("2025-02-28", "C"), ("2025-03-01", "A")],
)
def test_leap_day_purchase_is_covered_to_the_end_of_february(ref, now, request_date, category):
    result = judge(ref, now, product_model="MB-FB40", purchase_date="2024-02-29", request_date=request_date)
    assert result["category"] == category
    assert result["warranty_until"] == "2025-02-28"


def test_expired_result_still_says_when_the_warranty_ended(ref, now):
    result = judge(ref, now, product_model="MB-FB40", purchase_date="2023-05-01")
    assert result["warranty_until"] == "2024-05-01"
    assert "2024-05-01" in result["reason"]


def test_request_date_defaults_to_today_in_beijing(ref):
    late_evening_utc = datetime(2025, 6, 30, 17, 0, tzinfo=UTC)  # already 1 July in Beijing
    assert judge(ref, late_evening_utc)["request_date"] == "2025-07-01"


def test_serial_number_is_normalized_to_upper_case(ref, now):
    assert judge(ref, now, serial_no="  special-0001 ")["rule"] == "special_sale"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"product_model": "NO-SUCH-MODEL"}, "product_model"),
        ({"product_model": None}, "product_model"),
        ({"serial_no": "AB12"}, "serial_no"),
        ({"serial_no": "SN 12345!"}, "serial_no"),
        ({"serial_no": "X" * 33}, "serial_no"),
        ({"serial_no": 12345678}, "serial_no"),
        ({"purchase_date": "2025-07-01"}, "purchase_date"),
        ({"purchase_date": "2025-13-01"}, "purchase_date"),
        ({"purchase_date": "yesterday"}, "purchase_date"),
        ({"purchase_date": 20250101}, "purchase_date"),
        ({"purchase_date": "2025-06-20", "request_date": "2025-06-10"}, "purchase_date"),
        ({"request_date": "30/06/2025"}, "request_date"),
        ({"order_type": "fix"}, "order_type"),
        ({"customer_phone": 13800000000}, "customer_phone"),
        ({"purchase_date": "2025-01-01", "policy": ["电视", 12]}, "policy"),
        ({"purchase_date": "2025-01-01", "policy": {"电视": -1}}, "policy"),
        ({"purchase_date": "2025-01-01", "policy": {"电视": "十二"}}, "policy"),
    ],
)
def test_bad_input_raises_service_input_error_naming_the_field(ref, now, params, field):
    with pytest.raises(ServiceInputError) as error:
        judge(ref, now, **params)
    assert error.value.field == field
    assert error.value.message


@pytest.mark.parametrize(
    ("policy", "category", "parts", "labour"),
    [
        (None, "C", True, False),  # catalog: 12 months, parts 36
        ({"电视": 24}, "C", True, True),
        ({"电视": "24"}, "C", True, True),
        ({"电视": {"months": 12, "parts_months": 12}}, "A", False, False),
        ({"空调": 6}, "C", True, False),  # another category: catalog still applies
    ],
)
def test_a_decision_table_policy_overrides_the_catalog_months(ref, now, policy, category, parts, labour):
    result = judge(ref, now, purchase_date="2023-07-15", policy=policy)
    assert (result["category"], result["parts_covered"], result["labour_covered"]) == (category, parts, labour)


def test_warranty_period_falls_back_to_the_whole_unit_months():
    product = Product("X-1", "冰箱", "冰箱", 36, parts_warranty_months=120)
    assert warranty_period(product) == WarrantyPeriod(parts_months=120, labour_months=36)
    assert warranty_period(product, {"冰箱": {"months": 24}}) == WarrantyPeriod(24, 24)
    assert warranty_period(product, {"冰箱": {"months": 12, "labour_months": 6}}) == WarrantyPeriod(12, 6)


@pytest.mark.parametrize(
    ("purchase", "months", "last_day"),
    [
        (date(2024, 7, 1), 12, date(2025, 7, 1)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 7, 1), 0, date(2024, 6, 30)),
    ],
)
def test_last_covered_day_counts_whole_months_like_the_civil_code(purchase, months, last_day):
    assert last_covered_day(purchase, months) == last_day


def test_a_policy_entry_without_numbers_leaves_the_catalog_months():
    product = Product("X-1", "冰箱", "冰箱", 36, parts_warranty_months=120)
    no_rule = {"冰箱": {"parts_months": None, "labour_months": None}}
    assert warranty_period(product, no_rule) == WarrantyPeriod(parts_months=120, labour_months=36)
    assert warranty_period(product, {"冰箱": {"labour_months": 12}}) == WarrantyPeriod(120, 12)


def test_product_info_gives_the_category_and_the_catalog_months(ref):
    assert product_info(product_model="55E3F", ref=ref) == {
        "model": "55E3F",
        "category": "电视",
        "name": "海信 55英寸 液晶电视",
        "parts_warranty_months": 36,
        "labour_warranty_months": 12,
    }


@pytest.mark.parametrize("model", ["NO-SUCH-MODEL", None, 55])
def test_product_info_of_an_unknown_model_is_bad_input(ref, model):
    with pytest.raises(ServiceInputError) as error:
        product_info(product_model=model, ref=ref)
    assert error.value.field == "product_model"


def test_of_two_equal_contracts_the_lower_number_wins_whatever_their_order(now):
    from datetime import date

    from tasks.refdata import Contract
    from tests.tasks.factories import make_ref

    pair = [
        Contract("HT-B", "王", "13800000001", "SN-TWIN-1", date(2025, 1, 1), date(2025, 12, 31), True, True),
        Contract("HT-A", "王", "13800000001", "SN-TWIN-1", date(2025, 2, 1), date(2025, 12, 31), True, True),
    ]
    for contracts in (pair, pair[::-1]):
        result = check_warranty(
            serial_no="SN-TWIN-1",
            product_model="55E3F",
            order_type="repair",
            now=now,
            ref=make_ref(contracts=contracts),
        )
        assert result["contract_no"] == "HT-A"
