"""Tasks: the inbox tabs with their filters, one task with its form, claim, unclaim, complete."""

from __future__ import annotations

from flask import current_app

from engine import TaskFilter
from web import labels
from web.api import actor, bp, engine, reply
from web.api.openapi import json_body, operation, query_args
from web.api.schemas import ref
from web.inbox import SORTS

TABS = ("mine", "queue", "done")


@bp.get("/tasks")
@operation("任务列表：mine（我的）、queue（组队列）、done（我完成的），与收件箱相同的筛选", tag="tasks", query={
    "tab": {"schema": {"type": "string", "enum": list(TABS), "default": "mine"}},
    "order_type": {"schema": {"type": "string", "enum": list(labels.ORDER_TYPES)}},
    "zone": {"schema": {"type": "string", "enum": list(labels.ZONES)}},
    "overdue": {"schema": {"type": "boolean"}, "description": "只看已超时"},
    "due_soon": {"schema": {"type": "boolean"}, "description": "只看 4 小时内到期"},
    "q": {"schema": {"type": "string", "maxLength": 64}, "description": "工单号、客户电话、序列号或客户姓名"},
    "group_id": {"schema": {"type": "string", "maxLength": 64}},
    "sort": {"schema": {"type": "string", "enum": list(SORTS)}},
    "dir": {"schema": {"type": "string", "enum": ["asc", "desc"]}},
    "page": {"schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
    "per_page": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}},
}, responses={200: ("任务", ref("TaskList"))})
def list_tasks():
    q = query_args(current_app)
    flt = TaskFilter(order_type=q.get("order_type"), zone=q.get("zone"), overdue=q.get("overdue", False),
                     due_soon=q.get("due_soon", False), search=(q.get("q") or "").strip() or None,
                     group_id=q.get("group_id"), sort=q.get("sort", "due_at"), descending=q.get("dir") == "desc",
                     page=q.get("page", 1), per_page=q.get("per_page", 25))
    e, a = engine(), actor()
    page = {"mine": e.inbox, "queue": e.queue, "done": e.archive}[q.get("tab", "mine")](a, flt)
    return reply({"items": list(page.items), "total": page.total, "page": page.page, "per_page": page.per_page})


@bp.get("/tasks/<task_id>")
@operation("一个任务：表单的 JSON Schema、当前数据与草稿", tag="tasks", responses={200: ("任务", ref("TaskPage"))})
def get_task(task_id: str):
    page = engine().task_page(task_id, actor=actor())
    return reply({"task": page.task, "instance_status": page.instance_status, "form_schema": page.schema,
                  "data": page.data, "draft": page.draft})


@bp.post("/tasks/<task_id>/claim")
@operation("签收组队列中的任务", tag="tasks", responses={200: ("已签收", ref("Task"))})
def claim_task(task_id: str):
    e, a = engine(), actor()
    e.claim(task_id, actor=a)
    return reply(e.get_task(task_id, actor=a))


@bp.post("/tasks/<task_id>/unclaim")
@operation("把任务退回组队列", tag="tasks", responses={200: ("已退回", ref("Done"))})
def unclaim_task(task_id: str):
    engine().unclaim(task_id, actor=actor())
    return reply({"ok": True})


@bp.post("/tasks/<task_id>/complete")
@operation("提交任务表单，流程继续", tag="tasks", body=ref("TaskCompletion"),
           responses={200: ("流程的新状态与新任务", ref("StepResult"))})
def complete_task(task_id: str):
    body = json_body(current_app)
    result = engine().complete(task_id, body["data"], actor=actor())
    return reply(result)
