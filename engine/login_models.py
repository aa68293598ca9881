"""The log-in rate limit's table: one row per failed log-in, shared by every web process.

Kept apart from :mod:`engine.models` (the engine core); it shares its ``Base`` so the
migrations, backups and test fixtures see the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models import Base, Id


class LoginFailure(Base):
    """A failed log-in: the name tried (lower case) and the client address, at a time.

    The limit counts these rows in a sliding window per name and per address; a successful
    log-in deletes the name's rows; rows older than the window are pruned as new ones come.
    """

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username", "username", "failed_at"),
        Index("ix_login_failure_address", "address", "failed_at"),
        Index("ix_login_failure_at", "failed_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column()
