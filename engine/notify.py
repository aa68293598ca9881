"""Notifications (mixed into the facade): message templates and the planner that turns
outbox rows and audit events into one outbox row per recipient and channel.

Where notifications come from:

- a BPMN message thrown and caught by nothing (``dispatch_reminder``) is an outbox row
  whose topic is the message name;
- some audit events stand for a notification the diagram does not throw (yet):
  :data:`EVENT_TOPICS` maps them to topics (the appointment once the technician accepted,
  the completion with the evaluation link);
- the customer's requests (``urge``, ``reschedule_request``) write their own outbox row.

The planner, in one transaction, reads new events past its cursor, then replaces each
pending outbox row of a topic that has templates with one ``notify`` row per recipient
(its own attempts and errors), marking the source ``planned``. So a recipient reached
once is never reached again when another recipient's channel fails and is retried.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.channel_models import NotificationCursor, NotificationTemplate
from engine.errors import InvalidInput, NotAllowed, NotFound
from engine.models import Event, Instance, Membership, Outbox, User
from engine.results import SYSTEM, Actor

NOTIFY_TOPIC = "notify"
CHANNELS = ("sms", "wechat", "email", "webhook", "log")
# (event kind, element id) → topic, for notifications the diagrams do not throw themselves
EVENT_TOPICS = {
    ("task_completed", "accept_task"): "appointment",
    ("task_completed", "complete_service"): "service_completed",
}
# seeded by migration 0004; used as they are while the table is empty
DEFAULT_TEMPLATES = (
    ("dispatch_reminder", "sms", "technician", "新工单提醒",
     "【派工】您有新工单 {work_order_no}：{customer_name}，{address}。请尽快签收并联系客户。"),
    ("appointment", "sms", "customer", "上门预约",
     "【派工】{customer_name}您好，工单 {work_order_no} 已由技术员{technician_name}（{technician_phone}）受理，"
     "预约上门时间 {appointment_at}。查看进度或改约：{status_link}"),
    ("appointment", "wechat", "customer", "上门预约通知",
     "工单 {work_order_no}：技术员{technician_name}将于 {appointment_at} 上门服务。"),
    ("service_completed", "sms", "customer", "服务完成",
     "【派工】您的工单 {work_order_no} 已完工，感谢您的耐心。请为本次服务评价：{evaluation_link}"),
    ("urge", "sms", "group:dispatcher", "客户催单",
     "【催单】工单 {work_order_no}（{customer_name}，{customer_phone}）客户催促：{note}。当前环节：{steps}。"
     "技术员须在 1 小时内联系客户。"),
    ("reschedule_request", "sms", "group:dispatcher", "客户申请改约",
     "【改约】工单 {work_order_no}（{customer_name}）申请改约到 {wanted_at}：{note}"),
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
LinkBuilder = Callable[[int, str], str]


def render(text: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders (names only: no attribute or index access); unknown names become empty."""
    def value(match: re.Match) -> str:
        found = values.get(match.group(1))
        if found is None:
            return ""
        if isinstance(found, list | tuple):
            return "、".join(str(v) for v in found)
        return str(found)

    return _PLACEHOLDER.sub(value, text)


class Notifications:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db`` and ``self.clock``."""

    _notifier: Any = None

    def configure_notifications(self, notifier: Any) -> None:
        """Use ``notifier`` (a :class:`engine.senders.Notifier`) as the worker's default sender."""
        self._notifier = notifier

    def notification_sender(self):
        """The sender ``paigong worker`` delivers the outbox with (the logging sender unless configured)."""
        if self._notifier is not None:
            return self._notifier
        from engine.worker import log_sender

        return log_sender

    # -- templates -------------------------------------------------------------------------

    def notification_templates(self) -> list[dict[str, Any]]:
        with self.db.read() as s:
            rows = list(s.scalars(select(NotificationTemplate).order_by(NotificationTemplate.topic,
                                                                        NotificationTemplate.id)))
        if not rows:
            return [dict(id=None, topic=t, channel=c, recipient=r, title=ti, body=b, enabled=True)
                    for t, c, r, ti, b in DEFAULT_TEMPLATES]
        return [dict(id=r.id, topic=r.topic, channel=r.channel, recipient=r.recipient, title=r.title, body=r.body,
                     enabled=r.enabled) for r in rows]

    def save_notification_template(self, *, topic: str, channel: str, recipient: str, body: str, title: str = "",
                                   enabled: bool = True, actor: Actor = SYSTEM) -> dict[str, Any]:
        """Add or change the template of (topic, channel, recipient).

        :raises NotAllowed: the actor is not an admin
        :raises InvalidInput: an unknown channel, an empty body or topic
        """
        if not actor.is_admin:
            raise NotAllowed("需要管理员权限")
        fields = {}
        if channel not in CHANNELS:
            fields["channel"] = f"应为 {'、'.join(CHANNELS)} 之一"
        if not (topic or "").strip():
            fields["topic"] = "必填"
        if not (body or "").strip() or len(body) > 2000:
            fields["body"] = "必填，最多 2000 字"
        if not (recipient or "").strip():
            fields["recipient"] = "必填"
        if fields:
            raise InvalidInput("通知模板有误", fields)
        now = self.clock.now()
        with self.db.write() as s:
            row = s.scalars(select(NotificationTemplate).where(
                NotificationTemplate.topic == topic, NotificationTemplate.channel == channel,
                NotificationTemplate.recipient == recipient)).first()
            if row is None:
                row = NotificationTemplate(topic=topic, channel=channel, recipient=recipient)
                s.add(row)
            row.title, row.body, row.enabled, row.updated_by, row.updated_at = title, body, enabled, actor.username, now
            s.flush()
            return dict(id=row.id, topic=topic, channel=channel, recipient=recipient, title=title, body=body,
                        enabled=enabled)

    def notification(self, outbox_id: int) -> dict[str, Any]:
        """One outbox row (for tests and the admin console)."""
        with self.db.read() as s:
            row = s.get(Outbox, outbox_id)
            if row is None:
                raise NotFound(f"通知 {outbox_id} 不存在")
            return dict(id=row.id, instance_id=row.instance_id, topic=row.topic, payload=row.payload,
                        status=row.status, attempts=row.attempts, last_error=row.last_error,
                        delivered_at=row.delivered_at)

    def notifications(self, *, topic: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as s:
            q = select(Outbox.id).order_by(Outbox.id)
            if topic:
                q = q.where(Outbox.topic == topic)
            ids = list(s.scalars(q))
        return [self.notification(i) for i in ids]

    # -- planning --------------------------------------------------------------------------

    def plan_notifications(self, *, links: LinkBuilder | None = None, limit: int = 500) -> set[str]:
        """Expand events and templated outbox rows into per-recipient ``notify`` rows; one transaction.

        :returns: the topics that have templates (a sender defers such a row it meets unplanned)
        """
        now = self.clock.now()
        with self.db.write() as s:
            templates = _templates(s)
            topics = {t["topic"] for t in templates}
            cursor = s.get(NotificationCursor, "events")
            if cursor is None:
                cursor = NotificationCursor(name="events", last_event_id=0)
                s.add(cursor)
            kinds = sorted({k for k, _e in EVENT_TOPICS})
            events = list(s.scalars(select(Event).where(Event.id > cursor.last_event_id, Event.kind.in_(kinds))
                                    .order_by(Event.id).limit(limit)))
            if events:
                cursor.last_event_id = events[-1].id
            elif (top := s.scalar(select(func.max(Event.id)))) is not None and top > cursor.last_event_id:
                cursor.last_event_id = top  # nothing of interest up to here
            for e in events:
                topic = EVENT_TOPICS.get((e.kind, e.element_id))
                if topic:
                    s.add(Outbox(instance_id=e.instance_id, topic=topic, payload=dict(e.data or {}), status="pending",
                                 attempts=0, next_attempt_at=now, created_at=now))
            s.flush()
            q = select(Outbox).where(Outbox.status == "pending", Outbox.topic.in_(sorted(topics))).order_by(Outbox.id)
            if not self.db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            for raw in s.scalars(q.limit(limit)):
                values = _values(s, raw, links)
                nobody = []
                for t in (t for t in templates if t["topic"] == raw.topic):
                    recipients = _recipients(s, t, values)
                    if not recipients:
                        nobody.append(f"{t['channel']} → {t['recipient']}")
                    for to in recipients:
                        s.add(Outbox(instance_id=raw.instance_id, topic=NOTIFY_TOPIC, status="pending", attempts=0,
                                     next_attempt_at=now, created_at=now, payload={
                                         "source": raw.id, "topic": raw.topic, "channel": t["channel"], "to": to,
                                         "title": render(t["title"], values), "text": render(t["body"], values),
                                         "work_order_no": values.get("work_order_no")}))
                raw.status = "planned"
                raw.delivered_at = now
                raw.last_error = ("没有接收人（电话、openid 或地址缺失）: " + "；".join(nobody))[:2000] if nobody else None
        return topics


def _templates(s) -> list[dict[str, Any]]:
    rows = list(s.scalars(select(NotificationTemplate)))
    if not rows:
        return [dict(topic=t, channel=c, recipient=r, title=ti, body=b) for t, c, r, ti, b in DEFAULT_TEMPLATES]
    return [dict(topic=r.topic, channel=r.channel, recipient=r.recipient, title=r.title, body=r.body)
            for r in rows if r.enabled]


def _values(s, raw: Outbox, links: LinkBuilder | None) -> dict[str, Any]:
    """What a template may use: the order's summary fields, the message payload, names and links."""
    values: dict[str, Any] = {}
    if raw.instance_id is not None:
        inst = s.execute(select(Instance.summary, Instance.business_key, Instance.customer_phone)
                         .where(Instance.id == raw.instance_id)).first()
        if inst is not None:
            values.update(inst.summary or {})
            values.setdefault("work_order_no", inst.business_key)
            values.setdefault("customer_phone", inst.customer_phone)
    values.update({k: v for k, v in (raw.payload or {}).items() if v is not None})
    if values.get("technician"):
        user = s.scalars(select(User).where(User.username == str(values["technician"]))).first()
        if user is not None:
            values["technician_name"], values["technician_phone"] = user.display_name, user.phone or ""
    values.setdefault("note", "")
    for key in ("appointment_at", "wanted_at", "requested_at"):
        if isinstance(values.get(key), str):
            values[key] = _readable_time(values[key])
    if links is not None and raw.instance_id is not None:
        values["status_link"] = links(raw.instance_id, "status")
        values["evaluation_link"] = links(raw.instance_id, "evaluate")
    return values


def _recipients(s, template: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Addresses for the template's channel: phone numbers, WeChat openids, e-mail addresses or URLs."""
    rule, channel = template["recipient"], template["channel"]
    if rule == "technician":
        if not values.get("technician"):
            return []
        user = s.scalars(select(User).where(User.username == str(values["technician"]))).first()
        return [user.phone] if user is not None and user.phone and channel == "sms" else \
            ([str(values["technician"])] if channel in ("wechat", "log") else [])
    if rule == "customer":
        key = {"sms": "customer_phone", "wechat": "customer_openid"}.get(channel, "customer_phone")
        return [str(values[key])] if values.get(key) else []
    if rule.startswith("group:"):
        users = s.scalars(select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.group_id == rule[len("group:"):], User.active.is_(True)).order_by(User.username))
        return [u.phone for u in users if u.phone] if channel == "sms" else [u.username for u in users]
    return [rule]  # a fixed address: an e-mail address, a URL, "config" (the configured URL)


def _readable_time(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        from zoneinfo import ZoneInfo

        moment = moment.astimezone(ZoneInfo("Asia/Shanghai"))
    return moment.strftime("%Y-%m-%d %H:%M")
