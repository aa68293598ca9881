"""``paigong token`` (API tokens) and ``paigong schedule`` (periodic maintenance and testing orders)."""

from __future__ import annotations

import sys

import click

from paigong.cli import _engine, main


def _fail(exc) -> None:
    click.echo(exc.message, err=True)
    for name, problem in getattr(exc, "fields", {}).items():
        click.echo(f"  {name}: {problem}", err=True)
    sys.exit(1)


@main.group("token")
def token_group() -> None:
    """API bearer tokens: create (shown once), list, revoke."""


@token_group.command("create")
@click.option("--user", "username", help="The token acts as this user (with the user's groups and roles).")
@click.option("--integration", help="Or: an integration's name; it acts with --group/--role.")
@click.option("--group", "groups", multiple=True, help="A group of the integration (repeatable).")
@click.option("--role", "roles", multiple=True, help="A role of the integration (repeatable): staff, admin, analyst.")
@click.option("--name", default="", help="A label to recognise the token by.")
def token_create(username, integration, groups, roles, name) -> None:
    """Create a token for a user or an integration; the secret is printed once and stored hashed."""
    from engine import EngineError

    try:
        view, secret = _engine().create_token(username=username, integration=integration, groups=tuple(groups),
                                              roles=tuple(roles), name=name)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"令牌 #{view.id}（{view.name}）已创建。请立即保存，它不会再次显示：")
    click.echo(secret)


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    from engine import EngineError

    try:
        view = _engine().revoke_token(token_id)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"令牌 #{view.id}（{view.name}）已吊销。")


@token_group.command("list")
def token_list() -> None:
    """Tokens with their owner, creation, last use and state (never the secret)."""
    for t in _engine().tokens():
        owner = f"用户 {t.username}" if t.username else f"集成 {t.integration} [{','.join(t.groups)}]"
        state = "已吊销" if t.revoked_at else "有效"
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "未使用"
        click.echo(f"#{t.id}  {t.prefix}…  {t.name}  {owner}  {state}  最近使用 {used}")


@main.group("schedule")
def schedule_group() -> None:
    """Periodic maintenance and metrology testing: units, their intervals, the orders they open."""


@schedule_group.command("add")
@click.option("--kind", type=click.Choice(["maintenance", "testing"]), required=True)
@click.option("--serial", "serial_no", required=True)
@click.option("--model", "product_model", required=True)
@click.option("--customer", "customer_name", required=True)
@click.option("--phone", "customer_phone", required=True)
@click.option("--address", required=True)
@click.option("--zone", type=click.Choice(["in_city", "out_of_city"]), default="in_city")
@click.option("--every", "interval_months", type=int, required=True, help="Interval in months.")
@click.option("--next-due", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First due date (YYYY-MM-DD).")
@click.option("--until", "end_date", type=click.DateTime(["%Y-%m-%d"]), help="Last possible due date (YYYY-MM-DD).")
@click.option("--purchased", "purchase_date", type=click.DateTime(["%Y-%m-%d"]), help="Purchase date (YYYY-MM-DD).")
def schedule_add(kind, serial_no, product_model, customer_name, customer_phone, address, zone, interval_months,
                 next_due, end_date, purchase_date) -> None:
    """Put a unit under periodic maintenance or testing (starts its service_plan process)."""
    from engine import EngineError

    try:
        s = _engine().add_schedule(kind=kind, serial_no=serial_no, product_model=product_model,
                                   customer_name=customer_name, customer_phone=customer_phone, address=address,
                                   zone=zone, interval_months=interval_months, next_due=next_due.date(),
                                   end_date=end_date.date() if end_date else None,
                                   purchase_date=purchase_date.date() if purchase_date else None)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"计划 {s.plan_no}：{s.serial_no} 每 {s.interval_months} 个月{'保养' if kind == 'maintenance' else '检测'}，"
               f"下次 {s.next_due}{f'，截止 {end_date.date()}' if end_date else ''}（到期由 paigong worker 开单）")


@schedule_group.command("list")
@click.option("--all", "include_ended", is_flag=True, help="Also ended and cancelled plans.")
def schedule_list(include_ended: bool) -> None:
    """Plans with their next due date and the last order each opened."""
    views = _engine().schedules(include_ended=include_ended)
    for s in views:
        state = "" if s.active else "  已结束"
        click.echo(f"#{s.id}  {s.plan_no}  {s.kind}  {s.serial_no}  {s.customer_name}  每 {s.interval_months} 月"
                   f"  下次 {s.next_due}  已开 {len(s.due_dates_opened)} 单  上次工单 {s.last_work_order_no or '-'}{state}")
    if not views:
        click.echo("没有保养/检测计划。")


@schedule_group.command("cancel")
@click.argument("schedule_id", type=int)
@click.option("--reason", required=True, help="Why the plan stops (kept in the audit log).")
def schedule_cancel(schedule_id: int, reason: str) -> None:
    """Stop a plan; orders it already opened stay open."""
    from engine import EngineError

    try:
        s = _engine().cancel_schedule(schedule_id, reason=reason)
    except EngineError as exc:
        _fail(exc)
    click.echo(f"计划 {s.plan_no} 已取消。")
