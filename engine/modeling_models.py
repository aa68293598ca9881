"""The process modeler's table: drafts of model files saved without deploying.

Kept apart from :mod:`engine.models` (the engine core); it shares its ``Base`` so the
migrations, backups and test fixtures see the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.clock import utcnow
from engine.models import Base, Id


class ModelDraft(Base):
    """An analyst's unfinished set of model files (may be invalid) with the problems found at save."""

    __tablename__ = "model_draft"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    files: Mapped[dict[str, Any]] = mapped_column()  # file name -> text
    problems: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"items": [problem, ...]}
    author: Mapped[str] = mapped_column(String(64))
    base_definition_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
