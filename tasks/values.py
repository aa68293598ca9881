"""Domain vocabulary and the parsing of operator inputs: dates, times, money, quantities.

Operators receive what a BPMN expression evaluated to (JSON values: strings, numbers,
lists, dicts); these helpers turn such values into ``date``, aware ``datetime``,
``Decimal`` and ``int``, raising :class:`~tasks.registry.ServiceInputError` with the
field name when a value cannot be used.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tasks.registry import ServiceInputError

# China has observed no daylight saving time since 1991, so a fixed offset is exact and
# spares deployments a time-zone database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

ORDER_TYPES: dict[str, str] = {
    "install": "设备安装",
    "repair": "设备维修",
    "upgrade": "设备升级",
    "inspection": "设备巡检",
    "maintenance": "设备保养",
    "testing": "设备检测",
    "training": "使用培训",
    "complaint": "问题投诉",
}
ZONES: dict[str, str] = {"in_city": "市内", "out_of_city": "市外"}
SERVICE_CATEGORIES: dict[str, str] = {"A": "收费服务", "B": "合同服务", "C": "免费服务"}

SERIAL_PATTERN = re.compile(r"[A-Z0-9-]{6,32}")
CENT = Decimal("0.01")


def order_type(value: Any, field: str = "order_type") -> str:
    """Return ``value`` if it is one of the eight order types.

    :raises ServiceInputError: any other value
    """
    if value not in ORDER_TYPES:
        raise ServiceInputError(field, f"工单类型 {value!r} 无效，应为 {'、'.join(ORDER_TYPES)} 之一")
    return value


def zone(value: Any, field: str = "zone") -> str:
    """Return ``value`` if it is ``in_city`` or ``out_of_city``.

    :raises ServiceInputError: any other value
    """
    if value not in ZONES:
        raise ServiceInputError(field, f"区域 {value!r} 无效，应为 in_city（市内）或 out_of_city（市外）")
    return value


def serial_no(value: Any, field: str = "serial_no") -> str:
    """Return the serial number upper-cased and stripped.

    :raises ServiceInputError: not 6–32 characters of A–Z, 0–9 and ``-``
    """
    text = value.strip().upper() if isinstance(value, str) else ""
    if not SERIAL_PATTERN.fullmatch(text):
        raise ServiceInputError(field, f"序列号 {value!r} 格式不对：应为 6–32 位大写字母、数字或连字符")
    return text


def parse_date(value: Any, field: str) -> date:
    """Parse an ISO date (``2025-06-02``) or take a ``date`` as is.

    :raises ServiceInputError: anything else, including date-times
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ServiceInputError(field, f"{value!r} 不是有效日期（应为 YYYY-MM-DD）")


def optional_date(value: Any, field: str) -> date | None:
    """Like :func:`parse_date`, but ``None`` and the empty string mean no date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_date(value, field)


def parse_datetime(value: Any, field: str) -> datetime:
    """Parse an ISO date-time into an aware UTC ``datetime``.

    A time without offset is read as Beijing time, the way staff enter it in forms.

    :raises ServiceInputError: not a date-time
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    if not isinstance(value, datetime):
        raise ServiceInputError(field, f"{value!r} 不是有效时间（应为 ISO 8601，如 2025-06-02T08:00:00Z）")
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The calendar date in Beijing at an aware ``moment``.

    :raises TypeError: ``moment`` is naive (the engine clock always gives aware times)
    """
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise TypeError("now must be an aware datetime")
    return moment.astimezone(SHANGHAI).date()


def iso_utc(moment: datetime) -> str:
    """Format an aware ``datetime`` as ISO 8601 in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def beijing_text(moment: datetime) -> str:
    """An aware ``datetime`` as staff read it: Beijing time to the minute (``2025-06-02 16:00``)."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def iso_duration(delta: timedelta) -> str:
    """Format a non-negative ``timedelta`` as an ISO 8601 duration in hours (``PT24H``).

    Hours rather than days so that every BPMN timer reads the same unit.
    """
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else "", f"{seconds}S" if seconds else ""]
    return "PT" + ("".join(parts) or "0S")


def add_months(start: date, months: int) -> date:
    """``start`` plus whole calendar months, clamped to the month's last day."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    for day in range(start.day, 0, -1):
        try:
            return date(year, month0 + 1, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def parse_money(value: Any, field: str, *, allow_zero: bool = True) -> Decimal:
    """Parse a non-negative amount with at most two decimals into a ``Decimal``.

    Floats are accepted through their shortest text form (``0.1`` → ``Decimal("0.1")``)
    because JSON numbers arrive as floats.

    :raises ServiceInputError: not a number, negative, zero when not allowed, or finer than a cent
    """
    amount = to_decimal(value, field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ServiceInputError(field, f"金额 {value!r} 必须{'不小于' if allow_zero else '大于'} 0")
    if amount != amount.quantize(CENT):
        raise ServiceInputError(field, f"金额 {value!r} 最多两位小数")
    return amount


def to_decimal(value: Any, field: str) -> Decimal:
    """Parse a finite number (int, float, numeric string or ``Decimal``) into a ``Decimal``.

    :raises ServiceInputError: anything else
    """
    if isinstance(value, bool):
        raise ServiceInputError(field, f"{value!r} 不是数字")
    if isinstance(value, float) and math.isfinite(value):
        value = repr(value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, TypeError, ValueError):
        raise ServiceInputError(field, f"{value!r} 不是数字") from None
    if not number.is_finite():
        raise ServiceInputError(field, f"{value!r} 不是数字")
    return number


def parse_quantity(value: Any, field: str) -> int:
    """Parse a positive whole quantity.

    :raises ServiceInputError: not a whole number, or less than 1
    """
    number = to_decimal(value, field) if not isinstance(value, int) or isinstance(value, bool) else value
    if number != int(number):
        raise ServiceInputError(field, f"数量 {value!r} 必须是整数")
    if number < 1:
        raise ServiceInputError(field, f"数量 {value!r} 必须大于 0")
    return int(number)


def money(amount: Decimal) -> str:
    """Serialize an amount with exactly two decimals (``"128.00"``)."""
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def item_list(value: Any, field: str) -> list[Mapping[str, Any]]:
    """Check that ``value`` is a list of objects (e.g. ``[{"code": "P1", "qty": 2}]``).

    :raises ServiceInputError: not a list, or an element is not an object
    """
    if isinstance(value, Mapping) or isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ServiceInputError(field, "应为列表")
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ServiceInputError(f"{field}[{index}]", "每一项应为对象（含 code 与 qty）")
    return items
