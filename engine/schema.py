"""Create or upgrade the database schema with Alembic."""

from __future__ import annotations

import os

from alembic import command
from alembic.config import Config

from engine import identity
from engine.db import Database

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision and add the standard groups."""
    cfg = alembic_config(db)
    with db.write_engine.connect() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        connection.commit()
    with db.write() as s:
        identity.ensure_standard_groups(s)
