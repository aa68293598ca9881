"""The inbox: who sees which tasks, tabs with counts, filters, sorting, pages, SLA badges, escaping."""

from __future__ import annotations

import re

from tests.web.conftest import actor, start_order, task_of

DISPATCH = {"technician": "zhangwei", "accept_within": "PT2H"}


def rows(html: str) -> list[str]:
    return re.findall(r'<a class="wo" href="/tasks/[^"]+">([^<]+)</a>', html)


def test_each_role_sees_only_its_own_and_its_groups_tasks(engine, browser):
    first = start_order(engine)
    start_order(engine, work_order_no="WO-20260302-0002", customer_phone="13800138002")
    dispatch = next(t for t in engine.queue(actor(engine, "diaodu")).items if t.instance_id == first.instance_id)
    engine.complete(dispatch.id, {"technician": "liqiang", "accept_within": "PT2H"}, actor=actor(engine, "diaodu"))

    dispatcher = browser("diaodu").get("/inbox?tab=queue").get_data(as_text=True)
    assert rows(dispatcher) == ["WO-20260302-0002"]
    assert rows(browser("liqiang").get("/inbox").get_data(as_text=True)) == ["WO-20260302-0001"]
    for other in ("zhangwei", "kefu", "huifang", "cangku"):
        for tab in ("mine", "queue", "done"):
            assert rows(browser(other).get(f"/inbox?tab={tab}").get_data(as_text=True)) == [], (other, tab)
    assert rows(browser("diaodu").get("/inbox?tab=done").get_data(as_text=True)) == ["WO-20260302-0001"]


def test_the_tabs_show_their_counts(engine, browser):
    start_order(engine)
    html = browser("diaodu").get("/inbox").get_data(as_text=True)
    counts = re.findall(r'class="count">(\d+)<', html)
    assert counts == ["0", "1", "0"]


def test_rows_show_number_customer_product_task_age_and_an_sla_badge(engine, browser, clock):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    engine.claim(task.id, actor=actor(engine, "diaodu"))
    engine.complete(task.id, DISPATCH, actor=actor(engine, "diaodu"))
    b = browser("zhangwei")
    html = b.get("/inbox").get_data(as_text=True)
    assert "WO-20260302-0001" in html and "刘芳" in html and "KFR-35GW/NhGd1BAj" in html and "任务签收" in html
    assert "badge-soon" in html and "即将到期" in html  # two hours to accept
    clock.advance(hours=3)
    html = b.get("/inbox").get_data(as_text=True)
    assert "badge-overdue" in html and "已超时" in html and "3 小时" in html


def test_filters_by_type_zone_and_search_run_on_the_server(engine, browser):
    start_order(engine)
    start_order(engine, work_order_no="WO-20260302-0002", order_type="install", zone="out_of_city",
                customer_name="陈建国", customer_phone="13900139002", serial_no="RF2025000456")
    b = browser("diaodu")
    assert rows(b.get("/inbox?tab=queue&order_type=install").get_data(as_text=True)) == ["WO-20260302-0002"]
    assert rows(b.get("/inbox?tab=queue&zone=in_city").get_data(as_text=True)) == ["WO-20260302-0001"]
    assert rows(b.get("/inbox?tab=queue&q=陈建").get_data(as_text=True)) == ["WO-20260302-0002"]
    assert rows(b.get("/inbox?tab=queue&q=13800138001").get_data(as_text=True)) == ["WO-20260302-0001"]
    assert rows(b.get("/inbox?tab=queue&q=RF2025000456").get_data(as_text=True)) == ["WO-20260302-0002"]
    assert sorted(rows(b.get("/inbox?tab=queue&order_type=bogus").get_data(as_text=True))) == [
        "WO-20260302-0001", "WO-20260302-0002"]


def test_overdue_and_due_soon_filters(engine, browser, clock):
    for n in (1, 2):
        start_order(engine, work_order_no=f"WO-20260302-000{n}", customer_phone=f"1380013800{n}")
    d = actor(engine, "diaodu")
    first, second = sorted(engine.queue(d).items, key=lambda t: t.work_order_no)
    engine.complete(first.id, {"technician": "zhangwei", "accept_within": "PT30M"}, actor=d)
    clock.advance(minutes=10)
    engine.complete(second.id, {"technician": "zhangwei", "accept_within": "PT8H"}, actor=d)
    clock.advance(minutes=30)
    b = browser("zhangwei")
    assert rows(b.get("/inbox?overdue=1").get_data(as_text=True)) == ["WO-20260302-0001"]
    assert rows(b.get("/inbox?due_soon=1").get_data(as_text=True)) == []
    clock.advance(hours=5)
    assert rows(b.get("/inbox?due_soon=1").get_data(as_text=True)) == ["WO-20260302-0002"]


def test_sorting_and_pagination(engine, browser):
    for n in range(1, 28):
        start_order(engine, work_order_no=f"WO-20260302-{n:04d}", customer_phone=f"138001{n:05d}")
    b = browser("diaodu")
    first = rows(b.get("/inbox?tab=queue&sort=work_order_no&dir=desc").get_data(as_text=True))
    assert len(first) == 25 and first[0] == "WO-20260302-0027"
    html = b.get("/inbox?tab=queue&sort=work_order_no&dir=desc&page=2").get_data(as_text=True)
    assert rows(html) == ["WO-20260302-0002", "WO-20260302-0001"]
    assert "第 2 / 2 页，共 27 条" in html


def test_a_customer_name_with_markup_is_shown_escaped(engine, browser):
    start_order(engine, customer_name="<script>alert(1)</script>")
    html = browser("diaodu").get("/inbox?tab=queue").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    task = task_of(engine, "diaodu", "dispatch")
    page = browser("diaodu").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    order = browser("diaodu").get(f"/orders/{task.instance_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in order


def test_claiming_from_the_queue_moves_the_task_to_my_tasks(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu")
    response = b.post(f"/tasks/{task.id}/claim")
    assert response.status_code == 302
    assert rows(b.get("/inbox").get_data(as_text=True)) == ["WO-20260302-0001"]
    assert rows(b.get("/inbox?tab=queue").get_data(as_text=True)) == []
    assert b.post(f"/tasks/{task.id}/unclaim").status_code == 302
    assert rows(b.get("/inbox?tab=queue").get_data(as_text=True)) == ["WO-20260302-0001"]
