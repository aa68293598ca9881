"""``paigong backup FILE`` and ``paigong restore FILE`` (see :mod:`engine.backup`)."""

from __future__ import annotations

import sys

import click

from paigong.cli import _engine, _safe_url, main


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def backup_command(file: str) -> None:
    """Write every table of the database to the portable backup FILE (a zip)."""
    from engine.backup import BackupError, backup

    db = _engine().db
    click.echo(f"备份 {_safe_url(db.url)} → {file} ...")
    try:
        summary = backup(db, file)
    except BackupError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    for table in summary.tables:
        if table.rows:
            click.echo(f"  {table.name:28} {table.rows:>9} 行")
    click.echo(f"完成: {len(summary.tables)} 张表, {summary.rows} 行, 结构版本 {summary.revision}。")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace the data of a database that is not empty.")
def restore_command(file: str, force: bool) -> None:
    """Load the backup FILE into this (migrated, empty) database in one transaction.

    Every table file is checked against the backup's row counts and checksums first; the
    target must be initialised (`paigong init`) at the same schema version and hold no data
    beyond the standard groups, unless --force is given.
    """
    from engine.backup import BackupError, restore, summarize

    db = _engine().db
    click.echo(f"恢复 {file} → {_safe_url(db.url)} ...")
    try:
        expected = restore(db, file, force=force)
    except BackupError as exc:
        click.echo(exc.message, err=True)
        sys.exit(1)
    restored = summarize(db)
    if restored.by_table() != expected.by_table():
        differ = sorted(name for name, got in restored.by_table().items() if expected.by_table().get(name) != got)
        click.echo(f"恢复后的数据与备份不一致: {', '.join(differ)}", err=True)
        sys.exit(2)
    click.echo(f"完成: {len(expected.tables)} 张表, {expected.rows} 行；行数与校验和与备份一致。")
