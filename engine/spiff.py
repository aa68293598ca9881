"""Everything SpiffWorkflow: safe XML, the parser, the script engine, the serializer.

Nothing outside ``engine`` imports SpiffWorkflow; the facade uses these helpers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import scripting
from tasks import registry

MAX_SOURCE_BYTES = 5 * 1024 * 1024
TREE_DEPTH_LIMIT = 1_000_000


def _lift_tree_depth_limit() -> None:
    """Let task lookups see tasks deeper than 1000 levels.

    SpiffWorkflow's task iterators stop at depth 1000 by default: past about 330 turns of a
    three-task loop, READY tasks become invisible, the instance stalls and even reports
    itself completed. Each loop turn adds depth, so long-lived orders need more; ancestor
    checks recurse once per level, hence the recursion limit.
    """
    import sys

    from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
    from SpiffWorkflow.util.task import TaskIterator

    for cls in (TaskIterator, BpmnTaskIterator):
        defaults = list(cls.__init__.__defaults__)
        defaults[1] = TREE_DEPTH_LIMIT  # (end_at_spec, max_depth, ...)
        cls.__init__.__defaults__ = tuple(defaults)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))


_lift_tree_depth_limit()
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
STATE_FORMAT = 1  # our envelope around the serializer's own version
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED
_FROZEN = object()  # marks a finished task whose record can no longer change


class UnsafeXML(ValueError):
    """The XML is not well-formed, too large, or declares a DTD or entities."""


def parse_xml(data: bytes | str, filename: str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size.

    :raises UnsafeXML: naming the file and the reason
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_SOURCE_BYTES:
        raise UnsafeXML(f"{filename}: 文件过大 ({len(data) // 1024} KB，上限 {MAX_SOURCE_BYTES // 1024} KB)")
    if _DTD.search(data):
        raise UnsafeXML(f"{filename}: 不允许 DOCTYPE 或实体声明 (DTD/ENTITY)")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise UnsafeXML(f"{filename}: XML 格式错误 (第 {exc.lineno} 行): {exc.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXML(f"{filename}: 不允许 DOCTYPE 或实体声明 (DTD/ENTITY)")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise UnsafeXML(f"{filename}: 不允许实体引用 ({node.text})")
    return root


def new_parser(validate: bool = True) -> SpiffBpmnParser:
    return SpiffBpmnParser(validator=VALIDATOR if validate else None)


class ScriptEnvironment(TaskDataEnvironment):
    """Task-data environment whose scripts and expressions run restricted."""

    def __init__(self, now: Callable[[], datetime], time_limit: float = scripting.DEFAULT_TIME_LIMIT) -> None:
        globals_ = dict(scripting.HELPERS)
        globals_["now_iso"] = lambda: now().isoformat()
        globals_["__builtins__"] = scripting.SAFE_BUILTINS
        globals_["__pg_binop__"] = scripting._binop
        super().__init__(globals_)
        self.time_limit = time_limit

    def evaluate(self, expression, context, external_context=None):
        code = scripting.compile_checked(expression, "eval")
        namespace = dict(self.globals)
        namespace.update(external_context or {})
        namespace.update(context)
        return scripting.run(code, namespace, self.time_limit)

    def execute(self, script, context, external_context=None):
        code = scripting.compile_checked(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update(external_context or {})
        context.update(self.globals)
        try:
            scripting.run(code, context, self.time_limit)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def _remove_globals_and_functions_from_context(self, context, external_context=None):
        for key in list(context):
            value = context[key]
            if key in self.globals or callable(value) or type(value).__name__ == "module" or (
                external_context and key in external_context
            ):
                context.pop(key)


class ServiceCallError(RuntimeError):
    """A service operator failed; carries the original exception for the incident."""

    def __init__(self, operator: str, original: BaseException) -> None:
        super().__init__(f"服务 {operator} 失败: {type(original).__name__}: {original}")
        self.operator = operator
        self.original = original


class ScriptEngine(PythonScriptEngine):
    """Restricted scripts plus ``call_service`` dispatching to the ``tasks`` registry.

    The library's own ``call_service`` wraps every error in a NameError about an undefined
    ``script``; ours raises :class:`ServiceCallError` with the real cause.
    """

    def __init__(self, now: Callable[[], datetime], ref: Any = None, time_limit: float = 1.0) -> None:
        super().__init__(environment=ScriptEnvironment(now, time_limit))
        self.now = now
        self.ref = ref

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        try:
            op = registry.get(operation_name)
            result = op.call(params, now=self.now(), ref=self.ref)
        except Exception as exc:  # every failure becomes an incident with its real cause
            raise ServiceCallError(operation_name, exc) from exc
        return json.dumps(result, ensure_ascii=False, default=str)


class Workflow(BpmnWorkflow):
    """A BpmnWorkflow that finds its READY and WAITING tasks by scanning its task table.

    The library walks the whole task tree for them after every task it completes; the tree
    grows with every loop turn, so a long-lived order got slower with each step. A scan of
    the task table is an order of magnitude cheaper per task. Tasks run in the order they
    were created (deterministic, which the incident replay relies on).
    """

    def update_waiting_tasks(self) -> None:
        for task in [t for t in self.tasks.values() if t.state == TaskState.WAITING]:
            if task.state == TaskState.WAITING:
                task.task_spec._update(task)

    def _do_engine_steps(self, will_complete_task=None, did_complete_task=None):
        def update_workflow(wf) -> int:
            count = 0
            for task in [t for t in wf.tasks.values() if t.state == TaskState.READY and not t.task_spec.manual]:
                if task.state != TaskState.READY:  # changed by a task run earlier in this pass
                    continue
                if will_complete_task is not None:
                    will_complete_task(task)
                task.run()
                count += 1
                if did_complete_task is not None:
                    did_complete_task(task)
            return count

        active = self.get_active_subprocesses()
        for subprocess in sorted(active, key=lambda sp: sp.depth, reverse=True):
            while update_workflow(subprocess) > 0:
                pass
            if subprocess.parent_task_id is not None:
                task = self.get_task_from_id(subprocess.parent_task_id)
                task.task_spec._update(task)
        count = update_workflow(self)
        return count > 0 or len(self.get_active_subprocesses()) > len(active)


class _StateConverter(BpmnWorkflowConverter):
    """Workflow converter that leaves the spec out; the definition version holds it."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        from uuid import UUID

        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


# Serializer versions of older SpiffWorkflow releases (2.0 wrote 1.2, 3.0 wrote 1.3, 3.1
# wrote 1.4) and what each needs to read as the current one.
OLD_SERIALIZER_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")


def _flat_tasks(dct: dict):
    """(workflow dict, its spec name or None for the top one) of a state and its subprocesses."""
    yield dct, None
    for sub in dct.get("subprocesses", {}).values():
        yield sub, sub.get("spec")


def _waiting_loops_started(dct: dict, spec, subprocess_specs) -> None:
    """1.3 -> 1.4: a reached loop or multi-instance task is STARTED (its children report by
    events), no longer WAITING and polled. The library's own step looks the specs up in the
    serialized spec, which the engine keeps apart, and breaks on subprocesses; this one asks
    the deployed spec objects."""
    from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

    for wf, spec_name in _flat_tasks(dct):
        wf_spec = spec if spec_name is None else subprocess_specs.get(spec_name)
        task_specs = getattr(wf_spec, "task_specs", {})
        for task in wf["tasks"].values():
            if task["state"] == TaskState.WAITING and isinstance(task_specs.get(task["task_spec"]), LoopTask):
                task["state"] = TaskState.STARTED


class StateSerializer:
    """Serializes specs once per definition and workflow state without the spec."""

    def __init__(self) -> None:
        self.spec_registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self.spec_serializer = BpmnWorkflowSerializer(self.spec_registry)
        self.registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        self._converter = _StateConverter(Workflow, self.registry)
        self._encoder = create_encoder(self.registry)
        self.version = self.spec_serializer.VERSION

    def dump_spec(self, spec, subprocess_specs) -> str:
        return json.dumps(
            {
                "spec": self.spec_serializer.to_dict(spec),
                "subprocess_specs": {k: self.spec_serializer.to_dict(v) for k, v in subprocess_specs.items()},
            }
        )

    def load_spec(self, text: str):
        dct = json.loads(text)
        spec = self.spec_serializer.from_dict(dct["spec"])
        subs = {k: self.spec_serializer.from_dict(v) for k, v in dct["subprocess_specs"].items()}
        return spec, subs

    def dump_state(self, workflow) -> str:
        """The workflow's whole state as JSON text, without its spec (see :meth:`dump_live`)."""
        return self._dump(workflow, archive=False)[0]

    def dump_live(self, workflow) -> tuple[str, list[tuple[str, str]]]:
        """The state without the tasks archived before, and the tasks to archive now.

        A finished task whose children are all finished can never change again; once its
        parent is archived too, its record moves out of the instance state into the archive
        (written once), so a long-lived order's step writes only what is still alive.
        Returns ``(state, [(task id, record), ...])`` with the new archive records in order.
        """
        return self._dump(workflow, archive=True)

    def _dump(self, workflow, *, archive: bool) -> tuple[str, list[tuple[str, str]]]:
        """Finished tasks' JSON is cached on the workflow and reused on the next step; live
        tasks are written with their full data (not a delta against the parent's), so a
        script that mutated a shared nested value can never make a reloaded live task differ
        from the one in memory.
        """
        fragments = workflow.__dict__.setdefault("_paigong_fragments", {})
        archived = workflow.__dict__.setdefault("_paigong_archived", set()) if archive else None
        new: list[tuple[str, str]] = []
        self.registry._encoder_mode = True
        try:
            body = self._workflow_json(workflow, fragments, top=True, archived=archived, new=new)
        finally:
            self.registry._encoder_mode = False
        count = len(archived) if archived is not None else 0
        text = (f'{{"format":{STATE_FORMAT},"serializer_version":{json.dumps(self.version)},'
                f'"archived":{count},"workflow":{body}}}')
        return text, new

    def _workflow_json(self, workflow, fragments: dict, *, top: bool, archived: set | None = None,
                       new: list | None = None) -> str:
        reg = self.registry
        head: dict[str, Any] = {
            "data": reg.clean(workflow.data),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "root": str(workflow.task_tree.id),
        }
        if top:
            head["bpmn_events"] = reg.convert(workflow.bpmn_events)
        else:
            head["typename"] = "BpmnSubWorkflow"
            head["parent_task_id"] = str(workflow.parent_task_id)
            head["spec"] = workflow.spec.name
        if archived is None:
            tasks = ",".join(self._task_json(task, fragments) for task in workflow.tasks.values())
        else:
            live = []
            for task in workflow.tasks.values():
                if task.id in archived:
                    continue
                text = self._task_json(task, fragments)
                if fragments.get(task.id, (None,))[0] is _FROZEN and (task._parent is None or task._parent in archived):
                    archived.add(task.id)
                    new.append((str(task.id), text))
                else:
                    live.append(text)
            tasks = ",".join(live)
        parts = [json.dumps(head, cls=self._encoder, ensure_ascii=False)[:-1], f',"tasks":{{{tasks}}}']
        if top:
            subs = ",".join(f'"{sub_id}":{self._workflow_json(sub, fragments, top=False)}'
                            for sub_id, sub in workflow.subprocesses.items())
            parts.append(f',"subprocesses":{{{subs}}}')
        parts.append("}")
        return "".join(parts)

    def _task_json(self, task, fragments: dict) -> str:
        """``"<task id>":{record}`` for the tasks mapping."""
        cached = fragments.get(task.id)
        if cached is not None and cached[0] is _FROZEN:
            return cached[1]
        key = (task.state, task.last_state_change, tuple(task._children), task.triggered)
        if cached is not None and cached[0] == key:
            if task.state & _FINISHED and all(child.state & _FINISHED for child in task.children):
                fragments[task.id] = (_FROZEN, cached[1])  # nothing below it can change any more
            return cached[1]
        if task.state & _FINISHED:
            record = json.dumps(self.registry.convert(task), cls=self._encoder, ensure_ascii=False)
            text = f'"{task.id}":{record}'
            fragments[task.id] = (key, text)
            return text
        # predicted tasks carry no data yet: their record depends on the key alone
        cacheable = not task.data and not task.internal_data
        record = {
            "id": str(task.id),
            "parent": str(task._parent) if task._parent is not None else None,
            "children": [str(c) for c in task._children],
            "last_state_change": task.last_state_change,
            "state": task.state,
            "task_spec": task.task_spec.name,
            "triggered": task.triggered,
            "internal_data": self.registry.convert(task.internal_data),
            "data": self.registry.clean(task.data),
            "delta": {},
            "typename": "Task",
        }
        text = f'"{record["id"]}":' + json.dumps(record, cls=self._encoder, ensure_ascii=False)
        if cacheable:
            fragments[task.id] = (key, text)
        return text

    def _upgrade(self, dct: dict, version: str | None, spec, subprocess_specs) -> None:
        """Bring a state an older SpiffWorkflow serializer wrote up to the current format, in place.

        States before 1.3 go through the library's own migrations (from_version_1_0 chains to
        1.3). Those rewrite the serialized spec alongside the tasks; the engine keeps the spec
        with the definition, so they get a copy of the deployed spec to rewrite and throw away
        -- the task records are what they change for us (root task removed, boundary event
        parents split into split and join, typenames, data objects). From 1.3 the steps are
        ours: 1.3 -> 1.4 marks reached loops STARTED; 1.4 -> 1.5 changed event-based gateway
        specs only, which the deployed spec already is.

        :raises ValueError: a version this engine does not know
        """
        if version not in OLD_SERIALIZER_VERSIONS:
            raise ValueError(f"unknown SpiffWorkflow serializer version {version!r} (this engine reads "
                             f"{', '.join(OLD_SERIALIZER_VERSIONS)} and {self.version})")
        if version in ("1.0", "1.1", "1.2"):
            from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS

            if dct.pop("bpmn_messages", None):
                raise ValueError("a state of serializer 1.2 or older holding undelivered messages cannot be upgraded")
            dct["spec"] = self.spec_serializer.to_dict(spec)
            dct["subprocess_specs"] = {k: self.spec_serializer.to_dict(v) for k, v in subprocess_specs.items()}
            try:
                MIGRATIONS[version](dct)
            finally:
                dct.pop("spec", None)
                dct.pop("subprocess_specs", None)
                dct.pop("VERSION", None)
            for task in (t for wf, _name in _flat_tasks(dct) for t in wf["tasks"].values()):
                task.pop("workflow_name", None)  # gone since 1.3 (subprocesses are workflows of their own)
            version = "1.3"
        if version == "1.3":
            _waiting_loops_started(dct, spec, subprocess_specs)
        dct.setdefault("bpmn_events", [])
        dct.pop("serializer_version", None)

    def load_state(self, text: str, spec, subprocess_specs, archived: list[str] | tuple = ()):
        """Rebuild a workflow from :meth:`dump_state` text, or :meth:`dump_live` text plus the
        archived records in the order they were archived.

        :raises ValueError: the archive does not hold as many records as the state expects
        """
        if archived:
            # The top workflow's task mapping is the first one in the text (we wrote it so).
            marker = ',"tasks":{'
            at = text.index(marker) + len(marker)
            joined = ",".join(archived)
            text = text[:at] + joined + ("" if text[at] == "}" else ",") + text[at:]
        envelope = json.loads(text)
        if envelope.get("archived", 0) != len(archived):
            raise ValueError(f"state expects {envelope.get('archived')} archived tasks, found {len(archived)}")
        dct = envelope["workflow"]
        stored_version = envelope.get("serializer_version")
        if stored_version != self.version:
            self._upgrade(dct, stored_version, spec, subprocess_specs)
        workflow = self._converter.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
        if archived:
            workflow.__dict__["_paigong_archived"] = {UUID(fragment[1:37]) for fragment in archived}
        return workflow
