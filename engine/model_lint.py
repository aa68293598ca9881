"""Lint rules and element fingerprints for BPMN/DMN models (pure XML, no database).

Lint rules (each problem names the file and the element; messages in Chinese):

=====================  ========  ==============================================================
code                   severity  fires when
=====================  ========  ==============================================================
dangling-flow          error     a sequence flow's source or target is missing or not an element
                                 of the same (sub)process
unreachable            error     a flow node has no incoming flow (start events, boundary events,
                                 event subprocesses, compensation handlers, link catch events and
                                 the contents of ad-hoc subprocesses are exempt)
dead-end               error     a flow node has no outgoing flow (end events, event subprocesses,
                                 compensation, link throw events and ad-hoc contents are exempt)
implicit-split         error     a node that is not a gateway has several outgoing flows and one of
                                 them has no condition (and is not its default flow)
gateway-no-default     warning   an exclusive/inclusive gateway that splits has no default flow
condition-missing      error     a flow out of a splitting exclusive/inclusive gateway has neither a
                                 condition nor is the default flow
no-start-event         error     a process or subprocess without a start event (ad-hoc exempt)
no-end-event           warning   a process or subprocess without an end event (ad-hoc exempt)
user-task-no-form      warning   a user task names no form file
label-missing          warning   an activity, or a gateway that splits, has no name
=====================  ========  ==============================================================

Duplicate ids, XSD and every deploy check come from :class:`engine.deploy.Validator`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.deploy import BPMN, CONTAINER_TAGS, FLOW_NODE_TAGS, SPIFF

DI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
ACTIVITY_TAGS = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
                 "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess"}
GATEWAY_TAGS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
DECIDING_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}
TYPE_NAMES = {
    "task": "任务", "userTask": "用户任务", "manualTask": "人工任务", "serviceTask": "服务任务", "scriptTask": "脚本任务",
    "businessRuleTask": "业务规则任务", "sendTask": "发送任务", "receiveTask": "接收任务", "callActivity": "调用活动",
    "subProcess": "子流程", "transaction": "事务子流程", "adHocSubProcess": "自由子流程", "startEvent": "开始事件",
    "endEvent": "结束事件", "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件",
    "boundaryEvent": "边界事件", "exclusiveGateway": "排他网关", "parallelGateway": "并行网关",
    "inclusiveGateway": "包容网关", "eventBasedGateway": "事件网关", "complexGateway": "复杂网关",
    "sequenceFlow": "顺序流", "process": "流程", "lane": "泳道", "decision": "决策", "rule": "规则", "input": "输入",
    "output": "输出",
}


@dataclass(frozen=True)
class LintProblem:
    element_id: str | None
    severity: str
    code: str
    message: str


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _ns(el) -> str:
    return etree.QName(el).namespace or "" if isinstance(el.tag, str) else ""


def _label(el) -> str:
    name = el.get("name")
    kind = TYPE_NAMES.get(_local(el), _local(el))
    return f"{kind}「{name}」({el.get('id')})" if name else f"{kind} {el.get('id')}"


def _has_definition(el, tag: str) -> bool:
    return el.find(f"{{{BPMN}}}{tag}") is not None


def _has_condition(flow) -> bool:
    node = flow.find(f"{{{BPMN}}}conditionExpression")
    return node is not None and bool((node.text or "").strip())


def lint_bpmn(root) -> list[LintProblem]:
    """The lint problems of one parsed BPMN document (see the module doc)."""
    out: list[LintProblem] = []
    if _ns(root) != BPMN:
        return out
    for tag in CONTAINER_TAGS:
        for container in root.iter(f"{{{BPMN}}}{tag}"):
            _lint_container(container, out)
    for task in root.iter(f"{{{BPMN}}}userTask"):
        form = None
        for prop in task.iter(f"{{{SPIFF}}}property"):
            if prop.get("name") == "formJsonSchemaFilename" and (prop.get("value") or "").strip():
                form = prop.get("value")
        if form is None:
            out.append(LintProblem(task.get("id"), "warning", "user-task-no-form",
                                   f"{_label(task)} 没有指定表单文件 (formJsonSchemaFilename)，办理人只能直接提交"))
    return out


def _lint_container(container, out: list[LintProblem]) -> None:
    kind = _local(container)
    adhoc = kind == "adHocSubProcess"
    children = [c for c in container if isinstance(c.tag, str) and _ns(c) == BPMN]
    nodes = {c.get("id"): c for c in children if _local(c) in FLOW_NODE_TAGS and c.get("id")}
    flows = [c for c in children if _local(c) == "sequenceFlow"]
    incoming: dict[str, list] = {nid: [] for nid in nodes}
    outgoing: dict[str, list] = {nid: [] for nid in nodes}
    where = "流程" if kind == "process" else "子流程"
    for flow in flows:
        fid = flow.get("id")
        source, target = (flow.get("sourceRef") or "").strip(), (flow.get("targetRef") or "").strip()
        bad = [(attr, ref) for attr, ref in (("起点", source), ("终点", target)) if ref not in nodes]
        for attr, ref in bad:
            text = f"没有{attr}" if not ref else f"的{attr} {ref!r} 不是同一{where}中的元素"
            out.append(LintProblem(fid, "error", "dangling-flow", f"悬空的顺序流：顺序流 {fid} {text}"))
        if source in nodes:
            outgoing[source].append(flow)
        if target in nodes:
            incoming[target].append(flow)
    if not adhoc:
        starts = [n for n in nodes.values() if _local(n) == "startEvent"]
        ends = [n for n in nodes.values() if _local(n) == "endEvent"]
        if not starts:
            out.append(LintProblem(container.get("id"), "error", "no-start-event", f"{_label(container)} 没有开始事件"))
        if not ends:
            out.append(LintProblem(container.get("id"), "warning", "no-end-event", f"{_label(container)} 没有结束事件"))
    for nid, node in nodes.items():
        tag = _local(node)
        event_sub = tag == "subProcess" and node.get("triggeredByEvent") == "true"
        compensation = node.get("isForCompensation") == "true" or (
            tag == "boundaryEvent" and _has_definition(node, "compensateEventDefinition"))
        link = _has_definition(node, "linkEventDefinition")
        if adhoc or event_sub or compensation:
            pass
        else:
            if not incoming[nid] and tag not in ("startEvent", "boundaryEvent") and not (
                    link and tag == "intermediateCatchEvent"):
                out.append(LintProblem(nid, "error", "unreachable",
                                       f"{_label(node)} 没有进入的顺序流，永远不会被执行"))
            if not outgoing[nid] and tag != "endEvent" and not (link and tag == "intermediateThrowEvent"):
                out.append(LintProblem(nid, "error", "dead-end",
                                       f"{_label(node)} 没有离开的顺序流（流程会在这里意外结束，请连到结束事件）"))
        outs = outgoing[nid]
        default = node.get("default")
        if len(outs) > 1 and tag not in GATEWAY_TAGS:
            plain = [f.get("id") for f in outs if not _has_condition(f) and f.get("id") != default]
            if plain:
                out.append(LintProblem(nid, "error", "implicit-split",
                                       f"{_label(node)} 有 {len(outs)} 条离开的顺序流且 {', '.join(plain)} 没有条件"
                                       "（隐式分支），请改用网关"))
        if tag in DECIDING_GATEWAYS and len(outs) > 1:
            if not default:
                out.append(LintProblem(nid, "warning", "gateway-no-default",
                                       f"{_label(node)} 没有默认顺序流：所有条件都不成立时流程会出错"))
            for flow in outs:
                if flow.get("id") != default and not _has_condition(flow):
                    out.append(LintProblem(flow.get("id"), "error", "condition-missing",
                                           f"顺序流 {flow.get('id')} 从{_label(node)}出发，既没有条件也不是默认顺序流"))
        needs_label = tag in ACTIVITY_TAGS or (tag in GATEWAY_TAGS - {"parallelGateway"} and len(outs) > 1)
        if needs_label and not (node.get("name") or "").strip() and not event_sub:
            out.append(LintProblem(nid, "warning", "label-missing", f"{_label(node)} 没有名称"))


# -- fingerprints for the diff ---------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    element_id: str
    element_type: str
    name: str
    file: str
    facts: dict[str, str]


FACT_NAMES = {
    "type": "类型", "name": "名称", "lane": "泳道", "incoming": "进入的顺序流", "outgoing": "离开的顺序流",
    "source": "起点", "target": "终点", "default": "默认顺序流", "condition": "条件", "script": "脚本",
    "timer": "定时器", "message": "消息", "signal": "信号", "error": "错误", "operator": "服务操作",
    "params": "操作参数", "form": "表单", "properties": "扩展属性", "called": "调用的流程", "attached": "依附于",
    "interrupting": "中断", "prescript": "前置脚本", "postscript": "后置脚本", "decision": "决策表",
    "result": "结果变量", "loop": "多实例/循环", "shape": "图形位置", "edge": "连线路径", "expression": "表达式",
    "entries": "单元格", "hit_policy": "命中策略", "flow_nodes": "包含的元素",
}


def _text(node) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def bpmn_fingerprints(name: str, root) -> list[Fingerprint]:
    """One fingerprint per process, lane, flow node and sequence flow of a BPMN file."""
    found: list[Fingerprint] = []
    if _ns(root) != BPMN:
        return found
    lanes: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind(f"{{{BPMN}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id") or ""
    shapes: dict[str, str] = {}
    for shape in root.iter(f"{{{DI}}}BPMNShape"):
        bounds = shape.find(f"{{{DC}}}Bounds")
        if bounds is not None and shape.get("bpmnElement"):
            shapes[shape.get("bpmnElement")] = ",".join(
                str(round(float(bounds.get(k) or 0))) for k in ("x", "y", "width", "height"))
    edges: dict[str, str] = {}
    for edge in root.iter(f"{{{DI}}}BPMNEdge"):
        points = [f"{round(float(p.get('x') or 0))},{round(float(p.get('y') or 0))}"
                  for p in edge if _local(p) == "waypoint"]
        if edge.get("bpmnElement"):
            edges[edge.get("bpmnElement")] = " ".join(points)
    flows_in: dict[str, list[str]] = {}
    flows_out: dict[str, list[str]] = {}
    for flow in root.iter(f"{{{BPMN}}}sequenceFlow"):
        flows_out.setdefault((flow.get("sourceRef") or "").strip(), []).append(flow.get("id") or "")
        flows_in.setdefault((flow.get("targetRef") or "").strip(), []).append(flow.get("id") or "")
    wanted = FLOW_NODE_TAGS | {"sequenceFlow", "process", "lane"}
    for el in root.iter():
        if _ns(el) != BPMN or _local(el) not in wanted or not el.get("id"):
            continue
        el_id, tag = el.get("id"), _local(el)
        facts: dict[str, str] = {"type": TYPE_NAMES.get(tag, tag), "name": el.get("name") or ""}
        if tag == "sequenceFlow":
            facts["source"] = el.get("sourceRef") or ""
            facts["target"] = el.get("targetRef") or ""
            facts["condition"] = _text(el.find(f"{{{BPMN}}}conditionExpression"))
            if el_id in edges:
                facts["edge"] = edges[el_id]
        elif tag == "lane":
            facts["flow_nodes"] = ", ".join(sorted(_text(r) for r in el.iterfind(f"{{{BPMN}}}flowNodeRef")))
        elif tag != "process":
            facts["lane"] = lanes.get(el_id, "")
            facts["incoming"] = ", ".join(sorted(flows_in.get(el_id, ())))
            facts["outgoing"] = ", ".join(sorted(flows_out.get(el_id, ())))
            facts["default"] = el.get("default") or ""
            facts["script"] = _text(el.find(f"{{{BPMN}}}script"))
            facts["called"] = el.get("calledElement") or ""
            facts["attached"] = el.get("attachedToRef") or ""
            facts["interrupting"] = el.get("cancelActivity") or ""
            timers = [f"{_local(t)}={_text(t)}" for d in el.iterfind(f"{{{BPMN}}}timerEventDefinition") for t in d
                      if isinstance(t.tag, str)]
            facts["timer"] = "; ".join(timers)
            facts["message"] = ", ".join(sorted(d.get("messageRef") or "" for d in
                                                el.iterfind(f"{{{BPMN}}}messageEventDefinition")))
            facts["message"] += el.get("messageRef") or ""
            facts["signal"] = ", ".join(d.get("signalRef") or "" for d in el.iterfind(f"{{{BPMN}}}signalEventDefinition"))
            facts["error"] = ", ".join(d.get("errorRef") or "" for d in el.iterfind(f"{{{BPMN}}}errorEventDefinition"))
            loop = el.find(f"{{{BPMN}}}multiInstanceLoopCharacteristics")
            if loop is None:
                loop = el.find(f"{{{BPMN}}}standardLoopCharacteristics")
            facts["loop"] = (etree.tostring(loop, encoding="unicode", with_tail=False)[:500]
                             if loop is not None else "")
            ext = el.find(f"{{{BPMN}}}extensionElements")
            if ext is not None and tag not in ("subProcess", "transaction", "adHocSubProcess"):
                facts.update(_spiff_facts(ext))
            if el_id in shapes:
                facts["shape"] = shapes[el_id]
        found.append(Fingerprint(el_id, tag, el.get("name") or "", name, {k: v for k, v in facts.items() if v}))
    return found


def _spiff_facts(ext) -> dict[str, str]:
    facts: dict[str, str] = {}
    operator = ext.find(f"{{{SPIFF}}}serviceTaskOperator")
    if operator is not None:
        facts["operator"] = operator.get("id") or ""
        params = [f"{p.get('id')}={p.get('value')}" for p in operator.iter(f"{{{SPIFF}}}parameter")]
        facts["params"] = "; ".join(sorted(params))
        if operator.get("resultVariable"):
            facts["result"] = operator.get("resultVariable")
    props = {}
    for prop in ext.iter(f"{{{SPIFF}}}property"):
        if prop.get("name") == "formJsonSchemaFilename":
            facts["form"] = prop.get("value") or ""
        else:
            props[prop.get("name") or ""] = prop.get("value") or ""
    if props:
        facts["properties"] = "; ".join(f"{k}={v}" for k, v in sorted(props.items()))
    for tag, key in (("preScript", "prescript"), ("postScript", "postscript")):
        node = ext.find(f"{{{SPIFF}}}{tag}")
        if node is not None and _text(node):
            facts[key] = _text(node)
    decision = ext.find(f"{{{SPIFF}}}calledDecisionId")
    if decision is not None:
        facts["decision"] = _text(decision)
    return facts


def dmn_fingerprints(name: str, root) -> list[Fingerprint]:
    """One fingerprint per decision, input, output and rule of a DMN file."""
    found: list[Fingerprint] = []
    ns = _ns(root)
    for el in root.iter():
        if _ns(el) != ns or not el.get("id"):
            continue
        tag = _local(el)
        facts: dict[str, str] = {"type": TYPE_NAMES.get(tag, tag)}
        if tag == "decision":
            facts["name"] = el.get("name") or ""
            table = el.find(f"{{{ns}}}decisionTable")
            if table is not None:
                facts["hit_policy"] = table.get("hitPolicy") or "UNIQUE"
        elif tag == "input":
            facts["name"] = el.get("label") or ""
            facts["expression"] = _text(el.find(f"{{{ns}}}inputExpression/{{{ns}}}text"))
        elif tag == "output":
            facts["name"] = el.get("label") or el.get("name") or ""
            facts["expression"] = el.get("name") or ""
        elif tag == "rule":
            cells = [_text(c.find(f"{{{ns}}}text")) for c in el if _local(c) in ("inputEntry", "outputEntry")]
            facts["entries"] = " | ".join(cells)
        else:
            continue
        found.append(Fingerprint(el.get("id"), tag, facts.get("name", ""), name,
                                 {k: v for k, v in facts.items() if v}))
    return found


def compare(old: Fingerprint, new: Fingerprint) -> tuple[str, ...]:
    """What changed between two fingerprints of one element, in Chinese."""
    details = []
    for key in sorted(set(old.facts) | set(new.facts), key=lambda k: list(FACT_NAMES).index(k)
                      if k in FACT_NAMES else 99):
        a, b = old.facts.get(key, ""), new.facts.get(key, "")
        if a == b:
            continue
        label = FACT_NAMES.get(key, key)
        if key in ("shape", "edge"):
            details.append(f"{label}已移动" if a and b else f"{label}{'新增' if b else '删除'}")
        else:
            details.append(f"{label}：{_short(a) or '（无）'} → {_short(b) or '（无）'}")
    return tuple(details)


def _short(text: str, size: int = 160) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def same_json(a: str, b: str) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return a == b


def as_jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
