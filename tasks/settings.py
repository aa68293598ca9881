"""Validation of the SLA and penalty settings that admins may change (stored as data, not code).

Each known key (see :data:`tasks.refdata.DEFAULT_SLA_SETTINGS` and
:data:`~tasks.refdata.DEFAULT_PENALTY_SETTINGS`) has a kind that says what its value must be;
:func:`check_setting` returns the value in the form the operators read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tasks import values
from tasks.refdata import DEFAULT_SLA_SETTINGS
from tasks.registry import ServiceInputError

KINDS: dict[str, str] = {
    "completion_hours": "completion_hours",
    "completion_fallback": "order_type",
    "status_reply_min_hours": "hours",
    "urge_callback_hours": "hours",
    "card_hand_in_hours": "hours",
    "late_card_block_hours": "positive_hours",
    "late_card_amount_per_block": "money",
    "missed_urge_callback_min": "money",
    "missed_urge_callback_max": "money",
    "missed_urge_callback_default": "money",
    "false_status_reply": "money",
    "false_parts_invoice": "money",
    "no_fault_part_multiplier": "factor",
    "part_price_tolerance": "fraction",
}
MAX_HOURS = 24 * 365


def is_sla_setting(key: str) -> bool:
    return key in DEFAULT_SLA_SETTINGS


def check_setting(key: str, value: Any) -> Any:
    """``value`` checked and normalized for the setting ``key``.

    Hours stay numbers (whole numbers as ``int``), amounts become two-decimal strings,
    factors and fractions decimal strings.

    :raises ServiceInputError: unknown key, or a value of the wrong kind or range
    """
    kind = KINDS.get(key)
    if kind is None:
        raise ServiceInputError(key, f"未知的设置项 {key!r}")
    if kind == "completion_hours":
        return _completion_hours(key, value)
    if kind == "order_type":
        return values.order_type(value, key)
    if kind == "money":
        return values.money(values.parse_money(value, key))
    if kind in ("hours", "positive_hours"):
        hours = _hours(value, key)
        if kind == "positive_hours" and not hours:
            raise ServiceInputError(key, "必须大于 0 小时")
        return hours
    number = _non_negative(value, key)
    if kind == "fraction" and number > 1:
        raise ServiceInputError(key, f"{value!r} 应在 0 到 1 之间（如 0.10 表示 10%）")
    return str(number)


def check_settings(settings: Mapping[str, Any]) -> None:
    """Checks across keys of the effective (merged) settings.

    :raises ServiceInputError: the urge-callback default lies outside its range, or the
        completion fallback type has no deadlines of its own
    """
    low, high, default = (
        values.parse_money(settings[k], k)
        for k in ("missed_urge_callback_min", "missed_urge_callback_max", "missed_urge_callback_default")
    )
    if not low <= default <= high:
        raise ServiceInputError("missed_urge_callback_default", "默认罚款金额应在最低与最高金额之间")
    if settings["completion_fallback"] not in settings["completion_hours"]:
        raise ServiceInputError("completion_fallback", "兜底工单类型在完工时限表中没有配置")


def _non_negative(value: Any, field: str) -> Decimal:
    number = values.to_decimal(value, field)
    if number < 0:
        raise ServiceInputError(field, f"{value!r} 不能为负")
    return number


def _hours(value: Any, field: str) -> int | str:
    number = _non_negative(value, field)
    if number > MAX_HOURS:
        raise ServiceInputError(field, f"{value!r} 超过一年（{MAX_HOURS} 小时）")
    return int(number) if number == int(number) else str(number)


def _completion_hours(key: str, table: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(table, Mapping) or not table:
        raise ServiceInputError(key, "应为 工单类型 → {in_city, out_of_city} 小时数 的对象")
    checked: dict[str, dict[str, Any]] = {}
    for order_type, row in table.items():
        values.order_type(order_type, f"{key}.{order_type}")
        if not isinstance(row, Mapping) or set(row) != set(values.ZONES):
            raise ServiceInputError(f"{key}.{order_type}", "应同时给出 in_city 与 out_of_city 的小时数")
        checked[order_type] = {zone: _hours(row[zone], f"{key}.{order_type}.{zone}") for zone in values.ZONES}
    return checked
