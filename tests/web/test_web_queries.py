"""The engine's reads for the staff pages, on SQLite and PostgreSQL: work-order numbers that never
repeat under concurrent intake, and who may see an order."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from engine import NotAllowed
from tests.conftest import WORKFLOWS, make_engine, make_user
from tests.web.conftest import ORDER


@pytest.fixture
def eng(db, clock):
    from tasks.refcsv import demo_reference_data

    e = make_engine(db, clock, ref=demo_reference_data())
    e.deploy_directory(WORKFLOWS)
    return e


def test_clerks_registering_at_once_never_get_the_same_number(eng, db):
    kefu = make_user(db, "kefu", "customer_service")
    numbers: list[str] = []
    errors: list[BaseException] = []

    def clerk():
        try:
            for _ in range(5):
                numbers.append(eng.reserve_work_order_no(date(2026, 3, 2), actor=kefu))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=clerk) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(numbers) == [f"WO-20260302-{n:04d}" for n in range(1, 31)]
    assert eng.reserve_work_order_no(date(2026, 3, 3), actor=kefu) == "WO-20260303-0001"


def test_numbers_continue_after_orders_started_with_a_number_of_that_day(eng, db):
    kefu = make_user(db, "kefu", "customer_service")
    eng.start("work_order", {**ORDER, "work_order_no": "WO-20260302-0041"}, actor=kefu)
    assert eng.reserve_work_order_no(date(2026, 3, 2), actor=kefu) == "WO-20260302-0042"


def test_an_order_is_open_to_watchers_and_to_those_with_a_task_on_it(eng, db):
    kefu = make_user(db, "kefu", "customer_service")
    diaodu = make_user(db, "diaodu", "dispatcher")
    zhangwei = make_user(db, "zhangwei", "technician")
    started = eng.start("work_order", ORDER, actor=kefu)
    for watcher in (kefu, diaodu):
        eng.check_order_access(started.instance_id, actor=watcher)
    with pytest.raises(NotAllowed):
        eng.check_order_access(started.instance_id, actor=zhangwei)
    dispatch = eng.queue(diaodu).items[0]
    eng.complete(dispatch.id, {"technician": "zhangwei", "accept_within": "PT2H"}, actor=diaodu)
    eng.check_order_access(started.instance_id, actor=zhangwei)
    page = eng.order_page(started.instance_id, actor=diaodu)
    assert [t.element_id for t in page.instance.open_tasks] == ["accept_task"]
    assert [u.username for u in page.members["technician"]] == ["zhangwei"]
