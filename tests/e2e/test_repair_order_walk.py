"""One appliance repair order from intake to callback, in a real browser, each step by its role:
customer service registers it (after correcting a wrong phone number), the dispatcher claims and
dispatches it, the technician accepts (after a form error), checks in with one tap, reports
progress, the dispatcher reassigns the completion to a colleague who finishes with a signed slip,
and the call center calls back. Screenshots of the inbox, a task page and the work-order page at
desktop and phone width land in tests/e2e/screenshots/."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import DESKTOP, PHONE
from web.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


class Staff:
    """One person in their own browser context; console errors (CSP included) are collected."""

    def __init__(self, chromium, base: str, username: str, device: dict, **extra) -> None:
        self.context = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **device, **extra)
        self.context.set_default_timeout(15000)
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
        # a form answered 400 is logged as a failed load; responses are checked in _response
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} {response.url}")

    def go(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def open_task(self, name: str, tab: str = "mine"):
        self.go(f"/inbox?tab={tab}")
        self.page.click(f"table.tasks a:text-is('{name}')")
        self.page.wait_for_selector("h1")
        assert self.page.inner_text("h1") == name
        return self.page

    def submit(self):
        with self.page.expect_navigation():
            self.page.click("form.task-form button.primary")

    def close(self):
        assert self.errors == [], self.errors
        self.context.close()


def local_in(hours: int) -> str:
    """A time ``hours`` from now as typed into a datetime-local input in the company's time zone."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def test_an_appliance_repair_order_from_intake_to_callback(chromium, live_server, screenshots):
    # customer service registers the order; a wrong phone number is caught and corrected
    kefu = Staff(chromium, live_server, "kefu", DESKTOP)
    page = kefu.go("/orders/new")
    page.select_option("#order_type", "repair")
    page.fill("#customer_name", "<b>刘芳</b>")
    page.fill("#customer_phone", "1380013")
    page.fill("#address", "杭州市西湖区文三路 1 号 1201 室")
    page.fill("#product_model", "KFR-35GW/NhGd1BAj")
    page.fill("#serial_no", "ac2025000777")
    page.fill("#purchase_date", "2025-08-01")
    page.fill("#symptom", "空调不制冷，室外机不转")
    page.click("form.intake button.primary")
    assert "请输入 11 位手机号或带区号的固定电话" in page.inner_text("form.intake")
    page.fill("#customer_phone", "13800138077")
    with page.expect_navigation():
        page.click("form.intake button.primary")
    number = re.search(r"WO-\d{8}-\d{4}", page.inner_text("h1")).group(0)
    assert "已创建" in page.inner_text(".flash") and "进行中" in page.inner_text(".chips")
    kefu.close()

    # the dispatcher claims it from the group queue and dispatches zhangwei
    diaodu = Staff(chromium, live_server, "diaodu", DESKTOP)
    page = diaodu.go("/inbox?tab=queue")
    assert number in page.inner_text("table.tasks") and "<b>刘芳</b>" in page.inner_text("table.tasks")
    screenshots(page, "inbox-desktop")
    with page.expect_navigation():
        page.click(f"tr:has-text('{number}') button:text-is('签收')")
    page.select_option("#f-technician", "zhangwei")
    page.fill("#f-dispatch_note", "客户下午在家")
    screenshots(page, "task-desktop")
    diaodu.submit()
    assert "已完成：派工" in page.inner_text(".flash")

    # the technician, on his phone: a form error first, then the corrected acceptance
    zhangwei = Staff(chromium, live_server, "zhangwei", PHONE, permissions=["geolocation"],
                     geolocation={"latitude": 30.2741, "longitude": 120.1551, "accuracy": 12})
    page = zhangwei.go("/inbox")
    screenshots(page, "inbox-phone")
    page = zhangwei.open_task("任务签收")
    zhangwei.submit()
    assert page.locator(".has-error").count() >= 2 and "约定上门时间: 必填" in page.inner_text("form.task-form")
    screenshots(page, "task-phone")
    page.check("#f-customer_contacted")
    page.fill("#f-appointment_at", local_in(3))
    zhangwei.submit()
    assert "已完成：任务签收" in page.inner_text(".flash")

    page = zhangwei.open_task("现场签到")
    with page.expect_navigation():
        page.click("form.checkin button")
    assert "已签到" in page.inner_text(".flash")

    page = zhangwei.open_task("进程反馈")
    page.check("input[name=finished][value='1']")
    page.fill("#f-progress_note", "更换启动电容后试机正常")
    zhangwei.submit()
    assert "完工处理" in zhangwei.go("/inbox").inner_text("table.tasks")

    # the dispatcher hands the completion to liqiang, with a reason for the audit log
    page = diaodu.go("/inbox?tab=done")
    page.click(f"a.wo:text-is('{number}')")
    page.click("text=查看工单详情和流程图")
    page.wait_for_selector("#diagram[data-ready='1']")
    assert page.locator("#diagram .pg-active").count() >= 1 and page.locator("#diagram .pg-done").count() >= 5
    page.click("details.reassign-box summary")
    page.select_option("details.reassign-box select[name=to_user]", "liqiang")
    page.fill("details.reassign-box input[name=reason]", "张伟被调去急单，由李强完工")
    with page.expect_navigation():
        page.click("details.reassign-box button[type=submit]")
    assert "已改派给 liqiang" in page.inner_text(".flash")
    assert "张伟被调去急单" in page.inner_text("ol.timeline") and "处理人：liqiang" in page.inner_text("ul.current")
    page.wait_for_selector("#diagram[data-ready='1']")
    screenshots(page, "order-desktop")
    order_path = page.url.replace(live_server, "")
    assert zhangwei.go("/inbox").locator("table.tasks").count() == 0

    liqiang = Staff(chromium, live_server, "liqiang", PHONE)
    page = liqiang.go(order_path)
    page.wait_for_selector("#diagram[data-ready='1']")
    assert page.locator("#diagram .pg-active").count() >= 1
    screenshots(page, "order-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page = liqiang.open_task("完工处理")
    assert "更换启动电容后试机正常" in page.inner_text(".side")  # the order's progress so far
    page.check("input[name=result][value=fixed]")
    page.fill("#f-work_done", "更换启动电容，试机制冷正常")
    page.fill("input[name='parts_used-0-code']", "KT-DR-35")
    page.fill("input[name='parts_used-0-qty']", "1")
    page.fill("#f-fee_collected", "0")
    page.check("input[name=customer_signed][value='1']")
    page.set_input_files("input[type=file]", files=[{"name": "slip.png", "mimeType": "image/png", "buffer": PNG}])
    liqiang.submit()
    assert "已完成：完工处理" in page.inner_text(".flash")
    liqiang.close()
    zhangwei.close()

    # the call center claims the callback and records a five-star evaluation
    huifang = Staff(chromium, live_server, "huifang", DESKTOP)
    page = huifang.go("/inbox?tab=queue")
    with page.expect_navigation():
        page.click(f"tr:has-text('{number}') button:text-is('签收')")
    page.click(".stars label:nth-child(5)")
    page.check("input[name=satisfied][value='1']")
    page.fill("#f-evaluation_comment", "师傅很专业")
    huifang.submit()
    page = huifang.go(order_path)
    assert "已完成" in page.inner_text(".chips") and "工单已结束" in page.inner_text("main")
    assert page.locator("ol.timeline a:text-is('附件')").count() == 1  # the signed slip
    huifang.close()

    diaodu.close()
