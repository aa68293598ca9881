"""Admin reports: the monthly labour-fee settlement per station and technician, and the month's penalties.

Viewable as a page and exportable as .xlsx (the settlement service's own workbook) and CSV.
The admin check of :mod:`web.admin` covers these pages (a nested blueprint).
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, render_template, request

from engine import InvalidInput
from web.formatting import zone

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _engine():
    return current_app.extensions["paigong"]


def _month() -> str:
    """The ``month`` argument, or the current month in the company's time zone."""
    month = (request.args.get("month") or "").strip()[:7]
    return month or _engine().clock.now().astimezone(zone()).strftime("%Y-%m")


@bp.get("/")
def index():
    """The month's settlement (technicians, stations, totals, orders left out) and its penalties."""
    month = _month()
    try:
        summary = _engine().settlement_report(month, tz=zone())
    except InvalidInput as exc:
        return render_template("admin/reports.html", month=month, summary=None, error=exc.message), 400
    return render_template("admin/reports.html", month=month, summary=summary, error=None)


@bp.get("/settlement-<month>.xlsx")
def settlement_xlsx(month: str):
    """The settlement as the settlement service's Excel workbook."""
    from tasks.settlement import settlement_to_xlsx

    summary = _engine().settlement_report(month, tz=zone())
    return _download(settlement_to_xlsx(summary), f"settlement-{month}.xlsx",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/settlement-<month>.csv")
def settlement_csv(month: str):
    """The settlement per technician with a totals row, as CSV (UTF-8 with BOM, so Excel reads it)."""
    summary = _engine().settlement_report(month, tz=zone())
    rows = [("站点", "技术员", "结算工单数", "劳务费", "罚款", "应结金额")]
    rows += [(ln["station"], ln["technician_id"], ln["orders"], ln["labour_fees"], ln["penalties"], ln["net"])
             for ln in summary["lines"]]
    t = summary["totals"]
    rows.append(("合计", "", t["orders"], t["labour_fees"], t["penalties"], t["net"]))
    return _download(_csv(rows), f"settlement-{month}.csv", "text/csv; charset=utf-8")


@bp.get("/penalties-<month>.csv")
def penalties_csv(month: str):
    """The month's penalty entries as CSV."""
    summary = _engine().settlement_report(month, tz=zone())
    rows = [("工单号", "站点", "技术员", "规则", "金额", "免罚", "说明")]
    rows += [(p.get("order_no") or "", p["station"], p["technician_id"], p.get("rule_name") or p.get("rule") or "",
              p["amount"], "是" if p["waived"] else "否", p.get("reason") or "") for p in summary["penalty_lines"]]
    return _download(_csv(rows), f"penalties-{month}.csv", "text/csv; charset=utf-8")


def _csv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # a cell starting with = + - @ would run as a formula in Excel
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _download(body: bytes, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
