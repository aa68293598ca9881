"""The 9-user-task after-sales dispatch flow used by the throughput benchmark.

The same process as the library baseline (4 lanes, 11 user tasks, 2 exclusive gateways, a
warranty service task with a postScript, an interrupting SLA timer, a QC rework loop),
with lanes named after our groups and a JSON-Schema form for each user task.
"""

from __future__ import annotations

import json
from datetime import date

PROCESS_ID = "after_sales_dispatch"
LANES = {
    "customer_service": ["start", "register_request", "check_warranty", "gw_warranty", "prepare_quote",
                         "close_work_order", "customer_feedback", "end"],
    "dispatcher": ["schedule_visit", "quality_check", "gw_qc", "escalate_sla"],
    "warehouse": ["pick_parts"],
    "technician": ["confirm_appointment", "diagnose_on_site", "sla_timer", "perform_repair"],
}
USER_TASKS = {
    "register_request": "登记报修", "prepare_quote": "收费报价", "schedule_visit": "安排上门",
    "pick_parts": "备件出库", "confirm_appointment": "确认预约", "diagnose_on_site": "上门检测",
    "escalate_sla": "超时升级", "perform_repair": "维修", "quality_check": "质检",
    "close_work_order": "关闭工单", "customer_feedback": "客户反馈",
}
LANE_OF = {node: lane for lane, nodes in LANES.items() for node in nodes}
TODAY = date(2026, 6, 2)


def _user_task(tid: str, name: str) -> str:
    return (f'<bpmn:userTask id="{tid}" name="{name}"><bpmn:extensionElements><spiffworkflow:properties>'
            f'<spiffworkflow:property name="formJsonSchemaFilename" value="{tid}.json"/>'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def _flow(fid: str, src: str, tgt: str, cond: str | None = None) -> str:
    if cond is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{tgt}"/>'
    return (f'<bpmn:sequenceFlow id="{fid}" sourceRef="{src}" targetRef="{tgt}"><bpmn:conditionExpression '
            f'xsi:type="bpmn:tFormalExpression">{cond}</bpmn:conditionExpression></bpmn:sequenceFlow>')


def bpmn(operator: str) -> str:
    lanes = "".join(
        f'<bpmn:lane id="lane_{lane}" name="{lane}">'
        + "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes) + "</bpmn:lane>"
        for lane, nodes in LANES.items())
    tasks = "".join(_user_task(t, n) for t, n in USER_TASKS.items())
    flows = "".join([
        _flow("f_01", "start", "register_request"), _flow("f_02", "register_request", "check_warranty"),
        _flow("f_03", "check_warranty", "gw_warranty"),
        _flow("f_covered", "gw_warranty", "schedule_visit", 'warranty["covered"]'),
        _flow("f_not_covered", "gw_warranty", "prepare_quote"), _flow("f_04", "prepare_quote", "schedule_visit"),
        _flow("f_05", "schedule_visit", "pick_parts"), _flow("f_06", "pick_parts", "confirm_appointment"),
        _flow("f_07", "confirm_appointment", "diagnose_on_site"), _flow("f_08", "diagnose_on_site", "perform_repair"),
        _flow("f_09", "sla_timer", "escalate_sla"), _flow("f_10", "escalate_sla", "schedule_visit"),
        _flow("f_11", "perform_repair", "quality_check"), _flow("f_12", "quality_check", "gw_qc"),
        _flow("f_qc_ok", "gw_qc", "close_work_order", "qc_passed"), _flow("f_rework", "gw_qc", "perform_repair"),
        _flow("f_13", "close_work_order", "customer_feedback"), _flow("f_14", "customer_feedback", "end"),
    ])
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://paigong.example/bench">
  <bpmn:collaboration id="collab"><bpmn:participant id="participant" name="售后" processRef="{PROCESS_ID}"/></bpmn:collaboration>
  <bpmn:process id="{PROCESS_ID}" name="售后维修派工 (基准)" isExecutable="true">
    <bpmn:laneSet id="laneset">{lanes}</bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:serviceTask id="check_warranty" name="保修判定"><bpmn:extensionElements>
      <spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="warranty"><spiffworkflow:parameters>
        <spiffworkflow:parameter id="serial_no" type="str" value="serial_no"/>
        <spiffworkflow:parameter id="purchase_date" type="str" value="purchase_date"/>
      </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
      <spiffworkflow:postScript>sla_duration = "PT4H" if warranty["covered"] else "PT24H"</spiffworkflow:postScript>
    </bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:exclusiveGateway id="gw_warranty" default="f_not_covered"/>
    <bpmn:exclusiveGateway id="gw_qc" default="f_rework"/>
    {tasks}
    <bpmn:boundaryEvent id="sla_timer" attachedToRef="diagnose_on_site" cancelActivity="true">
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">sla_duration</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end"/>
    {flows}
  </bpmn:process>
</bpmn:definitions>
'''


def warranty_check(serial_no: str, purchase_date: str) -> dict:
    age = (TODAY - date.fromisoformat(purchase_date)).days
    return {"serial_no": serial_no, "covered": age <= 730, "age_days": age, "plan": "standard-2y"}


def form_data(task_id: str, n: int, data: dict, covered: bool = True, rework: int = 0) -> dict:
    """What the user types into each task's form (the baseline's payloads)."""
    if task_id == "register_request":
        return {"work_order_no": f"WO-{n:07d}", "customer_name": "上海某物业公司", "customer_phone": "13800138000",
                "address": "上海市浦东新区世纪大道 100 号", "product_model": "KFR-35GW", "order_type": "repair",
                "serial_no": f"SN{n:09d}", "purchase_date": "2025-03-01" if covered else "2021-03-01",
                "fault": "空调不制冷，压缩机每 30 秒启停一次，显示 E42。"}
    if task_id == "prepare_quote":
        return {"quote": {"amount": "289.00", "accepted": True}}
    if task_id == "schedule_visit":
        return {"visit": {"technician": "tech-017", "date": "2026-06-04", "slot": "08:00-12:00"}}
    if task_id == "pick_parts":
        return {"parts": [{"sku": "CMP-3000-A", "qty": 1}, {"sku": "RLY-24V", "qty": 2}], "shipment": "SF0012345"}
    if task_id == "confirm_appointment":
        return {"appointment_confirmed": True}
    if task_id == "diagnose_on_site":
        return {"diagnosis": {"code": "E42", "root_cause": "启动继电器", "photos": 2}}
    if task_id == "perform_repair":
        done = data.get("repair_attempts", 0) + 1
        return {"repair_attempts": done, "repair_notes": f"第 {done} 次: 更换继电器，试机 15 分钟。", "labour_minutes": 45}
    if task_id == "quality_check":
        return {"qc_passed": data.get("repair_attempts", 0) > rework}
    if task_id == "escalate_sla":
        return {"escalated": True}
    if task_id == "close_work_order":
        return {"closed": True, "invoice_no": f"INV-{n:07d}"}
    if task_id == "customer_feedback":
        return {"feedback": {"nps": 9, "comment": "快速、友好。"}}
    raise KeyError(task_id)


def form_schemas() -> dict[str, bytes]:
    """A JSON Schema per user task that accepts the payloads above (and checks their types)."""
    sample = {tid: form_data(tid, 1, {}) for tid in USER_TASKS}
    out = {}
    for tid, payload in sample.items():
        props = {k: {"title": k, **_type_of(v)} for k, v in payload.items()}
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                  "title": USER_TASKS[tid], "properties": props, "required": sorted(payload)}
        out[f"forms/{tid}.json"] = json.dumps(schema, ensure_ascii=False).encode()
    return out


def _type_of(value) -> dict:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, str):
        return {"type": "string", "maxLength": 200}
    if isinstance(value, list):
        return {"type": "array"}
    return {"type": "object"}
