"""Read verbs: inbox, queue, archive, instances. They read projections only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from engine import views
from engine.errors import NotAllowed, NotFound
from engine.models import Definition, Event, HumanTask, Incident, Instance, Job, MessageSubscription
from engine.results import Actor, DiagramView, InstanceView, Page

SORTABLE_TASK_COLUMNS = {
    "due_at": HumanTask.due_at,
    "created_at": HumanTask.created_at,
    "work_order_no": HumanTask.work_order_no,
    "customer_name": HumanTask.customer_name,
    "order_type": HumanTask.order_type,
    "name": HumanTask.name,
    "completed_at": HumanTask.completed_at,
}


@dataclass(frozen=True)
class TaskFilter:
    """Inbox filters; every field optional."""

    order_type: str | None = None
    zone: str | None = None
    overdue: bool = False
    due_soon: bool = False
    search: str | None = None
    group_id: str | None = None
    sort: str = "due_at"
    descending: bool = False
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class InstanceFilter:
    process_id: str | None = None
    definition_version: int | None = None
    status: str | None = None
    business_key: str | None = None
    customer: str | None = None
    technician: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    has_incident: bool = False
    page: int = 1
    per_page: int = 25


class Queries:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db`` and ``self.clock``."""

    def inbox(self, actor: Actor, flt: TaskFilter = TaskFilter()) -> Page:
        """Open tasks assigned to the actor."""
        return self._tasks(and_(HumanTask.status == "open", HumanTask.assignee == actor.username), flt)

    def queue(self, actor: Actor, flt: TaskFilter = TaskFilter()) -> Page:
        """Open, unassigned tasks of the actor's groups."""
        groups = sorted(actor.groups)
        if flt.group_id:
            groups = [g for g in groups if g == flt.group_id]
        return self._tasks(and_(HumanTask.status == "open", HumanTask.assignee.is_(None),
                                HumanTask.group_id.in_(groups)), flt)

    def archive(self, actor: Actor, flt: TaskFilter = TaskFilter()) -> Page:
        """Tasks the actor completed, newest first by default."""
        if flt.sort == "due_at":
            flt = TaskFilter(**{**flt.__dict__, "sort": "completed_at", "descending": True})
        return self._tasks(and_(HumanTask.status == "completed", HumanTask.completed_by == actor.username), flt)

    def counts(self, actor: Actor) -> dict[str, int]:
        with self.db.read() as s:
            mine = s.scalar(select(func.count()).where(HumanTask.status == "open",
                                                       HumanTask.assignee == actor.username))
            queue = s.scalar(select(func.count()).where(HumanTask.status == "open", HumanTask.assignee.is_(None),
                                                        HumanTask.group_id.in_(sorted(actor.groups))))
            done = s.scalar(select(func.count()).where(HumanTask.status == "completed",
                                                       HumanTask.completed_by == actor.username))
        return {"inbox": mine or 0, "queue": queue or 0, "archive": done or 0}

    def _tasks(self, where, flt: TaskFilter) -> Page:
        now = self.clock.now()
        conds = [where]
        if flt.order_type:
            conds.append(HumanTask.order_type == flt.order_type)
        if flt.zone:
            conds.append(HumanTask.zone == flt.zone)
        if flt.overdue:
            conds.append(HumanTask.due_at < now)
        if flt.due_soon:
            conds.append(and_(HumanTask.due_at >= now, HumanTask.due_at < now + timedelta(hours=4)))
        if flt.search:
            term = flt.search.strip()
            like = f"%{_escape_like(term)}%"
            exact = select(Instance.id).where(or_(
                Instance.business_key == term, Instance.customer_phone == term, Instance.serial_no == term))
            conds.append(or_(
                HumanTask.instance_id.in_(exact),
                HumanTask.customer_name.like(like, escape="\\"), HumanTask.work_order_no.like(like, escape="\\"),
            ))
        column = SORTABLE_TASK_COLUMNS.get(flt.sort, HumanTask.due_at)
        order = [column.desc() if flt.descending else column.asc(), HumanTask.created_at, HumanTask.id]
        if column is HumanTask.due_at and not flt.descending:
            order.insert(0, HumanTask.due_at.is_(None))  # undated tasks last
        per_page = max(1, min(flt.per_page, 200))
        page = max(1, flt.page)
        with self.db.read() as s:
            total = s.scalar(select(func.count()).select_from(HumanTask).where(*conds)) or 0
            rows = s.scalars(select(HumanTask).where(*conds).order_by(*order)
                             .offset((page - 1) * per_page).limit(per_page))
            return Page(tuple(views.task(t) for t in rows), total, page, per_page)

    def get_task(self, task_id: str, *, actor: Actor):
        with self.db.read() as s:
            ht = s.get(HumanTask, task_id)
            if ht is None:
                raise NotFound("任务不存在")
            if not (actor.is_admin or ht.assignee == actor.username or ht.completed_by == actor.username
                    or (ht.assignee is None and ht.group_id in actor.groups)
                    or ("dispatcher" in actor.groups)):
                raise NotAllowed("无权查看该任务")
            return views.task(ht)

    def get_instance(self, instance_id: int, *, with_data: bool = True) -> InstanceView:
        with self.db.read() as s:
            row = s.get(Instance, instance_id)
            if row is None:
                raise NotFound(f"流程实例 {instance_id} 不存在")
            d = s.get(Definition, row.definition_id)
            tasks = s.scalars(select(HumanTask).where(HumanTask.instance_id == row.id, HumanTask.status == "open"))
            incidents = s.scalars(select(Incident).where(Incident.instance_id == row.id).order_by(Incident.id))
            jobs = s.scalars(select(Job).where(Job.instance_id == row.id).order_by(Job.due_at))
            data = self._current_data(s, row) if with_data else {}
            return InstanceView(
                id=row.id, definition_id=row.definition_id, process_id=row.process_id,
                definition_version=d.version, business_key=row.business_key, status=row.status,
                version=row.version, summary=row.summary or {}, started_by=row.started_by,
                created_at=row.created_at, updated_at=row.updated_at, ended_at=row.ended_at, data=data,
                open_tasks=tuple(views.task(t) for t in tasks),
                incidents=tuple(views.incident(i) for i in incidents), jobs=tuple(views.job(j) for j in jobs),
            )

    def _current_data(self, s, row) -> dict:
        import json

        from engine import runtime

        loaded = self._definition(s, row.definition_id)
        workflow = self._stored_workflow(s, row.id, loaded)
        return json.loads(json.dumps(runtime.current_data(workflow), default=str))

    def diagram(self, instance_id: int) -> DiagramView:
        """The instance's BPMN with active, completed and failed elements and run counts."""
        from collections import Counter

        with self.db.read() as s:
            row = s.get(Instance, instance_id)
            if row is None:
                raise NotFound(f"流程实例 {instance_id} 不存在")
            d = s.get(Definition, row.definition_id)
            counts: Counter = Counter()
            for kind, element_id, data in s.execute(select(Event.kind, Event.element_id, Event.data).where(
                    Event.instance_id == instance_id, Event.kind.in_(("elements", "task_completed")))):
                if kind == "elements":
                    counts.update((data or {}).get("ran", ()))
                elif element_id:
                    counts[element_id] += 1
            active = set(s.scalars(select(HumanTask.element_id).where(
                HumanTask.instance_id == instance_id, HumanTask.status == "open")))
            active |= set(s.scalars(select(Job.element_id).where(Job.instance_id == instance_id,
                                                                  Job.element_id.is_not(None))))
            active |= set(s.scalars(select(MessageSubscription.element_id).where(
                MessageSubscription.instance_id == instance_id)))
            failed = set(s.scalars(select(Incident.element_id).where(
                Incident.instance_id == instance_id, Incident.resolved_at.is_(None))))
            xml = d.sources.get(d.meta.get("file"), "")
            return DiagramView(d.process_id, d.version, xml, tuple(sorted(active)), tuple(sorted(counts)),
                               tuple(sorted(failed)), dict(counts))

    def definition_xml(self, definition_id: int) -> tuple[str, str]:
        """(file name, BPMN XML) of a deployed definition version."""
        with self.db.read() as s:
            d = s.get(Definition, definition_id)
            if d is None:
                raise NotFound(f"流程定义 {definition_id} 不存在")
            name = d.meta.get("file")
            return name, d.sources.get(name, "")

    def open_orders_like(self, *, phone: str | None = None, serial_no: str | None = None) -> list[dict]:
        """Running orders with the same customer phone or product serial (duplicate warning)."""
        conds = []
        if phone:
            conds.append(Instance.customer_phone == phone)
        if serial_no:
            conds.append(Instance.serial_no == serial_no)
        if not conds:
            return []
        with self.db.read() as s:
            rows = s.execute(select(Instance.id, Instance.business_key, Instance.status, Instance.summary,
                                    Instance.created_at)
                             .where(or_(*conds), Instance.status.in_(("running", "waiting", "error", "suspended")))
                             .order_by(Instance.id.desc()).limit(50)).all()
            return [dict(r._mapping) for r in rows]

    def history(self, instance_id: int) -> list:
        """The audit log of one instance, oldest first (engine elements one event each)."""
        with self.db.read() as s:
            out = []
            for e in s.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)):
                out.extend(views.events(e))
            return out

    def list_instances(self, flt: InstanceFilter = InstanceFilter()) -> Page:
        conds = []
        if flt.process_id:
            conds.append(Instance.process_id == flt.process_id)
        if flt.status:
            conds.append(Instance.status == flt.status)
        if flt.business_key:
            conds.append(Instance.business_key == flt.business_key)
        if flt.started_from:
            conds.append(Instance.created_at >= flt.started_from)
        if flt.started_to:
            conds.append(Instance.created_at < flt.started_to)
        if flt.has_incident:
            conds.append(Instance.status == "error")
        if flt.definition_version:
            conds.append(Instance.definition_id.in_(
                select(Definition.id).where(Definition.version == flt.definition_version)))
        if flt.customer:
            conds.append(Instance.id.in_(select(HumanTask.instance_id).where(
                HumanTask.customer_name.like(f"%{_escape_like(flt.customer)}%", escape="\\"))))
        if flt.technician:
            conds.append(Instance.id.in_(select(HumanTask.instance_id).where(
                HumanTask.assignee == flt.technician, HumanTask.status == "open")))
        per_page = max(1, min(flt.per_page, 200))
        page = max(1, flt.page)
        with self.db.read() as s:
            total = s.scalar(select(func.count()).select_from(Instance).where(*conds)) or 0
            rows = s.execute(select(Instance.id, Instance.process_id, Instance.business_key, Instance.status,
                                    Instance.summary, Instance.created_at, Instance.updated_at)
                             .where(*conds).order_by(Instance.id.desc())
                             .offset((page - 1) * per_page).limit(per_page)).all()
            items = tuple(dict(r._mapping) for r in rows)
        return Page(items, total, page, per_page)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
