"""The warranty policy table (workflows/warranty_policy.dmn) decides P1's warranty periods.

Driven through the facade with reference data in the database: the table is deployed with
the work-order process, a changed table makes a new version, and that version decides only
for orders started after it; a running order keeps deciding with its own version's table,
even when it reaches the decision again after the redeploy (the purchase-proof loop).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.deploy import read_directory
from engine.models import Definition
from engine.reference import DatabaseReferenceData
from tasks.refcsv import demo_csv_texts
from tests.conftest import WORKFLOWS, make_engine, make_user

POLICY = "warranty_policy.dmn"
AIR_CONDITIONER_RULE = (
    '<inputEntry id="rule_air_conditioner_category"><text>"空调"</text></inputEntry>\n'
    '        <outputEntry id="rule_air_conditioner_parts"><text>{parts}</text></outputEntry>\n'
    '        <outputEntry id="rule_air_conditioner_labour"><text>{labour}</text></outputEntry>'
)
# An air conditioner (空调) of the demo catalog, bought a little over two years before the
# fake clock's today (2026-03-02): inside 72 months, outside 12.
ORDER = {
    "work_order_no": "WO-20260302-0101", "order_type": "repair", "customer_name": "赵磊",
    "customer_phone": "13800138101", "address": "杭州市拱墅区湖墅南路 9 号", "zone": "in_city",
    "product_model": "KFR-35GW/NhGd1BAj", "serial_no": "AC2024000999", "purchase_date": "2024-01-15",
    "symptom": "空调不制冷", "channel": "phone",
}  # fmt: skip
PROOF = {"proof_provided": True, "proof_type": "invoice", "purchase_date": "2024-01-15"}


def workflows(parts: int = 72, labour: int = 72) -> dict[str, bytes]:
    files = read_directory(WORKFLOWS)
    table = files[POLICY].decode("utf-8")
    current = AIR_CONDITIONER_RULE.format(parts=72, labour=72)
    assert current in table, "the test edits the 空调 rule of the policy table"
    files[POLICY] = table.replace(current, AIR_CONDITIONER_RULE.format(parts=parts, labour=labour)).encode("utf-8")
    return files


@pytest.fixture
def eng(db, clock):
    e = make_engine(db, clock, ref=DatabaseReferenceData(db, max_age=0))
    for kind, text in demo_csv_texts().items():
        e.import_reference(kind, text)
    return e


@pytest.fixture
def kefu(db):
    return make_user(db, "kefu", "customer_service")


def sources_of(db, process_id: str) -> list[list[str]]:
    with db.read() as s:
        rows = s.scalars(select(Definition).where(Definition.process_id == process_id).order_by(Definition.version))
        return [sorted(d.sources) for d in rows]


def test_the_policy_table_is_deployed_with_the_work_order_process(eng, db):
    eng.deploy(workflows())
    assert POLICY in sources_of(db, "work_order")[0]


def test_a_changed_table_alone_makes_a_new_version_an_unchanged_one_does_not(eng, db):
    assert ("work_order", 1) in [(d.process_id, d.version) for d in eng.deploy(workflows()).deployed]
    assert eng.deploy(workflows()).deployed == ()
    changed = eng.deploy(workflows(parts=12, labour=12))
    assert [(d.process_id, d.version) for d in changed.deployed] == [("work_order", 2)]  # only the caller
    assert len(sources_of(db, "work_order")) == 2


def test_the_table_decides_the_periods_of_the_order(eng, kefu):
    eng.deploy(workflows())
    started = eng.start("work_order", ORDER, actor=kefu)
    data = eng.get_instance(started.instance_id).data
    assert data["product"]["category"] == "空调"
    assert data["warranty_policy"] == {"parts_months": 72, "labour_months": 72}
    assert (data["warranty"]["category"], data["warranty"]["warranty_until"]) == ("C", "2030-01-15")


def test_a_category_missing_from_the_table_keeps_the_catalog_months(eng, kefu):
    eng.import_reference("product", "model,category,name,warranty_months\nJSJ-100,净水器,净水器,36\n")
    eng.deploy(workflows())
    started = eng.start("work_order", {**ORDER, "product_model": "JSJ-100"}, actor=kefu)
    data = eng.get_instance(started.instance_id).data
    assert data["warranty_policy"] == {"parts_months": None, "labour_months": None}
    assert (data["warranty"]["category"], data["warranty"]["warranty_until"]) == ("C", "2027-01-15")


def test_after_a_redeploy_new_orders_use_the_new_table_and_running_orders_keep_theirs(eng, kefu):
    eng.deploy(workflows(parts=72, labour=72))
    running = eng.start("work_order", {**ORDER, "purchase_date": None}, actor=kefu)
    assert eng.get_instance(running.instance_id).data["warranty"]["decided"] is False

    redeployed = eng.deploy(workflows(parts=12, labour=12))
    assert [(d.process_id, d.version) for d in redeployed.deployed] == [("work_order", 2)]

    new = eng.start("work_order", {**ORDER, "work_order_no": "WO-20260302-0102"}, actor=kefu)
    new_data = eng.get_instance(new.instance_id).data
    assert eng.get_instance(new.instance_id).definition_version == 2
    assert new_data["warranty_policy"] == {"parts_months": 12, "labour_months": 12}
    assert (new_data["warranty"]["category"], new_data["warranty"]["rule"]) == ("A", "expired")

    # the running order reaches the decision again only now, after the redeploy
    proof = next(t for t in eng.queue(kefu).items if t.instance_id == running.instance_id)
    assert proof.element_id == "request_purchase_proof"
    eng.complete(proof.id, PROOF, actor=kefu)
    old = eng.get_instance(running.instance_id)
    assert old.definition_version == 1
    assert old.data["warranty_policy"] == {"parts_months": 72, "labour_months": 72}
    assert (old.data["warranty"]["category"], old.data["warranty"]["rule"]) == ("C", "warranty_period")
