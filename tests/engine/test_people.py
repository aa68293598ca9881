"""Log-in, users and groups through the facade; the diagram view of an instance."""

from __future__ import annotations

import pytest

from engine import InvalidInput
from tests.conftest import make_engine
from tests.engine.conftest import model_dir


@pytest.fixture
def eng(db, clock):
    return make_engine(db, clock)


def test_a_user_logs_in_with_the_right_password_only(eng):
    eng.create_user("zhang", "correct-horse", "张伟", groups=("technician",))
    actor = eng.authenticate("zhang", "correct-horse")
    assert actor.username == "zhang" and actor.groups == {"technician"}
    assert eng.authenticate("zhang", "wrong-horse") is None
    assert eng.authenticate("nobody", "correct-horse") is None


def test_passwords_are_stored_hashed(eng, db):
    from engine.models import User

    eng.create_user("li", "a-long-secret", "李强", groups=("technician",))
    with db.read() as s:
        stored = s.query(User).filter_by(username="li").one().password_hash
    assert "a-long-secret" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_bad_users_are_refused_with_the_field_named(eng):
    with pytest.raises(InvalidInput) as err:
        eng.create_user("x", "short", "X")
    assert "password" in err.value.fields
    eng.create_user("dup", "long-enough-1", "Dup")
    with pytest.raises(InvalidInput) as err:
        eng.create_user("dup", "long-enough-2", "Dup")
    assert "username" in err.value.fields
    with pytest.raises(InvalidInput):
        eng.create_user("y", "long-enough-3", "Y", groups=("no_such_group",))


def test_users_are_listed_by_group(eng):
    eng.create_user("zhang", "correct-horse", "张伟", groups=("technician",))
    eng.create_user("chen", "correct-horse", "陈刚", groups=("dispatcher",))
    assert [u.username for u in eng.users("technician")] == ["zhang"]
    assert eng.groups()["technician"] == "技术员"


def test_the_diagram_view_marks_active_and_completed_elements(eng):
    eng.deploy_directory(model_dir("basic"))
    eng.create_user("zhang", "correct-horse", "张伟", groups=("technician",))
    started = eng.start("basic", {"work_order_no": "WO-D"})
    tech = eng.actor("zhang")
    eng.complete(eng.queue(tech).items[0].id, {"ok": True}, actor=tech)
    view = eng.diagram(started.instance_id)
    assert "wait_urge" in view.active and view.counts["first"] == 1 and view.counts["svc"] == 1
    assert view.xml.startswith("<?xml") and view.failed == ()
    assert eng.open_orders_like(phone=None, serial_no=None) == []
