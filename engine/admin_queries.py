"""Read verbs of the admin console: instances, one instance in depth, the dashboard, reports.

Every query reads projections (``process_instance`` with its summary, ``human_task``,
``job``, ``incident``, ``event``, ``outbox``) and the indexes of migration 0004; only the
instance page loads one workflow (for its variables and task tree). Mixed into the facade.

Definitions the dashboard uses (all over *work orders*: instances with a business key):

* **closed**: status ``completed``, counted in the period its ``ended_at`` falls in;
* **SLA met**: every step of the order that had a due time was done by then (a step still
  open when the order ended counts at the end time);
* **first-time fix**: no dispatcher step of the order was completed twice (a second
  dispatch means the customer was not satisfied or the order had to be reopened);
* **callback covered**: a call-center step of the order was completed;
* **time to complete**: ``ended_at - created_at``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    String,
    and_,
    case,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from engine import views
from engine.errors import InvalidInput, NotFound
from engine.models import (
    Base,
    Definition,
    Event,
    HumanTask,
    Id,
    Incident,
    Instance,
    Job,
    MessageSubscription,
    Outbox,
)
from engine.results import EventView, IncidentView, JobView, Page, TaskView

OPEN_STATUSES = ("running", "waiting", "suspended", "error")
SORTS = {"started": Instance.id, "updated": Instance.updated_at, "business_key": Instance.business_key,
         "status": Instance.status}
CALLBACK_GROUP = "call_center"
DISPATCH_GROUP = "dispatcher"
TECHNICIAN_GROUP = "technician"
PENALTY_TOPIC = "penalty_recorded"
MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"

# The indexes these queries need (migration 0004 creates them; declared here so the models
# and the schema agree). The summary expression indexes are created by the migration only:
# their SQL differs between SQLite and PostgreSQL.
Index("ix_instance_created", Instance.created_at)
Index("ix_instance_ended", Instance.ended_at, sqlite_where=text("ended_at IS NOT NULL"),
      postgresql_where=text("ended_at IS NOT NULL"))
Index("ix_incident_open", Incident.instance_id, sqlite_where=text("resolved_at IS NULL"),
      postgresql_where=text("resolved_at IS NULL"))
Index("ix_outbox_topic", Outbox.topic, Outbox.created_at)
Index("ix_task_open_due", HumanTask.due_at, sqlite_where=text("status = 'open'"),
      postgresql_where=text("status = 'open'"))


# -- the heatmap's running totals -------------------------------------------------------------

STATS_CURSOR = "element_stats"
STATS_LAG = timedelta(minutes=5)


class ElementStat(Base):
    """Per definition version and element: how often it ran, and time spent in its user tasks."""

    __tablename__ = "admin_element_stat"
    definition_id: Mapped[int] = mapped_column(Id, primary_key=True)
    element_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    passes: Mapped[int] = mapped_column(BigInteger, default=0)
    timed: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)


class OrderFact(Base):
    """What the dashboard needs of one closed work order, computed once (a closed order never changes)."""

    __tablename__ = "admin_order_fact"
    __table_args__ = (Index("ix_order_fact_ended", "ended_at"),)
    instance_id: Mapped[int] = mapped_column(Id, primary_key=True)
    ended_at: Mapped[datetime] = mapped_column()
    order_type: Mapped[str | None] = mapped_column(String(32))
    seconds: Mapped[float] = mapped_column(Float)
    breached: Mapped[bool] = mapped_column(Boolean)
    reopened: Mapped[bool] = mapped_column(Boolean)
    called_back: Mapped[bool] = mapped_column(Boolean)


class AdminCursor(Base):
    """How far into the audit log a running total has read."""

    __tablename__ = "admin_cursor"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Id, default=0)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminInstanceFilter:
    """Search and sort of the admin instance list; every field optional."""

    process_id: str | None = None
    version: int | None = None
    status: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    business_key: str | None = None  # exact, or a prefix
    customer: str | None = None  # a phone number (exact) or the start of a name
    technician: str | None = None
    overdue: bool = False
    has_incident: bool = False
    sort: str = "started"
    descending: bool = True
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class InstanceRow:
    id: int
    process_id: str
    version: int
    business_key: str | None
    status: str
    customer_name: str | None
    customer_phone: str | None
    order_type: str | None
    technician: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class TreeNode:
    """One task of the workflow's task tree (predicted tasks left out)."""

    depth: int
    element_id: str
    name: str
    state: str
    changed_at: datetime | None


@dataclass(frozen=True)
class InstanceDetail:
    """Everything the admin instance page shows, read in one go."""

    row: InstanceRow
    definition_id: int
    version: int  # the instance row's optimistic version (for conflict messages)
    data: dict[str, Any]
    tasks: tuple[TaskView, ...]
    tree: tuple[TreeNode, ...]
    incidents: tuple[IncidentView, ...]
    jobs: tuple[JobView, ...]
    waiting_messages: tuple[tuple[str, str], ...]  # (message name, element id)
    messages_received: tuple[EventView, ...]
    history: tuple[EventView, ...]
    element_names: dict[str, str]


@dataclass(frozen=True)
class Ratio:
    met: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else round(100.0 * self.met / self.total, 1)


@dataclass(frozen=True)
class OverdueTask:
    task_id: str
    instance_id: int
    work_order_no: str | None
    name: str
    group_id: str
    assignee: str | None
    due_at: datetime


@dataclass(frozen=True)
class OpenIncident:
    id: int
    instance_id: int
    business_key: str | None
    element_id: str
    element_name: str
    message: str
    created_at: datetime


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    by_status: dict[str, int]
    by_group: dict[str, int]
    sla: dict[str, Ratio]  # today, week, month
    overdue: tuple[OverdueTask, ...]
    overdue_total: int
    first_time_fix: Ratio
    completion_hours: dict[str, tuple[int, float]]  # order type -> (orders, mean hours)
    callback: Ratio
    workload: tuple[tuple[str | None, int, int], ...]  # (technician or None = queue, open, overdue)
    incidents_open: int
    incidents: tuple[OpenIncident, ...]
    month_closed: int


@dataclass(frozen=True)
class HeatElement:
    element_id: str
    name: str
    passes: int
    mean_seconds: float | None  # user tasks: from creation to completion


@dataclass(frozen=True)
class Heatmap:
    process_id: str
    version: int
    definition_id: int
    xml: str
    elements: tuple[HeatElement, ...]
    instances: int
    versions: tuple[int, ...]


@dataclass(frozen=True)
class SettlementInputs:
    """What :func:`tasks.settlement.monthly_settlement` takes, read from the month's closed orders."""

    month: str
    orders: tuple[dict[str, Any], ...]
    penalties: tuple[dict[str, Any], ...]
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (order no, why not settleable)


# -- the mixin -------------------------------------------------------------------------------


class AdminQueries:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db``, ``self.clock`` and ``self._definition``."""

    # -- instances -----------------------------------------------------------------------

    def admin_instances(self, flt: AdminInstanceFilter = AdminInstanceFilter(), *, now: datetime | None = None) -> Page:
        """Instances matching ``flt`` as :class:`InstanceRow`, sorted and paginated on the server."""
        now = now or self.clock.now()
        per_page = max(1, min(flt.per_page, 200))
        page = max(1, flt.page)
        with self.db.read() as s:
            versions = self._definition_versions(s)
            conds = self._instance_conditions(s, flt, now, versions)
            if conds is None:
                return Page((), 0, page, per_page)
            column = SORTS.get(flt.sort, Instance.id)
            order = [column.desc() if flt.descending else column.asc()]
            if column is not Instance.id:
                order.append(Instance.id.desc())
            total = s.scalar(select(func.count()).select_from(Instance).where(*conds)) or 0
            rows = s.execute(select(*_ROW_COLUMNS).where(*conds).order_by(*order)
                             .offset((page - 1) * per_page).limit(per_page)).all()
            return Page(tuple(_instance_row(r, versions) for r in rows), total, page, per_page)

    def admin_instance_ids(self, flt: AdminInstanceFilter, *, limit: int = 500, now: datetime | None = None) -> list[int]:
        """The ids of up to ``limit`` instances matching ``flt`` (for "select all matching")."""
        now = now or self.clock.now()
        with self.db.read() as s:
            conds = self._instance_conditions(s, flt, now, self._definition_versions(s))
            if conds is None:
                return []
            return list(s.scalars(select(Instance.id).where(*conds).order_by(Instance.id.desc()).limit(limit)))

    def process_versions(self) -> dict[str, tuple[int, ...]]:
        """Process id -> its deployed versions, newest first."""
        with self.db.read() as s:
            out: dict[str, list[int]] = defaultdict(list)
            for pid, version in s.execute(select(Definition.process_id, Definition.version)
                                          .order_by(Definition.process_id, Definition.version.desc())):
                out[pid].append(version)
            return {k: tuple(v) for k, v in out.items()}

    def _definition_versions(self, s) -> dict[int, tuple[str, int]]:
        return {d_id: (pid, v) for d_id, pid, v in s.execute(
            select(Definition.id, Definition.process_id, Definition.version))}

    def _instance_conditions(self, s, flt: AdminInstanceFilter, now: datetime, versions) -> list | None:
        conds: list = []
        if flt.process_id or flt.version:
            ids = [d_id for d_id, (pid, v) in versions.items()
                   if (not flt.process_id or pid == flt.process_id) and (not flt.version or v == flt.version)]
            if not ids:
                return None
            conds.append(Instance.definition_id.in_(ids))
        if flt.status:
            conds.append(Instance.status == flt.status)
        if flt.started_from:
            conds.append(Instance.created_at >= flt.started_from)
        if flt.started_to:
            conds.append(Instance.created_at < flt.started_to)
        if flt.business_key:
            key = flt.business_key.strip()
            conds.append(or_(Instance.business_key == key,
                             and_(Instance.business_key > key, Instance.business_key < key + "\uffff")))
        if flt.customer:
            term = flt.customer.strip()
            digits = term.replace("-", "").replace(" ", "")
            if digits.isdigit() and len(digits) >= 7:
                conds.append(Instance.customer_phone == term)
            else:
                name = self._summary_text("customer_name")
                if self.db.is_sqlite:  # a range the expression index answers
                    conds.append(and_(name >= term, name < term + "\uffff"))
                else:  # collations need not sort U+FFFF last
                    conds.append(name.like(_escape_like(term) + "%", escape="\\"))
        if flt.technician:
            conds.append(self._summary_text("technician") == flt.technician.strip())
        if flt.overdue:
            conds.append(Instance.id.in_(select(HumanTask.instance_id).where(
                HumanTask.status == "open", HumanTask.due_at < now)))
        if flt.has_incident:
            conds.append(Instance.id.in_(select(Incident.instance_id).where(Incident.resolved_at.is_(None))))
        return conds

    def _summary_text(self, key: str):
        """``summary.<key>`` as text, spelled exactly as the expression indexes of migration 0004."""
        if key not in ("customer_name", "technician", "order_type"):
            raise ValueError(key)
        if self.db.is_sqlite:
            return literal_column(f"json_extract(process_instance.summary, '$.{key}')")
        return literal_column(f"(process_instance.summary ->> '{key}')")

    def _unindexed_status(self):
        """The instance status for a condition SQLite must not answer from the status index: with
        the end-time range it reads a few thousand rows, through the status index tens of thousands."""
        return literal_column("+process_instance.status") if self.db.is_sqlite else Instance.status

    def _task_groups(self, s) -> list[str]:
        """Every group a task can sit in (the index on open tasks starts with the group)."""
        from engine.models import Group

        return sorted(set(s.scalars(select(Group.id))) | {"admin"})

    # -- one instance --------------------------------------------------------------------

    def instance_detail(self, instance_id: int) -> InstanceDetail:
        """The instance with its data, tasks (history and tree), incidents, timers, messages and audit log.

        :raises NotFound: no such instance
        """
        from engine import runtime

        with self.db.read() as s:
            row = s.execute(select(*_ROW_COLUMNS, Instance.version).where(Instance.id == instance_id)).first()
            if row is None:
                raise NotFound(f"流程实例 {instance_id} 不存在")
            versions = self._definition_versions(s)
            loaded = self._definition(s, row.definition_id)
            workflow = self._stored_workflow(s, instance_id, loaded)
            data = json.loads(json.dumps(_live_data(workflow, runtime), default=str))
            tree = tuple(_tree(workflow, loaded.meta.get("names", {})))
            tasks = tuple(views.task(t) for t in s.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.created_at,
                                                                                       HumanTask.id)))
            incidents = tuple(views.incident(i) for i in s.scalars(
                select(Incident).where(Incident.instance_id == instance_id).order_by(Incident.id.desc())))
            jobs = tuple(views.job(j) for j in s.scalars(
                select(Job).where(Job.instance_id == instance_id).order_by(Job.due_at)))
            waiting = tuple((m.message_name, m.element_id) for m in s.scalars(
                select(MessageSubscription).where(MessageSubscription.instance_id == instance_id)))
            history: list[EventView] = []
            for e in s.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)):
                history.extend(views.events(e))
        received = tuple(e for e in history if e.kind == "message_received")
        return InstanceDetail(
            row=_instance_row(row, versions), definition_id=row.definition_id, version=row.version, data=data,
            tasks=tasks, tree=tree, incidents=incidents, jobs=jobs, waiting_messages=waiting,
            messages_received=received, history=tuple(history), element_names=dict(loaded.meta.get("names", {})),
        )

    # -- dashboard -----------------------------------------------------------------------

    def dashboard(self, *, tz: tzinfo = UTC, now: datetime | None = None, overdue_limit: int = 20) -> Dashboard:
        """Open orders, SLA compliance today / this week / this month, overdue steps, quality
        figures of the month, technician workload and open incidents (see the module doc)."""
        now = now or self.clock.now()
        local = now.astimezone(tz)
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = {"today": today, "week": today - timedelta(days=today.weekday()), "month": today.replace(day=1)}
        starts = {k: v.astimezone(UTC) for k, v in starts.items()}
        with self.db.read() as s:
            groups = self._task_groups(s)
            by_status = {st: n for st, n in s.execute(
                select(Instance.status, func.count()).where(Instance.status.in_(OPEN_STATUSES))
                .group_by(Instance.status))}
            open_tasks = and_(HumanTask.group_id.in_(groups), HumanTask.status == "open")
            by_group = {g: n for g, n in s.execute(
                select(HumanTask.group_id, func.count()).where(open_tasks).group_by(HumanTask.group_id))}
            late = and_(HumanTask.status == "open", HumanTask.due_at < now)
            overdue_total = s.scalar(select(func.count()).select_from(HumanTask).where(late)) or 0
            overdue = tuple(OverdueTask(t.id, t.instance_id, t.work_order_no, t.name, t.group_id, t.assignee, t.due_at)
                            for t in s.execute(select(HumanTask.id, HumanTask.instance_id, HumanTask.work_order_no,
                                                      HumanTask.name, HumanTask.group_id, HumanTask.assignee,
                                                      HumanTask.due_at)
                                               .where(late).order_by(HumanTask.due_at).limit(overdue_limit)))
            workload = tuple((a, n, int(o or 0)) for a, n, o in s.execute(
                select(HumanTask.assignee, func.count(), func.sum(case((HumanTask.due_at < now, 1), else_=0)))
                .where(HumanTask.group_id == TECHNICIAN_GROUP, HumanTask.status == "open")
                .group_by(HumanTask.assignee).order_by(func.count().desc())))
            incidents_open = s.scalar(select(func.count()).select_from(Incident)
                                      .where(Incident.resolved_at.is_(None))) or 0
            incidents = tuple(OpenIncident(*r) for r in s.execute(
                select(Incident.id, Incident.instance_id, Instance.business_key, Incident.element_id,
                       Incident.element_name, Incident.message, Incident.created_at)
                .join(Instance, Instance.id == Incident.instance_id)
                .where(Incident.resolved_at.is_(None)).order_by(Incident.id.desc()).limit(10)))
        month = self._month_facts(starts)
        sla = {period: Ratio(month[f"{period}_met"], month[period]) for period in starts}
        return Dashboard(
            now=now, by_status=by_status, by_group=by_group, sla=sla, overdue=overdue, overdue_total=overdue_total,
            first_time_fix=Ratio(month["month"] - month["reopened"], month["month"]),
            completion_hours=month["hours"], callback=Ratio(month["called_back"], month["month"]),
            workload=workload, incidents_open=incidents_open, incidents=incidents, month_closed=month["month"],
        )

    def _month_facts(self, starts: dict[str, datetime]) -> dict[str, Any]:
        """Closed orders since each start (today, week, month): count, SLA met; in the month also
        reopened, called back and the mean hours to complete per order type."""
        self._fill_order_facts(min(starts.values()))
        f = OrderFact
        sums = []
        for start in starts.values():
            sums.append(func.sum(case((f.ended_at >= start, 1), else_=0)))
            sums.append(func.sum(case((and_(f.ended_at >= start, ~f.breached), 1), else_=0)))
        month = f.ended_at >= starts["month"]
        sums += [func.sum(case((and_(month, f.reopened), 1), else_=0)),
                 func.sum(case((and_(month, f.called_back), 1), else_=0)),
                 func.sum(case((month, f.seconds), else_=0.0))]
        out: dict[str, Any] = {k: 0 for p in starts for k in (p, f"{p}_met")}
        out.update(reopened=0, called_back=0, hours={})
        with self.db.read() as s:
            for row in s.execute(select(f.order_type, *sums).where(f.ended_at >= min(starts.values()))
                                 .group_by(f.order_type).order_by(f.order_type)):
                values = [int(v or 0) for v in row[1:-1]]
                for i, period in enumerate(starts):
                    out[period] += values[2 * i]
                    out[f"{period}_met"] += values[2 * i + 1]
                out["reopened"] += values[-2]
                out["called_back"] += values[-1]
                in_month = values[4]
                if in_month:
                    out["hours"][row[0] or ""] = (in_month, round(float(row[-1] or 0) / in_month / 3600, 1))
        return out

    def _fill_order_facts(self, since: datetime) -> None:
        """Compute the facts of the orders closed since ``since`` that have none yet (usually none)."""
        closed = and_(Instance.ended_at >= since, self._unindexed_status() == "completed",
                      Instance.business_key.is_not(None))
        with self.db.read() as s:
            have = s.scalar(select(func.count()).select_from(OrderFact).where(OrderFact.ended_at >= since)) or 0
            want = s.scalar(select(func.count()).select_from(Instance).where(closed)) or 0
        if have >= want:
            return
        h = aliased(HumanTask)
        breached = exists().where(h.instance_id == Instance.id, h.due_at.is_not(None),
                                  func.coalesce(h.completed_at, Instance.ended_at) > h.due_at)
        h2 = aliased(HumanTask)
        reopened = exists(select(h2.element_id).where(h2.instance_id == Instance.id, h2.group_id == DISPATCH_GROUP,
                                                       h2.status == "completed")
                          .group_by(h2.element_id).having(func.count() > 1))
        h3 = aliased(HumanTask)
        called = exists().where(h3.instance_id == Instance.id, h3.group_id == CALLBACK_GROUP, h3.status == "completed")
        seconds = _between(Instance.created_at, Instance.ended_at, self.db.is_sqlite)
        new = (select(Instance.id, Instance.ended_at, self._summary_text("order_type"), seconds, breached, reopened,
                      called)
               .where(closed, ~exists().where(OrderFact.instance_id == Instance.id)))
        columns = ["instance_id", "ended_at", "order_type", "seconds", "breached", "reopened", "called_back"]
        if self.db.is_sqlite:
            statement = insert(OrderFact).prefix_with("OR IGNORE").from_select(columns, new)
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement = pg_insert(OrderFact).from_select(columns, new).on_conflict_do_nothing()
        with self.db.write() as s:
            s.execute(statement)

    # -- heatmap -------------------------------------------------------------------------

    def heatmap(self, process_id: str, version: int | None = None) -> Heatmap:
        """How often each element of one process version ran, and the mean time spent in its user tasks.

        Engine elements are counted from the audit log, user tasks from their completions
        (time spent: from the task's creation to its completion). The counts are kept in
        ``admin_element_stat`` and brought up to date from the audit log on each call.

        :raises NotFound: the process or version is not deployed
        """
        self.refresh_element_stats()
        with self.db.read() as s:
            q = select(Definition.id, Definition.version).where(Definition.process_id == process_id)
            found = s.execute(q.order_by(Definition.version.desc())).all()
            if not found:
                raise NotFound(f"流程 {process_id} 尚未部署")
            versions = tuple(v for _id, v in found)
            definition_id = next((d for d, v in found if v == version), None) if version else found[0][0]
            if definition_id is None:
                raise NotFound(f"流程 {process_id} 没有版本 {version}")
            d = s.get(Definition, definition_id)
            names = dict(d.meta.get("names", {}))
            instances = s.scalar(select(func.count()).select_from(Instance)
                                 .where(Instance.definition_id == definition_id)) or 0
            stats = {r.element_id: [r.passes, r.timed, r.seconds] for r in s.scalars(
                select(ElementStat).where(ElementStat.definition_id == definition_id))}
            cursor = s.scalar(select(AdminCursor.last_event_id).where(AdminCursor.name == STATS_CURSOR)) or 0
            for d_id, element_id, passes, timed, seconds in _element_counts(s, cursor, None, self.db.is_sqlite):
                if d_id != definition_id:
                    continue
                row = stats.setdefault(element_id, [0, 0, 0.0])
                row[0] += passes
                row[1] += timed
                row[2] += seconds
            xml = d.sources.get(d.meta.get("file"), "")
        elements = tuple(sorted(
            (HeatElement(e, names.get(e, e), p, (sec / timed) if timed else None)
             for e, (p, timed, sec) in stats.items() if p), key=lambda h: -h.passes))
        return Heatmap(process_id, d.version, definition_id, xml, elements, instances, versions)

    def refresh_element_stats(self, *, lag: timedelta = STATS_LAG) -> int:
        """Add the audit events written since the last refresh to ``admin_element_stat``; return how many.

        Only events older than ``lag`` are folded in (on PostgreSQL a step with a lower event
        id may still be committing; none runs for minutes); :meth:`heatmap` adds the newer
        ones on the fly. Concurrent refreshes take turns on the cursor row.
        """
        from sqlalchemy.exc import IntegrityError

        try:
            return self._fold_events(self.clock.now() - lag)
        except IntegrityError:  # another process created the cursor at the same moment: it folds this time
            return 0

    def _fold_events(self, cutoff: datetime) -> int:
        with self.db.write() as s:
            q = select(AdminCursor).where(AdminCursor.name == STATS_CURSOR)
            if not self.db.is_sqlite:
                q = q.with_for_update()
            cursor = s.scalars(q).first()
            if cursor is None:
                cursor = AdminCursor(name=STATS_CURSOR, last_event_id=0)
                s.add(cursor)
                s.flush()
            upto = s.scalar(select(func.max(Event.id)).where(Event.id > cursor.last_event_id, Event.at < cutoff))
            if upto is None:
                return 0
            totals: dict[tuple[int, str], list] = {}
            for definition_id, element_id, passes, timed, seconds in _element_counts(
                    s, cursor.last_event_id, upto, self.db.is_sqlite):
                row = totals.setdefault((definition_id, element_id), [0, 0, 0.0])
                row[0] += passes
                row[1] += timed
                row[2] += seconds
            existing = {(r.definition_id, r.element_id): r for r in s.scalars(
                select(ElementStat).where(ElementStat.definition_id.in_({k[0] for k in totals})))}
            for key, (passes, timed, seconds) in totals.items():
                row = existing.get(key)
                if row is None:
                    s.add(ElementStat(definition_id=key[0], element_id=key[1], passes=passes, timed=timed,
                                      seconds=seconds))
                else:
                    row.passes += passes
                    row.timed += timed
                    row.seconds += seconds
            count = upto - cursor.last_event_id
            cursor.last_event_id = upto
            return count

    # -- reports -------------------------------------------------------------------------

    def settlement_inputs(self, month: str, *, tz: tzinfo = UTC, ref: Any = None) -> SettlementInputs:
        """The orders closed in ``month`` (company time) and the penalties recorded in it, shaped
        for :func:`tasks.settlement.monthly_settlement`.

        Per order: the technician is the order's ``technician`` (else who completed its last
        technician step); the station is that technician's in the technician list (matched by
        id or by name); the labour fee is a ``labour_fee`` entered on a step, else the fee
        schedule's labour line for the order type (plus travel out of the city); the callback
        passed when the last call-center step confirmed the service (``service_confirmed``,
        ``satisfied`` or ``callback_passed`` true); the audit passed unless a
        settlement-auditor step answered ``approved`` or ``audit_passed`` false. Penalties
        are the ``penalty_recorded`` notifications of the month.

        :raises InvalidInput: ``month`` is not ``YYYY-MM``
        """
        import re

        if not re.fullmatch(MONTH_PATTERN, month or ""):
            raise InvalidInput("月份格式应为 YYYY-MM", {"month": "月份格式应为 YYYY-MM"})
        start, end = _month_range(month, tz)
        from engine.models import User

        with self.db.read() as s:
            closed = s.execute(select(Instance.id, Instance.business_key, Instance.summary, Instance.ended_at)
                               .where(Instance.ended_at >= start, Instance.ended_at < end,
                                      self._unindexed_status() == "completed", Instance.business_key.is_not(None))
                               .order_by(Instance.id)).all()
            ids = [r.id for r in closed]
            steps: dict[int, list[tuple]] = defaultdict(list)
            for chunk in _chunks(ids, 500):
                for r in s.execute(select(HumanTask.instance_id, HumanTask.group_id, HumanTask.completed_by,
                                          HumanTask.completed_at, Event.data)
                                   .join(Event, and_(Event.task_id == HumanTask.id, Event.kind == "task_completed"))
                                   .where(HumanTask.instance_id.in_(chunk), HumanTask.status == "completed")
                                   .order_by(HumanTask.completed_at, Event.id)):
                    steps[r.instance_id].append(tuple(r))
            names = {u: d for u, d in s.execute(select(User.username, User.display_name))}
            penalty_rows = s.execute(select(Outbox.payload, Outbox.instance_id).where(
                Outbox.topic == PENALTY_TOPIC, Outbox.created_at >= start, Outbox.created_at < end)
                .order_by(Outbox.id)).all()
            technicians = _technician_stations(s)
        orders, skipped = [], []
        for r in closed:
            summary = r.summary or {}
            order = _settlement_order(r.business_key, summary, _aware(r.ended_at), steps.get(r.id, []),
                                      names, technicians, ref)
            if isinstance(order, str):
                skipped.append((r.business_key, order))
            else:
                orders.append(order)
        penalties = []
        for payload, _iid in penalty_rows:
            payload = payload if isinstance(payload, dict) else json.loads(payload or "{}")
            tech = payload.get("technician") or payload.get("technician_id")
            if not tech or payload.get("amount") is None:
                continue
            penalties.append({"technician_id": str(tech), "amount": str(payload["amount"]),
                              "waived": bool(payload.get("waived", False)),
                              "station": _station(str(tech), names, technicians),
                              "order_no": payload.get("work_order_no"), "rule": payload.get("rule"),
                              "rule_name": payload.get("rule_name"), "reason": payload.get("reason")})
        return SettlementInputs(month, tuple(orders), tuple(penalties), tuple(skipped))

    def settlement_report(self, month: str, *, tz: tzinfo = UTC) -> dict[str, Any]:
        """:func:`tasks.settlement.monthly_settlement` over :meth:`settlement_inputs`, plus the
        month's penalty entries (``penalty_lines``) and the orders that could not be settled
        (``unsettleable``).

        :raises InvalidInput: ``month`` is not ``YYYY-MM``
        """
        from tasks.settlement import monthly_settlement

        inputs = self.settlement_inputs(month, tz=tz, ref=getattr(self.script_engine, "ref", None))
        summary = monthly_settlement(month=month, orders=list(inputs.orders), penalties=list(inputs.penalties))
        summary["penalty_lines"] = list(inputs.penalties)
        summary["unsettleable"] = [{"order_no": no, "reason": why} for no, why in inputs.skipped]
        return summary

    # -- reference data ------------------------------------------------------------------

    def reference_rows(self, kind: str, *, search: str | None = None, page: int = 1,
                       per_page: int = 50) -> Page:
        """Rows of one kind of reference data as dicts of their CSV columns, by key.

        :raises InvalidInput: unknown kind
        """
        from engine.reference import KINDS
        from tasks.refcsv import HEADERS

        if kind not in KINDS:
            raise InvalidInput(f"未知的参考数据类型 {kind!r}", {"kind": "未知的参考数据类型"})
        table = KINDS[kind].table
        columns = [c for c in table.__table__.columns if c.name in HEADERS[kind] or c.name in _REF_COLUMN_ALIASES]
        conds = []
        if search:
            like = f"%{_escape_like(search.strip())}%"
            conds.append(or_(*[c.like(like, escape="\\") for c in columns if _is_text(c)]))
        per_page = max(1, min(per_page, 500))
        page = max(1, page)
        key_columns = list(table.__table__.primary_key.columns)
        with self.db.read() as s:
            total = s.scalar(select(func.count()).select_from(table).where(*conds)) or 0
            rows = s.scalars(select(table).where(*conds).order_by(*key_columns)
                             .offset((page - 1) * per_page).limit(per_page)).all()
            items = tuple(_ref_dict(kind, r) for r in rows)
        return Page(items, total, page, per_page)

    def reference_csv(self, kind: str) -> str:
        """One kind of reference data as CSV text in the import format (for download and re-import)."""
        import csv
        import io

        from engine.reference import KINDS
        from tasks.refcsv import HEADERS

        if kind not in KINDS:
            raise InvalidInput(f"未知的参考数据类型 {kind!r}", {"kind": "未知的参考数据类型"})
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADERS[kind])
        with self.db.read() as s:
            for row in s.scalars(select(KINDS[kind].table)):
                item = _ref_dict(kind, row)
                writer.writerow([_csv_cell(item.get(h)) for h in HEADERS[kind]])
        return out.getvalue()

    def staff(self) -> list:
        """Every user, active or not, with groups and roles (:class:`engine.results.UserView`)."""
        from engine.models import Membership, User
        from engine.results import UserView

        with self.db.read() as s:
            members: dict[int, list[str]] = defaultdict(list)
            for user_id, gid in s.execute(select(Membership.user_id, Membership.group_id)):
                members[user_id].append(gid)
            return [UserView(u.username, u.display_name, tuple(sorted(members.get(u.id, ()))),
                             tuple(r for r in u.roles.split(",") if r), u.phone, u.active)
                    for u in s.scalars(select(User).order_by(User.active.desc(), User.username))]

    def group_sizes(self) -> dict[str, int]:
        """Group id -> number of active members."""
        from engine.models import Membership, User

        with self.db.read() as s:
            return {g: n for g, n in s.execute(
                select(Membership.group_id, func.count()).join(User, User.id == Membership.user_id)
                .where(User.active.is_(True)).group_by(Membership.group_id))}


# -- helpers ---------------------------------------------------------------------------------

_ROW_COLUMNS = (Instance.id, Instance.definition_id, Instance.process_id, Instance.business_key, Instance.status,
                Instance.summary, Instance.customer_phone, Instance.created_at, Instance.updated_at, Instance.ended_at)
_REF_COLUMN_ALIASES = {"start_date", "end_date"}


def _instance_row(r, versions) -> InstanceRow:
    summary = r.summary if isinstance(r.summary, dict) else json.loads(r.summary or "{}")
    return InstanceRow(
        id=r.id, process_id=r.process_id, version=versions.get(r.definition_id, ("", 0))[1],
        business_key=r.business_key, status=r.status, customer_name=summary.get("customer_name"),
        customer_phone=r.customer_phone or summary.get("customer_phone"), order_type=summary.get("order_type"),
        technician=summary.get("technician"), created_at=r.created_at, updated_at=r.updated_at, ended_at=r.ended_at,
    )


def _live_data(workflow, runtime) -> dict:
    """The data the next step runs with: a failed engine step's (an admin edits it before a retry),
    else the engine's usual current data."""
    from SpiffWorkflow.util.task import TaskState

    failed = [t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
    return failed[0].data if failed else runtime.current_data(workflow)


def _tree(workflow, names: dict[str, str]):
    from SpiffWorkflow.util.task import TaskState

    def walk(task, depth):
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        shown = bpmn_id is not None and not (task.state & TaskState.PREDICTED_MASK) and task.state != TaskState.FUTURE
        if shown:
            changed = datetime.fromtimestamp(task.last_state_change, UTC) if task.last_state_change else None
            yield TreeNode(depth, bpmn_id, names.get(bpmn_id) or getattr(spec, "bpmn_name", None) or bpmn_id,
                           TaskState.get_name(task.state), changed)
        for child in task.children:
            yield from walk(child, depth + (1 if shown else 0))
        sub = workflow.subprocesses.get(task.id)
        if sub is not None:
            yield from walk(sub.task_tree, depth + 1)

    yield from walk(workflow.task_tree, 0)


def _between(start, end, sqlite: bool):
    """Seconds from ``start`` to ``end`` (two datetime columns)."""
    if sqlite:
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _seconds(sqlite: bool):
    if sqlite:
        return (func.julianday(HumanTask.completed_at) - func.julianday(HumanTask.created_at)) * 86400.0
    return func.extract("epoch", HumanTask.completed_at - HumanTask.created_at)


def _element_counts(s, after: int, upto: int | None, sqlite: bool):
    """(definition id, element id, passes, timed, seconds) from the events ``after < id <= upto``.

    The statements start from the event id range (a primary-key range) and look instances
    and tasks up by key; filtering by definition here would let SQLite walk every instance.
    """
    window = [Event.id > after] + ([Event.id <= upto] if upto is not None else [])
    # unary + keeps the planner off the event's instance index (so it walks the id range)
    by_instance = Instance.id == literal_column("+event.instance_id")
    engine_runs: Counter = Counter()
    for d_id, data in s.execute(select(Instance.definition_id, Event.data)
                                .select_from(Event).join(Instance, by_instance)
                                .where(*window, Event.kind == "elements")):
        if isinstance(data, str):
            data = json.loads(data)
        for element_id in (data or {}).get("ran", ()):
            engine_runs[(d_id, element_id)] += 1
    rows = s.execute(select(Instance.definition_id, HumanTask.element_id, func.count(),
                            func.sum(_seconds(sqlite)))
                     .select_from(Event)
                     .join(HumanTask, HumanTask.id == Event.task_id)
                     .join(Instance, by_instance)
                     .where(*window, Event.kind == "task_completed")
                     .group_by(Instance.definition_id, HumanTask.element_id)).all()
    out = [(d_id, e, n, 0, 0.0) for (d_id, e), n in engine_runs.items()]
    out += [(d_id, e, n, n, float(sec or 0.0)) for d_id, e, n, sec in rows]
    return out


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _month_range(month: str, tz: tzinfo) -> tuple[datetime, datetime]:
    year, mon = int(month[:4]), int(month[5:7])
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _technician_stations(s) -> dict[str, str]:
    """Technician id and name -> station, from the technician list."""
    from engine.reference import RefTechnician

    out = {}
    for tid, name, station in s.execute(select(RefTechnician.technician_id, RefTechnician.name,
                                               RefTechnician.station)):
        out[tid] = station
        out.setdefault(name, station)
    return out


def _station(tech: str, names: dict[str, str], stations: dict[str, str]) -> str:
    if tech in stations:
        return stations[tech]
    display = names.get(tech, "")
    for name, station in stations.items():
        if name and (display == name or display.endswith(" " + name) or display.endswith(name)):
            return station
    return "未登记站点"


def _settlement_order(order_no, summary, ended_at, steps, names, stations, ref):
    """One order for monthly_settlement, or the reason it cannot be settled."""
    data: dict[str, Any] = {}
    callback = None
    audit = True
    last_tech = None
    for _iid, group, completed_by, _at, step_data in steps:
        step = step_data if isinstance(step_data, dict) else json.loads(step_data or "{}")
        data.update(step)
        if group == CALLBACK_GROUP:
            callback = any(step.get(k) is True for k in ("service_confirmed", "satisfied", "callback_passed"))
        if group == "settlement_auditor" and any(step.get(k) is False for k in ("approved", "audit_passed")):
            audit = False
        if group == TECHNICIAN_GROUP:
            last_tech = completed_by
    tech = summary.get("technician") or data.get("technician") or last_tech
    if not tech:
        return "没有技术员"
    fee = data.get("labour_fee")
    if fee is None:
        fee = _schedule_labour(ref, summary.get("order_type"), summary.get("zone"))
    if fee is None:
        return "收费标准中没有该工单类型的人工费"
    return {"order_no": order_no, "station": _station(str(tech), names, stations), "technician_id": str(tech),
            "labour_fee": str(fee), "callback_passed": bool(callback), "audit_passed": audit,
            "completed_at": ended_at.isoformat()}


def _schedule_labour(ref, order_type, zone) -> Decimal | None:
    if ref is None or not order_type:
        return None
    schedule = ref.fee_schedule(order_type)
    if schedule is None:
        return None
    labour = getattr(schedule, "labour", None)
    travel = getattr(schedule, "travel", None)
    if labour is None:
        return None
    amount = Decimal(labour.unit_price)
    if zone == "out_of_city" and travel is not None:
        amount += Decimal(travel.unit_price)
    return amount


def _ref_dict(kind: str, row) -> dict[str, Any]:
    from engine.reference import KINDS

    out = dict(_fields(KINDS[kind].record(row)))
    if kind == "contract":
        out["start_date"], out["end_date"] = out.pop("start", None), out.pop("end", None)
    if kind == "technician":
        out["skills"] = ";".join(sorted(out.get("skills") or ()))
    return out


def _fields(record):
    from dataclasses import fields

    return [(f.name, getattr(record, f.name)) for f in fields(record)]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _is_text(column) -> bool:
    from sqlalchemy import String, Text

    return isinstance(column.type, String | Text) and not hasattr(column.type, "load_dialect_impl")


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
