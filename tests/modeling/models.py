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
