"""Broken and hostile models are refused with the element (or the file) named, nothing is
deployed, and the engine keeps serving: a good deploy and a start work right after."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from engine import Database, DeployError, Engine, FakeClock
from engine.models import Definition
from engine.schema import upgrade
from tests.conftest import _truncate_pg
from tests.reliability.bad_models import BASIC, CORPUS, basic

MB = 1024 * 1024


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployed(request, tmp_path_factory):
    """An engine with the basic model deployed, shared by the whole corpus."""
    if request.param == "sqlite":
        db = Database.connect(f"sqlite:///{tmp_path_factory.mktemp('bad')}/bad.sqlite3")
        upgrade(db)
    else:
        db = Database.connect(request.getfixturevalue("pg_url"))
        _truncate_pg(db)
    eng = Engine(db, clock=FakeClock())
    eng.deploy_directory(BASIC)
    yield eng
    db.dispose()


def definition_count(eng: Engine) -> int:
    with eng.db.read() as s:
        return s.scalar(select(func.count()).select_from(Definition))


def assert_healthy(eng: Engine, count: int) -> None:
    assert definition_count(eng) == count
    again = eng.deploy(basic())
    assert again.deployed == () and [d.process_id for d in again.unchanged] == ["basic"]
    assert eng.start("basic", {"work_order_no": "WO-OK"}).status == "running"


def refusal(eng: Engine, files: dict[str, bytes]) -> DeployError:
    with pytest.raises(DeployError) as err:
        eng.deploy(files)
    return err.value


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30
    assert len({bad.name for bad in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("bad", CORPUS, ids=[bad.name for bad in CORPUS])
def test_a_bad_model_is_refused_naming_where_and_nothing_is_deployed(deployed, bad, figures):
    count = definition_count(deployed)
    err = refusal(deployed, bad.files())
    named = [p for p in err.problems if p.file == bad.file and p.element_id == bad.element]
    assert named, f"no problem names {bad.file} [{bad.element}]: {err.problems}"
    assert any(bad.words in p.message for p in named), f"{bad.words!r} not in {named}"
    assert all(p.message and len(p.message) < 2000 for p in err.problems)
    assert_healthy(deployed, count)
    figures.add("bad BPMN", "refusals checked (each model on SQLite and PostgreSQL; element named, nothing deployed)")
    figures.set("bad BPMN", "models in the corpus", len(CORPUS))


def test_a_50_mb_file_is_refused_by_its_size_at_once(deployed, tmp_path):
    folder = tmp_path / "models"
    (folder / "forms").mkdir(parents=True)
    for name, data in basic().items():
        (folder / name).write_bytes(data)
    with open(folder / "huge.bpmn", "wb") as fh:
        fh.write(b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">')
        chunk = b"<bpmn:documentation>" + b"x" * (MB - 64) + b"</bpmn:documentation>\n"
        for _ in range(50):
            fh.write(chunk)
        fh.write(b"</bpmn:definitions>")
    (folder / "forms" / "huge.json").write_bytes(b'{"type": "object", "title": "' + b"x" * (8 * MB) + b'"}')
    count = definition_count(deployed)
    began = time.monotonic()
    with pytest.raises(DeployError) as err:
        deployed.deploy_directory(str(folder))
    elapsed = time.monotonic() - began
    by_file = {p.file: p for p in err.value.problems}
    assert "过大" in by_file["huge.bpmn"].message and by_file["huge.bpmn"].element_id is None
    assert "过大" in by_file["forms/huge.json"].message
    assert elapsed < 3, f"refusing took {elapsed:.1f} s"
    assert_healthy(deployed, count)


def test_every_problem_of_a_model_is_reported_at_once(deployed):
    files = basic()
    text = files["basic.bpmn"].decode()
    text = text.replace('id="test_echo"', 'id="no_such_operator"').replace('"PT2H"', '"PT2X"')
    files["basic.bpmn"] = text.encode()
    files["forms/a.json"] = b"{not json"
    err = refusal(deployed, files)
    where = {(p.file, p.element_id) for p in err.problems}
    assert {("basic.bpmn", "sla"), ("forms/a.json", None)} <= where
