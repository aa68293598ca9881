"""Tables of the API and the outside channels: tokens, idempotency keys, notification
templates and their planning cursor, customer evaluations, maintenance/testing schedules.

Kept apart from :mod:`engine.models` (the engine core); they share its ``Base`` so the
migrations and the test fixtures see every table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.models import Base, Id


class ApiToken(Base):
    """A bearer token of a user or of an integration; only the sha256 of the secret is kept."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a token in lists
    name: Mapped[str] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(64))  # a user's token acts as that user
    integration: Mapped[str | None] = mapped_column(String(64))  # else an integration's own groups/roles
    groups: Mapped[str] = mapped_column(String(512), default="")
    roles: Mapped[str] = mapped_column(String(256), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class IdempotencyKey(Base):
    """A client's key for one create request: a retried request replays the stored result."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(128))  # who: token, webhook source, schedule
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str | None] = mapped_column(String(64))  # sha256 of the request
    status: Mapped[str] = mapped_column(String(16))  # pending, done
    work_order_no: Mapped[str | None] = mapped_column(String(64))
    instance_id: Mapped[int | None] = mapped_column(Id)
    response: Mapped[dict[str, Any] | None] = mapped_column()
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationTemplate(Base):
    """A Chinese message for one topic over one channel to one kind of recipient (admins edit these)."""

    __tablename__ = "notification_template"
    __table_args__ = (UniqueConstraint("topic", "channel", "recipient"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))  # sms, wechat, email, webhook, log
    recipient: Mapped[str] = mapped_column(String(256))  # technician, customer, group:<id>, or an address
    title: Mapped[str] = mapped_column(String(256), default="")
    body: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationCursor(Base):
    """How far the planner has read the audit log for event-driven notifications."""

    __tablename__ = "notification_cursor"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Id, default=0)


class Evaluation(Base):
    """A customer's own rating of a finished work order (from the signed evaluation link)."""

    __tablename__ = "customer_evaluation"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(Id, unique=True)
    work_order_no: Mapped[str | None] = mapped_column(String(64))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceSchedule(Base):
    """A unit under periodic maintenance or metrology testing: an order opens when it falls due."""

    __tablename__ = "service_schedule"
    __table_args__ = (Index("ix_schedule_due", "active", "next_due"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # maintenance, testing (= the order type)
    serial_no: Mapped[str] = mapped_column(String(64))
    product_model: Mapped[str] = mapped_column(String(64))
    customer_name: Mapped[str] = mapped_column(String(128))
    customer_phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(256))
    zone: Mapped[str] = mapped_column(String(16), default="in_city")
    interval_months: Mapped[int] = mapped_column(Integer)
    next_due: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_work_order_no: Mapped[str | None] = mapped_column(String(64))
