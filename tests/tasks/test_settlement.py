from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest

from tasks.registry import ServiceInputError
from tasks.settlement import monthly_settlement, settlement_to_xlsx
from tests.tasks.factories import floats_in


def order(order_no, technician_id="T001", station="城西站", labour_fee="80.00", completed_at="2025-06-10T02:00:00Z",
          callback_passed=True, audit_passed=True):  # fmt: skip
    return {"order_no": order_no, "station": station, "technician_id": technician_id, "labour_fee": labour_fee,
            "completed_at": completed_at, "callback_passed": callback_passed, "audit_passed": audit_passed}  # fmt: skip


ORDERS = [
    order("WO-1"),
    order("WO-2", labour_fee="120.00"),
    order("WO-3", callback_passed=False),
    order("WO-4", technician_id="T002", station="余杭站", labour_fee=100),
    order("WO-5", technician_id="T002", station="余杭站", audit_passed=False),
    order("WO-6", labour_fee="999.00", completed_at="2025-05-20T02:00:00Z"),  # May
    order("WO-7", labour_fee="10.00", completed_at="2025-05-31T16:00:00Z"),  # 1 June 00:00 in Beijing
    order("WO-8", labour_fee="999.00", completed_at="2025-06-30T16:00:00Z"),  # 1 July 00:00 in Beijing
]
PENALTIES = [
    {"order_no": "WO-1", "technician_id": "T001", "rule": "late_card", "amount": "2.00", "waived": False},
    {"order_no": "WO-2", "technician_id": "T001", "rule": "late_card", "amount": "1.00", "waived": True},
    {"order_no": "WO-5", "technician_id": "T002", "rule": "false_status_reply", "amount": "50.00", "waived": False},
    {"order_no": "WO-9", "technician_id": "T003", "station": "富阳站", "rule": "no_fault_part", "amount": "70.00"},
]


@pytest.fixture
def summary():
    return monthly_settlement(month="2025-06", orders=ORDERS, penalties=PENALTIES)


def test_labour_fees_of_orders_passing_callback_and_audit_minus_penalties(summary):
    # Lines are sorted by station then technician (code-point order, stable across runs).
    assert summary["lines"] == [
        {"station": "余杭站", "technician_id": "T002", "orders": 1, "labour_fees": "100.00", "penalties": "50.00",
         "net": "50.00", "order_nos": ["WO-4"]},
        {"station": "城西站", "technician_id": "T001", "orders": 3, "labour_fees": "210.00", "penalties": "2.00",
         "net": "208.00", "order_nos": ["WO-1", "WO-2", "WO-7"]},
        {"station": "富阳站", "technician_id": "T003", "orders": 0, "labour_fees": "0.00", "penalties": "70.00",
         "net": "-70.00", "order_nos": []},
    ]  # fmt: skip
    assert summary["totals"] == {"orders": 4, "labour_fees": "310.00", "penalties": "122.00", "net": "188.00"}


def test_station_subtotals_add_up_to_the_totals(summary):
    stations = {s["station"]: s["net"] for s in summary["stations"]}
    assert stations == {"城西站": "208.00", "余杭站": "50.00", "富阳站": "-70.00"}
    assert sum(Decimal(net) for net in stations.values()) == Decimal(summary["totals"]["net"])


def test_orders_failing_callback_or_audit_are_listed_as_not_settled(summary):
    assert summary["excluded"] == [
        {"order_no": "WO-3", "station": "城西站", "technician_id": "T001", "reason": "回访未通过"},
        {"order_no": "WO-5", "station": "余杭站", "technician_id": "T002", "reason": "审核未通过"},
    ]


def test_settlement_money_is_never_a_float(summary):
    assert floats_in(summary) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2025-6"}, "month"),
        ({"month": "2025-13"}, "month"),
        ({"orders": [order("WO-1"), order("WO-2", labour_fee="abc")]}, "orders[1].labour_fee"),
        ({"orders": [order("WO-1", labour_fee="-5")]}, "orders[0].labour_fee"),
        ({"orders": [order("WO-1", callback_passed="yes")]}, "orders[0].callback_passed"),
        ({"orders": [order("WO-1", completed_at="June")]}, "orders[0].completed_at"),
        ({"orders": [order("WO-1", station="")]}, "orders[0].station"),
        ({"orders": [order("WO-1"), order("WO-1")]}, "orders[1].order_no"),
        ({"penalties": [{"technician_id": "T001", "amount": "x"}]}, "penalties[0].amount"),
        ({"penalties": [{"amount": "1"}]}, "penalties[0].technician_id"),
    ],
)
def test_bad_input_raises_service_input_error_naming_the_field(params, field):
    params = {"month": "2025-06", "orders": ORDERS} | params
    with pytest.raises(ServiceInputError) as error:
        monthly_settlement(**params)
    assert error.value.field == field


def test_excel_export_has_a_totals_row_equal_to_the_summary(summary):
    book = openpyxl.load_workbook(io.BytesIO(settlement_to_xlsx(summary)))
    sheet = book["技术员结算"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("站点", "技术员", "结算工单数", "劳务费", "罚款", "应结金额")
    assert [row[:2] for row in rows[1:-1]] == [("余杭站", "T002"), ("城西站", "T001"), ("富阳站", "T003")]
    label, _, orders, labour, penalties, net = rows[-1]
    assert label == "合计"
    totals = summary["totals"]
    assert orders == totals["orders"]
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in (labour, penalties, net)] == [
        Decimal(totals["labour_fees"]),
        Decimal(totals["penalties"]),
        Decimal(totals["net"]),
    ]
    assert sheet.cell(row=len(rows), column=6).number_format == "#,##0.00"


def test_excel_export_lists_stations_and_unsettled_orders(summary):
    book = openpyxl.load_workbook(io.BytesIO(settlement_to_xlsx(summary)))
    assert [r[0] for r in book["站点汇总"].iter_rows(min_row=2, values_only=True)] == ["余杭站", "城西站", "富阳站"]
    assert [r[0] for r in book["未结算工单"].iter_rows(min_row=2, values_only=True)] == ["WO-3", "WO-5"]
