"""The staff inbox: my tasks, my groups' queue, done by me; the task page and its actions.

Each view parses input, makes one engine call (a write makes a read first for the form's
schema), then renders or redirects. Engine errors become status codes in ``web.security``.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from flask_login import login_required

from engine import InvalidInput, NotAllowed, NotFound, TaskFilter
from web import labels, schema_form, uploads
from web.auth import current_actor
from web.pages import task_context

bp = Blueprint("inbox", __name__)

TABS = ("mine", "queue", "done")
SORTS = ("due_at", "created_at", "work_order_no", "customer_name", "completed_at")
PER_PAGE = 25


def _engine():
    return current_app.extensions["paigong"]


@bp.before_request
@login_required
def _logged_in():
    """Every inbox route needs a logged-in user."""


def task_filter(args) -> TaskFilter:
    """The inbox filter from query arguments; unknown values are ignored, not errors."""
    def flag(name: str) -> bool:
        return args.get(name) in ("1", "on", "true")

    try:
        page = min(max(1, int(args.get("page", 1))), 100000)
    except ValueError:
        page = 1
    order_type = args.get("order_type")
    zone = args.get("zone")
    sort = args.get("sort") if args.get("sort") in SORTS else "due_at"
    return TaskFilter(
        order_type=order_type if order_type in labels.ORDER_TYPES else None,
        zone=zone if zone in labels.ZONES else None,
        overdue=flag("overdue"), due_soon=flag("due_soon"),
        search=(args.get("q") or "").strip()[:64] or None,
        sort=sort, descending=args.get("dir") == "desc", page=page, per_page=PER_PAGE,
    )


@bp.get("/inbox")
def index():
    """One tab of the inbox with its counts, filtered, sorted and paginated on the server."""
    tab = request.args.get("tab") if request.args.get("tab") in TABS else "mine"
    flt = task_filter(request.args)
    engine, actor = _engine(), current_actor()
    lister = {"mine": engine.inbox, "queue": engine.queue, "done": engine.archive}[tab]
    page = lister(actor, flt)
    counts = engine.counts(actor)
    pages = max(1, (page.total + page.per_page - 1) // page.per_page)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("inbox.html", tab=tab, page=page, counts=counts, flt=flt, pages=pages, args=args)


@bp.get("/tasks/<task_id>")
def task(task_id: str):
    """The task page: the order's facts, the form, history and the actions the user may take."""
    page = _engine().task_page(task_id, actor=current_actor())
    return render_task(page)


def render_task(page, values=None, errors=None, status: int = 200, reassign_errors=None, reassign_values=None):
    context = task_context(page, current_actor(), values=values, errors=errors)
    return render_template("task.html", page=page, reassign_errors=reassign_errors or {},
                           reassign_values=reassign_values or {}, **context), status


def _check_may_work(page) -> None:
    """Only the task's holder (or, while nobody holds it, a member of its group) submits its form:
    checked before anything posted is read or an attachment stored (the engine checks again)."""
    t, actor = page.task, current_actor()
    if t.assignee and t.assignee != actor.username:
        raise NotAllowed(f"该任务由 {t.assignee} 处理")  # the engine's words, translated by web.i18n
    if not t.assignee and t.group_id not in actor.groups:
        raise NotAllowed("只有该任务所属组的成员可以处理")


def _form_data(page):
    """The posted form coerced to the schema's types, attachments stored; (data, errors)."""
    data, errors = schema_form.coerce(page.schema, request.form, page.members)
    for key in schema_form.file_fields(page.schema):
        upload = request.files.get(key)
        if upload is not None and upload.filename:
            try:
                stored = uploads.store(upload, instance_id=page.task.instance_id, task_id=page.task.id,
                                       username=current_actor().username, when=_engine().clock.now())
            except uploads.UploadRefused as exc:
                errors[key] = str(exc)
                data.pop(key, None)
                continue
            data[key] = stored.id
        elif key in data:
            kept = uploads.lookup(data[key])
            if kept is None or kept.task_id != page.task.id:
                errors[key] = gettext("附件无效，请重新上传")
                data.pop(key, None)
    return data, errors


@bp.post("/tasks/<task_id>/complete")
def complete(task_id: str):
    """Submit the task's form; invalid input re-renders it with per-field errors and changes nothing."""
    engine, actor = _engine(), current_actor()
    page = engine.task_page(task_id, actor=actor)
    _check_may_work(page)
    data, errors = _form_data(page)
    if errors:
        return render_task(page, data, errors, 400)
    try:
        result = engine.complete(task_id, data, actor=actor)
    except InvalidInput as exc:
        return render_task(page, data, exc.fields, 400)
    flash(gettext("已完成：%(name)s（%(no)s）", name=page.task.name, no=page.task.work_order_no or ""), "success")
    _warn_incident(result)
    return redirect(url_for("inbox.index"))


def _warn_incident(result) -> None:
    if result.incident is not None:
        flash(gettext("您的提交已保存，但随后的自动步骤“%(step)s”出错，已通知管理员处理。",
                      step=result.incident.element_name), "warning")


@bp.post("/tasks/<task_id>/draft")
def draft(task_id: str):
    """Keep what was typed so far without completing the task."""
    engine, actor = _engine(), current_actor()
    page = engine.task_page(task_id, actor=actor)
    _check_may_work(page)
    data, _errors = _form_data(page)
    engine.save_draft(task_id, data, actor=actor)
    flash(gettext("草稿已保存"), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/checkin")
def checkin(task_id: str):
    """One-tap check-in: arrival time now (server clock) and the phone's location when it gave one."""
    engine, actor = _engine(), current_actor()
    page = engine.task_page(task_id, actor=actor)
    _check_may_work(page)
    keys = schema_form.properties(page.schema)
    if "arrived_at" not in keys:
        raise NotFound(gettext("该任务没有签到"))
    from web.formatting import zone

    data = {k: v for k, v in (page.draft or {}).items() if k in keys}
    data["arrived_at"] = engine.clock.now().astimezone(zone()).isoformat(timespec="seconds")
    location = (request.form.get("checkin_location") or "").strip()[:200]
    if location and "checkin_location" in keys:
        data["checkin_location"] = location
    try:
        result = engine.complete(task_id, data, actor=actor)
    except InvalidInput as exc:
        return render_task(page, data, exc.fields, 400)
    flash(gettext("已签到：%(no)s", no=page.task.work_order_no or ""), "success")
    _warn_incident(result)
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/claim")
def claim(task_id: str):
    _engine().claim(task_id, actor=current_actor())
    flash(gettext("已签收任务"), "success")
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id: str):
    _engine().unclaim(task_id, actor=current_actor())
    flash(gettext("任务已退回组队列"), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<task_id>/reassign")
def reassign(task_id: str):
    """A dispatcher hands the task to a named member of its group, with a reason for the audit log."""
    engine, actor = _engine(), current_actor()
    to_user = (request.form.get("to_user") or "").strip()
    reason = (request.form.get("reason") or "").strip()[:500]
    back = request.form.get("back")
    errors = {}
    if not to_user:
        errors["to_user"] = gettext("请选择改派给谁")
    if not reason:
        errors["reason"] = gettext("请填写改派原因")
    if not errors:
        try:
            engine.reassign(task_id, to_user, actor=actor, reason=reason)
        except InvalidInput as exc:
            errors = exc.fields or {"reason": exc.message}
    if errors:
        values = {"to_user": to_user, "reason": reason, "task_id": task_id}
        if back == "order":
            from web.orders import render_order

            instance_id = engine.task_page(task_id, actor=actor).task.instance_id
            return render_order(engine.order_page(instance_id, actor=actor), 400, errors, values)
        return render_task(engine.task_page(task_id, actor=actor), status=400, reassign_errors=errors,
                           reassign_values=values)
    flash(gettext("已改派给 %(user)s", user=to_user), "success")
    if back == "order":
        instance_id = request.form.get("instance_id", type=int)
        if instance_id:
            return redirect(url_for("orders.show", instance_id=instance_id))
    return redirect(url_for("inbox.task", task_id=task_id))


@bp.get("/files/<file_id>")
def attachment(file_id: str):
    """An attachment, only for users who may see its work order."""
    stored = uploads.lookup(file_id)
    if stored is None:
        raise NotFound(gettext("附件不存在"))
    _engine().check_order_access(stored.instance_id, actor=current_actor())
    response = send_file(uploads.path_of(stored), mimetype=stored.content_type, download_name=stored.filename,
                         as_attachment=stored.content_type == "application/pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response

