"""Deployment: validation with per-element reasons, versions, hostile XML and scripts."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from engine import DeployError, scripting
from engine.models import Definition
from engine.spiff import ScriptEnvironment
from tests.conftest import make_engine, make_user
from tests.engine.conftest import model_dir
from tests.reliability.bad_models import LAUGHS, XXE  # the reliability corpus's hostile documents

BASIC = model_dir("basic")


def files_of(path: str) -> dict[str, bytes]:
    from engine.deploy import read_directory

    return read_directory(path)


def with_change(old: str, new: str) -> dict[str, bytes]:
    files = files_of(BASIC)
    text = files["basic.bpmn"].decode()
    assert old in text
    files["basic.bpmn"] = text.replace(old, new, 1).encode()
    return files


def definitions_count(db) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Definition))


def refused(eng, files) -> DeployError:
    with pytest.raises(DeployError) as err:
        eng.deploy(files)
    return err.value


@pytest.fixture
def eng(db, clock):
    return make_engine(db, clock)


def test_an_unchanged_redeploy_makes_no_new_version(eng, db):
    first = eng.deploy(files_of(BASIC))
    again = eng.deploy(files_of(BASIC))
    assert [d.version for d in first.deployed] == [1]
    assert again.deployed == () and [d.version for d in again.unchanged] == [1]
    assert definitions_count(db) == 1


def test_running_instances_keep_their_version_after_a_changed_deploy(eng, db):
    tech = make_user(db, "zhang", "technician")
    eng.deploy(files_of(BASIC))
    old = eng.start("basic", {"work_order_no": "WO-1"})
    changed = eng.deploy(with_change('name="第二步"', 'name="第二步（新）"'))
    assert [d.version for d in changed.deployed] == [2]
    new = eng.start("basic", {"work_order_no": "WO-2"})
    assert eng.get_instance(old.instance_id).definition_version == 1
    assert eng.get_instance(new.instance_id).definition_version == 2
    # the old instance still runs to its end on version 1
    for item in [t for t in eng.queue(tech).items if t.instance_id == old.instance_id]:
        eng.complete(item.id, {"ok": True}, actor=tech)
    eng.send_message("urge", "WO-1", {})
    second = next(t for t in eng.queue(tech).items if t.instance_id == old.instance_id)
    assert second.name == "第二步"
    assert eng.complete(second.id, {}, actor=tech).status == "completed"


def test_a_form_change_alone_makes_a_new_version(eng):
    eng.deploy(files_of(BASIC))
    files = files_of(BASIC)
    files["forms/a.json"] = files["forms/a.json"].replace(b'"maxLength":5', b'"maxLength":50')
    assert [d.version for d in eng.deploy(files).deployed] == [2]





@pytest.mark.parametrize("payload", [XXE, LAUGHS], ids=["external-entity", "billion-laughs"])
def test_entities_are_refused_and_nothing_is_deployed(eng, db, payload):
    files = files_of(BASIC)
    files["evil.bpmn"] = payload
    err = refused(eng, files)
    assert any(p.file == "evil.bpmn" and "DOCTYPE" in p.message for p in err.problems)
    assert definitions_count(db) == 0


@pytest.mark.parametrize("script", ["import os", "x = ().__class__", "y = open('/etc/passwd')"])
def test_forbidden_scripts_are_refused_at_deploy_naming_the_element(eng, db, script):
    files = with_change('<bpmn:userTask id="second" name="第二步"/>',
                        '<bpmn:userTask id="second" name="第二步"><bpmn:extensionElements>'
                        f'<spiffworkflow:preScript>{script}</spiffworkflow:preScript>'
                        '</bpmn:extensionElements></bpmn:userTask>')
    if script.startswith("y ="):
        # open() is not a name the language forbids; it simply does not exist at run time
        eng.deploy(files)
        return
    err = refused(eng, files)
    assert [(p.element_id, p.file) for p in err.problems] == [("second", "basic.bpmn")]
    assert definitions_count(db) == 0


@pytest.mark.parametrize("source", ["import os", "().__class__.__bases__", "open('/etc/passwd').read()",
                                    "__import__('os')", "'{0.__class__}'.format(1)"])
def test_forbidden_scripts_fail_at_run_time_too(source, clock):
    env = ScriptEnvironment(clock.now)
    mode_eval = not source.startswith("import")
    with pytest.raises((scripting.ScriptError, NameError)):
        if mode_eval:
            env.evaluate(source, {})
        else:
            env.execute(source, {})


def test_an_endless_script_becomes_an_incident_not_a_hung_engine(db, clock):
    eng = make_engine(db, clock, script_time_limit=0.2)
    files = with_change('<bpmn:userTask id="second" name="第二步"/>',
                        '<bpmn:scriptTask id="second" name="死循环"><bpmn:script>n = 0\nwhile True:\n    n = n + 1'
                        '</bpmn:script></bpmn:scriptTask>')
    eng.deploy(files)
    tech = make_user(db, "zhang", "technician")
    started = eng.start("basic", {"work_order_no": "WO-1"})
    eng.complete(eng.queue(tech).items[0].id, {"ok": True}, actor=tech)
    result = eng.send_message("urge", "WO-1", {})
    assert result.status == "error"
    assert "超时" in result.incident.message
    assert eng.get_instance(started.instance_id).status == "error"


@pytest.mark.parametrize("old,new,element,words", [
    ('value="a.json"', 'value="missing.json"', "first", "表单文件"),
    ('id="test_echo"', 'id="no_such_operator"', "svc", "未注册"),
    ('id="value"', 'id="unknown_param"', "svc", "参数"),
    ('<bpmn:lane id="dispatcher" name="调度">', '<bpmn:lane id="nobody" name="没人">', "escalate", "泳道"),
    ('"PT2H"', '"PT2X"', "sla", "ISO-8601"),
    ('"PT2H"', 'due (', "sla", "语法错误"),
    ('<bpmn:flowNodeRef>escalate</bpmn:flowNodeRef>', '', "escalate", "不在任何泳道"),
], ids=["missing-form", "unknown-operator", "unknown-parameter", "unknown-lane", "bad-timer", "timer-syntax",
        "no-lane"])
def test_broken_models_are_refused_with_the_element_named(eng, db, old, new, element, words):
    err = refused(eng, with_change(old, new))
    assert any(p.element_id == element and words in p.message for p in err.problems), err.problems
    assert definitions_count(db) == 0


def test_invalid_form_schema_and_bad_xml_are_named(eng, db):
    files = files_of(BASIC)
    files["forms/a.json"] = b'{"type": "objekt"}'
    files["broken.bpmn"] = b"<bpmn:definitions"
    err = refused(eng, files)
    names = {p.file for p in err.problems}
    assert {"forms/a.json", "broken.bpmn"} <= names
    assert definitions_count(db) == 0


def test_duplicate_ids_fail_schema_validation(eng):
    files = with_change('<bpmn:userTask id="second" name="第二步"/>',
                        '<bpmn:userTask id="second" name="第二步"/><bpmn:userTask id="second" name="重复"/>')
    err = refused(eng, files)
    assert any("second" in p.message for p in err.problems)


def test_the_workflows_folder_deploys_without_problems(eng):
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "workflows")
    result = eng.deploy_directory(root)
    assert result.deployed
