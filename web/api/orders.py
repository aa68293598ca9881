"""Work orders (create with an idempotency key, read, search), messages, reference data, me, the document."""

from __future__ import annotations

import hashlib
import json

from flask import current_app, url_for

from engine import InstanceFilter, InvalidInput, NotAllowed
from engine.intake import Idempotency
from engine.web_queries import ORDER_WATCHERS
from web import labels
from web.api import actor, bp, engine, reply
from web.api.openapi import document, json_body, operation, query_args
from web.api.schemas import ref

IDEMPOTENCY_HEADER = {"Idempotency-Key": {
    "required": False, "description": "重试同一请求时带同一个键：只会新建一张工单，重试得到同样的结果。",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[\x21-\x7e]+$"}}}
INTAKE_GROUPS = {"customer_service"}


def _may_open(a) -> bool:
    return a.is_admin or bool(a.groups & INTAKE_GROUPS)


def _may_search(a) -> bool:
    return a.is_admin or bool(a.groups & ORDER_WATCHERS)


@bp.get("/openapi.json")
@operation("本接口的 OpenAPI 3 文档", tag="meta", public=True, responses={200: ("OpenAPI 文档", {"type": "object"})})
def openapi():
    return reply(document(current_app))


@bp.get("/me")
@operation("令牌代表的用户：用户名、员工组与角色", tag="meta", responses={200: ("当前用户", ref("Me"))})
def me():
    a = actor()
    return reply({"username": a.username, "groups": sorted(a.groups), "roles": sorted(a.roles)})


@bp.post("/work-orders")
@operation("新建工单：按工单类型启动流程", tag="work-orders", body=ref("WorkOrderCreate"), headers=IDEMPOTENCY_HEADER,
           description="带 Idempotency-Key 重试时不会重复建单：同一键返回第一次的结果（200，头 Idempotent-Replayed: true）；"
                       "同一键用于不同请求内容时返回 409。",
           responses={201: ("工单已创建", ref("OpenedOrder")), 200: ("同一幂等键的重放结果", ref("OpenedOrder"))})
def create_work_order():
    a = actor()
    if not _may_open(a):
        raise NotAllowed("只有客服可以新建工单")
    body = json_body(current_app)
    data = {name: body.get(name) for name in ("order_type", "channel", "customer_name", "customer_phone", "address",
                                              "zone", "product_model", "serial_no", "purchase_date", "symptom",
                                              "requested_at", "customer_requirements")}
    data["channel"] = data["channel"] or "phone"
    data["zone"] = data["zone"] or "in_city"
    _check_dates(data)
    key = _header("Idempotency-Key")
    idem = None
    if key:
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        idem = Idempotency(f"api:{a.username}", key, fingerprint)
    opened = engine().open_order(labels.ORDER_PROCESSES[data["order_type"]], data, actor=a, idempotency=idem)
    location = url_for("api.get_work_order", work_order_no=opened.work_order_no)
    if opened.replayed:
        return reply(opened.as_dict(), 200, Location=location, Idempotent_Replayed="true")
    return reply(opened.as_dict(), 201, Location=location)


def _header(name: str) -> str | None:
    from flask import request

    value = request.headers.get(name)
    if value is None:
        return None
    if not value or len(value) > 128 or any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise InvalidInput(f"{name} 应为 1–128 个可见 ASCII 字符", {name: "格式不对"})
    return value


def _check_dates(data: dict) -> None:
    from tasks.values import local_date

    bought = data.get("purchase_date")
    if bought and bought > local_date(engine().clock.now()).isoformat():
        raise InvalidInput("购买日期不能晚于今天", {"purchase_date": "购买日期不能晚于今天"})
    model = data.get("product_model")
    if model and engine().product_known(model) is False:
        raise InvalidInput("产品目录中没有这个型号", {"product_model": "产品目录中没有这个型号"})


@bp.get("/work-orders/<work_order_no>")
@operation("按工单号读取工单：状态、数据、当前任务", tag="work-orders", responses={200: ("工单", ref("Instance"))})
def get_work_order(work_order_no: str):
    e = engine()
    instance_id = e.find_order(work_order_no, actor=actor())
    return reply(instance_json(e.get_instance(instance_id)))


@bp.get("/work-orders")
@operation("搜索工单（调度、客服与管理员）", tag="work-orders", query={
    "work_order_no": {"schema": {"type": "string", "maxLength": 64}, "description": "工单号（精确）"},
    "customer": {"schema": {"type": "string", "maxLength": 64}, "description": "客户姓名（包含）"},
    "status": {"schema": {"type": "string", "enum": list(labels.INSTANCE_STATUS)}},
    "process_id": {"schema": {"type": "string", "maxLength": 128}},
    "technician": {"schema": {"type": "string", "maxLength": 64}, "description": "当前处理的技术员用户名"},
    "page": {"schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
    "per_page": {"schema": {"type": "integer", "minimum": 1, "maximum": 200}},
}, responses={200: ("工单列表", ref("InstanceList"))})
def search_work_orders():
    if not _may_search(actor()):
        raise NotAllowed("只有调度、客服或管理员可以搜索工单")
    q = query_args(current_app)
    page = engine().list_instances(InstanceFilter(
        process_id=q.get("process_id"), status=q.get("status"), business_key=q.get("work_order_no"),
        customer=q.get("customer"), technician=q.get("technician"), page=q.get("page", 1),
        per_page=q.get("per_page", 25)))
    items = [{"id": r["id"], "process_id": r["process_id"], "work_order_no": r["business_key"], "status": r["status"],
              "summary": r["summary"] or {}, "created_at": r["created_at"], "updated_at": r["updated_at"]}
             for r in page.items]
    return reply({"items": items, "total": page.total, "page": page.page, "per_page": page.per_page})


def instance_json(inst, *, with_data: bool = True) -> dict:
    out = {"id": inst.id, "process_id": inst.process_id, "definition_version": inst.definition_version,
           "work_order_no": inst.business_key, "status": inst.status, "version": inst.version,
           "summary": inst.summary, "started_by": inst.started_by, "created_at": inst.created_at,
           "updated_at": inst.updated_at, "ended_at": inst.ended_at, "open_tasks": list(inst.open_tasks),
           "incidents": [{"id": i.id, "element_id": i.element_id, "element_name": i.element_name,
                          "message": i.message, "attempts": i.attempts, "created_at": i.created_at,
                          "resolved_at": i.resolved_at} for i in inst.incidents]}
    if with_data:
        out["data"] = inst.data
    return out


@bp.post("/messages")
@operation("向工单的流程发送 BPMN 消息（按消息名与工单号关联）", tag="messages", body=ref("MessageSend"),
           description="urge（催单）与 reschedule（改约）：流程在等待该消息时交给流程（delivered=true）；流程未等待时记入审计日志并通知调度（delivered=false）。催单总是记入审计日志并通知调度。",
           responses={202: ("已送达或已记录", ref("MessageResult"))})
def send_message():
    a = actor()
    body = json_body(current_app)
    e = engine()
    instance_id = e.find_order(body["work_order_no"], actor=a)
    payload = body.get("payload") or {}
    from engine.customer import RECORDED_REQUESTS

    if body["name"] in RECORDED_REQUESTS:
        result = e.customer_request(body["name"], instance_id=instance_id, payload=payload, actor=a)
        return reply({"delivered": result.delivered, "instance_id": result.instance_id,
                      "work_order_no": result.work_order_no}, 202)
    step = e.send_message(body["name"], body["work_order_no"], payload, actor=a)
    return reply({"delivered": True, "instance_id": step.instance_id, "work_order_no": body["work_order_no"],
                  "status": step.status}, 202)


@bp.get("/reference")
@operation("参考数据：每类的条数", tag="reference", responses={200: ("每类条数", ref("ReferenceCounts"))})
def reference_counts():
    return reply(engine().reference_counts())


@bp.get("/reference/<kind>/<path:key>")
@operation("参考数据的一条：product（型号）、part（配件编码）、fee（工单类型的收费标准）、technician（技术员编号）",
           tag="reference", responses={200: ("一条参考数据", ref("ReferenceItem"))})
def reference_item(kind: str, key: str):
    return reply(engine().reference_item(kind, key))
