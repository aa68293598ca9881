"""ORM rows to the frozen result dataclasses."""

from __future__ import annotations

from engine import models as m
from engine import results as r

STATUS_NAMES = {
    "running": "进行中",
    "waiting": "等待中",
    "suspended": "已挂起",
    "error": "故障",
    "completed": "已完成",
    "terminated": "已终止",
}


def definition(d: m.Definition) -> r.DefinitionView:
    return r.DefinitionView(d.id, d.process_id, d.name, d.version, d.sha256, d.deployed_by, d.deployed_at)


def task(t: m.HumanTask) -> r.TaskView:
    return r.TaskView(
        id=t.id, instance_id=t.instance_id, process_id=t.process_id, element_id=t.element_id, name=t.name,
        group_id=t.group_id, assignee=t.assignee, status=t.status, form=t.form, due_at=t.due_at,
        created_at=t.created_at, completed_at=t.completed_at, completed_by=t.completed_by,
        work_order_no=t.work_order_no, order_type=t.order_type, zone=t.zone, customer_name=t.customer_name,
        customer_phone=t.customer_phone, product_model=t.product_model, serial_no=t.serial_no,
    )


def incident(i: m.Incident) -> r.IncidentView:
    return r.IncidentView(i.id, i.instance_id, i.element_id, i.element_name, i.message, i.traceback, i.attempts,
                          i.created_at, i.resolved_at)


def event(e: m.Event) -> r.EventView:
    return r.EventView(e.id, e.at, e.actor, e.kind, e.element_id, e.task_id, e.data)


def events(e: m.Event) -> list[r.EventView]:
    """One stored event as views; a step's engine elements are stored packed in one row."""
    if e.kind != "elements":
        return [event(e)]
    return [r.EventView(e.id, e.at, e.actor, "element", element_id, None, None)
            for element_id in (e.data or {}).get("ran", ())]


def job(j: m.Job) -> r.JobView:
    return r.JobView(j.id, j.kind, j.element_id, j.due_at, j.status, j.attempts, j.last_error)
