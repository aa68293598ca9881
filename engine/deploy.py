"""Validate BPMN/DMN/forms and turn them into deployable bundles (one per executable process).

Checks, each problem naming the file and the element: every file within the size limit
and UTF-8 text (checked before any parsing); safe, well-formed XML; element ids unique and
short enough for the database, names too; every sequence flow, boundary event and default
flow pointing at an element of its own (sub)process, every call activity at a deployed
process; the BPMN and DMN schemas (XSD); SpiffWorkflow's own parse; every user task in a
lane that maps to a known group; every service operator registered with matching
parameters; every form file present and a valid JSON Schema; every script and expression,
DMN table cells included, allowed by the restricted language; every literal timer a valid
ISO-8601 date, duration or cycle, and no cycle shorter than a minute.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine import forms, scripting
from engine.errors import DeployError, Problem
from engine.spiff import MAX_SOURCE_BYTES, StateSerializer, UnsafeXML, new_parser, parse_xml
from tasks import registry

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
OMG = "http://www.omg.org/spec/"  # BPMN model, diagram interchange (DI, DC)
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
FORM_DIR = "forms/"

USER_TASK_TAGS = {"userTask", "manualTask"}
FLOW_NODE_TAGS = {
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway",
    "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
}
# (xpath, mode) of every expression the engine evaluates
EXPRESSIONS = (
    (".//bpmn:scriptTask/bpmn:script", "exec"),
    (".//bpmn:conditionExpression", "eval"),
    (".//bpmn:timeDuration", "timer"),
    (".//bpmn:timeDate", "timer"),
    (".//bpmn:timeCycle", "timer"),
    (".//spiffworkflow:preScript", "exec"),
    (".//spiffworkflow:postScript", "exec"),
    (".//spiffworkflow:messagePayload", "eval"),
    (".//bpmn:loopCardinality", "eval"),
    (".//bpmn:completionCondition", "eval"),
    (".//bpmn:loopCondition", "eval"),
    (".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression", "eval"),
)
EXPRESSION_PROPERTIES = ("assignee", "dueDate")
CONTAINER_TAGS = ("process", "subProcess", "transaction", "adHocSubProcess")
MAX_ID_LENGTH = 128  # ids land in 128-character columns (task, job, event, definition)
MAX_NAME_LENGTH = 256  # names land in 256-character columns (task, definition, incident)
_EXPRESSION_KIND = {"exec": "脚本", "eval": "表达式", "timer": "定时器表达式"}
MIN_CYCLE_SECONDS = 60  # a shorter cycle only floods the queue with tasks
UTF8_BOM = b"\xef\xbb\xbf"
_DMN_INPUT_MARK = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")  # as SpiffWorkflow's DMN engine


@dataclass
class Bundle:
    """One executable process ready to be stored as a definition version."""

    process_id: str
    name: str
    sources: dict[str, str]
    sha256: str
    spec: str
    meta: dict[str, Any]


@dataclass
class _FileIndex:
    name: str
    root: Any
    kind: str  # bpmn | dmn
    lanes: dict[str, tuple[str, str]] = field(default_factory=dict)  # element id -> (lane id, lane name)
    processes: dict[str, Any] = field(default_factory=dict)
    elements: dict[str, Any] = field(default_factory=dict)


def read_directory(path: str) -> dict[str, bytes]:
    """Read every .bpmn, .dmn and forms/*.json below ``path`` (names relative to it)."""
    files: dict[str, bytes] = {}
    for folder, _dirs, names in os.walk(path):
        for name in sorted(names):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if name.endswith((".bpmn", ".dmn")) or (rel.startswith(FORM_DIR) and name.endswith(".json")):
                with open(full, "rb") as fh:
                    files[rel] = fh.read()
    return files


class Validator:
    """Validates a set of source files against the known groups and operators."""

    def __init__(self, groups: dict[str, str]) -> None:
        self.groups = groups  # id -> display name
        self.problems: list[Problem] = []

    def problem(self, file: str, element_id: str | None, message: str) -> None:
        self.problems.append(Problem(file, element_id, message))

    # -- entry point ---------------------------------------------------------------------

    def bundles(self, files: dict[str, bytes]) -> list[Bundle]:
        """Return one bundle per executable process.

        :raises DeployError: listing every problem found; nothing is returned then
        """
        files = self._readable(files)
        indexes = self._parse_files(files)
        form_texts = {n[len(FORM_DIR):]: d for n, d in files.items() if n.startswith(FORM_DIR)}
        if not any(name.endswith(".bpmn") for name in files) and not self.problems:
            self.problem("-", None, "没有 BPMN 文件")
        self._check_duplicate_ids(indexes)
        self._check_structure(indexes)
        self._check_expressions(indexes)
        forms_ok = self._check_forms(form_texts)
        if self.problems:
            raise DeployError(self.problems)
        parser = self._spiff_parse(indexes)
        if self.problems:
            raise DeployError(self.problems)
        result = []
        for ix in indexes:
            for pid, proc in ix.processes.items():
                if proc.get("isExecutable") != "true":
                    continue
                bundle = self._bundle(parser, ix, pid, proc, indexes, forms_ok, files)
                if bundle is not None:
                    result.append(bundle)
        if not result and not self.problems:
            idle = [(ix.name, pid) for ix in indexes for pid in ix.processes]
            for name, pid in idle:
                self.problem(name, pid, f"流程 {pid} 未标记为可执行 (isExecutable=\"true\")，没有可部署的流程")
            if not idle:
                self.problem("-", None, "没有可执行的流程 (isExecutable=\"true\")")
        if self.problems:
            raise DeployError(self.problems)
        return result

    # -- parsing -------------------------------------------------------------------------

    def _readable(self, files: dict[str, bytes]) -> dict[str, bytes]:
        """The files within the size limit that are UTF-8 text (a UTF-8 byte-order mark is
        dropped); the others are reported by size or encoding, before anything parses them."""
        ok = {}
        for name, data in files.items():
            if len(data) > MAX_SOURCE_BYTES:
                self.problem(name, None, f"文件过大 ({len(data) // 1024} KB，上限 {MAX_SOURCE_BYTES // 1024} KB)，"
                                         "未解析")
                continue
            if data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM):]
            if not data.strip():
                self.problem(name, None, "文件为空")
                continue
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem(name, None, _encoding_text(data, exc))
                continue
            ok[name] = data
        return ok

    def _parse_files(self, files: dict[str, bytes]) -> list[_FileIndex]:
        indexes = []
        for name, data in sorted(files.items()):
            if name.startswith(FORM_DIR):
                continue
            kind = "dmn" if name.endswith(".dmn") else "bpmn"
            try:
                root = parse_xml(data, name)
            except UnsafeXML as exc:
                message = str(exc).split(": ", 1)[-1]
                if "Excessive depth" in message:
                    message = "XML 嵌套过深 (超过 256 层)"
                self.problem(name, None, message)
                continue
            ix = _FileIndex(name, root, kind)
            if kind == "bpmn":
                if etree.QName(root).namespace != BPMN:
                    self.problem(name, None, f"根元素不是 BPMN 2.0 definitions (命名空间 {etree.QName(root).namespace})")
                    continue
                self._index_bpmn(ix)
            indexes.append(ix)
        return indexes

    def _index_bpmn(self, ix: _FileIndex) -> None:
        for proc in ix.root.iterfind("bpmn:process", NS):
            ix.processes[proc.get("id")] = proc
        for el in ix.root.iter():
            if isinstance(el.tag, str) and el.get("id") and etree.QName(el).namespace == BPMN:
                ix.elements[el.get("id")] = el
        # innermost lane wins: iterate outer to inner
        for lane in ix.root.iter(f"{{{BPMN}}}lane"):
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                ix.lanes[(ref.text or "").strip()] = (lane.get("id"), lane.get("name") or "")

    def _check_duplicate_ids(self, indexes: list[_FileIndex]) -> None:
        seen: dict[str, str] = {}
        for ix in indexes:
            if ix.kind != "bpmn":
                continue
            for pid in ix.processes:
                if pid in seen:
                    self.problem(ix.name, pid, f"流程 id 与 {seen[pid]} 中的重复")
                seen[pid] = ix.name

    def _check_structure(self, indexes: list[_FileIndex]) -> None:
        """Ids unique and short, names short, references inside their own (sub)process."""
        processes = {pid for ix in indexes if ix.kind == "bpmn" for pid in ix.processes}
        for ix in indexes:
            if ix.kind != "bpmn":
                continue
            first_line: dict[str, int] = {}
            for el in ix.root.iter():
                if not isinstance(el.tag, str):
                    continue
                el_id = el.get("id")
                namespace = etree.QName(el).namespace or ""
                if el_id and namespace.startswith(OMG):  # extension elements' ids are free names
                    if el_id in first_line:
                        self.problem(ix.name, el_id, f"元素 id {el_id!r} 重复 (第 {first_line[el_id]} 行和第 "
                                                     f"{el.sourceline} 行)")
                    else:
                        first_line[el_id] = el.sourceline
                    if len(el_id) > MAX_ID_LENGTH and namespace == BPMN:
                        self.problem(ix.name, el_id, f"id 过长 ({len(el_id)} 个字符，上限 {MAX_ID_LENGTH})")
                name = el.get("name")
                if name and len(name) > MAX_NAME_LENGTH and namespace == BPMN:
                    self.problem(ix.name, el_id, f"名称过长 ({len(name)} 个字符，上限 {MAX_NAME_LENGTH})")
            for tag in CONTAINER_TAGS:
                for container in ix.root.iter(f"{{{BPMN}}}{tag}"):
                    self._check_container(ix.name, container)
            for call in ix.root.iter(f"{{{BPMN}}}callActivity"):
                called = (call.get("calledElement") or "").strip()
                if called not in processes:
                    known = ", ".join(sorted(processes))
                    self.problem(ix.name, call.get("id"),
                                 f"调用活动调用的流程 {called!r} 不在本次部署的文件中 (已有: {known})")

    def _check_container(self, file: str, container) -> None:
        children = {c.get("id"): c for c in container if isinstance(c.tag, str) and c.get("id")}
        flows = {fid for fid, c in children.items() if etree.QName(c).localname == "sequenceFlow"}
        nodes = {cid for cid, c in children.items() if etree.QName(c).localname in FLOW_NODE_TAGS}
        where = "子流程" if etree.QName(container).localname != "process" else "流程"
        if etree.QName(container).localname == "process" and container.get("isExecutable") == "true":
            if not any(etree.QName(c).localname == "startEvent" for c in children.values()):
                self.problem(file, container.get("id"), "流程没有开始事件 (startEvent)")
        for fid in flows:
            flow = children[fid]
            for attr in ("sourceRef", "targetRef"):
                ref = (flow.get(attr) or "").strip()
                if ref not in nodes:
                    self.problem(file, fid, f"顺序流的 {attr} {ref!r} 不是同一{where}中的元素")
        for cid, el in children.items():
            attached = el.get("attachedToRef")
            if etree.QName(el).localname == "boundaryEvent" and (attached or "").strip() not in nodes:
                self.problem(file, cid, f"边界事件依附的元素 {attached!r} 不是同一{where}中的元素")
            default = el.get("default")
            if default is not None and default not in flows:
                self.problem(file, cid, f"默认顺序流 {default!r} 不存在")

    def _spiff_parse(self, indexes: list[_FileIndex]):
        parser = new_parser(validate=True)
        for ix in indexes:
            try:
                if ix.kind == "dmn":
                    parser.add_dmn_xml(ix.root, filename=ix.name)
                else:
                    parser.add_bpmn_xml(ix.root, filename=ix.name)
            except ValidationException as exc:
                element = getattr(exc, "id", None) or _element_at_line(ix.root, getattr(exc, "line_number", None),
                                                                       str(exc))
                store = _DATA_STORE.search(str(exc))
                if store and element is None:
                    element = next((el.get("id") for el in ix.root.iter(f"{{{BPMN}}}dataStore")
                                    if el.get("name") == store.group(1)), None)
                    self.problem(ix.name, element, f"数据存储 “{store.group(1)}” 没有实现：本系统不支持 BPMN 数据存储 "
                                                   "(dataStore)，请改用流程变量或服务任务")
                    continue
                self.problem(ix.name, element, _validation_text(exc))
            except Exception as exc:  # the library raises many kinds on malformed models
                self.problem(ix.name, None, f"无法解析: {type(exc).__name__}: {exc}")
        return parser

    # -- checks --------------------------------------------------------------------------

    def _check_expressions(self, indexes: list[_FileIndex]) -> None:
        for ix in indexes:
            if ix.kind == "dmn":
                self._check_dmn_expressions(ix)
                continue
            for xpath, mode in EXPRESSIONS:
                for node in ix.root.iterfind(xpath, NS):
                    self._check_expression(ix.name, _owner_id(node), node.text or "", mode)
            for prop in ix.root.iterfind(".//spiffworkflow:property", NS):
                if prop.get("name") in EXPRESSION_PROPERTIES:
                    self._check_expression(ix.name, _owner_id(prop), prop.get("value") or "", "eval")
            for param in ix.root.iterfind(".//spiffworkflow:parameter", NS):
                self._check_expression(ix.name, _owner_id(param), param.get("value") or "", "eval")

    def _check_dmn_expressions(self, ix: _FileIndex) -> None:
        """Decision-table cells are expressions too: input expressions, input entries (a
        value, a comparison such as ``< 5``, or a test with ``?``), output entries."""
        ns = {"dmn": etree.QName(ix.root).namespace or ""}
        for node in ix.root.iterfind(".//dmn:inputExpression", ns):
            text = node.findtext("dmn:text", "", ns)
            owner = node.getparent().get("id") if node.getparent() is not None else node.get("id")
            self._check_expression(ix.name, owner, text, "eval")
        for node in ix.root.iterfind(".//dmn:outputEntry", ns):
            text = node.findtext("dmn:text", "", ns).strip()
            if text:
                self._check_expression(ix.name, node.get("id"), text, "eval")
        for node in ix.root.iterfind(".//dmn:inputEntry", ns):
            text = node.findtext("dmn:text", "", ns).strip()
            if not text or text == "-":
                continue
            source = _DMN_INPUT_MARK.sub("dmninputexpr", text)
            if source == text:
                try:
                    ast.parse(text, mode="eval")
                except SyntaxError:
                    source = f"dmninputexpr {text}"  # a comparison such as "< 5" or "in ['A', 'B']"
            self._check_expression(ix.name, node.get("id"), source, "eval")

    def _check_expression(self, file: str, owner: str | None, text: str, mode: str) -> None:
        source = text.strip()
        if not source:
            if mode != "exec":
                self.problem(file, owner, "表达式为空")
            return
        try:
            scripting.check(source, "exec" if mode == "exec" else "eval")
        except scripting.ScriptError as exc:
            self.problem(file, owner, f"{_EXPRESSION_KIND[mode]}{exc.message}")
            return
        if mode == "timer":
            self._check_timer_literal(file, owner, source)

    def _check_timer_literal(self, file: str, owner: str | None, source: str) -> None:
        try:
            value = ast.literal_eval(source)
        except (ValueError, SyntaxError):
            return  # an expression over task data; checked when it runs
        if not isinstance(value, str):
            self.problem(file, owner, f"定时器表达式必须得到 ISO-8601 文本，而不是 {value!r}")
            return
        try:
            if value.upper().startswith("R"):
                _cycles, _start, every = TimerEventDefinition.parse_iso_recurring_interval(value)
            else:
                TimerEventDefinition.parse_time_or_duration(value)
                every = None
        except Exception:
            self.problem(file, owner, f"定时器 {value!r} 不是有效的 ISO-8601 日期、时长或周期")
            return
        if every is not None and every.total_seconds() < MIN_CYCLE_SECONDS:
            self.problem(file, owner, f"周期定时器 {value!r} 的间隔短于 {MIN_CYCLE_SECONDS} 秒")

    def _check_forms(self, form_texts: dict[str, bytes]) -> dict[str, dict]:
        ok = {}
        for name, data in form_texts.items():
            try:
                schema = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                self.problem(FORM_DIR + name, None, f"不是有效的 JSON: {exc}")
                continue
            reason = forms.check_schema(schema)
            if reason:
                self.problem(FORM_DIR + name, None, reason)
            else:
                ok[name] = schema
        return ok

    def _resolve_group(self, lane: tuple[str, str] | None) -> str | None:
        if lane is None:
            return None
        lane_id, lane_name = lane
        for candidate in (lane_name, lane_id):
            if candidate in self.groups:
                return candidate
        for gid, display in self.groups.items():
            if lane_name and display == lane_name:
                return gid
        return None

    # -- bundles -------------------------------------------------------------------------

    def _bundle(self, parser, ix, pid, proc, indexes, forms_ok, files) -> Bundle | None:
        before = len(self.problems)
        try:
            spec = parser.get_spec(pid)
            subs = parser.get_subprocess_specs(pid)
        except ValidationException as exc:
            self.problem(getattr(exc, "file_name", None) or ix.name, getattr(exc, "id", None), _validation_text(exc))
            return None
        except Exception as exc:
            self.problem(ix.name, pid, f"无法解析流程: {type(exc).__name__}: {exc}")
            return None
        by_process = {ix2_pid: ix2 for ix2 in indexes if ix2.kind == "bpmn" for ix2_pid in ix2.processes}
        used_files = {ix.name}
        lanes: dict[str, str] = {}
        form_of: dict[str, str] = {}
        task_props: dict[str, dict[str, str]] = {}
        names: dict[str, str] = {}
        decisions: set[str] = set()
        all_specs = [spec, *subs.values()]
        for s in all_specs:
            owner = by_process.get(s.name) or ix
            used_files.add(owner.name)
            for ts in s.task_specs.values():
                bpmn_id = getattr(ts, "bpmn_id", None)
                if not bpmn_id:
                    continue
                names[bpmn_id] = getattr(ts, "bpmn_name", None) or bpmn_id
                # an element's own file first: another file may use the same id
                el_ix = owner if bpmn_id in owner.elements else (_find_index(indexes, bpmn_id) or owner)
                group = self._resolve_group(el_ix.lanes.get(bpmn_id))
                if group:
                    lanes[bpmn_id] = group
                if getattr(ts, "manual", False):
                    self._check_user_task(el_ix, ts, bpmn_id, forms_ok, form_of, task_props)
                if hasattr(ts, "operation_name"):
                    self._check_service(el_ix.name, ts)
                decision = getattr(ts, "dmnEngine", None)
                if decision is not None:
                    decisions.add(decision.decision_table.id)
        self._check_lanes(indexes, all_specs, lanes, by_process, ix)
        if len(self.problems) > before:
            return None
        for other in indexes:
            if other.kind == "dmn" and any(other.root.find(f".//*[@id='{d}']") is not None for d in decisions if d):
                used_files.add(other.name)
        sources = {name: files[name].decode("utf-8") for name in sorted(used_files)}
        for form in sorted(set(form_of.values())):
            sources[FORM_DIR + form] = files[FORM_DIR + form].decode("utf-8")
        digest = hashlib.sha256()
        for name, text in sources.items():
            digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        meta = {
            "file": ix.name,
            "lanes": lanes,
            "forms": form_of,
            "task_props": task_props,
            "names": names,
            "subprocess_ids": sorted(subs),
        }
        spec_text = StateSerializer().dump_spec(spec, subs)
        return Bundle(pid, proc.get("name") or pid, sources, digest.hexdigest(), spec_text, meta)

    def _check_user_task(self, ix, ts, bpmn_id, forms_ok, form_of, task_props) -> None:
        props = (getattr(ts, "extensions", None) or {}).get("properties", {}) or {}
        form = props.get("formJsonSchemaFilename")
        if form:
            form = form[len(FORM_DIR):] if form.startswith(FORM_DIR) else form
            if form not in forms_ok:
                self.problem(ix.name, bpmn_id, f"表单文件 {FORM_DIR}{form} 不存在或无效")
            else:
                form_of[bpmn_id] = form
        extra = {k: props[k] for k in EXPRESSION_PROPERTIES if props.get(k)}
        if extra:
            task_props[bpmn_id] = extra

    def _check_service(self, file: str, ts) -> None:
        name = ts.operation_name
        try:
            op = registry.get(name)
        except registry.UnknownOperator:
            self.problem(file, ts.bpmn_id, f"服务操作 {name!r} 未注册 (可用: {', '.join(registry.names())})")
            return
        given = set((ts.operation_params or {}).keys())
        unknown = given - set(op.params)
        missing = set(op.required) - given
        if unknown:
            self.problem(file, ts.bpmn_id, f"服务操作 {name} 没有参数: {', '.join(sorted(unknown))}")
        if missing:
            self.problem(file, ts.bpmn_id, f"服务操作 {name} 缺少参数: {', '.join(sorted(missing))}")

    def _check_lanes(self, indexes, all_specs, lanes, by_process, default_ix) -> None:
        """Every user task must resolve to a group, directly or through its container."""
        parent_of: dict[str, str] = {}
        for s in all_specs:
            for ts in s.task_specs.values():
                called = getattr(ts, "spec", None)
                if isinstance(called, str) and getattr(ts, "bpmn_id", None):
                    parent_of.setdefault(called, ts.bpmn_id)
        for s in all_specs:
            for ts in s.task_specs.values():
                if not getattr(ts, "manual", False) or not getattr(ts, "bpmn_id", None):
                    continue
                group = _group_via_containers(ts.bpmn_id, s.name, lanes, parent_of, all_specs)
                if group is None:
                    own = by_process.get(s.name)
                    el_ix = own if own is not None and ts.bpmn_id in own.elements else (
                        _find_index(indexes, ts.bpmn_id) or own or default_ix)
                    lane = el_ix.lanes.get(ts.bpmn_id)
                    if lane is None:
                        self.problem(el_ix.name, ts.bpmn_id, "用户任务不在任何泳道中，无法分配给员工组")
                    else:
                        known = ", ".join(sorted(self.groups))
                        self.problem(el_ix.name, ts.bpmn_id,
                                     f"泳道 {lane[1] or lane[0]!r} 不对应任何员工组 (已知: {known})")


def _group_via_containers(element_id, process_name, lanes, parent_of, all_specs):
    if element_id in lanes:
        return lanes[element_id]
    seen = set()
    proc = process_name
    while proc in parent_of and proc not in seen:
        seen.add(proc)
        container = parent_of[proc]
        if container in lanes:
            return lanes[container]
        proc = next((s.name for s in all_specs if container in {getattr(t, "bpmn_id", None) for t in s.task_specs.values()}), None)
    return None


def _find_index(indexes, element_id):
    for ix in indexes:
        if ix.kind == "bpmn" and element_id in ix.elements:
            return ix
    return None


def _owner_id(node) -> str | None:
    current = node
    while current is not None:
        if isinstance(current.tag, str) and current.get("id") and etree.QName(current).namespace == BPMN:
            if etree.QName(current).localname in FLOW_NODE_TAGS | {"sequenceFlow", "process", "correlationProperty"}:
                return current.get("id")
        current = current.getparent()
    return None


def _encoding_text(data: bytes, exc: UnicodeDecodeError) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "文件是 UTF-16 编码，请另存为 UTF-8"
    if b"\x00" in data[:4096]:
        return "不是 UTF-8 文本 (像是二进制文件)"
    line = data[: exc.start].count(b"\n") + 1
    return f"不是 UTF-8 文本 (第 {line} 行有无法识别的字节)，请另存为 UTF-8"


_SCHEMA_ELEMENT = re.compile(r"Element '([^']+)'")


def _element_at_line(root, line, message: str) -> str | None:
    """The id of the element a schema error names (schema errors give a line and a tag)."""
    named = _SCHEMA_ELEMENT.search(message)
    if not line or not named:
        return None
    ids = [el.get("id") for el in root.iter(named.group(1)) if el.sourceline == line]
    return ids[0] if len(ids) == 1 else None


_SCHEMA_EXPECTED = re.compile(r"\s*Expected is (one of )?\(.*\)\.?", re.S)


_DATA_STORE = re.compile(r"Data Store with name (.+?) has no implementation")


def _validation_text(exc: ValidationException) -> str:
    line = getattr(exc, "line_number", None)
    msg = str(exc).split("\n")[0].strip()
    if "is not expected" in msg or "is not a valid value" in msg:
        # an XSD message: short element names, without the list of every allowed element
        msg = _SCHEMA_EXPECTED.sub("", msg.replace(f"{{{BPMN}}}", "bpmn:")).rstrip(". ")
        msg = f"不符合 BPMN/DMN 架构 (XSD): {msg}"
    return f"第 {line} 行: {msg}" if line else msg
