"""JSON Schemas of the API's requests and responses (OpenAPI 3.1 components)."""

from __future__ import annotations

from web import labels

PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$"
SERIAL = r"^[A-Z0-9-]{6,32}$"


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str, **more) -> dict:
    return {"type": [kind, "null"], **more}


TIME = nullable("string", format="date-time")
TEXT = {"type": "string", "maxLength": 2000}
ID = {"type": "integer", "minimum": 1}
NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9_.:-]+$"}

COMPONENTS: dict[str, dict] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"], "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "not_found, forbidden, conflict, invalid, unauthorized, ..."},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            }}},
    },
    "TaskRef": {
        "type": "object", "required": ["id", "element_id", "name", "group_id"],
        "properties": {"id": {"type": "string"}, "element_id": {"type": "string"}, "name": {"type": "string"},
                       "group_id": {"type": "string"}},
    },
    "Task": {
        "type": "object",
        "required": ["id", "instance_id", "process_id", "element_id", "name", "group_id", "assignee", "status",
                     "form", "due_at", "created_at", "completed_at", "completed_by", "work_order_no", "order_type",
                     "zone", "customer_name", "customer_phone", "product_model", "serial_no"],
        "properties": {
            "id": {"type": "string"}, "instance_id": {"type": "integer"}, "process_id": {"type": "string"},
            "element_id": {"type": "string"}, "name": {"type": "string"}, "group_id": {"type": "string"},
            "assignee": nullable("string"), "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "form": nullable("string"), "due_at": TIME, "created_at": {"type": "string", "format": "date-time"},
            "completed_at": TIME, "completed_by": nullable("string"), "work_order_no": nullable("string"),
            "order_type": nullable("string"), "zone": nullable("string"), "customer_name": nullable("string"),
            "customer_phone": nullable("string"), "product_model": nullable("string"), "serial_no": nullable("string"),
        },
    },
    "TaskPage": {
        "type": "object", "required": ["task", "instance_status", "form_schema", "data", "draft"],
        "properties": {"task": ref("Task"), "instance_status": {"type": "string"},
                       "form_schema": nullable("object"), "data": {"type": "object"}, "draft": nullable("object")},
    },
    "TaskList": {
        "type": "object", "required": ["items", "total", "page", "per_page"],
        "properties": {"items": {"type": "array", "items": ref("Task")}, "total": {"type": "integer"},
                       "page": {"type": "integer"}, "per_page": {"type": "integer"}},
    },
    "StepResult": {
        "type": "object", "required": ["instance_id", "status", "version", "incident", "open_tasks"],
        "properties": {"instance_id": {"type": "integer"}, "status": {"type": "string"},
                       "version": {"type": "integer"}, "incident": nullable("object"),
                       "open_tasks": {"type": "array", "items": ref("TaskRef")}},
    },
    "OpenedOrder": {
        "type": "object", "required": ["instance_id", "work_order_no", "status", "open_tasks", "duplicates"],
        "properties": {
            "instance_id": {"type": "integer"}, "work_order_no": {"type": "string"}, "status": {"type": "string"},
            "open_tasks": {"type": "array", "items": ref("TaskRef")},
            "duplicates": {"type": "array", "items": {"type": "string"},
                           "description": "同一电话或序列号仍在处理中的工单号（仍会新建，由员工判断）"},
        },
    },
    "WorkOrderCreate": {
        "type": "object", "additionalProperties": False,
        "required": ["order_type", "customer_name", "customer_phone", "address", "product_model", "serial_no",
                     "symptom"],
        "properties": {
            "order_type": {"type": "string", "enum": list(labels.ORDER_TYPES)},
            "channel": {"type": "string", "enum": list(labels.CHANNELS), "default": "phone"},
            "customer_name": {"type": "string", "minLength": 1, "maxLength": 64},
            "customer_phone": {"type": "string", "pattern": PHONE},
            "address": {"type": "string", "minLength": 1, "maxLength": 200},
            "zone": {"type": "string", "enum": list(labels.ZONES), "default": "in_city"},
            "product_model": {"type": "string", "minLength": 1, "maxLength": 64},
            "serial_no": {"type": "string", "pattern": SERIAL},
            "purchase_date": nullable("string", format="date"),
            "symptom": {"type": "string", "minLength": 1, "maxLength": 1000},
            "requested_at": TIME,
            "customer_requirements": nullable("string", maxLength=500),
        },
    },
    "Instance": {
        "type": "object",
        "required": ["id", "process_id", "definition_version", "work_order_no", "status", "version", "summary",
                     "started_by", "created_at", "updated_at", "ended_at", "open_tasks", "incidents"],
        "properties": {
            "id": {"type": "integer"}, "process_id": {"type": "string"}, "definition_version": {"type": "integer"},
            "work_order_no": nullable("string"), "status": {"type": "string"}, "version": {"type": "integer"},
            "summary": {"type": "object"}, "started_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"}, "ended_at": TIME,
            "data": {"type": "object"}, "open_tasks": {"type": "array", "items": ref("Task")},
            "incidents": {"type": "array", "items": {"type": "object"}},
        },
    },
    "InstanceList": {
        "type": "object", "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": {
                "type": "object", "required": ["id", "process_id", "work_order_no", "status", "summary", "created_at"],
                "properties": {"id": {"type": "integer"}, "process_id": {"type": "string"},
                               "work_order_no": nullable("string"), "status": {"type": "string"},
                               "summary": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"},
                               "updated_at": {"type": "string", "format": "date-time"}}}},
            "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
        },
    },
    "Event": {
        "type": "object", "required": ["id", "at", "actor", "kind", "element_id", "task_id", "data"],
        "properties": {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                       "actor": {"type": "string"}, "kind": {"type": "string"}, "element_id": nullable("string"),
                       "task_id": nullable("string"), "data": nullable("object")},
    },
    "History": {"type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": ref("Event")}}},
    "Reason": {
        "type": "object", "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 500}},
    },
    "Done": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"},
                                                                   "status": {"type": "string"}}},
    "TaskCompletion": {
        "type": "object", "additionalProperties": False, "required": ["data"],
        "properties": {"data": {"type": "object", "maxProperties": 100,
                                "description": "表单数据（按任务的表单 JSON Schema 校验）"}},
    },
    "MessageSend": {
        "type": "object", "additionalProperties": False, "required": ["name", "work_order_no"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*$",
                     "description": "BPMN 消息名，如 urge（催单）、reschedule（改约）、callback_result（回访结果）"},
            "work_order_no": {"type": "string", "minLength": 1, "maxLength": 64},
            "payload": {"type": "object", "maxProperties": 50},
        },
    },
    "MessageResult": {
        "type": "object", "required": ["delivered", "instance_id", "work_order_no"],
        "properties": {
            "delivered": {"type": "boolean",
                          "description": "true：流程已接收该消息；false：流程尚未等待该消息，已记入审计日志并通知调度"},
            "instance_id": {"type": "integer"}, "work_order_no": {"type": "string"},
            "status": {"type": "string"},
        },
    },
    "Definition": {
        "type": "object", "required": ["id", "process_id", "name", "version", "sha256", "deployed_by", "deployed_at"],
        "properties": {"id": {"type": "integer"}, "process_id": {"type": "string"}, "name": {"type": "string"},
                       "version": {"type": "integer"}, "sha256": {"type": "string"},
                       "deployed_by": {"type": "string"}, "deployed_at": {"type": "string", "format": "date-time"}},
    },
    "DefinitionList": {"type": "object", "required": ["items"],
                       "properties": {"items": {"type": "array", "items": ref("Definition")}}},
    "Deploy": {
        "type": "object", "additionalProperties": False, "required": ["files"],
        "properties": {"files": {
            "type": "object", "minProperties": 1, "maxProperties": 200,
            "propertyNames": {"maxLength": 200},
            "additionalProperties": {"type": "string", "maxLength": 5 * 1024 * 1024},
            "description": "文件路径 → 内容：*.bpmn、*.dmn 与 forms/*.json"}},
    },
    "DeployResult": {
        "type": "object", "required": ["deployed", "unchanged"],
        "properties": {"deployed": {"type": "array", "items": ref("Definition")},
                       "unchanged": {"type": "array", "items": ref("Definition")}},
    },
    "ReferenceCounts": {"type": "object", "additionalProperties": {"type": "integer"}},
    "ReferenceItem": {"type": "object"},
    "Me": {
        "type": "object", "required": ["username", "groups", "roles"],
        "properties": {"username": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}},
                       "roles": {"type": "array", "items": {"type": "string"}}},
    },
    "Evaluations": {
        "type": "object", "required": ["count", "average", "items"],
        "properties": {"count": {"type": "integer"}, "average": nullable("number"),
                       "items": {"type": "array", "items": {"type": "object"}}},
    },
}
COMPONENTS["Template"] = {
    "type": "object", "additionalProperties": False, "required": ["topic", "channel", "recipient", "body"],
    "properties": {
        "id": nullable("integer"),
        "topic": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]*$",
                  "description": "dispatch_reminder、appointment、service_completed、urge、reschedule_request 或 BPMN 消息名"},
        "channel": {"type": "string", "enum": ["sms", "wechat", "email", "webhook", "log"]},
        "recipient": {"type": "string", "minLength": 1, "maxLength": 256,
                      "description": "technician、customer、group:<组编号>，或固定地址（邮箱、URL、config）"},
        "title": {"type": "string", "maxLength": 256},
        "body": {"type": "string", "minLength": 1, "maxLength": 2000,
                 "description": "中文正文，{work_order_no}、{customer_name}、{technician_name}、{appointment_at}、"
                                "{status_link}、{evaluation_link} 等占位符"},
        "enabled": {"type": "boolean"},
    },
}
COMPONENTS["TemplateList"] = {"type": "object", "required": ["items"],
                              "properties": {"items": {"type": "array", "items": ref("Template")}}}
COMPONENT_ROOT = {"components": {"schemas": COMPONENTS}}
