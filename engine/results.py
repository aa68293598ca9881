"""Frozen dataclasses the facade returns: never ORM rows, never SpiffWorkflow objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DefinitionView:
    id: int
    process_id: str
    name: str
    version: int
    sha256: str
    deployed_by: str
    deployed_at: datetime


@dataclass(frozen=True)
class DeployResult:
    deployed: tuple[DefinitionView, ...]
    unchanged: tuple[DefinitionView, ...]


@dataclass(frozen=True)
class TaskView:
    id: str
    instance_id: int
    process_id: str
    element_id: str
    name: str
    group_id: str
    assignee: str | None
    status: str
    form: str | None
    due_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    work_order_no: str | None
    order_type: str | None
    zone: str | None
    customer_name: str | None
    customer_phone: str | None
    product_model: str | None
    serial_no: str | None


@dataclass(frozen=True)
class IncidentView:
    id: int
    instance_id: int
    element_id: str
    element_name: str
    message: str
    traceback: str
    attempts: int
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class EventView:
    id: int
    at: datetime
    actor: str
    kind: str
    element_id: str | None
    task_id: str | None
    data: dict[str, Any] | None


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    element_id: str | None
    due_at: datetime
    status: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class InstanceView:
    id: int
    definition_id: int
    process_id: str
    definition_version: int
    business_key: str | None
    status: str
    version: int
    summary: dict[str, Any]
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    data: dict[str, Any] = field(default_factory=dict)
    open_tasks: tuple[TaskView, ...] = ()
    incidents: tuple[IncidentView, ...] = ()
    jobs: tuple[JobView, ...] = ()


@dataclass(frozen=True)
class TaskRef:
    """A user task that is open after a step (so a client can go on without a query)."""

    id: str
    element_id: str
    name: str
    group_id: str


@dataclass(frozen=True)
class StepResult:
    """What a write verb did: the instance's new status and version, and its open tasks."""

    instance_id: int
    status: str
    version: int
    incident: IncidentView | None = None
    open_tasks: tuple[TaskRef, ...] = ()


@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class UserView:
    username: str
    display_name: str
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    phone: str | None
    active: bool


@dataclass(frozen=True)
class DiagramView:
    """A definition's BPMN XML with what an instance did on it (for the bpmn-js viewer)."""

    process_id: str
    version: int
    xml: str
    active: tuple[str, ...]
    completed: tuple[str, ...]
    failed: tuple[str, ...]
    counts: dict[str, int]


@dataclass(frozen=True)
class Actor:
    """Who acts: a user with groups and roles, or the system."""

    username: str
    groups: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


SYSTEM = Actor("system", frozenset(), frozenset({"admin"}))
