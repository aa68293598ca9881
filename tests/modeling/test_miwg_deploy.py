"""The 21 reference models of the public BPMN interchange test suite through `deploy`.

They are drawing-interchange models: most processes are not executable, conditions are prose,
data stores and called global tasks are missing. Each must be either accepted or refused with
reasons that each name an element (or a file position), nothing deployed on refusal, and the
engine healthy afterwards. The figure (how many deploy) is printed with ``-s``.
"""

from __future__ import annotations

import glob
import os

import pytest

from engine import DeployError
from engine.models import Definition
from tests.conftest import make_engine

MIWG = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "modeler", "miwg", "*.bpmn")))
SIMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="http://x">
<bpmn:process id="after_miwg" isExecutable="true"><bpmn:startEvent id="s"/><bpmn:endEvent id="e"/>
<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/></bpmn:process></bpmn:definitions>"""


def test_all_21_reference_models_are_here():
    assert len(MIWG) == 21


def test_each_reference_model_deploys_or_is_refused_element_by_element(sqlite_db, clock, capsys):
    eng = make_engine(sqlite_db, clock)
    accepted, refused = [], {}
    for path in MIWG:
        name = os.path.basename(path)
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            eng.deploy({name: data})
            accepted.append(name)
        except DeployError as exc:
            assert exc.problems, name
            for p in exc.problems:
                assert p.element_id or "行" in p.message, f"{name}: a reason without an element: {p}"
                assert p.file == name
            refused[name] = exc.problems
    with sqlite_db.read() as s:
        deployed = {d.process_id for d in s.query(Definition)}
    assert len(deployed) >= len(accepted)
    assert len(accepted) + len(refused) == 21
    # the engine is healthy: a good model still deploys and runs
    eng.deploy({"after.bpmn": SIMPLE})
    assert eng.start("after_miwg", {}).status == "completed"
    with capsys.disabled():
        print(f"\nMIWG: {len(accepted)} of 21 deploy; refused {len(refused)}: "
              + "; ".join(f"{n} ({len(ps)} reasons, first {ps[0].element_id}: {ps[0].message[:60]})"
                          for n, ps in sorted(refused.items())))


@pytest.mark.parametrize("name", ["C.4.0.bpmn", "C.5.0.bpmn"])
def test_a_data_store_is_refused_naming_the_store(sqlite_db, clock, name):
    eng = make_engine(sqlite_db, clock)
    path = next(p for p in MIWG if p.endswith(name))
    with open(path, "rb") as fh, pytest.raises(DeployError) as info:
        eng.deploy({name: fh.read()})
    [problem] = info.value.problems
    assert problem.element_id and "数据存储" in problem.message
