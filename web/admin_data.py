"""Admin pages for reference data (products, special sales, contracts, parts, fees, technicians, with
CSV import and export), the SLA and penalty settings, users and groups.

The admin check of :mod:`web.admin` covers these pages (a nested blueprint).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine import InvalidInput
from web import labels
from web.auth import current_actor
from web.i18n import engine_text
from web.labels import N_

bp = Blueprint("data", __name__)

KINDS = {
    "product": N_("产品型号"),
    "special_sale": N_("特殊销售"),
    "contract": N_("服务合同"),
    "part": N_("配件"),
    "fee": N_("收费标准"),
    "technician": N_("技术员"),
}
COLUMNS = {
    "product": (("model", N_("型号")), ("category", N_("品类")), ("name", N_("名称")), ("warranty_months", N_("保修月数")),
                ("parts_warranty_months", N_("配件保修月数")), ("labour_warranty_months", N_("人工保修月数"))),
    "special_sale": (("serial_no", N_("序列号")), ("product_model", N_("型号")), ("reason", N_("原因"))),
    "contract": (("contract_no", N_("合同号")), ("customer_name", N_("客户")), ("customer_phone", N_("电话")),
                 ("serial_no", N_("序列号")), ("start_date", N_("开始")), ("end_date", N_("结束")),
                 ("covers_labour", N_("含人工")), ("covers_parts", N_("含配件"))),
    "part": (("code", N_("编码")), ("name", N_("名称")), ("price", N_("单价")), ("stock", N_("库存"))),
    "fee": (("order_type", N_("工单类型")), ("kind", N_("类别")), ("code", N_("编码")), ("name", N_("名称")), ("unit", N_("单位")),
            ("unit_price", N_("单价"))),
    "technician": (("technician_id", N_("编号")), ("name", N_("姓名")), ("phone", N_("电话")), ("station", N_("服务站")),
                   ("zone", N_("区域")), ("skills", N_("技能"))),
}
SIMPLE_SETTINGS = {
    "completion_fallback": N_("其他工单类型按此类型的完工时限"),
    "status_reply_min_hours": N_("信息回复最早于派工后（小时）"),
    "urge_callback_hours": N_("催单后联系客户时限（小时）"),
    "card_hand_in_hours": N_("完工后交卡时限（小时）"),
    "late_card_block_hours": N_("迟交卡每满（小时）"),
    "late_card_amount_per_block": N_("迟交卡每段罚款（元）"),
    "missed_urge_callback_min": N_("催单未联系罚款下限（元）"),
    "missed_urge_callback_max": N_("催单未联系罚款上限（元）"),
    "missed_urge_callback_default": N_("催单未联系罚款默认（元）"),
    "false_status_reply": N_("虚假信息回复罚款（元）"),
    "false_parts_invoice": N_("自购配件发票不实罚款（元）"),
    "no_fault_part_multiplier": N_("无故障配件罚款倍数"),
    "part_price_tolerance": N_("自购配件价格容差（0.10 即一成）"),
}
ROLES = {"staff": N_("员工"), "admin": N_("管理员"), "analyst": N_("流程分析员")}
PER_PAGE = 50


def _engine():
    return current_app.extensions["paigong"]


# -- reference data ------------------------------------------------------------------------------


@bp.get("/reference")
def reference():
    return redirect(url_for("admin.data.reference_kind", kind="product"))


@bp.get("/reference/<kind>")
def reference_kind(kind: str):
    """One kind of reference data: search, pages, CSV import and export."""
    return _reference_page(kind)


def _reference_page(kind: str, status: int = 200, problems: dict | None = None):
    if kind not in KINDS:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    engine = _engine()
    search = (request.args.get("q") or "").strip()[:64] or None
    try:
        page_no = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page_no = 1
    page = engine.reference_rows(kind, search=search, page=page_no, per_page=PER_PAGE)
    pages = max(1, (page.total + page.per_page - 1) // page.per_page)
    return render_template("admin/reference.html", kind=kind, kinds=KINDS, columns=COLUMNS[kind], page=page,
                           pages=pages, search=search or "", counts=engine.reference_counts(),
                           problems=problems or {}), status


@bp.post("/reference/<kind>/import")
def reference_import(kind: str):
    """Import a CSV file of one kind, all or nothing (every bad row is listed, nothing is stored)."""
    if kind not in KINDS:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _reference_page(kind, 400, {"file": gettext("请选择 CSV 文件")})
    try:
        result = _engine().import_reference(kind, upload.read(), replace=request.form.get("replace") == "1",
                                            actor=current_actor())
    except InvalidInput as exc:
        return _reference_page(kind, 400, {k: engine_text(v) for k, v in (exc.fields or {"file": exc.message}).items()})
    flash(gettext("已导入 %(n)s 行：新增 %(created)s，更新 %(updated)s，未变 %(unchanged)s，删除 %(removed)s",
                  n=result.count, created=result.created, updated=result.updated, unchanged=result.unchanged,
                  removed=result.removed), "success")
    return redirect(url_for("admin.data.reference_kind", kind=kind))


@bp.get("/reference/<kind>.csv")
def reference_export(kind: str):
    """The kind's rows in the import format."""
    if kind not in KINDS:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    body = ("\ufeff" + _engine().reference_csv(kind)).encode("utf-8")
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{kind}.csv"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- SLA and penalty settings --------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    """The SLA deadlines and penalty amounts the service tasks read (stored values over the defaults)."""
    engine = _engine()
    errors: dict[str, str] = {}
    if request.method == "POST":
        changes, errors = _settings_form(engine.reference_settings())
        if not errors and changes:
            try:
                engine.update_reference_settings(changes, actor=current_actor())
            except InvalidInput as exc:
                errors = {k: engine_text(v) for k, v in exc.fields.items()}
        if not errors:
            flash(gettext("设置已保存") if changes else gettext("没有修改"), "success")
            return redirect(url_for("admin.data.settings"))
    current = engine.reference_settings()
    return render_template("admin/settings.html", current=current, simple=SIMPLE_SETTINGS, errors=errors,
                           form=request.form if errors else None), 400 if errors else 200


def _settings_form(current: dict) -> tuple[dict, dict]:
    changes, errors = {}, {}
    for key in SIMPLE_SETTINGS:
        raw = (request.form.get(key) or "").strip()
        if raw == "":
            errors[key] = gettext("必填")
        elif raw != str(current.get(key)):
            changes[key] = raw
    hours: dict[str, dict[str, float]] = {}
    for order_type in labels.ORDER_TYPES:
        row = {}
        for zone_code in labels.ZONES:
            raw = (request.form.get(f"hours-{order_type}-{zone_code}") or "").strip()
            if raw:
                try:
                    row[zone_code] = float(raw) if "." in raw else int(raw)
                except ValueError:
                    errors["completion_hours"] = gettext("完工时限须为数字（小时）")
        if row:
            hours[order_type] = row
    if hours != current.get("completion_hours"):
        changes["completion_hours"] = hours
    return changes, errors


# -- users and groups ----------------------------------------------------------------------------


@bp.get("/users")
def users():
    """Every user with groups and roles; groups with their member counts."""
    engine = _engine()
    return render_template("admin/users.html", users=engine.staff(), groups=engine.groups(),
                           sizes=engine.group_sizes(), roles=ROLES, errors={}, values={})


@bp.post("/users")
def create_user():
    """Add a user with groups and roles."""
    engine = _engine()
    form = request.form
    values = {k: (form.get(k) or "").strip() for k in ("username", "display_name", "phone")}
    groups = tuple(form.getlist("groups"))
    roles = tuple(r for r in form.getlist("roles") if r in ROLES) or ("staff",)
    try:
        engine.create_user(values["username"], form.get("password") or "", values["display_name"] or values["username"],
                           groups=groups, roles=roles, phone=values["phone"] or None)
    except InvalidInput as exc:
        errors = {k: engine_text(v) for k, v in exc.fields.items()}
        return render_template("admin/users.html", users=engine.staff(), groups=engine.groups(),
                               sizes=engine.group_sizes(), roles=ROLES, errors=errors,
                               values={**values, "groups": groups, "roles": roles}), 400
    flash(gettext("用户 %(name)s 已创建", name=values["username"]), "success")
    return redirect(url_for("admin.data.users"))


@bp.route("/users/<username>", methods=["GET", "POST"])
def user(username: str):
    """Edit one user: name, phone, groups, roles, active, a new password."""
    engine = _engine()
    found = next((u for u in engine.staff() if u.username == username), None)
    if found is None:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    errors = {}
    if request.method == "POST":
        form = request.form
        try:
            engine.update_user(
                username, actor=current_actor(), display_name=form.get("display_name", ""),
                phone=form.get("phone", ""), groups=tuple(form.getlist("groups")),
                roles=tuple(r for r in form.getlist("roles") if r in ROLES) or ("staff",),
                active=form.get("active") == "1", password=form.get("password") or None)
        except InvalidInput as exc:
            errors = {k: engine_text(v) for k, v in exc.fields.items()}
        else:
            flash(gettext("用户 %(name)s 已保存", name=username), "success")
            return redirect(url_for("admin.data.users"))
    return render_template("admin/user.html", u=found, groups=engine.groups(), roles=ROLES,
                           errors=errors), 400 if errors else 200


@bp.post("/groups")
def save_group():
    """Add a staff group (a lane of the diagrams) or rename one."""
    engine = _engine()
    try:
        engine.save_group((request.form.get("group_id") or "").strip(), request.form.get("name") or "",
                          actor=current_actor())
    except InvalidInput as exc:
        for text in exc.fields.values():
            flash(engine_text(text), "error")
        return redirect(url_for("admin.data.users"))
    flash(gettext("员工组已保存"), "success")
    return redirect(url_for("admin.data.users"))
