"""Staff intake of a new work order, the duplicate warning, and the work-order page with its diagram."""

from __future__ import annotations

import re

from tests.web.conftest import actor, start_order, task_of

INTAKE = {
    "order_type": "repair", "channel": "phone", "customer_name": "刘芳", "customer_phone": "13800138001",
    "address": "杭州市西湖区文三路 1 号 1201 室", "zone": "in_city", "product_model": "KFR-35GW/NhGd1BAj",
    "serial_no": "ac2025000123", "purchase_date": "2025-08-01", "symptom": "空调不制冷",
    "requested_at": "2026-03-03T09:30",
}


def test_customer_service_registers_an_order_that_starts_the_work_order_process(engine, browser):
    b = browser("kefu")
    page = b.get("/orders/new").get_data(as_text=True)
    for label in ("设备安装", "设备维修", "设备升级", "设备巡检", "设备保养", "设备检测", "使用培训", "问题投诉"):
        assert label in page
    response = b.post("/orders/new", INTAKE)
    assert response.status_code == 302, re.findall(r'class="error">.*|flash.*', response.get_data(as_text=True))
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    inst = engine.get_instance(instance_id)
    assert inst.business_key == "WO-20260302-0001" and inst.started_by == "kefu"
    assert inst.data["serial_no"] == "AC2025000123" and inst.data["requested_at"] == "2026-03-03T09:30:00+08:00"
    assert inst.data["warranty"]["category"] == "C"
    assert task_of(engine, "diaodu", "dispatch").work_order_no == "WO-20260302-0001"
    html = b.get(response.headers["Location"]).get_data(as_text=True)
    assert "工单 WO-20260302-0001 已创建" in html


def test_work_order_numbers_count_up_per_day_and_never_repeat(engine, browser, clock):
    b = browser("kefu")
    numbers = []
    for n in range(3):
        b.post("/orders/new", {**INTAKE, "customer_phone": f"1380013800{n}", "serial_no": f"AC202500012{n}"})
    clock.advance(days=1)
    b.post("/orders/new", {**INTAKE, "customer_phone": "13900000000", "serial_no": "AC2025009999"})
    numbers = sorted(i["business_key"] for i in engine.list_instances().items)
    assert numbers == ["WO-20260302-0001", "WO-20260302-0002", "WO-20260302-0003", "WO-20260303-0001"]


def test_intake_validation_shows_errors_per_field_and_starts_nothing(engine, browser):
    b = browser("kefu")
    response = b.post("/orders/new", {**INTAKE, "customer_phone": "12345", "customer_name": "", "serial_no": "a b",
                                      "product_model": "NO-SUCH", "purchase_date": "2099-01-01", "order_type": "x"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for message in ("请输入 11 位手机号或带区号的固定电话", "必填", "序列号为 6–32 位", "产品目录中没有这个型号",
                    "购买日期不能晚于今天", "不是有效的选择"):
        assert message in html, message
    assert engine.list_instances().total == 0
    assert 'value="12345"' in html  # what was typed stays


def test_an_open_order_with_the_same_phone_or_serial_is_flagged_before_creating_another(engine, browser):
    start_order(engine)
    b = browser("kefu")
    response = b.post("/orders/new", {**INTAKE, "serial_no": "XX0000001"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "可能是重复报修" in html and "WO-20260302-0001" in html
    assert engine.list_instances().total == 1
    response = b.post("/orders/new", {**INTAKE, "serial_no": "XX0000001", "confirm_duplicate": "y"})
    assert response.status_code == 302 and engine.list_instances().total == 2


def test_only_customer_service_registers_orders(browser):
    assert browser("zhangwei").get("/orders/new").status_code == 403
    assert browser("zhangwei").post("/orders/new", INTAKE).status_code == 403
    assert "新建工单" not in browser("zhangwei").get("/inbox").get_data(as_text=True)


def test_the_work_order_page_shows_status_current_step_holder_timeline_and_diagram(engine, browser):
    started = start_order(engine)
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=actor(engine, "diaodu"))
    html = browser("diaodu").get(f"/orders/{started.instance_id}").get_data(as_text=True)
    assert "进行中" in html and "任务签收" in html and "处理人：zhangwei" in html
    assert "工单创建" in html and "完成任务" in html and "C 免费服务" in html
    diagram = browser("diaodu").get(f"/orders/{started.instance_id}/diagram").get_json()
    assert diagram["xml"].startswith("<?xml") and "accept_task" in diagram["active"]
    assert "dispatch" in diagram["completed"] and diagram["failed"] == []


def test_a_work_order_is_found_by_its_number(engine, browser):
    started = start_order(engine)
    response = browser("kefu").get("/orders/find?no=WO-20260302-0001")
    assert response.headers["Location"] == f"/orders/{started.instance_id}"
    assert browser("kefu").get("/orders/find?no=WO-NONE").status_code == 404


def test_people_with_no_part_in_an_order_cannot_open_it(engine, browser):
    started = start_order(engine)
    for outsider in ("zhangwei", "cangku", "huifang"):
        assert browser(outsider).get(f"/orders/{started.instance_id}").status_code == 403
        assert browser(outsider).get(f"/orders/{started.instance_id}/diagram").status_code == 403
    assert browser("kefu").get(f"/orders/{started.instance_id}").status_code == 200
    assert browser("kefu").get("/orders/999").status_code == 404


def test_the_diagram_viewer_is_served_by_us_when_built(app, engine, browser):
    started = start_order(engine)
    html = browser("kefu").get(f"/orders/{started.instance_id}").get_data(as_text=True)
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/static/") for s in sources), sources
