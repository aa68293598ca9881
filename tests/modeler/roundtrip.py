"""What a BPMN save must keep: every model element id (by kind), every lane, every sequence flow
with its ends, and every diagram shape and edge with its bounds or waypoints."""

from __future__ import annotations

from lxml import etree

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"


def _num(value: str | None) -> float | None:
    return None if value is None else round(float(value), 1)


def inventory(xml: str | bytes) -> dict[str, object]:
    """The parts of a BPMN document a round trip must not lose."""
    data = xml.encode() if isinstance(xml, str) else xml
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    elements = {}
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        q = etree.QName(node)
        if q.namespace == MODEL and node.get("id"):
            elements[node.get("id")] = q.localname
    lanes = {n.get("id"): sorted(r.text.strip() for r in n.findall(f"{{{MODEL}}}flowNodeRef") if r.text)
             for n in root.iter(f"{{{MODEL}}}lane")}
    flows = {n.get("id"): (n.get("sourceRef"), n.get("targetRef")) for n in root.iter(f"{{{MODEL}}}sequenceFlow")}
    shapes = {}
    for n in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        b = n.find(f"{{{DC}}}Bounds")
        bounds = None if b is None else tuple(_num(b.get(k)) for k in ("x", "y", "width", "height"))
        shapes[n.get("id")] = (n.get("bpmnElement"), bounds)
    edges = {}
    for n in root.iter(f"{{{BPMNDI}}}BPMNEdge"):
        points = tuple((_num(w.get("x")), _num(w.get("y"))) for w in n.findall(f"{{{DI}}}waypoint"))
        edges[n.get("id")] = (n.get("bpmnElement"), points)
    planes = {n.get("bpmnElement"): True for n in root.iter(f"{{{BPMNDI}}}BPMNPlane")}
    return {"elements": elements, "lanes": lanes, "flows": flows, "shapes": shapes, "edges": edges, "planes": planes}


def losses(before: dict, after: dict) -> dict[str, list]:
    """What ``after`` lost or changed compared with ``before`` (empty lists: nothing)."""
    out = {}
    for part in before:
        old, new = before[part], after[part]
        out[part] = sorted(f"{key}: {old[key]!r} -> {new.get(key)!r}" for key in old if new.get(key) != old[key])
    return out
