"""Migrating running instances between versions, on SQLite and PostgreSQL: compatible instances
move (at a user task, at a timer, inside a call activity) and complete on the new version;
incompatible ones stay, listed with the reason; a mapping makes them movable; one failure
leaves only that instance untouched; a busy instance is reported, never half-migrated."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from engine import Conflict, InvalidInput, NotAllowed
from engine.models import Event, HumanTask, Instance, Job
from tests.conftest import make_engine, make_user
from tests.modeling.models import as_bytes, mig

ANALYST_ROLES = ("staff", "analyst")


@pytest.fixture
def eng(db, clock):
    return make_engine(db, clock)


@pytest.fixture
def tech(db):
    return make_user(db, "zw", "technician")


@pytest.fixture
def analyst(db):
    return make_user(db, "fx", roles=ANALYST_ROLES)


def deploy(eng, **kwargs) -> int:
    result = eng.deploy(as_bytes(mig(**kwargs)))
    return next(d.id for d in result.deployed + result.unchanged if d.process_id == "mig")


def open_task(eng, iid, element_id=None):
    tasks = eng.get_instance(iid, with_data=False).open_tasks
    assert len(tasks) == 1, tasks
    if element_id is not None:
        assert tasks[0].element_id == element_id, tasks
    return tasks[0]


def row(db, iid):
    with db.read() as s:
        r = s.execute(select(Instance.definition_id, Instance.version, Instance.state, Instance.status)
                      .where(Instance.id == iid)).first()
        tasks = sorted(s.execute(select(HumanTask.id, HumanTask.element_id, HumanTask.name, HumanTask.status)
                                 .where(HumanTask.instance_id == iid)).all())
        jobs = sorted(s.execute(select(Job.task_id, Job.element_id, Job.due_at).where(Job.instance_id == iid)).all())
        return r, tasks, jobs


def three_instances(eng, tech, clock):
    """One at the user task ``ask``, one at the timer, one inside the call activity."""
    in_call = eng.start("mig", {"n": 3}).instance_id
    eng.complete(open_task(eng, in_call).id, {"note": "ok"}, actor=tech)
    clock.advance(hours=2, seconds=1)
    eng.fire_due_jobs()
    open_task(eng, in_call, "child_task")
    at_task = eng.start("mig", {"n": 1}).instance_id
    at_timer = eng.start("mig", {"n": 2}).instance_id
    eng.complete(open_task(eng, at_timer).id, {"note": "ok"}, actor=tech)
    assert eng.get_instance(at_timer, with_data=False).status == "waiting"
    return at_task, at_timer, in_call


def finish(eng, iid, tech, clock, *, expect_path):
    """Drive an instance to its end, completing each open task; return the user tasks done."""
    done = []
    for _ in range(10):
        view = eng.get_instance(iid, with_data=False)
        if view.status == "completed":
            return done
        if view.open_tasks:
            task = view.open_tasks[0]
            done.append(task.element_id)
            eng.complete(task.id, {"note": task.element_id}, actor=tech)
        else:
            clock.advance(hours=3)
            eng.fire_due_jobs()
    raise AssertionError(f"not completed: {eng.get_instance(iid, with_data=False)}")


def test_compatible_instances_move_and_complete_on_the_new_version(eng, db, tech, analyst, clock):
    v1 = deploy(eng)
    at_task, at_timer, in_call = three_instances(eng, tech, clock)
    v2 = deploy(eng, ask_name="登记并核对", extra=True)
    before_timer = row(db, at_timer)

    plan = eng.migration_plan(v1, v2)
    assert sorted(plan.movable) == sorted([at_task, at_timer, in_call]) and plan.blocked == ()
    report = eng.migrate_instances(v1, v2, analyst)
    assert sorted(report.moved) == sorted([at_task, at_timer, in_call]) and report.blocked == ()

    for iid in (at_task, at_timer, in_call):
        view = eng.get_instance(iid, with_data=False)
        assert view.definition_id == v2 and view.definition_version == 2
    # the open task row is the same task, renamed as in version 2
    task = open_task(eng, at_task, "ask")
    assert task.name == "登记并核对"
    # the timer keeps its due time and its job
    after_timer = row(db, at_timer)
    assert after_timer[2] == before_timer[2] and after_timer[0].version == before_timer[0].version + 1
    # each move is in the audit log with both versions
    for iid in (at_task, at_timer, in_call):
        migrated = [e for e in eng.history(iid) if e.kind == "migrated"]
        assert len(migrated) == 1 and migrated[0].actor == "fx"
        assert migrated[0].data["from_version"] == 1 and migrated[0].data["to_version"] == 2

    # and they continue on version 2: the task added after the timer is reached
    assert finish(eng, at_task, tech, clock, expect_path=None) == ["ask", "extra", "child_task", "done"]
    assert finish(eng, at_timer, tech, clock, expect_path=None) == ["extra", "child_task", "done"]
    assert finish(eng, in_call, tech, clock, expect_path=None) == ["child_task", "done"]
    assert eng.migration_plan(v1, v2).movable == ()


def test_an_instance_whose_current_task_is_gone_stays_with_the_reason_until_mapped(eng, db, tech, analyst, clock):
    v1 = deploy(eng)
    at_task = eng.start("mig", {}).instance_id
    at_timer = eng.start("mig", {}).instance_id
    eng.complete(open_task(eng, at_timer).id, {}, actor=tech)
    v2 = deploy(eng, ask_id="register")
    before = row(db, at_task)

    plan = eng.migration_plan(v1, v2)
    assert plan.movable == () and [b.instance_id for b in plan.blocked] == [at_task, at_timer]
    reasons = dict(plan.blocked)
    assert "ask" in reasons[at_task] and "不存在" in reasons[at_task]  # the open task itself
    assert "ask" in reasons[at_timer]  # a step it already did
    report = eng.migrate_instances(v1, v2, analyst)
    assert report.moved == () and len(report.blocked) == 2
    assert row(db, at_task) == before  # nothing written
    assert not [e for e in eng.history(at_task) if e.kind == "migrated"]

    mapped = eng.migration_plan(v1, v2, mapping={"ask": "register"})
    assert sorted(mapped.movable) == sorted([at_task, at_timer])
    report = eng.migrate_instances(v1, v2, analyst, mapping={"ask": "register"}, instance_ids=[at_task])
    assert report.moved == (at_task,)
    task = open_task(eng, at_task, "register")
    eng.complete(task.id, {}, actor=tech)
    history = eng.history(at_task)
    assert [e.data["mapping"] for e in history if e.kind == "migrated"] == [{"ask": "register"}]
    assert finish(eng, at_task, tech, clock, expect_path=None) == ["child_task", "done"]


def test_finished_error_and_foreign_instances_are_listed_not_moved(eng, tech, analyst, clock):
    v1 = deploy(eng)
    done = eng.start("mig", {}).instance_id
    finish(eng, done, tech, clock, expect_path=None)
    v2 = deploy(eng, extra=True)
    plan = eng.migration_plan(v1, v2, instance_ids=[done, 999999])
    assert plan.movable == ()
    reasons = dict(plan.blocked)
    assert "完成" in reasons[done] and "不存在" in reasons[999999]
    assert eng.migration_plan(v1, v2).blocked == ()  # completed ones are not even candidates
    with pytest.raises(InvalidInput):
        eng.migration_plan(v1, v1)
    with pytest.raises(NotAllowed):
        eng.migrate_instances(v1, v2, tech)


def test_filters_pick_instances_by_order_number_status_and_current_element(eng, tech, analyst, clock):
    v1 = deploy(eng)
    a = eng.start("mig", {}, business_key="WO-A-1").instance_id
    b = eng.start("mig", {}, business_key="WO-B-1").instance_id
    eng.complete(open_task(eng, b).id, {}, actor=tech)
    v2 = deploy(eng, extra=True)
    assert eng.migration_plan(v1, v2, filter={"business_key": "WO-A"}).movable == (a,)
    assert eng.migration_plan(v1, v2, filter={"element_id": "wait"}).movable == (b,)
    assert eng.migration_plan(v1, v2, filter={"status": "running"}).movable == (a,)
    assert eng.migration_plan(v1, v2, filter={"business_key": "WO_%"}).movable == ()
    report = eng.migrate_instances(v1, v2, analyst, filter={"element_id": "ask"})
    assert report.moved == (a,)
    assert eng.get_instance(b, with_data=False).definition_id == v1


def _fail_migration_of(db, iid: int) -> None:
    """A database trigger that refuses the audit row of one instance's migration: the failure
    comes after the instance row and its projections were written in that transaction."""
    with db.write_engine.begin() as c:
        if db.is_sqlite:
            c.execute(text(f"CREATE TRIGGER refuse_migration BEFORE INSERT ON event WHEN NEW.kind = 'migrated' "
                           f"AND NEW.instance_id = {int(iid)} BEGIN SELECT RAISE(ABORT, 'refused by test'); END"))
        else:
            c.execute(text(f"""CREATE OR REPLACE FUNCTION refuse_migration() RETURNS trigger AS $$
                BEGIN IF NEW.kind = 'migrated' AND NEW.instance_id = {int(iid)} THEN
                RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"""))
            c.execute(text("CREATE TRIGGER refuse_migration BEFORE INSERT ON event FOR EACH ROW "
                           "EXECUTE FUNCTION refuse_migration()"))


def _drop_trigger(db) -> None:
    with db.write_engine.begin() as c:
        if db.is_sqlite:
            c.execute(text("DROP TRIGGER IF EXISTS refuse_migration"))
        else:
            c.execute(text("DROP TRIGGER IF EXISTS refuse_migration ON event"))
            c.execute(text("DROP FUNCTION IF EXISTS refuse_migration()"))


def test_a_failure_mid_batch_leaves_that_instance_untouched_and_the_others_moved(eng, db, tech, analyst, clock):
    v1 = deploy(eng)
    ids = [eng.start("mig", {"n": i}).instance_id for i in range(3)]
    eng.complete(open_task(eng, ids[1]).id, {}, actor=tech)  # the middle one waits at the timer
    v2 = deploy(eng, ask_name="登记2", extra=True)
    before = row(db, ids[1])
    _fail_migration_of(db, ids[1])
    try:
        report = eng.migrate_instances(v1, v2, analyst)
    finally:
        _drop_trigger(db)
    assert report.moved == (ids[0], ids[2])
    assert [b.instance_id for b in report.blocked] == [ids[1]] and "refused by test" in report.blocked[0].reason
    assert row(db, ids[1]) == before  # state, version, tasks and timer job exactly as they were
    with db.read() as s:
        assert not s.scalars(select(Event.id).where(Event.instance_id == ids[1], Event.kind == "migrated")).all()
    # the untouched one still runs on version 1, and can be moved later
    assert eng.migrate_instances(v1, v2, analyst).moved == (ids[1],)
    assert finish(eng, ids[1], tech, clock, expect_path=None) == ["extra", "child_task", "done"]
    assert finish(eng, ids[0], tech, clock, expect_path=None) == ["ask", "extra", "child_task", "done"]


def test_migration_handles_archived_history_and_messages_refresh(eng, db, tech, analyst, clock):
    """A long-lived instance whose finished tasks moved to the archive migrates and reloads."""
    v1 = deploy(eng)
    iid = eng.start("mig", {}).instance_id
    eng.complete(open_task(eng, iid).id, {}, actor=tech)
    clock.advance(hours=2, seconds=1)
    eng.fire_due_jobs()
    eng.complete(open_task(eng, iid, "child_task").id, {}, actor=tech)  # archive grows with each step
    v2 = deploy(eng, extra=True, ask_id="register")
    assert eng.migrate_instances(v1, v2, analyst, mapping={"ask": "register"}).moved == (iid,)
    eng._cache.clear()  # the next step reads the stored state and archive against version 2
    assert finish(eng, iid, tech, clock, expect_path=None) == ["done"]


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_busy_instance_is_reported_not_waited_for_and_not_half_migrated(eng, db, tech, analyst, clock):
    v1 = deploy(eng)
    iid = eng.start("mig", {}).instance_id
    other = eng.start("mig", {}).instance_id
    v2 = deploy(eng, extra=True)
    before = row(db, iid)
    with db.write_engine.connect() as holder:  # a long step of another user holds the row
        holder.execute(text("BEGIN"))
        holder.execute(text("SELECT id FROM process_instance WHERE id = :i FOR UPDATE"), {"i": iid})
        report = eng.migrate_instances(v1, v2, analyst)
        holder.execute(text("ROLLBACK"))
    assert report.moved == (other,)
    assert [b.instance_id for b in report.blocked] == [iid] and "正被他人处理" in report.blocked[0].reason
    assert row(db, iid) == before


def race(eng, task_id, iid, v1, v2, tech, analyst) -> dict[str, str]:
    """Complete the task and migrate its instance at the same moment from two threads."""
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def do_complete():
        barrier.wait()
        try:
            eng.complete(task_id, {"note": "x"}, actor=tech)
            results["complete"] = "ok"
        except Conflict:
            results["complete"] = "conflict"

    def do_migrate():
        barrier.wait()
        report = eng.migrate_instances(v1, v2, analyst, instance_ids=[iid])
        results["migrate"] = "ok" if report.moved else "conflict: " + report.blocked[0].reason

    threads = [threading.Thread(target=do_complete), threading.Thread(target=do_migrate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_complete_racing_a_migration_one_conflict_nothing_half_done(eng, db, tech, analyst, clock):
    """A clerk completes the task while the instance is migrated: each runs whole, in some order.
    Either the completion holds the row (the migration is refused as busy: one Conflict) or the
    migration goes first and the completion then runs on version 2; never anything half done."""
    v1 = deploy(eng)
    ids = [eng.start("mig", {}).instance_id for _ in range(6)]
    v2 = deploy(eng, extra=True)
    outcomes = set()
    for iid in ids:
        task = open_task(eng, iid)
        results = race(eng, task.id, iid, v1, v2, tech, analyst)
        assert set(results) == {"complete", "migrate"}, results
        assert results["complete"] == "ok", results  # the clerk's work is never lost
        view = eng.get_instance(iid, with_data=False)
        moved = results["migrate"] == "ok"
        if not moved:
            assert "正被他人处理" in results["migrate"], results
        assert view.definition_id == (v2 if moved else v1)
        with db.read() as s:
            migrated = s.scalars(select(Event.id).where(Event.instance_id == iid, Event.kind == "migrated")).all()
        assert len(migrated) == (1 if moved else 0)
        assert view.status == "waiting" and view.open_tasks == ()  # at the timer, on either version
        eng._cache.clear()
        clock.advance(hours=2, seconds=1)
        eng.fire_due_jobs()
        expected = "extra" if moved else "child_task"
        assert open_task(eng, iid).element_id == expected  # the stored state runs on its version
        outcomes.add(moved)
    assert outcomes  # which orders occurred depends on the scheduler; each was checked whole


def test_boundary_timers_and_message_subscriptions_follow_the_instance(eng, db, tech, analyst, clock):
    """The open task's boundary timer job and a message catch's subscription are kept, renamed by
    the mapping, and still fire and deliver on the new version."""
    from engine.models import MessageSubscription
    from tests.modeling.models import urge

    v1 = eng.deploy(as_bytes(urge())).deployed[0].id
    at_task = eng.start("urge", {}, business_key="WO-U-1").instance_id
    at_catch = eng.start("urge", {}, business_key="WO-U-2").instance_id
    eng.complete(open_task(eng, at_catch).id, {}, actor=tech)
    v2 = eng.deploy(as_bytes(urge(catch_id="wait_urge"))).deployed[0].id
    jobs_before = row(db, at_task)[2]
    assert [j.element_id for j in jobs_before] == ["sla"]

    blocked = eng.migration_plan(v1, v2)
    assert blocked.movable == (at_task,) and "wait_msg" in dict(blocked.blocked)[at_catch]
    report = eng.migrate_instances(v1, v2, analyst, mapping={"wait_msg": "wait_urge"})
    assert sorted(report.moved) == [at_task, at_catch]
    assert row(db, at_task)[2] == jobs_before  # same timer, same due time
    with db.read() as s:
        subs = s.execute(select(MessageSubscription.element_id, MessageSubscription.message_name,
                                MessageSubscription.business_key)
                         .where(MessageSubscription.instance_id == at_catch)).all()
    assert [tuple(r) for r in subs] == [("wait_urge", "urge", "WO-U-2")]

    eng.send_message("urge", "WO-U-2", {})
    assert open_task(eng, at_catch, "done")
    clock.advance(hours=4, seconds=1)
    eng.fire_due_jobs()
    assert open_task(eng, at_task, "escalate")


def test_a_looping_real_process_migrates_in_the_middle_and_finishes(sqlite_db, clock):
    """P3 (with loops, a call activity and boundary timers) moved to a version with a renamed
    task while in the pre-visit subprocess; the prediction stops at loops and the order goes on."""
    from tests.engine.test_p3_appliance_service import DISPATCH, INSTALL, PREVISIT_OK
    from tests.workflows.scenario import Run, deployed_engine, make_staff

    eng = deployed_engine(sqlite_db, clock)
    staff = make_staff(sqlite_db)
    analyst = make_user(sqlite_db, "fx", roles=ANALYST_ROLES)
    run = Run.start(eng, staff, "appliance_service", INSTALL)
    run.do("p3_dispatch", DISPATCH)
    run.do("p3_accept", {"accept_channel": "sms"})
    run.do("pv_check_info", PREVISIT_OK["pv_check_info"])
    old = eng.get_instance(run.id, with_data=False).definition_id
    text = eng.workspace_files()["appliance_service.bpmn"].replace('name="安装调试"', 'name="安装调试并试机"', 1)
    assert 'name="安装调试并试机"' in text
    eng.deploy_model({"appliance_service.bpmn": text}, analyst)
    new = next(p for p in eng.process_catalog() if p.process_id == "appliance_service").latest_definition_id
    assert eng.migration_plan(old, new).movable == (run.id,)
    assert eng.migrate_instances(old, new, analyst).moved == (run.id,)
    eng._cache.clear()
    for element in ("pv_analyse", "pv_contact", "pv_prepare", "pv_en_route"):
        run.do(element, PREVISIT_OK[element])
    run.do("p3_survey", {"install_mode": "regular", "materials": []})
    assert run.task("p3_install").name == "安装调试并试机"
    run.do("p3_install", {"installed": True})
    assert "p3_completion" in run.open()
