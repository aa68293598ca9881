"""The process catalog, version sources, the workspace, diffs, drafts, validation and deploying
from the editor."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine import DeployError, InvalidInput, NotAllowed, NotFound
from engine.modeling_models import ModelDraft
from tests.conftest import make_engine, make_user
from tests.modeling.models import as_bytes, mig


@pytest.fixture
def analyst(db):
    return make_user(db, "fx", roles=("staff", "analyst"))


@pytest.fixture
def tech(db):
    return make_user(db, "zw", "technician")


@pytest.fixture
def eng(db, clock):
    return make_engine(db, clock)


@pytest.fixture
def lite(sqlite_db, clock):
    """An engine on SQLite only, with ``mig`` version 1 deployed."""
    eng = make_engine(sqlite_db, clock)
    eng.deploy(as_bytes(mig()))
    return eng


@pytest.fixture
def lite_analyst(sqlite_db):
    return make_user(sqlite_db, "fx", roles=("staff", "analyst"))


def versions(eng, process_id="mig"):
    return next(p for p in eng.process_catalog() if p.process_id == process_id).versions


def test_the_catalog_counts_instances_per_version_and_status(eng, db, tech, analyst):
    eng.deploy(as_bytes(mig()))
    a = eng.start("mig", {}).instance_id
    b = eng.start("mig", {}).instance_id
    eng.terminate(b, actor=make_user(db, "root", roles=("staff", "admin")))
    eng.complete(eng.get_instance(a).open_tasks[0].id, {}, actor=tech)  # waits at the timer
    eng.start("mig", {})
    eng.deploy_model(mig(extra=True), analyst)
    eng.start("mig", {})

    catalog = {p.process_id: p for p in eng.process_catalog()}
    assert set(catalog) == {"mig", "mig_child"}
    process = catalog["mig"]
    assert process.latest_version == 2 and process.name == "迁移测试"
    v1, v2 = process.versions
    assert (v1.version, v2.version) == (1, 2) and process.latest_definition_id == v2.definition_id
    assert v1.instance_counts == {"running": 1, "waiting": 1, "terminated": 1}
    assert v2.instance_counts == {"running": 1}
    assert v1.deployed_by == "system" and v2.deployed_by == "fx"
    assert len(v2.sha256) == 64 and v2.deployed_at is not None
    assert catalog["mig_child"].versions[0].instance_counts == {}


def test_sources_and_the_workspace_hold_the_latest_files(lite, lite_analyst):
    first = versions(lite)[0].definition_id
    sources = lite.definition_sources(first)
    assert sorted(sources) == ["forms/mig_form.json", "mig.bpmn", "mig_child.bpmn"]
    assert sources["mig.bpmn"] == mig()["mig.bpmn"]
    with pytest.raises(NotFound):
        lite.definition_sources(999999)

    lite.deploy_model({"mig.bpmn": mig(extra=True)["mig.bpmn"]}, lite_analyst)
    workspace = lite.workspace_files()
    assert workspace["mig.bpmn"] == mig(extra=True)["mig.bpmn"]
    assert workspace["mig_child.bpmn"] == mig()["mig_child.bpmn"] and "forms/mig_form.json" in workspace
    # the old version keeps its own files
    assert lite.definition_sources(first)["mig.bpmn"] == mig()["mig.bpmn"]


def test_deploy_from_the_editor_merges_the_workspace_and_checks_the_role(lite, sqlite_db, lite_analyst):
    tech = make_user(sqlite_db, "zw", "technician")
    with pytest.raises(NotAllowed):
        lite.deploy_model(mig(extra=True), tech)
    unchanged = lite.deploy_model({}, lite_analyst)
    assert unchanged.deployed == () and {d.process_id for d in unchanged.unchanged} == {"mig", "mig_child"}
    result = lite.deploy_model({"mig.bpmn": mig(ask_name="核对")["mig.bpmn"]}, lite_analyst)
    assert [(d.process_id, d.version, d.deployed_by) for d in result.deployed] == [("mig", 2, "fx")]
    broken = mig()["mig.bpmn"].replace('targetRef="wait"', 'targetRef="nowhere"')
    with pytest.raises(DeployError) as refused:
        lite.deploy_model({"mig.bpmn": broken}, lite_analyst)
    assert any(p.element_id == "f_ask_wait" for p in refused.value.problems)
    with pytest.raises(DeployError):
        lite.deploy_model({"../x.bpmn": "<x/>"}, lite_analyst)
    assert versions(lite)[-1].version == 2


def test_the_diff_lists_added_removed_and_changed_elements(lite, lite_analyst):
    form = json.loads(mig()["forms/mig_form.json"])
    form["properties"]["note"]["title"] = "说明"
    files = dict(mig(ask_name="登记并核对", extra=True, timer="PT3H"), **{"forms/mig_form.json": json.dumps(form)})
    lite.deploy_model(files, lite_analyst)
    v1, v2 = (v.definition_id for v in versions(lite))
    diff = lite.diff_definitions(v1, v2)
    added = {c.element_id: c for c in diff.added}
    removed = {c.element_id for c in diff.removed}
    changed = {c.element_id: c for c in diff.changed}
    assert {"extra", "f_wait_extra", "f_extra_call"} <= set(added)
    assert added["extra"].element_type == "用户任务" and added["extra"].name == "补充信息"
    assert removed == {"f_wait_call"}
    assert any("名称" in d and "登记并核对" in d for d in changed["ask"].details)
    assert any("定时器" in d and "PT3H" in d for d in changed["wait"].details)
    assert any("离开的顺序流" in d for d in changed["wait"].details)
    assert "start" not in changed and "done" not in changed
    assert diff.forms_changed == ("forms/mig_form.json",) and diff.forms_added == () == diff.forms_removed
    back = lite.diff_definitions(v2, v1)
    assert {c.element_id for c in back.removed} == {"extra", "f_wait_extra", "f_extra_call"}
    same = lite.diff_definitions(v1, v1)
    assert same.added == same.removed == same.changed == same.forms_changed == ()
    with pytest.raises(NotFound):
        lite.diff_definitions(v1, 999999)


def test_the_diff_sees_operators_lanes_conditions_and_moved_shapes():
    from engine import model_lint
    from engine.spiff import parse_xml

    old = """<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
      xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
      xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d">
      <bpmn:process id="p"><bpmn:laneSet id="ls"><bpmn:lane id="l1" name="调度"><bpmn:flowNodeRef>svc</bpmn:flowNodeRef>
      </bpmn:lane></bpmn:laneSet>
      <bpmn:serviceTask id="svc" name="查保"><bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="check_warranty">
      <spiffworkflow:parameters><spiffworkflow:parameter id="serial_no" value="serial_no"/></spiffworkflow:parameters>
      </spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>
      <bpmn:sequenceFlow id="f" sourceRef="svc" targetRef="svc"><bpmn:conditionExpression>a == 1</bpmn:conditionExpression>
      </bpmn:sequenceFlow></bpmn:process>
      <bpmndi:BPMNDiagram id="dg"><bpmndi:BPMNPlane id="pl" bpmnElement="p"><bpmndi:BPMNShape id="s1" bpmnElement="svc">
      <dc:Bounds x="10" y="10" width="100" height="80"/></bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
    </bpmn:definitions>"""
    new = (old.replace('value="serial_no"', 'value="sn"').replace('name="调度"', 'name="客服"')
           .replace("a == 1", "a == 2").replace('x="10"', 'x="200"'))
    before = {f.element_id: f for f in model_lint.bpmn_fingerprints("p.bpmn", parse_xml(old, "p.bpmn"))}
    after = {f.element_id: f for f in model_lint.bpmn_fingerprints("p.bpmn", parse_xml(new, "p.bpmn"))}
    svc = model_lint.compare(before["svc"], after["svc"])
    assert any(d.startswith("泳道") and "客服" in d for d in svc)
    assert any(d.startswith("操作参数") and "serial_no=sn" in d for d in svc)
    assert "图形位置已移动" in svc
    assert any(d.startswith("条件") and "a == 2" in d for d in model_lint.compare(before["f"], after["f"]))


def test_drafts_are_saved_with_their_problems_listed_updated_and_deleted(lite, sqlite_db, lite_analyst):
    broken = mig()["mig.bpmn"].replace('targetRef="wait"', 'targetRef="nowhere"')
    draft = lite.save_model_draft("  改登记  ", {"mig.bpmn": broken}, lite_analyst,
                                  base_definition_id=versions(lite)[0].definition_id)
    assert draft.name == "改登记" and draft.author == "fx" and draft.files == {"mig.bpmn": broken}
    errors = [p for p in draft.problems if p.severity == "error"]
    assert any(p.element_id == "f_ask_wait" and p.code == "dangling-flow" and p.file == "mig.bpmn" for p in errors)
    assert lite.model_draft(draft.id).problems == draft.problems  # stored with the draft
    fixed = lite.save_model_draft("改登记", mig(ask_name="核对"), lite_analyst, draft_id=draft.id)
    assert fixed.id == draft.id and [p for p in fixed.problems if p.severity == "error"] == []
    assert [d.id for d in lite.model_drafts()] == [draft.id]
    assert len(versions(lite)) == 1  # saving deploys nothing
    second = lite.save_model_draft("", {"notes.json": "{}"}, lite_analyst)
    assert second.name == "未命名草稿" and [d.id for d in lite.model_drafts()] == [second.id, draft.id]
    with pytest.raises(NotAllowed):
        lite.delete_model_draft(draft.id, make_user(sqlite_db, "zw", "technician"))
    lite.delete_model_draft(draft.id, lite_analyst)
    with pytest.raises(NotFound):
        lite.model_draft(draft.id)
    with pytest.raises(NotFound):
        lite.delete_model_draft(draft.id, lite_analyst)
    with pytest.raises(NotFound):
        lite.save_model_draft("x", mig(), lite_analyst, draft_id=draft.id)


@pytest.mark.parametrize("files, named", [
    ({"evil.bpmn": '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'},
     "evil.bpmn"),
    ({"bomb.dmn": '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><d>&b;</d>'}, "bomb.dmn"),
    ({"../up.bpmn": "<x/>"}, "../up.bpmn"),
    ({"run.py": "print(1)"}, "run.py"),
    ({"big.bpmn": "<x>" + "a" * (6 * 1024 * 1024) + "</x>"}, "big.bpmn"),
    ({"a.bpmn": 5}, "a.bpmn"),
    ({}, "files"),
])
def test_hostile_or_unacceptable_draft_files_are_refused_naming_the_file(lite, lite_analyst, sqlite_db, files, named):
    with pytest.raises(InvalidInput) as refused:
        lite.save_model_draft("x", files, lite_analyst)
    assert named in refused.value.message or named in refused.value.fields
    with sqlite_db.read() as s:
        assert s.scalars(select(ModelDraft.id)).all() == []


def test_validation_reports_xml_schema_and_deploy_problems_with_file_element_and_line(lite):
    problems = lite.validate_model({"mig.bpmn": "<bpmn:definitions xmlns:bpmn='x'>\n<unclosed>"})
    xml = [p for p in problems if p.file == "mig.bpmn"]
    assert xml and xml[0].code == "xml" and xml[0].line == 2 and xml[0].severity == "error"

    bad_schema = mig()["mig.bpmn"].replace('<bpmn:endEvent id="end" name="结束"/>',
                                           '<bpmn:endEvent id="end" name="结束" colour="red"/>')
    codes = {p.code for p in lite.validate_model({"mig.bpmn": bad_schema})}
    assert "xsd" in codes

    no_group = mig()["mig.bpmn"].replace('name="技术员"', 'name="无此组"')
    found = lite.validate_model({"mig.bpmn": no_group})
    assert any(p.code == "deploy" and p.element_id == "ask" and "泳道" in p.message for p in found)

    assert [p for p in lite.validate_model({}) if p.severity == "error"] == []
    dup = mig()["mig.bpmn"].replace('<bpmn:userTask id="done"', '<bpmn:userTask id="ask"')
    assert any(p.code == "duplicate-id" and p.element_id == "ask" for p in lite.validate_model({"mig.bpmn": dup}))
    assert any(p.code == "json" for p in lite.validate_model({"mig.scenarios.json": "{not json"}))
