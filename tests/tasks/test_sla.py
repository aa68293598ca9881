from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tasks.registry import ServiceInputError
from tasks.sla import check_status_reply, compute_deadlines, late_card_penalty, status_reply_allowed
from tests.tasks.factories import make_ref

DISPATCHED = "2025-06-02T08:00:00Z"  # 16:00 in Beijing
T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


def deadlines(ref, **params):
    params = {"order_type": "install", "zone": "in_city", "dispatched_at": DISPATCHED} | params
    return compute_deadlines(ref=ref, **params)


@pytest.mark.parametrize(
    ("order_type", "zone", "due_at", "due_in"),
    [
        ("install", "in_city", "2025-06-03T08:00:00Z", "PT24H"),
        ("install", "out_of_city", "2025-06-04T08:00:00Z", "PT48H"),
        ("repair", "in_city", "2025-06-05T08:00:00Z", "PT72H"),
        ("repair", "out_of_city", "2025-06-09T08:00:00Z", "PT168H"),
        ("maintenance", "in_city", "2025-06-05T08:00:00Z", "PT72H"),  # other types default to repair's
        ("complaint", "out_of_city", "2025-06-09T08:00:00Z", "PT168H"),
    ],
)
def test_completion_deadline_depends_on_order_type_and_zone(ref, order_type, zone, due_at, due_in):
    result = deadlines(ref, order_type=order_type, zone=zone)
    assert (result["completion_due_at"], result["completion_due_in"]) == (due_at, due_in)
    assert result["basis"] == "standard"


def test_other_order_types_can_have_their_own_deadlines():
    hours = {"install": {"in_city": 24, "out_of_city": 48}, "repair": {"in_city": 72, "out_of_city": 168},
             "maintenance": {"in_city": 12.5, "out_of_city": 36}}  # fmt: skip
    result = deadlines(make_ref(sla={"completion_hours": hours}), order_type="maintenance")
    assert (result["completion_due_at"], result["completion_due_in"]) == ("2025-06-02T20:30:00Z", "PT12H30M")


@pytest.mark.parametrize(
    ("appointment_at", "due_at", "due_in"),
    [
        ("2025-06-05", "2025-06-05T16:00:00Z", "PT80H"),  # end of 5 June in Beijing
        ("2025-06-05T18:00:00+08:00", "2025-06-05T10:00:00Z", "PT74H"),
        ("2025-06-05T18:00", "2025-06-05T10:00:00Z", "PT74H"),  # no offset: Beijing time
    ],
)
def test_appointment_installs_run_to_the_agreed_date(ref, appointment_at, due_at, due_in):
    result = deadlines(ref, appointment_at=appointment_at)
    assert (result["completion_due_at"], result["completion_due_in"], result["basis"]) == (
        due_at,
        due_in,
        "appointment",
    )


def test_status_reply_urge_callback_and_card_windows(ref):
    result = deadlines(ref, completed_at="2025-06-03T09:30:00+08:00")
    assert result["dispatched_at"] == DISPATCHED
    assert (result["status_reply_earliest_at"], result["status_reply_earliest_in"]) == ("2025-06-02T14:00:00Z", "PT6H")
    assert result["urge_callback_within"] == "PT1H"
    assert (result["card_due_at"], result["card_due_in"]) == ("2025-06-04T01:30:00Z", "PT41H30M")


def test_card_deadline_is_absent_until_the_order_is_completed(ref):
    result = deadlines(ref)
    assert result["card_due_at"] is None and result["card_due_in"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"dispatched_at": "next monday"}, "dispatched_at"),
        ({"dispatched_at": None}, "dispatched_at"),
        ({"appointment_at": "2025-06-01"}, "appointment_at"),
        ({"appointment_at": "2025-06-31"}, "appointment_at"),
        ({"completed_at": "2025-06-02T07:59:00Z"}, "completed_at"),
        ({"zone": "城里"}, "zone"),
        ({"order_type": "wash"}, "order_type"),
    ],
)
def test_bad_input_raises_service_input_error_naming_the_field(ref, params, field):
    with pytest.raises(ServiceInputError) as error:
        deadlines(ref, **params)
    assert error.value.field == field


COMPLETED = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
CARD_DUE = COMPLETED + timedelta(days=1)


@pytest.mark.parametrize(
    ("late_by", "blocks", "amount"),
    [
        (-timedelta(hours=5), 0, "0"),
        (timedelta(0), 0, "0"),
        (timedelta(seconds=1), 1, "1.00"),
        (timedelta(hours=3), 1, "1.00"),
        (timedelta(hours=3, minutes=1), 2, "2.00"),
        (timedelta(hours=6), 2, "2.00"),
        (timedelta(hours=6, seconds=1), 3, "3.00"),
        (timedelta(hours=25), 9, "9.00"),
    ],
)
def test_late_card_costs_one_yuan_per_started_three_hours(late_by, blocks, amount):
    card = late_card_penalty(COMPLETED, CARD_DUE + late_by, False, None)
    assert card.due_at == CARD_DUE
    assert card.blocks == blocks
    assert card.amount == Decimal(amount)
    assert card.waived is False


def test_late_card_reported_in_advance_is_waived():
    card = late_card_penalty(COMPLETED, CARD_DUE + timedelta(hours=3, minutes=1), True, None)
    assert (card.waived, card.assessed, card.amount) == (True, Decimal("2.00"), Decimal(0))


def test_late_card_accepts_iso_strings_and_configured_settings():
    settings = {"card_hand_in_hours": 12, "late_card_block_hours": 1, "late_card_amount_per_block": "5"}
    card = late_card_penalty("2025-06-02T08:00:00Z", "2025-06-02T22:30:00Z", False, settings)
    assert (card.blocks, card.amount) == (3, Decimal("15"))


def test_card_handed_in_before_completion_is_bad_input():
    with pytest.raises(ServiceInputError) as error:
        late_card_penalty(COMPLETED, COMPLETED - timedelta(minutes=1), False, None)
    assert error.value.field == "handed_in_at"


DEADLINE = T0 + timedelta(hours=24)


@pytest.mark.parametrize(
    ("replied_at", "allowed"),
    [
        (T0 + timedelta(hours=5, minutes=59), False),
        (T0 + timedelta(hours=6), True),
        (T0 + timedelta(hours=12), True),
        (DEADLINE, True),
        (DEADLINE + timedelta(seconds=1), False),
    ],
)
def test_status_reply_is_allowed_from_six_hours_after_dispatch_until_the_deadline(replied_at, allowed):
    assert status_reply_allowed(T0, replied_at, DEADLINE, None) is allowed


@pytest.mark.parametrize(("replied_at", "allowed"), [("2025-06-02T10:00:00Z", False), ("2025-06-03T10:00:00Z", True)])
def test_status_reply_operator_explains_the_window_in_beijing_time(ref, replied_at, allowed):
    result = check_status_reply(
        order_type="repair", zone="in_city", dispatched_at=DISPATCHED, replied_at=replied_at, ref=ref
    )
    assert result["allowed"] is allowed
    assert (result["window_opens_at"], result["window_closes_at"]) == ("2025-06-02T14:00:00Z", "2025-06-05T08:00:00Z")
    assert "2025-06-02 22:00" in result["reason"]
