"""Process instances (read, history, suspend, resume, terminate, retry), definitions (list, deploy), evaluations."""

from __future__ import annotations

from flask import current_app

from engine import InstanceFilter, NotAllowed
from engine.web_queries import ORDER_WATCHERS
from web import labels
from web.api import actor, bp, engine, reply
from web.api.openapi import json_body, operation, query_args
from web.api.orders import instance_json
from web.api.schemas import ref

ANALYSTS = {"admin", "analyst"}


def _require_admin():
    if not actor().is_admin:
        raise NotAllowed("需要管理员权限")


@bp.get("/instances")
@operation("流程实例列表（管理员）", tag="instances", query={
    "process_id": {"schema": {"type": "string", "maxLength": 128}},
    "status": {"schema": {"type": "string", "enum": list(labels.INSTANCE_STATUS)}},
    "has_incident": {"schema": {"type": "boolean"}},
    "page": {"schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
    "per_page": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}},
}, responses={200: ("实例", ref("InstanceList"))})
def list_instances():
    _require_admin()
    q = query_args(current_app)
    page = engine().list_instances(InstanceFilter(process_id=q.get("process_id"), status=q.get("status"),
                                                  has_incident=q.get("has_incident", False), page=q.get("page", 1),
                                                  per_page=q.get("per_page", 25)))
    items = [{"id": r["id"], "process_id": r["process_id"], "work_order_no": r["business_key"], "status": r["status"],
              "summary": r["summary"] or {}, "created_at": r["created_at"], "updated_at": r["updated_at"]}
             for r in page.items]
    return reply({"items": items, "total": page.total, "page": page.page, "per_page": page.per_page})


@bp.get("/instances/<int:instance_id>")
@operation("一个流程实例：状态、数据、当前任务、故障", tag="instances", responses={200: ("实例", ref("Instance"))})
def get_instance(instance_id: int):
    e = engine()
    e.check_order_access(instance_id, actor=actor())
    return reply(instance_json(e.get_instance(instance_id)))


@bp.get("/instances/<int:instance_id>/history")
@operation("流程实例的审计日志（由旧到新）", tag="instances", responses={200: ("审计日志", ref("History"))})
def instance_history(instance_id: int):
    e = engine()
    e.check_order_access(instance_id, actor=actor())
    return reply({"items": e.history(instance_id)})


def _reason() -> str:
    return (json_body(current_app) or {}).get("reason", "") if _has_body() else ""


def _has_body() -> bool:
    from flask import request

    return bool(request.get_data(cache=True))


@bp.post("/instances/<int:instance_id>/suspend")
@operation("挂起实例（管理员）", tag="instances", body=ref("Reason"), responses={200: ("已挂起", ref("Done"))})
def suspend_instance(instance_id: int):
    _require_admin()
    engine().suspend(instance_id, actor=actor(), reason=_reason())
    return reply({"ok": True, "status": "suspended"})


@bp.post("/instances/<int:instance_id>/resume")
@operation("恢复挂起的实例（管理员）", tag="instances", body=ref("Reason"), responses={200: ("已恢复", ref("Done"))})
def resume_instance(instance_id: int):
    _require_admin()
    e = engine()
    e.resume(instance_id, actor=actor(), reason=_reason())
    return reply({"ok": True, "status": e.get_instance(instance_id, with_data=False).status})


@bp.post("/instances/<int:instance_id>/terminate")
@operation("终止实例（管理员）", tag="instances", body=ref("Reason"), responses={200: ("已终止", ref("Done"))})
def terminate_instance(instance_id: int):
    _require_admin()
    engine().terminate(instance_id, actor=actor(), reason=_reason())
    return reply({"ok": True, "status": "terminated"})


@bp.post("/instances/<int:instance_id>/retry")
@operation("重试故障实例的失败步骤（管理员）", tag="instances", responses={200: ("重试结果", ref("StepResult"))})
def retry_instance(instance_id: int):
    _require_admin()
    return reply(engine().retry(instance_id, actor=actor()))


@bp.get("/definitions")
@operation("已部署的流程定义与版本（流程分析员、管理员）", tag="definitions",
           responses={200: ("流程定义", ref("DefinitionList"))})
def list_definitions():
    if not (actor().roles & ANALYSTS):
        raise NotAllowed("需要流程分析员或管理员权限")
    return reply({"items": engine().definitions()})


@bp.post("/definitions")
@operation("校验并部署流程文件（流程分析员、管理员）", tag="definitions", body=ref("Deploy"),
           description="被拒绝时返回 422，fields 按“文件 [元素]”列出每个问题。",
           responses={200: ("部署结果：新版本与未改变的流程", ref("DeployResult"))})
def deploy_definitions():
    a = actor()
    if not (a.roles & ANALYSTS):
        raise NotAllowed("需要流程分析员或管理员权限")
    body = json_body(current_app)
    files = {name: text.encode("utf-8") for name, text in body["files"].items()}
    return reply(engine().deploy(files, a))


@bp.get("/evaluations")
@operation("客户评价（最新在前）与平均分", tag="evaluations", query={
    "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
}, responses={200: ("客户评价", ref("Evaluations"))})
def list_evaluations():
    a = actor()
    if not (a.is_admin or a.groups & ORDER_WATCHERS):
        raise NotAllowed("只有调度、客服或管理员可以查看评价")
    return reply(engine().evaluations(limit=query_args(current_app).get("limit", 100)))


@bp.get("/notification-templates")
@operation("通知模板（管理员）", tag="notifications", responses={200: ("通知模板", ref("TemplateList"))})
def list_templates():
    _require_admin()
    return reply({"items": engine().notification_templates()})


@bp.put("/notification-templates")
@operation("新增或修改一个通知模板（按主题、渠道、接收人；管理员）", tag="notifications", body=ref("Template"),
           responses={200: ("已保存", ref("Template"))})
def save_template():
    _require_admin()
    body = json_body(current_app)
    saved = engine().save_notification_template(
        topic=body["topic"], channel=body["channel"], recipient=body["recipient"], body=body["body"],
        title=body.get("title", ""), enabled=body.get("enabled", True), actor=actor())
    return reply(saved)
