from __future__ import annotations

from datetime import date

import pytest

from tasks.refdata import DEFAULT_PENALTY_SETTINGS, DEFAULT_SLA_SETTINGS, setting
from tests.tasks.factories import make_ref


@pytest.mark.parametrize(
    ("serial_no", "phone", "on", "contract_nos"),
    [
        ("SN-CONTRACT-1", None, date(2025, 6, 30), ["HT-ENDS-TODAY"]),
        ("SN-CONTRACT-1", None, date(2025, 7, 1), []),
        ("SN-CONTRACT-1", None, date(2025, 1, 1), ["HT-ENDS-TODAY"]),
        ("SN-NEW-1", "0571 8620 1234", date(2025, 6, 30), ["HT-SCHOOL"]),
        ("SN-NEW-1", "13900000000", date(2025, 6, 30), []),  # that customer's contract is for one unit
        ("SN-OTHER-9", None, date(2025, 6, 30), ["HT-OTHER-UNIT"]),
        ("SN-NEW-1", "", date(2025, 6, 30), []),
    ],
)
def test_contracts_match_the_unit_or_the_customer_on_a_day(serial_no, phone, on, contract_nos):
    found = make_ref().contracts(serial_no, phone, on=on)
    assert [c.contract_no for c in found] == contract_nos


def test_settings_default_to_the_seed_numbers_and_accept_overrides():
    ref = make_ref(penalties={"false_status_reply": "80.00"})
    assert ref.sla_settings() == DEFAULT_SLA_SETTINGS
    assert ref.penalty_settings() == DEFAULT_PENALTY_SETTINGS | {"false_status_reply": "80.00"}


def test_settings_handed_out_are_copies():
    ref = make_ref()
    ref.sla_settings()["completion_hours"]["install"]["in_city"] = 1
    assert ref.sla_settings()["completion_hours"]["install"]["in_city"] == 24


def test_partial_settings_fall_back_to_the_defaults():
    assert setting({"card_hand_in_hours": 12}, "card_hand_in_hours") == 12
    assert setting({}, "card_hand_in_hours") == 24
    assert setting(None, "late_card_block_hours") == 3
    with pytest.raises(KeyError):
        setting({}, "coffee_breaks")
