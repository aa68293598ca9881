"""Web fixtures: the Flask app on a fresh SQLite database with the real workflows and staff.

Every POST in these tests carries the CSRF token read from the page, as a browser would;
``post(..., csrf=False)`` leaves it out.
"""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from engine import Database, Engine, FakeClock, identity
from engine.models import User
from engine.schema import upgrade
from tasks.refcsv import demo_csv_texts
from tests.conftest import WORKFLOWS
from web import create_app

PASSWORD = "secret-pass-1"
STAFF = {
    "kefu": ("客服 王丽", ("customer_service",)),
    "diaodu": ("调度 陈刚", ("dispatcher",)),
    "zhangwei": ("技术员 张伟", ("technician",)),
    "liqiang": ("技术员 李强", ("technician",)),
    "huifang": ("回访 周婷", ("call_center",)),
    "cangku": ("仓库 孙浩", ("warehouse",)),
}
ORDER = {
    "work_order_no": "WO-20260302-0001", "order_type": "repair", "customer_name": "刘芳",
    "customer_phone": "13800138001", "address": "杭州市西湖区文三路 1 号 1201 室", "zone": "in_city",
    "product_model": "KFR-35GW/NhGd1BAj", "serial_no": "AC2025000123", "purchase_date": "2025-08-01",
    "symptom": "空调不制冷", "channel": "phone", "requested_at": "2026-03-02T09:00:00+08:00",
}
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def clock():
    return FakeClock()


def build_database(path: str, workflows: str = WORKFLOWS) -> None:
    """A migrated SQLite database with the standard groups, the staff above and ``workflows`` deployed."""
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db)
    with db.write() as s:
        identity.ensure_standard_groups(s)
        for username, (name, groups) in STAFF.items():
            identity.create_user(s, username, PASSWORD, name, groups=groups)
        # a cheap hash for test users only: every log-in checks it, and real hashes are slow on purpose
        s.execute(update(User).values(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))
    engine = Engine(db, clock=FakeClock())
    for kind, text in demo_csv_texts().items():  # the app reads reference data from the database
        engine.import_reference(kind, text)
    engine.deploy_directory(workflows)
    db.dispose()


def copy_database(source: str, target: str) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    """Built once per test session (password hashing is slow on purpose); each test gets a copy."""
    path = str(tmp_path_factory.mktemp("web-template") / "template.sqlite3")
    build_database(path)
    return path


def make_app(tmp_path, clock, db_path: str, **config):
    return create_app(test_config={
        "TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": f"sqlite:///{db_path}",
        "WORKFLOWS": WORKFLOWS, "CLOCK": clock, "UPLOAD_DIR": str(tmp_path / "uploads"),
        "TRANSLATIONS_BUILD_DIR": str(tmp_path / "translations"), **config,
    })


@pytest.fixture
def app(tmp_path, clock, template_db):
    db_path = str(tmp_path / "web.sqlite3")
    copy_database(template_db, db_path)
    app = make_app(tmp_path, clock, db_path)
    yield app
    app.extensions["paigong"].db.dispose()


@pytest.fixture
def engine(app):
    return app.extensions["paigong"]


class Browser:
    """A test client that logs in and sends the page's CSRF token with each POST."""

    def __init__(self, client) -> None:
        self.client = client
        self.token = None

    def get(self, url, **kw):
        response = self.client.get(url, **kw)
        found = CSRF.search(response.get_data(as_text=True)) if response.mimetype == "text/html" else None
        if found:
            self.token = found.group(1)
        return response

    def post(self, url, data=None, *, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/login")
            data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, **kw)

    def login(self, username, password=PASSWORD):
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.get("/inbox")  # the session is new after log-in: take its token
        return response


@pytest.fixture
def browser(app):
    def make(username=None):
        b = Browser(app.test_client())
        if username:
            response = b.login(username)
            assert response.status_code == 302, response.get_data(as_text=True)
        return b

    return make


def actor(engine, username):
    return engine.actor(username)


def start_order(engine, **changes):
    return engine.start("work_order", {**ORDER, **changes}, actor=actor(engine, "kefu"))


def task_of(engine, username, element_id):
    a = actor(engine, username)
    found = [t for t in engine.inbox(a).items + engine.queue(a).items if t.element_id == element_id]
    assert len(found) == 1, [t.element_id for t in engine.inbox(a).items + engine.queue(a).items]
    return found[0]
