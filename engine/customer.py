"""The customer's side (mixed into the facade): what a customer may see of an order, the
requests a customer or a client system can make (urge, reschedule), and evaluations.

A request is delivered as a BPMN message when the process waits for one by that name;
until the diagram catches it, it is recorded in the audit log and the dispatcher is
alerted through the outbox, both in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.channel_models import Evaluation
from engine.errors import Conflict, InvalidInput, NotFound
from engine.models import Event, HumanTask, Instance, MessageSubscription, Outbox, User
from engine.results import SYSTEM, Actor

# request name → (audit event kind, outbox topic) when no process catches it yet
RECORDED_REQUESTS = {"urge": ("urged", "urge"), "reschedule": ("reschedule_requested", "reschedule_request")}
LIVE = ("running", "waiting", "error", "suspended")
SERVICE_DONE_ELEMENT = "complete_service"


@dataclass(frozen=True)
class CustomerStatus:
    instance_id: int
    work_order_no: str | None
    status: str
    order_type: str | None
    product_model: str | None
    steps: tuple[str, ...]  # element ids of the open tasks
    technician_name: str | None
    technician_phone: str | None
    requested_at: str | None
    appointment_at: str | None
    completion_deadline: str | None
    created_at: datetime
    ended_at: datetime | None
    service_done: bool
    evaluation: dict[str, Any] | None
    last_request: dict[str, Any] | None


@dataclass(frozen=True)
class RequestResult:
    instance_id: int
    work_order_no: str
    delivered: bool  # True: the process caught it as a message; False: recorded and the dispatcher alerted


class CustomerSide:
    """Mixed into :class:`engine.facade.Engine`; uses ``get_instance`` and ``send_message``."""

    def customer_status(self, instance_id: int) -> CustomerStatus:
        """What the customer's status page shows (no staff data beyond the technician's name and phone).

        :raises NotFound: no such order
        """
        inst = self.get_instance(instance_id)
        data = inst.data
        with self.db.read() as s:
            tech_name = tech_phone = None
            if data.get("technician"):
                user = s.scalars(select(User).where(User.username == str(data["technician"]))).first()
                if user is not None:
                    tech_name, tech_phone = user.display_name, user.phone
            done = inst.status == "completed" or s.scalar(select(func.count()).select_from(Event).where(
                Event.instance_id == instance_id, Event.kind == "task_completed",
                Event.element_id == SERVICE_DONE_ELEMENT)) > 0
            ev = s.scalars(select(Evaluation).where(Evaluation.instance_id == instance_id)).first()
            last = s.scalars(select(Event).where(Event.instance_id == instance_id, Event.kind.in_(
                [k for k, _t in RECORDED_REQUESTS.values()])).order_by(Event.id.desc()).limit(1)).first()
        return CustomerStatus(
            instance_id=inst.id, work_order_no=inst.business_key, status=inst.status,
            order_type=_str(data.get("order_type")), product_model=_str(data.get("product_model")),
            steps=tuple(t.element_id for t in inst.open_tasks), technician_name=tech_name,
            technician_phone=tech_phone, requested_at=_str(data.get("requested_at")),
            appointment_at=_str(data.get("appointment_at")), completion_deadline=_str(data.get("completion_deadline")),
            created_at=inst.created_at, ended_at=inst.ended_at, service_done=bool(done),
            evaluation={"stars": ev.stars, "comment": ev.comment, "at": ev.created_at} if ev else None,
            last_request={"kind": last.kind, "at": last.at, **(last.data or {})} if last else None,
        )

    def customer_request(self, name: str, *, work_order_no: str | None = None, instance_id: int | None = None,
                         payload: dict[str, Any] | None = None, actor: Actor = SYSTEM) -> RequestResult:
        """Deliver ``name`` (``urge``, ``reschedule``) to the order's process when it waits for it; record it and
        alert the dispatchers when it does not, and for an urge always.

        :raises NotFound: no such order
        :raises Conflict: the order has ended
        :raises InvalidInput: an unknown request name
        """
        if name not in RECORDED_REQUESTS:
            raise InvalidInput(f"未知的请求 {name}", {"name": "应为 urge 或 reschedule"})
        payload = dict(payload or {})
        with self.db.read() as s:
            q = select(Instance.id, Instance.business_key, Instance.status, Instance.summary)
            q = q.where(Instance.id == instance_id) if instance_id is not None else \
                q.where(Instance.business_key == work_order_no).order_by(Instance.id.desc()).limit(1)
            row = s.execute(q).first()
            if row is None or not row.business_key:
                raise NotFound(f"工单 {work_order_no or instance_id} 不存在")
            if row.status not in LIVE:
                raise Conflict(f"工单 {row.business_key} 已结束")
            waiting = s.scalar(select(func.count()).select_from(MessageSubscription).where(
                MessageSubscription.instance_id == row.id, MessageSubscription.message_name == name)) > 0
        if waiting:
            self.send_message(name, row.business_key, payload, actor=actor)
            if name != "urge":
                return RequestResult(row.id, row.business_key, True)
        # an urge is always recorded and told to the dispatchers, whether or not the process
        # handles it too (P1 asks the technician to call back within the hour)
        kind, topic = RECORDED_REQUESTS[name]
        now = self.clock.now()
        summary = row.summary or {}
        with self.db.write() as s:
            open_steps = list(s.scalars(select(HumanTask.name).where(HumanTask.instance_id == row.id,
                                                                     HumanTask.status == "open")))
            s.add(Event(instance_id=row.id, at=now, actor=actor.username, kind=kind, data=payload or None))
            s.add(Outbox(instance_id=row.id, topic=topic, status="pending", attempts=0, next_attempt_at=now,
                         created_at=now, payload={**{k: summary.get(k) for k in (
                             "work_order_no", "customer_name", "customer_phone", "technician")},
                             "steps": open_steps, "by": actor.username, **payload}))
        return RequestResult(row.id, row.business_key, waiting)

    def submit_evaluation(self, instance_id: int, *, stars: int, comment: str = "",
                          actor: Actor = SYSTEM) -> dict[str, Any]:
        """Store the customer's rating (once per order, after the service is done).

        :raises InvalidInput: stars outside 1–5 or a comment over 1000 characters
        :raises Conflict: the service is not done yet, or the order was already evaluated
        """
        comment = (comment or "").strip()
        fields = {}
        if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
            fields["stars"] = "请选择 1–5 星"
        if len(comment) > 1000:
            fields["comment"] = "最多 1000 字"
        if fields:
            raise InvalidInput("评价有误", fields)
        state = self.customer_status(instance_id)
        if not state.service_done:
            raise Conflict("服务完成后才能评价")
        now = self.clock.now()
        with self.db.write() as s:
            if s.scalars(select(Evaluation.id).where(Evaluation.instance_id == instance_id)).first() is not None:
                raise Conflict("该工单已评价，感谢您的反馈")
            s.add(Evaluation(instance_id=instance_id, work_order_no=state.work_order_no, stars=stars, comment=comment,
                             created_at=now))
            s.add(Event(instance_id=instance_id, at=now, actor=actor.username, kind="customer_evaluated",
                        data={"stars": stars, "comment": comment}))
        return {"instance_id": instance_id, "work_order_no": state.work_order_no, "stars": stars, "comment": comment}

    def evaluations(self, *, limit: int = 100) -> dict[str, Any]:
        """The newest customer evaluations and their average (for the dashboard)."""
        with self.db.read() as s:
            count, average = s.execute(select(func.count(Evaluation.id), func.avg(Evaluation.stars))).one()
            rows = s.scalars(select(Evaluation).order_by(Evaluation.id.desc()).limit(max(1, min(limit, 1000))))
            items = [{"instance_id": e.instance_id, "work_order_no": e.work_order_no, "stars": e.stars,
                      "comment": e.comment, "created_at": e.created_at} for e in rows]
        return {"count": count or 0, "average": round(float(average), 2) if average is not None else None,
                "items": items}


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
