"""P7 engineering project installation (新工程安装调试), through the facade.

The clock starts on 2026-03-02 (Beijing). The project manager must give at least 7 days'
notice; the team inspects the site 2 days before entry (00:00 UTC, 08:00 in Beijing).
"""

from __future__ import annotations

import pytest

from tests.workflows.scenario import Outbox, Run, engine_fixture, make_staff

PROJECT = {
    "work_order_no": "GC-2026-0007", "project_name": "西溪明珠酒店中央空调改造", "site_address": "杭州市西湖区天目山路 398 号",
    "customer_name": "杭州西溪明珠酒店", "customer_phone": "0571-88234567",
}
SHEET = {"site_entry_date": "2026-03-12", "scope": "多联机 12 台安装调试", "team_size": 4}
TEAM = {"team_lead": "zhangwei", "team_members": "张伟、李强、王磊、陈杰"}
NOT_READY = {"inspection_sheet_no": "SC-01", "site_ready": False, "inspection_issues": "吊顶未封闭，电源未到位"}
READY = {"inspection_sheet_no": "SC-02", "site_ready": True}
INSTALLED = {"changes_occurred": False, "install_note": "安装调试完成"}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def inspection_day(run, eng, clock):
    run.do("p7_pick_team", TEAM)
    assert run.open() == []
    clock.set(clock.now().replace(day=9, hour=23, minute=59))
    assert eng.fire_due_jobs() == 0
    clock.set(clock.now().replace(day=10, hour=0, minute=0))
    assert eng.fire_due_jobs() == 1
    assert run.task("p7_inspect").assignee == "zhangwei"


def test_a_project_is_inspected_rectified_installed_with_a_change_accepted_trained_and_handed_over(eng, staff, clock):
    outbox = Outbox(eng)
    run = Run.start(eng, staff, "project_install", PROJECT, actor="xiangmu")
    assert run.task("p7_task_sheet").group_id == "project_manager"
    run.do("p7_task_sheet", SHEET)
    assert run.data["notice_days"] == 10 and run.task("p7_pick_team").group_id == "install_lead"
    inspection_day(run, eng, clock)
    run.do("p7_inspect", NOT_READY)
    run.do("p7_rectify", {"rectification_note": "吊顶已封，电源已到位"})
    run.do("p7_inspect", READY)
    run.do("p7_plan", {"work_plan": "3 天完成室内机、2 天调试", "planned_finish": "2026-03-17"})
    assert outbox.of("project_plan_filed")[0]["inspection_sheet_no"] == "SC-02"
    run.do("p7_install", {"changes_occurred": True, "change_note": "业主增加 2 台室内机", "install_note": "进行中"})
    run.do("p7_replan", {"work_plan": "增加 1 天安装"})
    assert outbox.of("project_change_reported")[0]["change_note"] == "业主增加 2 台室内机"
    run.do("p7_install", INSTALLED)
    run.do("p7_acceptance", {"accepted": False, "acceptance_issues": "2 号机噪音大"})
    run.do("p7_install", INSTALLED)
    run.do("p7_acceptance", {"accepted": True})
    run.do("p7_training", {"trainees": "工程部 3 人", "training_done": True})
    run.do("p7_handover", {"documents": "竣工图、调试记录、说明书", "archived": True})
    assert run.status == "completed"


def test_short_notice_is_postponed_or_accepted_by_the_after_sales_lead(eng, staff):
    run = Run.start(eng, staff, "project_install", PROJECT, actor="xiangmu")
    run.do("p7_task_sheet", {**SHEET, "site_entry_date": "2026-03-05"})
    assert run.data["notice_days"] == 3
    run.do("p7_short_notice", {"short_notice_decision": "postpone", "short_notice_note": "本周售后任务已满"})
    run.do("p7_task_sheet", {**SHEET, "site_entry_date": "2026-03-06"})
    run.do("p7_short_notice", {"short_notice_decision": "accept"})
    assert run.task("p7_pick_team")


def test_a_site_still_not_ready_after_three_rectifications_goes_to_the_department_head(eng, staff, clock):
    run = Run.start(eng, staff, "project_install", PROJECT, actor="xiangmu")
    run.do("p7_task_sheet", SHEET)
    inspection_day(run, eng, clock)
    for _ in range(3):
        run.do("p7_inspect", NOT_READY)
        run.do("p7_rectify", {"rectification_note": "部分整改"})
    run.do("p7_inspect", NOT_READY)
    assert run.task("p7_escalate").group_id == "dispatcher"
    run.do("p7_escalate", {"resolution": "与业主协商推迟进场一个月"})
    assert run.status == "completed"


def test_a_project_failing_acceptance_three_times_goes_to_the_department_head(eng, staff, clock):
    run = Run.start(eng, staff, "project_install", PROJECT, actor="xiangmu")
    run.do("p7_task_sheet", SHEET)
    inspection_day(run, eng, clock)
    run.do("p7_inspect", READY)
    run.do("p7_plan", {"work_plan": "5 天完成", "planned_finish": "2026-03-17"})
    for _ in range(3):
        run.do("p7_install", INSTALLED)
        run.do("p7_acceptance", {"accepted": False, "acceptance_issues": "冷量不足"})
    assert run.task("p7_escalate")
