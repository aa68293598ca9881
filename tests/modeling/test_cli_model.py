"""`paigong test-model`: every scenario file under a folder, exit code 1 on any failure."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from paigong.cli import main
from tests.conftest import WORKFLOWS
from tests.web.conftest import copy_database, make_app, template_db  # noqa: F401 - fixture


@pytest.fixture
def run(tmp_path, clock, template_db):  # noqa: F811 - the fixture imported above
    db_path = str(tmp_path / "cli.sqlite3")
    copy_database(template_db, db_path)
    app = make_app(tmp_path, clock, db_path)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app), catch_exceptions=False)

    yield invoke
    app.extensions["paigong"].db.dispose()


def test_the_shipped_scenarios_pass(run):
    result = run("test-model", WORKFLOWS)
    assert result.exit_code == 0, result.output
    assert "运行 work_order.scenarios.json" in result.output and "运行 appliance_service.scenarios.json" in result.output
    assert "0 个失败" in result.output and result.output.count("✓") >= 5


def test_a_failing_scenario_exits_1_with_its_divergence(run, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(WORKFLOWS, folder, ignore=shutil.ignore_patterns("*.scenarios.json"))
    with open(f"{WORKFLOWS}/work_order.scenarios.json", encoding="utf-8") as fh:
        suite = json.load(fh)
    suite["scenarios"][0]["expect"]["path"] = ["dispatch", "no_such_step"]
    (folder / "work_order.scenarios.json").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    (folder / "broken.scenarios.json").write_text("{not json", encoding="utf-8")
    result = run("test-model", str(folder))
    assert result.exit_code == 1
    assert "✗ 保养单" in result.output and "no_such_step" in result.output and "路径：" in result.output
    assert "broken.scenarios.json: 不是有效的 JSON" in result.output
    one = run("test-model", str(folder / "work_order.scenarios.json"), "-v")
    assert one.exit_code == 1 and "✓ 接单超时" in one.output


def test_a_folder_without_scenarios_says_so(run, tmp_path):
    result = run("test-model", str(tmp_path))
    assert result.exit_code == 0 and "没有 *.scenarios.json" in result.output
