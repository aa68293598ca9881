"""Periodic maintenance and metrology testing: a service_plan instance per unit opens a work
order (P1, at its message start event ``service_due``) on every due date, exactly once, until
the plan's end date or its cancellation. Driven like the worker: fire due timers, then deliver
the outbox (which routes ``service_due`` to the work-order process).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from engine.models import Instance, Outbox
from tests.conftest import make_engine
from tests.workflows.scenario import Run, engine_fixture, make_staff

PLAN = {
    "plan_no": "PM-0001", "kind": "maintenance", "first_due": "2026-04-01", "interval_months": 3,
    "end_date": "2026-12-31", "serial_no": "GR72LW2024070100031", "product_model": "KFR-72LW/NhAa1BAj",
    "customer_name": "杭州西溪明珠酒店", "customer_phone": "0571-88234567", "address": "杭州市西湖区天目山路 398 号",
    "zone": "in_city", "purchase_date": "2025-07-01",
}


@pytest.fixture
def eng(db, clock, request):
    yield from engine_fixture(db, clock, request)


@pytest.fixture
def staff(db):
    return make_staff(db)


def worker_round(eng) -> int:
    fired = eng.fire_due_jobs()
    eng.deliver_outbox(lambda topic, payload, outbox_id: None)
    return fired


def orders(db) -> list[tuple[str, dict]]:
    with db.read() as s:
        return [(r.business_key, r.summary) for r in s.execute(
            select(Instance.business_key, Instance.summary).where(Instance.process_id == "work_order")
            .order_by(Instance.id))]


def order_id(db, number: str) -> int:
    with db.read() as s:
        return s.execute(select(Instance.id).where(Instance.business_key == number)).scalar_one()


def test_a_maintenance_plan_opens_one_order_on_each_due_date_until_its_end_date(eng, staff, clock, db):
    plan = Run.start(eng, staff, "service_plan", PLAN, business_key=PLAN["plan_no"])
    clock.set(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))  # 1 April 8:00 in Beijing is 0:00 UTC
    assert worker_round(eng) == 0 and orders(db) == []
    clock.set(datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC))
    assert worker_round(eng) == 1
    assert [o[1]["order_type"] for o in orders(db)] == ["maintenance"]
    # the worker runs again, a second worker runs, a delivery is repeated: still one order
    assert worker_round(eng) == 0 and worker_round(make_engine(db, clock)) == 0
    with db.write() as s:
        s.execute(update(Outbox).where(Outbox.topic == "service_due").values(status="pending"))
    assert worker_round(eng) == 0 and len(orders(db)) == 1
    number, summary = orders(db)[0]
    order = Run(eng, staff, order_id(db, number))
    assert number.startswith("WO-20260401-") and summary["serial_no"] == PLAN["serial_no"]
    assert order.open() == ["dispatch"] and order.data["symptom"] == "定期保养到期（2026-04-01）"
    assert order.data["channel"] == "maintenance_due" and "service_due_received" in order.reached()
    assert "work_order_created" not in order.reached()
    for month in (7, 10):
        clock.set(datetime(2026, month, 1, 0, 0, 1, tzinfo=UTC))
        assert worker_round(eng) == 1
    assert len(orders(db)) == 3
    assert plan.status == "completed" and plan.reached()[-1] == "plan_finished"
    assert plan.data["orders_opened"] == ["2026-04-01", "2026-07-01", "2026-10-01"]
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    assert worker_round(eng) == 0 and len(orders(db)) == 3


def test_a_testing_plan_keeps_the_day_of_month_and_stops_when_cancelled(eng, staff, clock, db):
    data = {**PLAN, "plan_no": "MT-0001", "kind": "testing", "first_due": "2026-03-31", "interval_months": 1}
    del data["end_date"]
    plan = Run.start(eng, staff, "service_plan", data, business_key="MT-0001")
    clock.set(datetime(2026, 3, 31, 0, 0, 1, tzinfo=UTC))
    assert worker_round(eng) == 1
    assert plan.data["next_due"] == "2026-04-30"  # April has no 31st
    clock.set(datetime(2026, 4, 30, 0, 0, 1, tzinfo=UTC))
    assert worker_round(eng) == 1
    assert plan.data["next_due"] == "2026-05-31"
    assert [o[1]["order_type"] for o in orders(db)] == ["testing", "testing"]
    eng.send_message("service_plan_cancelled", "MT-0001", {"reason": "设备报废"})
    assert plan.status == "completed" and plan.reached()[-1] == "plan_stopped"
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    assert worker_round(eng) == 0 and len(orders(db)) == 2
