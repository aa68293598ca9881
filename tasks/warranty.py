"""Warranty judgement (保修判断): which service category a work order falls in.

Rules, in order (DOMAIN P5 step 5 and 售后服务管理办法):

1. serial on the special-sales list → charged service, category A;
2. an active service contract for the unit or the customer → contract service, B;
3. within the product's warranty period from purchase → free service, C;
4. no purchase date → undecided: ask the customer for purchase proof;
5. otherwise → charged service, A.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tasks import values
from tasks.refdata import Contract, Product, ReferenceData
from tasks.registry import ServiceInputError, operator


@dataclass(frozen=True)
class WarrantyPeriod:
    """Warranty lengths in months from the purchase date."""

    parts_months: int
    labour_months: int


def warranty_period(product: Product, policy: Mapping[str, Any] | None = None) -> WarrantyPeriod:
    """The warranty of ``product``, from ``policy`` when it names the category, else the catalog.

    :param policy: product category → months, or → ``{"months", "parts_months",
        "labour_months"}``; this is where a DMN decision's output comes in. A number the
        entry leaves out or sets to ``None`` is the catalog's.
    :raises ServiceInputError: the policy entry is not a whole number of months
    """
    if policy is not None and not isinstance(policy, Mapping):
        raise ServiceInputError("policy", "保修政策应为 品类 → 月数 的对象")
    catalog = WarrantyPeriod(
        parts_months=_first(product.parts_warranty_months, product.warranty_months),
        labour_months=_first(product.labour_warranty_months, product.warranty_months),
    )
    entry = (policy or {}).get(product.category)
    if entry is None:
        return catalog
    if not isinstance(entry, Mapping):
        entry = {"months": entry}
    whole = _months(entry.get("months"), "policy")
    return WarrantyPeriod(
        parts_months=_first(_months(entry.get("parts_months"), "policy"), whole, catalog.parts_months),
        labour_months=_first(_months(entry.get("labour_months"), "policy"), whole, catalog.labour_months),
    )


def _first(*numbers: int | None) -> int:
    return next(n for n in numbers if n is not None)


def _months(value: Any, field: str) -> int | None:
    if value is None:
        return None
    number = values.to_decimal(value, field)
    if number < 0 or number != int(number):
        raise ServiceInputError(field, f"保修月数 {value!r} 应为非负整数")
    return int(number)


def last_covered_day(purchase: date, months: int) -> date:
    """The last day still under a warranty of ``months`` bought on ``purchase``.

    Counted as the Civil Code counts periods (民法典 第二百零一、二百零二条): the period
    starts the day after purchase and ends on the corresponding day of the final month,
    or on that month's last day when it has no such day. Bought 2024-07-01 with 12
    months → covered up to and including 2025-07-01; bought 2024-02-29 → 2025-02-28.
    No months means no warranty at all.
    """
    if months <= 0:
        return purchase - timedelta(days=1)
    return values.add_months(purchase, months)


@operator("product_info")
def product_info(*, product_model: str, ref: ReferenceData) -> dict:
    """The catalog entry of a product model: category, name and warranty months.

    A diagram looks the category up here before a decision table that works per category
    (the warranty policy DMN).

    :raises ServiceInputError: unknown model
    """
    product = ref.product(product_model) if isinstance(product_model, str) else None
    if product is None:
        raise ServiceInputError("product_model", f"未知的产品型号 {product_model!r}")
    period = warranty_period(product)
    return {
        "model": product.model,
        "category": product.category,
        "name": product.name,
        "parts_warranty_months": period.parts_months,
        "labour_warranty_months": period.labour_months,
    }


@operator("check_warranty")
def check_warranty(
    *,
    serial_no: str,
    product_model: str,
    order_type: str,
    purchase_date: str | None = None,
    request_date: str | None = None,
    customer_phone: str | None = None,
    policy: Mapping[str, Any] | None = None,
    now: datetime,
    ref: ReferenceData,
) -> dict:
    """Decide whether the unit is serviced as category A (charged), B (contract) or C (free).

    Dates are ISO strings; ``request_date`` defaults to today in Beijing. Missing purchase
    proof is a result (``decided`` false), not an error.

    :raises ServiceInputError: malformed serial, unknown model, unknown order type,
        a date that is not a date, or a purchase date in the future or after the request
    """
    serial = values.serial_no(serial_no)
    values.order_type(order_type)
    product = ref.product(product_model) if isinstance(product_model, str) else None
    if product is None:
        raise ServiceInputError("product_model", f"未知的产品型号 {product_model!r}")
    if customer_phone is not None and not isinstance(customer_phone, str):
        raise ServiceInputError("customer_phone", f"客户电话 {customer_phone!r} 应为文本")
    today = values.local_date(now)
    asked_on = values.optional_date(request_date, "request_date") or today
    bought_on = values.optional_date(purchase_date, "purchase_date")
    if bought_on is not None and bought_on > min(today, asked_on):
        raise ServiceInputError("purchase_date", f"购买日期 {bought_on} 晚于今天或报修日期")

    base = {
        "serial_no": serial,
        "product_model": product.model,
        "product_category": product.category,
        "order_type": order_type,
        "request_date": asked_on.isoformat(),
    }
    if ref.is_special_sale(serial):
        return base | _charged("special_sale", f"序列号 {serial} 在特殊销售情况表中，不予保修，按收费服务处理。")
    contract = _best_contract(ref.contracts(serial, customer_phone, on=asked_on))
    if contract is not None:
        return base | _contract_result(contract)
    if bought_on is None:
        return base | _undecided()
    return base | _period_result(bought_on, asked_on, warranty_period(product, policy))


def _best_contract(contracts: list[Contract]) -> Contract | None:
    # Prefer the contract that covers most, then the one that runs longest, then the lowest
    # number, so the choice never depends on the order the reference data lists them in.
    ranked = sorted(contracts, key=lambda c: (-(c.covers_labour + c.covers_parts), -c.end.toordinal(), c.contract_no))
    return ranked[0] if ranked else None


def _result(**fields: Any) -> dict:
    return {
        "decided": True,
        "covered": False,
        "category": "A",
        "parts_covered": False,
        "labour_covered": False,
        "warranty_until": None,
        "parts_until": None,
        "labour_until": None,
        "contract_no": None,
    } | fields


def _charged(rule: str, reason: str, **fields: Any) -> dict:
    return _result(rule=rule, reason=reason, **fields)


def _undecided() -> dict:
    return _result(
        decided=False,
        category=None,
        rule="no_purchase_proof",
        reason="没有购买日期，无法判断是否在保修期内，请向客户索取购机发票或保修卡。",
    )


def _contract_result(contract: Contract) -> dict:
    covered = [w for w, c in (("人工", contract.covers_labour), ("配件", contract.covers_parts)) if c]
    terms = "、".join(covered) + "免费" if covered else "不含免费项目"
    return _result(
        covered=True,
        category="B",
        rule="contract",
        contract_no=contract.contract_no,
        parts_covered=contract.covers_parts,
        labour_covered=contract.covers_labour,
        warranty_until=contract.end.isoformat(),
        reason=f"服务合同 {contract.contract_no} 有效至 {contract.end}，按合同服务处理（{terms}）。",
    )


def _period_result(bought_on: date, asked_on: date, period: WarrantyPeriod) -> dict:
    parts_until = last_covered_day(bought_on, period.parts_months)
    labour_until = last_covered_day(bought_on, period.labour_months)
    until = max(parts_until, labour_until)
    dates = {
        "warranty_until": until.isoformat(),
        "parts_until": parts_until.isoformat(),
        "labour_until": labour_until.isoformat(),
    }
    if asked_on > until:
        return _charged("expired", f"购买于 {bought_on}，保修期至 {until} 已过，按收费服务处理。", **dates)
    parts, labour = asked_on <= parts_until, asked_on <= labour_until
    if parts and labour:
        reason = f"购买于 {bought_on}，在保修期内（至 {until}），免费服务。"
    else:
        free, until_free = ("配件", parts_until) if parts else ("人工", labour_until)
        reason = f"购买于 {bought_on}，仅{free}仍在保修期内（至 {until_free}），其余收费。"
    return _result(
        covered=True,
        category="C",
        rule="warranty_period",
        parts_covered=parts,
        labour_covered=labour,
        reason=reason,
        **dates,
    )
