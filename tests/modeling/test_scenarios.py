"""The analysts' scenario runner: the shipped scenario files pass, a wrong expectation fails with
the point where the path diverged, mocked services answer in turn, bad suites are refused by
field, and the live database is never touched."""

from __future__ import annotations

import copy
import json

import pytest

from engine import InvalidInput
from engine.deploy import read_directory
from engine.models import Definition, Instance
from engine.reference import DatabaseReferenceData
from engine.scenarios import parse_suite
from tests.conftest import WORKFLOWS, make_engine


@pytest.fixture
def eng(sqlite_db, clock):
    return make_engine(sqlite_db, clock, ref=DatabaseReferenceData(sqlite_db))


@pytest.fixture(scope="module")
def files():
    return {name: data.decode() for name, data in read_directory(WORKFLOWS).items()}


def suite(name: str) -> dict:
    with open(f"{WORKFLOWS}/{name}.scenarios.json", encoding="utf-8") as fh:
        return json.load(fh)


def counts(db) -> tuple[int, int]:
    with db.read() as s:
        return s.query(Definition).count(), s.query(Instance).count()


@pytest.mark.parametrize("process", ["work_order", "appliance_service"])
def test_the_shipped_scenarios_pass_and_the_live_database_is_untouched(eng, sqlite_db, files, process):
    before = counts(sqlite_db)
    results = eng.run_model_scenarios(files, suite(process), merge_workspace=False)
    assert len(results) >= 2 and all(r.passed for r in results), [(r.name, r.message) for r in results]
    assert all(r.message == "通过" and r.path for r in results)
    assert counts(sqlite_db) == before == (0, 0)


def test_a_wrong_expected_path_names_the_element_where_it_diverged(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    first = changed["scenarios"][0]
    first["expect"]["path"] = ["dispatch", "handle_accept_overdue", "customer_evaluation"]
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [first]}, merge_workspace=False)
    assert not result.passed and result.divergence == "handle_accept_overdue"
    assert "handle_accept_overdue" in result.message and "从未到达" in result.message
    assert result.path[:2] == ("work_order_created", "prepare_order")


def test_an_answer_for_a_task_that_is_not_open_stops_the_scenario_there(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    first = changed["scenarios"][0]
    first["steps"].insert(1, {"complete": "customer_evaluation", "data": {"stars": 5, "satisfied": True}})
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [first]}, merge_workspace=False)
    assert not result.passed and result.divergence == "第 2 步"
    assert "customer_evaluation 没有打开" in result.message and "accept_task" in result.message


def test_end_state_expectations_are_checked(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    first = changed["scenarios"][0]
    first["expect"] = {"status": "completed", "data": {"warranty": {"category": "A"}}}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [first]}, merge_workspace=False)
    assert not result.passed and result.divergence == "data.warranty"
    second = copy.deepcopy(changed["scenarios"][1])
    second["expect"] = {"open": ["accept_task"]}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [second]}, merge_workspace=False)
    assert not result.passed and result.divergence == "open" and "handle_accept_overdue" in result.message


def test_a_mocked_service_answers_in_turn_and_an_unmocked_one_calls_the_operator(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    third = changed["scenarios"][2]  # undecidable twice: charged service
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [third]}, merge_workspace=False)
    assert result.passed, result.message
    del third["services"]["product_info"]  # the scratch reference data has no products
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [third]}, merge_workspace=False)
    assert not result.passed and result.divergence == "start" and "product_info" in result.message


def test_timers_and_messages_are_driven_by_steps(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    second = changed["scenarios"][1]
    second["steps"][-1] = {"advance": "PT59M"}
    second["expect"] = {"open": ["accept_task"], "not_reached": ["accept_overdue"]}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [second]}, merge_workspace=False)
    assert result.passed, result.message
    second["steps"].append({"message": "urge", "payload": {"note": "客户催单"}})
    second["expect"] = {"path": ["urged", "urge_callback"]}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [second]}, merge_workspace=False)
    assert result.passed, (result.message, result.path)


def test_a_model_that_does_not_deploy_fails_every_scenario_with_the_reason(eng, files):
    broken = dict(files, **{"work_order.bpmn": files["work_order.bpmn"].replace(
        'id="dispatch"', 'id="dispatch" name="派工" xmlns:bad="x"', 1).replace("</bpmn:definitions>", "")})
    results = eng.run_model_scenarios(broken, suite("work_order"), merge_workspace=False)
    assert results and all(not r.passed and r.divergence == "deploy" for r in results)
    assert "部署失败" in results[0].message


@pytest.mark.parametrize("bad, field", [
    ({"scenarios": "x"}, "scenarios"),
    ([1], "scenarios[1]"),
    ([{"start": {}}], "scenarios[1].process"),
    ({"process": "work_order", "scenarios": [{"steps": "x"}]}, "scenarios[1].steps"),
    ({"process": "work_order", "scenarios": [{}] * 201}, "scenarios"),
])
def test_a_malformed_suite_is_refused_naming_the_field(bad, field):
    with pytest.raises(InvalidInput) as info:
        parse_suite(bad)
    assert field in info.value.fields


def test_a_bad_step_or_duration_fails_the_scenario_naming_the_step(eng, files):
    changed = copy.deepcopy(suite("work_order"))
    second = changed["scenarios"][1]
    second["steps"][-1] = {"advance": "two hours"}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [second]}, merge_workspace=False)
    assert not result.passed and result.divergence == "第 2 步" and "ISO-8601" in result.message
    second["steps"][-1] = {"jump": "x"}
    [result] = eng.run_model_scenarios(files, {**changed, "scenarios": [second]}, merge_workspace=False)
    assert not result.passed and "complete、advance 或 message" in result.message
