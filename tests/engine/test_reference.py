"""Reference data in the database: CSV import through the facade, and the cached reader."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from engine import Actor, InvalidInput, NotAllowed
from engine.reference import KINDS, DatabaseReferenceData, RefPart, bump_revision
from tasks import refcsv
from tasks.fees import quote_fees
from tasks.refcsv import demo_csv_texts, demo_reference_data, parse_csv
from tasks.refdata import DEFAULT_PENALTY_SETTINGS, DEFAULT_SLA_SETTINGS
from tests.conftest import make_engine
from tests.tasks.factories import BAD_CSV

DEMO_CSV = demo_csv_texts()
DEMO = {kind: parse_csv(kind, text) for kind, text in DEMO_CSV.items()}


@pytest.fixture
def eng(db, clock):
    return make_engine(db, clock)


@pytest.fixture
def demo_eng(eng):
    for kind, text in DEMO_CSV.items():
        eng.import_reference(kind, text)
    return eng


def rows(db, kind):
    spec = KINDS[kind]
    with db.read() as s:
        return sorted((spec.record(r) for r in s.scalars(select(spec.table))), key=repr)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_imports_from_csv_and_reads_back_as_the_same_records(eng, db, kind):
    result = eng.import_reference(kind, DEMO_CSV[kind])
    assert (result.kind, result.count, result.created, result.updated) == (kind, len(DEMO[kind]), len(DEMO[kind]), 0)
    assert rows(db, kind) == sorted(DEMO[kind], key=repr)
    assert eng.reference_counts()[kind] == len(DEMO[kind])


@pytest.mark.parametrize("kind", sorted(BAD_CSV))
def test_a_malformed_row_is_reported_by_line_and_column_and_nothing_is_imported(demo_eng, db, kind):
    before = rows(db, kind)
    text, column = BAD_CSV[kind]
    with pytest.raises(InvalidInput) as error:
        demo_eng.import_reference(kind, text)
    assert list(error.value.fields) == [f"3:{column}"]
    assert f"第 3 行，{column}" in error.value.message and "未导入任何数据" in error.value.message
    assert rows(db, kind) == before  # not even the good line 2


def test_an_import_updates_known_keys_adds_new_ones_and_keeps_the_rest(demo_eng, db):
    text = "code,name,price,stock\nKT-DR-35,空调启动电容 35μF,30.00,40\nP-NEW-1,新配件,12.5,3\n"
    result = demo_eng.import_reference("part", text)
    assert (result.created, result.updated, result.unchanged, result.removed) == (1, 1, 0, 0)
    parts = {p.code: p for p in rows(db, "part")}
    assert len(parts) == len(DEMO["part"]) + 1
    assert parts["KT-DR-35"].price == Decimal("30.00") and parts["P-NEW-1"].price == Decimal("12.50")


def test_replace_makes_the_table_equal_the_file(demo_eng, db):
    text = "code,name,price,stock\nKT-DR-35,空调启动电容 35μF,28.00,40\nP-NEW-1,新配件,12.50,3\n"
    result = demo_eng.import_reference("part", text, replace=True)
    assert (result.created, result.updated, result.unchanged, result.removed) == (1, 0, 1, len(DEMO["part"]) - 1)
    assert [p.code for p in rows(db, "part")] == ["KT-DR-35", "P-NEW-1"]


def test_the_labour_line_of_an_order_type_is_replaced_by_a_new_code(demo_eng, db):
    demo_eng.import_reference("fee", "order_type,kind,code,name,unit,unit_price\nrepair,labour,LAB-2,维修工时费,次,90\n")
    labour = [f for f in rows(db, "fee") if f.order_type == "repair" and f.kind == "labour"]
    assert [(f.code, f.unit_price) for f in labour] == [("LAB-2", Decimal("90.00"))]


def test_excel_files_in_gbk_or_with_a_bom_are_read(eng, db):
    text = "model,category,name,warranty_months\nGBK-1,冰箱,海尔冰箱,12\n"
    eng.import_reference("product", text.encode("gb18030"))
    eng.import_reference("product", text.replace("GBK-1", "BOM-1").encode("utf-8-sig"))
    assert [(p.model, p.name) for p in rows(db, "product")] == [("BOM-1", "海尔冰箱"), ("GBK-1", "海尔冰箱")]


def test_unknown_kinds_and_bad_headers_are_invalid_input(eng):
    with pytest.raises(InvalidInput) as error:
        eng.import_reference("customer", "a,b\n")
    assert "kind" in error.value.fields
    with pytest.raises(InvalidInput) as error:
        eng.import_reference("part", "code,name,cost\nP1,x,1\n")
    assert set(error.value.fields) == {"1:cost", "1:price", "1:stock"}


def test_only_admins_import_or_change_settings(eng, db):
    clerk = Actor("kefu", frozenset({"customer_service"}), frozenset({"staff"}))
    with pytest.raises(NotAllowed):
        eng.import_reference("part", DEMO_CSV["part"], actor=clerk)
    with pytest.raises(NotAllowed):
        eng.update_reference_settings({"false_status_reply": "60"}, actor=clerk)
    assert rows(db, "part") == []


def test_an_import_is_logged_for_the_audit(eng, db):
    from engine.models import Event

    eng.import_reference("technician", DEMO_CSV["technician"])
    with db.read() as s:
        event = s.scalars(select(Event).where(Event.kind == "reference_imported")).one()
    assert event.actor == "system" and event.data["kind"] == "technician" and event.data["created"] == 10


# -- the database reader answers like the in-memory one -------------------------------------

MEMORY = demo_reference_data()
CONTRACT_QUERIES = [
    (c.serial_no or "SN-NONE-1", phone, day)
    for c in DEMO["contract"]
    for phone in {c.customer_phone, c.customer_phone.replace("-", ""), ""}
    for day in (c.start - timedelta(days=1), c.start, c.end, c.end + timedelta(days=1))
]
QUERIES = {
    "product": [(p.model,) for p in DEMO["product"]] + [("NO-SUCH-MODEL",), ("",)],
    "is_special_sale": [(s.serial_no,) for s in DEMO["special_sale"]] + [("AC2024000123",)],
    "contract": [(c.contract_no,) for c in DEMO["contract"]] + [("HT-0000",)],
    "part": [(p.code,) for p in DEMO["part"]] + [("NO-PART",)],
    "fee_schedule": [(t,) for t in ("install", "repair", "upgrade", "maintenance", "training", "unknown")],
    "technician": [(t.technician_id,) for t in DEMO["technician"]] + [("T999",)],
    "sla_settings": [()],
    "penalty_settings": [()],
}


@pytest.fixture
def both(demo_eng, db):
    return DatabaseReferenceData(db, max_age=0), MEMORY


@pytest.mark.parametrize("method", sorted(QUERIES))
def test_the_database_reader_answers_like_the_in_memory_reader(both, method):
    database, memory = both
    for args in QUERIES[method]:
        assert getattr(database, method)(*args) == getattr(memory, method)(*args), (method, args)


def test_the_database_reader_finds_the_same_contracts(both):
    database, memory = both
    for serial, phone, day in CONTRACT_QUERIES:
        found = sorted(database.contracts(serial, phone, on=day), key=lambda c: c.contract_no)
        assert found == sorted(memory.contracts(serial, phone, on=day), key=lambda c: c.contract_no)
    assert any(database.contracts(serial, phone, on=day) for serial, phone, day in CONTRACT_QUERIES)


def test_operators_get_the_same_answers_from_either_reader(both):
    database, memory = both
    params = dict(order_type="install", category="A", zone="out_of_city", parts=[{"code": "KT-DR-35", "qty": 2}],
                  materials=[{"code": "CU-PIPE", "qty": 3}])
    assert quote_fees(ref=database, **params) == quote_fees(ref=memory, **params)


# -- caching ----------------------------------------------------------------------------------


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_import_in_this_process_is_seen_at_once(demo_eng, db):
    reader = DatabaseReferenceData(db, max_age=3600)
    assert reader.part("KT-DR-35").price == Decimal("28.00")
    demo_eng.import_reference("part", "code,name,price,stock\nKT-DR-35,空调启动电容 35μF,31.00,40\n")
    assert reader.part("KT-DR-35").price == Decimal("31.00")


def test_a_write_by_another_process_is_seen_once_the_revision_is_checked_again(demo_eng, db, clock):
    ticker = Ticker()
    reader = DatabaseReferenceData(db, max_age=5, monotonic=ticker)
    assert reader.part("KT-DR-35").stock == 40
    with db.write() as s:  # as another process would: no in-process invalidation
        s.execute(update(RefPart).where(RefPart.code == "KT-DR-35").values(stock=39))
        bump_revision(s, "part", clock.now())
    ticker.now = 4.9
    assert reader.part("KT-DR-35").stock == 40
    ticker.now = 5.0
    assert reader.part("KT-DR-35").stock == 39


def test_the_cache_keeps_a_bounded_number_of_entries_per_kind(demo_eng, db):
    reader = DatabaseReferenceData(db, max_age=3600, size=3)
    for part in DEMO["part"]:
        assert reader.part(part.code) == part
    assert len(reader._entries["part"]) == 3


# -- settings ---------------------------------------------------------------------------------


def test_settings_start_at_the_seed_values_and_changes_reach_the_reader(eng, db):
    reader = DatabaseReferenceData(db, max_age=3600)
    assert reader.sla_settings() == DEFAULT_SLA_SETTINGS and reader.penalty_settings() == DEFAULT_PENALTY_SETTINGS
    hours = {"install": {"in_city": 12, "out_of_city": 36}, "repair": {"in_city": 48, "out_of_city": "120"}}
    effective = eng.update_reference_settings({"completion_hours": hours, "false_status_reply": 80})
    assert effective["false_status_reply"] == "80.00"
    assert reader.penalty_settings()["false_status_reply"] == "80.00"
    assert reader.sla_settings()["completion_hours"]["repair"] == {"in_city": 48, "out_of_city": 120}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"coffee_breaks": 2}, "coffee_breaks"),
        ({"late_card_block_hours": 0}, "late_card_block_hours"),
        ({"card_hand_in_hours": -1}, "card_hand_in_hours"),
        ({"false_status_reply": "50.001"}, "false_status_reply"),
        ({"part_price_tolerance": "1.5"}, "part_price_tolerance"),
        ({"completion_hours": {"install": {"in_city": 24}}}, "completion_hours.install"),
        ({"completion_hours": {"fix": {"in_city": 1, "out_of_city": 2}}}, "completion_hours.fix"),
        ({"missed_urge_callback_default": "60.00"}, "missed_urge_callback_default"),
        ({"completion_fallback": "install", "completion_hours": {"repair": {"in_city": 1, "out_of_city": 2}}},
         "completion_fallback"),
    ],
)
def test_bad_settings_are_refused_per_key_and_nothing_is_stored(eng, changes, field):
    with pytest.raises(InvalidInput) as error:
        eng.update_reference_settings(changes)
    assert field in error.value.fields
    assert eng.reference_settings() == {**DEFAULT_SLA_SETTINGS, **DEFAULT_PENALTY_SETTINGS}


def test_every_setting_has_a_kind_to_check_it():
    from tasks import settings

    assert set(settings.KINDS) == set(DEFAULT_SLA_SETTINGS) | set(DEFAULT_PENALTY_SETTINGS)


def test_demo_data_kinds_match_the_csv_headers():
    assert set(KINDS) == set(refcsv.HEADERS)


def test_a_reader_on_an_empty_database_knows_nothing(db):
    reader = DatabaseReferenceData(db)
    assert reader.product("KFR-35GW/NhGd1BAj") is None and reader.contracts("SN-1", "138", on=date(2025, 1, 1)) == []
