"""The engine's channel verbs on SQLite and PostgreSQL: idempotent intake, per-recipient
notification planning with exactly-once delivery, tokens."""

from __future__ import annotations

from engine.intake import Idempotency
from engine.models import Instance
from engine.senders import Notifier, SendFailed
from engine.worker import run_worker
from tests.conftest import make_user
from tests.engine.conftest import model_dir

DATA = {"technician": "zhang", "customer_phone": "13800138001", "serial_no": "AC2025000123"}


def test_the_same_key_opens_one_order_and_replays_it(engine, db):
    engine.deploy_directory(model_dir("notify"))
    kefu = make_user(db, "kefu", "customer_service")
    first = engine.open_order("notify_flow", DATA, actor=kefu, idempotency=Idempotency("crm", "k-1", "f"))
    again = engine.open_order("notify_flow", DATA, actor=kefu, idempotency=Idempotency("crm", "k-1", "f"))
    assert again.replayed and again.work_order_no == first.work_order_no
    with db.read() as s:
        assert s.query(Instance).count() == 1
    other = engine.open_order("notify_flow", DATA, actor=kefu)
    assert other.duplicates == (first.work_order_no,)


def test_a_failing_channel_is_retried_and_each_recipient_is_reached_once(engine, db, clock):
    from sqlalchemy import update

    from engine.models import User

    engine.deploy_directory(model_dir("notify"))
    make_user(db, "zhang", "technician")
    with db.write() as s:
        s.execute(update(User).where(User.username == "zhang").values(phone="13900000001"))
    sent, failures = [], {"left": 1}

    def sms(delivery):
        if failures["left"]:
            failures["left"] -= 1
            raise SendFailed("gateway down")
        sent.append(delivery)

    notifier = Notifier({"sms": sms}, engine=engine)
    engine.start("notify_flow", {"work_order_no": "WO-12", "technician": "zhang"})
    for _ in range(3):
        run_worker(engine, once=True, send=notifier, echo=lambda _line: None)
        clock.advance(minutes=5)
    assert [(d.to, d.channel) for d in sent] == [("13900000001", "sms")]
    assert "WO-12" in sent[0].text
    [note] = engine.notifications(topic="notify")
    assert (note["status"], note["attempts"]) == ("delivered", 2)


def test_a_token_stands_for_its_user_until_revoked(engine, db):
    make_user(db, "kefu", "customer_service")
    view, secret = engine.create_token(username="kefu")
    assert engine.actor_for_token(secret).groups == frozenset({"customer_service"})
    engine.revoke_token(view.id)
    assert engine.actor_for_token(secret) is None
    assert engine.actor_for_token("pgt_not-a-token") is None
