"""API, intake and customer-side fixtures: the app on a copy of a prepared SQLite database
(real workflows, staff, reference data), an admin, and bearer tokens made through the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from engine import identity
from engine.models import User
from tests.web.conftest import ORDER, PASSWORD, Browser, build_database, copy_database, make_app

NEW_ORDER = {k: v for k, v in ORDER.items() if k not in ("work_order_no",)}
ACCEPT = {"customer_contacted": True, "appointment_at": "2026-03-03T14:00:00+08:00"}
CHECK_IN = {"arrived_at": "2026-03-03T13:52:00+08:00"}
FINISHED = {"finished": True, "progress_note": "更换温度传感器后制冷正常"}
COMPLETION = {"result": "fixed", "work_done": "更换温度传感器并试机", "parts_used": [], "fee_collected": "0",
              "customer_signed": True}
SALES_SECRET = "sales-shared-secret"


@pytest.fixture(scope="session")
def api_template_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("api-template") / "template.sqlite3")
    build_database(path)
    from engine import Database

    db = Database.connect(f"sqlite:///{path}")
    with db.write() as s:
        identity.create_user(s, "admin", PASSWORD, "管理员", groups=(), roles=("staff", "admin"))
        identity.create_user(s, "analyst", PASSWORD, "流程分析员", groups=(), roles=("staff", "analyst"))
        s.execute(update(User).where(User.username == "zhangwei").values(phone="13900000001"))
        s.execute(update(User).where(User.username == "diaodu").values(phone="13900000002"))
        s.execute(update(User).values(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))
    db.dispose()
    return path


@pytest.fixture
def app(tmp_path, clock, api_template_db):
    db_path = str(tmp_path / "api.sqlite3")
    copy_database(api_template_db, db_path)
    app = make_app(tmp_path, clock, db_path, SALES_WEBHOOK_SECRET=SALES_SECRET, PUBLIC_URL="https://fuwu.example.cn")
    yield app
    app.extensions["paigong"].db.dispose()


@pytest.fixture
def engine(app):
    return app.extensions["paigong"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(engine):
    """``token("kefu")`` → the ``Authorization`` header of a new token acting as that user."""
    def make(username: str) -> dict[str, str]:
        _view, secret = engine.create_token(username=username)
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def browser(app):
    def make(username=None):
        b = Browser(app.test_client())
        if username:
            assert b.login(username).status_code == 302
        return b

    return make


def open_order(client, headers, **changes):
    response = client.post("/api/v1/work-orders", json={**NEW_ORDER, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def task_of(engine, username, element_id):
    a = engine.actor(username)
    found = [t for t in engine.inbox(a).items + engine.queue(a).items if t.element_id == element_id]
    assert len(found) == 1, [t.element_id for t in engine.inbox(a).items + engine.queue(a).items]
    return found[0]


def drive_to_service_done(engine, instance_work_order_no: str | None = None):
    """Dispatch to zhangwei, accept, check in, finish and complete the service of the only order."""
    dispatcher, tech = engine.actor("diaodu"), engine.actor("zhangwei")
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=dispatcher)
    for element, data in (("accept_task", ACCEPT), ("check_in", CHECK_IN), ("report_progress", FINISHED),
                          ("complete_service", COMPLETION)):
        engine.complete(task_of(engine, "zhangwei", element).id, data, actor=tech)


@pytest.fixture
def cli(app):
    """``cli("token", "list")`` runs a ``paigong`` command against this test's app."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from paigong.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False)

    return invoke
