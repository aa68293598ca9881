"""``paigong import KIND FILE`` and the reference data of ``paigong demo``, on a fresh SQLite database."""

from __future__ import annotations

import pytest

from paigong.cli import main
from tasks.refcsv import demo_csv_texts, parse_csv
from tests.tasks.factories import BAD_CSV
from web import create_app

DEMO_CSV = demo_csv_texts()


@pytest.fixture
def cli(tmp_path):
    app = create_app(test_config={
        "TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite3",
        "UPLOAD_DIR": str(tmp_path / "uploads"), "TRANSLATIONS_BUILD_DIR": str(tmp_path / "translations"),
    })
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(main, list(args))

    assert run("init").exit_code == 0
    yield run, app.extensions["paigong"]
    app.extensions["paigong"].db.dispose()


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", sorted(DEMO_CSV))
def test_import_loads_each_kind_and_prints_a_summary(cli, tmp_path, kind):
    run, engine = cli
    count = len(parse_csv(kind, DEMO_CSV[kind]))
    result = run("import", kind, write(tmp_path, f"{kind}.csv", DEMO_CSV[kind]))
    assert result.exit_code == 0, result.output
    assert f"文件共 {count} 条" in result.output and f"新增 {count} 条" in result.output
    assert engine.reference_counts()[kind] == count

    again = run("import", kind, write(tmp_path, f"{kind}.csv", DEMO_CSV[kind]))
    assert f"新增 0 条，更新 0 条，未变 {count} 条" in again.output


@pytest.mark.parametrize("kind", sorted(BAD_CSV))
def test_a_malformed_row_is_reported_with_its_line_and_nothing_is_imported(cli, tmp_path, kind):
    run, engine = cli
    run("import", kind, write(tmp_path, "demo.csv", DEMO_CSV[kind]))
    before = engine.reference_counts()
    text, column = BAD_CSV[kind]
    result = run("import", kind, write(tmp_path, "bad.csv", text))
    assert result.exit_code == 1
    assert f"第 3 行，{column}" in result.output and "未导入任何数据" in result.output
    assert engine.reference_counts() == before
    rerun = run("import", kind, write(tmp_path, "demo.csv", DEMO_CSV[kind]))
    assert "更新 0 条" in rerun.output  # line 2 of the bad file changed nothing either


def test_replace_is_an_option_and_reports_removed_rows(cli, tmp_path):
    run, engine = cli
    run("import", "part", write(tmp_path, "parts.csv", DEMO_CSV["part"]))
    result = run("import", "part", "--replace", write(tmp_path, "one.csv", "code,name,price,stock\nP-1,配件,1.00,1\n"))
    assert result.exit_code == 0 and "删除 22 条" in result.output
    assert engine.reference_counts()["part"] == 1


def test_unknown_kinds_and_missing_files_are_usage_errors(cli, tmp_path):
    run, _ = cli
    assert run("import", "customer", write(tmp_path, "x.csv", "a\n")).exit_code == 2
    assert run("import", "part", str(tmp_path / "missing.csv")).exit_code == 2


def test_demo_loads_the_reference_data_once(cli):
    run, engine = cli
    first = run("demo")
    assert first.exit_code == 0, first.output
    assert "产品型号 17 条" in first.output
    counts = engine.reference_counts()
    assert all(counts.values())
    second = run("demo")
    assert "演示参考数据: 已存在，未改动" in second.output
    assert engine.reference_counts() == counts
