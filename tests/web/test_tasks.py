"""The task page: permissions by URL, the schema form with server-side coercion and per-field errors,
drafts, one-tap check-in, and a task someone else finished meanwhile."""

from __future__ import annotations

from tests.web.conftest import actor, start_order, task_of

DISPATCH = {"technician": "zhangwei", "accept_within": "PT2H"}
ACCEPT = {"customer_contacted": True, "appointment_at": "2026-03-02T14:00:00+08:00"}


def dispatched(engine, technician="zhangwei"):
    start_order(engine)
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {**DISPATCH, "technician": technician},
                    actor=actor(engine, "diaodu"))
    return task_of(engine, technician, "accept_task")


def at_completion(engine):
    accept = dispatched(engine)
    z = actor(engine, "zhangwei")
    engine.complete(accept.id, ACCEPT, actor=z)
    engine.complete(task_of(engine, "zhangwei", "check_in").id, {"arrived_at": "2026-03-02T13:50:00+08:00"}, actor=z)
    engine.complete(task_of(engine, "zhangwei", "report_progress").id, {"finished": True, "progress_note": "修好了"},
                    actor=z)
    return task_of(engine, "zhangwei", "complete_service")


def history_kinds(engine, instance_id):
    return [e.kind for e in engine.history(instance_id)]


def test_another_technicians_task_cannot_be_opened_or_completed_by_url(engine, browser):
    accept = dispatched(engine, technician="liqiang")
    b = browser("zhangwei")
    assert b.get(f"/tasks/{accept.id}").status_code == 403
    response = b.post(f"/tasks/{accept.id}/complete", {"customer_contacted": "1",
                                                       "appointment_at": "2026-03-02T14:00"})
    assert response.status_code == 403
    assert b.post(f"/tasks/{accept.id}/draft", {"accept_note": "x"}).status_code == 403
    assert b.post(f"/tasks/{accept.id}/claim").status_code == 409  # assigned already
    assert task_of(engine, "liqiang", "accept_task").status == "open"


def test_a_group_task_is_closed_to_other_groups(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    for outsider in ("cangku", "zhangwei", "kefu"):
        b = browser(outsider)
        assert b.get(f"/tasks/{task.id}").status_code == 403
        assert b.post(f"/tasks/{task.id}/complete", DISPATCH).status_code == 403
        assert b.post(f"/tasks/{task.id}/claim").status_code == 403
    assert browser("zhangwei").get("/tasks/no-such-task").status_code == 404


def test_the_task_page_shows_the_orders_facts_warranty_deadlines_and_history(engine, browser):
    accept = dispatched(engine)
    html = browser("zhangwei").get(f"/tasks/{accept.id}").get_data(as_text=True)
    for text in ("刘芳", "13800138001", "文三路", "KFR-35GW/NhGd1BAj", "空调不制冷", "C 免费服务", "在保修期内",
                 "完工时限", "处理记录", "完成任务", "派工"):
        assert text in html, text
    assert 'name="appointment_at"' in html and 'type="datetime-local"' in html


def test_an_invalid_form_shows_errors_next_to_the_fields_and_changes_nothing(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu")
    before = history_kinds(engine, task.instance_id)
    response = b.post(f"/tasks/{task.id}/complete", {"technician": "", "accept_within": "PT9H"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "表单有错误" in html
    assert 'class="field w-user has-error"' in html and "技术员: 必填" in html
    assert "签收时限: 不是可选值之一" in html
    assert history_kinds(engine, task.instance_id) == before
    assert task_of(engine, "diaodu", "dispatch").status == "open"


def test_a_user_field_accepts_only_members_of_its_group(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    response = browser("diaodu").post(f"/tasks/{task.id}/complete", {"technician": "cangku", "accept_within": "PT2H"})
    assert response.status_code == 400 and "请从列表中选择" in response.get_data(as_text=True)


def test_completing_moves_the_order_on_to_the_next_persons_inbox(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    response = browser("diaodu").post(f"/tasks/{task.id}/complete", {**DISPATCH, "dispatch_note": "客户下午在家"})
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"
    accept = task_of(engine, "zhangwei", "accept_task")
    assert engine.get_instance(accept.instance_id).data["dispatch_note"] == "客户下午在家"


def test_posted_strings_become_the_schemas_types(engine, browser):
    task = at_completion(engine)
    response = browser("zhangwei").post(f"/tasks/{task.id}/complete", {
        "result": "fixed", "work_done": "更换启动电容", "fee_collected": "28.00", "customer_signed": "1",
        "parts_used-0-code": "KT-DR-35", "parts_used-0-qty": "2", "parts_used-1-code": "", "parts_used-1-qty": "",
    })
    assert response.status_code == 302, response.get_data(as_text=True)
    done = [e for e in engine.history(task.instance_id) if e.kind == "task_completed"][-1]
    assert done.data == {"result": "fixed", "work_done": "更换启动电容", "fee_collected": "28.00",
                         "customer_signed": True, "parts_used": [{"code": "KT-DR-35", "qty": 2}]}


def test_a_row_with_a_bad_number_is_reported_on_that_cell(engine, browser):
    task = at_completion(engine)
    response = browser("zhangwei").post(f"/tasks/{task.id}/complete", {
        "result": "fixed", "work_done": "x", "fee_collected": "0", "customer_signed": "0",
        "parts_used-0-code": "KT-DR-35", "parts_used-0-qty": "两个",
    })
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请输入整数" in html and 'value="两个"' in html
    assert task_of(engine, "zhangwei", "complete_service").status == "open"


def test_a_conditional_requirement_is_shown_on_its_field(engine, browser):
    task = at_completion(engine)
    response = browser("zhangwei").post(f"/tasks/{task.id}/complete", {
        "result": "not_fixed", "work_done": "检查", "fee_collected": "0", "customer_signed": "1"})
    assert response.status_code == 400 and "未解决原因: 必填" in response.get_data(as_text=True)


def test_a_draft_is_kept_and_shown_again(engine, browser):
    accept = dispatched(engine)
    b = browser("zhangwei")
    response = b.post(f"/tasks/{accept.id}/draft", {"accept_note": "客户说周二下午方便", "appointment_at": "2026-03-03T15:00"})
    assert response.status_code == 302
    html = b.get(f"/tasks/{accept.id}").get_data(as_text=True)
    assert "客户说周二下午方便" in html and 'value="2026-03-03T15:00"' in html
    assert task_of(engine, "zhangwei", "accept_task").status == "open"


def test_one_tap_check_in_records_now_and_the_location(engine, browser, clock):
    accept = dispatched(engine)
    z = actor(engine, "zhangwei")
    engine.complete(accept.id, ACCEPT, actor=z)
    check_in = task_of(engine, "zhangwei", "check_in")
    b = browser("zhangwei")
    assert "一键签到" in b.get(f"/tasks/{check_in.id}").get_data(as_text=True)
    response = b.post(f"/tasks/{check_in.id}/checkin", {"checkin_location": "30.274100,120.155100 ±12m"})
    assert response.status_code == 302
    done = [e for e in engine.history(check_in.instance_id) if e.kind == "task_completed"][-1]
    assert done.data == {"arrived_at": "2026-03-02T09:00:00+08:00", "checkin_location": "30.274100,120.155100 ±12m"}


def test_check_in_is_offered_only_where_the_form_has_an_arrival_time(engine, browser):
    accept = dispatched(engine)
    b = browser("zhangwei")
    assert "一键签到" not in b.get(f"/tasks/{accept.id}").get_data(as_text=True)
    assert b.post(f"/tasks/{accept.id}/checkin").status_code == 404


def test_a_task_finished_by_someone_else_meanwhile_gives_a_clear_message(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu")
    b.get(f"/tasks/{task.id}")
    engine.complete(task.id, DISPATCH, actor=actor(engine, "diaodu"))  # in another tab, say
    response = b.post(f"/tasks/{task.id}/complete", {**DISPATCH, "technician": "liqiang"})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "任务已由 diaodu 完成" in html and "已被他人处理" in html
    assert engine.get_instance(task.instance_id).data["technician"] == "zhangwei"
    assert b.post(f"/tasks/{task.id}/claim").status_code == 409
    assert b.post(f"/tasks/{task.id}/draft", DISPATCH).status_code == 409


def test_a_finished_task_is_shown_read_only_to_the_one_who_did_it(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    engine.complete(task.id, {**DISPATCH, "dispatch_note": "下午"}, actor=actor(engine, "diaodu"))
    html = browser("diaodu").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "已完成" in html and "disabled" in html and "/complete" not in html


def test_conflicts_and_errors_answer_json_to_json_clients(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    engine.complete(task.id, DISPATCH, actor=actor(engine, "diaodu"))
    b = browser("diaodu")
    response = b.client.post(f"/tasks/{task.id}/claim", headers={"X-CSRFToken": b.token, "Accept": "application/json"})
    assert response.status_code == 409 and response.get_json()["message"] == "任务已由 diaodu 完成"


def test_a_failing_automatic_step_after_the_submission_is_reported(engine, browser, monkeypatch):
    from datetime import UTC, datetime

    from engine.results import IncidentView, StepResult

    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    incident = IncidentView(1, task.instance_id, "fee_check", "收费计算", "boom", "", 1, datetime.now(UTC), None)
    monkeypatch.setattr(engine, "complete", lambda *a, **k: StepResult(task.instance_id, "error", 3, incident))
    b = browser("diaodu")
    b.post(f"/tasks/{task.id}/complete", DISPATCH)
    assert "随后的自动步骤“收费计算”出错" in b.get("/inbox").get_data(as_text=True)
