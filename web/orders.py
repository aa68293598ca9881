"""Work orders: staff intake (customer service) and the work-order page with its timeline and diagram."""

from __future__ import annotations

import os
import re
from datetime import date

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from engine import NotAllowed
from web import labels
from web.auth import current_actor
from web.formatting import zone
from web.pages import ORDER_FACTS, facts, timeline
from web.schema_form import parse_local_datetime

bp = Blueprint("orders", __name__, url_prefix="/orders")

PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$"
SERIAL = re.compile(r"^[A-Z0-9-]{6,32}$")
INTAKE_GROUPS = {"customer_service"}


def _engine():
    return current_app.extensions["paigong"]


@bp.before_request
@login_required
def _logged_in():
    """Every work-order route needs a logged-in user."""


def _choices(table: dict[str, str]):
    try:
        from wtforms import SelectChoice
    except ImportError:  # WTForms before 3.3 takes (value, label) pairs
        return [(code, lazy_gettext(text)) for code, text in table.items()]
    return [SelectChoice(code, lazy_gettext(text)) for code, text in table.items()]


def _required():
    return DataRequired(lazy_gettext("必填"))


class IntakeForm(FlaskForm):
    order_type = SelectField(lazy_gettext("工单类型"), choices=_choices(labels.ORDER_TYPES), default="repair",
                             validators=[_required()])
    channel = SelectField(lazy_gettext("受理渠道"), choices=_choices(labels.CHANNELS), default="phone",
                          validators=[_required()])
    customer_name = StringField(lazy_gettext("客户姓名"), validators=[_required(), Length(max=64)])
    customer_phone = StringField(lazy_gettext("客户电话"), validators=[
        _required(), Regexp(PHONE, message=lazy_gettext("请输入 11 位手机号或带区号的固定电话"))])
    address = StringField(lazy_gettext("地址"), validators=[_required(), Length(max=200)])
    zone = RadioField(lazy_gettext("区域"), choices=_choices(labels.ZONES), default="in_city",
                      validators=[_required()])
    product_model = StringField(lazy_gettext("产品型号"), validators=[_required(), Length(max=64)])
    serial_no = StringField(lazy_gettext("序列号"), validators=[_required(), Length(max=32)])
    purchase_date = StringField(lazy_gettext("购买日期（无凭证可不填）"), validators=[Optional()])
    symptom = TextAreaField(lazy_gettext("故障现象 / 需求"), validators=[_required(), Length(max=1000)])
    requested_at = StringField(lazy_gettext("期望上门时间"), validators=[Optional()])
    customer_requirements = TextAreaField(lazy_gettext("客户要求"), validators=[Optional(), Length(max=500)])
    confirm_duplicate = BooleanField(lazy_gettext("确认不是重复报修，仍然新建"))

    def validate_serial_no(self, field):
        field.data = (field.data or "").strip().upper()
        if not SERIAL.match(field.data):
            raise ValidationError(gettext("序列号为 6–32 位大写字母、数字或 -"))

    def validate_purchase_date(self, field):
        if not field.data:
            return
        try:
            bought = date.fromisoformat(field.data.strip())
        except ValueError:
            raise ValidationError(gettext("请输入日期，如 2026-03-02")) from None
        if bought > _engine().clock.now().astimezone(zone()).date():
            raise ValidationError(gettext("购买日期不能晚于今天"))
        field.data = bought.isoformat()

    def validate_requested_at(self, field):
        if not field.data:
            return
        when = parse_local_datetime(field.data.strip())
        if when is None:
            raise ValidationError(gettext("请输入日期和时间"))
        field.data = when.isoformat(timespec="seconds")

    def validate_product_model(self, field):
        field.data = (field.data or "").strip()
        if _engine().product_known(field.data) is False:
            raise ValidationError(gettext("产品目录中没有这个型号，请核对铭牌"))

    def start_data(self, work_order_no: str) -> dict:
        data = {"work_order_no": work_order_no}
        for name in ("order_type", "channel", "customer_name", "customer_phone", "address", "zone", "product_model",
                     "serial_no", "purchase_date", "symptom", "requested_at", "customer_requirements"):
            value = getattr(self, name).data
            data[name] = value.strip() if isinstance(value, str) and value.strip() else None
        data["purchase_date"] = data["purchase_date"] or None
        return data


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Register a work order; warn when the same phone or serial has an open order; start its process."""
    actor = current_actor()
    if not (actor.is_admin or actor.groups & INTAKE_GROUPS):
        raise NotAllowed(gettext("只有客服可以新建工单"))
    form = IntakeForm()
    duplicates = []
    if form.validate_on_submit():
        engine = _engine()
        if not form.confirm_duplicate.data:
            duplicates = engine.open_orders_like(phone=form.customer_phone.data.strip(), serial_no=form.serial_no.data)
        if not duplicates:
            today = engine.clock.now().astimezone(zone()).date()
            number = engine.reserve_work_order_no(today, actor=actor)
            process = labels.ORDER_PROCESSES[form.order_type.data]
            started = engine.start(process, form.start_data(number), actor=actor)
            if started.status == "error":
                flash(gettext("工单 %(no)s 已创建，但自动步骤出错，已通知管理员处理。", no=number), "warning")
            else:
                flash(gettext("工单 %(no)s 已创建", no=number), "success")
            return redirect(url_for("orders.show", instance_id=started.instance_id))
    status = 400 if request.method == "POST" and form.errors else 200
    return render_template("order_new.html", form=form, duplicates=duplicates), status


@bp.get("/find")
def find():
    """Jump to a work order by its number."""
    number = (request.args.get("no") or "").strip()[:64]
    if not number:
        return redirect(url_for("inbox.index"))
    return redirect(url_for("orders.show", instance_id=_engine().find_order(number, actor=current_actor())))


@bp.get("/<int:instance_id>")
def show(instance_id: int):
    """Status, current steps and who holds them, the facts, the timeline and the diagram."""
    return render_order(_engine().order_page(instance_id, actor=current_actor()))


def render_order(page, status: int = 200, reassign_errors=None, reassign_values=None):
    inst = page.instance
    vendor = os.path.join(current_app.static_folder or "", "vendor", "bpmn-navigated-viewer.production.min.js")
    return render_template(
        "order.html", page=page, inst=inst, facts=facts(inst.data, ORDER_FACTS),
        timeline=timeline(page.history, page.element_names), has_viewer=os.path.exists(vendor),
        reassign_errors=reassign_errors or {}, reassign_values=reassign_values or {},
    ), status


@bp.get("/<int:instance_id>/diagram")
def diagram(instance_id: int):
    """The BPMN XML and what is active, done and failed on it (for the bpmn-js viewer)."""
    engine = _engine()
    engine.check_order_access(instance_id, actor=current_actor())
    d = engine.diagram(instance_id)
    response = jsonify(xml=d.xml, active=list(d.active), completed=list(d.completed), failed=list(d.failed),
                       counts=d.counts, process_id=d.process_id, version=d.version)
    response.headers["Cache-Control"] = "private, no-store"
    return response
