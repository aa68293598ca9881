"""Monthly labour-fee settlement (劳务费结算, DOMAIN P5 steps 9–14) and its Excel export.

An order's labour fee is settled in the month (Beijing time) it was completed, and only
when the callback and the settlement audit both passed. Penalties are deducted from the
technician's total; waived penalties are listed by the caller but deduct nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from tasks import values
from tasks.registry import ServiceInputError, operator

MONTH_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass
class _Account:
    orders: int = 0
    labour: Decimal = Decimal(0)
    penalties: Decimal = Decimal(0)
    order_nos: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "labour_fees": values.money(self.labour),
            "penalties": values.money(self.penalties),
            "net": values.money(self.labour - self.penalties),
        }


@operator("monthly_settlement")
def monthly_settlement(
    *, month: str, orders: Iterable[Mapping[str, Any]], penalties: Iterable[Mapping[str, Any]] = ()
) -> dict:
    """Sum the month's settled labour fees minus penalties per station and technician.

    :param month: ``YYYY-MM``
    :param orders: ``{order_no, station, technician_id, labour_fee, callback_passed,
        audit_passed, completed_at}``; orders completed in other months are ignored
    :param penalties: this month's ledger entries from ``assess_penalty`` (``technician_id``,
        ``amount``, ``waived``, optionally ``station``)
    :raises ServiceInputError: bad month, a missing or invalid field (named like
        ``orders[3].labour_fee``), a repeated order number
    """
    if not isinstance(month, str) or not MONTH_PATTERN.fullmatch(month):
        raise ServiceInputError("month", f"{month!r} 应为 YYYY-MM 格式的月份")
    accounts: dict[tuple[str, str], _Account] = {}
    stations: dict[str, str] = {}
    excluded = []
    seen: set[str] = set()
    for index, order in enumerate(values.item_list(orders, "orders")):
        o = _order(order, f"orders[{index}]")
        if o["order_no"] in seen:
            raise ServiceInputError(f"orders[{index}].order_no", f"工单号 {o['order_no']} 重复")
        seen.add(o["order_no"])
        if o["completed_at"].astimezone(values.SHANGHAI).strftime("%Y-%m") != month:
            continue
        stations.setdefault(o["technician_id"], o["station"])
        problems = [
            text for ok, text in ((o["callback_passed"], "回访未通过"), (o["audit_passed"], "审核未通过")) if not ok
        ]
        if problems:
            excluded.append(
                {
                    "order_no": o["order_no"],
                    "station": o["station"],
                    "technician_id": o["technician_id"],
                    "reason": "、".join(problems),
                }
            )
            continue
        account = accounts.setdefault((o["station"], o["technician_id"]), _Account())
        account.orders += 1
        account.labour += o["labour_fee"]
        account.order_nos.append(o["order_no"])
    for index, entry in enumerate(values.item_list(penalties, "penalties")):
        tech, amount, station = _penalty(entry, f"penalties[{index}]")
        key = (station or stations.get(tech, ""), tech)
        accounts.setdefault(key, _Account()).penalties += amount
    return _summary(month, accounts, excluded)


def _order(order: Mapping[str, Any], where: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for name in ("order_no", "station", "technician_id"):
        value = order.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ServiceInputError(f"{where}.{name}", "不能为空")
        parsed[name] = value
    for name in ("callback_passed", "audit_passed"):
        if not isinstance(order.get(name), bool):
            raise ServiceInputError(f"{where}.{name}", "应为 true 或 false")
        parsed[name] = order[name]
    parsed["labour_fee"] = values.parse_money(order.get("labour_fee"), f"{where}.labour_fee")
    parsed["completed_at"] = values.parse_datetime(order.get("completed_at"), f"{where}.completed_at")
    return parsed


def _penalty(entry: Mapping[str, Any], where: str) -> tuple[str, Decimal, str]:
    tech = entry.get("technician_id")
    if not isinstance(tech, str) or not tech.strip():
        raise ServiceInputError(f"{where}.technician_id", "不能为空")
    waived = entry.get("waived", False)
    if not isinstance(waived, bool):
        raise ServiceInputError(f"{where}.waived", "应为 true 或 false")
    amount = values.parse_money(entry.get("amount"), f"{where}.amount")
    station = entry.get("station") or ""
    return tech, Decimal(0) if waived else amount, station if isinstance(station, str) else ""


def _summary(month: str, accounts: dict[tuple[str, str], _Account], excluded: list[dict]) -> dict:
    per_station: dict[str, _Account] = {}
    total = _Account()
    lines = []
    for (station, tech), account in sorted(accounts.items()):
        lines.append(
            {"station": station, "technician_id": tech, **account.as_dict(), "order_nos": list(account.order_nos)}
        )
        for bucket in (per_station.setdefault(station, _Account()), total):
            bucket.orders += account.orders
            bucket.labour += account.labour
            bucket.penalties += account.penalties
    return {
        "month": month,
        "lines": lines,
        "stations": [{"station": s, **a.as_dict()} for s, a in sorted(per_station.items())],
        "totals": total.as_dict(),
        "excluded": excluded,
    }


COLUMNS = ("orders", "labour_fees", "penalties", "net")
MONEY_FORMAT = "#,##0.00"


def settlement_to_xlsx(summary: Mapping[str, Any]) -> bytes:
    """The settlement as an Excel workbook: technicians with a totals row, stations, excluded orders."""
    book = Workbook()
    sheet = book.active
    sheet.title = "技术员结算"
    _table(
        sheet,
        ("站点", "技术员", "结算工单数", "劳务费", "罚款", "应结金额"),
        [(ln["station"], ln["technician_id"]) for ln in summary["lines"]],
        summary["lines"],
    )
    sheet.append(("合计", "", *_cells(summary["totals"])))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    _money_format(sheet)
    stations = book.create_sheet("站点汇总")
    _table(
        stations,
        ("站点", "结算工单数", "劳务费", "罚款", "应结金额"),
        [(s["station"],) for s in summary["stations"]],
        summary["stations"],
    )
    _money_format(stations)
    excluded = book.create_sheet("未结算工单")
    excluded.append(("工单号", "站点", "技术员", "原因"))
    for row in summary["excluded"]:
        excluded.append((row["order_no"], row["station"], row["technician_id"], row["reason"]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _table(sheet: Any, header: tuple[str, ...], keys: list[tuple[str, ...]], rows: list[Mapping]) -> None:
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for key, row in zip(keys, rows, strict=True):
        sheet.append((*key, *_cells(row)))


def _cells(row: Mapping[str, Any]) -> list[Any]:
    return [row["orders"], *(Decimal(row[name]) for name in COLUMNS[1:])]


def _money_format(sheet: Any) -> None:
    for row in sheet.iter_rows(min_row=2):
        for cell in row[-3:]:
            cell.number_format = MONEY_FORMAT
