"""The engine facade: every verb the web app, the API and the worker use.

Each write verb is one transaction: lock the instance, load the workflow (from the
in-process cache when its version matches the row, else from the stored state), act, run
engine steps, store the new state with ``version + 1`` and update the projections. A
failure in an engine task rolls everything back; the step is then replayed up to just
before the failing task and stored with an incident, so the user's own action is kept and
an admin can ``retry`` after fixing the data.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine import clock as clockmod
from engine import fastsql, forms, identity, runtime, views
from engine.admin_ops import AdminOps
from engine.admin_queries import AdminQueries
from engine.channels import Channels
from engine.clock import Clock
from engine.db import Database
from engine.deploy import Validator, read_directory
from engine.errors import Conflict, EngineError, InvalidInput, NotAllowed, NotFound
from engine.modeling import Modeling
from engine.models import (
    Definition,
    Event,
    HumanTask,
    Incident,
    Instance,
    Job,
    MessageSubscription,
    Outbox,
    TaskArchive,
)
from engine.people import People
from engine.queries import Queries
from engine.reference import ReferenceAdmin
from engine.results import SYSTEM, Actor, DefinitionView, DeployResult, IncidentView, StepResult, TaskRef
from engine.runtime import EngineFailure, Runner, StopBefore
from engine.spiff import ScriptEngine, StateSerializer, Workflow
from engine.web_queries import WebQueries

ACTIVE = ("running", "waiting")
ROUTE_LEASE = timedelta(seconds=60)  # how long a message being routed to a process start is held

# Hot-path statements are built once: building SQLAlchemy statements per call costs more
# than running them on SQLite.
_LOCK = select(Instance.id, Instance.status, Instance.version, Instance.definition_id, Instance.business_key,
               Instance.process_id, Instance.ended_at).where(Instance.id == bindparam("iid"))
_LOCK_PG = _LOCK.with_for_update()
_LOCK_PG_SKIP = _LOCK.with_for_update(skip_locked=True)
_STATE = select(Instance.state).where(Instance.id == bindparam("iid"))
_BUMP_COLUMNS = ("state", "status", "updated_at", "summary", "ended_at", "business_key", "customer_phone",
                 "serial_no")


@dataclass
class _Head:
    """The small columns of a locked instance row (its state is read only when needed)."""

    id: int
    status: str
    version: int
    definition_id: int
    business_key: str | None
    process_id: str
    ended_at: datetime | None


@dataclass
class StepContext:
    session: Connection  # the step's connection (engine.db.Database.step)
    head: _Head
    meta: dict[str, Any]
    actor: Actor
    now: datetime
    completed: set[str] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: list[TaskRef] = field(default_factory=list)

    def log(self, kind: str, *, element_id=None, task_id=None, data=None) -> None:
        self.events.append(dict(kind=kind, element_id=element_id, task_id=task_id, data=data))


@dataclass
class _Loaded:
    spec: Any
    subprocess_specs: dict
    meta: dict[str, Any]
    forms: dict[str, dict]
    version: int
    process_id: str


class Engine(Queries, People, WebQueries, ReferenceAdmin, Channels, AdminQueries, AdminOps, Modeling):
    """Durable SpiffWorkflow execution over SQLAlchemy.

    :param db: the database
    :param clock: time source (a :class:`engine.clock.FakeClock` in tests)
    :param ref: read-only reference data handed to service operators
    :param cache_size: how many live workflows to keep in memory
    """

    def __init__(self, db: Database, *, clock: Clock | None = None, ref: Any = None,
                 cache_size: int = 1000, script_time_limit: float = 1.0) -> None:
        self.db = db
        self.clock = clock or Clock()
        self.serializer = StateSerializer()
        self.fast = fastsql.FastSQL(db.write_engine.dialect.name)
        self._ready_watch = runtime.ReadyWatch()
        self.script_engine = ScriptEngine(self.clock.now, ref, script_time_limit)
        self._definitions: dict[int, _Loaded] = {}
        self._cache: OrderedDict[int, tuple[int, BpmnWorkflow, runtime.Snapshot]] = OrderedDict()
        self._cache_size = cache_size
        self._fresh: dict[int, BpmnWorkflow] = {}  # started in this transaction, not yet stored
        self._lock = threading.Lock()
        clockmod.install_timer_clock()

    # -- deployment ------------------------------------------------------------------------

    def deploy_directory(self, path: str, actor: Actor = SYSTEM) -> DeployResult:
        """Validate and deploy every file below ``path`` (see :meth:`deploy`)."""
        return self.deploy(read_directory(path), actor)

    def deploy(self, files: dict[str, bytes], actor: Actor = SYSTEM) -> DeployResult:
        """Validate ``files`` and store a new version of each changed executable process.

        :raises DeployError: listing every problem; nothing is stored then
        """
        with self.db.read() as s:
            groups = identity.group_names(s)
        bundles = Validator(groups).bundles(files)
        deployed, unchanged = [], []
        with self.db.write() as s:
            for b in bundles:
                latest = s.scalars(
                    select(Definition).where(Definition.process_id == b.process_id)
                    .order_by(Definition.version.desc()).limit(1)
                ).first()
                if latest is not None and latest.sha256 == b.sha256:
                    unchanged.append(views.definition(latest))
                    continue
                d = Definition(
                    process_id=b.process_id, name=b.name, version=(latest.version + 1) if latest else 1,
                    sha256=b.sha256, sources=b.sources, spec=b.spec, meta=b.meta,
                    deployed_by=actor.username, deployed_at=self.clock.now(),
                )
                s.add(d)
                s.flush()
                s.add(Event(instance_id=None, at=self.clock.now(), actor=actor.username, kind="deployed",
                            data={"process_id": b.process_id, "version": d.version, "sha256": b.sha256}))
                deployed.append(views.definition(d))
        return DeployResult(tuple(deployed), tuple(unchanged))

    def definitions(self) -> list[DefinitionView]:
        with self.db.read() as s:
            return [views.definition(d) for d in s.scalars(
                select(Definition).order_by(Definition.process_id, Definition.version))]

    def _definition(self, session: Session, definition_id: int) -> _Loaded:
        loaded = self._definitions.get(definition_id)
        if loaded is None:
            d = session.execute(select(Definition.spec, Definition.sources, Definition.meta, Definition.version,
                                       Definition.process_id).where(Definition.id == definition_id)).first()
            if d is None:
                raise NotFound(f"流程定义 {definition_id} 不存在")
            spec, subs = self.serializer.load_spec(d.spec)
            form_texts = {
                name[len("forms/"):]: json.loads(text) for name, text in d.sources.items() if name.startswith("forms/")
            }
            self._ready_watch.watch([spec, *subs.values()])
            loaded = _Loaded(spec, subs, d.meta, form_texts, d.version, d.process_id)
            self._definitions[definition_id] = loaded
        return loaded

    # -- instance cache --------------------------------------------------------------------

    def _take(self, s: Session, head: _Head, loaded: _Loaded) -> tuple[BpmnWorkflow, runtime.Snapshot]:
        """The workflow at the row's version and what it waits for (from the cache when current)."""
        with self._lock:
            cached = self._cache.pop(head.id, None)
        if cached is not None and cached[0] == head.version:
            return cached[1], cached[2]
        workflow = self._load_stored(s, head, loaded)
        return workflow, runtime.snapshot(workflow)

    def _load_stored(self, s: Session, head: _Head, loaded: _Loaded) -> BpmnWorkflow:
        return self._stored_workflow(s, head.id, loaded)

    def _stored_workflow(self, s, instance_id: int, loaded: _Loaded) -> BpmnWorkflow:
        """The instance's workflow as stored: its state plus its archived task records."""
        if isinstance(s, Connection):
            state = self.fast.one(s, fastsql.STATE, (instance_id,))[0]
            cur = s.connection.driver_connection.cursor()
            try:
                cur.execute(self.fast._sql(fastsql.ARCHIVED), (instance_id,))
                archived = [row[0] for row in cur.fetchall()]
            finally:
                cur.close()
        else:
            state = s.execute(_STATE, {"iid": instance_id}).scalar()
            archived = list(s.scalars(select(TaskArchive.record).where(TaskArchive.instance_id == instance_id)
                                      .order_by(TaskArchive.seq)))
        workflow = self.serializer.load_state(state, loaded.spec, loaded.subprocess_specs, archived)
        workflow.script_engine = self.script_engine
        return workflow

    def _put(self, instance_id: int, version: int, workflow: BpmnWorkflow,
             snap: runtime.Snapshot | None = None) -> None:
        with self._lock:
            self._cache[instance_id] = (version, workflow, snap or runtime.snapshot(workflow))
            self._cache.move_to_end(instance_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _drop(self, instance_id: int) -> None:
        with self._lock:
            self._cache.pop(instance_id, None)

    # -- the step machinery ----------------------------------------------------------------

    @contextmanager
    def _timers_on(self, now: datetime):
        token = clockmod.activate(_Fixed(now))
        try:
            yield
        finally:
            clockmod.deactivate(token)

    def _lock_instance(self, s: Session, instance_id: int, *, skip_locked: bool = False) -> _Head | None:
        """Lock the instance row (PostgreSQL) and read its small columns, not its state."""
        if isinstance(s, Connection) and not skip_locked:
            found = self.fast.one(s, fastsql.LOCK + ("" if self.db.is_sqlite else " FOR UPDATE"), (instance_id,))
        else:
            q = _LOCK if self.db.is_sqlite else (_LOCK_PG_SKIP if skip_locked else _LOCK_PG)
            found = s.execute(q, {"iid": instance_id}).first()
        if found is None:
            if skip_locked:
                return None
            raise NotFound(f"流程实例 {instance_id} 不存在")
        return _Head(*found)

    def _bump(self, s: Session, head: _Head, **values) -> None:
        """Write the instance row with ``version + 1``; a lost race is a :class:`Conflict`."""
        if isinstance(s, Connection):
            count = self.fast.bump(s, head.id, head.version, values)
        else:
            count = s.execute(_bump_statement(tuple(sorted(values))),
                              {"b_id": head.id, "b_version": head.version,
                               **{f"v_{k}": v for k, v in values.items()}}).rowcount
        if count != 1:
            raise Conflict("工单已被他人同时修改，请刷新后重试")
        head.version += 1
        for key, value in values.items():
            if hasattr(head, key):
                setattr(head, key, value)

    def _task_lookup(self, task_id: str) -> tuple[Callable, dict[str, Any]]:
        """``find`` for :meth:`_step`: reads the task's head (kept in ``seen["task"]``) and names its instance."""
        seen: dict[str, Any] = {}

        def find(s) -> int:
            ht = self.fast.one(s, fastsql.TASK_HEAD, (task_id,))
            if ht is None:
                raise NotFound("任务不存在")
            seen["task"] = _TaskHead(*ht)
            return ht[1]

        return find, seen

    def _step(self, instance_id: int | None, actor: Actor, action: Callable, *,
              allowed: tuple[str, ...] = ACTIVE, find: Callable | None = None,
              now: datetime | None = None, advance: bool = True) -> StepResult:
        """Run ``action(workflow, ctx, loaded)`` plus engine steps as one transaction (see module doc)."""
        now = now or self.clock.now()
        try:
            return self._attempt(instance_id, actor, action, allowed, find, now, stop_at=None, advance=advance)
        except EngineFailure as failure:
            if instance_id is not None:
                self._drop(instance_id)
            return self._attempt(instance_id, actor, action, allowed, find, now, stop_at=failure)
        except OperationalError as exc:
            if instance_id is not None:
                self._drop(instance_id)
            if _is_lock_error(exc):
                raise Conflict("工单正被他人处理，请稍后重试") from None
            raise

    def _attempt(self, instance_id, actor, action, allowed, find, now, stop_at: EngineFailure | None,
                 advance: bool = True):
        with self._timers_on(now), self.db.step() as s:
            if find is not None:
                instance_id = find(s)
            head = self._lock_instance(s, instance_id)
            if head.status not in allowed:
                raise Conflict(f"流程实例状态为 {views.STATUS_NAMES.get(head.status, head.status)}，不能执行此操作")
            loaded = self._definition(s, head.definition_id)
            fresh = self._fresh.pop(head.id, None)  # started in this very transaction
            if fresh is not None:
                workflow, before = fresh, runtime.Snapshot()
            elif stop_at is None:
                workflow, before = self._take(s, head, loaded)
            else:
                workflow = self._load_stored(s, head, loaded)
                before = runtime.snapshot(workflow)
            workflow.script_engine = self.script_engine
            ctx = StepContext(s, head, loaded.meta, actor, now)
            token = self._ready_watch.start()
            try:
                action(workflow, ctx, loaded)
                result, after = self._run_and_save(s, head, workflow, ctx, stop_at, before, advance)
            finally:
                self._ready_watch.stop(token)
        # only committed states enter the cache: (id, version) then names exactly one state
        self._put(result.instance_id, result.version, workflow, after)
        return result

    def _run_and_save(self, s: Session, head: _Head, workflow, ctx: StepContext,
                      stop_at: EngineFailure | None, before: runtime.Snapshot, advance: bool = True):
        runner = Runner(stop_at=(stop_at.spec_name, stop_at.occurrence) if stop_at else None)
        stopped = False
        try:
            if advance:
                runner.run(workflow)
        except StopBefore:
            stopped = True
        incident = None
        if runner.sla_pause is not runtime.NOT_SET:
            change = runtime.pause_deadlines(workflow, runner.sla_pause, ctx.now)
            if change is not None:
                ctx.log(change.pop("kind"), data=change)
        after = runtime.snapshot(workflow, before, self._ready_watch.seen())
        if not advance:  # a data repair: the instance stays where and as it is
            status = head.status
        elif stopped:
            incident = self._record_incident(s, head, stop_at, ctx)
            status = "error"
        else:
            status = runtime.status_of(workflow, after)
            if head.status == "error":
                self._resolve_incidents(s, head, ctx)
        self._project(s, head, workflow, ctx, runner, status, before, after)
        result = StepResult(head.id, head.status, head.version, incident, tuple(ctx.open_tasks))
        return result, after

    def _project(self, s: Session, head: _Head, workflow, ctx: StepContext, runner: Runner, status: str,
                 before: runtime.Snapshot, after: runtime.Snapshot) -> None:
        state, archive = self.serializer.dump_live(workflow)
        values: dict[str, Any] = dict(state=state, status=status, updated_at=ctx.now)
        if status == "completed" and head.ended_at is None:
            values["ended_at"] = ctx.now
            ctx.log("completed")
        data = runtime.current_data(workflow, after)
        summary = runtime.summary_of(data)
        known = before.summary  # what the row holds (None: unknown)
        if summary != known:
            values["summary"] = summary
            for column in ("customer_phone", "serial_no"):
                if known is None or summary.get(column) != known.get(column):
                    values[column] = _short(summary.get(column))
        after.summary = summary
        if head.business_key is None and summary.get("work_order_no"):
            values["business_key"] = str(summary["work_order_no"])
        self._bump(s, head, **values)
        if archive:
            first = len(workflow.__dict__["_paigong_archived"]) - len(archive)
            self.fast.many(s, fastsql.ARCHIVE, [(head.id, first + i, text) for i, (_tid, text) in enumerate(archive)])
        self._sync_tasks(s, head, ctx, before, after)
        self._sync_waits(s, head, before, after)
        for event in workflow.get_events():
            self._emit(s, head, event, ctx)
        if runner.ran:  # one row per step; history() shows one event per element
            ctx.log("elements", data={"ran": runner.ran})
        if ctx.outbox:
            s.execute(Outbox.__table__.insert(), ctx.outbox)
        if ctx.events:
            self.fast.insert_events(s, [
                dict(instance_id=head.id, at=ctx.now, actor=ctx.actor.username, **e) for e in ctx.events
            ])

    def _sync_tasks(self, s: Session, head: _Head, ctx: StepContext, before, after) -> None:
        gone = [tid for tid in before.ready if tid not in after.ready and tid not in ctx.completed]
        if gone:
            s.execute(update(HumanTask).where(HumanTask.id.in_(gone), HumanTask.status == "open")
                      .values(status="cancelled", completed_at=ctx.now))
            for tid in gone:
                ctx.log("task_cancelled", element_id=before.ready[tid].task_spec.bpmn_id, task_id=tid)
        lanes = ctx.meta.get("lanes", {})
        rows = []
        for task_id, task in after.ready.items():
            bpmn_id = task.task_spec.bpmn_id
            name = task.task_spec.bpmn_name or bpmn_id
            group = runtime.group_of(task, lanes) or "admin"
            ctx.open_tasks.append(TaskRef(task_id, bpmn_id, name, group))
            if task_id in before.ready:
                continue
            data = task.data
            props = ctx.meta.get("task_props", {}).get(bpmn_id, {})
            assignee = self._evaluate_prop(task, props.get("assignee"))
            due = self._evaluate_prop(task, props.get("dueDate"))
            due_at = _parse_time(due) if due else runtime.deadline_for(task)
            assignee = str(assignee) if assignee else None
            rows.append(dict(
                id=task_id, instance_id=head.id, process_id=head.process_id, element_id=bpmn_id,
                name=name, group_id=group, assignee=assignee, status="open",
                form=ctx.meta.get("forms", {}).get(bpmn_id), due_at=due_at, created_at=ctx.now,
                **{k: _short(data.get(k)) for k in runtime.WORK_ORDER_FIELDS},
            ))
            ctx.log("task_created", element_id=bpmn_id, task_id=task_id,
                    data={"assignee": assignee} if assignee else None)
        if rows:
            self.fast.insert_tasks(s, rows)

    def _evaluate_prop(self, task, expression: str | None):
        if not expression:
            return None
        try:
            return self.script_engine.evaluate(task, expression)
        except Exception:
            return None  # an unset variable leaves the task unassigned / without due time

    def _sync_waits(self, s, head: _Head, before, after) -> None:
        fast = self.fast
        for task_id, (_element, due) in before.timers.items():
            if task_id not in after.timers:
                fast.run(s, fastsql.DELETE_TIMER, (head.id, task_id))
            elif after.timers[task_id][1] != due:
                fast.run(s, fastsql.MOVE_TIMER, (fast.time(after.timers[task_id][1]), head.id, task_id))
        new_jobs = [(head.id, tid, element_id, fast.time(due))
                    for tid, (element_id, due) in after.timers.items() if tid not in before.timers]
        if new_jobs:
            fast.many(s, fastsql.NEW_TIMER, new_jobs)
        old, new = set(before.messages.values()), set(after.messages.values())
        for element_id, name in old - new:
            fast.run(s, fastsql.DELETE_SUBSCRIPTION, (head.id, element_id, name))
        subs = [(head.id, name, head.business_key, element_id) for element_id, name in new - old]
        if subs:
            fast.many(s, fastsql.NEW_SUBSCRIPTION, subs)

    def _emit(self, s: Session, head: _Head, event, ctx: StepContext) -> None:
        definition = event.event_definition
        kind = type(definition).__name__
        payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
        payload = json.loads(json.dumps(payload, default=str))
        if "Message" in kind:
            ctx.outbox.append(dict(instance_id=head.id, topic=definition.name, payload=payload, status="pending",
                                   attempts=0, next_attempt_at=ctx.now, created_at=ctx.now))
            ctx.log("message_sent", data={"name": definition.name})
        else:
            ctx.log("event_unhandled", data={"type": kind, "name": getattr(definition, "name", None)})

    def _record_incident(self, s, head: _Head, failure: EngineFailure, ctx: StepContext) -> IncidentView:
        existing = s.execute(select(Incident.id, Incident.attempts, Incident.created_at).where(
            Incident.instance_id == head.id, Incident.resolved_at.is_(None),
            Incident.element_id == failure.element_id)).first()
        if existing is not None:
            incident_id, attempts, created = existing.id, existing.attempts + 1, existing.created_at
            s.execute(update(Incident).where(Incident.id == incident_id)
                      .values(attempts=attempts, message=failure.message, traceback=failure.trace))
        else:
            attempts, created = 1, ctx.now
            incident_id = s.execute(Incident.__table__.insert().returning(Incident.id).values(
                instance_id=head.id, element_id=failure.element_id, element_name=failure.element_name,
                message=failure.message, traceback=failure.trace, attempts=1, created_at=ctx.now)).scalar()
        if attempts <= failure.retries:
            delay = timedelta(seconds=30 * (failure.backoff ** (attempts - 1)))
            s.execute(Job.__table__.insert().values(instance_id=head.id, kind="retry", element_id=failure.element_id,
                                                     due_at=ctx.now + delay, status="pending", attempts=0))
        ctx.log("incident", element_id=failure.element_id, data={"message": failure.message[:2000]})
        return IncidentView(incident_id, head.id, failure.element_id, failure.element_name, failure.message,
                            failure.trace, attempts, created, None)

    def _resolve_incidents(self, s: Session, head: _Head, ctx: StepContext) -> None:
        s.execute(update(Incident).where(Incident.instance_id == head.id, Incident.resolved_at.is_(None))
                  .values(resolved_at=ctx.now, resolved_by=ctx.actor.username))
        s.execute(delete(Job).where(Job.instance_id == head.id, Job.kind == "retry"))
        ctx.log("incident_resolved")

    # -- write verbs -----------------------------------------------------------------------

    def start(self, process_id: str, data: dict[str, Any] | None = None, *, actor: Actor = SYSTEM,
              business_key: str | None = None, message: str | None = None) -> StepResult:
        """Start the latest version of ``process_id`` with ``data`` as its initial task data.

        With ``message`` the instance starts at the process's message start event of that
        name (its other start events are not taken) and ``data`` is also the message payload.

        :raises NotFound: the process is not deployed, or has no message start event ``message``
        :raises InvalidInput: ``data`` is not a JSON object or uses a reserved name
        """
        data = _check_data(data or {})
        now = self.clock.now()
        created: dict[str, Any] = {}

        def find(s: Session) -> int:
            if "id" in created:
                return created["id"]
            latest = self.fast.one(s, fastsql.LATEST_DEFINITION, (process_id,))
            if latest is None:
                raise NotFound(f"流程 {process_id} 尚未部署")
            definition_id, _process, version = latest
            loaded = self._definition(s, definition_id)
            workflow = Workflow(loaded.spec, loaded.subprocess_specs, script_engine=self.script_engine)
            workflow.task_tree.data.update(json.loads(json.dumps(data)))
            if message is not None:
                catcher = runtime.open_at_message_start(workflow, message)
                if catcher is None:
                    raise NotFound(f"流程 {process_id} 没有消息开始事件 {message}")
                workflow.catch(BpmnEvent(catcher.task_spec.event_definition, json.loads(json.dumps(data)), {}))
            key = business_key or (str(data["work_order_no"]) if data.get("work_order_no") else None)
            stamp = self.fast.time(now)
            new_id = self.fast.one(s, fastsql.NEW_INSTANCE, (
                definition_id, process_id, key, _short(data.get("customer_phone")), _short(data.get("serial_no")),
                actor.username, stamp, stamp))[0]
            started = {"process_id": process_id, "version": version}
            if message is not None:
                started["message"] = message
            self.fast.insert_events(s, [dict(instance_id=new_id, at=now, actor=actor.username, kind="started",
                                             data=started)])
            self._fresh[new_id] = workflow
            created["id"] = new_id
            return new_id

        def nothing(workflow, ctx, loaded) -> None:
            return None

        try:
            return self._attempt(None, actor, nothing, ACTIVE, find, now, stop_at=None)
        except EngineFailure as failure:
            self._fresh.pop(created.pop("id", None), None)  # rolled back: create the row again
            return self._attempt(None, actor, nothing, ACTIVE, find, now, stop_at=failure)
        finally:
            self._fresh.pop(created.get("id"), None)

    def complete(self, task_id: str, data: dict[str, Any] | None, *, actor: Actor) -> StepResult:
        """Complete an open user task with form ``data``.

        :raises NotFound: no such task
        :raises NotAllowed: the actor may not complete it
        :raises Conflict: it was completed, cancelled or changed meanwhile
        :raises InvalidInput: the data fails the task's form, with per-field errors
        """
        data = _check_data(data or {})

        find, seen = self._task_lookup(task_id)

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            ht = seen["task"]
            _check_open(ht)
            _check_may_work(ht, ctx.actor)
            if ht.form and ht.form in loaded.forms:
                forms.validate(loaded.forms[ht.form], data)
            # assignee may have changed since the read above (group_id never does): re-check in the UPDATE
            me = ctx.actor.username
            done = self.fast.run(ctx.session, fastsql.COMPLETE_TASK, (
                self.fast.time(ctx.now), me, me, task_id, me, self.fast.flag(ht.group_id in ctx.actor.groups)))
            if done != 1:
                fresh = _TaskHead(*self.fast.one(ctx.session, fastsql.TASK_HEAD, (task_id,)))
                _check_open(fresh)
                _check_may_work(fresh, ctx.actor)
                raise Conflict("任务已被他人处理")
            task = workflow.get_task_from_id(UUID(task_id))
            if task is None or task.state != TaskState.READY:
                raise Conflict("任务已不在待办状态")
            task.data.update(json.loads(json.dumps(data)))
            task.run()
            ctx.completed.add(task_id)
            ctx.log("task_completed", element_id=ht.element_id, task_id=task_id, data=data)

        return self._step(None, actor, act, find=find, allowed=ACTIVE + ("error",))

    def claim(self, task_id: str, *, actor: Actor) -> None:
        """Take an unassigned task of one of the actor's groups.

        :raises Conflict: someone else holds it or it is done
        """
        with self.db.write() as s:
            ht = _get_task(s, task_id)
            _check_open(ht)
            if ht.group_id not in actor.groups:
                raise NotAllowed("只有该任务所属组的成员可以签收")
            if ht.assignee == actor.username:
                return
            done = s.execute(update(HumanTask).where(
                HumanTask.id == task_id, HumanTask.status == "open", HumanTask.assignee.is_(None))
                .values(assignee=actor.username, claimed_at=self.clock.now()))
            if done.rowcount != 1:
                raise Conflict("任务已被他人签收")
            s.add(Event(instance_id=ht.instance_id, at=self.clock.now(), actor=actor.username, kind="task_claimed",
                        element_id=ht.element_id, task_id=task_id))

    def unclaim(self, task_id: str, *, actor: Actor) -> None:
        """Give a task back to its group's queue."""
        with self.db.write() as s:
            ht = _get_task(s, task_id)
            _check_open(ht)
            if ht.assignee != actor.username and not _may_dispatch(actor):
                raise NotAllowed("只能退回自己签收的任务")
            ht.assignee = None
            ht.claimed_at = None
            s.add(Event(instance_id=ht.instance_id, at=self.clock.now(), actor=actor.username,
                        kind="task_unclaimed", element_id=ht.element_id, task_id=task_id))

    def reassign(self, task_id: str, to_user: str, *, actor: Actor, reason: str) -> None:
        """Hand a task to a named member of its group, with a reason for the audit log.

        When the task's assignee comes from a process variable (``assignee`` property naming
        a variable, e.g. ``technician``), that variable changes too, so the later tasks of
        the order follow the new person.

        :raises NotAllowed: the actor is not a dispatcher, an admin or the current assignee
        :raises InvalidInput: no reason, or the target is not an active member of the group
        """
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("请填写改派原因", {"reason": "必填"})
        find, seen = self._task_lookup(task_id)

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            ht = seen["task"]
            _check_open(ht)
            if not (_may_dispatch(ctx.actor) or ht.assignee == ctx.actor.username):
                raise NotAllowed("只有调度、管理员或当前处理人可以改派")
            groups = _active_groups(ctx.session, to_user)
            if groups is None:
                raise InvalidInput("用户不存在或已停用", {"to_user": "用户不存在或已停用"})
            if ht.group_id not in groups:
                raise InvalidInput("该用户不属于任务所在的组", {"to_user": "该用户不属于任务所在的组"})
            done = ctx.session.execute(update(HumanTask).where(HumanTask.id == task_id, HumanTask.status == "open")
                                       .values(assignee=to_user, claimed_at=ctx.now)).rowcount
            if done != 1:
                raise Conflict("任务已被他人处理")
            data = {"from": ht.assignee, "to": to_user, "reason": reason}
            variable = (ctx.meta.get("task_props", {}).get(ht.element_id) or {}).get("assignee")
            task = workflow.get_task_from_id(UUID(task_id))
            if variable and variable.isidentifier() and task is not None and task.state == TaskState.READY:
                task.data[variable] = to_user
            ctx.log("task_reassigned", element_id=ht.element_id, task_id=task_id, data=data)

        self._step(None, actor, act, find=find, allowed=ACTIVE + ("error", "suspended"), advance=False)

    def save_draft(self, task_id: str, data: dict[str, Any], *, actor: Actor) -> None:
        """Keep unfinished form data on the task without completing it."""
        data = _check_data(data)
        with self.db.write() as s:
            ht = _get_task(s, task_id)
            _check_open(ht)
            _check_may_work(ht, actor)
            ht.draft = data

    def send_message(self, name: str, business_key: str | None, payload: dict[str, Any] | None = None, *,
                     actor: Actor = SYSTEM, message_id: str | None = None) -> StepResult:
        """Deliver a BPMN message to the instance waiting for it under ``business_key``.

        Waiting means a catch event or receive task, a boundary event, or an event subprocess
        whose start event the message triggers. When no instance waits and a deployed process
        starts with this message, a new instance of it is started instead (see
        :meth:`start_by_message`); ``message_id`` makes a repeated delivery start nothing new.

        :raises NotFound: no instance waits for that message with that work-order number
        """
        payload = _check_data(payload or {})

        def find(s: Session) -> int:
            sub = s.execute(select(MessageSubscription.instance_id).where(
                MessageSubscription.message_name == name, MessageSubscription.business_key == business_key)
                .order_by(MessageSubscription.id).limit(1)).first()
            if sub is None:
                raise _NoSubscriber(f"没有工单 {business_key} 在等待消息 {name}")
            return sub.instance_id

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            waiting = [(t, d) for t in runtime.waiting_catches(workflow)
                       for d in runtime.message_definitions(t) if d.name == name]
            if waiting:
                catcher, definition = waiting[0]
                element_id = catcher.task_spec.bpmn_id
            else:
                starts = [(scope, sp, ts) for scope, sp, ts in runtime.event_subprocess_starts(workflow)
                          if ts.event_definition.name == name]
                if not starts:
                    raise Conflict(f"工单 {business_key} 已不再等待消息 {name}")
                scope, sp_name, start = starts[0]
                # Started here rather than by the library (which starts only the top workflow's and
                # hands them the data the instance started with): the event subprocess gets the
                # order's data as it is now (the technician dispatched meanwhile, say).
                now_data = json.loads(json.dumps(runtime.current_data(workflow), default=str))
                child_id = scope.spec.start.trigger_wf(scope.task_tree, sp_name)
                for task in workflow.subprocesses[child_id].tasks.values():
                    task.data.update(json.loads(json.dumps(now_data)))
                catcher, definition, element_id = None, start.event_definition, start.bpmn_id
            correlations = definition.calculate_correlations(
                self.script_engine, definition.correlation_properties, payload) if definition.correlation_properties else {}
            workflow.catch(BpmnEvent(definition, payload, correlations))
            if catcher is not None:
                runtime.rearm(catcher)
            ctx.log("message_received", element_id=element_id, data={"name": name, **payload})

        try:
            return self._step(None, actor, act, find=find)
        except _NoSubscriber:
            process_id = self.message_start_process(name)
            if process_id is None:
                raise NotFound(f"没有工单 {business_key} 在等待消息 {name}") from None
        return self.start_by_message(process_id, name, business_key, payload, actor=actor, message_id=message_id)

    def message_start_process(self, name: str) -> str | None:
        """The deployed process (latest versions) that a message ``name`` starts, if any."""
        with self.db.read() as s:
            latest = tuple(sorted(s.scalars(select(func.max(Definition.id)).group_by(Definition.process_id))))
            cached = self.__dict__.get("_message_starts")
            if cached is None or cached[0] != latest:
                names: dict[str, str] = {}
                for definition_id in latest:
                    loaded = self._definition(s, definition_id)
                    for message in runtime.message_start_names(loaded.spec):
                        names.setdefault(message, loaded.process_id)
                cached = (latest, names)
                self.__dict__["_message_starts"] = cached
        return cached[1].get(name)

    def start_by_message(self, process_id: str, name: str, business_key: str | None, payload: dict[str, Any], *,
                         actor: Actor = SYSTEM, message_id: str | None = None) -> StepResult:
        """Start ``process_id`` at its message start event ``name`` for one work order, once.

        The delivery is keyed by ``message_id`` (else by the work-order number): a repeated
        delivery returns the instance the first one started. Without a work-order number
        the order gets the next free one.

        :raises InvalidInput: neither a work-order number nor a message id
        :raises Conflict: the same message is being delivered right now
        """
        from engine.intake import Idempotency, OpenedOrder
        from tasks.values import local_date

        payload = _check_data(payload)
        if not business_key and not message_id:
            raise InvalidInput("消息缺少工单号", {"work_order_no": "必填"})
        idem = Idempotency(f"message:{name}"[:128], str(message_id or business_key)[:128])
        claim = self._claim_key(idem)
        if claim.response is not None:
            return self._result_of(int(claim.response["instance_id"]))
        taken_over = claim.number is not None  # an earlier delivery died after claiming the key
        if not taken_over:
            claim.number = str(business_key) if business_key else self.reserve_work_order_no(
                local_date(self.clock.now()), actor=actor)
            self._record_claim(idem, claim)  # a concurrent delivery of the same message: Conflict
        started = self._instance_of(claim.number) if taken_over else None
        if started is not None:
            result = self._result_of(started[0])
        else:
            try:
                result = self.start(process_id, {**payload, "work_order_no": claim.number}, actor=actor,
                                    business_key=claim.number, message=name)
            except EngineError:
                self._release_key(idem)
                raise
        self._finish_key(idem, OpenedOrder(result.instance_id, claim.number, result.status))
        return result

    def _result_of(self, instance_id: int) -> StepResult:
        with self.db.read() as s:
            row = s.execute(select(Instance.id, Instance.status, Instance.version)
                            .where(Instance.id == instance_id)).first()
            if row is None:
                raise NotFound(f"流程实例 {instance_id} 不存在")
            return StepResult(row.id, row.status, row.version)

    def fire_timers(self, instance_id: int, now: datetime | None = None, *, actor: Actor = SYSTEM) -> StepResult:
        """Fire every timer of one instance that is due at ``now``."""

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            workflow.refresh_timers()
            ctx.log("timers_checked")

        return self._step(instance_id, actor, act, now=now)

    def retry(self, instance_id: int, *, actor: Actor) -> StepResult:
        """Run the failed step of an instance in error again."""

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            ctx.log("retried")

        return self._step(instance_id, actor, act, allowed=("error",))

    def update_variables(self, instance_id: int, values: dict[str, Any], *, actor: Actor, reason: str) -> StepResult:
        """Change task data of the waiting and ready tasks (an admin repair), logged with a reason."""
        values = _check_data(values)
        if not (reason or "").strip():
            raise InvalidInput("请填写修改原因", {"reason": "必填"})
        _require_admin(actor)

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            live = workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED)
            for task in live:
                task.data.update(json.loads(json.dumps(values)))
            ctx.log("variables_changed", data={"values": values, "reason": reason})

        return self._step(instance_id, actor, act, allowed=ACTIVE + ("error", "suspended"), advance=False)

    def suspend(self, instance_id: int, *, actor: Actor, reason: str = "") -> None:
        """Stop an instance from moving until resumed (tasks stay, timers wait)."""
        self._set_status(instance_id, actor, ACTIVE + ("error",), "suspended", "suspended", reason)

    def resume(self, instance_id: int, *, actor: Actor, reason: str = "") -> None:
        """Let a suspended instance move again."""
        _require_admin(actor)
        with self.db.write() as s:
            head = self._lock_instance(s, instance_id)
            if head.status != "suspended":
                raise Conflict("流程实例未挂起")
            loaded = self._definition(s, head.definition_id)
            workflow, snap = self._take(s, head, loaded)
            has_incident = s.scalars(select(Incident.id).where(
                Incident.instance_id == head.id, Incident.resolved_at.is_(None))).first()
            self._bump(s, head, status="error" if has_incident else runtime.status_of(workflow),
                       updated_at=self.clock.now())
            s.add(Event(instance_id=head.id, at=self.clock.now(), actor=actor.username, kind="resumed",
                        data={"reason": reason} if reason else None))
        self._put(instance_id, head.version, workflow, snap)

    def terminate(self, instance_id: int, *, actor: Actor, reason: str = "") -> None:
        """End an instance for good: open tasks cancelled, timers and subscriptions removed."""
        _require_admin(actor)
        with self.db.write() as s:
            head = self._lock_instance(s, instance_id)
            if head.status in ("completed", "terminated"):
                raise Conflict("流程实例已结束")
            now = self.clock.now()
            self._bump(s, head, status="terminated", ended_at=now, updated_at=now)
            s.execute(update(HumanTask).where(HumanTask.instance_id == head.id, HumanTask.status == "open")
                      .values(status="cancelled", completed_at=now))
            s.execute(delete(Job).where(Job.instance_id == head.id))
            s.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == head.id))
            s.add(Event(instance_id=head.id, at=now, actor=actor.username, kind="terminated",
                        data={"reason": reason} if reason else None))
        self._drop(instance_id)

    def _set_status(self, instance_id, actor, allowed, status, kind, reason) -> None:
        _require_admin(actor)
        with self.db.write() as s:
            head = self._lock_instance(s, instance_id)
            if head.status not in allowed:
                raise Conflict(f"流程实例状态为 {views.STATUS_NAMES.get(head.status, head.status)}，不能执行此操作")
            self._bump(s, head, status=status, updated_at=self.clock.now())
            s.add(Event(instance_id=head.id, at=self.clock.now(), actor=actor.username, kind=kind,
                        data={"reason": reason} if reason else None))

    # -- jobs ------------------------------------------------------------------------------

    def fire_due_jobs(self, now: datetime | None = None, *, limit: int = 100) -> int:
        """Fire due timers and retries; return how many jobs ran.

        Safe with several workers on PostgreSQL: the step's own transaction claims the next
        due job with ``FOR UPDATE SKIP LOCKED`` (and its instance likewise), so workers never
        wait for or collide on each other's jobs, and a job costs one transaction.
        """
        now = now or self.clock.now()
        done = 0
        skipped: set[int] = set()
        while done < limit:
            try:
                fired = self._fire_next(now, skipped)
            except _DueNow as exact:
                # The library fires a timer only once its clock is strictly past the due time:
                # a job run at its due time runs the step a microsecond after it.
                fired = self._fire_next(exact.due + timedelta(microseconds=1), skipped, job_id=exact.job_id)
            if fired is None:
                break
            done += fired
        return done

    def _fire_next(self, now: datetime, skipped: set[int], *, job_id: int | None = None) -> int | None:
        """Claim and fire one due job (``job_id``, or the earliest): 1 fired, 0 skipped, None when none is due."""
        claimed: dict[str, Any] = {}

        def find(s) -> int:
            pinned = claimed.get("id", job_id)  # a second attempt (after a failure) takes the same job
            q = select(Job.id, Job.instance_id, Job.kind, Job.due_at, Job.attempts).where(
                Job.status == "pending", Job.due_at <= now)
            if pinned is not None:
                q = q.where(Job.id == pinned)
            elif skipped:
                q = q.where(Job.id.not_in(skipped))
            q = q.order_by(Job.due_at).limit(1)
            if not self.db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            job = s.execute(q).first()
            if job is None:
                raise _NoJob() if pinned is None else _Busy()
            claimed.update(id=job.id, kind=job.kind, attempts=job.attempts)
            if job.due_at >= now:
                raise _DueNow(job.id, job.due_at)
            if not self.db.is_sqlite and self._lock_instance(s, job.instance_id, skip_locked=True) is None:
                raise _Busy()
            if job.kind == "retry":
                s.execute(delete(Job).where(Job.id == job.id))
            return job.instance_id

        def act(workflow, ctx: StepContext, loaded: _Loaded) -> None:
            if (ctx.head.status == "error") != (claimed["kind"] == "retry"):
                raise Conflict("流程实例状态不适合此任务")
            if claimed["kind"] == "timer":
                # Pushed back first: a timer that fires deletes its job in this transaction,
                # one that moves sets its new time; one that did neither (clock skew) comes
                # round again shortly.
                attempts = claimed["attempts"] + 1
                ctx.session.execute(update(Job).where(Job.id == claimed["id"]).values(
                    attempts=attempts, due_at=ctx.now + timedelta(seconds=min(60 * attempts, 3600))))
            workflow.refresh_timers()
            ctx.log("timer_fired" if claimed["kind"] == "timer" else "retried")

        try:
            self._step(None, SYSTEM, act, find=find, allowed=ACTIVE + ("error",), now=now)
        except _NoJob:
            return None
        except (_Busy, Conflict):
            key = claimed.get("id", job_id)
            if key is None:
                raise
            skipped.add(key)
            return 0
        return 1

    # -- outbox ----------------------------------------------------------------------------

    def deliver_outbox(self, send: Callable[[str, dict[str, Any], int], None], *, limit: int = 100,
                       max_attempts: int = 8) -> int:
        """Deliver pending notifications through ``send(topic, payload, outbox_id)``.

        A failed send is retried with backoff; each message is marked delivered in the same
        transaction that holds its row lock, so two workers never send it twice. A message
        that starts a deployed process (a message start event of that name) is delivered to
        the engine instead: it starts the process once (keyed by the outbox id, see
        :meth:`start_by_message`), however often the delivery is repeated.
        """
        delivered = 0
        for _ in range(limit):
            route = None
            with self.db.write() as s:
                now = self.clock.now()
                q = select(Outbox).where(Outbox.status == "pending", Outbox.next_attempt_at <= now)
                q = q.order_by(Outbox.id).limit(1)
                if not self.db.is_sqlite:
                    q = q.with_for_update(skip_locked=True)
                msg = s.scalars(q).first()
                if msg is None:
                    break
                msg.attempts += 1
                process_id = self.message_start_process(msg.topic)
                if process_id is not None:  # leased while the process starts in its own transactions
                    msg.next_attempt_at = now + ROUTE_LEASE
                    route = (msg.id, msg.topic, dict(msg.payload or {}), process_id, msg.attempts)
                else:
                    try:
                        send(msg.topic, msg.payload, msg.id)
                    except Exception as exc:
                        self._delivery_failed(msg, exc, now, max_attempts)
                        continue
                    msg.status = "delivered"
                    msg.delivered_at = now
                    delivered += 1
            if route is not None:
                delivered += self._route_message(*route, max_attempts=max_attempts)
        return delivered

    def _route_message(self, outbox_id: int, name: str, payload: dict[str, Any], process_id: str, attempts: int,
                       *, max_attempts: int) -> int:
        error = None
        try:
            key = payload.get("work_order_no")
            self.start_by_message(process_id, name, str(key) if key else None, payload,
                                  message_id=str(payload.get("message_id") or f"outbox-{outbox_id}"))
        except Exception as exc:  # retried with backoff like a failed send
            error = exc
        with self.db.write() as s:
            msg = s.get(Outbox, outbox_id)
            if msg is None or msg.status != "pending":
                return 0
            now = self.clock.now()
            if error is not None:
                self._delivery_failed(msg, error, now, max_attempts)
                return 0
            msg.status = "delivered"
            msg.delivered_at = now
            return 1

    @staticmethod
    def _delivery_failed(msg: Outbox, exc: Exception, now: datetime, max_attempts: int) -> None:
        msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if msg.attempts >= max_attempts:
            msg.status = "failed"
        else:
            msg.next_attempt_at = now + timedelta(seconds=10 * 2 ** (msg.attempts - 1))


@lru_cache(maxsize=64)
def _bump_statement(columns: tuple[str, ...]):
    unknown = set(columns) - set(_BUMP_COLUMNS)
    if unknown:
        raise ValueError(f"not an instance column: {unknown}")
    return (update(Instance)
            .where(Instance.id == bindparam("b_id"), Instance.version == bindparam("b_version"))
            .values(version=Instance.version + 1, **{c: bindparam(f"v_{c}") for c in columns})
            .execution_options(synchronize_session=False))


@dataclass
class _TaskHead:
    id: str
    instance_id: int
    status: str
    assignee: str | None
    group_id: str
    form: str | None
    element_id: str
    completed_by: str | None


class _NoSubscriber(NotFound):
    """No instance subscribes to the message (a process may still start with it)."""


class _NoJob(Exception):
    """No job is due (any more)."""


class _DueNow(Exception):
    """The job is due exactly at the step's time: it must run a microsecond later."""

    def __init__(self, job_id: int, due: datetime) -> None:
        super().__init__(job_id)
        self.job_id, self.due = job_id, due


class _Busy(Exception):
    """Another worker holds the job or its instance."""


class _Fixed(Clock):
    """The step's time, as SpiffWorkflow's timers see it during the step."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "could not obtain lock" in text or "deadlock" in text


def _check_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInput("数据必须是 JSON 对象", {"_form": "数据必须是 JSON 对象"})
    bad = sorted(k for k in data if not isinstance(k, str) or k in runtime.RESERVED_DATA_KEYS or k.startswith("_"))
    if bad:
        raise InvalidInput("字段名不被允许", {str(k): "字段名不被允许" for k in bad})
    try:
        text = json.dumps(data, allow_nan=False)  # NaN/Infinity are not JSON
    except (TypeError, ValueError):
        raise InvalidInput("数据必须可以表示为 JSON (不允许 NaN/Infinity)", {"_form": "数据必须可以表示为 JSON"}) from None
    if len(text) > MAX_DATA_CHARS:
        raise InvalidInput("数据过大", {"_form": f"数据不能超过 {MAX_DATA_CHARS // 1024} KB"})
    where = _bad_value(data, 0, "")
    if where is not None:
        path, message = where
        raise InvalidInput(message, {path or "_form": message})
    return data


MAX_DATA_DEPTH = 32
MAX_DATA_CHARS = 2 * 1024 * 1024


def _bad_value(value: Any, depth: int, path: str) -> tuple[str, str] | None:
    """The first nested value the engine must not store: too deep, or text that is not UTF-8.

    Deep nesting is refused because reloading it recurses once per level in the library
    (a crash past the C stack); lone surrogates cannot be written to the database.
    """
    if depth > MAX_DATA_DEPTH:
        return path, f"嵌套层数超过 {MAX_DATA_DEPTH}"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "包含无效字符"
        return None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and depth == 0:
            found = _bad_value(key, depth + 1, path)
            if found:
                return found
        found = _bad_value(item, depth + 1, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _active_groups(s, username: str) -> frozenset[str] | None:
    """The groups of an active user (None: no such active user); works on a step's connection."""
    from engine.models import Membership, User

    user_id = s.execute(select(User.id).where(User.username == username, User.active.is_(True))).scalar()
    if user_id is None:
        return None
    return frozenset(s.execute(select(Membership.group_id).where(Membership.user_id == user_id)).scalars())


def _get_task(s: Session, task_id: str) -> HumanTask:
    ht = s.get(HumanTask, task_id)
    if ht is None:
        raise NotFound("任务不存在")
    return ht


def _check_open(ht: HumanTask) -> None:
    if ht.status == "completed":
        raise Conflict(f"任务已由 {ht.completed_by} 完成")
    if ht.status != "open":
        raise Conflict("任务已取消")


def _check_may_work(ht: HumanTask, actor: Actor) -> None:
    if ht.assignee:
        if ht.assignee != actor.username:
            raise NotAllowed(f"该任务由 {ht.assignee} 处理")
    elif ht.group_id not in actor.groups:
        raise NotAllowed("只有该任务所属组的成员可以处理")


def _may_dispatch(actor: Actor) -> bool:
    return actor.is_admin or "dispatcher" in actor.groups


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("需要管理员权限")


def _parse_time(value: Any) -> datetime | None:

    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:128]
