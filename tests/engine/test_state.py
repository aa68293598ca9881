"""Stored state: what is reloaded equals what was in memory, step after step."""

from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.clock import FakeClock
from engine.spiff import ScriptEngine, StateSerializer, new_parser

MUTATING = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="mutating" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:scriptTask id="make"><bpmn:script>wo = {'parts': ['relay']}</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="a"/>
    <bpmn:scriptTask id="grow"><bpmn:script>wo['parts'].append('fan')</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="b"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="make"/>
    <bpmn:sequenceFlow id="f2" sourceRef="make" targetRef="a"/>
    <bpmn:sequenceFlow id="f3" sourceRef="a" targetRef="grow"/>
    <bpmn:sequenceFlow id="f4" sourceRef="grow" targetRef="b"/>
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def dispatch_workflow():
    """The benchmark's dispatch flow, started in memory with the restricted script engine."""
    from bench import dispatch_model as model
    from bench.engine_throughput import OPERATOR

    parser = new_parser()
    parser.add_bpmn_str(model.bpmn(OPERATOR).encode(), filename="dispatch.bpmn")
    spec, subs = parser.get_spec(model.PROCESS_ID), parser.get_subprocess_specs(model.PROCESS_ID)
    workflow = BpmnWorkflow(spec, subs, script_engine=ScriptEngine(FakeClock().now))
    workflow.do_engine_steps()
    return spec, subs, workflow


def complete_next(workflow, data: dict, *, rework: int) -> bool:
    """Complete the next READY user task with the benchmark's form data (charged, reworked)."""
    from bench import dispatch_model as model

    task = workflow.get_next_task(state=TaskState.READY, manual=True)
    if task is None:
        return False
    form = model.form_data(task.task_spec.bpmn_id, 1, data, covered=False, rework=rework)
    data.update(form)
    task.data.update(form)
    task.run()
    workflow.do_engine_steps()
    return True


def live_data(workflow) -> dict:
    return {str(t.id): t.data for t in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK)}


def test_a_live_task_reloads_with_a_nested_value_mutated_after_its_parent_finished():
    parser = new_parser()
    parser.add_bpmn_str(MUTATING, filename="m.bpmn")
    spec, subs = parser.get_spec("mutating"), parser.get_subprocess_specs("mutating")
    engine = ScriptEngine(FakeClock().now)
    serializer = StateSerializer()
    workflow = BpmnWorkflow(spec, subs, script_engine=engine)
    workflow.do_engine_steps()
    serializer.dump_state(workflow)  # caches the finished tasks' records
    workflow.get_next_task(state=TaskState.READY, manual=True).run()
    workflow.do_engine_steps()
    reloaded = serializer.load_state(serializer.dump_state(workflow), spec, subs)
    b = reloaded.get_next_task(state=TaskState.READY, manual=True)
    assert b.task_spec.bpmn_id == "b" and b.data["wo"] == {"parts": ["relay", "fan"]}
    assert live_data(reloaded) == live_data(workflow)


def test_every_step_of_the_dispatch_flow_reloads_equal():
    spec, subs, workflow = dispatch_workflow()
    serializer = StateSerializer()
    data: dict = {}
    steps = 0
    while True:
        text = serializer.dump_state(workflow)
        reloaded = serializer.load_state(text, spec, subs)
        assert live_data(reloaded) == live_data(workflow)
        assert {str(t.id): t.state for t in reloaded.get_tasks()} == {str(t.id): t.state for t in workflow.get_tasks()}
        if not complete_next(workflow, data, rework=2):
            break
        steps += 1
    assert workflow.is_completed() and steps == 14


def test_archived_records_and_the_live_state_reload_equal_at_every_step():
    spec, subs, workflow = dispatch_workflow()
    serializer = StateSerializer()
    archive: list[str] = []
    data: dict = {}
    while True:
        state, new = serializer.dump_live(workflow)
        archive.extend(text for _task_id, text in new)
        reloaded = serializer.load_state(state, spec, subs, archive)
        assert live_data(reloaded) == live_data(workflow)
        assert {str(t.id): t.state for t in reloaded.get_tasks()} == {str(t.id): t.state for t in workflow.get_tasks()}
        assert {str(t.id): t.data for t in reloaded.get_tasks()} == {str(t.id): t.data for t in workflow.get_tasks()}
        if not complete_next(workflow, data, rework=5):
            break
    assert workflow.is_completed() and len(archive) > 20
    assert len(state) < 10_000  # what is still alive, not the whole history
