"""What the process models need from the engine: each test is minimal and states the wanted
behaviour (timers, event gateways, event subprocesses and process starts by message,
boundary events that catch every message, lanes per file).
"""

from __future__ import annotations

import pytest

from engine import NotFound
from tests.conftest import make_engine, make_user

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs_{id}" targetNamespace="http://x">')


def model(pid: str, lane: str, body: str, refs: str, head: str = "") -> bytes:
    nodes = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs.split())
    return (HEAD.format(id=pid) + head + f'<bpmn:process id="{pid}" isExecutable="true">'
            f'<bpmn:laneSet id="{pid}_ls"><bpmn:lane id="{pid}_lane" name="{lane}">{nodes}</bpmn:lane></bpmn:laneSet>'
            + body + "</bpmn:process></bpmn:definitions>").encode()


def flow(fid: str, source: str, target: str) -> str:
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}" />'


@pytest.fixture
def tech(sqlite_db):
    return make_user(sqlite_db, "zhangwei", "technician")


@pytest.fixture
def eng(sqlite_db, clock):
    return make_engine(sqlite_db, clock)


TIMER = model("gap_timer", "technician", (
    '<bpmn:startEvent id="t_start" />'
    '<bpmn:userTask id="t_work" name="干活" />'
    '<bpmn:boundaryEvent id="t_due" attachedToRef="t_work"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>'
    '</bpmn:boundaryEvent>'
    '<bpmn:endEvent id="t_end" /><bpmn:endEvent id="t_late" />'
    + flow("tf1", "t_start", "t_work") + flow("tf2", "t_work", "t_end") + flow("tf3", "t_due", "t_late")),
    "t_start t_work t_due t_end t_late")


def test_a_timer_fires_at_its_due_time(eng, clock, tech):
    eng.deploy({"timer.bpmn": TIMER})
    started = eng.start("gap_timer", {"work_order_no": "G-1"}, actor=tech)
    clock.advance(hours=1)
    eng.fire_due_jobs()
    assert eng.get_instance(started.instance_id).status == "completed"


EVENT_SUBPROCESS = model("gap_evsub", "technician", (
    '<bpmn:startEvent id="e_start" /><bpmn:userTask id="e_work" name="干活" /><bpmn:endEvent id="e_end" />'
    + flow("ef1", "e_start", "e_work") + flow("ef2", "e_work", "e_end") +
    '<bpmn:subProcess id="e_urges" triggeredByEvent="true">'
    '<bpmn:startEvent id="e_urged" isInterrupting="false"><bpmn:messageEventDefinition id="e_urge_def" '
    'messageRef="msg_urge" /></bpmn:startEvent>'
    '<bpmn:userTask id="e_call" name="回电" /><bpmn:endEvent id="e_called" />'
    + flow("ef3", "e_urged", "e_call") + flow("ef4", "e_call", "e_called") + "</bpmn:subProcess>"),
    "e_start e_work e_end e_urges e_urged e_call e_called", head='<bpmn:message id="msg_urge" name="urge" />')


def test_a_message_starts_an_event_subprocess(eng, tech):
    eng.deploy({"evsub.bpmn": EVENT_SUBPROCESS})
    eng.start("gap_evsub", {"work_order_no": "G-2"}, actor=tech)
    eng.send_message("urge", "G-2", {})
    assert [t.element_id for t in eng.inbox(tech).items + eng.queue(tech).items].count("e_call") == 1


def test_every_message_starts_its_own_event_subprocess_until_the_process_ends(eng, tech):
    eng.deploy({"evsub.bpmn": EVENT_SUBPROCESS})
    started = eng.start("gap_evsub", {"work_order_no": "G-6"}, actor=tech)
    eng.send_message("urge", "G-6", {"n": 1})
    eng.send_message("urge", "G-6", {"n": 2})
    tasks = eng.queue(tech).items
    assert sorted(t.element_id for t in tasks) == ["e_call", "e_call", "e_work"]
    for task in [t for t in tasks if t.element_id == "e_call"]:
        eng.complete(task.id, {}, actor=tech)
    assert eng.get_instance(started.instance_id).status == "running"
    eng.complete(next(t.id for t in tasks if t.element_id == "e_work"), {}, actor=tech)
    assert eng.get_instance(started.instance_id).status == "completed"
    with pytest.raises(NotFound):
        eng.send_message("urge", "G-6", {})


NESTED = model("gap_nested", "technician", (
    '<bpmn:startEvent id="n_start" /><bpmn:subProcess id="n_service">'
    '<bpmn:startEvent id="n_s_start" /><bpmn:userTask id="n_work" name="干活" /><bpmn:endEvent id="n_s_end" />'
    + flow("nf1", "n_s_start", "n_work") + flow("nf2", "n_work", "n_s_end") +
    '<bpmn:subProcess id="n_urges" triggeredByEvent="true">'
    '<bpmn:startEvent id="n_urged" isInterrupting="false"><bpmn:messageEventDefinition id="n_urge_def" '
    'messageRef="msg_urge4" /></bpmn:startEvent>'
    '<bpmn:userTask id="n_call" name="回电" /><bpmn:endEvent id="n_called" />'
    + flow("nf3", "n_urged", "n_call") + flow("nf4", "n_call", "n_called") + "</bpmn:subProcess>"
    "</bpmn:subProcess><bpmn:userTask id=\"n_after\" name=\"回访\" /><bpmn:endEvent id=\"n_end\" />"
    + flow("nf5", "n_start", "n_service") + flow("nf6", "n_service", "n_after") + flow("nf7", "n_after", "n_end")),
    "n_start n_service n_after n_end", head='<bpmn:message id="msg_urge4" name="urge" />')


def test_a_message_starts_an_event_subprocess_of_a_running_subprocess_only(eng, tech):
    eng.deploy({"nested.bpmn": NESTED})
    eng.start("gap_nested", {"work_order_no": "G-7"}, actor=tech)
    work = eng.queue(tech).items[0]
    eng.send_message("urge", "G-7", {"n": 1})
    assert sorted(t.element_id for t in eng.queue(tech).items) == ["n_call", "n_work"]
    call = next(t for t in eng.queue(tech).items if t.element_id == "n_call")
    eng.complete(call.id, {}, actor=tech)
    eng.complete(work.id, {}, actor=tech)
    assert [t.element_id for t in eng.queue(tech).items] == ["n_after"]
    with pytest.raises(NotFound):  # the subprocess has ended: nobody listens any more
        eng.send_message("urge", "G-7", {})


STARTED_BY_MESSAGE = model("gap_msgstart", "technician", (
    '<bpmn:startEvent id="m_clerk" /><bpmn:startEvent id="m_due"><bpmn:messageEventDefinition id="m_due_def" '
    'messageRef="msg_due" /></bpmn:startEvent>'
    '<bpmn:userTask id="m_work" name="保养" /><bpmn:endEvent id="m_end" />'
    + flow("mf1", "m_clerk", "m_work") + flow("mf2", "m_due", "m_work") + flow("mf3", "m_work", "m_end")),
    "m_clerk m_due m_work m_end", head='<bpmn:message id="msg_due" name="service_due" />')


def test_a_message_starts_a_process_once_per_message(eng, sqlite_db, tech):
    eng.deploy({"msgstart.bpmn": STARTED_BY_MESSAGE})
    first = eng.send_message("service_due", "G-8", {"serial_no": "SN1"}, message_id="plan-1:2025-03-01")
    again = eng.send_message("service_due", "G-8", {"serial_no": "SN1"}, message_id="plan-1:2025-03-01")
    assert again.instance_id == first.instance_id
    tasks = eng.queue(tech).items
    assert [(t.element_id, t.work_order_no) for t in tasks] == [("m_work", "G-8")]
    instance = eng.get_instance(first.instance_id)
    assert instance.business_key == "G-8"
    # the clerk's start event was not taken; the message's payload is the order's data
    assert instance.data["serial_no"] == "SN1"
    # a clerk still starts it at the none start event
    eng.start("gap_msgstart", {"work_order_no": "G-9"}, actor=tech)
    assert sorted(t.work_order_no for t in eng.queue(tech).items) == ["G-8", "G-9"]


def test_a_message_without_an_order_number_starts_a_numbered_order(eng, tech):
    eng.deploy({"msgstart.bpmn": STARTED_BY_MESSAGE})
    first = eng.send_message("service_due", None, {"serial_no": "SN2"}, message_id="plan-2:2025-04-01")
    again = eng.send_message("service_due", None, {"serial_no": "SN2"}, message_id="plan-2:2025-04-01")
    assert again.instance_id == first.instance_id
    assert eng.get_instance(first.instance_id).business_key.startswith("WO-")
    with pytest.raises(NotFound):
        eng.send_message("no_such_message", "G-10", {})


EVENT_GATEWAY = model("gap_evgw", "technician", (
    '<bpmn:startEvent id="g_start" /><bpmn:eventBasedGateway id="g_wait" />'
    '<bpmn:intermediateCatchEvent id="g_urge"><bpmn:messageEventDefinition id="g_urge_def" messageRef="msg_urge2" />'
    '</bpmn:intermediateCatchEvent>'
    '<bpmn:intermediateCatchEvent id="g_timeout"><bpmn:timerEventDefinition><bpmn:timeDuration '
    'xsi:type="bpmn:tFormalExpression">"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
    '</bpmn:intermediateCatchEvent>'
    '<bpmn:endEvent id="g_end1" /><bpmn:endEvent id="g_end2" />'
    + flow("gf1", "g_start", "g_wait") + flow("gf2", "g_wait", "g_urge") + flow("gf3", "g_wait", "g_timeout")
    + flow("gf4", "g_urge", "g_end1") + flow("gf5", "g_timeout", "g_end2")),
    "g_start g_wait g_urge g_timeout g_end1 g_end2", head='<bpmn:message id="msg_urge2" name="urge" />')


def test_an_event_based_gateway_catches_a_message(eng, tech):
    eng.deploy({"evgw.bpmn": EVENT_GATEWAY})
    started = eng.start("gap_evgw", {"work_order_no": "G-3"}, actor=tech)
    eng.send_message("urge", "G-3", {})
    assert eng.get_instance(started.instance_id).status == "completed"


REPEATED = model("gap_repeat", "technician", (
    '<bpmn:startEvent id="r_start" /><bpmn:userTask id="r_work" name="干活" /><bpmn:endEvent id="r_end" />'
    '<bpmn:boundaryEvent id="r_urged" cancelActivity="false" attachedToRef="r_work">'
    '<bpmn:messageEventDefinition id="r_urge_def" messageRef="msg_urge3" /></bpmn:boundaryEvent>'
    '<bpmn:userTask id="r_call" name="回电" /><bpmn:endEvent id="r_called" />'
    + flow("rf1", "r_start", "r_work") + flow("rf2", "r_work", "r_end") + flow("rf3", "r_urged", "r_call")
    + flow("rf4", "r_call", "r_called")),
    "r_start r_work r_end r_urged r_call r_called", head='<bpmn:message id="msg_urge3" name="urge" />')


def test_a_non_interrupting_message_boundary_event_catches_every_message(eng, sqlite_db, clock, tech):
    eng.deploy({"repeat.bpmn": REPEATED})
    started = eng.start("gap_repeat", {"work_order_no": "G-4"}, actor=tech)
    eng.send_message("urge", "G-4", {})
    eng.send_message("urge", "G-4", {})
    assert [t.element_id for t in eng.inbox(tech).items + eng.queue(tech).items].count("r_call") == 2
    eng = make_engine(sqlite_db, clock)  # from the stored state: still listening
    eng.send_message("urge", "G-4", {})
    assert [t.element_id for t in eng.queue(tech).items].count("r_call") == 3
    work = next(t for t in eng.queue(tech).items if t.element_id == "r_work")
    eng.complete(work.id, {}, actor=tech)
    with pytest.raises(NotFound):  # the activity has ended: the boundary event no longer listens
        eng.send_message("urge", "G-4", {})
    for task in eng.queue(tech).items:
        eng.complete(task.id, {}, actor=tech)
    assert eng.get_instance(started.instance_id).status == "completed"


SAME_ID_A = model("gap_alpha", "dispatcher", (
    '<bpmn:startEvent id="a_start" /><bpmn:userTask id="review" name="审核" /><bpmn:endEvent id="a_end" />'
    + flow("af1", "a_start", "review") + flow("af2", "review", "a_end")), "a_start review a_end")
SAME_ID_B = model("gap_beta", "technician", (
    '<bpmn:startEvent id="b_start" /><bpmn:userTask id="review" name="自检" /><bpmn:endEvent id="b_end" />'
    + flow("bf1", "b_start", "review") + flow("bf2", "review", "b_end")), "b_start review b_end")


def test_a_task_takes_the_lane_of_its_own_file_when_another_file_uses_the_same_id(eng, sqlite_db, tech):
    eng.deploy({"a.bpmn": SAME_ID_A, "b.bpmn": SAME_ID_B})
    eng.start("gap_beta", {"work_order_no": "G-5"}, actor=tech)
    assert [t.element_id for t in eng.queue(tech).items] == ["review"]
