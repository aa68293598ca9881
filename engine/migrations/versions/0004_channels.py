"""API tokens, idempotency keys, notification templates and cursor, customer evaluations,
maintenance/testing schedules

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = engine.models.UTCDateTime()

TEMPLATES = (
    ("dispatch_reminder", "sms", "technician", "新工单提醒",
     "【派工】您有新工单 {work_order_no}：{customer_name}，{address}。请尽快签收并联系客户。"),
    ("appointment", "sms", "customer", "上门预约",
     "【派工】{customer_name}您好，工单 {work_order_no} 已由技术员{technician_name}（{technician_phone}）受理，"
     "预约上门时间 {appointment_at}。查看进度或改约：{status_link}"),
    ("appointment", "wechat", "customer", "上门预约通知",
     "工单 {work_order_no}：技术员{technician_name}将于 {appointment_at} 上门服务。"),
    ("service_completed", "sms", "customer", "服务完成",
     "【派工】您的工单 {work_order_no} 已完工，感谢您的耐心。请为本次服务评价：{evaluation_link}"),
    ("urge", "sms", "group:dispatcher", "客户催单",
     "【催单】工单 {work_order_no}（{customer_name}，{customer_phone}）客户催促：{note}。当前环节：{steps}。"
     "技术员须在 1 小时内联系客户。"),
    ("reschedule_request", "sms", "group:dispatcher", "客户申请改约",
     "【改约】工单 {work_order_no}（{customer_name}）申请改约到 {wanted_at}：{note}"),
)


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("username", sa.String(64)),
        sa.Column("integration", sa.String(64)),
        sa.Column("groups", sa.String(512), nullable=False),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME),
        sa.Column("last_used_at", TIME),
        sa.Column("revoked_at", TIME),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("work_order_no", sa.String(64)),
        sa.Column("instance_id", ID),
        sa.Column("response", sa.JSON()),
        sa.Column("locked_until", TIME),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("scope", "key"),
    )
    templates = op.create_table(
        "notification_template",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(256), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.UniqueConstraint("topic", "channel", "recipient"),
    )
    op.create_table(
        "notification_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_event_id", ID, nullable=False),
    )
    op.create_table(
        "customer_evaluation",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("instance_id", ID, nullable=False, unique=True),
        sa.Column("work_order_no", sa.String(64)),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "service_schedule",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("serial_no", sa.String(64), nullable=False),
        sa.Column("product_model", sa.String(64), nullable=False),
        sa.Column("customer_name", sa.String(128), nullable=False),
        sa.Column("customer_phone", sa.String(32), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("zone", sa.String(16), nullable=False),
        sa.Column("interval_months", sa.Integer(), nullable=False),
        sa.Column("next_due", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_work_order_no", sa.String(64)),
    )
    op.create_index("ix_schedule_due", "service_schedule", ["active", "next_due"])
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    op.bulk_insert(templates, [dict(topic=t, channel=c, recipient=r, title=ti, body=b, enabled=True,
                                    updated_by="system", updated_at=now) for t, c, r, ti, b in TEMPLATES])
    # notify only about what happens from now on, not about the history already in the log
    op.execute("INSERT INTO notification_cursor (name, last_event_id) "
               "SELECT 'events', COALESCE(MAX(id), 0) FROM event")


def downgrade() -> None:
    op.drop_index("ix_schedule_due", table_name="service_schedule")
    for table in ("service_schedule", "customer_evaluation", "notification_cursor", "notification_template",
                  "idempotency_key", "api_token"):
        op.drop_table(table)
