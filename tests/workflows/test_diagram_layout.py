"""Diagram (BPMN DI) checks for every ``workflows/*.bpmn``.

Analysts open these files in bpmn-js, so the layout is part of the deliverable: every node
and flow is drawn, shapes do not overlap, nodes sit inside their lane and pool, lanes are
stacked without gaps, and sequence flows are orthogonal, start at their source, end at their
target and do not run through shapes they do not connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import combinations, pairwise
from pathlib import Path

import pytest
from lxml import etree

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
BPMN_FILES = sorted(WORKFLOWS.glob("*.bpmn"))

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {
    "bpmn": BPMN,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
FLOW_NODES = {
    "task",
    "userTask",
    "manualTask",
    "serviceTask",
    "scriptTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
}
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}
TOLERANCE = 2.0


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def contains(self, other: Box) -> bool:
        return self.x <= other.x and self.y <= other.y and other.right <= self.right and other.bottom <= self.bottom

    def overlaps(self, other: Box) -> bool:
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom

    def near(self, point: tuple[float, float]) -> bool:
        px, py = point
        return (
            self.x - TOLERANCE <= px <= self.right + TOLERANCE and self.y - TOLERANCE <= py <= self.bottom + TOLERANCE
        )

    def shrunk(self, by: float) -> Box:
        return Box(self.x + by, self.y + by, self.w - 2 * by, self.h - 2 * by)


def segment_hits(p: tuple[float, float], q: tuple[float, float], box: Box) -> bool:
    """Whether segment p-q meets ``box`` (Liang-Barsky clipping)."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    lo, hi = 0.0, 1.0
    for step, dist in ((-dx, x0 - box.x), (dx, box.right - x0), (-dy, y0 - box.y), (dy, box.bottom - y0)):
        if step == 0:
            if dist < 0:
                return False
            continue
        t = dist / step
        if step < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def local(el) -> str:
    return etree.QName(el).localname


class Diagram:
    """The semantic elements of one BPMN file and their DI shapes and edges."""

    def __init__(self, path: Path) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        self.root = etree.parse(str(path), parser).getroot()
        self.nodes = {
            el.get("id"): el
            for el in self.root.iter(f"{{{BPMN}}}*")
            if local(el) in FLOW_NODES and local(el.getparent()) in {"process", *CONTAINERS}
        }
        self.flows = {el.get("id"): el for el in self.root.iter(f"{{{BPMN}}}sequenceFlow", f"{{{BPMN}}}messageFlow")}
        self.participants = {el.get("id"): el for el in self.root.iter(f"{{{BPMN}}}participant")}
        self.shapes: dict[str, tuple[Box, str]] = {}
        self.shape_elements = {}
        self.edges: dict[str, tuple[list[tuple[float, float]], str]] = {}
        for plane in self.root.iterfind(".//bpmndi:BPMNPlane", NS):
            plane_id = plane.get("id")
            for shape in plane.iterfind("bpmndi:BPMNShape", NS):
                b = shape.find("dc:Bounds", NS)
                box = Box(*(float(b.get(k)) for k in ("x", "y", "width", "height")))
                self.shapes[shape.get("bpmnElement")] = (box, plane_id)
                self.shape_elements[shape.get("bpmnElement")] = shape
            for edge in plane.iterfind("bpmndi:BPMNEdge", NS):
                points = [(float(w.get("x")), float(w.get("y"))) for w in edge.iterfind("di:waypoint", NS)]
                self.edges[edge.get("bpmnElement")] = (points, plane_id)

    def box(self, element_id: str) -> Box:
        return self.shapes[element_id][0]

    def same_plane(self, a: str, b: str) -> bool:
        return a in self.shapes and b in self.shapes and self.shapes[a][1] == self.shapes[b][1]

    def containers_of(self, node_id: str) -> list[str]:
        """Ids of the subprocesses around a node, innermost first."""
        out = []
        parent = self.nodes[node_id].getparent()
        while parent is not None and local(parent) in CONTAINERS:
            out.append(parent.get("id"))
            parent = parent.getparent()
        return out

    def host_of(self, node_id: str) -> str | None:
        el = self.nodes.get(node_id)
        return el.get("attachedToRef") if el is not None and local(el) == "boundaryEvent" else None

    def boundary_events_of(self, node_id: str) -> list[str]:
        return [n for n in self.nodes if self.host_of(n) == node_id]

    def is_expanded(self, node_id: str) -> bool:
        shape = self.shape_elements.get(node_id)
        return shape is not None and shape.get("isExpanded") == "true"

    def leaf_lanes(self, process) -> list:
        return [lane for lane in process.iter(f"{{{BPMN}}}lane") if lane.find("bpmn:childLaneSet", NS) is None]

    def top_lanes(self, process) -> list:
        lane_set = process.find("bpmn:laneSet", NS)
        return [] if lane_set is None else lane_set.findall("bpmn:lane", NS)

    def pool_of(self, process) -> str | None:
        for pid, p in self.participants.items():
            if p.get("processRef") == process.get("id"):
                return pid
        return None

    def processes(self) -> list:
        return self.root.findall("bpmn:process", NS)

    def nodes_of(self, process) -> list[str]:
        return [el.get("id") for el in process.iter(f"{{{BPMN}}}*") if el.get("id") in self.nodes]


def lane_span(diagram: Diagram, element_id: str, *, horizontal: bool):
    """((start, end) across the lanes, (start, end) along them) of a lane or pool shape."""
    b = diagram.box(element_id)
    return ((b.y, b.bottom), (b.x, b.right)) if horizontal else ((b.x, b.right), (b.y, b.bottom))


@pytest.fixture(params=BPMN_FILES, ids=[p.name for p in BPMN_FILES])
def diagram(request) -> Diagram:
    return Diagram(request.param)


def test_there_is_at_least_one_diagram():
    assert BPMN_FILES


def test_every_flow_node_has_a_shape_and_every_flow_an_edge(diagram):
    assert sorted(set(diagram.nodes) - set(diagram.shapes)) == []
    assert sorted(set(diagram.flows) - set(diagram.edges)) == []
    assert sorted(fid for fid, (points, _) in diagram.edges.items() if len(points) < 2) == []


def test_every_flow_node_is_in_exactly_one_lane(diagram):
    problems = []
    for process in diagram.processes():
        lanes = diagram.leaf_lanes(process)
        if not lanes:
            continue
        refs: dict[str, list[str]] = {}
        for lane in lanes:
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                refs.setdefault((ref.text or "").strip(), []).append(lane.get("id"))
        for node_id in diagram.nodes_of(process):
            if len(refs.get(node_id, [])) != 1:
                problems.append(f"{node_id} in lanes {refs.get(node_id, [])}")
    assert problems == []


def test_node_shapes_do_not_overlap(diagram):
    problems = []
    for a, b in combinations(sorted(n for n in diagram.nodes if n in diagram.shapes), 2):
        if not diagram.same_plane(a, b) or not diagram.box(a).overlaps(diagram.box(b)):
            continue
        if a in diagram.containers_of(b) or b in diagram.containers_of(a):
            continue
        if diagram.host_of(a) == b or diagram.host_of(b) == a:
            continue
        problems.append(f"{a} overlaps {b}")
    assert problems == []


def test_every_node_lies_inside_its_lane_and_pool(diagram):
    problems = []
    for process in diagram.processes():
        containers = [
            (lane.get("id"), [(r.text or "").strip() for r in lane.iterfind("bpmn:flowNodeRef", NS)])
            for lane in process.iter(f"{{{BPMN}}}lane")
        ]
        pool = diagram.pool_of(process)
        if pool in diagram.shapes:
            containers.append((pool, diagram.nodes_of(process)))
        for container, members in containers:
            if container not in diagram.shapes:
                problems.append(f"lane/pool {container} has no shape")
                continue
            for node_id in members:
                if diagram.same_plane(container, node_id) and not diagram.box(container).contains(diagram.box(node_id)):
                    problems.append(f"{node_id} sticks out of {container}")
    assert problems == []


def test_lanes_of_a_pool_are_stacked_without_gaps_or_overlaps(diagram):
    problems = []
    for process in diagram.processes():
        lanes = [lane.get("id") for lane in diagram.top_lanes(process)]
        pool = diagram.pool_of(process)
        if not lanes or pool not in diagram.shapes:
            continue
        horizontal = diagram.shape_elements[pool].get("isHorizontal", "true") == "true"
        span = partial(lane_span, diagram, horizontal=horizontal)
        ordered = sorted(lanes, key=lambda lane: span(lane)[0][0])
        pool_across, pool_along = span(pool)
        if abs(span(ordered[0])[0][0] - pool_across[0]) > 1 or abs(span(ordered[-1])[0][1] - pool_across[1]) > 1:
            problems.append(f"lanes of {pool} do not fill it from edge to edge")
        for upper, lower in pairwise(ordered):
            gap = span(lower)[0][0] - span(upper)[0][1]
            if abs(gap) > 1:
                problems.append(f"{'gap' if gap > 0 else 'overlap'} of {abs(gap)} between lanes {upper} and {lower}")
        for lane in ordered:
            along = span(lane)[1]
            if along[0] < pool_along[0] or along[1] > pool_along[1]:
                problems.append(f"lane {lane} sticks out of pool {pool}")
    assert problems == []


def test_expanded_subprocesses_contain_their_nodes(diagram):
    problems = []
    for node_id in diagram.nodes:
        containers = diagram.containers_of(node_id)
        if not containers or not diagram.is_expanded(containers[0]) or not diagram.same_plane(node_id, containers[0]):
            continue
        outer, inner = diagram.box(containers[0]), diagram.box(node_id)
        if diagram.host_of(node_id):  # a boundary event may stick out by half its size
            inner = Box(inner.x + inner.w / 2, inner.y + inner.h / 2, 0, 0)
        if not outer.contains(inner):
            problems.append(f"{node_id} sticks out of {containers[0]}")
    assert problems == []


def test_boundary_events_sit_on_the_border_of_their_host(diagram):
    problems = []
    for node_id in diagram.nodes:
        host = diagram.host_of(node_id)
        if host is None or not diagram.same_plane(node_id, host):
            continue
        b, h = diagram.box(node_id), diagram.box(host)
        cx, cy = b.x + b.w / 2, b.y + b.h / 2
        on_vertical = min(abs(cx - h.x), abs(cx - h.right)) <= TOLERANCE and h.y <= cy <= h.bottom
        on_horizontal = min(abs(cy - h.y), abs(cy - h.bottom)) <= TOLERANCE and h.x <= cx <= h.right
        if not (on_vertical or on_horizontal):
            problems.append(f"{node_id} is not on the border of {host}")
    assert problems == []


def test_edges_start_at_their_source_and_end_at_their_target(diagram):
    problems = []
    for flow_id, flow in diagram.flows.items():
        if flow_id not in diagram.edges:
            continue
        points, _ = diagram.edges[flow_id]
        for end, point in (("sourceRef", points[0]), ("targetRef", points[-1])):
            ref = flow.get(end)
            if ref in diagram.shapes and not diagram.box(ref).near(point):
                problems.append(f"{flow_id} does not touch its {end} {ref} at {point}")
    assert problems == []


def test_sequence_flows_are_orthogonal(diagram):
    problems = []
    for flow_id, flow in diagram.flows.items():
        if local(flow) != "sequenceFlow" or flow_id not in diagram.edges:
            continue
        points, _ = diagram.edges[flow_id]
        for (x0, y0), (x1, y1) in pairwise(points):
            if x0 != x1 and y0 != y1:
                problems.append(f"{flow_id} has a diagonal segment ({x0},{y0})-({x1},{y1})")
    assert problems == []


def test_edges_do_not_cross_shapes_they_do_not_connect(diagram):
    problems = []
    for flow_id, flow in diagram.flows.items():
        if flow_id not in diagram.edges:
            continue
        points, plane = diagram.edges[flow_id]
        ends = [r for r in (flow.get("sourceRef"), flow.get("targetRef")) if r in diagram.nodes]
        allowed = set(ends)
        for end in ends:
            allowed.update(diagram.containers_of(end))
            allowed.update(diagram.boundary_events_of(end))
            if diagram.host_of(end):
                allowed.add(diagram.host_of(end))
        for node_id, (box, node_plane) in diagram.shapes.items():
            if node_id not in diagram.nodes or node_id in allowed or node_plane != plane:
                continue
            inner = box.shrunk(1)
            if any(segment_hits(p, q, inner) for p, q in pairwise(points)):
                problems.append(f"{flow_id} runs through {node_id}")
    assert problems == []
