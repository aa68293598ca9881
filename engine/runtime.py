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
