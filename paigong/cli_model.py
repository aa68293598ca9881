"""``paigong test-model``: run the analysts' scenario files (``*.scenarios.json``) against the
models beside them, each scenario in a throw-away database (see :mod:`engine.scenarios`)."""

from __future__ import annotations

import json
import os
import sys

import click

from paigong.cli import _engine, main


def scenario_files(path: str) -> list[str]:
    """Every ``*.scenarios.json`` below ``path`` (or ``path`` itself when it is one)."""
    if os.path.isfile(path):
        return [path]
    found = []
    for folder, _dirs, names in os.walk(path):
        found.extend(os.path.join(folder, n) for n in sorted(names) if n.endswith(".scenarios.json"))
    return sorted(found)


@main.command("test-model")
@click.argument("path", required=False)
@click.option("--verbose", "-v", is_flag=True, help="Show the path of every scenario, not only of failed ones.")
def test_model_command(path: str | None, verbose: bool) -> None:
    """Run the scenario tests of workflows/ (or PATH: a folder or one .scenarios.json file)."""
    from flask import current_app

    from engine import EngineError
    from engine.deploy import read_directory

    path = path or current_app.config["WORKFLOWS"]
    folder = os.path.dirname(path) if os.path.isfile(path) else path
    if not os.path.isdir(folder):
        click.echo(f"没有目录 {folder}", err=True)
        sys.exit(2)
    files = {name: data.decode("utf-8", "replace") for name, data in read_directory(folder).items()}
    suites = scenario_files(path)
    if not suites:
        click.echo(f"{path} 下没有 *.scenarios.json 场景文件。")
        return
    engine = _engine()
    passed = failed = 0
    for suite_path in suites:
        shown = os.path.relpath(suite_path, folder)
        try:
            with open(suite_path, encoding="utf-8") as fh:
                suite = json.load(fh)
        except (OSError, ValueError) as exc:
            click.echo(f"✗ {shown}: 不是有效的 JSON：{exc}")
            failed += 1
            continue
        count = len(suite.get("scenarios", [])) if isinstance(suite, dict) else len(suite) if isinstance(suite, list) else 1
        click.echo(f"运行 {shown}（{count} 个场景）…")
        try:
            results = engine.run_model_scenarios(files, suite, merge_workspace=False)
        except EngineError as exc:
            click.echo(f"  ✗ {exc.message}")
            for name, problem in getattr(exc, "fields", {}).items():
                click.echo(f"      {name}: {problem}")
            failed += 1
            continue
        for r in results:
            if r.passed:
                passed += 1
                click.echo(f"  ✓ {r.name}")
            else:
                failed += 1
                click.echo(f"  ✗ {r.name}：{r.message}")
            if verbose or not r.passed:
                click.echo(f"      路径：{' → '.join(r.path) or '（无）'}")
                if r.open_tasks:
                    click.echo(f"      打开的任务：{', '.join(r.open_tasks)}")
    click.echo(f"完成：{passed} 个通过，{failed} 个失败。")
    if failed:
        sys.exit(1)
