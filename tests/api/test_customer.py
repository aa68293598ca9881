"""The customer's side: the status page behind a signed, expiring link, reschedule requests,
and the evaluation form."""

from __future__ import annotations

from engine.models import Event, Outbox
from tests.api.conftest import ACCEPT, NEW_ORDER, drive_to_service_done, task_of
from web.customer_links import make_token


def open_order(engine):
    return engine.open_order("work_order", NEW_ORDER, actor=engine.actor("kefu"))


def token_for(app, instance_id, purpose="status"):
    with app.app_context():
        return make_token(instance_id, purpose)


def test_the_status_page_says_what_happens_now_who_is_coming_and_when(app, engine, browser):
    order = open_order(engine)
    b = browser()
    url = f"/c/{token_for(app, order.instance_id)}"
    assert "正在为您安排技术员" in b.get(url).get_data(as_text=True)
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=engine.actor("diaodu"))
    engine.complete(task_of(engine, "zhangwei", "accept_task").id, ACCEPT, actor=engine.actor("zhangwei"))
    html = b.get(url).get_data(as_text=True)
    assert order.work_order_no in html and "技术员 张伟" in html and "13900000001" in html
    assert "2026-03-03 14:00" in html and "将按约定时间上门" in html
    assert NEW_ORDER["address"] not in html  # nothing the link does not need to show


def test_a_tampered_link_is_refused(app, engine, browser):
    order = open_order(engine)
    token = token_for(app, order.instance_id)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert browser().get(f"/c/{forged}").status_code == 403
    other = token_for(app, order.instance_id, "evaluate")  # made for another purpose
    assert browser().get(f"/c/{other}").status_code == 403


def test_an_expired_link_is_refused(app, engine, browser, clock):
    order = open_order(engine)
    url = f"/c/{token_for(app, order.instance_id)}"
    assert browser().get(url).status_code == 200
    clock.advance(days=61)
    response = browser().get(url)
    assert response.status_code == 403 and "已过期" in response.get_data(as_text=True)


def test_a_reschedule_request_is_recorded_and_the_dispatcher_alerted_while_the_process_has_no_catch(
        app, engine, browser):
    order = open_order(engine)
    b = browser()
    url = f"/c/{token_for(app, order.instance_id)}"
    b.get(url)
    response = b.post(f"{url}/reschedule", {"wanted_at": "2026-03-05T10:00", "note": "周四上午在家"})
    assert response.status_code == 200
    assert "改约申请已记录并通知调度" in response.get_data(as_text=True)
    with engine.db.read() as s:
        [event] = s.query(Event).filter(Event.kind == "reschedule_requested").all()
        [alert] = s.query(Outbox).filter(Outbox.topic == "reschedule_request").all()
    assert event.actor == "customer" and event.data["wanted_at"].startswith("2026-03-05T10:00")
    assert alert.payload["note"] == "周四上午在家"


def test_a_reschedule_request_needs_the_csrf_token(app, engine, browser):
    order = open_order(engine)
    url = f"/c/{token_for(app, order.instance_id)}/reschedule"
    assert browser().post(url, {"wanted_at": "2026-03-05T10:00"}, csrf=False).status_code == 400


def test_the_evaluation_opens_once_the_service_is_done_and_is_stored_once(app, engine, browser, client, token):
    order = open_order(engine)
    url = f"/c/{token_for(app, order.instance_id, 'evaluate')}/evaluate"
    b = browser()
    assert "服务完成后即可评价" in b.get(url).get_data(as_text=True)
    drive_to_service_done(engine)
    b.get(url)
    assert b.post(url, {"stars": "9"}).status_code == 400
    response = b.post(url, {"stars": "4", "comment": "师傅准时，态度好"})
    assert "感谢您的评价" in response.get_data(as_text=True)
    assert "您已评价" in b.get(url).get_data(as_text=True)
    shown = client.get("/api/v1/evaluations", headers=token("diaodu")).get_json()
    assert shown["count"] == 1 and shown["average"] == 4.0
    assert shown["items"][0]["comment"] == "师傅准时，态度好"
