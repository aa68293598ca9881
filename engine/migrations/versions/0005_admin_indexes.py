"""admin console: indexes for the instance list, the dashboard and the reports; heatmap totals

The instance list filters by start time, customer name and technician (the last two live
in the summary JSON, indexed as expressions); the dashboard counts orders closed in a
period, overdue open tasks (a small partial index) and open incidents; the settlement
report reads one month of penalty notices. The indexed columns are written once
(created_at, ended_at, resolved_at, outbox rows) or rarely (the summary changes when an
order's facts change), so a step's UPDATE of the instance state rewrites none of them.
``admin_element_stat`` keeps the heatmap's running totals, read from the audit log past
``admin_cursor``; ``admin_order_fact`` what the dashboard needs of each closed order.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SUMMARY_KEYS = ("customer_name", "technician")


def _summary(dialect: str, key: str) -> str:
    # spelled exactly as engine.admin_queries.AdminQueries._summary_text, or the planner ignores the index
    if dialect == "sqlite":
        return f"json_extract(summary, '$.{key}')"
    return f"(summary ->> '{key}')"


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "admin_element_stat",
        sa.Column("definition_id", ID, primary_key=True),
        sa.Column("element_id", sa.String(128), primary_key=True),
        sa.Column("passes", sa.BigInteger(), nullable=False),
        sa.Column("timed", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_table(
        "admin_order_fact",
        sa.Column("instance_id", ID, primary_key=True),
        sa.Column("ended_at", engine.models.UTCDateTime(), nullable=False),
        sa.Column("order_type", sa.String(32)),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("called_back", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_order_fact_ended", "admin_order_fact", ["ended_at"])
    op.create_table(
        "admin_cursor",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_event_id", ID, nullable=False),
    )
    op.create_index("ix_task_open_due", "human_task", ["due_at"],
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    op.create_index("ix_instance_created", "process_instance", ["created_at"])
    op.create_index("ix_instance_ended", "process_instance", ["ended_at"],
                    sqlite_where=sa.text("ended_at IS NOT NULL"), postgresql_where=sa.text("ended_at IS NOT NULL"))
    op.create_index("ix_incident_open", "incident", ["instance_id"],
                    sqlite_where=sa.text("resolved_at IS NULL"), postgresql_where=sa.text("resolved_at IS NULL"))
    op.create_index("ix_outbox_topic", "outbox", ["topic", "created_at"])
    for key in SUMMARY_KEYS:
        op.execute(f"CREATE INDEX ix_instance_summary_{key} ON process_instance ({_summary(dialect, key)})")


def downgrade() -> None:
    for key in SUMMARY_KEYS:
        op.execute(f"DROP INDEX ix_instance_summary_{key}")
    op.drop_index("ix_outbox_topic", table_name="outbox")
    op.drop_index("ix_incident_open", table_name="incident")
    op.drop_index("ix_instance_ended", table_name="process_instance")
    op.drop_index("ix_instance_created", table_name="process_instance")
    op.drop_index("ix_task_open_due", table_name="human_task")
    op.drop_table("admin_cursor")
    op.drop_index("ix_order_fact_ended", table_name="admin_order_fact")
    op.drop_table("admin_order_fact")
    op.drop_table("admin_element_stat")
