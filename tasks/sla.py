"""Service-level deadlines (DOMAIN P3): completion, status reply, urge callback, card hand-in.

Every instant is returned as ISO 8601 UTC (``...Z``) and, where it follows dispatch, also
as an ISO duration from dispatch (``PT24H``), so a BPMN timer can use either a
``timeDate`` or a ``timeDuration``. The hours come from ``ref.sla_settings()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tasks import values
from tasks.refdata import ReferenceData, setting
from tasks.registry import ServiceInputError, operator


def hours_setting(settings: Mapping[str, Any] | None, key: str) -> timedelta:
    """A setting in hours (may be fractional) as a ``timedelta``."""
    return _hours(setting(settings, key), key)


def _hours(value: Any, field: str) -> timedelta:
    hours = values.to_decimal(value, field)
    if hours < 0:
        raise ServiceInputError(field, f"小时数 {value!r} 不能为负")
    return timedelta(seconds=int(hours * 3600))


def completion_time(settings: Mapping[str, Any] | None, order_type: str, zone: str) -> timedelta:
    """How long after dispatch an order of ``order_type`` in ``zone`` must be completed.

    Order types without their own entry use the ``completion_fallback`` type's hours.
    """
    table = setting(settings, "completion_hours")
    row = table.get(order_type) or table[setting(settings, "completion_fallback")]
    return _hours(row[zone], f"completion_hours.{order_type}.{zone}")


def appointment_deadline(value: Any) -> datetime:
    """The agreed completion time: a date means the end of that day in Beijing.

    :raises ServiceInputError: neither a date nor a date-time
    """
    if isinstance(value, str) and "T" not in value and " " not in value.strip():
        day = values.parse_date(value, "appointment_at")
        return datetime.combine(day + timedelta(days=1), time(), values.SHANGHAI)
    return values.parse_datetime(value, "appointment_at")


@operator("compute_deadlines")
def compute_deadlines(
    *,
    order_type: str,
    zone: str,
    dispatched_at: str,
    appointment_at: str | None = None,
    completed_at: str | None = None,
    ref: ReferenceData,
) -> dict:
    """Deadlines of one dispatched work order.

    :param appointment_at: an agreed completion date or time; replaces the standard deadline
    :param completed_at: when given, the card hand-in deadline is computed too
    :raises ServiceInputError: unknown order type or zone, a time that is not a time, or an
        appointment or completion before dispatch
    """
    values.order_type(order_type)
    values.zone(zone)
    settings = ref.sla_settings()
    start = values.parse_datetime(dispatched_at, "dispatched_at")
    if appointment_at:
        due, basis = appointment_deadline(appointment_at), "appointment"
        if due < start:
            raise ServiceInputError("appointment_at", "预约完工时间早于派工时间")
    else:
        due, basis = start + completion_time(settings, order_type, zone), "standard"
    reply_from = start + hours_setting(settings, "status_reply_min_hours")
    result = {
        "order_type": order_type,
        "zone": zone,
        "basis": basis,
        "dispatched_at": values.iso_utc(start),
        **_instant("completion_due", start, due),
        **_instant("status_reply_earliest", start, reply_from),
        "urge_callback_within": values.iso_duration(hours_setting(settings, "urge_callback_hours")),
        "card_due_at": None,
        "card_due_in": None,
    }
    if completed_at:
        done = values.parse_datetime(completed_at, "completed_at")
        if done < start:
            raise ServiceInputError("completed_at", "完工时间早于派工时间")
        result |= _instant("card_due", start, done + hours_setting(settings, "card_hand_in_hours"))
    return result


def _instant(name: str, start: datetime, moment: datetime) -> dict[str, str]:
    return {f"{name}_at": values.iso_utc(moment), f"{name}_in": values.iso_duration(moment - start)}


@dataclass(frozen=True)
class LateCard:
    """The late-card penalty for one completion card (交卡)."""

    due_at: datetime
    late_by: timedelta
    blocks: int
    assessed: Decimal
    waived: bool

    @property
    def amount(self) -> Decimal:
        """What is charged: nothing when waived."""
        return Decimal(0) if self.waived else self.assessed


def late_card_penalty(
    completed_at: Any,
    handed_in_at: Any,
    reported_in_advance: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> LateCard:
    """The penalty for a card handed in after the hand-in deadline.

    Every started block of ``late_card_block_hours`` (3 h) costs ``late_card_amount_per_block``
    (1 yuan): exactly 3 h late costs 1, 3 h 1 min late costs 2. Reported in advance → waived.

    :param settings: SLA and/or penalty settings; missing keys take the defaults
    :raises ServiceInputError: a time is not a time, or the card was handed in before completion
    """
    done = values.parse_datetime(completed_at, "completed_at")
    handed_in = values.parse_datetime(handed_in_at, "handed_in_at")
    if handed_in < done:
        raise ServiceInputError("handed_in_at", "交卡时间早于完工时间")
    due = done + hours_setting(settings, "card_hand_in_hours")
    late = max(handed_in - due, timedelta(0))
    blocks = late_blocks(late, settings)
    per_block = values.parse_money(setting(settings, "late_card_amount_per_block"), "late_card_amount_per_block")
    return LateCard(due, late, blocks, per_block * blocks, bool(reported_in_advance and blocks))


def late_blocks(late: timedelta, settings: Mapping[str, Any] | None = None) -> int:
    """How many started penalty blocks ``late`` spans (0 when not late)."""
    block = hours_setting(settings, "late_card_block_hours")
    if not block:
        raise ServiceInputError("late_card_block_hours", "计罚时段必须大于 0 小时")
    return -(-late // block) if late > timedelta(0) else 0


def status_reply_allowed(
    dispatched_at: Any, replied_at: Any, deadline: Any, settings: Mapping[str, Any] | None = None
) -> bool:
    """Whether a status reply (信息回复) at ``replied_at`` is in its window.

    The window opens ``status_reply_min_hours`` (6 h) after dispatch and closes at the
    completion deadline, both ends included.

    :raises ServiceInputError: a time is not a time
    """
    start = values.parse_datetime(dispatched_at, "dispatched_at")
    replied = values.parse_datetime(replied_at, "replied_at")
    due = values.parse_datetime(deadline, "deadline")
    return start + hours_setting(settings, "status_reply_min_hours") <= replied <= due


@operator("check_status_reply")
def check_status_reply(
    *,
    order_type: str,
    zone: str,
    dispatched_at: str,
    replied_at: str,
    appointment_at: str | None = None,
    ref: ReferenceData,
) -> dict:
    """Check a technician's status reply against its window; the reason is for the front desk.

    :raises ServiceInputError: as :func:`compute_deadlines`, or ``replied_at`` is not a time
    """
    due = compute_deadlines(
        order_type=order_type, zone=zone, dispatched_at=dispatched_at, appointment_at=appointment_at, ref=ref
    )
    opens, closes = due["status_reply_earliest_at"], due["completion_due_at"]
    settings = ref.sla_settings()
    allowed = status_reply_allowed(dispatched_at, replied_at, closes, settings)
    window = (
        f"{values.beijing_text(values.parse_datetime(opens, 'opens'))} 至 "
        f"{values.beijing_text(values.parse_datetime(closes, 'closes'))}"
    )
    min_hours = setting(settings, "status_reply_min_hours")
    reason = (
        f"回复时间在允许范围内（{window}）。"
        if allowed
        else f"回复时间不在允许范围内：应在派工 {min_hours} 小时后、完工期限前（{window}）。"
    )
    return {"allowed": allowed, "window_opens_at": opens, "window_closes_at": closes, "reason": reason}
