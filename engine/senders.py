"""Notification senders behind one interface, and the notifier the worker delivers with.

A sender is a callable ``send(delivery)`` that raises on failure; the outbox retries it
with backoff. Only the logging sender and the SMTP sender talk to the world directly;
SMS, WeChat template messages and generic webhooks post JSON to a configured URL (an SMS
gateway, the WeChat API, a client's endpoint). A channel without configuration falls
back to the logging sender, so nothing is lost while a channel is being set up.

Configuration (``PAIGONG_*``): ``SMTP_HOST``, ``SMTP_PORT`` (587), ``SMTP_USER``,
``SMTP_PASSWORD``, ``SMTP_FROM``, ``SMTP_STARTTLS`` (1), ``SMS_URL``, ``SMS_TOKEN``,
``SMS_SIGN`` (签名, e.g. 派工), ``WECHAT_URL`` (the template-message endpoint with its access
token), ``WECHAT_TEMPLATES`` (``topic=template_id,...``), ``NOTIFY_WEBHOOK_URL``,
``NOTIFY_WEBHOOK_SECRET`` (HMAC-SHA256 of the body in ``X-Paigong-Signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

log = logging.getLogger("paigong.notify")


@dataclass(frozen=True)
class Delivery:
    """One message to one recipient over one channel."""

    channel: str
    to: str
    text: str
    title: str = ""
    topic: str = ""
    work_order_no: str | None = None
    outbox_id: int = 0


class SendFailed(Exception):
    """The channel refused or did not answer; the outbox retries."""


class Deferred(Exception):
    """A templated row reached the sender before the planner split it per recipient."""


class LogSender:
    def __init__(self, channel: str = "log") -> None:
        self.channel = channel
        self.sent: list[Delivery] = []

    def __call__(self, d: Delivery) -> None:
        log.info("notify #%s %s → %s (%s): %s", d.outbox_id, d.channel, d.to, d.topic, d.text)
        self.sent.append(d)
        del self.sent[:-100]


class SmtpSender:
    """E-mail through an SMTP server (STARTTLS by default)."""

    def __init__(self, host: str, port: int = 587, *, user: str | None = None, password: str | None = None,
                 sender: str = "paigong@localhost", starttls: bool = True, timeout: float = 20.0) -> None:
        self.host, self.port, self.user, self.password = host, int(port), user, password
        self.sender, self.starttls, self.timeout = sender, starttls, timeout

    def __call__(self, d: Delivery) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"] = self.sender, d.to
        msg["Subject"] = d.title or d.topic
        msg["Message-ID"] = f"<paigong-outbox-{d.outbox_id}@{self.sender.split('@')[-1]}>"
        msg.set_content(d.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(f"SMTP {self.host}:{self.port}: {exc}") from exc


def post_json(url: str, body: dict[str, Any], *, headers: Mapping[str, str] | None = None,
              timeout: float = 10.0) -> dict[str, Any]:
    """POST ``body`` as JSON; a non-2xx status or a network error is :class:`SendFailed`."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            text = response.read(65536).decode("utf-8", "replace")
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise SendFailed(f"POST {url}: {exc}") from exc
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = {}
    return answer if isinstance(answer, dict) else {}


class SmsSender:
    """SMS through an HTTP gateway: ``{"phone", "text", "sign", "id"}`` with a bearer token."""

    def __init__(self, url: str, *, token: str | None = None, sign: str = "派工") -> None:
        self.url, self.token, self.sign = url, token, sign

    def __call__(self, d: Delivery) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        answer = post_json(self.url, {"phone": d.to, "text": d.text, "sign": self.sign, "id": f"outbox-{d.outbox_id}"},
                           headers=headers)
        if str(answer.get("code", "0")) not in ("0", "OK", "ok"):
            raise SendFailed(f"短信网关拒绝: {answer}")


class WeChatTemplateSender:
    """WeChat official-account template messages (``touser``, ``template_id``, ``data``)."""

    def __init__(self, url: str, *, templates: Mapping[str, str] | None = None) -> None:
        self.url, self.templates = url, dict(templates or {})

    def __call__(self, d: Delivery) -> None:
        body = {"touser": d.to, "template_id": self.templates.get(d.topic, d.topic),
                "data": {"first": {"value": d.title}, "keyword1": {"value": d.work_order_no or ""},
                         "keyword2": {"value": d.text}, "remark": {"value": ""}}}
        answer = post_json(self.url, body)
        if answer.get("errcode", 0) != 0:
            raise SendFailed(f"微信模板消息失败: {answer.get('errcode')} {answer.get('errmsg', '')}")


class WebhookSender:
    """A generic JSON webhook, signed with HMAC-SHA256 when a secret is set."""

    def __init__(self, url: str | None = None, *, secret: str | None = None) -> None:
        self.url, self.secret = url, secret

    def __call__(self, d: Delivery) -> None:
        url = self.url if d.to in ("", "config") else d.to
        if not url:
            raise SendFailed("没有配置 webhook 地址")
        body = {"id": d.outbox_id, "topic": d.topic, "work_order_no": d.work_order_no, "title": d.title,
                "text": d.text}
        headers = {"X-Paigong-Delivery": str(d.outbox_id)}
        if self.secret:
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["X-Paigong-Signature"] = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        post_json(url, body, headers=headers)


@dataclass
class Notifier:
    """The worker's ``send(topic, payload, outbox_id)``: one sender per channel, planning first.

    :param senders: channel → sender; a channel missing here goes to the logging sender
    :param engine: plans notifications before each delivery round (``prepare``)
    :param links: builds a customer's signed links for templates (``status_link``, ``evaluation_link``)
    """

    senders: dict[str, Callable[[Delivery], None]] = field(default_factory=dict)
    engine: Any = None
    links: Callable[[int, str], str] | None = None
    fallback: Callable[[Delivery], None] = field(default_factory=LogSender)
    templated: set[str] = field(default_factory=set)

    def prepare(self) -> None:
        if self.engine is not None:
            self.templated = self.engine.plan_notifications(links=self.links)

    def __call__(self, topic: str, payload: dict[str, Any], outbox_id: int) -> None:
        if topic != "notify":
            if topic in self.templated:
                raise Deferred(f"{topic} 等待按接收人拆分")
            self.fallback(Delivery("log", "", json.dumps(payload, ensure_ascii=False), topic=topic,
                                   outbox_id=outbox_id))
            return
        d = Delivery(channel=payload.get("channel", "log"), to=str(payload.get("to") or ""),
                     text=payload.get("text", ""), title=payload.get("title", ""), topic=payload.get("topic", ""),
                     work_order_no=payload.get("work_order_no"), outbox_id=outbox_id)
        self.senders.get(d.channel, self.fallback)(d)


def senders_from_config(config: Mapping[str, Any]) -> dict[str, Callable[[Delivery], None]]:
    """The configured channels (see the module doc); unconfigured ones are left out."""
    out: dict[str, Callable[[Delivery], None]] = {}
    if config.get("SMTP_HOST"):
        out["email"] = SmtpSender(config["SMTP_HOST"], int(config.get("SMTP_PORT") or 587),
                                  user=config.get("SMTP_USER"), password=config.get("SMTP_PASSWORD"),
                                  sender=config.get("SMTP_FROM") or "paigong@localhost",
                                  starttls=str(config.get("SMTP_STARTTLS", "1")).lower() in ("1", "true", "yes"))
    if config.get("SMS_URL"):
        out["sms"] = SmsSender(config["SMS_URL"], token=config.get("SMS_TOKEN"), sign=config.get("SMS_SIGN") or "派工")
    if config.get("WECHAT_URL"):
        pairs = (p.split("=", 1) for p in str(config.get("WECHAT_TEMPLATES") or "").split(",") if "=" in p)
        out["wechat"] = WeChatTemplateSender(config["WECHAT_URL"], templates={k.strip(): v.strip() for k, v in pairs})
    if config.get("NOTIFY_WEBHOOK_URL"):
        out["webhook"] = WebhookSender(config["NOTIFY_WEBHOOK_URL"], secret=config.get("NOTIFY_WEBHOOK_SECRET"))
    return out
