"""Small versioned models for the modeling tests, built from one template.

``mig`` runs: ask (user task) → wait (2-hour timer) → [extra (user task), version 2 only] →
call (call activity of ``mig_child``: child_task) → done (user task) → end. Every user task is
in the technicians' lane.
"""

from __future__ import annotations

NS = ('xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
      'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"')


def _form(name: str) -> str:
    return (f'<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
            f'name="formJsonSchemaFilename" value="{name}"/></spiffworkflow:properties></bpmn:extensionElements>')


def mig(*, ask_id: str = "ask", ask_name: str = "登记", extra: bool = False, timer: str = "PT2H") -> dict[str, str]:
    """The files of one version of ``mig`` (and its called process)."""
    nodes = ["start", ask_id, "wait", "call", "done", "end"] + (["extra"] if extra else [])
    chain = ["start", ask_id, "wait"] + (["extra"] if extra else []) + ["call", "done", "end"]
    flows = "".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}"/>'
                    for a, b in zip(chain, chain[1:], strict=False))
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
    extra_task = f'<bpmn:userTask id="extra" name="补充信息">{_form("mig_form.json")}</bpmn:userTask>' if extra else ""
    main = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="mig_defs" targetNamespace="http://paigong.test/mig">
  <bpmn:process id="mig" name="迁移测试" isExecutable="true">
    <bpmn:laneSet id="mig_lanes"><bpmn:lane id="mig_lane" name="技术员">{refs}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始"/>
    <bpmn:userTask id="{ask_id}" name="{ask_name}">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:intermediateCatchEvent id="wait" name="等两小时">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"{timer}"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    {extra_task}
    <bpmn:callActivity id="call" name="子流程" calledElement="mig_child"/>
    <bpmn:userTask id="done" name="完成">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:endEvent id="end" name="结束"/>
    {flows}
  </bpmn:process>
</bpmn:definitions>"""
    child = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="mig_child_defs" targetNamespace="http://paigong.test/mig_child">
  <bpmn:process id="mig_child" name="迁移测试子流程" isExecutable="true">
    <bpmn:laneSet id="mig_child_lanes"><bpmn:lane id="mig_child_lane" name="技术员">
      <bpmn:flowNodeRef>c_start</bpmn:flowNodeRef><bpmn:flowNodeRef>child_task</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>c_end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="c_start" name="开始"/>
    <bpmn:userTask id="child_task" name="子任务">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:endEvent id="c_end" name="结束"/>
    <bpmn:sequenceFlow id="c1" sourceRef="c_start" targetRef="child_task"/>
    <bpmn:sequenceFlow id="c2" sourceRef="child_task" targetRef="c_end"/>
  </bpmn:process>
</bpmn:definitions>"""
    form = '{"title": "测试", "type": "object", "properties": {"note": {"type": "string", "title": "备注"}}}'
    return {"mig.bpmn": main, "mig_child.bpmn": child, "forms/mig_form.json": form}


def as_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in files.items()}


def urge(*, catch_id: str = "wait_msg", sla: str = "PT4H") -> dict[str, str]:
    """``urge``: ask (user task, 4-hour boundary timer → escalate) → a message catch for ``urge`` → done."""
    nodes = ["start", "ask", "sla", "escalate", catch_id, "done", "end", "end2"]
    refs = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in nodes)
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="urge_defs" targetNamespace="http://paigong.test/urge">
  <bpmn:process id="urge" name="催办测试" isExecutable="true">
    <bpmn:laneSet id="urge_lanes"><bpmn:lane id="urge_lane" name="技术员">{refs}</bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" name="开始"/>
    <bpmn:userTask id="ask" name="登记">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:boundaryEvent id="sla" name="超时" attachedToRef="ask" cancelActivity="true">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"{sla}"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="escalate" name="超时处理">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:intermediateCatchEvent id="{catch_id}" name="等催办">
      <bpmn:messageEventDefinition messageRef="msg_urge"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="done" name="完成">{_form("mig_form.json")}</bpmn:userTask>
    <bpmn:endEvent id="end" name="结束"/>
    <bpmn:endEvent id="end2" name="超时结束"/>
    <bpmn:sequenceFlow id="u1" sourceRef="start" targetRef="ask"/>
    <bpmn:sequenceFlow id="u2" sourceRef="ask" targetRef="{catch_id}"/>
    <bpmn:sequenceFlow id="u3" sourceRef="{catch_id}" targetRef="done"/>
    <bpmn:sequenceFlow id="u4" sourceRef="done" targetRef="end"/>
    <bpmn:sequenceFlow id="u5" sourceRef="sla" targetRef="escalate"/>
    <bpmn:sequenceFlow id="u6" sourceRef="escalate" targetRef="end2"/>
  </bpmn:process>
  <bpmn:message id="msg_urge" name="urge"/>
</bpmn:definitions>"""
    form = '{"title": "测试", "type": "object", "properties": {"note": {"type": "string", "title": "备注"}}}'
    return {"urge.bpmn": text, "forms/mig_form.json": form}
