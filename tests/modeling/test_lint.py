"""Each lint rule fires on a tiny model and names the element; the shipped workflows lint clean."""

from __future__ import annotations

import pytest

from engine import model_lint
from engine.deploy import read_directory
from engine.modeling import _validate
from engine.spiff import parse_xml
from tests.conftest import WORKFLOWS

HEAD = ('<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">')
FORM = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" '
        'value="f.json"/></spiffworkflow:properties></bpmn:extensionElements>')


def model(body: str, *, executable: bool = True) -> str:
    flag = ' isExecutable="true"' if executable else ""
    return f'{HEAD}<bpmn:process id="p" name="测试"{flag}>{body}</bpmn:process></bpmn:definitions>'


def flow(fid, a, b, condition=None):
    cond = f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression>" if condition else ""
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{a}" targetRef="{b}">{cond}</bpmn:sequenceFlow>'


CLEAN = model('<bpmn:startEvent id="s" name="开始"/>'
              f'<bpmn:userTask id="u" name="登记">{FORM}</bpmn:userTask>'
              '<bpmn:endEvent id="e" name="结束"/>' + flow("f1", "s", "u") + flow("f2", "u", "e"))


def lint(text: str):
    return model_lint.lint_bpmn(parse_xml(text, "t.bpmn"))


def test_a_clean_model_has_no_problems():
    assert lint(CLEAN) == []


CASES = [
    ("dangling-flow", "f9", "error",
     CLEAN.replace("</bpmn:process>", flow("f9", "u", "nowhere") + "</bpmn:process>")),
    ("dangling-flow", "f8", "error", CLEAN.replace("</bpmn:process>", '<bpmn:sequenceFlow id="f8" sourceRef="u"/>'
                                                   "</bpmn:process>")),
    ("unreachable", "lost", "error", CLEAN.replace('<bpmn:endEvent id="e" name="结束"/>',
                                                   '<bpmn:endEvent id="e" name="结束"/><bpmn:task id="lost" name="孤立"/>'
                                                   + flow("f7", "lost", "e"))),
    ("dead-end", "stuck", "error", CLEAN.replace("</bpmn:process>", '<bpmn:task id="stuck" name="卡住"/>'
                                                 + flow("f6", "s", "stuck") + "</bpmn:process>")),
    ("implicit-split", "u", "error", CLEAN.replace("</bpmn:process>", '<bpmn:endEvent id="e2" name="另一个结束"/>'
                                                   + flow("f5", "u", "e2") + "</bpmn:process>")),
    ("gateway-no-default", "g", "warning", model(
        '<bpmn:startEvent id="s"/><bpmn:exclusiveGateway id="g" name="判断"/><bpmn:endEvent id="a"/>'
        '<bpmn:endEvent id="b"/>' + flow("f1", "s", "g") + flow("f2", "g", "a", "x == 1") + flow("f3", "g", "b", "x == 2"))),
    ("condition-missing", "f3", "error", model(
        '<bpmn:startEvent id="s"/><bpmn:inclusiveGateway id="g" name="判断" default="f2"/><bpmn:endEvent id="a"/>'
        '<bpmn:endEvent id="b"/><bpmn:endEvent id="c"/>' + flow("f1", "s", "g") + flow("f2", "g", "a")
        + flow("f3", "g", "b") + flow("f4", "g", "c", "x > 1"))),
    ("no-start-event", "p", "error", model(f'<bpmn:userTask id="u" name="登记">{FORM}</bpmn:userTask>'
                                           '<bpmn:endEvent id="e"/>' + flow("f1", "u", "e"))),
    ("no-end-event", "p", "warning", model('<bpmn:startEvent id="s"/>'
                                           f'<bpmn:userTask id="u" name="登记">{FORM}</bpmn:userTask>'
                                           + flow("f1", "s", "u"))),
    ("user-task-no-form", "u", "warning", CLEAN.replace(FORM, "")),
    ("label-missing", "u", "warning", CLEAN.replace('<bpmn:userTask id="u" name="登记">', '<bpmn:userTask id="u">')),
    ("no-start-event", "sub", "error", CLEAN.replace(
        '<bpmn:endEvent id="e" name="结束"/>',
        '<bpmn:endEvent id="e" name="结束"/><bpmn:subProcess id="sub" name="子"><bpmn:task id="t" name="x"/>'
        '<bpmn:endEvent id="se"/>' + flow("sf", "t", "se") + "</bpmn:subProcess>").replace(
        flow("f2", "u", "e"), flow("f2", "u", "sub") + flow("f3", "sub", "e"))),
]


@pytest.mark.parametrize("code, element, severity, text", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_rule_fires_naming_the_element(code, element, severity, text):
    found = [p for p in lint(text) if p.code == code]
    assert [(p.element_id, p.severity) for p in found] == [(element, severity)], lint(text)
    assert element in found[0].message  # the message names the element too


def test_exempt_elements_are_not_flagged():
    text = CLEAN.replace("</bpmn:process>", (
        '<bpmn:boundaryEvent id="b" name="超时" attachedToRef="u"><bpmn:timerEventDefinition>'
        '<bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>'
        '<bpmn:endEvent id="be" name="超时结束"/>' + flow("fb", "b", "be") +
        '<bpmn:subProcess id="ev" name="催单" triggeredByEvent="true"><bpmn:startEvent id="es" name="催"/>'
        '<bpmn:endEvent id="ee" name="完"/>' + flow("fe", "es", "ee") + "</bpmn:subProcess>"
        '<bpmn:intermediateThrowEvent id="lt" name="跳"><bpmn:linkEventDefinition name="a"/></bpmn:intermediateThrowEvent>'
        '<bpmn:intermediateCatchEvent id="lc" name="落"><bpmn:linkEventDefinition name="a"/></bpmn:intermediateCatchEvent>'
        '<bpmn:endEvent id="le" name="落点结束"/>' + flow("fl", "lc", "le") +
        '<bpmn:parallelGateway id="pg"/>' + "</bpmn:process>"))
    text = text.replace(flow("f2", "u", "e"), flow("f2", "u", "pg") + flow("f2b", "pg", "e") + flow("f2c", "pg", "lt"))
    assert lint(text) == []


def test_validation_names_lint_problems_with_file_and_severity():
    problems = _validate({"t.bpmn": CASES[0][3]}, {})
    assert any(p.file == "t.bpmn" and p.element_id == "f9" and p.code == "dangling-flow" for p in problems)
    severities = [p.severity for p in problems]
    assert severities == sorted(severities, key=lambda s: s != "error")  # errors first


def test_every_shipped_workflow_lints_without_errors_or_warnings():
    files = {name: data.decode("utf-8") for name, data in read_directory(WORKFLOWS).items()}
    assert sum(name.endswith(".bpmn") for name in files) >= 10
    for name, text in files.items():
        if name.endswith(".bpmn"):
            assert lint(text) == [], name
    from engine import identity

    assert _validate(files, dict(identity.STANDARD_GROUPS)) == ()
