"""The admin console in a real browser (Playwright driving Debian's chromium): an admin finds a failed
order from the dashboard, reads its traceback, fixes the variable and retries; bulk-suspends three
orders and resumes them; moves a token and the technician's inbox changes. Screenshots of the
dashboard, an instance and the heatmap at desktop and phone width land in tests/e2e/screenshots/."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from engine import Database, Engine, identity
from engine.reference import DatabaseReferenceData
from tests.conftest import WORKFLOWS
from tests.e2e.conftest import ARGS, CHROMIUM, DESKTOP, PHONE, _needs_browser, build_site
from tests.e2e.test_repair_order_walk import Staff
from tests.web.conftest import ORDER
from web import create_app
from web.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app with the demo staff and an admin, serving on a free loopback port; yields (URL, engine)."""
    _needs_browser()
    folder = tmp_path_factory.mktemp("e2e-admin")
    path = build_site(str(folder), WORKFLOWS)
    db = Database.connect(f"sqlite:///{path}")
    with db.write() as s:
        identity.create_user(s, "admin", DEMO_PASSWORD, "管理员", roles=("staff", "admin"))
    app = create_app(test_config={
        "SECRET_KEY": "e2e-admin", "DATABASE_URL": f"sqlite:///{path}", "WORKFLOWS": WORKFLOWS,
        "UPLOAD_DIR": str(folder / "uploads"), "TRANSLATIONS_BUILD_DIR": str(folder / "translations"),
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    engine = Engine(db, ref=DatabaseReferenceData(db))  # the test's own hands on the same database
    yield f"http://127.0.0.1:{server.server_port}", engine
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["paigong"].db.dispose()
    db.dispose()


@pytest.fixture(scope="module")
def browser_app():
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    chromium = manager.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield chromium
    chromium.close()
    manager.stop()


@pytest.fixture
def shots():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshots")
    os.makedirs(folder, exist_ok=True)
    return lambda page, name: page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


class Admin(Staff):
    """The admin in a browser; confirmation dialogs are accepted."""

    def __init__(self, chromium, base: str, device: dict) -> None:
        super().__init__(chromium, base, "admin", device)
        self.page.on("dialog", lambda dialog: dialog.accept())

    def post(self, selector: str):
        with self.page.expect_navigation():
            self.page.click(selector)


def new_order(engine, number: str, **changes) -> int:
    return engine.start("work_order", {**ORDER, "work_order_no": number, **changes},
                        actor=engine.actor("kefu")).instance_id


def test_an_admin_finds_a_failed_order_on_the_dashboard_fixes_it_and_retries(browser_app, site, shots):
    base, engine = site
    iid = new_order(engine, "WO-20260302-0101", product_model="KFR-WRONG")
    assert engine.get_instance(iid).status == "error"
    admin = Admin(browser_app, base, DESKTOP)
    page = admin.go("/admin/")
    shots(page, "admin-dashboard-desktop")
    with page.expect_navigation():
        page.click("tr.incident-row a:text-is('WO-20260302-0101')")
    assert page.inner_text("#instance-status") == "故障"
    trace = page.inner_text(f"#incident-{engine.get_instance(iid).incidents[0].id} pre.traceback")
    assert "Traceback" in trace and "KFR-WRONG" in page.inner_text(".incident")
    page.wait_for_selector("#admin-diagram[data-ready='1']")
    assert page.locator("#admin-diagram .pg-failed").count() == 1
    shots(page, "admin-instance-error-desktop")
    page.click("button.edit-var[data-name='product_model']")
    page.fill("#var-value", '"KFR-35GW/NhGd1BAj"')
    page.fill("#var-reason", "型号录入错误，按铭牌改正")
    admin.post("#var-form button[type=submit]")
    assert "变量 product_model 已修改" in page.inner_text(".flash")
    page.fill(".action-retry input[name=reason]", "型号已改正")
    admin.post(".action-retry button")
    assert "已重试，流程继续运行" in page.inner_text(".flash")
    assert page.inner_text("#instance-status") == "进行中"
    assert "派工" in page.inner_text("table.admin-table")
    assert page.locator(".incident").count() == 0
    admin.close()


def test_an_admin_bulk_suspends_three_orders_and_resumes_them(browser_app, site, shots):
    base, engine = site
    ids = [new_order(engine, f"WO-20260302-02{n:02d}") for n in (1, 2, 3)]
    admin = Admin(browser_app, base, DESKTOP)
    page = admin.go("/admin/instances?q=WO-20260302-02&status=running")
    assert page.locator("input[name=ids]").count() == 3
    for iid in ids:
        page.check(f"input[name=ids][value='{iid}']")
    page.select_option("select[name=action]", "suspend")
    page.fill(".bulk-bar input[name=reason]", "月底盘点，暂停派工")
    admin.post(".bulk-bar button[type=submit]")
    assert "3 个流程实例已处理" in page.inner_text(".flash")
    assert {engine.get_instance(i).status for i in ids} == {"suspended"}
    page = admin.go("/admin/instances?q=WO-20260302-02&status=suspended")
    assert page.locator("span.badge:text-is('已挂起')").count() == 3
    shots(page, "admin-instances-desktop")
    page.check("[data-select-all]")
    page.select_option("select[name=action]", "resume")
    page.fill(".bulk-bar input[name=reason]", "盘点结束")
    admin.post(".bulk-bar button[type=submit]")
    assert {engine.get_instance(i).status for i in ids} == {"running"}
    page = admin.go(f"/admin/instances/{ids[0]}")
    audit = page.inner_text("table.audit")
    assert "月底盘点，暂停派工" in audit and "盘点结束" in audit
    admin.close()


def test_an_admin_moves_a_token_and_the_inboxes_change(browser_app, site, shots):
    base, engine = site
    iid = new_order(engine, "WO-20260302-0301")
    dispatch = [t for t in engine.queue(engine.actor("diaodu")).items if t.instance_id == iid][0]
    engine.complete(dispatch.id, {"technician": "zhangwei", "accept_within": "PT2H"}, actor=engine.actor("diaodu"))
    zhangwei = Staff(browser_app, base, "zhangwei", PHONE)
    assert "WO-20260302-0301" in zhangwei.go("/inbox").inner_text("main")

    admin = Admin(browser_app, base, DESKTOP)
    page = admin.go(f"/admin/instances/{iid}")
    page.wait_for_selector("#admin-diagram[data-ready='1']")
    assert page.locator("#admin-diagram .pg-active").count() >= 1
    assert page.locator("#admin-diagram .run-count").count() >= 1
    page.select_option("#move select[name=element_id]", "dispatch")
    page.fill("#move input[name=reason]", "客户要求换技术员")
    admin.post("#move button[type=submit]")
    assert "令牌已移动，当前步骤：派工" in page.inner_text(".flash")
    assert "客户要求换技术员" in page.inner_text("table.audit")

    assert "WO-20260302-0301" not in zhangwei.go("/inbox").inner_text("main")
    diaodu = Staff(browser_app, base, "diaodu", DESKTOP)
    assert "WO-20260302-0301" in diaodu.go("/inbox?tab=queue").inner_text("table.tasks")
    for person in (zhangwei, diaodu):
        person.close()

    # the console on a phone: dashboard and heatmap
    phone = Admin(browser_app, base, PHONE)
    shots(phone.go("/admin/"), "admin-dashboard-phone")
    page = phone.go("/admin/heatmap/work_order")
    page.wait_for_selector("#heatmap[data-ready='1']")
    assert page.locator("#heatmap .heat-label").count() >= 3
    shots(page, "admin-heatmap-phone")
    phone.close()
    admin.close()
