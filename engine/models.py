"""SQLAlchemy models: definitions, instances and their projections, identity, audit.

Instances store the workflow state without the spec (the spec is stored once per
definition version). ``human_task``, ``job``, ``message_subscription``, ``event`` and
``outbox`` are projections written in the same transaction as the instance, so queries
never deserialize workflows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from engine.clock import utcnow


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored")
        if value is not None and dialect.name == "sqlite":

            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:

            return value.replace(tzinfo=UTC)
        return value


JSONType = JSON().with_variant(JSON(), "sqlite")
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


# -- identity ------------------------------------------------------------------------------


class Group(Base):
    __tablename__ = "staff_group"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))


class User(Base):
    __tablename__ = "staff_user"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[str] = mapped_column(String(256), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    __tablename__ = "staff_membership"
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("staff_group.id", ondelete="CASCADE"), primary_key=True)


# -- definitions and instances ---------------------------------------------------------------


class Definition(Base):
    """One immutable deployed version of one executable process."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("process_id", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    process_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    sources: Mapped[dict[str, Any]] = mapped_column()  # file name -> text
    spec: Mapped[str] = mapped_column(Text)  # serialized spec + subprocess specs (JSON)
    meta: Mapped[dict[str, Any]] = mapped_column()  # lanes, forms, element names, ...
    deployed_by: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Instance(Base):
    __tablename__ = "process_instance"
    # Indexed columns here change rarely, so the per-step UPDATE of state rewrites no index.
    __table_args__ = (
        Index("ix_instance_status", "status", "id"),
        Index("ix_instance_definition_status", "definition_id", "status"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"))
    process_id: Mapped[str] = mapped_column(String(128))
    business_key: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_phone: Mapped[str | None] = mapped_column(String(32), index=True)
    serial_no: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # work-order fields for lists
    started_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class TaskArchive(Base):
    """Records of finished tasks moved out of an instance's state (written once, in order)."""

    __tablename__ = "task_archive"
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    record: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    """Inbox projection of a READY user task."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_task_group_open", "group_id", "status", "due_at"),
        Index("ix_task_assignee_open", "assignee", "status", "due_at"),
        # only finished tasks are looked up by who finished them: no index entry while open
        Index("ix_task_done_by", "completed_by", "completed_at",
              sqlite_where=text("status = 'completed'"), postgresql_where=text("status = 'completed'")),
        Index("ix_task_instance", "instance_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the spiff task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"))
    process_id: Mapped[str] = mapped_column(String(128))
    element_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    group_id: Mapped[str] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open, completed, cancelled
    form: Mapped[str | None] = mapped_column(String(256))
    due_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    completed_by: Mapped[str | None] = mapped_column(String(64))
    draft: Mapped[dict[str, Any] | None] = mapped_column()
    # work-order fields for showing, filtering and sorting; searches by number, phone or
    # serial go through the instance's indexes (see engine.queries)
    work_order_no: Mapped[str | None] = mapped_column(String(64))
    order_type: Mapped[str | None] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(32))
    customer_name: Mapped[str | None] = mapped_column(String(128))
    customer_phone: Mapped[str | None] = mapped_column(String(32))
    product_model: Mapped[str | None] = mapped_column(String(64))
    serial_no: Mapped[str | None] = mapped_column(String(64))


class Job(Base):
    """A due timer (or a retry) the worker fires."""

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # timer, retry
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class MessageSubscription(Base):
    __tablename__ = "message_subscription"
    __table_args__ = (Index("ix_subscription_lookup", "message_name", "business_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    message_name: Mapped[str] = mapped_column(String(128))
    business_key: Mapped[str | None] = mapped_column(String(64))
    element_id: Mapped[str] = mapped_column(String(128))


class Incident(Base):
    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    element_id: Mapped[str] = mapped_column(String(128))
    element_name: Mapped[str] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class Event(Base):
    """Append-only audit log."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(Id)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    element_id: Mapped[str | None] = mapped_column(String(128))
    task_id: Mapped[str | None] = mapped_column(String(36))
    data: Mapped[dict[str, Any] | None] = mapped_column()


class Outbox(Base):
    """A notification to deliver after commit, exactly once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    instance_id: Mapped[int | None] = mapped_column(Id)
    topic: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
