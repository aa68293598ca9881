"""The process editor in a real browser: an analyst changes P3 (a new user task in a lane, with a
form), sees the dangling flow highlighted, fixes it, deploys version 2, and the lane's group finds
the new task in its inbox; every MIWG reference model survives the editor's save round trip; a
warranty period changed in the DMN table still validates."""

from __future__ import annotations

import glob
import os
import threading

import pytest
from lxml import etree
from werkzeug.serving import make_server

from engine import Database, identity
from tests.conftest import WORKFLOWS
from tests.e2e.conftest import ARGS, CHROMIUM, DESKTOP, _needs_browser, build_site
from tests.modeler.roundtrip import inventory, losses
from web import create_app
from web.demo import DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.browser

MIWG = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(__file__)), "modeler", "miwg", "*.bpmn")))
ORDER = {
    "work_order_no": "AS-20260302-0101", "order_type": "install", "customer_name": "刘芳",
    "customer_phone": "13800138001", "address": "杭州市西湖区文三路 1 号 1201 室", "zone": "in_city",
    "product_model": "KFR-35GW/NhGd1BAj", "serial_no": "AC2025000123", "purchase_date": "2026-02-20",
    "symptom": "新机安装", "channel": "sales", "requested_at": "2026-03-02T14:00:00+08:00",
}
NEW_TASK = "p3_confirm_order"
# the decision-table library prints this notice from its bundle on load; it is not a page error
LIBRARY_NOTICES = ("Inferno is in development mode", "minified copy of the development build of Inferno")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app with the real workflows, the demo staff of the e2e tests and an analyst; yields (URL, app)."""
    _needs_browser()
    folder = tmp_path_factory.mktemp("modeler-e2e")
    path = build_site(str(folder), WORKFLOWS)
    db = Database.connect(f"sqlite:///{path}")
    with db.write() as s:
        for username, name, groups, roles in DEMO_USERS:
            if username == "analyst":
                identity.create_user(s, username, DEMO_PASSWORD, name, groups=groups, roles=roles)
    db.dispose()
    app = create_app(test_config={
        "SECRET_KEY": "e2e-secret", "DATABASE_URL": f"sqlite:///{path}", "WORKFLOWS": WORKFLOWS,
        "UPLOAD_DIR": str(folder / "uploads"), "TRANSLATIONS_BUILD_DIR": str(folder / "translations"),
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["paigong"].db.dispose()


@pytest.fixture(scope="module")
def chrome(site):
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield browser
    browser.close()
    manager.stop()


class Person:
    """One logged-in user in a browser context; page errors and failed requests are collected."""

    def __init__(self, chrome, base: str, username: str) -> None:
        self.context = chrome.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **DESKTOP)
        self.context.set_default_timeout(20000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", self._response)
        self.base = base
        self.page.goto(f"{base}/login")
        self.page.fill("#username", username)
        self.page.fill("#password", DEMO_PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/inbox")

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" and not text.startswith("Failed to load resource") \
                and not any(n in text for n in LIBRARY_NOTICES):
            self.errors.append(text)

    def _response(self, response) -> None:
        # the editor answers a refused deploy with 422 on purpose; anything else failing is a bug
        if response.status >= 400 and response.request.resource_type != "document" and response.status != 422:
            self.errors.append(f"{response.status} {response.url}")

    def editor(self, query: str = ""):
        self.page.goto(f"{self.base}/modeler/edit{query}")
        self.page.wait_for_selector("#modeler[data-ready='1']")
        return self.page

    def close(self) -> None:
        assert self.errors == [], self.errors
        self.context.close()


def save(page) -> None:
    count = int(page.get_attribute("#modeler", "data-saved") or 0)
    page.click("#btn-save")
    page.wait_for_selector(f"#modeler[data-saved='{count + 1}']")


def problem_elements(page) -> set[str]:
    return set(page.eval_on_selector_all("#problem-list button.problem", "bs => bs.map(b => b.dataset.element)"))


def latest_version(engine, process_id: str) -> int:
    return max(d.version for d in engine.definitions() if d.process_id == process_id)


def test_an_analyst_adds_a_task_to_p3_fixes_a_dangling_flow_deploys_and_the_lane_sees_the_task(site, chrome):
    base, app = site
    engine = app.extensions["paigong"]
    version = latest_version(engine, "appliance_service")
    analyst = Person(chrome, base, "analyst")
    page = analyst.editor("?file=appliance_service.bpmn")
    assert page.get_attribute("#modeler", "data-file") == "appliance_service.bpmn"

    # a user task in the customer-service lane, below the start event
    page.evaluate("""(id) => {
        const m = window.paigongModeler, reg = m.get('elementRegistry'), modeling = m.get('modeling');
        const lane = reg.get('customer_service');
        const task = modeling.createShape(m.get('elementFactory').createShape({type: 'bpmn:UserTask'}),
                                          {x: 340, y: 430}, lane);
        modeling.updateProperties(task, {id: id, name: '核对报修信息'});
        m.get('selection').select(reg.get(id));
    }""", NEW_TASK)
    assert page.get_attribute("#props", "data-element") == NEW_TASK
    assert "售后前台" in page.inner_text("#props")  # the sidebar names the lane the task landed in
    # its form, chosen in the sidebar
    page.select_option("#props select[name=form]", "p3_accept.json")
    # the start event's flow now ends at the new task, which has no way out
    page.evaluate("""(id) => {
        const m = window.paigongModeler, reg = m.get('elementRegistry'), task = reg.get(id);
        m.get('modeling').reconnectEnd(reg.get('p3_flow_created_to_init'), task,
                                       {x: task.x, y: task.y + task.height / 2});
    }""", NEW_TASK)
    save(page)
    flagged = problem_elements(page)
    assert flagged & {NEW_TASK, "p3_flow_created_to_init", "p3_init"}, page.inner_text("#problem-list")
    marked = page.eval_on_selector_all("g.djs-element.pg-problem", "gs => gs.map(g => g.dataset.elementId)")
    assert set(marked) & {NEW_TASK, "p3_flow_created_to_init", "p3_init"}
    # a problem in the list selects its element on the canvas
    page.click(f"#problem-list button.problem[data-element='{sorted(flagged & {NEW_TASK, 'p3_init'} or flagged)[0]}']")
    assert page.locator("g.djs-element.pg-problem-focus").count() == 1

    # the fix: the new task goes on to the order's initialisation; saved again, nothing is wrong
    page.evaluate("""(id) => {
        const m = window.paigongModeler, reg = m.get('elementRegistry');
        m.get('modeling').connect(reg.get(id), reg.get('p3_init'));
    }""", NEW_TASK)
    save(page)
    assert page.inner_text("#problem-count") == "0", page.inner_text("#problem-list")
    assert page.locator("g.djs-element.pg-problem").count() == 0
    xml = page.evaluate("() => window.paigongEditor.state.files['appliance_service.bpmn']")
    assert 'name="formJsonSchemaFilename" value="p3_accept.json"' in xml

    page.click("#btn-deploy")
    page.wait_for_selector("#deployed-list li[data-process='appliance_service']")
    assert page.get_attribute("#deployed-list li[data-process='appliance_service']", "data-version") == str(version + 1)
    assert latest_version(engine, "appliance_service") == version + 1
    analyst.close()

    # an order started on version 2 waits at the new task, in the customer-service group's queue
    engine.start("appliance_service", dict(ORDER), actor=engine.actor("kefu"))
    kefu = Person(chrome, base, "kefu")
    kefu.page.goto(f"{base}/inbox?tab=queue")
    row = kefu.page.locator(f"table.tasks tr:has-text('{ORDER['work_order_no']}')")
    assert "核对报修信息" in row.inner_text()
    kefu.close()


@pytest.mark.parametrize("path", MIWG, ids=[os.path.basename(p) for p in MIWG])
def test_a_miwg_reference_model_survives_the_editors_save_round_trip(site, chrome, path):
    base, _app = site
    analyst = Person(chrome, base, "analyst")
    page = analyst.editor()
    with open(path, encoding="utf-8") as fh:
        original = fh.read()
    saved = page.evaluate("""async ([name, xml]) => {
        const editor = window.paigongEditor;
        editor.state.files[name] = xml;
        await editor.openFile(name);
        await editor.flush(true);
        return editor.state.files[name];
    }""", [os.path.basename(path), original])
    before, after = inventory(original), inventory(saved)
    assert before["elements"] and before["shapes"]
    assert {part: lost for part, lost in losses(before, after).items() if lost} == {}
    analyst.close()


def test_the_miwg_suite_has_its_21_reference_models():
    assert len(MIWG) == 21


def test_a_warranty_period_changed_in_the_dmn_table_still_validates(site, chrome):
    base, app = site
    analyst = Person(chrome, base, "analyst")
    page = analyst.editor("?file=warranty_policy.dmn")
    cell = page.locator("td[data-element-id='rule_air_conditioner_parts']")
    cell.wait_for()
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("60")
    page.click(".modeler-title")  # leave the cell
    result = page.evaluate("""async () => {
        const editor = window.paigongEditor;
        const r = await editor.validate();
        return {dmn: editor.state.files['warranty_policy.dmn'], problems: r.data.problems};
    }""")
    root = etree.fromstring(result["dmn"].encode())
    entry = root.find(".//{*}outputEntry[@id='rule_air_conditioner_parts']/{*}text")
    assert entry is not None and entry.text.strip() == "60"
    assert [p for p in result["problems"] if p["severity"] == "error"] == []
    assert page.inner_text("#problem-count") == "0"
    # the engine agrees on the changed table laid over the processes that use it
    problems = app.extensions["paigong"].validate_model({"warranty_policy.dmn": result["dmn"]})
    assert [p for p in problems if p.severity == "error"] == []
    analyst.close()
