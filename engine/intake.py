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
PLAN_PROCESS = "service_plan"
DUE_MESSAGE = "service_due"
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
    plan_no: str = ""
    instance_id: int | None = None
    due_dates_opened: tuple[str, ...] = ()


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
                     zone: str = "in_city", end_date: date | None = None, purchase_date: date | None = None,
                     actor: Actor = SYSTEM) -> ScheduleView:
        """Put a unit under periodic maintenance or testing.

        The registration is kept in ``service_schedule``; the plan itself runs as an instance of
        the ``service_plan`` process (business key ``PM-…`` / ``MT-…``), whose timer opens a
        work order on every due date, exactly once, until ``end_date`` or cancellation.

        :raises InvalidInput: unknown kind, a missing field, an interval outside 1–120 months or an
            end date before the first due date
        :raises NotFound: the ``service_plan`` process is not deployed
        """
        fields = {}
        if kind not in SCHEDULE_KINDS:
            fields["kind"] = "应为 maintenance 或 testing"
        try:
            interval_months = int(interval_months)
        except (TypeError, ValueError):
            interval_months = 0
        if not 1 <= interval_months <= 120:
            fields["interval_months"] = "周期应为 1–120 个月"
        for name, value in (("serial_no", serial_no), ("product_model", product_model),
                            ("customer_name", customer_name), ("customer_phone", customer_phone),
                            ("address", address)):
            if not (value or "").strip():
                fields[name] = "必填"
        if zone not in ("in_city", "out_of_city"):
            fields["zone"] = "应为 in_city 或 out_of_city"
        if not isinstance(next_due, date):
            fields["next_due"] = "应为日期"
        elif end_date is not None and end_date < next_due:
            fields["end_date"] = "截止日期不能早于首次到期日"
        if fields:
            raise InvalidInput("保养/检测计划有误", fields)
        if not (actor.is_admin or "customer_service" in actor.groups):
            raise NotAllowed("只有客服或管理员可以维护保养/检测计划")
        with self.db.write() as s:
            row = ServiceSchedule(kind=kind, serial_no=serial_no.strip().upper(), product_model=product_model.strip(),
                                  customer_name=customer_name.strip(), customer_phone=customer_phone.strip(),
                                  address=address.strip(), zone=zone, interval_months=interval_months,
                                  next_due=next_due, active=True)
            s.add(row)
            s.flush()
            schedule_id = row.id
        plan = {"plan_no": _plan_no(kind, schedule_id), "kind": kind, "first_due": next_due.isoformat(),
                "interval_months": interval_months, "end_date": end_date.isoformat() if end_date else None,
                "serial_no": serial_no.strip().upper(), "product_model": product_model.strip(),
                "customer_name": customer_name.strip(), "customer_phone": customer_phone.strip(),
                "address": address.strip(), "zone": zone,
                "purchase_date": purchase_date.isoformat() if purchase_date else None}
        try:
            self.start(PLAN_PROCESS, plan, actor=actor, business_key=plan["plan_no"])
        except BaseException:
            with self.db.write() as s:  # nothing half-written: no registration without its running plan
                s.execute(delete(ServiceSchedule).where(ServiceSchedule.id == schedule_id))
            raise
        return self._schedule_views([schedule_id])[0]

    def schedules(self, *, due_by: date | None = None, include_ended: bool = False) -> list[ScheduleView]:
        """Plans soonest due first, with the next due date and orders as their process instance has them;
        only those due on or before ``due_by`` when given; ended or cancelled plans only on request."""
        with self.db.read() as s:
            ids = list(s.scalars(select(ServiceSchedule.id).order_by(ServiceSchedule.id)))
        views = [v for v in self._schedule_views(ids) if include_ended or v.active]
        if due_by is not None:
            views = [v for v in views if v.active and v.next_due <= due_by]
        return sorted(views, key=lambda v: (v.next_due, v.id))

    def cancel_schedule(self, schedule_id: int, *, reason: str, actor: Actor = SYSTEM) -> ScheduleView:
        """Stop a plan: its process catches the cancellation message; orders already opened stay.

        :raises NotFound: no such plan; :raises Conflict: the plan has already ended
        """
        if not (actor.is_admin or "customer_service" in actor.groups):
            raise NotAllowed("只有客服或管理员可以维护保养/检测计划")
        if not (reason or "").strip():
            raise InvalidInput("请填写取消原因", {"reason": "必填"})
        [view] = self._schedule_views([schedule_id]) or [None]
        if view is None:
            raise NotFound(f"保养/检测计划 #{schedule_id} 不存在")
        if not view.active:
            raise Conflict(f"保养/检测计划 #{schedule_id} 已结束")
        self.send_message("service_plan_cancelled", view.plan_no, {"reason": reason.strip()}, actor=actor)
        with self.db.write() as s:
            s.execute(update(ServiceSchedule).where(ServiceSchedule.id == schedule_id).values(active=False))
        return self._schedule_views([schedule_id])[0]

    def _schedule_views(self, ids: list[int]) -> list[ScheduleView]:
        if not ids:
            return []
        with self.db.read() as s:
            rows = {r.id: r for r in s.scalars(select(ServiceSchedule).where(ServiceSchedule.id.in_(ids)))}
            keys = {_plan_no(r.kind, r.id): r.id for r in rows.values()}
            plans = {k: (i, st) for k, i, st in s.execute(
                select(Instance.business_key, Instance.id, Instance.status)
                .where(Instance.process_id == PLAN_PROCESS, Instance.business_key.in_(list(keys))))}
            opened: dict[str, list[str]] = {}
            for key in keys:  # each due date's order is keyed by the plan's message id "<plan_no>:<date>"
                opened[key] = [n for n in s.scalars(
                    select(IdempotencyKey.work_order_no)
                    .where(IdempotencyKey.scope == f"message:{DUE_MESSAGE}", IdempotencyKey.key.like(f"{key}:%"),
                           IdempotencyKey.status == "done")
                    .order_by(IdempotencyKey.key)) if n]
        views = []
        for sid in ids:
            r = rows.get(sid)
            if r is None:
                continue
            key = _plan_no(r.kind, r.id)
            instance_id, status = plans.get(key, (None, None))
            next_due, active, done = r.next_due, bool(r.active) and instance_id is not None, ()
            if instance_id is not None:
                data = self.get_instance(instance_id).data
                next_due = date.fromisoformat(data.get("next_due") or r.next_due.isoformat())
                done = tuple(data.get("orders_opened") or ())
                active = active and status not in ("completed", "terminated")
            views.append(ScheduleView(r.id, r.kind, r.serial_no, r.product_model, r.customer_name, r.customer_phone,
                                      r.address, r.zone, r.interval_months, next_due, active,
                                      (opened.get(key) or [r.last_work_order_no])[-1],
                                      plan_no=key, instance_id=instance_id, due_dates_opened=done))
        return views


def _plan_no(kind: str, schedule_id: int) -> str:
    return f"{'PM' if kind == 'maintenance' else 'MT'}-{schedule_id:06d}"


def _opened_fields(response: dict[str, Any]) -> dict[str, Any]:
    return {"instance_id": response["instance_id"], "work_order_no": response["work_order_no"],
            "status": response["status"], "open_tasks": tuple(response.get("open_tasks") or ()),
            "duplicates": tuple(response.get("duplicates") or ())}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, Decimal | date | datetime)
                                 else sorted(v) if isinstance(v, frozenset | set) else repr(v)))
