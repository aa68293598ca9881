"""Fee quotes: labour, parts, extra installation materials (加料安装) and out-of-city travel.

What the customer pays depends on the service category:

=========  ==================  ==================  ===========================
category   labour and travel   parts               extra materials
=========  ==================  ==================  ===========================
A 收费      charged             charged             charged
B 合同      free if contract    free if contract    charged
            covers labour       covers parts
C 免费      free (unless only   free (unless only   free when labour is free
            parts are covered)  labour is covered)
=========  ==================  ==================  ===========================

Free lines stay on the quote with their list price and a zero amount, so the customer
sees what was waived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tasks import values
from tasks.refdata import FeeSchedule, ReferenceData
from tasks.registry import ServiceInputError, operator


@dataclass(frozen=True)
class Coverage:
    labour: bool
    parts: bool
    materials: bool


@operator("quote_fees")
def quote_fees(
    *,
    order_type: str,
    category: str,
    zone: str,
    parts: Iterable[Mapping[str, Any]] = (),
    materials: Iterable[Mapping[str, Any]] = (),
    contract: str | None = None,
    parts_covered: bool | None = None,
    labour_covered: bool | None = None,
    ref: ReferenceData,
) -> dict:
    """Itemise what the customer pays for one work order.

    :param parts: ``[{"code": "P-001", "qty": 1}, ...]`` from the parts list
    :param materials: ``[{"code": "CU-PIPE", "qty": 3}, ...]`` from the order type's fee schedule
    :param contract: the contract number; required for category B
    :param parts_covered: for category C only: the warranty's parts coverage (default true)
    :param labour_covered: for category C only: the warranty's labour coverage (default true)
    :raises ServiceInputError: unknown order type, category, zone, contract, part or material;
        a quantity that is not a positive whole number
    """
    values.order_type(order_type)
    values.zone(zone)
    schedule = ref.fee_schedule(order_type)
    if schedule is None:
        raise ServiceInputError("order_type", f"工单类型 {order_type} 没有配置收费标准")
    cover = _coverage(category, contract, parts_covered, labour_covered, ref)
    lines = _labour_lines(schedule, zone, cover.labour)
    lines += [
        _line("part", code, part.name, qty, part.price, cover.parts)
        for code, qty, part in _items(parts, "parts", ref.part)
    ]
    lines += [
        _line("material", code, item.name, qty, item.unit_price, cover.materials)
        for code, qty, item in _items(materials, "materials", schedule.material)
    ]
    return {
        "order_type": order_type,
        "category": category,
        "zone": zone,
        "contract_no": contract if category == "B" else None,
        "lines": [_serialize(line) for line in lines],
        "list_total": values.money(sum((line["list_amount"] for line in lines), Decimal(0))),
        "total": values.money(sum((line["amount"] for line in lines), Decimal(0))),
    }


def _coverage(category: Any, contract: Any, parts_covered: Any, labour_covered: Any, ref: ReferenceData) -> Coverage:
    if category == "A":
        return Coverage(labour=False, parts=False, materials=False)
    if category == "B":
        if not contract:
            raise ServiceInputError("contract", "合同服务（B 类）需要合同号")
        terms = ref.contract(contract) if isinstance(contract, str) else None
        if terms is None:
            raise ServiceInputError("contract", f"未知的合同号 {contract!r}")
        return Coverage(labour=terms.covers_labour, parts=terms.covers_parts, materials=False)
    if category == "C":
        labour = _flag(labour_covered, "labour_covered")
        return Coverage(labour=labour, parts=_flag(parts_covered, "parts_covered"), materials=labour)
    raise ServiceInputError("category", f"服务类别 {category!r} 无效，应为 A、B 或 C")


def _flag(value: Any, field: str) -> bool:
    if value is None:
        return True
    if not isinstance(value, bool):
        raise ServiceInputError(field, f"{value!r} 应为 true 或 false")
    return value


def _labour_lines(schedule: FeeSchedule, zone: str, free: bool) -> list[dict]:
    items = [schedule.labour]
    if zone == "out_of_city":
        items.append(schedule.travel)
    return [_line(i.kind, i.code, i.name, 1, i.unit_price, free) for i in items if i is not None]


def _items(items: Any, field: str, lookup: Any) -> list[tuple[str, int, Any]]:
    found = []
    for index, item in enumerate(values.item_list(items, field)):
        code = item.get("code")
        record = lookup(code) if isinstance(code, str) else None
        if record is None:
            what = "配件编码" if field == "parts" else "材料编码"
            raise ServiceInputError(f"{field}[{index}].code", f"未知的{what} {code!r}")
        qty = values.parse_quantity(item.get("qty", 1), f"{field}[{index}].qty")
        found.append((record.code, qty, record))
    return found


def _line(kind: str, code: str, name: str, qty: int, unit_price: Decimal, free: bool) -> dict:
    list_amount = unit_price * qty
    return {
        "kind": kind,
        "code": code,
        "name": name,
        "qty": qty,
        "unit_price": unit_price,
        "list_amount": list_amount,
        "amount": Decimal(0) if free else list_amount,
        "free": free,
    }


def _serialize(line: dict) -> dict:
    money_keys = ("unit_price", "list_amount", "amount")
    return {k: values.money(v) if k in money_keys else v for k, v in line.items()}
