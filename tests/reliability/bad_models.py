"""A corpus of broken and hostile models, most made by targeted mutations of the basic
test model, each with where its refusal must point: ``(file, element id or None)`` and a
word the message must contain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.deploy import read_directory
from tests.engine.conftest import model_dir

BASIC = model_dir("basic")
BPMN_NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
SPIFF_NS = 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'


@dataclass(frozen=True)
class Bad:
    name: str
    files: Callable[[], dict[str, bytes]]
    file: str
    element: str | None
    words: str


def basic() -> dict[str, bytes]:
    return read_directory(BASIC)


def change(old: str, new: str, *, count: int = 1) -> Callable[[], dict[str, bytes]]:
    def build() -> dict[str, bytes]:
        files = basic()
        text = files["basic.bpmn"].decode()
        assert old in text, old
        files["basic.bpmn"] = text.replace(old, new, count).encode()
        return files

    return build


def extra(name: str, data: bytes) -> Callable[[], dict[str, bytes]]:
    def build() -> dict[str, bytes]:
        files = basic()
        files[name] = data
        return files

    return build


def replace_file(name: str, data: bytes) -> Callable[[], dict[str, bytes]]:
    return extra(name, data)


SECOND = '<bpmn:userTask id="second" name="第二步"/>'


def second_with(script_kind: str, source: str) -> Callable[[], dict[str, bytes]]:
    """The task ``second`` with a pre-script, or replaced by a script task."""
    if script_kind == "script":
        return change(SECOND, f'<bpmn:scriptTask id="second" name="脚本"><bpmn:script>{source}</bpmn:script>'
                              '</bpmn:scriptTask>')
    return change(SECOND, f'<bpmn:userTask id="second" name="第二步"><bpmn:extensionElements>'
                          f'<spiffworkflow:{script_kind}>{source}</spiffworkflow:{script_kind}>'
                          '</bpmn:extensionElements></bpmn:userTask>')


def definitions(body: str, *, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (f'{head}<bpmn:definitions {BPMN_NS} {SPIFF_NS} id="evil_defs" targetNamespace="x">{body}'
            '</bpmn:definitions>').encode()


PROCESS = ('<bpmn:process id="evil" isExecutable="true"><bpmn:startEvent id="s"/>'
           '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="sf" sourceRef="s" targetRef="e"/></bpmn:process>')

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="evil" isExecutable="true"><bpmn:startEvent id="s" name="&xxe;"/></bpmn:process>
</bpmn:definitions>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="evil" isExecutable="true"><bpmn:startEvent id="s" name="&lol4;"/></bpmn:process>
</bpmn:definitions>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:9/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x"/>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x"/>"""

XINCLUDE = definitions('<bpmn:process id="evil" isExecutable="true"><bpmn:startEvent id="s"/>'
                       '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
                       '<bpmn:endEvent id="e"/><bpmn:sequenceFlow id="sf" sourceRef="s" targetRef="e"/></bpmn:process>')

DEEP = (b'<?xml version="1.0"?><bpmn:definitions ' + BPMN_NS.encode() + b' id="d" targetNamespace="x">'
        + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</bpmn:definitions>")

BAD_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d_defs" name="d" namespace="x">
  <decision id="pick" name="选择">
    <decisionTable id="pick_table" hitPolicy="UNIQUE">
      <input id="in1" label="类别"><inputExpression id="in1_expr" typeRef="string"><text>{input}</text></inputExpression></input>
      <output id="out1" label="结果" name="picked" typeRef="string"/>
      <rule id="rule1"><inputEntry id="rule1_in"><text>{entry}</text></inputEntry>
        <outputEntry id="rule1_out"><text>{output}</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>"""


def dmn_case(*, input="category", entry='"A"', output='"x"') -> Callable[[], dict[str, bytes]]:
    """The basic model with a business-rule task deciding ``pick`` from a (broken) table."""
    def build() -> dict[str, bytes]:
        files = change(SECOND, '<bpmn:businessRuleTask id="second" name="决策"><bpmn:extensionElements>'
                               '<spiffworkflow:calledDecisionId>pick</spiffworkflow:calledDecisionId>'
                               '</bpmn:extensionElements></bpmn:businessRuleTask>')()
        files["pick.dmn"] = BAD_DMN.format(input=input, entry=entry, output=output).encode()
        return files

    return build


def utf16_bpmn() -> dict[str, bytes]:
    files = basic()
    text = files["basic.bpmn"].decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    files["basic.bpmn"] = text.encode("utf-16")  # with its byte-order mark
    return files


def utf16_form() -> dict[str, bytes]:
    files = basic()
    files["forms/a.json"] = files["forms/a.json"].decode().encode("utf-16")
    return files


def only_a_form() -> dict[str, bytes]:
    return {"forms/a.json": basic()["forms/a.json"]}


def renamed(old: str, new: str) -> Callable[[], dict[str, bytes]]:
    """Every occurrence of an id renamed (so the model stays consistent otherwise)."""

    def build() -> dict[str, bytes]:
        files = basic()
        text = files["basic.bpmn"].decode()
        text = text.replace(f'"{old}"', f'"{new}"').replace(f">{old}<", f">{new}<")
        files["basic.bpmn"] = text.encode()
        return files

    return build


CORPUS: list[Bad] = [
    # -- the file itself -----------------------------------------------------------------
    Bad("not-well-formed", extra("broken.bpmn", b"<bpmn:definitions"), "broken.bpmn", None, "XML"),
    Bad("mismatched-tags", change("</bpmn:process>", "</bpmn:proces>"), "basic.bpmn", None, "XML"),
    Bad("undeclared-prefix", change(SECOND, '<foo:userTask id="second"/>'), "basic.bpmn", None, "XML"),
    Bad("empty-file", replace_file("basic.bpmn", b""), "basic.bpmn", None, "空"),
    Bad("whitespace-only", replace_file("basic.bpmn", b"  \n\t "), "basic.bpmn", None, "空"),
    Bad("binary-garbage", replace_file("basic.bpmn", bytes(range(256)) * 64), "basic.bpmn", None, "UTF-8"),
    Bad("utf16-bom-bpmn", utf16_bpmn, "basic.bpmn", None, "UTF-8"),
    Bad("utf16-bom-form", utf16_form, "forms/a.json", None, "UTF-8"),
    Bad("wrong-namespace", change(BPMN_NS, 'xmlns:bpmn="http://example.com/not-bpmn"'), "basic.bpmn", None,
        "命名空间"),
    Bad("svg-not-bpmn", extra("picture.bpmn", b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "picture.bpmn", None,
        "命名空间"),
    Bad("external-entity", extra("evil.bpmn", XXE), "evil.bpmn", None, "DOCTYPE"),
    Bad("billion-laughs", extra("evil.bpmn", LAUGHS), "evil.bpmn", None, "DOCTYPE"),
    Bad("external-dtd", extra("evil.bpmn", EXTERNAL_DTD), "evil.bpmn", None, "DOCTYPE"),
    Bad("parameter-entity", extra("evil.bpmn", PARAMETER_ENTITY), "evil.bpmn", None, "DOCTYPE"),
    Bad("xinclude", extra("evil.bpmn", XINCLUDE), "evil.bpmn", None, "include"),
    Bad("deeply-nested", extra("deep.bpmn", DEEP), "deep.bpmn", None, "XML"),
    Bad("huge-attribute", change('name="第二步"', 'name="' + "长" * (2 * 1024 * 1024) + '"'), "basic.bpmn", None,
        "过大"),
    Bad("no-bpmn-at-all", only_a_form, "-", None, "没有 BPMN"),
    Bad("not-executable", change('isExecutable="true"', 'isExecutable="false"'), "basic.bpmn", "basic",
        "isExecutable"),
    Bad("unknown-element", change(SECOND, SECOND + '<bpmn:frobnicate id="odd"/>'), "basic.bpmn", "odd", "frobnicate"),
    # -- structure -----------------------------------------------------------------------
    Bad("duplicate-element-id", change(SECOND, SECOND + '<bpmn:scriptTask id="first"/>'), "basic.bpmn", "first",
        "重复"),
    Bad("duplicate-process-id", extra("again.bpmn", basic()["basic.bpmn"]), "basic.bpmn", "basic", "重复"),
    Bad("missing-start-event", change('<bpmn:startEvent id="start"/>', ""), "basic.bpmn", "basic", "开始事件"),
    Bad("flow-to-nowhere", change('targetRef="svc"', 'targetRef="nowhere"'), "basic.bpmn", "f2", "nowhere"),
    Bad("flow-from-nowhere", change('sourceRef="second"', 'sourceRef="ghost"'), "basic.bpmn", "f4", "ghost"),
    Bad("boundary-on-nothing", change('attachedToRef="first"', 'attachedToRef="ghost"'), "basic.bpmn", "sla",
        "ghost"),
    Bad("call-missing-process", change(SECOND, '<bpmn:callActivity id="second" name="调用" '
                                               'calledElement="no_such_process"/>'), "basic.bpmn", "second",
        "no_such_process"),
    Bad("element-id-too-long", renamed("second", "s" * 200), "basic.bpmn", "s" * 200, "过长"),
    Bad("task-name-too-long", change('name="第二步"', 'name="' + "步" * 300 + '"'), "basic.bpmn", "second", "过长"),
    Bad("process-id-too-long", renamed("basic", "p" * 200), "basic.bpmn", "p" * 200, "过长"),
    # -- lanes, services, forms ----------------------------------------------------------
    Bad("unknown-lane-group", change('<bpmn:lane id="dispatcher" name="调度">', '<bpmn:lane id="nobody" name="没人">'),
        "basic.bpmn", "escalate", "泳道"),
    Bad("task-in-no-lane", change("<bpmn:flowNodeRef>escalate</bpmn:flowNodeRef>", ""), "basic.bpmn", "escalate",
        "泳道"),
    Bad("unknown-operator", change('id="test_echo"', 'id="no_such_operator"'), "basic.bpmn", "svc", "未注册"),
    Bad("unknown-operator-parameter", change('id="value"', 'id="unknown_param"'), "basic.bpmn", "svc", "参数"),
    Bad("forbidden-operator-parameter", change('value="ok"', 'value="().__class__"'), "basic.bpmn", "svc", "不允许"),
    Bad("missing-form", change('value="a.json"', 'value="missing.json"'), "basic.bpmn", "first", "表单"),
    Bad("invalid-form-schema", extra("forms/a.json", b'{"type": "objekt"}'), "forms/a.json", None, "Schema"),
    Bad("form-not-json", extra("forms/a.json", b"{not json"), "forms/a.json", None, "JSON"),
    Bad("form-json-array", extra("forms/a.json", b"[1, 2]"), "forms/a.json", None, "对象"),
    # -- scripts and expressions ---------------------------------------------------------
    Bad("script-syntax-error", second_with("script", "x = = 1"), "basic.bpmn", "second", "语法错误"),
    Bad("script-import", second_with("script", "import os"), "basic.bpmn", "second", "import"),
    Bad("script-from-import", second_with("preScript", "from os import system"), "basic.bpmn", "second", "import"),
    Bad("script-dunder", second_with("script", "x = ().__class__.__bases__[0].__subclasses__()"), "basic.bpmn",
        "second", "不允许访问属性"),
    Bad("script-dunder-name", second_with("postScript", "__import__('os').system('id')"), "basic.bpmn", "second",
        "__import__"),
    Bad("script-def", second_with("script", "def f():\n    return 1"), "basic.bpmn", "second", "def"),
    Bad("script-format-escape", second_with("script", "x = '{0.__class__}'.format(1)"), "basic.bpmn", "second",
        "format"),
    Bad("script-generator-frame", second_with("script", "g = (i for i in [1])\nf = g.gi_frame"), "basic.bpmn",
        "second", "gi_frame"),
    Bad("script-with", second_with("script", "with x:\n    pass"), "basic.bpmn", "second", "with"),
    Bad("bad-timer-duration", change('"PT2H"', '"PT2X"'), "basic.bpmn", "sla", "ISO-8601"),
    Bad("bad-timer-date", change('<bpmn:timeDuration>"PT2H"</bpmn:timeDuration>',
                                 '<bpmn:timeDate>"2026-13-45T25:00:00"</bpmn:timeDate>'), "basic.bpmn", "sla",
        "ISO-8601"),
    Bad("timer-not-text", change('"PT2H"', "42"), "basic.bpmn", "sla", "ISO-8601"),
    Bad("timer-syntax-error", change('"PT2H"', "due ("), "basic.bpmn", "sla", "语法错误"),
    Bad("zero-interval-cycle", change('<bpmn:timeDuration>"PT2H"</bpmn:timeDuration>',
                                      '<bpmn:timeCycle>"R/PT0S"</bpmn:timeCycle>'), "basic.bpmn", "sla", "周期"),
    Bad("gateway-condition-syntax", change('<bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="end"/>',
                                           '<bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="end">'
                                           '<bpmn:conditionExpression>ok ==</bpmn:conditionExpression>'
                                           '</bpmn:sequenceFlow>'), "basic.bpmn", "f4", "语法错误"),
    Bad("message-payload-syntax", change(SECOND, '<bpmn:intermediateThrowEvent id="second" name="通知">'
                                                 '<bpmn:messageEventDefinition messageRef="msg_urge">'
                                                 '<bpmn:extensionElements><spiffworkflow:messagePayload>{"a": '
                                                 '</spiffworkflow:messagePayload></bpmn:extensionElements>'
                                                 '</bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>'),
        "basic.bpmn", "second", "语法错误"),
    Bad("assignee-expression-dunder", change('<spiffworkflow:property name="formJsonSchemaFilename" value="a.json"/>',
                                             '<spiffworkflow:property name="formJsonSchemaFilename" value="a.json"/>'
                                             '<spiffworkflow:property name="assignee" value="x.__class__"/>'),
        "basic.bpmn", "first", "__class__"),
    Bad("dmn-input-entry-syntax", dmn_case(entry='"A" ='), "pick.dmn", "rule1_in", "语法错误"),
    Bad("dmn-output-forbidden", dmn_case(output="().__class__"), "pick.dmn", "rule1_out", "__class__"),
    Bad("dmn-input-expression-import", dmn_case(input="__import__('os')"), "pick.dmn", "in1", "__import__"),
]
