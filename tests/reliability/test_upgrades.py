"""Upgrades: instances keep running on the version they started with after a redeploy and
a migration, and states stored in an older format still load and complete."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import delete, select, update

from engine import Actor, Database, Engine
from engine.deploy import read_directory
from engine.models import Instance, TaskArchive
from engine.schema import upgrade
from engine.spiff import StateSerializer
from tests.conftest import make_user
from tests.engine.conftest import model_dir
from tests.reliability import invariants
from tests.reliability.conftest import SERVICE, reliability_model
from tests.reliability.racing import SharedClock, load_actors, make_staff

ADMIN = Actor("boss", frozenset({"admin"}), frozenset({"admin"}))


def race_v2() -> dict[str, bytes]:
    """The race model with a review step inserted between the work and the service."""
    files = read_directory(reliability_model("race"))
    text = files["race.bpmn"].decode()
    text = text.replace('<bpmn:flowNodeRef>svc</bpmn:flowNodeRef>',
                        '<bpmn:flowNodeRef>svc</bpmn:flowNodeRef><bpmn:flowNodeRef>review</bpmn:flowNodeRef>')
    text = text.replace('<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="svc"/>',
                        '<bpmn:userTask id="review" name="复核"/>'
                        '<bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="review"/>'
                        '<bpmn:sequenceFlow id="f3r" sourceRef="review" targetRef="svc"/>')
    files["race.bpmn"] = text.encode()
    return files


def finish(eng: Engine, instance_id: int, actors) -> list[str]:
    """Drive an instance to its end; return the elements of the tasks completed on the way."""
    done = []
    for _ in range(60):
        view = eng.get_instance(instance_id, with_data=False)
        if view.status == "completed":
            return done
        if view.status == "error":
            eng.retry(instance_id, actor=ADMIN)
        elif view.open_tasks:
            task = view.open_tasks[0]
            eng.complete(task.id, {"ok": True}, actor=actors[task.group_id][0])
            done.append(task.element_id)
        else:
            eng.send_message("poke", view.business_key)
    raise AssertionError(f"instance {instance_id} did not finish: {eng.get_instance(instance_id)}")


def test_instances_started_on_v1_finish_on_v1_after_v2_is_deployed_and_the_schema_migrated(db):
    clock = SharedClock()
    eng = Engine(db, clock=clock)
    eng.deploy_directory(reliability_model("race"))
    make_staff(db)
    actors = load_actors(db)
    tech = actors["technician"][0]
    # four instances at four different points of v1
    working = eng.start("race", {"work_order_no": "WO-W", "limit": 2})
    waiting = eng.start("race", {"work_order_no": "WO-M", "limit": 2})
    eng.complete(waiting.open_tasks[0].id, {"ok": True}, actor=tech)
    failing = eng.start("race", {"work_order_no": "WO-E", "limit": 2})
    SERVICE["fail"] = True
    assert eng.complete(failing.open_tasks[0].id, {"ok": True}, actor=tech).status == "error"
    SERVICE["fail"] = False
    overdue = eng.start("race", {"work_order_no": "WO-T", "limit": 2})
    clock.advance(2 * 3600)
    assert eng.fire_due_jobs() == 2  # the two still at their work task escalate
    assert [d.version for d in eng.deploy(race_v2()).deployed] == [2]
    upgrade(db)  # migrations run again (the upgrade path of a release)
    fresh = Engine(Database.connect(db.url), clock=clock)  # a new process: nothing cached
    try:
        for started in (working, waiting, failing, overdue):
            assert fresh.get_instance(started.instance_id).definition_version == 1
            assert "review" not in finish(fresh, started.instance_id, actors)
        new = fresh.start("race", {"work_order_no": "WO-NEW", "limit": 1})
        assert fresh.get_instance(new.instance_id).definition_version == 2
        assert "review" in finish(fresh, new.instance_id, actors)
    finally:
        fresh.db.dispose()
    assert invariants.check(db).problems == []


# -- older state formats ------------------------------------------------------------------


def first_format(serializer, workflow, serializer_version: str) -> str:
    """The state as the first engine version wrote it: the library converter's whole task
    mapping (nothing archived) in an envelope without the later ``archived`` field."""
    serializer.registry._encoder_mode = True
    try:
        dct = serializer._converter.to_dict(workflow)
    finally:
        serializer.registry._encoder_mode = False
    dct.pop("typename", None)
    envelope = {"format": 1, "serializer_version": serializer_version, "workflow": dct}
    return json.dumps(envelope, cls=serializer._encoder, ensure_ascii=False, separators=(",", ":"))


def store_in_older_format(db, instance_id: int, serializer_version: str | None = None) -> None:
    row, workflow = next((r, w) for r, w in invariants.stored_workflows(db) if r.id == instance_id)
    serializer = StateSerializer()
    text = first_format(serializer, workflow, serializer_version or serializer.version)
    with db.write() as s:
        s.execute(update(Instance).where(Instance.id == instance_id).values(state=text))
        s.execute(delete(TaskArchive).where(TaskArchive.instance_id == instance_id))


@pytest.fixture
def waiting_instance(db, clock):
    """A basic-model instance waiting for its message, after a few loops of history."""
    eng = Engine(db, clock=clock)
    eng.deploy_directory(model_dir("basic"))
    tech = make_user(db, "zhang", "technician")
    started = eng.start("basic", {"work_order_no": "WO-OLD"})
    eng.complete(started.open_tasks[0].id, {"ok": True, "note": "旧格式"}, actor=tech)
    return started.instance_id, tech


def complete_after_reload(db, clock, instance_id: int, tech) -> str:
    fresh = Engine(Database.connect(db.url), clock=clock)
    try:
        assert fresh.send_message("urge", "WO-OLD", {}).status == "running"
        second = fresh.get_instance(instance_id).open_tasks[0]
        assert fresh.get_instance(instance_id).data["note"] == "旧格式"
        return fresh.complete(second.id, {}, actor=tech).status
    finally:
        fresh.db.dispose()


def test_a_state_in_the_first_engine_format_loads_and_completes(db, clock, waiting_instance):
    instance_id, tech = waiting_instance
    store_in_older_format(db, instance_id)
    with db.read() as s:
        stored = json.loads(s.scalar(select(Instance.state).where(Instance.id == instance_id)))
    assert "archived" not in stored and stored["format"] == 1
    assert complete_after_reload(db, clock, instance_id, tech) == "completed"
    assert invariants.check(db).problems == []


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
OLDER_RELEASES = {"1.2.1": "1.0", "2.0.1": "1.2", "3.0.0": "1.3", "3.1.0": "1.4"}  # SpiffWorkflow release -> serializer version


def store_older_release_state(db, instance_id: int, release: str) -> dict:
    """Put the state that SpiffWorkflow ``release`` wrote for the same point of the basic model
    (see fixtures/make_old_states.py) in place of the instance's, as the engine of that time
    stored it: the workflow without its spec, in the first envelope."""
    with open(os.path.join(FIXTURES, f"spiff-{release}-basic-waiting.json"), encoding="utf-8") as fh:
        written = json.load(fh)
    workflow = {k: v for k, v in written.items() if k not in ("spec", "subprocess_specs", "serializer_version")}
    envelope = {"format": 1, "serializer_version": written["serializer_version"], "workflow": workflow}
    with db.write() as s:
        s.execute(update(Instance).where(Instance.id == instance_id).values(state=json.dumps(envelope)))
        s.execute(delete(TaskArchive).where(TaskArchive.instance_id == instance_id))
    return written


@pytest.mark.parametrize("release", sorted(OLDER_RELEASES))
def test_a_state_written_by_an_older_spiffworkflow_loads_and_completes(db, clock, waiting_instance, release,
                                                                        figures):
    instance_id, tech = waiting_instance
    written = store_older_release_state(db, instance_id, release)
    assert written["serializer_version"] == OLDER_RELEASES[release]
    old_ids = set(written["tasks"])
    assert complete_after_reload(db, clock, instance_id, tech) == "completed"
    with db.read() as s:
        row = s.get(Instance, instance_id)
        stored = json.loads(row.state)
        archived = [json.loads(r.split(":", 1)[1]) for r in
                    s.scalars(select(TaskArchive.record).where(TaskArchive.instance_id == instance_id))]
    # written back in the current format, the older tasks' records carried over
    assert stored["serializer_version"] == StateSerializer().version
    records = {**stored["workflow"]["tasks"], **{r["id"]: r for r in archived}}
    assert {records[i]["task_spec"] for i in old_ids & set(records)} >= {"first", "svc", "wait_urge"}
    assert "Root" not in {r["task_spec"] for r in records.values()}
    assert invariants.check(db).problems == []
    figures.add("upgrades", "states of older SpiffWorkflow releases loaded and completed")


def test_a_state_of_an_unknown_serializer_version_is_refused_by_name():
    serializer = StateSerializer()
    envelope = {"format": 1, "serializer_version": "9.9", "workflow": {"tasks": {}}}
    with pytest.raises(ValueError, match="9.9"):
        serializer.load_state(json.dumps(envelope), None, {})
