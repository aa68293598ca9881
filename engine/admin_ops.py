"""Admin repairs that reach into the workflow: move the token, skip a failed step (mixed into the facade).

Both run through the facade's step machinery (``Engine._step``): one transaction, the
instance row locked and version-checked, projections (inbox rows, timers, subscriptions,
audit log) brought up to date by the same code as every other step.

Moving the token
    The admin names an element of the instance's own diagram. The engine cancels every
    active step (open user tasks, timers, message waits) that does not contain the target
    and makes the target ready, keeping the order's current data:

    * **back** to an element that already ran: its most recent run is reset (SpiffWorkflow's
      ``reset_branch``) and everything after it is dropped;
    * **forward** to an element the engine has predicted (a later task on a path from the
      active step): the steps between are marked done without running them;
    * **into a subprocess** that has not started yet: the subprocess is started first, then
      the token moves inside it.

    A target the engine can neither find run nor predicted from the current position (a
    branch cut off by an earlier gateway decision inside a finished subprocess, a boundary
    event's own path, an event subprocess) is refused with :class:`InvalidInput`.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from uuid import uuid4

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, update

from engine import runtime
from engine.errors import Conflict, EngineError, InvalidInput, NotAllowed
from engine.models import Incident, TaskArchive
from engine.results import Actor, StepResult

MOVABLE = ("running", "waiting", "error")
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
# element types a token may rest on or pass through when the admin moves it
_TARGET_TYPES = ("Task", "UserTask", "ManualTask", "ScriptTask", "ServiceTask", "BusinessRuleTask", "SendTask",
                 "ReceiveTask", "SubWorkflowTask", "SubprocessTask", "CallActivity", "TransactionSubprocess",
                 "IntermediateCatchEvent", "IntermediateThrowEvent", "ExclusiveGateway", "InclusiveGateway",
                 "ParallelGateway", "EventBasedGateway", "EndEvent")


class TokenOps:
    """Move token, skip a failed step; uses the facade's ``_step`` machinery."""

    def move_token(self, instance_id: int, element_id: str, *, actor: Actor, reason: str) -> StepResult:
        """Cancel the active step(s) and continue the instance at ``element_id`` (same diagram).

        :raises NotAllowed: the actor is not an admin
        :raises InvalidInput: no reason, or the element is not a place the token can move to
        :raises Conflict: the instance is finished or suspended, or the token is already there
        """
        _require_admin(actor)
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("请填写移动原因", {"reason": "必填"})

        def act(workflow, ctx, loaded) -> None:
            names = loaded.meta.get("names", {})
            active = [t for t in _active(workflow) if _bpmn_id(t) and t.state != TaskState.STARTED]
            steps = [t for t in active if t.task_spec.manual] or active
            before = sorted({_bpmn_id(t) for t in steps})
            try:
                moved = _move(workflow, element_id, loaded)
            except EngineError:
                raise
            except Exception as exc:  # the library refused: say why, store nothing
                text = runtime._describe(exc)
                raise InvalidInput(f"无法把令牌移到 {element_id}：{text}", {"element_id": text}) from None
            _rewrite_archive(workflow, ctx)
            ctx.log("token_moved", element_id=element_id, task_id=str(moved.id),
                    data={"from": before, "to": element_id, "to_name": names.get(element_id, element_id),
                          "reason": reason})

        return self._step(instance_id, actor, act, allowed=MOVABLE)

    def skip_failed(self, instance_id: int, *, actor: Actor, reason: str) -> StepResult:
        """Mark the failed engine step of an instance in error as done without running it, and go on.

        :raises NotAllowed: the actor is not an admin
        :raises InvalidInput: no reason
        :raises Conflict: the instance is not in error
        """
        _require_admin(actor)
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("请填写跳过原因", {"reason": "必填"})

        def act(workflow, ctx, loaded) -> None:
            failed = [t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual]
            if not failed:
                raise Conflict("没有可跳过的失败步骤")
            task = failed[0]
            task.complete()
            ctx.session.execute(update(Incident).where(
                Incident.instance_id == ctx.head.id, Incident.element_id == _bpmn_id(task), Incident.resolved_at.is_(None))
                .values(resolved_at=ctx.now, resolved_by=ctx.actor.username))
            ctx.log("step_skipped", element_id=_bpmn_id(task), task_id=str(task.id), data={"reason": reason})

        return self._step(instance_id, actor, act, allowed=("error",))

    def move_targets(self, instance_id: int) -> list[tuple[str, str]]:
        """(element id, name) of the elements of the instance's diagram a token may be moved to."""
        with self.db.read() as s:
            from engine.models import Instance

            row = s.get(Instance, instance_id)
            if row is None:
                from engine.errors import NotFound

                raise NotFound(f"流程实例 {instance_id} 不存在")
            loaded = self._definition(s, row.definition_id)
        names = loaded.meta.get("names", {})
        out = []
        for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
            for task_spec in spec.task_specs.values():
                bpmn_id = getattr(task_spec, "bpmn_id", None)
                if bpmn_id and _movable_spec(task_spec):
                    out.append((bpmn_id, names.get(bpmn_id) or getattr(task_spec, "bpmn_name", None) or bpmn_id))
        return sorted(set(out), key=lambda item: item[1])


# -- the tree surgery --------------------------------------------------------------------------


def _move(workflow, element_id: str, loaded):
    specs = [loaded.spec, *loaded.subprocess_specs.values()]
    if not any(_spec_named(spec, element_id) for spec in specs):
        raise InvalidInput(f"流程图中没有元素 {element_id}", {"element_id": "流程图中没有该元素"})
    if not any(_movable_spec(t) for spec in specs for t in spec.task_specs.values()
               if getattr(t, "bpmn_id", None) == element_id):
        raise InvalidInput(f"不能把令牌移到元素 {element_id}", {"element_id": "该元素不能作为目标"})
    data = copy.deepcopy(json.loads(json.dumps(runtime.current_data(workflow), default=str)))
    for task in _tasks_of(workflow, element_id):
        if task.state == TaskState.READY or (task.state == TaskState.WAITING and task.task_spec.manual):
            raise Conflict("令牌已在该步骤")
    target = _entry(_locate(workflow, element_id, loaded, data))
    if target.state & TaskState.FINISHED_MASK:
        return _back(workflow, target, data)
    return _forward(workflow, target, data)


def _entry(task):
    """Where the engine enters an element: an activity with boundary events is entered through
    the hidden split that arms them (so its timers start again), anything else directly."""
    parent = task.parent
    if parent is not None and type(parent.task_spec).__name__ == "BoundaryEventSplit":
        return parent
    return task


def _locate(workflow, element_id: str, loaded, data: dict[str, Any]):
    """The task to move to: the latest run of the element, else the nearest prediction.

    An element inside a subprocess that has not started is reached by first moving into
    the subprocess (which starts it) and looking again.
    """
    tasks = _tasks_of(workflow, element_id)
    done = [t for t in tasks if t.state == TaskState.COMPLETED]
    if done:
        return max(done, key=lambda t: (t.last_state_change, t.depth))
    predicted = [t for t in tasks if t.state & (TaskState.FUTURE | TaskState.PREDICTED_MASK)]
    if not predicted:
        predicted = _predict_further(workflow, element_id)
    if predicted:
        return min(predicted, key=lambda t: (t.depth, -t.state))
    container = _container_of(element_id, loaded)
    if container is None:
        raise InvalidInput(f"从当前位置无法到达元素 {element_id}", {"element_id": "从当前位置无法到达该元素"})
    host = _entry(_locate(workflow, container, loaded, data))
    if host.state & TaskState.FINISHED_MASK:
        _back(workflow, host, data)
    else:
        _forward(workflow, host, data)
    if host.state == TaskState.READY and not host.task_spec.manual:
        host.run()  # the boundary split: starts the subprocess and arms its boundary events
    inside = [t for t in _tasks_of(workflow, element_id) if t.state & (TaskState.FUTURE | TaskState.PREDICTED_MASK)]
    if not inside:
        raise InvalidInput(f"从当前位置无法到达元素 {element_id}", {"element_id": "从当前位置无法到达该元素"})
    return min(inside, key=lambda t: t.depth)


def _predict_further(workflow, element_id: str, layers: int = 200) -> list:
    """The library predicts only a few tasks past the last definite one (its ``lookahead``);
    extend the predictions layer by layer, never twice through the same element on one path,
    until ``element_id`` appears (or nothing more can be predicted)."""
    frontier = [t for t in workflow.tasks.values() if t.state & TaskState.PREDICTED_MASK and not t.children]
    for _ in range(layers):
        grown = []
        for task in frontier:
            on_path = set()
            node = task
            while node is not None and node.state & TaskState.PREDICTED_MASK:
                on_path.add(node.task_spec.name)
                node = node.parent
            task.task_spec._predict_hook(task)
            grown.extend(c for c in task.children
                         if c.state & TaskState.PREDICTED_MASK and c.task_spec.name not in on_path)
        found = [t for t in _tasks_of(workflow, element_id) if t.state & TaskState.PREDICTED_MASK]
        if found or not grown:
            return found
        frontier = grown
    return []


def _back(workflow, target, data: dict[str, Any]):
    """Reset the latest run of ``target`` and drop what came after it."""
    keep = _containers(workflow, target)
    _cancel_active(workflow, keep)
    for desc in [t for t in target if t.id in workflow.subprocesses]:
        workflow.delete_subprocess(desc)
    _rekey(target)
    if any(c.state & TaskState.FINISHED_MASK for c in keep):
        # re-entering a finished subprocess: the library reopens it (and re-arms its boundary events)
        workflow.reset_from_task_id(target.id, data=copy.deepcopy(data))
    else:
        target.workflow.last_task = target.parent
        target.reset_branch(copy.deepcopy(data))
    target.data = copy.deepcopy(data)
    return target


def _forward(workflow, target, data: dict[str, Any]):
    """Mark the steps between the active one and the predicted ``target`` done, then make it ready."""
    chain = []
    node = target.parent
    while node is not None and not (node.state & TaskState.FINISHED_MASK):
        chain.append(node)
        node = node.parent
    if node is None or node.state != TaskState.COMPLETED:
        raise InvalidInput("从当前位置无法到达该元素", {"element_id": "从当前位置无法到达该元素"})
    on_path = {t.id for t in chain} | {target.id}
    for task in reversed(chain):
        if task.state == TaskState.STARTED and task.id in workflow.subprocesses:
            workflow.cancel(workflow.subprocesses[task.id])
        elif task.state == TaskState.WAITING:
            task.task_spec._on_cancel(task)
        task.data = copy.deepcopy(data)
        task._set_state(TaskState.COMPLETED)
        _settle_branches(task, on_path)
    _cancel_active(workflow, _containers(workflow, target), exclude=set(chain))
    target.data = copy.deepcopy(data)
    target._set_state(TaskState.FUTURE)
    target.task_spec._update(target)
    if target.state == TaskState.FUTURE:
        raise InvalidInput("该元素无法直接开始", {"element_id": "该元素无法直接开始"})
    if target.state == TaskState.READY:
        target.data = copy.deepcopy(data)  # inherited from a parent that may hold older values
    return target


def _settle_branches(task, on_path: set) -> None:
    """What a run of ``task`` would have done to its other children: a boundary join beside the
    path completes (as after a normal run), a predicted branch not taken is dropped."""
    for child in list(task.children):
        if child.id in on_path or not (child.state & (TaskState.FUTURE | TaskState.PREDICTED_MASK)):
            continue
        if type(child.task_spec).__name__ == "BoundaryEventJoin":
            child._set_state(TaskState.COMPLETED)
        else:
            child.workflow._remove_task(child.id)


def _rekey(task) -> None:
    """Give a task that ran before a new id: its new run is a new inbox row, the old one stays history."""
    old, new = task.id, uuid4()
    wf = task.workflow
    wf.tasks.pop(old)
    task.id = new
    wf.tasks[new] = task
    if task.parent is not None:
        siblings = task.parent._children
        siblings[siblings.index(old)] = new
    for child in task.children:
        child._parent = new
    if getattr(wf, "last_task", None) is task:
        wf.last_task = task.parent


def _containers(workflow, task) -> list:
    """The subprocess tasks (in their parent workflows) that hold ``task``, innermost first."""
    out = []
    current = task.workflow
    while getattr(current, "parent_task_id", None) is not None:
        holder = workflow.get_task_from_id(current.parent_task_id)
        out.append(holder)
        current = holder.workflow
    return out


def _cancel_active(workflow, keep: list, exclude: set | None = None) -> None:
    """Cancel every active task except the containers in ``keep`` and the boundary events on them."""
    kept = {t.id for t in keep}
    boundary_parents = {t.parent.id for t in keep if t.parent is not None}
    skip = {t.id for t in (exclude or ())}
    for task in _active(workflow):
        if task.id in kept or task.id in skip or task.state & TaskState.FINISHED_MASK:
            continue
        if task.parent is not None and task.parent.id in boundary_parents:
            continue  # a boundary event (timer, escalation) of a subprocess the token stays in
        task.cancel()


def _active(workflow) -> list:
    return [t for t in workflow.get_tasks(state=_ACTIVE)]


def _tasks_of(workflow, element_id: str) -> list:
    return [t for t in workflow.get_tasks() if _bpmn_id(t) == element_id]


def _bpmn_id(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _spec_named(spec, element_id: str) -> bool:
    return any(getattr(t, "bpmn_id", None) == element_id for t in spec.task_specs.values())


def _movable_spec(task_spec) -> bool:
    if getattr(task_spec, "bpmn_id", None) is None:
        return False
    names = {cls.__name__ for cls in type(task_spec).__mro__}
    if "BoundaryEvent" in names or "StartEvent" in names:
        return False
    return bool(names & set(_TARGET_TYPES))


def _container_of(element_id: str, loaded) -> str | None:
    """The element id of the subprocess that holds ``element_id`` (None at the top level)."""
    for name, sub in loaded.subprocess_specs.items():
        if _spec_named(sub, element_id):
            for spec in [loaded.spec, *loaded.subprocess_specs.values()]:
                for task_spec in spec.task_specs.values():
                    if getattr(task_spec, "spec", None) == name and getattr(task_spec, "bpmn_id", None):
                        return task_spec.bpmn_id
    return None


def _rewrite_archive(workflow, ctx) -> None:
    """Tasks archived before may have changed: store the whole state again, archive from scratch."""
    ctx.session.execute(delete(TaskArchive).where(TaskArchive.instance_id == ctx.head.id))
    workflow.__dict__["_paigong_archived"] = set()
    workflow.__dict__["_paigong_fragments"] = {}


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("需要管理员权限")


# -- batch operations --------------------------------------------------------------------------

BULK_ACTIONS = ("suspend", "resume", "terminate", "retry")
MAX_BULK = 500


class BulkOps:
    """Suspend, resume, terminate or retry many instances, each in its own transaction with the reason logged."""

    def bulk(self, action: str, instance_ids, *, actor: Actor, reason: str) -> dict[int, str | None]:
        """Apply ``action`` to each instance; returns id -> None when done, else the error message.

        :raises NotAllowed: the actor is not an admin
        :raises InvalidInput: unknown action, no reason, no ids or more than 500
        """
        from engine.errors import EngineError

        _require_admin(actor)
        reason = (reason or "").strip()
        fields = {}
        if action not in BULK_ACTIONS:
            fields["action"] = "未知的批量操作"
        if not reason:
            fields["reason"] = "必填"
        ids = list(dict.fromkeys(int(i) for i in instance_ids))
        if not ids:
            fields["ids"] = "请至少选择一个流程实例"
        elif len(ids) > MAX_BULK:
            fields["ids"] = f"一次最多 {MAX_BULK} 个"
        if fields:
            raise InvalidInput("批量操作有误", fields)
        outcome: dict[int, str | None] = {}
        for instance_id in ids:
            try:
                if action == "retry":
                    self.retry_incident(instance_id, actor=actor, reason=reason)
                else:
                    getattr(self, action)(instance_id, actor=actor, reason=reason)
                outcome[instance_id] = None
            except EngineError as exc:
                outcome[instance_id] = exc.message
        return outcome

    def retry_incident(self, instance_id: int, *, actor: Actor, reason: str = "") -> StepResult:
        """Run the failed step of an instance in error again, with the admin's reason in the audit log."""
        _require_admin(actor)

        def act(workflow, ctx, loaded) -> None:
            ctx.log("retried", data={"reason": reason} if reason else None)

        return self._step(instance_id, actor, act, allowed=("error",))


# -- users and groups ----------------------------------------------------------------------------


class StaffAdmin:
    """Write verbs of the users and groups pages (admins only), each one transaction with an audit event."""

    def update_user(self, username: str, *, actor: Actor, display_name: str | None = None,
                    groups: tuple[str, ...] | None = None, roles: tuple[str, ...] | None = None,
                    phone: str | None = None, active: bool | None = None, password: str | None = None) -> None:
        """Change a user's name, phone, groups, roles, active flag or password (``None``: unchanged).

        :raises NotAllowed: the actor is not an admin, or would remove their own admin role or account
        :raises NotFound: no such user
        :raises InvalidInput: unknown group or role, a password shorter than 8
        """
        from sqlalchemy import select
        from werkzeug.security import generate_password_hash

        from engine import identity
        from engine.errors import NotFound
        from engine.models import Event, Membership, User

        _require_admin(actor)
        fields = {}
        if password is not None and len(password) < 8:
            fields["password"] = "密码至少 8 个字符"
        if roles is not None and set(roles) - set(identity.ROLES):
            fields["roles"] = "未知的角色"
        if display_name is not None and not display_name.strip():
            fields["display_name"] = "必填"
        if username == actor.username and (active is False or (roles is not None and "admin" not in roles)):
            raise NotAllowed("不能停用自己的账号或取消自己的管理员角色")
        if fields:
            raise InvalidInput("用户信息有误", fields)
        with self.db.write() as s:
            user = s.scalars(select(User).where(User.username == username)).first()
            if user is None:
                raise NotFound(f"用户 {username} 不存在")
            changed: dict[str, Any] = {}
            if groups is not None:
                known = identity.group_names(s)
                unknown = [g for g in groups if g not in known]
                if unknown:
                    raise InvalidInput("未知的员工组", {"groups": "未知的员工组：" + "、".join(unknown)})
                current = set(s.scalars(select(Membership.group_id).where(Membership.user_id == user.id)))
                if current != set(groups):
                    s.execute(delete(Membership).where(Membership.user_id == user.id))
                    for g in dict.fromkeys(groups):
                        s.add(Membership(user_id=user.id, group_id=g))
                    changed["groups"] = sorted(set(groups))
            if display_name is not None and display_name.strip() != user.display_name:
                user.display_name = changed["display_name"] = display_name.strip()[:128]
            if phone is not None and (phone.strip() or None) != user.phone:
                user.phone = changed["phone"] = phone.strip()[:32] or None
            if roles is not None and ",".join(dict.fromkeys(roles)) != user.roles:
                user.roles = ",".join(dict.fromkeys(roles))
                changed["roles"] = list(dict.fromkeys(roles))
            if active is not None and active != user.active:
                user.active = changed["active"] = active
            if password is not None:
                user.password_hash = generate_password_hash(password)
                changed["password"] = "***"
            if changed:
                s.add(Event(instance_id=None, at=self.clock.now(), actor=actor.username, kind="user_changed",
                            data={"username": username, **changed}))

    def save_group(self, group_id: str, name: str, *, actor: Actor) -> None:
        """Add a staff group (a BPMN lane) or rename one.

        :raises InvalidInput: a bad id (lowercase letters, digits and ``_``) or an empty name
        """
        import re

        from engine.models import Event, Group

        _require_admin(actor)
        fields = {}
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", group_id or ""):
            fields["group_id"] = "组编号为 2–64 位小写字母、数字或下划线，以字母开头"
        if not (name or "").strip():
            fields["name"] = "必填"
        if fields:
            raise InvalidInput("员工组信息有误", fields)
        with self.db.write() as s:
            group = s.get(Group, group_id)
            if group is None:
                s.add(Group(id=group_id, name=name.strip()[:128]))
            else:
                group.name = name.strip()[:128]
            s.add(Event(instance_id=None, at=self.clock.now(), actor=actor.username, kind="group_saved",
                        data={"group_id": group_id, "name": name.strip()}))


class AdminOps(TokenOps, BulkOps, StaffAdmin):
    """Every admin write verb; mixed into :class:`engine.facade.Engine`."""
