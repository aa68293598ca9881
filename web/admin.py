"""The admin console: dashboard, instances (search, bulk actions, detail and repairs), heatmap.

Every page and every POST of this blueprint and its children (reports, reference data and
users) is for the ``admin`` role only: anonymous users are sent to log in, everyone else
gets 403. Each view parses input, makes one engine call, then renders or redirects.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from engine import InvalidInput
from engine.admin_queries import AdminInstanceFilter
from web import labels
from web.auth import current_actor
from web.formatting import zone
from web.i18n import engine_text, label
from web.labels import N_

bp = Blueprint("admin", __name__, url_prefix="/admin")

STATUSES = tuple(labels.INSTANCE_STATUS)
SORTS = ("started", "updated", "business_key", "status")
PER_PAGE = 25
BULK_ACTIONS = {"suspend": N_("挂起"), "resume": N_("恢复"), "terminate": N_("终止"), "retry": N_("重试")}
# audit events of the console's own verbs (the staff pages know the others)
ADMIN_EVENTS = {"token_moved": N_("移动令牌"), "step_skipped": N_("跳过出错步骤"), "user_changed": N_("修改用户"),
                "group_saved": N_("保存员工组")}


def _engine():
    return current_app.extensions["paigong"]


@bp.before_request
def _admins_only():
    """Log in first; then only the admin role passes (every page and POST below /admin)."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_actor().is_admin:
        abort(403)


def _reason() -> str:
    return (request.form.get("reason") or "").strip()[:500]


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD in the company's time zone as the start of that day (``end``: of the next day)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return None
    start = day.replace(tzinfo=zone())
    return start + timedelta(days=1) if end else start


def instance_filter(args) -> AdminInstanceFilter:
    """The instance filter from query arguments; unknown values are ignored, not errors."""
    def flag(name: str) -> bool:
        return args.get(name) in ("1", "on", "true")

    def text(name: str, size: int = 64) -> str | None:
        return (args.get(name) or "").strip()[:size] or None

    try:
        page = min(max(1, int(args.get("page", 1))), 100000)
    except ValueError:
        page = 1
    try:
        version = int(args["version"]) if args.get("version") else None
    except ValueError:
        version = None
    status = args.get("status")
    return AdminInstanceFilter(
        process_id=text("process", 128), version=version, status=status if status in STATUSES else None,
        started_from=_day(args.get("started_from")), started_to=_day(args.get("started_to"), end=True),
        business_key=text("q"), customer=text("customer"), technician=text("technician"),
        overdue=flag("overdue"), has_incident=flag("has_incident"),
        sort=args.get("sort") if args.get("sort") in SORTS else "started", descending=args.get("dir") != "asc",
        page=page, per_page=PER_PAGE,
    )


# -- dashboard -----------------------------------------------------------------------------------


@bp.get("/")
def dashboard():
    """How the service is doing: open orders, SLA compliance, overdue steps, quality, workload, incidents."""
    engine = _engine()
    board = engine.dashboard(tz=zone())
    open_statuses = ("running", "waiting", "suspended", "error")
    charts = {
        "status": [(label(labels.INSTANCE_STATUS, s), board.by_status.get(s, 0), url_for("admin.instances", status=s))
                   for s in open_statuses],
        "groups": [(label(labels.GROUPS, g), n, None)
                   for g, n in sorted(board.by_group.items(), key=lambda item: -item[1])],
        "hours": [(label(labels.ORDER_TYPES, t) if t else gettext("未分类"), hours, None)
                  for t, (_count, hours) in board.completion_hours.items()],
        "workload": [((tech or gettext("组队列")) + (f" ⚠{late}" if late else ""), n,
                      url_for("admin.instances", technician=tech) if tech else None)
                     for tech, n, late in board.workload[:15]],
    }
    return render_template("admin/dashboard.html", board=board, charts=charts, processes=engine.process_versions())


# -- instances -----------------------------------------------------------------------------------


@bp.get("/instances")
def instances():
    """The instance list: server-side search, filters, sort and pages; bulk actions on a selection."""
    engine = _engine()
    flt = instance_filter(request.args)
    page = engine.admin_instances(flt)
    pages = max(1, (page.total + page.per_page - 1) // page.per_page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/instances.html", page=page, flt=flt, pages=pages, args=args,
                           processes=engine.process_versions(), actions=BULK_ACTIONS,
                           back=request.full_path.rstrip("?"))


@bp.post("/instances/bulk")
def bulk():
    """Suspend, resume, terminate or retry the selected instances (or all matching, up to 500), with a reason."""
    engine, actor = _engine(), current_actor()
    action = request.form.get("action", "")
    back = _local(request.form.get("back"), url_for("admin.instances"))
    if request.form.get("all_matching") == "1":
        from urllib.parse import parse_qs, urlsplit

        query = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
        ids = engine.admin_instance_ids(instance_filter(query))
    else:
        ids = [int(v) for v in request.form.getlist("ids") if v.isdigit()]
    try:
        outcome = engine.bulk(action, ids, actor=actor, reason=_reason())
    except InvalidInput as exc:
        for text in exc.fields.values():
            flash(engine_text(text), "error")
        return redirect(back)
    done = [i for i, error in outcome.items() if error is None]
    failed = {i: error for i, error in outcome.items() if error is not None}
    verb = gettext(BULK_ACTIONS.get(action, action))
    if done:
        flash(gettext("%(verb)s：%(n)s 个流程实例已处理", verb=verb, n=len(done)), "success")
    for instance_id, error in list(failed.items())[:10]:
        flash(gettext("实例 %(id)s 未处理：%(error)s", id=instance_id, error=engine_text(error)), "error")
    if len(failed) > 10:
        flash(gettext("另有 %(n)s 个实例未处理", n=len(failed) - 10), "error")
    return redirect(back)


@bp.get("/instances/<int:instance_id>")
def instance(instance_id: int):
    """One instance in depth: diagram, tasks, variables, incidents, timers, messages and the audit log."""
    engine = _engine()
    detail = engine.instance_detail(instance_id)
    return render_instance(detail)


def render_instance(detail, status: int = 200, errors=None, values=None):
    from web.pages import timeline

    engine = _engine()
    targets = engine.move_targets(detail.row.id) if detail.row.status in ("running", "waiting", "error") else []
    variables = sorted((k, json.dumps(v, ensure_ascii=False, indent=1 if isinstance(v, dict | list) else None))
                       for k, v in detail.data.items())
    return render_template(
        "admin/instance.html", d=detail, row=detail.row, variables=variables, targets=targets,
        timeline=timeline(detail.history, detail.element_names), events=detail.history,
        has_viewer=_has_viewer(), errors=errors or {}, values=values or {},
    ), status


def _has_viewer() -> bool:
    vendor = os.path.join(current_app.static_folder or "", "vendor", "bpmn-navigated-viewer.production.min.js")
    return os.path.exists(vendor)


@bp.get("/instances/<int:instance_id>/diagram")
def diagram(instance_id: int):
    """The BPMN XML with the instance's active, completed and failed elements and run counts."""
    d = _engine().diagram(instance_id)
    response = jsonify(xml=d.xml, active=list(d.active), completed=list(d.completed), failed=list(d.failed),
                       counts=d.counts, process_id=d.process_id, version=d.version)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _done(instance_id: int, message: str):
    flash(message, "success")
    return redirect(url_for("admin.instance", instance_id=instance_id))


def _needs_reason(instance_id: int, action: str):
    detail = _engine().instance_detail(instance_id)
    return render_instance(detail, 400, {action: gettext("请填写原因")})


@bp.post("/instances/<int:instance_id>/<any(suspend, resume, terminate):action>")
def status_action(instance_id: int, action: str):
    """Suspend, resume or terminate one instance, with a reason for the audit log."""
    reason = _reason()
    if not reason:
        return _needs_reason(instance_id, action)
    getattr(_engine(), action)(instance_id, actor=current_actor(), reason=reason)
    return _done(instance_id, gettext("%(verb)s：已完成", verb=gettext(BULK_ACTIONS[action])))


@bp.post("/instances/<int:instance_id>/retry")
def retry(instance_id: int):
    """Run the failed step again (after the data was fixed)."""
    result = _engine().retry_incident(instance_id, actor=current_actor(), reason=_reason())
    if result.status == "error":
        flash(gettext("重试后仍然出错，请查看故障信息"), "error")
        return redirect(url_for("admin.instance", instance_id=instance_id))
    return _done(instance_id, gettext("已重试，流程继续运行"))


@bp.post("/instances/<int:instance_id>/skip")
def skip(instance_id: int):
    """Mark the failed step done without running it, and continue."""
    reason = _reason()
    if not reason:
        return _needs_reason(instance_id, "skip")
    _engine().skip_failed(instance_id, actor=current_actor(), reason=reason)
    return _done(instance_id, gettext("已跳过出错的步骤"))


@bp.post("/instances/<int:instance_id>/variables")
def variables(instance_id: int):
    """Change one variable of the instance (JSON, or plain text), with a reason for the audit log."""
    engine = _engine()
    name = (request.form.get("name") or "").strip()[:128]
    raw = request.form.get("value") or ""
    reason = _reason()
    errors = {}
    if not name:
        errors["name"] = gettext("请填写变量名")
    if not reason:
        errors["variables"] = gettext("请填写原因")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if not errors:
        try:
            engine.update_variables(instance_id, {name: value}, actor=current_actor(), reason=reason)
        except InvalidInput as exc:
            errors = {"variables": "；".join(engine_text(v) for v in exc.fields.values()) or engine_text(exc.message)}
    if errors:
        return render_instance(engine.instance_detail(instance_id), 400, errors,
                               {"name": name, "value": raw, "reason": reason})
    return _done(instance_id, gettext("变量 %(name)s 已修改", name=name))


@bp.post("/instances/<int:instance_id>/move")
def move(instance_id: int):
    """Cancel the active step and continue at another element of the same diagram, with a reason."""
    engine = _engine()
    element_id = (request.form.get("element_id") or "").strip()[:128]
    reason = _reason()
    errors = {}
    if not element_id:
        errors["move"] = gettext("请选择目标步骤")
    elif not reason:
        errors["move"] = gettext("请填写原因")
    if not errors:
        try:
            result = engine.move_token(instance_id, element_id, actor=current_actor(), reason=reason)
        except InvalidInput as exc:
            errors = {"move": engine_text(exc.message)}
    if errors:
        return render_instance(engine.instance_detail(instance_id), 400, errors,
                               {"element_id": element_id, "move_reason": reason})
    names = ", ".join(t.name for t in result.open_tasks) or element_id
    return _done(instance_id, gettext("令牌已移动，当前步骤：%(names)s", names=names))


# -- heatmap -------------------------------------------------------------------------------------


@bp.get("/heatmap/<process_id>")
def heatmap(process_id: str):
    """A process diagram coloured by how often each element ran, with the mean time spent in user tasks."""
    try:
        version = int(request.args["version"]) if request.args.get("version") else None
    except ValueError:
        version = None
    heat = _engine().heatmap(process_id, version)
    top = max((e.passes for e in heat.elements), default=0)
    data = {"xml": heat.xml, "elements": [
        {"id": e.element_id, "passes": e.passes, "level": _level(e.passes, top),
         "mean": _duration(e.mean_seconds)} for e in heat.elements]}
    return render_template("admin/heatmap.html", heat=heat, data=data, has_viewer=_has_viewer(),
                           duration=_duration)


def _level(passes: int, top: int) -> int:
    return 0 if not top else max(1, min(5, 1 + int(4 * passes / top)))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 3600:
        return gettext("%(n)s 分钟", n=max(1, round(seconds / 60)))
    if seconds < 86400 * 2:
        return gettext("%(n)s 小时", n=round(seconds / 3600, 1))
    return gettext("%(n)s 天", n=round(seconds / 86400, 1))


# -- helpers -------------------------------------------------------------------------------------


def _local(target: str | None, fallback: str) -> str:
    """A path on this site below /admin to go back to (never another site)."""
    if not target or not target.startswith("/admin") or target.startswith("//") or "\\" in target:
        return fallback
    return target


def page_url(args: dict, page: int) -> str:
    return url_for("admin.instances") + "?" + urlencode({**args, "page": page})


bp.add_app_template_global(page_url, "admin_page_url")


def event_label(kind: str) -> str:
    return label({**labels.EVENTS, **ADMIN_EVENTS}, kind)


bp.add_app_template_global(event_label, "event_label")


@bp.app_template_filter("admin_json")
def admin_json(value) -> str:
    """Audit data and messages as compact JSON that keeps Chinese readable (escaped by the template)."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))


# the console's sections; their pages pass the same admin check (nested blueprints)
from web import admin_data, admin_reports  # noqa: E402

bp.register_blueprint(admin_reports.bp)
bp.register_blueprint(admin_data.bp)
