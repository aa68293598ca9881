"""Running one step of a workflow and reading what it now waits for.

These helpers work on a loaded ``BpmnWorkflow``; the facade wraps them in transactions.
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.spiff import ServiceCallError

CHECK_SNAPSHOT = os.environ.get("PAIGONG_CHECK_SNAPSHOT") == "1"
WORK_ORDER_FIELDS = (
    "work_order_no", "order_type", "zone", "customer_name", "customer_phone", "product_model", "serial_no",
)
RESERVED_DATA_KEYS = frozenset(
    {"typename", "now_iso", "add_duration", "Decimal", "math", "date", "datetime", "timedelta"}
)


SLA_PAUSE = "sla_pause"  # a script sets it to pause the process's deadline timers, and to None to resume
SLA_STATE = "sla_pause_state"  # kept in the workflow's own data while paused
HELD = "9999-12-31T00:00:00+00:00"  # the due time of a held timer
NOT_SET = object()


class StopBefore(Exception):
    """Raised by the runner to stop the engine just before a task that failed earlier."""


@dataclass
class EngineFailure(Exception):
    element_id: str
    element_name: str
    spec_name: str
    occurrence: int
    message: str
    trace: str
    retries: int = 0
    backoff: float = 2.0


@dataclass
class Runner:
    """Counts engine tasks as they run; can stop before the n-th run of one spec."""

    stop_at: tuple[str, int] | None = None
    seen: Counter = field(default_factory=Counter)
    ran: list[str] = field(default_factory=list)
    current: Any = None
    sla_pause: Any = NOT_SET  # the value a script task of this step gave ``sla_pause`` last

    def will(self, task) -> None:
        name = task.task_spec.name
        self.seen[name] += 1
        self.current = task
        if self.stop_at == (name, self.seen[name]):
            raise StopBefore(name)

    def did(self, task) -> None:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id:  # hidden helper specs (boundary splits, start) have none
            self.ran.append(bpmn_id)
            if SLA_PAUSE in (getattr(task.task_spec, "script", None) or ""):
                self.sla_pause = task.data.get(SLA_PAUSE)
        self.current = None

    def run(self, workflow) -> None:
        """Run engine steps, turning any failure into :class:`EngineFailure`."""
        try:
            workflow.do_engine_steps(will_complete_task=self.will, did_complete_task=self.did)
        except StopBefore:
            raise
        except Exception as exc:
            task = self.current
            spec = task.task_spec if task is not None else None
            cause = exc.original if isinstance(exc, ServiceCallError) else exc
            message = _describe(exc)
            raise EngineFailure(
                element_id=(getattr(spec, "bpmn_id", None) or getattr(spec, "name", "?")) if spec else "?",
                element_name=(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or "?") if spec else "?",
                spec_name=spec.name if spec else "?",
                occurrence=self.seen[spec.name] if spec else 0,
                message=message,
                trace="".join(traceback.format_exception(type(cause), cause, cause.__traceback__)),
                retries=int(getattr(spec, "retries", 0) or 0) if spec else 0,
                backoff=float(getattr(spec, "retry_backoff_base", 2) or 2) if spec else 2.0,
            ) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ServiceCallError):
        return str(exc)
    text = str(exc).strip() or type(exc).__name__
    notes = getattr(exc, "__notes__", None) or []
    inner = getattr(exc, "exception", None)
    if inner is not None and str(inner) not in text:
        text += f" ({type(inner).__name__}: {inner})"
    if notes:
        text += " — " + "; ".join(notes)
    return text


def ready_user_tasks(workflow) -> list:
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def waiting_catches(workflow) -> list:
    return [t for t in workflow.event_manager.tasks.values() if t.state == TaskState.WAITING]


def timer_due(task) -> datetime | None:
    """Due time of a WAITING timer task (or of the timer an event-based gateway waits for)."""
    definition = task.task_spec.event_definition
    if isinstance(definition, MultipleEventDefinition):
        if not any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions):
            return None
    elif not isinstance(definition, TimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("next")
        if value is None:
            return None
    if value == HELD:  # a deadline held while the SLA clock is paused: no job until it resumes
        return None
    when = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None
    return when.astimezone(UTC) if when else None


def message_definitions(task) -> list:
    """The message definitions a waiting catch task listens for (several at an event gateway)."""
    definition = task.task_spec.event_definition
    if isinstance(definition, MultipleEventDefinition):
        return [d for d in definition.event_definitions if isinstance(d, MessageEventDefinition)]
    if isinstance(definition, MessageEventDefinition):
        return [definition]
    return []


def event_subprocess_starts(workflow) -> list[tuple[Any, str, Any]]:
    """Message start events of the event subprocesses that may start now.

    ``(scope, event subprocess spec name, start event spec)`` for the top workflow and every
    running subworkflow that declares event subprocesses started by a message. The library
    subscribes no task for them until the message arrives, so the engine lists them itself.
    """
    found = []
    if workflow.is_completed():
        return found
    scopes = [workflow] + [sub for sub in workflow.subprocesses.values() if not sub.is_completed()]
    for scope in scopes:
        if scope is not workflow:
            parent = workflow.get_task_from_id(scope.parent_task_id)
            if parent is None or parent.state != TaskState.STARTED:
                continue
        for name in getattr(scope.spec.start, "trigger_specs", ()) or ():
            sp_spec = scope.subprocess_specs.get(name) if hasattr(scope, "subprocess_specs") else None
            sp_spec = sp_spec or workflow.subprocess_specs.get(name)
            if sp_spec is None:
                continue
            for start in sp_spec.bpmn_start_events:
                if isinstance(start.event_definition, MessageEventDefinition):
                    found.append((scope, name, start))
    return found


def message_start_names(spec) -> dict[str, Any]:
    """Message names of a process's own (top-level) message start events, with their specs."""
    return {ts.event_definition.name: ts for ts in spec.task_specs.values()
            if type(ts).__name__ == "StartEvent" and isinstance(ts.event_definition, MessageEventDefinition)}


def open_at_message_start(workflow, name: str):
    """Run a new workflow up to its start events and keep only the message start ``name``.

    A process may have a none start event (started by a clerk) besides message start events;
    started by a message, the other start events are cancelled so that only the message's
    path runs. Returns the waiting start task, or None when the process has no such start.
    """
    while True:
        ready = [t for t in workflow.get_tasks(state=TaskState.READY)
                 if t.task_spec.name in ("Start", "StartEventSplit")]
        if not ready:
            break
        for task in ready:
            task.run()
    starts = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
              if type(t.task_spec).__name__ == "StartEvent" and t.workflow is workflow]
    chosen = next((t for t in starts if isinstance(t.task_spec.event_definition, MessageEventDefinition)
                   and t.task_spec.event_definition.name == name), None)
    for task in starts:
        if task is not chosen:
            workflow.event_manager.remove_task(task)
            task.cancel()
    return chosen


def rearm(catcher) -> Any | None:
    """Wait again at a non-interrupting message boundary event that has just caught a message.

    The library arms a boundary event once per run of its activity; a non-interrupting one
    must catch every message while the activity runs (each urge of an order, say), so a new
    waiting copy is added beside the one that fired. It is cancelled with the others when the
    activity ends.
    """
    spec = catcher.task_spec
    if type(spec).__name__ != "BoundaryEvent" or spec.cancel_activity or catcher.state == TaskState.WAITING:
        return None
    if not message_definitions(catcher) or catcher.parent is None:
        return None
    if catcher.parent.state != TaskState.COMPLETED:
        return None
    fresh = catcher.parent._add_child(spec, TaskState.MAYBE)  # predicted: its outputs get predicted too
    spec._update(fresh)
    return fresh


def pause_deadlines(workflow, value: Any, now: datetime) -> dict[str, Any] | None:
    """Pause or resume the deadline timers (``timeDate`` timers) after ``sla_pause`` changed.

    Paused (``value`` a dict ``{"reason": ..., "timers": [element ids]}``, no ``timers``
    meaning every deadline timer): each waiting timer is held and its due time kept.
    Resumed (``value`` None/empty): each held timer still waiting is due the paused time
    later than before, and the paused seconds add up in ``sla_paused_seconds``.
    Returns what changed for the audit log, or None when nothing did.
    """
    state = workflow.data.get(SLA_STATE)
    if value and not state:
        wanted = set(value.get("timers") or ()) if isinstance(value, dict) else set()
        held, names = {}, {}
        for task in waiting_catches(workflow):
            if type(task.task_spec.event_definition).__name__ != "TimeDateEventDefinition":
                continue
            if wanted and task.task_spec.bpmn_id not in wanted:
                continue
            due = timer_due(task)
            if due is None:
                continue
            held[str(task.id)] = due.isoformat()
            names[task.task_spec.bpmn_id] = due.isoformat()
            task.internal_data["event_value"] = HELD
        reason = value.get("reason") if isinstance(value, dict) else str(value)
        workflow.data[SLA_STATE] = {"since": now.isoformat(), "reason": reason, "held": held}
        return {"kind": "sla_paused", "reason": reason, "timers": names}
    if not value and state:
        paused = now - datetime.fromisoformat(state["since"])
        moved = {}
        for task_id, due in state["held"].items():
            task = workflow.get_task_from_id(UUID(task_id))
            if task is not None and task.state == TaskState.WAITING:
                new_due = datetime.fromisoformat(due) + paused
                task.internal_data["event_value"] = new_due.isoformat()
                moved[task.task_spec.bpmn_id] = new_due.isoformat()
        total = float(workflow.data.get("sla_paused_seconds") or 0) + paused.total_seconds()
        workflow.data["sla_paused_seconds"] = total
        del workflow.data[SLA_STATE]
        return {"kind": "sla_resumed", "reason": state.get("reason"), "paused_seconds": paused.total_seconds(),
                "total_paused_seconds": total, "timers": moved}
    return None


def deadline_for(task) -> datetime | None:
    """Earliest interrupting timer on the task or on any subprocess that contains it."""
    best = None
    current = task
    while current is not None:
        parent = current.parent
        if parent is not None:
            for sibling in parent.children:
                if sibling is current or sibling.state != TaskState.WAITING:
                    continue
                spec = sibling.task_spec
                if not getattr(spec, "cancel_activity", False):
                    continue
                due = timer_due(sibling)
                if due is not None and (best is None or due < best):
                    best = due
        workflow = current.workflow
        parent_id = getattr(workflow, "parent_task_id", None)
        current = workflow.top_workflow.get_task_from_id(parent_id) if parent_id else None
    return best


def current_data(workflow, snap: Snapshot | None = None) -> dict[str, Any]:
    """The freshest task data: a READY or WAITING task's, else the workflow's."""
    ready = list(snap.ready.values()) if snap is not None else ready_user_tasks(workflow)
    if ready:
        return ready[0].data
    waiting = waiting_catches(workflow)
    if waiting:
        return waiting[0].data
    if workflow.last_task is not None and workflow.last_task.data:
        return workflow.last_task.data
    return workflow.data


def summary_of(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data.get(k) for k in WORK_ORDER_FIELDS if data.get(k) is not None}
    warranty = data.get("warranty")
    if isinstance(warranty, dict) and "category" in warranty:
        out["warranty_category"] = warranty.get("category")
    if data.get("technician"):
        out["technician"] = data.get("technician")
    return out


@dataclass
class Snapshot:
    """What a workflow waits for: READY user tasks, timers and message catches, by task id."""

    ready: dict[str, Any] = field(default_factory=dict)
    timers: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    messages: dict[str, tuple[str, str]] = field(default_factory=dict)  # "task id|message" -> (element, name)
    summary: dict[str, Any] | None = None  # as stored on the instance row, when known


class ReadyWatch:
    """Collects the user tasks that become READY while a step runs.

    Walking the whole task tree to find READY user tasks after every step costs as much as
    the step itself on long-lived instances; instead each user-task spec reports its tasks
    as they become ready, and the step's snapshot is the previous one updated with them.
    """

    def __init__(self) -> None:
        self._current: ContextVar[list | None] = ContextVar("paigong_ready", default=None)
        self._watched: set[int] = set()

    def watch(self, specs) -> None:
        """Connect to every user-task spec of ``specs`` (a spec and its subprocess specs)."""
        for spec in specs:
            for task_spec in spec.task_specs.values():
                if getattr(task_spec, "manual", False) and id(task_spec) not in self._watched:
                    self._watched.add(id(task_spec))
                    task_spec.ready_event.connect(self._became_ready)

    def _became_ready(self, workflow, task, *args, **kwargs) -> None:
        seen = self._current.get()
        if seen is not None:
            seen.append(task)

    def start(self):
        return self._current.set([])

    def seen(self) -> list | None:
        """Tasks that became READY since :meth:`start` (None outside a watched step)."""
        return self._current.get()

    def stop(self, token) -> list:
        seen = self._current.get() or []
        self._current.reset(token)
        return seen


def snapshot(workflow, before: Snapshot | None = None, became_ready: list | None = None) -> Snapshot:
    """What the workflow waits for now.

    With ``before`` and ``became_ready`` (see :class:`ReadyWatch`) the READY user tasks are
    derived without walking the tree; set PAIGONG_CHECK_SNAPSHOT=1 to verify against a walk.
    """
    if before is None or became_ready is None:
        ready = {str(t.id): t for t in ready_user_tasks(workflow)}
    else:
        ready = {tid: t for tid, t in before.ready.items() if t.state == TaskState.READY}
        for task in became_ready:
            if task.state == TaskState.READY:
                ready[str(task.id)] = task
        if CHECK_SNAPSHOT:
            walked = {str(t.id) for t in ready_user_tasks(workflow)}
            if walked != set(ready):
                raise AssertionError(f"ready tasks derived {sorted(ready)} != walked {sorted(walked)}")
    snap = Snapshot(ready)
    for task in waiting_catches(workflow):
        due = timer_due(task)
        if due is not None:
            snap.timers[str(task.id)] = (task.task_spec.bpmn_id, due)
        for definition in message_definitions(task):
            snap.messages[f"{task.id}|{definition.name}"] = (task.task_spec.bpmn_id, definition.name)
    for scope, sp_name, start in event_subprocess_starts(workflow):
        key = f"{getattr(scope, 'parent_task_id', None) or 'top'}:{sp_name}|{start.event_definition.name}"
        snap.messages[key] = (start.bpmn_id, start.event_definition.name)
    return snap


def status_of(workflow, snap: Snapshot | None = None) -> str:
    snap = snap or snapshot(workflow)
    if snap.ready:
        return "running"
    if snap.timers or snap.messages or not workflow.is_completed():
        return "waiting"
    return "completed"


def group_of(task, lanes: dict[str, str]) -> str | None:
    """Lane group of a task, inherited from the subprocess or call activity that holds it."""
    current = task
    while current is not None:
        bpmn_id = getattr(current.task_spec, "bpmn_id", None)
        if bpmn_id in lanes:
            return lanes[bpmn_id]
        parent_id = getattr(current.workflow, "parent_task_id", None)
        current = current.workflow.top_workflow.get_task_from_id(parent_id) if parent_id else None
    return None
