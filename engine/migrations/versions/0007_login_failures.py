"""login rate limit shared by every web process: one row per failed log-in

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import engine.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failed_at", engine.models.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_login_failure_username", "login_failure", ["username", "failed_at"])
    op.create_index("ix_login_failure_address", "login_failure", ["address", "failed_at"])
    op.create_index("ix_login_failure_at", "login_failure", ["failed_at"])


def downgrade() -> None:
    op.drop_table("login_failure")
