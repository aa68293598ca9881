"""group queue: an index for a group's unassigned open tasks filtered by order type and sorted by customer

The inbox's group queue (and ``GET /api/v1/tasks?tab=queue``) asks for the open tasks of
the actor's groups that nobody holds (``assignee IS NULL``), most often narrowed to one
order type and sorted by customer name, and counts them. With the group, status and
holder leading, the queue's count reads a range of this index alone; with the order type
next, a filtered count does too; and within one order type the rows come in customer-name
order, so a page is the first 25 entries instead of a sort of every match. The columns are
written when a task is created and when it is claimed or completed, never by a step that
only moves the instance on.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_queue", "human_task",
                    ["group_id", "status", "assignee", "order_type", "customer_name", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_task_queue", table_name="human_task")
