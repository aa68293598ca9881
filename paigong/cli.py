"""The ``paigong`` command: init, deploy, import, demo, serve, worker, bench."""

from __future__ import annotations

import os
import sys

import click
from flask.cli import FlaskGroup


def _create_app():
    from web import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """派工 paigong — after-sales dispatch on BPMN."""


def _engine():
    from flask import current_app

    return current_app.extensions["paigong"]


@main.command("init")
def init_command() -> None:
    """Create or upgrade the database and the standard groups."""
    from engine.schema import upgrade

    eng = _engine()
    click.echo(f"数据库: {_safe_url(eng.db.url)}")
    upgrade(eng.db)
    click.echo("数据库已是最新结构，标准员工组已就绪。")


@main.command("deploy")
@click.argument("path", required=False)
def deploy_command(path: str | None) -> None:
    """Validate and deploy workflows/ (or PATH)."""
    from flask import current_app

    from engine import DeployError

    path = path or current_app.config["WORKFLOWS"]
    click.echo(f"部署 {path} ...")
    try:
        result = _engine().deploy_directory(path)
    except DeployError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    for d in result.deployed:
        click.echo(f"  新版本  {d.process_id} v{d.version}  ({d.name})")
    for d in result.unchanged:
        click.echo(f"  未改变  {d.process_id} v{d.version}")
    click.echo(f"完成: {len(result.deployed)} 个新版本, {len(result.unchanged)} 个未改变。")


REFERENCE_KINDS = ("product", "special_sale", "contract", "part", "fee", "technician")


@main.command("import")
@click.argument("kind", type=click.Choice(REFERENCE_KINDS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--replace", is_flag=True, help="Make the table equal the file: rows missing from it are removed.")
def import_command(kind: str, file: str, replace: bool) -> None:
    """Import reference data of KIND from the CSV FILE (UTF-8 or GBK).

    Upsert: each row is added, or updates the row with the same key (product model,
    serial number, contract number, part code, order type and fee kind (plus the code of
    a material), technician id); rows not in the file stay unless --replace is given.
    The file is checked first and imported in one transaction: with any bad row, each
    one is reported with its line number and column, and nothing is imported.
    """
    from engine import InvalidInput
    from tasks.refcsv import KIND_NAMES

    name = KIND_NAMES[kind]
    click.echo(f"导入{name}：{file}{'（替换整表）' if replace else ''} ...")
    with open(file, "rb") as fh:
        data = fh.read()
    try:
        result = _engine().import_reference(kind, data, replace=replace)
    except InvalidInput as exc:
        click.echo(exc.message, err=True)
        for field, problem in exc.fields.items():
            if problem not in exc.message:
                click.echo(f"  {field}: {problem}", err=True)
        sys.exit(1)
    summary = f"新增 {result.created} 条，更新 {result.updated} 条，未变 {result.unchanged} 条"
    if replace:
        summary += f"，删除 {result.removed} 条"
    click.echo(f"完成：文件共 {result.count} 条{name}；{summary}。")


@main.command("demo")
def demo_command() -> None:
    """Load demo users, reference data and a few live orders."""
    from web.demo import load_demo

    for line in load_demo(_engine()):
        click.echo(line)


@main.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve_command(host: str, port: int) -> None:
    """Development server on 127.0.0.1:5000."""
    from flask import current_app
    from werkzeug.serving import run_simple

    click.echo(f"paigong 运行于 http://{host}:{port}/")
    run_simple(host, port, current_app._get_current_object(), threaded=True, use_reloader=False)


@main.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option("--interval", default=1.0, type=float, help="Seconds between polls.")
def worker_command(once: bool, interval: float) -> None:
    """Fire due timers, retry failed steps, deliver notifications."""
    from engine.worker import run_worker

    run_worker(_engine(), once=once, interval=interval, echo=click.echo)


@main.command("bench", with_appcontext=False)
@click.option("--quick", is_flag=True, help="Smaller sizes and shorter loads; a few minutes.")
@click.option("--tiny", is_flag=True, help="Seconds: proves the machinery, measures nothing worth quoting.")
@click.option("--only", "only", multiple=True, help="Run only this figure (repeatable): throughput, history, "
              "inbox, http, timers, memory, scaleout.")
@click.option("--out", default=None, help="Folder for results.json, RESULTS.md and growth.svg (default: bench/).")
def bench_command(quick: bool, tiny: bool, only: tuple[str, ...], out: str | None) -> None:
    """Run the benchmark suite; write bench/results.json and bench/RESULTS.md."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import suite

    try:
        suite.run(quick=quick, tiny=tiny, only=list(only) or None, out_dir=out or os.path.join(root, "bench"),
                  echo=click.echo)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return scheme + "://***@" + rest.split("@", 1)[1]
    return url


from paigong import cli_tokens  # noqa: E402,F401 - registers `paigong token` and `paigong schedule`

from paigong import cli_backup  # noqa: E402,F401  # isort: skip - registers `paigong backup`, `paigong restore`

from paigong import cli_model  # noqa: E402,F401  # isort: skip - registers `paigong test-model`
