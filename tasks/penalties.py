"""Penalty assessment (处罚): one ledger entry per offence, amounts from ``ref.penalty_settings()``.

======================  =====================================================  =============
rule                    offence                                                amount
======================  =====================================================  =============
late_card               completion card handed in late                          1 per started
                                                                               3 h; waived if
                                                                               reported early
missed_urge_callback    no call within 1 h of an urge, customer urged again     5–50, default 20
false_status_reply      a false status reply                                    50
false_parts_invoice     a false invoice for a self-bought part                  configurable
no_fault_part           a replaced part turned out to have no fault             2 × part price
======================  =====================================================  =============
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tasks import values
from tasks.refdata import ReferenceData, setting
from tasks.registry import ServiceInputError, operator
from tasks.sla import late_blocks, late_card_penalty

RULE_NAMES = {
    "late_card": "迟交完工卡",
    "missed_urge_callback": "催修后未及时联系客户",
    "false_status_reply": "虚假信息回复",
    "false_parts_invoice": "自购配件发票不实",
    "no_fault_part": "更换配件经鉴定无故障",
}
# The optional parameters each rule reads; passing any other is a diagram mistake.
RULE_PARAMS = {
    "late_card": {"late_hours", "completed_at", "handed_in_at", "reported_in_advance"},
    "missed_urge_callback": {"amount"},
    "false_status_reply": set(),
    "false_parts_invoice": set(),
    "no_fault_part": {"amount_basis", "part_code"},
}

Assessment = tuple[Decimal, str, bool]  # amount, reason, waived


@operator("assess_penalty")
def assess_penalty(
    *,
    rule: str,
    order_no: str,
    technician_id: str,
    amount: Any = None,
    amount_basis: Any = None,
    part_code: str | None = None,
    late_hours: Any = None,
    completed_at: str | None = None,
    handed_in_at: str | None = None,
    reported_in_advance: bool = False,
    ref: ReferenceData,
) -> dict:
    """A penalty ledger entry ``{order_no, technician_id, rule, amount, reason, waived}``.

    :param amount: missed_urge_callback only: the amount chosen by the dispatcher
    :param amount_basis: no_fault_part: the part's price (or give ``part_code``)
    :param late_hours: late_card: hours past the hand-in deadline (or give
        ``completed_at`` and ``handed_in_at``)
    :raises ServiceInputError: unknown rule, a parameter the rule does not use, a missing
        or invalid value, an amount outside the allowed range
    """
    if rule not in RULE_NAMES:
        raise ServiceInputError("rule", f"未知的处罚规则 {rule!r}，应为 {'、'.join(RULE_NAMES)} 之一")
    given = {
        "amount": amount,
        "amount_basis": amount_basis,
        "part_code": part_code,
        "late_hours": late_hours,
        "completed_at": completed_at,
        "handed_in_at": handed_in_at,
        "reported_in_advance": reported_in_advance or None,
    }
    for name, value in given.items():
        if value is not None and name not in RULE_PARAMS[rule]:
            raise ServiceInputError(name, f"处罚规则 {rule} 不使用参数 {name}")
    for name, value in (("order_no", order_no), ("technician_id", technician_id)):
        if not isinstance(value, str) or not value.strip():
            raise ServiceInputError(name, "不能为空")
    settings = {**ref.sla_settings(), **ref.penalty_settings()}
    charged, reason, waived = ASSESSORS[rule](settings, ref, **{k: v for k, v in given.items() if v is not None})
    return {
        "order_no": order_no,
        "technician_id": technician_id,
        "rule": rule,
        "rule_name": RULE_NAMES[rule],
        "amount": values.money(charged),
        "reason": reason,
        "waived": waived,
    }


def _late_card(
    settings: Mapping[str, Any],
    ref: ReferenceData,
    *,
    late_hours: Any = None,
    completed_at: Any = None,
    handed_in_at: Any = None,
    reported_in_advance: bool = False,
) -> Assessment:
    if (completed_at is None) != (handed_in_at is None):
        missing = "handed_in_at" if handed_in_at is None else "completed_at"
        raise ServiceInputError(missing, "完工时间与交卡时间需同时提供")
    if completed_at is not None:
        card = late_card_penalty(completed_at, handed_in_at, reported_in_advance, settings)
        late, blocks, assessed = card.late_by, card.blocks, card.assessed
    elif late_hours is not None:
        hours = values.to_decimal(late_hours, "late_hours")
        if hours < 0:
            raise ServiceInputError("late_hours", "迟交小时数不能为负")
        late = timedelta(seconds=int(hours * 3600))
        blocks = late_blocks(late, settings)
        assessed = blocks * values.parse_money(setting(settings, "late_card_amount_per_block"), "late_card")
    else:
        raise ServiceInputError("late_hours", "需要迟交小时数，或完工时间与交卡时间")
    if not blocks:
        return Decimal(0), "完工卡按时上交，不处罚。", False
    minutes = int(late.total_seconds() // 60)
    reason = (
        f"完工卡超过交卡期限 {minutes // 60} 小时 {minutes % 60} 分钟上交，"
        f"每 {setting(settings, 'late_card_block_hours')} 小时计一次，共 {blocks} 次，罚款 {values.money(assessed)} 元"
    )
    if reported_in_advance:
        return Decimal(0), reason + "；已事先告知前台，免予处罚。", True
    return assessed, reason + "。", False


def _missed_urge_callback(settings: Mapping[str, Any], ref: ReferenceData, *, amount: Any = None) -> Assessment:
    low = values.parse_money(setting(settings, "missed_urge_callback_min"), "missed_urge_callback_min")
    high = values.parse_money(setting(settings, "missed_urge_callback_max"), "missed_urge_callback_max")
    default = setting(settings, "missed_urge_callback_default")
    charged = values.parse_money(default if amount is None else amount, "amount")
    if not low <= charged <= high:
        raise ServiceInputError("amount", f"罚款金额应在 {values.money(low)} 至 {values.money(high)} 元之间")
    return charged, f"接到催修/催装通知后未在规定时间内联系客户，造成二次催单，罚款 {values.money(charged)} 元。", False


def _fixed(key: str, text: str) -> Callable[..., Assessment]:
    def assess(settings: Mapping[str, Any], ref: ReferenceData) -> Assessment:
        charged = values.parse_money(setting(settings, key), key)
        return charged, f"{text}，罚款 {values.money(charged)} 元。", False

    return assess


def _no_fault_part(
    settings: Mapping[str, Any], ref: ReferenceData, *, amount_basis: Any = None, part_code: str | None = None
) -> Assessment:
    if amount_basis is not None:
        price = values.parse_money(amount_basis, "amount_basis")
    elif part_code is not None:
        part = ref.part(part_code) if isinstance(part_code, str) else None
        if part is None:
            raise ServiceInputError("part_code", f"未知的配件编码 {part_code!r}")
        price = part.price
    else:
        raise ServiceInputError("amount_basis", "需要配件价格或配件编码")
    multiplier = values.to_decimal(setting(settings, "no_fault_part_multiplier"), "no_fault_part_multiplier")
    charged = price * multiplier
    return (
        charged,
        f"更换的配件经技术主管鉴定无故障，按配件价格 {values.money(price)} 元的 "
        f"{multiplier} 倍罚款 {values.money(charged)} 元。",
        False,
    )


ASSESSORS: dict[str, Callable[..., Assessment]] = {
    "late_card": _late_card,
    "missed_urge_callback": _missed_urge_callback,
    "false_status_reply": _fixed("false_status_reply", "对无法按时完工的工单作虚假信息回复"),
    "false_parts_invoice": _fixed("false_parts_invoice", "自购配件的发票经核价不实，发票退回"),
    "no_fault_part": _no_fault_part,
}
