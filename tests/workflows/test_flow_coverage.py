"""Every outgoing flow of every gateway and every boundary event of every process is exercised.

The expected items come from the BPMN files; what was exercised comes from the audit logs
of the scenario tests (``tests/engine/test_p<n>_*.py``), which drive the processes through the
engine facade. Each scenario's engine fixture harvests the log of every instance it ran
(:func:`tests.workflows.scenario.harvest`); scenarios not yet run in this session (this
module runs first, alone, or on another xdist worker) are run here on SQLite.

A boundary event is covered when the log shows it ran. A flow from gateway G to element T
is covered when T was reached (ran, or became a ready user task; for a subprocess or call
activity: its start event ran) and the last completed element before it, among the sources
of T's incoming flows, was G. Scenarios are sequential within a branch, so that source is
the one whose token arrived.
"""

from __future__ import annotations

import importlib
import inspect
import tempfile
from collections import defaultdict
from pathlib import Path

from lxml import etree

from engine import Database, FakeClock
from engine.schema import upgrade
from tests.workflows import scenario

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SCENARIO_MODULES = sorted(p.stem for p in (ROOT / "tests" / "engine").glob("test_p[0-9]*.py"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN}
GATEWAYS = ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway")
FIXTURES = frozenset({"eng", "staff", "clock", "db"})


class Model:
    """Gateways, flows, boundary events and start events of every process file."""

    def __init__(self) -> None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        self.file_of: dict[str, str] = {}
        self.expected: dict[str, list[tuple[str, str]]] = defaultdict(list)  # file -> [(kind, id)]
        self.flows: dict[str, tuple[str, str]] = {}
        self.sources_of: dict[str, set[str]] = defaultdict(set)
        self.starts_of: dict[str, set[str]] = defaultdict(set)  # subprocess / call activity -> start events
        process_starts: dict[str, set[str]] = defaultdict(set)
        calls: dict[str, str] = {}
        self.duplicates: list[str] = []
        for path in sorted(WORKFLOWS.glob("*.bpmn")):
            root = etree.parse(str(path), parser).getroot()
            for el in root.iter(f"{{{BPMN}}}*"):
                eid, tag = el.get("id"), etree.QName(el).localname
                if not eid or tag in ("definitions", "collaboration", "participant", "laneSet", "lane", "message",
                                      "signal", "escalation", "error"):
                    continue
                if eid in self.file_of and tag != "process":
                    self.duplicates.append(f"{eid} in {self.file_of[eid]} and {path.name}")
                self.file_of[eid] = path.name
                if tag == "sequenceFlow":
                    self.flows[eid] = (el.get("sourceRef"), el.get("targetRef"))
                    self.sources_of[el.get("targetRef")].add(el.get("sourceRef"))
                elif tag == "boundaryEvent":
                    self.expected[path.name].append(("boundary", eid))
                elif tag == "startEvent":
                    container = el.getparent()
                    process_starts[container.get("id")].add(eid)
                elif tag == "callActivity":
                    calls[eid] = el.get("calledElement")
            for gw in root.iter(*(f"{{{BPMN}}}{g}" for g in GATEWAYS)):
                for out in gw.iterfind("bpmn:outgoing", NS):
                    self.expected[path.name].append(("flow", (out.text or "").strip()))
        for container, starts in process_starts.items():
            self.starts_of[container] |= starts
        for call, process in calls.items():
            self.starts_of[call] |= process_starts.get(process, set())


def run_missing_scenarios() -> None:
    """Run, on SQLite, every scenario of tests/engine/test_p<n>_*.py not harvested in this session."""
    for name in SCENARIO_MODULES:
        module = importlib.import_module(f"tests.engine.{name}")
        for fname, function in inspect.getmembers(module, inspect.isfunction):
            if not fname.startswith("test_") or function.__module__ != module.__name__:
                continue
            key = scenario.scenario_key(function)
            if key in scenario.HARVESTED:
                continue
            wanted = set(inspect.signature(function).parameters)
            assert wanted <= FIXTURES, f"{key}: scenario tests may only use the fixtures {sorted(FIXTURES)}"
            with tempfile.TemporaryDirectory() as folder:
                db = Database.connect(f"sqlite:///{folder}/coverage.sqlite3")
                upgrade(db)
                clock = FakeClock()
                eng = scenario.deployed_engine(db, clock)
                given = {"db": db, "clock": clock, "eng": eng, "staff": scenario.make_staff(db)}
                function(**{k: v for k, v in given.items() if k in wanted})
                scenario.harvest(eng, key)
                db.dispose()


def covered_items(model: Model) -> set:
    covered = set()
    for _key, _process, trace in scenario.TRACES:
        last_done: dict[str, int] = {}
        for index, (kind, element) in enumerate(trace):
            if kind == "element":
                covered.add(("boundary", element))
            reached = {element} if kind in ("element", "task_created") else set()
            reached |= {c for c, starts in model.starts_of.items() if element in starts and kind == "element"}
            for target in reached:
                sources = model.sources_of.get(target, set())
                done = [(last_done[s], s) for s in sources if s in last_done]
                if done:
                    source = max(done)[1]
                    for fid, (src, tgt) in model.flows.items():
                        if src == source and tgt == target:
                            covered.add(("flow", fid))
            if kind in ("element", "task_completed"):
                last_done[element] = index
    return covered


def test_flow_node_ids_are_unique_across_process_files():
    # The engine keys lanes, forms and task properties by element id across a process and
    # the processes it calls, so an id used in two files could take the other's lane.
    assert Model().duplicates == []


def test_every_gateway_flow_and_boundary_event_is_covered_by_a_scenario():
    model = Model()
    run_missing_scenarios()
    covered = covered_items(model)
    missing, total, hit = [], 0, 0
    lines = []
    for file, items in sorted(model.expected.items()):
        done = [item for item in items if item in covered]
        total += len(items)
        hit += len(done)
        lines.append(f"  {file}: {len(done)}/{len(items)}")
        missing += [f"{file}: {kind} {eid}" for kind, eid in items if (kind, eid) not in covered]
    print(f"\nflow coverage: {hit}/{total} gateway flows and boundary events ({100 * hit / max(total, 1):.1f} %)")
    print("\n".join(lines))
    assert missing == []
