"""Intake channels: the QR fault report, the sales-system webhook, the periodic schedules,
and duplicate detection across them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from engine.models import Event, Instance
from tests.api.conftest import NEW_ORDER, SALES_SECRET, open_order
from web.public import qr_token
from web.webhooks import signature

MODEL, SERIAL = NEW_ORDER["product_model"], NEW_ORDER["serial_no"]
REPORT = {"customer_name": "刘芳", "customer_phone": "13800138009", "address": "杭州市西湖区文三路 1 号",
          "symptom": "空调不制冷", "purchase_date": "2025-08-01"}
SALE = {"sale_id": "S-2026-000187", "customer_name": "王强", "customer_phone": "13700137000",
        "address": "杭州市滨江区江南大道 88 号", "product_model": MODEL, "serial_no": "AC2026000999",
        "purchase_date": "2026-03-01", "note": "周末安装"}


def instances(engine) -> list[Instance]:
    with engine.db.read() as s:
        return list(s.query(Instance).order_by(Instance.id))


def data_of(engine, instance_id):
    return engine.get_instance(instance_id).data


def report_url(app) -> str:
    with app.test_request_context():
        return f"/r/{qr_token(MODEL, SERIAL)}"


def test_the_qr_page_shows_the_unit_and_its_warranty(app, browser):
    html = browser().get(report_url(app)).get_data(as_text=True)
    assert MODEL in html and SERIAL in html and "保修期" in html and 'name="csrf_token"' in html


def test_a_qr_report_opens_a_repair_order_for_that_unit(app, engine, browser):
    b = browser()
    url = report_url(app)
    b.get(url)
    response = b.post(url, REPORT)
    assert response.status_code == 201, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert "报修已提交" in html and "保修初判" in html
    [inst] = instances(engine)
    assert inst.process_id == "work_order"
    data = data_of(engine, inst.id)
    assert (data["order_type"], data["channel"], data["serial_no"], data["product_model"]) == (
        "repair", "wechat", SERIAL, MODEL)
    assert [t.element_id for t in engine.get_instance(inst.id).open_tasks] == ["dispatch"]


def test_a_qr_report_needs_the_csrf_token(app, engine, browser):
    response = browser().post(report_url(app), REPORT, csrf=False)
    assert response.status_code == 400
    assert instances(engine) == []


def test_a_forged_qr_code_is_refused(browser):
    assert browser().get("/r/not-a-signed-token").status_code == 403


def test_qr_reports_are_rate_limited_per_address(app, engine, browser):
    app.config["REPORT_LIMIT"] = 2
    b = browser()
    url = report_url(app)
    b.get(url)
    codes = [b.post(url, {**REPORT, "customer_phone": f"1380013800{i}"}).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    assert len(instances(engine)) == 2


def test_reporting_the_same_unit_again_urges_the_running_order_instead_of_opening_another(app, engine, browser):
    b = browser()
    url = report_url(app)
    b.get(url)
    b.post(url, REPORT)
    again = b.post(url, {**REPORT, "symptom": "还是不制冷"})
    assert "您已有处理中的工单" in again.get_data(as_text=True)
    [inst] = instances(engine)
    with engine.db.read() as s:
        assert s.query(Event).filter(Event.instance_id == inst.id, Event.kind == "urged").count() == 1


def test_the_qr_image_is_an_svg_for_staff_only(app, browser):
    assert browser().get(f"/qr/{SERIAL}.svg?model={MODEL}").status_code == 302  # to the log-in page
    response = browser("kefu").get(f"/qr/{SERIAL}.svg?model={MODEL}")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).lstrip().startswith("<?xml")


def post_sale(client, sale, secret=SALES_SECRET):
    body = json.dumps(sale, ensure_ascii=False).encode()
    return client.post("/hooks/sales", data=body, content_type="application/json",
                       headers={"X-Paigong-Signature": signature(secret, body)})


def test_a_sale_from_the_sales_system_opens_an_installation_order(client, engine):
    response = post_sale(client, SALE)
    assert response.status_code == 201, response.get_json()
    [inst] = instances(engine)
    assert inst.process_id == "work_order"
    data = data_of(engine, inst.id)
    assert (data["order_type"], data["channel"], data["sale_id"]) == ("install", "sales_system", SALE["sale_id"])


def test_the_same_sale_delivered_twice_opens_one_order(client, engine):
    first = post_sale(client, SALE)
    second = post_sale(client, SALE)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["work_order_no"] == first.get_json()["work_order_no"]
    assert second.get_json()["replayed"] is True
    assert len(instances(engine)) == 1


def test_a_sale_with_a_wrong_signature_is_refused(client, engine):
    assert post_sale(client, SALE, secret="guessed").status_code == 403
    assert instances(engine) == []


def test_an_incomplete_sale_is_refused_with_its_fields(client, engine):
    response = post_sale(client, {k: v for k, v in SALE.items() if k != "serial_no"})
    assert response.status_code == 400
    assert instances(engine) == []


def add_schedule(cli, kind="maintenance", due="2026-03-01", *extra):
    result = cli("schedule", "add", "--kind", kind, "--serial", "AC2024000555", "--model", MODEL,
                 "--customer", "杭州银泰百货", "--phone", "0571-87000000", "--address", "杭州市延安路 530 号",
                 "--every", "6", "--next-due", due, *extra)
    assert result.exit_code == 0, result.output
    return result


def worker_round(engine) -> int:
    """What ``paigong worker`` does once: fire due timers, then deliver the outbox."""
    fired = engine.fire_due_jobs()
    engine.deliver_outbox(lambda topic, payload, outbox_id: None)
    return fired


def orders(engine) -> list[Instance]:
    return [i for i in instances(engine) if i.process_id == "work_order"]


def test_a_schedule_runs_as_a_service_plan_that_opens_each_due_order_once(cli, engine, clock):
    assert "计划 PM-" in add_schedule(cli).output  # due 1 March; the clock stands at 2 March
    [plan] = [i for i in instances(engine) if i.process_id == "service_plan"]
    assert orders(engine) == []
    worker_round(engine)
    [order] = orders(engine)
    data = data_of(engine, order.id)
    assert (data["order_type"], data["channel"]) == ("maintenance", "maintenance_due")
    assert data["serial_no"] == "AC2024000555" and "2026-03-01" in data["symptom"]
    [view] = engine.schedules()
    assert view.next_due.isoformat() == "2026-09-01" and view.last_work_order_no == order.business_key
    assert view.due_dates_opened == ("2026-03-01",) and view.instance_id == plan.id
    worker_round(engine)
    worker_round(engine)
    assert len(orders(engine)) == 1
    listed = cli("schedule", "list")
    assert "下次 2026-09-01" in listed.output and order.business_key in listed.output


def test_a_testing_schedule_opens_nothing_before_its_date_and_stops_at_its_end(cli, engine, clock):
    add_schedule(cli, "testing", "2026-04-01", "--until", "2026-10-15")
    worker_round(engine)
    assert orders(engine) == []
    clock.set(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC))  # 8:00 Beijing time
    worker_round(engine)
    [order] = orders(engine)
    assert data_of(engine, order.id)["order_type"] == "testing"
    clock.set(datetime(2026, 10, 1, 0, 0, 1, tzinfo=UTC))
    worker_round(engine)
    assert len(orders(engine)) == 2
    assert engine.schedules() == []  # next due date 2027-04-01 lies past the end date: the plan ended
    assert [v.active for v in engine.schedules(include_ended=True)] == [False]
    clock.set(datetime(2027, 4, 2, tzinfo=UTC))
    worker_round(engine)
    assert len(orders(engine)) == 2


def test_a_cancelled_schedule_opens_nothing_more(cli, engine, clock):
    add_schedule(cli, "maintenance", "2026-04-01")
    [view] = engine.schedules()
    result = cli("schedule", "cancel", str(view.id), "--reason", "设备已报废")
    assert result.exit_code == 0, result.output
    clock.set(datetime(2026, 4, 2, tzinfo=UTC))
    worker_round(engine)
    assert orders(engine) == [] and engine.schedules() == []
    assert cli("schedule", "cancel", str(view.id), "--reason", "再取消").exit_code != 0


def test_a_bad_schedule_is_refused_with_its_field_and_nothing_is_kept(cli, engine):
    result = cli("schedule", "add", "--kind", "testing", "--serial", "AC1", "--model", MODEL, "--customer", "甲",
                 "--phone", "0571-1", "--address", "  ", "--every", "6", "--next-due", "2026-04-01")
    assert result.exit_code != 0 and "address" in result.output
    result = cli("schedule", "add", "--kind", "testing", "--serial", "AC1", "--model", MODEL, "--customer", "甲",
                 "--phone", "0571-1", "--address", "杭州", "--every", "6", "--next-due", "2026-04-01",
                 "--until", "2026-03-01")
    assert result.exit_code != 0 and "end_date" in result.output
    assert engine.schedules(include_ended=True) == [] and instances(engine) == []


def test_duplicates_are_found_across_channels(client, engine, token):
    post_sale(client, {**SALE, "serial_no": SERIAL})
    opened = open_order(client, token("kefu"), order_type="repair")
    [first, second] = instances(engine)
    assert opened["duplicates"] == [first.business_key]
    assert data_of(engine, second.id)["duplicate_of"] == [first.business_key]
