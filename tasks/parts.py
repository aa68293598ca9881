"""Spare parts (配件): requisition against stock, price check of self-bought parts, appraisal
of replaced parts (DOMAIN P3 steps 2–3).

The operators only judge; reserving stock and booking penalties are done by the engine
with the results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from tasks import values
from tasks.refdata import Part, ReferenceData, setting
from tasks.registry import ServiceInputError, operator


def _part(code: Any, field: str, ref: ReferenceData) -> Part:
    part = ref.part(code) if isinstance(code, str) else None
    if part is None:
        raise ServiceInputError(field, f"未知的配件编码 {code!r}")
    return part


@operator("requisition_parts")
def requisition_parts(*, items: Iterable[Mapping[str, Any]], ref: ReferenceData) -> dict:
    """Check requested parts against stock (仓库领料).

    Out of stock is a result (``available`` false with the ``missing`` lines), not an error.
    Reservation is all or nothing: ``reserve`` lists every line when all are in stock and is
    empty otherwise, so an order waiting for one part does not hold the others.

    :param items: ``[{"code": "P-001", "qty": 2}, ...]``; repeated codes are added up
    :raises ServiceInputError: unknown part code or a quantity that is not a positive whole number
    """
    wanted: dict[str, tuple[Part, int]] = {}
    for index, item in enumerate(values.item_list(items, "items")):
        part = _part(item.get("code"), f"items[{index}].code", ref)
        qty = values.parse_quantity(item.get("qty", 1), f"items[{index}].qty")
        wanted[part.code] = (part, wanted.get(part.code, (part, 0))[1] + qty)
    lines = [
        {"code": p.code, "name": p.name, "qty": qty, "stock": p.stock, "in_stock": qty <= p.stock}
        for p, qty in wanted.values()
    ]
    missing = [
        {"code": p.code, "name": p.name, "qty": qty, "stock": p.stock, "shortfall": qty - p.stock}
        for p, qty in wanted.values()
        if qty > p.stock
    ]
    if missing:
        names = "、".join(f"{m['name']}（缺 {m['shortfall']}）" for m in missing)
        reason = f"库存不足：{names}，需申请配件或改约时间。"
    else:
        reason = "所需配件均有库存，可以领料。"
    return {
        "available": not missing,
        "lines": lines,
        "missing": missing,
        "reserve": [] if missing else [{"code": ln["code"], "qty": ln["qty"]} for ln in lines],
        "reason": reason,
    }


def parse_tolerance(value: Any) -> Decimal:
    """A price tolerance as a fraction: ``0.1``, ``"0.10"`` or ``"10%"``.

    :raises ServiceInputError: not a number between 0 and 1
    """
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("%"):
        fraction = values.to_decimal(text[:-1], "tolerance") / 100
    else:
        fraction = values.to_decimal(text, "tolerance")
    if not 0 <= fraction <= 1:
        raise ServiceInputError("tolerance", f"容差 {value!r} 应在 0 到 1（0% 到 100%）之间")
    return fraction


@operator("audit_part_price")
def audit_part_price(*, part_code: str, invoice_price: Any, tolerance: Any = None, ref: ReferenceData) -> dict:
    """Technical supervisor's price check of a self-bought part (自购配件核价).

    Genuine when the invoice price is at most the list price plus the tolerance
    (default ``part_price_tolerance`` from the penalty settings). A false invoice is
    returned to the technician and the ``false_parts_invoice`` penalty applies.

    :raises ServiceInputError: unknown part, invoice price not a positive amount, bad tolerance
    """
    part = _part(part_code, "part_code", ref)
    price = values.parse_money(invoice_price, "invoice_price", allow_zero=False)
    fraction = parse_tolerance(
        setting(ref.penalty_settings(), "part_price_tolerance") if tolerance is None else tolerance
    )
    ceiling = part.price * (1 + fraction)
    genuine = price <= ceiling
    percent = f"{(fraction * 100).normalize():f}%"
    if genuine:
        reason = f"发票价 {values.money(price)} 元未超过价目表 {values.money(part.price)} 元上浮 {percent}，核价属实，可入库。"
    else:
        reason = (
            f"发票价 {values.money(price)} 元超过价目表 {values.money(part.price)} 元上浮 {percent}"
            f"（上限 {values.money(ceiling)} 元），核价不实：退回发票并处罚。"
        )
    return {
        "part_code": part.code,
        "name": part.name,
        "list_price": values.money(part.price),
        "invoice_price": values.money(price),
        "tolerance": str(fraction),
        "max_allowed": values.money(ceiling),
        "genuine": genuine,
        "penalty_applies": not genuine,
        "penalty_rule": None if genuine else "false_parts_invoice",
        "reason": reason,
    }


@operator("appraise_replaced_part")
def appraise_replaced_part(*, part_code: str, fault_found: bool, ref: ReferenceData) -> dict:
    """Technical supervisor's appraisal of a replaced part (旧件鉴定).

    No fault found → the ``no_fault_part`` penalty of 2 × the part's price applies.

    :raises ServiceInputError: unknown part, ``fault_found`` not a boolean
    """
    part = _part(part_code, "part_code", ref)
    if not isinstance(fault_found, bool):
        raise ServiceInputError("fault_found", f"{fault_found!r} 应为 true 或 false")
    multiplier = values.to_decimal(setting(ref.penalty_settings(), "no_fault_part_multiplier"), "multiplier")
    penalty = Decimal(0) if fault_found else part.price * multiplier
    reason = (
        f"更换的{part.name}经鉴定确有故障，无处罚。"
        if fault_found
        else f"更换的{part.name}经鉴定无故障，按配件价 {values.money(part.price)} 元的 {multiplier} 倍处罚 "
        f"{values.money(penalty)} 元。"
    )
    return {
        "part_code": part.code,
        "name": part.name,
        "fault_found": fault_found,
        "penalty_applies": not fault_found,
        "penalty_rule": None if fault_found else "no_fault_part",
        "penalty_amount": values.money(penalty),
        "reason": reason,
    }
