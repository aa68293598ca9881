"""Times, ages, SLA badges and data values as staff read them (in the company's time zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext

from web import labels
from web.i18n import engine_text, label, tr

DUE_SOON = timedelta(hours=4)  # the engine's "due soon" filter uses the same window


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        local_dt=local_dt, local_date=local_date, age=age, value=display_value, engine_text=engine_text,
    )
    app.jinja_env.globals.update(sla=sla, label=label, labels=labels, now=now)


def zone() -> tzinfo:
    """The company's time zone (``PAIGONG_TIMEZONE``, default Asia/Shanghai)."""
    name = current_app.config.get("TIMEZONE") or "Asia/Shanghai"
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no time-zone database: China has had no daylight saving since 1991
        return timezone(timedelta(hours=8), "Asia/Shanghai")


def now() -> datetime:
    return current_app.extensions["paigong"].clock.now()


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or len(value) < 16:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone())


def local_dt(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    when = parse_time(value)
    if when is None:
        return "" if value is None else str(value)
    return when.astimezone(zone()).strftime(fmt)


def local_date(value: Any) -> str:
    return local_dt(value, "%Y-%m-%d")


def input_datetime(value: Any) -> str:
    """A stored ISO time as the value of an ``<input type="datetime-local">``."""
    when = parse_time(value)
    return when.astimezone(zone()).strftime("%Y-%m-%dT%H:%M") if when else ("" if value is None else str(value))


def age(value: datetime | None) -> str:
    """How long ago, short: 刚刚 / 5 分钟 / 3 小时 / 2 天."""
    if value is None:
        return ""
    seconds = max(0, int((now() - value).total_seconds()))
    if seconds < 60:
        return tr("刚刚")
    if seconds < 3600:
        return tr("%(n)s 分钟") % {"n": seconds // 60}
    if seconds < 86400:
        return tr("%(n)s 小时") % {"n": seconds // 3600}
    return tr("%(n)s 天") % {"n": seconds // 86400}


def sla(due: datetime | None) -> tuple[str, str]:
    """(css class, label) of a due time: on time, due soon (4 h) or overdue."""
    if due is None:
        return "none", tr("无时限")
    current = now()
    if due < current:
        return "overdue", tr("已超时")
    if due < current + DUE_SOON:
        return "soon", tr("即将到期")
    return "ok", tr("正常")


def display_value(value: Any, key: str | None = None) -> str:
    """A work-order data value for reading: labels for codes, local times, the warranty decision."""
    if value is None or value == "":
        return ""
    if key in labels.CODED:
        return label(labels.CODED[key], value)
    if key == "warranty" and isinstance(value, dict):
        return warranty_text(value)
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    if isinstance(value, str):
        if len(value) >= 16 and value[4:5] == "-" and value[10:11] == "T" and parse_time(value):
            return local_dt(value)
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "；".join(display_value(v) for v in value)
    if isinstance(value, dict):
        return "，".join(f"{k}: {display_value(v)}" for k, v in value.items())
    return str(value)


def warranty_text(w: dict[str, Any]) -> str:
    if w.get("decided") is False:
        return gettext("无法判定：%(reason)s", reason=w.get("reason") or "")
    category = label(labels.WARRANTY_CATEGORIES, w.get("category")) if w.get("category") else ""
    covered = gettext("在保") if w.get("covered") else gettext("不在保")
    parts = [p for p in (category, covered) if p]
    reason = w.get("reason")
    return " · ".join(parts) + (f" — {reason}" if reason else "")
