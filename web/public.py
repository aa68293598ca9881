"""The customer's side, no log-in: the fault report a product's QR code opens, the order
status page with a reschedule request, and the evaluation form (signed, expiring links).

QR codes carry a signed model and serial (they are printed on the unit and never expire);
status and evaluation links carry a signed order id that expires (:mod:`web.customer_links`).
Forms are CSRF-protected; fault reports are rate-limited per address.
"""

from __future__ import annotations

import io
import re

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from engine import InvalidInput, NotAllowed, NotFound
from web import labels
from web.customer_links import LinkRefused, load_token, make_token
from web.formatting import zone
from web.schema_form import parse_local_datetime
from web.security import MemoryThrottle

bp = Blueprint("public", __name__)

PHONE = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$"
SERIAL = re.compile(r"^[A-Z0-9-]{6,32}$")
# what the customer reads for the step the order is at (element id of the open task)
STEPS = {
    "dispatch": "已受理，正在为您安排技术员",
    "request_purchase_proof": "需要您补充购买凭证（发票或保修卡），客服会与您联系",
    "accept_task": "已派工，技术员将尽快与您联系确认上门时间",
    "handle_accept_overdue": "正在为您重新安排技术员",
    "reassign": "正在为您重新安排技术员",
    "check_in": "技术员已与您预约，将按约定时间上门",
    "report_progress": "服务进行中",
    "complete_service": "服务进行中",
    "customer_evaluation": "服务已完成，客服将回访确认",
}
FINISHED = {"completed": "工单已完成，感谢您的信任", "terminated": "工单已关闭"}


def _engine():
    return current_app.extensions["paigong"]


def _qr_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="paigong-qr-report")


def qr_token(product_model: str, serial_no: str) -> str:
    return _qr_serializer().dumps({"m": product_model, "s": serial_no})


def _throttle() -> MemoryThrottle:
    found = current_app.extensions.get("paigong_report_throttle")
    if found is None:
        found = MemoryThrottle(int(current_app.config.get("REPORT_LIMIT", 5)),
                               float(current_app.config.get("REPORT_WINDOW_SECONDS", 3600)))
        current_app.extensions["paigong_report_throttle"] = found
    return found


class ReportForm(FlaskForm):
    customer_name = StringField("您的姓名", validators=[DataRequired("必填"), Length(max=64)])
    customer_phone = StringField("手机号", validators=[DataRequired("必填"), Regexp(PHONE, message="请输入 11 位手机号或带区号的固定电话")])
    address = StringField("上门地址", validators=[DataRequired("必填"), Length(max=200)])
    purchase_date = StringField("购买日期（可不填）", validators=[Optional()])
    symptom = TextAreaField("故障现象", validators=[DataRequired("必填"), Length(max=1000)])
    requested_at = StringField("希望上门时间（可不填）", validators=[Optional()])

    def validate_purchase_date(self, field):
        from datetime import date

        try:
            bought = date.fromisoformat(field.data.strip())
        except ValueError:
            raise ValidationError("请输入日期，如 2026-03-02") from None
        if bought > _engine().clock.now().astimezone(zone()).date():
            raise ValidationError("购买日期不能晚于今天")
        field.data = bought.isoformat()

    def validate_requested_at(self, field):
        when = parse_local_datetime(field.data.strip())
        if when is None:
            raise ValidationError("请输入日期和时间")
        field.data = when.isoformat(timespec="seconds")


@bp.get("/qr/<serial_no>.svg")
def qr_image(serial_no: str):
    """The QR code of one unit (staff print it on the label): it opens the fault report for that serial."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    actor = current_user.actor
    if not (actor.is_admin or actor.groups & {"customer_service", "dispatcher"}):
        raise NotAllowed("只有客服、调度或管理员可以生成二维码")
    serial = serial_no.strip().upper()
    model = (request.args.get("model") or "").strip()[:64]
    if not SERIAL.match(serial) or not model:
        raise InvalidInput("序列号或型号有误", {"serial_no": "序列号为 6–32 位大写字母、数字或 -", "model": "必填"})
    return Response(qr_svg(url_for("public.report", token=qr_token(model, serial), _external=True)),
                    mimetype="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})


def qr_svg(text: str) -> bytes:
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(text, image_factory=SvgPathImage, box_size=10, border=4)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


@bp.route("/r/<token>", methods=["GET", "POST"])
def report(token: str):
    """The fault report a product's QR code opens: model and serial filled in, warranty looked up, order opened."""
    try:
        unit = _qr_serializer().loads(token)
        model, serial = str(unit["m"]), str(unit["s"])
    except (BadSignature, KeyError, TypeError):
        raise LinkRefused("二维码无效，请联系客服电话报修") from None
    engine = _engine()
    form = ReportForm()
    preview = _preview(engine, serial, model, form.purchase_date.data if request.method == "POST" else None)
    if form.validate_on_submit():
        key = request.remote_addr or ""
        wait = _throttle().retry_after(key)
        if wait:
            response = current_app.make_response((render_template(
                "public/message.html", title="提交太频繁", message=f"请 {(wait + 59) // 60} 分钟后再试，或拨打客服电话。"), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        _throttle().failed(key)  # every report counts against the limit
        phone = form.customer_phone.data.strip()
        same = [r for r in engine.open_orders_like(phone=phone, serial_no=serial)
                if (r["summary"] or {}).get("customer_phone") == phone and (r["summary"] or {}).get("serial_no") == serial]
        if same:
            done = engine.customer_request("urge", instance_id=same[0]["id"], actor=_customer(),
                                           payload={"note": f"客户扫码重复报修：{form.symptom.data.strip()[:200]}",
                                                    "channel": "wechat"})
            return render_template("public/reported.html", duplicate=True, work_order_no=done.work_order_no,
                                   status_token=make_token(done.instance_id, "status"), preview=preview)
        data = {"order_type": "repair", "channel": "wechat", "customer_name": form.customer_name.data.strip(),
                "customer_phone": phone, "address": form.address.data.strip(), "zone": "in_city",
                "product_model": model, "serial_no": serial, "purchase_date": form.purchase_date.data or None,
                "symptom": form.symptom.data.strip(), "requested_at": form.requested_at.data or None,
                "customer_requirements": None}
        opened = engine.open_order(labels.ORDER_PROCESSES["repair"], data, actor=_customer())
        return render_template("public/reported.html", duplicate=False, work_order_no=opened.work_order_no,
                               status_token=make_token(opened.instance_id, "status"), preview=preview), 201
    status = 400 if request.method == "POST" else 200
    return render_template("public/report.html", form=form, model=model, serial=serial, preview=preview,
                           product=_product(engine, model)), status


def _customer():
    from engine import Actor

    return Actor("customer")


def _product(engine, model: str) -> dict | None:
    try:
        return engine.reference_item("product", model)
    except NotFound:
        return None


def _preview(engine, serial: str, model: str, purchase_date: str | None) -> dict | None:
    try:
        return engine.warranty_preview(serial_no=serial, product_model=model, purchase_date=purchase_date or None)
    except InvalidInput:
        return None


class RescheduleForm(FlaskForm):
    wanted_at = StringField("希望改到", validators=[DataRequired("请填写希望的上门时间")])
    note = TextAreaField("说明（可不填）", validators=[Optional(), Length(max=300)])

    def validate_wanted_at(self, field):
        when = parse_local_datetime(field.data.strip())
        if when is None:
            raise ValidationError("请输入日期和时间")
        field.data = when.isoformat(timespec="seconds")


class EvaluationForm(FlaskForm):
    stars = IntegerField("评分", validators=[DataRequired("请选择 1–5 星"), NumberRange(1, 5, "请选择 1–5 星")])
    comment = TextAreaField("您的意见（可不填）", validators=[Optional(), Length(max=1000)])


@bp.get("/c/<token>")
def status(token: str):
    """What happens now, who is coming and when."""
    instance_id = load_token(token, "status")
    return _render_status(token, instance_id, RescheduleForm())


def _render_status(token: str, instance_id: int, form, message: str | None = None, code: int = 200):
    state = _engine().customer_status(instance_id)
    if state.status in FINISHED:
        now_text = FINISHED[state.status]
    else:
        now_text = next((STEPS[s] for s in state.steps if s in STEPS), "工单处理中")
    return render_template("public/status.html", state=state, now_text=now_text, form=form, token=token,
                           message=message, order_type=labels.ORDER_TYPES.get(state.order_type or "", ""),
                           evaluate_token=make_token(instance_id, "evaluate") if state.service_done else None), code


@bp.post("/c/<token>/reschedule")
def reschedule(token: str):
    """The customer asks for another visit time: a BPMN message ``reschedule``, or recorded for the dispatcher."""
    instance_id = load_token(token, "status")
    form = RescheduleForm()
    if not form.validate_on_submit():
        return _render_status(token, instance_id, form, code=400)
    result = _engine().customer_request("reschedule", instance_id=instance_id, actor=_customer(), payload={
        "wanted_at": form.wanted_at.data, "note": (form.note.data or "").strip()})
    message = ("改约申请已提交，技术员会与您确认新的时间。" if result.delivered else
               "改约申请已记录并通知调度，工作人员会尽快与您联系确认新的上门时间。")
    return _render_status(token, instance_id, RescheduleForm(formdata=None), message)


@bp.route("/c/<token>/evaluate", methods=["GET", "POST"])
def evaluate(token: str):
    """1–5 stars and a comment, once per order, after the service is done."""
    instance_id = load_token(token, "evaluate")
    engine = _engine()
    state = engine.customer_status(instance_id)
    form = EvaluationForm()
    if state.evaluation is None and form.validate_on_submit():
        engine.submit_evaluation(instance_id, stars=form.stars.data, comment=form.comment.data or "", actor=_customer())
        return render_template("public/message.html", title="感谢您的评价",
                               message=f"工单 {state.work_order_no} 的评价已提交，我们会持续改进服务。")
    code = 400 if request.method == "POST" and state.evaluation is None else 200
    return render_template("public/evaluate.html", state=state, form=form), code
