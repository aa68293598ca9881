"""The admin console through its pages: instance list and bulk actions, instance detail and repairs,
dashboard and heatmap."""

from __future__ import annotations

import re

from tests.web.conftest import start_order, task_of


def ids_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', html)]


def test_the_instance_list_filters_sorts_and_pages_on_the_server(engine, admin):
    a = start_order(engine, customer_name="王芳", work_order_no="WO-20260302-0001").instance_id
    b = start_order(engine, customer_name="李强", work_order_no="WO-20260302-0002",
                    product_model="NO-SUCH-MODEL").instance_id
    assert ids_on(admin.get("/admin/instances").get_data(as_text=True)) == [b, a]
    assert ids_on(admin.get("/admin/instances?customer=%E7%8E%8B").get_data(as_text=True)) == [a]
    assert ids_on(admin.get("/admin/instances?has_incident=1").get_data(as_text=True)) == [b]
    assert ids_on(admin.get("/admin/instances?status=running").get_data(as_text=True)) == [a]
    assert ids_on(admin.get("/admin/instances?q=WO-20260302-0002").get_data(as_text=True)) == [b]
    assert ids_on(admin.get("/admin/instances?process=work_order&version=1&sort=business_key&dir=asc")
                  .get_data(as_text=True)) == [a, b]
    assert ids_on(admin.get("/admin/instances?started_from=2026-03-03").get_data(as_text=True)) == []
    assert ids_on(admin.get("/admin/instances?started_from=2026-03-02&started_to=2026-03-02")
                  .get_data(as_text=True)) == [b, a]
    assert admin.get("/admin/instances?status=nonsense&page=x").status_code == 200  # ignored, not an error


def test_bulk_suspend_and_resume_with_a_reason_from_the_list(engine, admin):
    ids = [start_order(engine, work_order_no=f"WO-20260302-000{n}").instance_id for n in (1, 2, 3)]
    back = "/admin/instances?status=running"
    response = admin.post("/admin/instances/bulk", {"action": "suspend", "reason": "盘点", "ids": ids, "back": back})
    assert response.status_code == 302 and response.headers["Location"] == back
    assert {engine.get_instance(i).status for i in ids} == {"suspended"}
    page = admin.get(back).get_data(as_text=True)
    assert "3 个流程实例已处理" in page and ids_on(page) == []
    admin.post("/admin/instances/bulk", {"action": "resume", "reason": "盘点结束", "all_matching": "1",
                                         "back": "/admin/instances?status=suspended"})
    assert {engine.get_instance(i).status for i in ids} == {"running"}
    assert [e.data["reason"] for e in engine.history(ids[0]) if e.kind in ("suspended", "resumed")] == ["盘点", "盘点结束"]


def test_a_bulk_action_without_a_reason_changes_nothing(engine, admin):
    iid = start_order(engine).instance_id
    response = admin.post("/admin/instances/bulk", {"action": "terminate", "reason": "", "ids": [iid],
                                                    "back": "https://evil.example/"})
    assert response.headers["Location"] == "/admin/instances"  # never another site
    assert engine.get_instance(iid).status == "running"


def test_an_incident_is_read_fixed_and_retried_from_the_instance_page(engine, admin):
    iid = start_order(engine, product_model="NO-SUCH-MODEL").instance_id
    page = admin.get(f"/admin/instances/{iid}").get_data(as_text=True)
    assert "Traceback" in page and "product_lookup" in page and 'id="incident-' in page
    response = admin.post(f"/admin/instances/{iid}/variables",
                          {"name": "product_model", "value": '"KFR-35GW/NhGd1BAj"', "reason": "型号录入错误"})
    assert response.status_code == 302
    assert engine.instance_detail(iid).data["product_model"] == "KFR-35GW/NhGd1BAj"
    assert admin.post(f"/admin/instances/{iid}/retry", {"reason": "改正后重试"}).status_code == 302
    assert engine.get_instance(iid).status == "running"
    page = admin.get(f"/admin/instances/{iid}").get_data(as_text=True)
    assert "已重试，流程继续运行" in page and "型号录入错误" in page and 'id="incident-' not in page


def test_a_variable_change_needs_a_reason(engine, admin):
    iid = start_order(engine).instance_id
    response = admin.post(f"/admin/instances/{iid}/variables", {"name": "zone", "value": "out_of_city", "reason": ""})
    assert response.status_code == 400 and "请填写原因" in response.get_data(as_text=True)
    assert engine.instance_detail(iid).data["zone"] == "in_city"


def test_moving_the_token_from_the_instance_page_changes_the_inboxes(engine, admin):
    iid = start_order(engine).instance_id
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=engine.actor("diaodu"))
    page = admin.get(f"/admin/instances/{iid}").get_data(as_text=True)
    assert 'value="dispatch"' in page and "移动令牌" in page
    response = admin.post(f"/admin/instances/{iid}/move", {"element_id": "dispatch", "reason": "派错了人"})
    assert response.status_code == 302
    assert engine.inbox(engine.actor("zhangwei")).items == ()
    assert task_of(engine, "diaodu", "dispatch").instance_id == iid
    refused = admin.post(f"/admin/instances/{iid}/move", {"element_id": "no_such", "reason": "x"})
    assert refused.status_code == 400


def test_suspend_and_terminate_from_the_instance_page_need_a_reason(engine, admin):
    iid = start_order(engine).instance_id
    assert admin.post(f"/admin/instances/{iid}/suspend", {"reason": ""}).status_code == 400
    assert admin.post(f"/admin/instances/{iid}/suspend", {"reason": "客户出差"}).status_code == 302
    assert engine.get_instance(iid).status == "suspended"
    admin.post(f"/admin/instances/{iid}/terminate", {"reason": "客户取消"})
    assert engine.get_instance(iid).status == "terminated"
    assert engine.inbox(engine.actor("diaodu")).items == () and engine.queue(engine.actor("diaodu")).items == ()


def test_the_instance_page_shows_timers_tasks_tree_and_the_diagram_data(engine, admin):
    iid = start_order(engine).instance_id
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=engine.actor("diaodu"))
    page = admin.get(f"/admin/instances/{iid}").get_data(as_text=True)
    assert "签收超时" in page or "accept_overdue" in page  # the acceptance timer with its due time
    assert "任务树" in page and "READY" in page and "任务签收" in page
    diagram = admin.get(f"/admin/instances/{iid}/diagram").get_json()
    assert "accept_task" in diagram["active"] and diagram["counts"]["dispatch"] == 1


def test_the_dashboard_links_an_incident_to_its_instance(engine, admin):
    iid = start_order(engine, product_model="NO-SUCH-MODEL").instance_id
    page = admin.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/instances/{iid}"' in page and "查询产品信息" in page
    assert "<svg" in page and "SLA" in page


def test_the_heatmap_page_carries_the_counts_for_the_diagram(engine, admin):
    start_order(engine)
    page = admin.get("/admin/heatmap/work_order").get_data(as_text=True)
    assert 'id="heatmap-data"' in page and "product_lookup" in page
    assert admin.get("/admin/heatmap/no_such_process").status_code == 404


def test_the_console_speaks_english_too(engine, admin):
    start_order(engine)
    admin.get("/lang/en")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "SLA compliance" in page and "Open incidents" in page and "未处理故障" not in page
