"""Read verbs the staff web pages need, one call per page (mixed into the facade).

Each verb reads in one session and returns frozen dataclasses; permission rules live
here, next to the data they guard, so every page and download applies the same ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import func, or_, select

from engine import views
from engine.errors import NotAllowed, NotFound
from engine.models import Event, HumanTask, Instance, Membership, User
from engine.results import Actor, EventView, InstanceView, TaskView, UserView

# Groups that look after every work order, not only those they hold a task on.
ORDER_WATCHERS = frozenset({"dispatcher", "customer_service"})
RESERVED_KIND = "work_order_no_reserved"


@dataclass(frozen=True)
class TaskPage:
    """Everything the task page shows: the task, its form and data, and the order's history."""

    task: TaskView
    instance_status: str
    schema: dict[str, Any] | None
    data: dict[str, Any]
    draft: dict[str, Any] | None
    instructions: str | None
    history: tuple[EventView, ...]
    element_names: dict[str, str]
    members: dict[str, tuple[UserView, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderPage:
    """A work order: its instance (with data and open tasks) and its timeline."""

    instance: InstanceView
    history: tuple[EventView, ...]
    element_names: dict[str, str]
    members: dict[str, tuple[UserView, ...]] = field(default_factory=dict)


def may_view_task(actor: Actor, assignee: str | None, group_id: str, completed_by: str | None) -> bool:
    return (actor.is_admin or "dispatcher" in actor.groups or assignee == actor.username
            or completed_by == actor.username or (assignee is None and group_id in actor.groups))


def may_dispatch(actor: Actor) -> bool:
    return actor.is_admin or "dispatcher" in actor.groups


class WebQueries:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db``, ``self.serializer``, ``self._definition``."""

    def task_page(self, task_id: str, *, actor: Actor) -> TaskPage:
        """The task with its form schema, current data, saved draft and the order's history.

        :raises NotFound: no such task
        :raises NotAllowed: the task belongs to someone else or to a group the actor is not in
        """
        with self.db.read() as s:
            ht = s.get(HumanTask, task_id)
            if ht is None:
                raise NotFound("任务不存在")
            if not may_view_task(actor, ht.assignee, ht.group_id, ht.completed_by):
                raise NotAllowed("无权查看该任务")
            row = s.get(Instance, ht.instance_id)
            loaded = self._definition(s, row.definition_id)
            schema = loaded.forms.get(ht.form) if ht.form else None
            workflow = self._stored_workflow(s, row.id, loaded)
            task = workflow.get_task_from_id(UUID(task_id))
            data = json.loads(json.dumps(dict(task.data), default=str)) if task is not None else {}
            instructions = None
            if task is not None:
                instructions = (getattr(task.task_spec, "extensions", None) or {}).get("instructionsForEndUser")
            groups = set(_user_widget_groups(schema))
            if ht.status == "open" and may_dispatch(actor):
                groups.add(ht.group_id)
            return TaskPage(
                task=views.task(ht), instance_status=row.status, schema=schema, data=data,
                draft=dict(ht.draft) if ht.draft else None, instructions=instructions,
                history=tuple(_history(s, row.id)), element_names=dict(loaded.meta.get("names", {})),
                members=_members(s, groups),
            )

    def order_page(self, instance_id: int, *, actor: Actor) -> OrderPage:
        """A work order with its open tasks, data and timeline.

        :raises NotFound: no such instance
        :raises NotAllowed: the actor neither watches orders nor has worked on this one
        """
        with self.db.read() as s:
            row = s.get(Instance, instance_id)
            if row is None:
                raise NotFound(f"工单 {instance_id} 不存在")
            _check_order_access(s, actor, instance_id)
            loaded = self._definition(s, row.definition_id)
        instance = self.get_instance(instance_id)
        with self.db.read() as s:
            groups = {t.group_id for t in instance.open_tasks} if may_dispatch(actor) else set()
            return OrderPage(instance, tuple(_history(s, instance_id)), dict(loaded.meta.get("names", {})),
                             _members(s, groups))

    def check_order_access(self, instance_id: int, *, actor: Actor) -> None:
        """Raise unless the actor may see this work order (and its attachments).

        :raises NotFound: no such instance
        :raises NotAllowed: the actor neither watches orders nor has worked on this one
        """
        with self.db.read() as s:
            if s.get(Instance, instance_id) is None:
                raise NotFound(f"工单 {instance_id} 不存在")
            _check_order_access(s, actor, instance_id)

    def find_order(self, work_order_no: str, *, actor: Actor) -> int:
        """The instance id of a work-order number the actor may see.

        :raises NotFound: no such order
        :raises NotAllowed: the actor may not see it
        """
        with self.db.read() as s:
            found = s.scalars(select(Instance.id).where(Instance.business_key == work_order_no)
                              .order_by(Instance.id.desc()).limit(1)).first()
            if found is None:
                raise NotFound(f"工单 {work_order_no} 不存在")
            _check_order_access(s, actor, found)
            return found

    def reserve_work_order_no(self, day: date, *, actor: Actor) -> str:
        """The next free work-order number ``WO-YYYYMMDD-NNNN`` of ``day``, reserved in the audit log.

        Reservations are serialized (SQLite write lock, a PostgreSQL advisory lock), so two
        clerks registering at the same moment never get the same number.
        """
        prefix = f"WO-{day:%Y%m%d}-"
        with self.db.write() as s:
            if not self.db.is_sqlite:
                s.execute(select(func.pg_advisory_xact_lock(0x7061_6967)))
            used = 0
            for data in s.scalars(select(Event.data).where(Event.instance_id.is_(None), Event.kind == RESERVED_KIND)
                                  .order_by(Event.id.desc()).limit(5000)):
                used = max(used, _suffix(data.get("work_order_no") if data else None, prefix))
            for key in s.scalars(select(Instance.business_key).where(
                    Instance.business_key >= prefix, Instance.business_key < prefix + "\uffff")):
                used = max(used, _suffix(key, prefix))
            number = f"{prefix}{used + 1:04d}"
            s.add(Event(instance_id=None, at=self.clock.now(), actor=actor.username, kind=RESERVED_KIND,
                        data={"work_order_no": number}))
            return number

    def product_known(self, model: str) -> bool | None:
        """Whether the product catalog knows ``model`` (None when no catalog is configured)."""
        ref = getattr(self.script_engine, "ref", None)
        if ref is None:
            return None
        return ref.product(model) is not None


def _suffix(key: Any, prefix: str) -> int:
    if not isinstance(key, str) or not key.startswith(prefix):
        return 0
    tail = key[len(prefix):]
    return int(tail) if tail.isdigit() else 0


def _check_order_access(s, actor: Actor, instance_id: int) -> None:
    if actor.is_admin or actor.groups & ORDER_WATCHERS:
        return
    mine = s.scalars(select(HumanTask.id).where(
        HumanTask.instance_id == instance_id,
        or_(HumanTask.assignee == actor.username, HumanTask.completed_by == actor.username,
            (HumanTask.status == "open") & HumanTask.assignee.is_(None)
            & HumanTask.group_id.in_(sorted(actor.groups)))).limit(1)).first()
    if mine is None:
        raise NotAllowed("无权查看该工单")


def _history(s, instance_id: int) -> list[EventView]:
    out: list[EventView] = []
    for e in s.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)):
        out.extend(views.events(e))
    return out


def _user_widget_groups(schema: dict[str, Any] | None):
    def walk(node: Any):
        if not isinstance(node, dict):
            return
        hint = node.get("x-ui")
        if isinstance(hint, dict) and hint.get("widget") == "user" and hint.get("group"):
            yield str(hint["group"])
        for child in (node.get("properties") or {}).values():
            yield from walk(child)
        yield from walk(node.get("items"))

    yield from walk(schema)


def _members(s, groups: set[str]) -> dict[str, tuple[UserView, ...]]:
    if not groups:
        return {}
    rows = s.execute(select(User, Membership.group_id).join(Membership, Membership.user_id == User.id)
                     .where(Membership.group_id.in_(sorted(groups)), User.active.is_(True))
                     .order_by(User.display_name)).all()
    out: dict[str, list[UserView]] = {g: [] for g in groups}
    for user, gid in rows:
        out[gid].append(UserView(user.username, user.display_name, (gid,), tuple(r for r in user.roles.split(",") if r),
                                 user.phone, user.active))
    return {g: tuple(v) for g, v in out.items()}
