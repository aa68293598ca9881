"""The paigong commands, run as a user would (through the CLI runner, on a fresh SQLite file)."""

from __future__ import annotations

import os
import shutil

import pytest

from paigong.cli import main
from tests.conftest import WORKFLOWS


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIGONG_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    monkeypatch.setenv("PAIGONG_WORKFLOWS", WORKFLOWS)
    monkeypatch.setenv("PAIGONG_SECRET_KEY", "test-secret")
    from click.testing import CliRunner

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_init_deploy_demo_and_worker_set_up_a_working_installation(run):
    assert "标准员工组" in run("init").output
    first = run("deploy")
    assert first.exit_code == 0 and "新版本  work_order v1" in first.output
    again = run("deploy")
    assert "未改变  work_order v1" in again.output
    demo = run("demo")
    assert "演示用户: 新建 17 个" in demo.output and "演示工单: 新建 2 个" in demo.output
    assert "演示用户: 新建 0 个" in run("demo").output  # safe to run again
    assert run("worker", "--once").exit_code == 0


def test_deploy_refuses_a_broken_folder_with_the_element_named(run, tmp_path):
    run("init")
    broken = tmp_path / "broken"
    broken.mkdir()
    with open(os.path.join(WORKFLOWS, "work_order.bpmn"), encoding="utf-8") as fh:
        source = fh.read()
    (broken / "work_order.bpmn").write_text(
        source.replace('id="check_warranty"', 'id="no_such_operator"', 1), encoding="utf-8")
    shutil.copy(os.path.join(WORKFLOWS, "warranty_policy.dmn"), broken)  # the process calls its decision
    result = run("deploy", str(broken))
    assert result.exit_code == 1
    assert "warranty_check" in result.output and "no_such_operator" in result.output
