"""Notifications: planned per recipient from the outbox and the audit log, rendered from the
Chinese templates, delivered by the worker exactly once through SMS, WeChat, e-mail and
webhook senders (tested against servers on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from engine.senders import (
    Delivery,
    Notifier,
    SendFailed,
    SmsSender,
    SmtpSender,
    WebhookSender,
    WeChatTemplateSender,
    senders_from_config,
)
from engine.worker import run_worker
from tests.api.conftest import ACCEPT, NEW_ORDER, task_of
from web.customer_links import link_builder


class Recorder(HTTPServer):
    """An HTTP server on 127.0.0.1 that records JSON posts and fails the first ``fail`` of them."""

    def __init__(self, fail: int = 0, answer: dict | None = None) -> None:
        self.requests: list[tuple[dict, dict]] = []
        self.fail, self.answer = fail, answer or {"code": 0}
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/send"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((json.loads(raw), dict(self.headers), raw))
        failing = len(self.server.requests) <= self.server.fail
        body = json.dumps(self.server.answer).encode()
        self.send_response(500 if failing else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    servers = []

    def make(**kw) -> Recorder:
        s = Recorder(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def start_dispatched(engine):
    started = engine.open_order("work_order", NEW_ORDER, actor=engine.actor("kefu"))
    engine.complete(task_of(engine, "diaodu", "dispatch").id, {"technician": "zhangwei", "accept_within": "PT2H"},
                    actor=engine.actor("diaodu"))
    return started


def worker(engine, notifier):
    run_worker(engine, once=True, send=notifier, echo=lambda _line: None)


def delivered(engine):
    return [n for n in engine.notifications(topic="notify") if n["status"] == "delivered"]


def test_the_dispatch_reminder_reaches_the_technician_by_sms(app, engine, server):
    sms = server()
    notifier = Notifier({"sms": SmsSender(sms.url, token="t0ken")}, engine=engine, links=link_builder(app))
    order = start_dispatched(engine)
    worker(engine, notifier)
    [(body, headers, _raw)] = sms.requests
    assert body["phone"] == "13900000001" and order.work_order_no in body["text"]
    assert body["text"].startswith("【派工】您有新工单") and headers["Authorization"] == "Bearer t0ken"
    [raw] = engine.notifications(topic="dispatch_reminder")
    assert raw["status"] == "planned"


def test_a_notification_whose_sender_fails_is_retried_and_delivered_once(app, engine, server, clock):
    sms = server(fail=1)
    notifier = Notifier({"sms": SmsSender(sms.url)}, engine=engine)
    start_dispatched(engine)
    worker(engine, notifier)
    [note] = engine.notifications(topic="notify")
    assert note["status"] == "pending" and note["attempts"] == 1 and "500" in note["last_error"]
    worker(engine, notifier)  # backoff: not yet
    assert len(sms.requests) == 1
    clock.advance(seconds=11)
    worker(engine, notifier)
    clock.advance(hours=1)
    worker(engine, notifier)
    assert len(sms.requests) == 2
    [note] = engine.notifications(topic="notify")
    assert note["status"] == "delivered" and note["attempts"] == 2


def test_the_appointment_reaches_the_customer_with_a_status_link(app, engine, server):
    sms = server()
    notifier = Notifier({"sms": SmsSender(sms.url)}, engine=engine, links=link_builder(app))
    start_dispatched(engine)
    engine.complete(task_of(engine, "zhangwei", "accept_task").id, ACCEPT, actor=engine.actor("zhangwei"))
    worker(engine, notifier)
    texts = {b["phone"]: b["text"] for b, _h, _r in sms.requests}
    customer = texts[NEW_ORDER["customer_phone"]]
    assert "2026-03-03 14:00" in customer and "技术员 张伟" in customer
    assert "https://fuwu.example.cn/c/" in customer


def test_an_urge_alerts_every_dispatcher(app, engine, server):
    sms = server()
    notifier = Notifier({"sms": SmsSender(sms.url)}, engine=engine)
    order = engine.open_order("work_order", NEW_ORDER, actor=engine.actor("kefu"))
    engine.customer_request("urge", work_order_no=order.work_order_no, payload={"note": "下午要出门"},
                            actor=engine.actor("kefu"))
    worker(engine, notifier)
    [(body, _h, _r)] = sms.requests
    assert body["phone"] == "13900000002" and "【催单】" in body["text"] and "下午要出门" in body["text"]


def test_an_edited_template_is_used_and_an_unconfigured_channel_is_logged(app, engine):
    engine.save_notification_template(topic="dispatch_reminder", channel="sms", recipient="technician",
                                      body="新单 {work_order_no}，客户 {customer_name}", actor=engine.actor("admin"))
    notifier = Notifier({}, engine=engine)
    order = start_dispatched(engine)
    worker(engine, notifier)
    [note] = delivered(engine)
    assert note["payload"]["text"] == f"新单 {order.work_order_no}，客户 {NEW_ORDER['customer_name']}"
    assert notifier.fallback.sent[-1].to == "13900000001"


def test_the_webhook_sender_signs_its_body(server):
    hook = server()
    WebhookSender(hook.url, secret="s3cret")(Delivery("webhook", "config", "已完工", topic="service_completed",
                                                      work_order_no="WO-1", outbox_id=7))
    [(body, headers, raw)] = hook.requests
    assert body["topic"] == "service_completed" and headers["X-Paigong-Delivery"] == "7"
    assert headers["X-Paigong-Signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()


def test_the_wechat_sender_posts_a_template_message_and_fails_on_an_error_code(server):
    ok = server(answer={"errcode": 0})
    WeChatTemplateSender(ok.url, templates={"appointment": "TPL-1"})(
        Delivery("wechat", "openid-1", "明天上门", title="上门预约", topic="appointment", work_order_no="WO-1"))
    [(body, _h, _r)] = ok.requests
    assert body["touser"] == "openid-1" and body["template_id"] == "TPL-1"
    refused = server(answer={"errcode": 40003, "errmsg": "invalid openid"})
    with pytest.raises(SendFailed, match="40003"):
        WeChatTemplateSender(refused.url)(Delivery("wechat", "x", "t", topic="appointment"))


class _Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 test\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go\r\n")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                self.server.messages.append(data)
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_the_smtp_sender_sends_a_real_message():
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.messages = []
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    try:
        sender = senders_from_config({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.server_address[1],
                                      "SMTP_STARTTLS": "0", "SMTP_FROM": "paigong@example.cn"})["email"]
        assert isinstance(sender, SmtpSender)
        sender(Delivery("email", "dispatch@example.cn", "工单 WO-1 客户催促", title="客户催单", topic="urge", outbox_id=3))
    finally:
        smtp.shutdown()
        smtp.server_close()
    [message] = smtp.messages
    assert b"To: dispatch@example.cn" in message and b"paigong-outbox-3" in message


def test_an_unreachable_channel_is_a_failure_the_outbox_retries():
    with pytest.raises(SendFailed):
        SmsSender("http://127.0.0.1:9/send")(Delivery("sms", "13900000001", "x"))
