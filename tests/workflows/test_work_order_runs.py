"""Drive ``workflows/work_order.bpmn`` (DOMAIN P1) in memory with plain SpiffWorkflow.

These tests prove the model is executable on its own: the spiff parser with XSD validation,
a test-local script engine that offers the two helpers the engine promises to BPMN
expressions (``now_iso``, ``add_duration``) and a fixed ``check_warranty`` result. Every
step is followed by a JSON save/reload, every submitted form is validated against its
JSON Schema, and the ``assignee`` / ``dueDate`` expressions and the ``{{ var }}`` names in
the instructions are checked against the task data when a task becomes ready.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
FORMS = WORKFLOWS / "forms"
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

START_DATA = {
    "work_order_no": "WO-20250602-0001",
    "order_type": "install",
    "customer_name": "张三",
    "customer_phone": "13812345678",
    "address": "杭州市西湖区文三路 1 号",
    "zone": "in_city",
    "product_model": "KFR-35GW",
    "serial_no": "SN-0001",
    "purchase_date": "2025-05-20",
    "symptom": "新机安装",
    "channel": "phone",
    "requested_at": "2025-06-03T09:00:00+08:00",
}

PRODUCT = {
    "model": "KFR-35GW",
    "category": "空调",
    "name": "空调",
    "parts_warranty_months": 72,
    "labour_warranty_months": 72,
}
COVERED = {"decided": True, "covered": True, "category": "C", "reason": "在免费保修期内", "rule": "warranty_period"}
UNDECIDED = {"decided": False, "covered": False, "category": None, "reason": "缺少购买日期", "rule": "no_purchase_date"}

FORMS_BY_TASK = {
    "request_purchase_proof": ("客服", "wo_purchase_proof.json"),
    "dispatch": ("调度", "wo_dispatch.json"),
    "handle_accept_overdue": ("调度", "wo_accept_overdue.json"),
    "reassign": ("调度", "wo_reassign.json"),
    "accept_task": ("技术员", "wo_accept.json"),
    "check_in": ("技术员", "wo_check_in.json"),
    "report_progress": ("技术员", "wo_progress.json"),
    "complete_service": ("技术员", "wo_completion.json"),
    "wait_resume": ("技术员", "wo_resume.json"),
    "urge_callback": ("技术员", "wo_urge_callback.json"),
    "customer_evaluation": ("回访", "wo_evaluation.json"),
}

DISPATCH = {"technician": "wang", "accept_within": "PT2H", "dispatch_note": "客户下午在家"}
ACCEPT = {"customer_contacted": True, "appointment_at": "2025-06-03T14:00:00+08:00"}
CHECK_IN = {"arrived_at": "2025-06-03T13:52:00+08:00"}
NOT_FINISHED = {"finished": False, "progress_note": "已拆机，等待配件"}
FINISHED = {"finished": True, "progress_note": "安装调试完成"}
COMPLETION = {
    "result": "fixed",
    "work_done": "安装室内外机并试机",
    "parts_used": [{"code": "P-PIPE-3M", "qty": 1}],
    "fee_collected": "120.00",
    "customer_signed": True,
}
SATISFIED = {"stars": 5, "satisfied": True, "evaluation_comment": "师傅很专业"}
UNSATISFIED = {"stars": 2, "satisfied": False, "evaluation_comment": "仍有异响"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def add_duration(iso_datetime: str, iso_duration: str) -> str:
    start = datetime.fromisoformat(iso_datetime)
    parsed = TimerEventDefinition.parse_iso_duration(iso_duration)
    return (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()


class FakeWarranty:
    """Answers ``check_warranty`` with the given results in turn, repeating the last one.

    ``product_info`` always finds an air conditioner (空调) in the catalog.
    """

    def __init__(self, *results: dict) -> None:
        self.results = list(results)
        self.calls: list[dict] = []

    def __call__(self, operation_name: str, params: dict) -> dict:
        if operation_name == "product_info":
            return PRODUCT
        assert operation_name == "check_warranty"
        self.calls.append(params)
        return self.results[min(len(self.calls), len(self.results)) - 1]


class ScriptEngine(PythonScriptEngine):
    def __init__(self, warranty: FakeWarranty) -> None:
        super().__init__(environment=TaskDataEnvironment({"now_iso": now_iso, "add_duration": add_duration}))
        self.warranty = warranty

    def call_service(self, task, operation_name, operation_params, **kwargs):
        # Overridden because the 3.2.0 base class hides service exceptions behind a NameError.
        params = {name: p["value"] for name, p in operation_params.items()}
        return json.dumps(self.warranty(operation_name, params))


@cache
def specs():
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(WORKFLOWS / "work_order.bpmn"))
    parser.add_dmn_file(str(WORKFLOWS / "warranty_policy.dmn"))
    return parser.get_spec("work_order"), parser.get_subprocess_specs("work_order")


@cache
def form_validator(filename: str) -> Draft202012Validator:
    schema = json.loads((FORMS / filename).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


class Run:
    """One in-memory instance, saved and reloaded after every step like the engine does."""

    def __init__(self, warranty: FakeWarranty | None = None, *, missing: tuple[str, ...] = (), **start: object) -> None:
        self.engine = ScriptEngine(warranty or FakeWarranty(COVERED))
        spec, subprocess_specs = specs()
        self.wf = BpmnWorkflow(spec, subprocess_specs, script_engine=self.engine)
        data = {**START_DATA, **start}
        self.wf.task_tree.data.update({k: v for k, v in data.items() if k not in missing})
        self.messages: list[tuple[str, dict]] = []
        self._step()

    def _step(self) -> None:
        self.wf.do_engine_steps()
        self.messages += [(e.event_definition.name, e.payload) for e in self.wf.get_events()]
        self.wf = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(self.wf))
        self.wf.script_engine = self.engine
        for task in self.wf.get_tasks(state=TaskState.READY, manual=True):
            check_ready_task(self.engine, task)

    def ready(self) -> list[str]:
        return sorted(t.task_spec.bpmn_id for t in self.wf.get_tasks(state=TaskState.READY, manual=True))

    def task(self, bpmn_id: str, state: TaskState = TaskState.READY):
        tasks = [t for t in self.wf.get_tasks(state=state) if t.task_spec.bpmn_id == bpmn_id]
        assert len(tasks) == 1, f"{bpmn_id}: expected one task in state {state}, ready: {self.ready()}"
        return tasks[0]

    def complete(self, bpmn_id: str, form: dict) -> None:
        task = self.task(bpmn_id)
        form_validator(task.task_spec.extensions["properties"]["formJsonSchemaFilename"]).validate(form)
        task.data.update(form)
        task.run()
        self._step()

    def property(self, bpmn_id: str, name: str):
        task = self.task(bpmn_id)
        return self.engine.evaluate(task, task.task_spec.extensions["properties"][name])

    def timer_due(self, bpmn_id: str) -> datetime:
        return TimerEventDefinition.get_datetime(self.task(bpmn_id, TaskState.WAITING).internal_data["event_value"])

    def fire_timer(self, bpmn_id: str) -> None:
        timer = self.task(bpmn_id, TaskState.WAITING)
        timer.internal_data["event_value"] = "2000-01-01T00:00:00+00:00"
        self.wf.refresh_timers()
        self._step()

    def reached(self, bpmn_id: str) -> bool:
        return any(t.task_spec.bpmn_id == bpmn_id for t in self.wf.get_tasks(state=TaskState.COMPLETED))

    def data(self) -> dict:
        return self.wf.last_task.data


def check_ready_task(engine: PythonScriptEngine, task) -> None:
    spec = task.task_spec
    lane, form = FORMS_BY_TASK[spec.bpmn_id]
    assert spec.lane == lane
    properties = spec.extensions["properties"]
    assert properties["formJsonSchemaFilename"] == form
    for name in ("assignee", "dueDate"):
        if name in properties:
            value = engine.evaluate(task, properties[name])
            assert isinstance(value, str) and value, f"{spec.bpmn_id}.{name} -> {value!r}"
            if name == "dueDate":
                datetime.fromisoformat(value)
    instructions = spec.extensions.get("instructionsForEndUser", "")
    for root in re.findall(r"{{\s*([A-Za-z_]\w*)", instructions):
        assert root in task.data, f"{spec.bpmn_id} instructions use {root!r}, not in task data"


def completion_window(data: dict) -> timedelta:
    return datetime.fromisoformat(data["completion_deadline"]) - datetime.fromisoformat(data["dispatched_at"])


def drive_service_to_evaluation(run: Run) -> None:
    run.complete("accept_task", ACCEPT)
    run.complete("check_in", CHECK_IN)
    run.complete("report_progress", FINISHED)
    run.complete("complete_service", COMPLETION)
    assert "customer_evaluation" in run.ready()


def test_model_parses_with_xsd_and_every_user_task_has_its_lane_and_form():
    spec, subprocess_specs = specs()
    user_tasks = {
        ts.bpmn_id: (ts.lane, ts.extensions["properties"]["formJsonSchemaFilename"])
        for s in [spec, *subprocess_specs.values()]
        for ts in s.task_specs.values()
        if ts.manual
    }
    assert user_tasks == FORMS_BY_TASK


def test_happy_path_runs_from_new_order_to_closed_order():
    warranty = FakeWarranty(COVERED)
    run = Run(warranty)
    assert warranty.calls == [
        {
            "serial_no": "SN-0001",
            "product_model": "KFR-35GW",
            "purchase_date": "2025-05-20",
            "order_type": "install",
            "customer_phone": "13812345678",
            "policy": {"空调": {"parts_months": 72, "labour_months": 72}},
        }
    ]
    assert run.ready() == ["dispatch"]

    run.complete("dispatch", DISPATCH)
    assert run.messages == [
        (
            "dispatch_reminder",
            {
                "work_order_no": "WO-20250602-0001",
                "technician": "wang",
                "customer_name": "张三",
                "address": "杭州市西湖区文三路 1 号",
            },
        )
    ]
    assert run.ready() == ["accept_task"]
    assert run.property("accept_task", "assignee") == "wang"

    run.complete("accept_task", ACCEPT)
    run.complete("check_in", CHECK_IN)
    run.complete("report_progress", NOT_FINISHED)
    assert run.ready() == ["report_progress"]
    run.complete("report_progress", FINISHED)
    assert run.ready() == ["complete_service"]
    run.complete("complete_service", COMPLETION)
    assert run.ready() == ["customer_evaluation"]
    run.complete("customer_evaluation", SATISFIED)

    assert run.wf.is_completed()
    assert run.reached("work_order_closed")
    data = run.data()
    assert data["warranty"]["category"] == "C"
    assert data["parts_used"] == [{"code": "P-PIPE-3M", "qty": 1}]
    assert (data["redispatch_count"], data["reassign_count"], data["proof_requests"]) == (0, 0, 0)


def test_missing_purchase_date_asks_for_purchase_proof_and_checks_again():
    warranty = FakeWarranty(UNDECIDED, COVERED)
    run = Run(warranty, missing=("purchase_date",))
    assert run.ready() == ["request_purchase_proof"]

    run.complete(
        "request_purchase_proof", {"proof_provided": True, "proof_type": "invoice", "purchase_date": "2024-12-01"}
    )

    assert [c["purchase_date"] for c in warranty.calls] == [None, "2024-12-01"]
    assert run.ready() == ["dispatch"]
    assert run.task("dispatch").data["warranty"] == COVERED


def test_warranty_still_undecided_after_two_proof_requests_continues_as_charged_service():
    warranty = FakeWarranty(UNDECIDED)
    run = Run(warranty, purchase_date=None)
    for _ in range(2):
        assert run.ready() == ["request_purchase_proof"]
        run.complete(
            "request_purchase_proof", {"proof_provided": True, "proof_type": "receipt", "purchase_date": "2019-01-01"}
        )

    assert len(warranty.calls) == 3
    assert run.ready() == ["dispatch"]
    assert run.task("dispatch").data["warranty"]["category"] == "A"


def test_customer_without_purchase_proof_is_not_asked_again():
    warranty = FakeWarranty(UNDECIDED)
    run = Run(warranty, purchase_date=None)
    run.complete("request_purchase_proof", {"proof_provided": False, "proof_note": "发票遗失"})

    assert len(warranty.calls) == 2
    assert run.ready() == ["dispatch"]
    assert run.task("dispatch").data["warranty"]["category"] == "A"


@pytest.mark.parametrize(
    ("order_type", "zone", "limit"),
    [
        ("install", "in_city", timedelta(hours=24)),
        ("install", "out_of_city", timedelta(hours=48)),
        ("repair", "in_city", timedelta(days=3)),
        ("repair", "out_of_city", timedelta(days=7)),
        ("complaint", "in_city", timedelta(hours=24)),
        ("training", "out_of_city", timedelta(days=7)),
    ],
)
def test_completion_deadline_depends_on_order_type_and_zone(order_type, zone, limit):
    run = Run(order_type=order_type, zone=zone)
    run.complete("dispatch", DISPATCH)

    data = run.task("accept_task").data
    dispatched_at = datetime.fromisoformat(data["dispatched_at"])
    assert completion_window(data) == limit
    assert run.timer_due("completion_overdue") == datetime.fromisoformat(data["completion_deadline"])
    assert datetime.fromisoformat(run.property("accept_task", "dueDate")) - dispatched_at == timedelta(hours=2)


def test_late_acceptance_goes_to_the_dispatcher_and_the_technician_can_still_accept():
    run = Run()
    run.complete("dispatch", {**DISPATCH, "accept_within": "PT1H"})
    due = run.timer_due("accept_overdue")
    assert timedelta(minutes=59) < due - datetime.now(UTC) <= timedelta(hours=1)

    run.fire_timer("accept_overdue")
    assert run.ready() == ["accept_task", "handle_accept_overdue"]
    assert run.task("handle_accept_overdue").data["technician"] == "wang"

    run.complete("handle_accept_overdue", {"overdue_action": "urged", "overdue_note": "已电话催促"})
    assert run.ready() == ["accept_task"]
    assert run.reached("accept_overdue_handled")

    drive_service_to_evaluation(run)
    run.complete("customer_evaluation", SATISFIED)
    assert run.wf.is_completed()
    assert run.reached("work_order_closed")


def test_closing_the_order_withdraws_an_unhandled_accept_overdue_task():
    run = Run()
    run.complete("dispatch", DISPATCH)
    run.fire_timer("accept_overdue")
    drive_service_to_evaluation(run)
    assert run.ready() == ["customer_evaluation", "handle_accept_overdue"]

    run.complete("customer_evaluation", SATISFIED)

    assert run.wf.is_completed()
    assert run.reached("work_order_closed")
    assert run.task("handle_accept_overdue", TaskState.CANCELLED)


def test_missed_completion_deadline_interrupts_the_service_and_reassigns():
    run = Run()
    run.complete("dispatch", DISPATCH)
    run.complete("accept_task", ACCEPT)
    run.complete("check_in", CHECK_IN)
    assert run.ready() == ["report_progress"]

    run.fire_timer("completion_overdue")
    assert run.ready() == ["reassign"]
    assert run.task("reassign").data["technician"] == "wang"

    run.complete(
        "reassign",
        {
            "technician": "li",
            "accept_within": "PT1H",
            "deadline_extension": "PT48H",
            "reassign_reason": "原技术员未按时完工",
        },
    )
    assert [m[1]["technician"] for m in run.messages] == ["wang", "li"]
    assert run.ready() == ["accept_task"]
    assert run.property("accept_task", "assignee") == "li"
    data = run.task("accept_task").data
    assert data["reassign_count"] == 1
    assert completion_window(data) == timedelta(hours=48)
    assert run.timer_due("completion_overdue") == datetime.fromisoformat(data["completion_deadline"])

    drive_service_to_evaluation(run)
    run.complete("customer_evaluation", SATISFIED)
    assert run.wf.is_completed()


def test_unsatisfied_customer_gets_at_most_two_redispatches_then_the_order_is_closed():
    run = Run()
    dispatched_to = []
    for technician in ["wang", "li", "zhao"]:
        assert run.ready() == ["dispatch"]
        run.complete("dispatch", {**DISPATCH, "technician": technician})
        dispatched_to.append(run.property("accept_task", "assignee"))
        drive_service_to_evaluation(run)
        run.complete("customer_evaluation", UNSATISFIED)

    assert dispatched_to == ["wang", "li", "zhao"]
    assert run.wf.is_completed()
    assert run.reached("closed_unsatisfied")
    assert not run.reached("work_order_closed")
    assert run.data()["redispatch_count"] == 2
