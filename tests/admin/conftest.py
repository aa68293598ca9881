"""Admin console fixtures: the staff web app of tests/web plus an admin and an analyst."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from engine import Database, identity
from engine.models import User
from tests.web.conftest import PASSWORD, app, browser, build_database, clock, engine  # noqa: F401,F811 - fixtures

ADMINS = {"admin": ("管理员 周强", (), ("staff", "admin")), "analyst": ("流程分析员 孙杰", (), ("staff", "analyst"))}


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """The web tests' database with an admin and an analyst added (built once per session)."""
    path = str(tmp_path_factory.mktemp("admin-template") / "template.sqlite3")
    build_database(path)
    db = Database.connect(f"sqlite:///{path}")
    with db.write() as s:
        for username, (name, groups, roles) in ADMINS.items():
            identity.create_user(s, username, PASSWORD, name, groups=groups, roles=roles)
        s.execute(update(User).where(User.username.in_(ADMINS))
                  .values(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))
    db.dispose()
    return path


@pytest.fixture
def admin(browser):  # noqa: F811 - the fixture imported above
    return browser("admin")
