"""A dispatcher reassigns a task to a named technician with a reason that goes to the audit log."""

from __future__ import annotations

from tests.web.test_tasks import dispatched


def test_a_dispatcher_reassigns_with_a_reason_and_the_audit_log_keeps_it(engine, browser):
    accept = dispatched(engine)
    b = browser("diaodu")
    page = b.get(f"/tasks/{accept.id}").get_data(as_text=True)
    assert "改派给" in page and "技术员 李强 (liqiang)" in page
    response = b.post(f"/tasks/{accept.id}/reassign", {"to_user": "liqiang", "reason": "张伟今日请假"})
    assert response.status_code == 302
    assert [t.id for t in engine.inbox(engine.actor("liqiang")).items] == [accept.id]
    assert engine.inbox(engine.actor("zhangwei")).total == 0
    event = [e for e in engine.history(accept.instance_id) if e.kind == "task_reassigned"][-1]
    assert event.actor == "diaodu" and event.data == {"from": "zhangwei", "to": "liqiang", "reason": "张伟今日请假"}
    timeline = b.get(f"/orders/{accept.instance_id}").get_data(as_text=True)
    assert "张伟今日请假" in timeline and "改派" in timeline


def test_reassigning_needs_a_reason_and_a_member_of_the_tasks_group(engine, browser):
    accept = dispatched(engine)
    b = browser("diaodu")
    response = b.post(f"/tasks/{accept.id}/reassign", {"to_user": "liqiang", "reason": " "})
    assert response.status_code == 400 and "请填写改派原因" in response.get_data(as_text=True)
    response = b.post(f"/tasks/{accept.id}/reassign", {"to_user": "cangku", "reason": "试试"})
    assert response.status_code == 400 and "该用户不属于任务所在的组" in response.get_data(as_text=True)
    assert engine.inbox(engine.actor("zhangwei")).items[0].id == accept.id


def test_reassigning_from_the_order_page_comes_back_to_it(engine, browser):
    accept = dispatched(engine)
    b = browser("diaodu")
    assert "改派给" in b.get(f"/orders/{accept.instance_id}").get_data(as_text=True)
    response = b.post(f"/tasks/{accept.id}/reassign", {"to_user": "liqiang", "reason": "就近", "back": "order",
                                                       "instance_id": accept.instance_id})
    assert response.headers["Location"] == f"/orders/{accept.instance_id}"
    response = b.post(f"/tasks/{accept.id}/reassign", {"to_user": "", "reason": "", "back": "order",
                                                       "instance_id": accept.instance_id})
    assert response.status_code == 400 and "请选择改派给谁" in response.get_data(as_text=True)


def test_only_dispatchers_reassign(engine, browser):
    accept = dispatched(engine)
    response = browser("liqiang").post(f"/tasks/{accept.id}/reassign", {"to_user": "liqiang", "reason": "我来"})
    assert response.status_code == 403
    assert "改派给" not in browser("zhangwei").get(f"/tasks/{accept.id}").get_data(as_text=True)
