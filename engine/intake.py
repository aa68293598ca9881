"""Opening work orders from every channel (mixed into the facade): idempotency keys,
duplicate detection, warranty preview, reference look-ups and the periodic schedules.

Opening an order is a use case of several short transactions, ordered so that a crash
between any two of them leaves nothing a retry cannot finish:

1. claim the idempotency key (one row per scope and key; a lease keeps a concurrent
   retry out) and reserve the work-order number with it;
2. start the process under that number (skipped when a crashed attempt had started it);
3. mark the key done with the result, which later requests with the same key replay.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from engine.channel_models import IdempotencyKey, ServiceSchedule
from engine.errors import Conflict, EngineError, InvalidInput, NotAllowed, NotFound
from engine.models import Instance
from engine.results import SYSTEM, Actor

LEASE = timedelta(seconds=60)
SCHEDULE_KINDS = ("maintenance", "testing")
SCHEDULE_CHANNELS = {"maintenance": "maintenance_due", "testing": "testing_due"}
REFERENCE_KINDS = ("product", "part", "fee", "technician")


@dataclass(frozen=True)
class Idempotency:
    """A client's idempotency key: ``scope`` names the client, ``fingerprint`` the request (None: any)."""

    scope: str
    key: str
    fingerprint: str | None = None


@dataclass(frozen=True)
class OpenedOrder:
    instance_id: int
    work_order_no: str
    status: str
    open_tasks: tuple[dict[str, Any], ...] = ()
    duplicates: tuple[str, ...] = ()
    replayed: bool = False  # an earlier request with the same key opened it

    def as_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "work_order_no": self.work_order_no, "status": self.status,
                "open_tasks": [dict(t) for t in self.open_tasks], "duplicates": list(self.duplicates)}


@dataclass(frozen=True)
class ScheduleView:
    id: int
    kind: str
    serial_no: str
    product_model: str
    customer_name: str
    customer_phone: str
    address: str
    zone: str
    interval_months: int
    next_due: date
    active: bool
    last_work_order_no: str | None


@dataclass
class _Claim:
    number: str | None = None
    instance_id: int | None = None
    response: dict[str, Any] | None = None
    lease: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Intake:
    """Mixed into :class:`engine.facade.Engine`; uses ``start``, ``reserve_work_order_no``, ``open_orders_like``."""

    def open_order(self, process_id: str, data: dict[str, Any], *, actor: Actor,
                   idempotency: Idempotency | None = None, day: date | None = None) -> OpenedOrder:
        """Start ``process_id`` for a new work order (numbered here) and report running look-alikes.

        Orders with the same customer phone or product serial that are still running are
        listed in ``duplicates`` (and recorded in the order as ``duplicate_of``); the order
        is opened all the same: staff decide.

        :raises Conflict: the same key is being processed right now, or was used for a different request
        :raises NotFound: the process is not deployed
        :raises InvalidInput: the data is not a JSON object or uses a reserved name
        """
        from tasks.values import local_date

        if not isinstance(data, dict):
            raise InvalidInput("数据必须是 JSON 对象", {"_form": "数据必须是 JSON 对象"})
        day = day or local_date(self.clock.now())
        claim = _Claim()
        if idempotency is not None:
            claim = self._claim_key(idempotency)
            if claim.response is not None:
                return OpenedOrder(**{**_opened_fields(claim.response), "replayed": True})
        duplicates = tuple(r["business_key"] for r in self.open_orders_like(
            phone=_text(data.get("customer_phone")), serial_no=_text(data.get("serial_no"))) if r["business_key"])
        if claim.number is None:
            claim.number = self.reserve_work_order_no(day, actor=actor)
            if idempotency is not None:
                self._record_claim(idempotency, claim)  # a lost race raises Conflict: the key is the other's
        try:
            started = self._instance_of(claim.number)
            if started is None:
                start_data = {**data, "work_order_no": claim.number}
                if duplicates:
                    start_data["duplicate_of"] = list(duplicates)
                result = self.start(process_id, start_data, actor=actor)
                opened = OpenedOrder(result.instance_id, claim.number, result.status,
                                     tuple({"id": t.id, "element_id": t.element_id, "name": t.name,
                                            "group_id": t.group_id} for t in result.open_tasks), duplicates)
            else:  # a crashed attempt with this key got as far as starting it
                opened = OpenedOrder(started[0], claim.number, started[1], (), duplicates)
        except EngineError:
            if idempotency is not None:
                self._release_key(idempotency)
            raise
        if idempotency is not None:
            self._finish_key(idempotency, opened)
        return opened

    # -- idempotency keys ------------------------------------------------------------------

    def _claim_key(self, idem: Idempotency) -> _Claim:
        now = self.clock.now()
        with self.db.write() as s:
            row = s.scalars(select(IdempotencyKey).where(IdempotencyKey.scope == idem.scope,
                                                         IdempotencyKey.key == idem.key)).first()
            if row is None:
                return _Claim()
            if idem.fingerprint and row.fingerprint and row.fingerprint != idem.fingerprint:
                raise Conflict("该幂等键已用于另一个不同的请求")
            if row.status == "done":
                return _Claim(row.work_order_no, row.instance_id, dict(row.response or {}))
            if row.locked_until is not None and row.locked_until > now:
                raise Conflict("同一请求正在处理中，请稍后重试")
            row.locked_until = now + LEASE  # the earlier attempt died: take over its number
            return _Claim(row.work_order_no, row.instance_id)

    def _record_claim(self, idem: Idempotency, claim: _Claim) -> None:
        now = self.clock.now()
        try:
            with self.db.write() as s:
                s.add(IdempotencyKey(scope=idem.scope, key=idem.key, fingerprint=idem.fingerprint, status="pending",
                                     work_order_no=claim.number, locked_until=now + LEASE, created_at=now))
        except IntegrityError:  # a concurrent request with the same key won the insert
            raise Conflict("同一请求正在处理中，请稍后重试") from None

    def _finish_key(self, idem: Idempotency, opened: OpenedOrder) -> None:
        with self.db.write() as s:
            s.execute(update(IdempotencyKey).where(IdempotencyKey.scope == idem.scope, IdempotencyKey.key == idem.key)
                      .values(status="done", instance_id=opened.instance_id, work_order_no=opened.work_order_no,
                              response=opened.as_dict(), locked_until=None))

    def _release_key(self, idem: Idempotency) -> None:
        with self.db.write() as s:
            s.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == idem.scope, IdempotencyKey.key == idem.key,
                                                   IdempotencyKey.status == "pending"))

    def _instance_of(self, work_order_no: str) -> tuple[int, str] | None:
        with self.db.read() as s:
            row = s.execute(select(Instance.id, Instance.status).where(Instance.business_key == work_order_no)
                            .order_by(Instance.id).limit(1)).first()
            return (row.id, row.status) if row else None

    # -- look-ups for intake ---------------------------------------------------------------

    def warranty_preview(self, *, serial_no: str, product_model: str, purchase_date: str | None = None,
                         order_type: str = "repair") -> dict[str, Any] | None:
        """A first warranty judgement for a customer's own report (the process judges again).

        :returns: the judgement, or None when no reference data is configured
        :raises InvalidInput: a malformed serial, an unknown model or a bad date, with the field
        """
        from tasks.registry import ServiceInputError
        from tasks.warranty import check_warranty

        ref = getattr(self.script_engine, "ref", None)
        if ref is None:
            return None
        try:
            return check_warranty(serial_no=serial_no, product_model=product_model, order_type=order_type,
                                  purchase_date=purchase_date or None, now=self.clock.now(), ref=ref)
        except ServiceInputError as exc:
            raise InvalidInput(exc.message, {exc.field: exc.message}) from None

    def reference_item(self, kind: str, key: str) -> dict[str, Any]:
        """One entry of the reference data as a JSON-ready dict (product, part, fee schedule, technician).

        :raises NotFound: unknown kind or key
        """
        ref = getattr(self.script_engine, "ref", None)
        if kind not in REFERENCE_KINDS or ref is None:
            raise NotFound(f"没有参考数据 {kind}")
        found = {"product": ref.product, "part": ref.part, "fee": ref.fee_schedule,
                 "technician": ref.technician}[kind](key)
        if found is None:
            raise NotFound(f"参考数据 {kind} 中没有 {key}")
        return _jsonable(dataclasses.asdict(found))

    # -- periodic maintenance and testing ---------------------------------------------------

    def add_schedule(self, *, kind: str, serial_no: str, product_model: str, customer_name: str,
                     customer_phone: str, address: str, interval_months: int, next_due: date,
                     zone: str = "in_city", actor: Actor = SYSTEM) -> ScheduleView:
        """Put a unit under periodic maintenance or testing.

        :raises InvalidInput: unknown kind, a missing field or an interval outside 1–120 months
        """
        fields = {}
        if kind not in SCHEDULE_KINDS:
            fields["kind"] = "应为 maintenance 或 testing"
        if not 1 <= int(interval_months) <= 120:
            fields["interval_months"] = "周期应为 1–120 个月"
        for name, value in (("serial_no", serial_no), ("product_model", product_model),
                            ("customer_name", customer_name), ("customer_phone", customer_phone),
                            ("address", address)):
            if not (value or "").strip():
                fields[name] = "必填"
        if fields:
            raise InvalidInput("保养/检测计划有误", fields)
        if not (actor.is_admin or "customer_service" in actor.groups):
            raise NotAllowed("只有客服或管理员可以维护保养/检测计划")
        with self.db.write() as s:
            row = ServiceSchedule(kind=kind, serial_no=serial_no.strip().upper(), product_model=product_model.strip(),
                                  customer_name=customer_name.strip(), customer_phone=customer_phone.strip(),
                                  address=address.strip(), zone=zone, interval_months=int(interval_months),
                                  next_due=next_due, active=True)
            s.add(row)
            s.flush()
            return _schedule_view(row)

    def schedules(self, *, due_by: date | None = None) -> list[ScheduleView]:
        """Active schedules, soonest first; only those due on or before ``due_by`` when given."""
        with self.db.read() as s:
            q = select(ServiceSchedule).where(ServiceSchedule.active.is_(True))
            if due_by is not None:
                q = q.where(ServiceSchedule.next_due <= due_by)
            return [_schedule_view(r) for r in s.scalars(q.order_by(ServiceSchedule.next_due, ServiceSchedule.id))]

    def run_schedules(self, process_for: dict[str, str], *, today: date | None = None,
                      actor: Actor = SYSTEM) -> list[OpenedOrder]:
        """Open one order for each schedule due by ``today`` and move it to its next due date.

        Running twice (or on two machines) opens each due order once: the order is keyed by
        schedule and due date.
        """
        from tasks.values import add_months, local_date

        today = today or local_date(self.clock.now())
        opened = []
        for item in self.schedules(due_by=today):
            data = {"order_type": item.kind, "channel": SCHEDULE_CHANNELS[item.kind],
                    "customer_name": item.customer_name, "customer_phone": item.customer_phone,
                    "address": item.address, "zone": item.zone, "product_model": item.product_model,
                    "serial_no": item.serial_no, "purchase_date": None,
                    "symptom": f"定期{'保养' if item.kind == 'maintenance' else '计量检测'}到期（{item.next_due.isoformat()}）",
                    "requested_at": None, "customer_requirements": None}
            order = self.open_order(process_for[item.kind], data, actor=actor, day=today,
                                    idempotency=Idempotency("schedule", f"{item.id}:{item.next_due.isoformat()}"))
            following = item.next_due
            while following <= today:  # a schedule that missed several rounds opens one order, not a backlog
                following = add_months(following, item.interval_months)
            with self.db.write() as s:
                s.execute(update(ServiceSchedule).where(ServiceSchedule.id == item.id,
                                                        ServiceSchedule.next_due == item.next_due)
                          .values(next_due=following, last_work_order_no=order.work_order_no))
            opened.append(order)
        return opened


def _opened_fields(response: dict[str, Any]) -> dict[str, Any]:
    return {"instance_id": response["instance_id"], "work_order_no": response["work_order_no"],
            "status": response["status"], "open_tasks": tuple(response.get("open_tasks") or ()),
            "duplicates": tuple(response.get("duplicates") or ())}


def _schedule_view(r: ServiceSchedule) -> ScheduleView:
    return ScheduleView(r.id, r.kind, r.serial_no, r.product_model, r.customer_name, r.customer_phone, r.address,
                        r.zone, r.interval_months, r.next_due, r.active, r.last_work_order_no)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, Decimal | date | datetime)
                                 else sorted(v) if isinstance(v, frozenset | set) else repr(v)))
