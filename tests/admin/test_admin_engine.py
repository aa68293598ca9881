"""The admin console's engine verbs on the real work-order process, on SQLite and PostgreSQL:
move token, skip and retry with a reason, bulk actions, the instance list, the dashboard, the
heatmap and the settlement inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import Actor, Conflict, InvalidInput, NotAllowed
from engine.admin_queries import AdminInstanceFilter
from tasks.settlement import monthly_settlement
from tests.conftest import WORKFLOWS, make_engine, make_user
from tests.engine.test_work_order import ACCEPT, CHECK_IN, COMPLETION, DISPATCH, ORDER

ADMIN = Actor("boss", frozenset(), frozenset({"staff", "admin"}))
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def eng(db, clock):
    from tasks.refcsv import demo_reference_data

    e = make_engine(db, clock, ref=demo_reference_data())
    e.deploy_directory(WORKFLOWS)
    return e


@pytest.fixture
def staff(db):
    return {name: make_user(db, name, group) for name, group in (
        ("kefu", "customer_service"), ("diaodu", "dispatcher"), ("zhangwei", "technician"),
        ("liqiang", "technician"), ("huifang", "call_center"))}


def task(eng, actor, element_id, instance_id=None):
    found = [t for t in eng.inbox(actor).items + eng.queue(actor).items
             if t.element_id == element_id and instance_id in (None, t.instance_id)]
    assert len(found) == 1, [t.element_id for t in eng.inbox(actor).items + eng.queue(actor).items]
    return found[0]


def open_steps(eng, instance_id):
    return sorted(t.element_id for t in eng.get_instance(instance_id, with_data=False).open_tasks)


def start(eng, staff, n=1, **changes):
    return eng.start("work_order", {**ORDER, "work_order_no": f"WO-20260302-{n:04d}", **changes},
                     actor=staff["kefu"]).instance_id


def dispatched(eng, staff, n=1, **changes):
    iid = start(eng, staff, n, **changes)
    eng.complete(task(eng, staff["diaodu"], "dispatch", iid).id, DISPATCH, actor=staff["diaodu"])
    return iid


def run_to_end(eng, staff, clock, *, late=False, satisfied=True):
    """Accept, check in, finish and evaluate the order waiting at accept_task (late: after its deadline)."""
    zw = staff["zhangwei"]
    appointment = (clock.now() + timedelta(hours=1)).isoformat()  # the check-in is due at the appointment
    eng.complete(task(eng, zw, "accept_task").id, {**ACCEPT, "appointment_at": appointment}, actor=zw)
    eng.complete(task(eng, zw, "check_in").id, CHECK_IN, actor=zw)
    eng.complete(task(eng, zw, "report_progress").id, {"finished": True, "progress_note": "好了"}, actor=zw)
    if late:
        clock.advance(days=3)
    eng.complete(task(eng, zw, "complete_service").id, COMPLETION, actor=zw)
    eng.complete(task(eng, staff["huifang"], "customer_evaluation").id,
                 {"stars": 5 if satisfied else 1, "satisfied": satisfied}, actor=staff["huifang"])


# -- move token -------------------------------------------------------------------------------------


def test_moving_the_token_back_reopens_the_dispatch_and_cancels_the_technicians_task(eng, staff):
    iid = dispatched(eng, staff)
    assert open_steps(eng, iid) == ["accept_task"]
    result = eng.move_token(iid, "dispatch", actor=ADMIN, reason="派错了技术员")
    assert [t.element_id for t in result.open_tasks] == ["dispatch"]
    assert open_steps(eng, iid) == ["dispatch"]
    assert eng.inbox(staff["zhangwei"]).items == ()
    assert [j.element_id for j in eng.get_instance(iid).jobs] == []  # the acceptance timer is gone
    moved = [e for e in eng.history(iid) if e.kind == "token_moved"]
    assert moved[0].actor == "boss" and moved[0].data["reason"] == "派错了技术员"
    assert moved[0].data["from"] == ["accept_task"]
    # the order goes on from there with another technician
    eng.complete(task(eng, staff["diaodu"], "dispatch").id, {**DISPATCH, "technician": "liqiang"},
                 actor=staff["diaodu"])
    assert task(eng, staff["liqiang"], "accept_task").assignee == "liqiang"


def test_moving_the_token_forward_skips_steps_and_keeps_the_subprocess_deadline(eng, staff):
    iid = dispatched(eng, staff)
    eng.move_token(iid, "complete_service", actor=ADMIN, reason="已在现场处理完毕")
    assert open_steps(eng, iid) == ["complete_service"]
    assert [j.element_id for j in eng.get_instance(iid).jobs] == ["completion_overdue"]
    zw = staff["zhangwei"]
    eng.complete(task(eng, zw, "complete_service").id, COMPLETION, actor=zw)
    result = eng.complete(task(eng, staff["huifang"], "customer_evaluation").id, {"stars": 5, "satisfied": True},
                          actor=staff["huifang"])
    assert result.status == "completed"


def test_moving_into_a_subprocess_that_has_not_started_starts_it_first(eng, staff):
    iid = start(eng, staff)
    with pytest.raises(InvalidInput) as refused:  # the subprocess deadline needs a value first
        eng.move_token(iid, "check_in", actor=ADMIN, reason="技术员已签收（电话）")
    assert "completion_deadline" in refused.value.message
    assert open_steps(eng, iid) == ["dispatch"]
    eng.update_variables(iid, {"technician": "zhangwei", "completion_deadline": "2026-03-05T09:00:00+08:00"},
                         actor=ADMIN, reason="电话派工")
    eng.move_token(iid, "check_in", actor=ADMIN, reason="技术员已签收（电话）")
    assert open_steps(eng, iid) == ["check_in"]
    assert "completion_overdue" in [j.element_id for j in eng.get_instance(iid).jobs]
    eng.move_token(iid, "customer_evaluation", actor=ADMIN, reason="直接回访")
    assert open_steps(eng, iid) == ["customer_evaluation"]
    assert eng.get_instance(iid).jobs == ()


def test_the_token_cannot_move_to_where_it_is_or_to_an_unknown_element(eng, staff):
    iid = dispatched(eng, staff)
    with pytest.raises(Conflict):
        eng.move_token(iid, "accept_task", actor=ADMIN, reason="x")
    with pytest.raises(InvalidInput):
        eng.move_token(iid, "no_such_element", actor=ADMIN, reason="x")
    with pytest.raises(InvalidInput):
        eng.move_token(iid, "dispatch", actor=ADMIN, reason=" ")
    with pytest.raises(NotAllowed):
        eng.move_token(iid, "dispatch", actor=staff["diaodu"], reason="x")
    assert open_steps(eng, iid) == ["accept_task"]


def test_a_token_moved_out_of_an_incident_resolves_it(eng, staff):
    iid = start(eng, staff, product_model="NO-SUCH-MODEL")
    assert eng.get_instance(iid).status == "error"
    assert ("dispatch", "派工") in eng.move_targets(iid)
    result = eng.move_token(iid, "dispatch", actor=ADMIN, reason="型号稍后补录")
    assert result.status == "running"
    assert all(i.resolved_at is not None for i in eng.get_instance(iid).incidents)


def test_a_moved_order_reloads_the_same_after_the_cache_is_cleared(eng, staff):
    iid = dispatched(eng, staff)
    eng.move_token(iid, "dispatch", actor=ADMIN, reason="重派")
    eng._cache.clear()
    assert open_steps(eng, iid) == ["dispatch"]
    eng.complete(task(eng, staff["diaodu"], "dispatch").id, DISPATCH, actor=staff["diaodu"])
    assert open_steps(eng, iid) == ["accept_task"]


# -- skip, retry, bulk ------------------------------------------------------------------------------


def test_retry_after_fixing_a_variable_continues_and_logs_the_reason(eng, staff):
    iid = start(eng, staff, product_model="NO-SUCH-MODEL")
    detail = eng.instance_detail(iid)
    assert detail.incidents[0].element_id == "product_lookup" and "Traceback" in detail.incidents[0].traceback
    eng.update_variables(iid, {"product_model": "KFR-35GW/NhGd1BAj"}, actor=ADMIN, reason="型号录入错误")
    assert eng.retry_incident(iid, actor=ADMIN, reason="型号已改正").status == "running"
    assert open_steps(eng, iid) == ["dispatch"]
    retried = [e for e in eng.history(iid) if e.kind == "retried"]
    assert retried[-1].data == {"reason": "型号已改正"}


def test_skipping_a_failed_step_goes_on_without_running_it(eng, staff):
    iid = start(eng, staff, product_model="NO-SUCH-MODEL")
    eng.skip_failed(iid, actor=ADMIN, reason="产品信息不需要")
    detail = eng.instance_detail(iid)
    skipped = [i for i in detail.incidents if i.element_id == "product_lookup"]
    assert skipped and all(i.resolved_at for i in skipped)
    assert any(e.kind == "step_skipped" and e.data["reason"] == "产品信息不需要" for e in detail.history)
    # the next automatic step may need what the skipped one would have given: a new incident there
    assert detail.row.status == "running" or any(i.element_id != "product_lookup" for i in detail.incidents)


def test_bulk_suspend_resume_and_terminate_log_the_reason_on_each_instance(eng, staff):
    ids = [start(eng, staff, n) for n in (1, 2, 3)]
    assert eng.bulk("suspend", ids, actor=ADMIN, reason="系统维护") == {i: None for i in ids}
    assert {eng.get_instance(i).status for i in ids} == {"suspended"}
    with pytest.raises(Conflict):
        eng.complete(task(eng, staff["diaodu"], "dispatch").id if False else
                     eng.get_instance(ids[0]).open_tasks[0].id, DISPATCH, actor=staff["diaodu"])
    outcome = eng.bulk("resume", ids + [ids[0]], actor=ADMIN, reason="维护结束")
    assert outcome == {i: None for i in ids}
    assert {eng.get_instance(i).status for i in ids} == {"running"}
    again = eng.bulk("resume", ids[:1], actor=ADMIN, reason="再次")
    assert again[ids[0]]  # not suspended any more: the message says why
    eng.bulk("terminate", ids[2:], actor=ADMIN, reason="重复报修")
    assert eng.get_instance(ids[2]).status == "terminated"
    for i in ids:
        reasons = [e.data.get("reason") for e in eng.history(i) if e.kind in ("suspended", "resumed", "terminated")]
        assert reasons[:2] == ["系统维护", "维护结束"]


def test_bulk_needs_an_admin_a_reason_and_a_known_action(eng, staff):
    iid = start(eng, staff)
    with pytest.raises(NotAllowed):
        eng.bulk("suspend", [iid], actor=staff["diaodu"], reason="x")
    with pytest.raises(InvalidInput) as error:
        eng.bulk("explode", [], actor=ADMIN, reason="")
    assert set(error.value.fields) == {"action", "reason", "ids"}


def test_bulk_retry_runs_each_failed_instance_again(eng, staff):
    ids = [start(eng, staff, n, product_model="NO-SUCH-MODEL") for n in (1, 2)]
    for i in ids:
        eng.update_variables(i, {"product_model": "KFR-35GW/NhGd1BAj"}, actor=ADMIN, reason="改型号")
    assert eng.bulk("retry", ids, actor=ADMIN, reason="批量重试") == {i: None for i in ids}
    assert {eng.get_instance(i).status for i in ids} == {"running"}


# -- the instance list ------------------------------------------------------------------------------


def test_the_instance_list_filters_on_the_server(eng, staff, clock):
    a = start(eng, staff, 1, customer_name="王芳", customer_phone="13800000001")
    clock.advance(days=2)
    b = dispatched(eng, staff, 2, customer_name="李强", customer_phone="13800000002")
    c = start(eng, staff, 3, product_model="NO-SUCH-MODEL")
    clock.advance(days=1)

    def ids(**kw):
        return [r.id for r in eng.admin_instances(AdminInstanceFilter(**kw)).items]

    assert ids() == [c, b, a]
    assert ids(customer="王") == [a] and ids(customer="13800000002") == [b]
    assert ids(technician="zhangwei") == [b]
    assert ids(business_key="WO-20260302-0002") == [b] and ids(business_key="WO-20260302") == [c, b, a]
    assert ids(has_incident=True) == [c] and ids(status="error") == [c]
    assert ids(started_from=START + timedelta(days=1)) == [c, b]
    assert ids(started_to=START + timedelta(days=1)) == [a]
    assert ids(process_id="work_order", version=1) == [c, b, a] and ids(process_id="callback") == []
    assert ids(overdue=True) == [b]  # the acceptance deadline (2 hours) has passed
    assert ids(sort="business_key", descending=False) == [a, b, c]
    page = eng.admin_instances(AdminInstanceFilter(per_page=2, page=2))
    assert page.total == 3 and [r.id for r in page.items] == [a]
    row = eng.admin_instances(AdminInstanceFilter(business_key="WO-20260302-0002")).items[0]
    assert (row.customer_name, row.technician, row.order_type, row.version) == ("李强", "zhangwei", "install", 1)


# -- dashboard, heatmap, settlement -----------------------------------------------------------------


def test_the_dashboard_counts_sla_first_time_fix_callback_and_incidents(eng, staff, clock):
    clock.set(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    later = {"requested_at": "2026-03-20T09:00:00+08:00"}  # the dispatch is due by the customer's wish
    dispatched(eng, staff, 1, **later)
    run_to_end(eng, staff, clock)
    dispatched(eng, staff, 2, **later)
    run_to_end(eng, staff, clock, late=True)
    dispatched(eng, staff, 3, **later)  # still open, its acceptance deadline will pass
    start(eng, staff, 4, product_model="NO-SUCH-MODEL")
    clock.advance(hours=5)
    board = eng.dashboard()
    assert board.month_closed == 2
    assert (board.sla["month"].met, board.sla["month"].total) == (1, 2)
    assert board.sla["today"].total == 1  # the late one closed three days after the first
    assert board.first_time_fix.percent == 100.0 and board.callback.percent == 100.0
    assert set(board.completion_hours) == {"install"} and board.completion_hours["install"][0] == 2
    assert board.by_status == {"running": 1, "error": 1}
    assert board.by_group == {"technician": 1}
    assert [t.name for t in board.overdue] == ["任务签收"] and board.overdue_total == 1
    assert board.workload == (("zhangwei", 1, 1),)
    assert board.incidents_open == 1 and board.incidents[0].element_id == "product_lookup"
    # facts are kept: asking again gives the same figures
    assert eng.dashboard().sla == board.sla


def test_the_heatmap_counts_each_element_and_the_time_spent_in_user_tasks(eng, staff, clock):
    for n in (1, 2):
        dispatched(eng, staff, n)
    clock.advance(hours=1)
    zw = staff["zhangwei"]
    for t in [t for t in eng.inbox(zw).items if t.element_id == "accept_task"]:
        eng.complete(t.id, ACCEPT, actor=zw)
    heat = eng.heatmap("work_order")
    counts = {e.element_id: e for e in heat.elements}
    assert heat.instances == 2 and heat.version == 1 and "<bpmn" in heat.xml
    assert counts["dispatch"].passes == 2 and counts["accept_task"].passes == 2
    assert counts["product_lookup"].passes == 2 and counts["product_lookup"].mean_seconds is None
    assert counts["accept_task"].mean_seconds == pytest.approx(3600)
    assert counts["dispatch"].mean_seconds == 0
    # folded into the running totals later, the figures stay the same
    clock.advance(hours=1)
    assert eng.refresh_element_stats() > 0
    again = {e.element_id: (e.passes, e.mean_seconds) for e in eng.heatmap("work_order").elements}
    assert again == {e.element_id: (e.passes, e.mean_seconds) for e in heat.elements}


def test_settlement_inputs_come_from_the_months_closed_orders_and_penalty_notices(eng, staff, clock, db):
    from engine.models import Outbox

    clock.set(datetime(2026, 3, 10, 1, 0, tzinfo=UTC))
    dispatched(eng, staff, 1)
    run_to_end(eng, staff, clock)
    dispatched(eng, staff, 2, zone="out_of_city")
    run_to_end(eng, staff, clock, satisfied=False)
    with db.write() as s:
        s.add(Outbox(instance_id=None, topic="penalty_recorded", status="delivered", created_at=clock.now(),
                     next_attempt_at=clock.now(),
                     payload={"work_order_no": "WO-20260302-0001", "technician": "zhangwei", "rule": "late_card",
                              "rule_name": "迟交完工卡", "amount": "3.00", "waived": False, "reason": "迟交 7 小时"}))
    inputs = eng.settlement_inputs("2026-03", ref=eng.script_engine.ref)
    orders = {o["order_no"]: o for o in inputs.orders}
    assert set(orders) == {"WO-20260302-0001"} or set(orders) == {"WO-20260302-0001", "WO-20260302-0002"}
    first = orders["WO-20260302-0001"]
    assert first["technician_id"] == "zhangwei" and first["callback_passed"] is True and first["audit_passed"]
    assert first["labour_fee"] == "120.00"  # the fee schedule's labour line for an installation
    assert inputs.penalties[0]["amount"] == "3.00" and inputs.penalties[0]["technician_id"] == "zhangwei"
    report = eng.settlement_report("2026-03")
    assert report["totals"] == monthly_settlement(month="2026-03", orders=list(inputs.orders),
                                                  penalties=list(inputs.penalties))["totals"]
    assert eng.settlement_inputs("2026-02").orders == ()
    with pytest.raises(InvalidInput):
        eng.settlement_inputs("2026-13")
