"""Incoming webhooks: the sales system reports a sale that needs installing.

The body is signed with HMAC-SHA256 under a shared secret (``PAIGONG_SALES_WEBHOOK_SECRET``),
sent as ``X-Paigong-Signature: sha256=<hex>``. The sale number keys the order: the same
sale delivered twice (a retry, a duplicate delivery) opens one installation order.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import Forbidden, ServiceUnavailable

from engine import Actor, InvalidInput
from engine.intake import Idempotency
from web import labels
from web.api.openapi import validate
from web.api.schemas import PHONE, SERIAL

bp = Blueprint("webhooks", __name__, url_prefix="/hooks")

SALE = {
    "type": "object",
    "required": ["sale_id", "customer_name", "customer_phone", "address", "product_model", "serial_no",
                 "purchase_date"],
    "properties": {
        "sale_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "customer_name": {"type": "string", "minLength": 1, "maxLength": 64},
        "customer_phone": {"type": "string", "pattern": PHONE},
        "address": {"type": "string", "minLength": 1, "maxLength": 200},
        "zone": {"type": "string", "enum": list(labels.ZONES)},
        "product_model": {"type": "string", "minLength": 1, "maxLength": 64},
        "serial_no": {"type": "string", "pattern": SERIAL},
        "purchase_date": {"type": "string", "format": "date"},
        "requested_at": {"type": ["string", "null"], "format": "date-time"},
        "note": {"type": ["string", "null"], "maxLength": 500},
        "salesperson": {"type": ["string", "null"], "maxLength": 64},
    },
}
SALES_SYSTEM = Actor("sales_system", frozenset({"customer_service"}))


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@bp.post("/sales")
def sales():
    """A sale that needs installing opens an installation order (once per sale)."""
    secret = current_app.config.get("SALES_WEBHOOK_SECRET")
    if not secret:
        raise ServiceUnavailable("未配置销售系统的共享密钥")
    body = request.get_data(cache=True)
    given = request.headers.get("X-Paigong-Signature", "")
    if not hmac.compare_digest(given.encode(), signature(str(secret), body).encode()):
        raise Forbidden("签名不正确")
    try:
        sale = json.loads(body)
    except ValueError:
        raise InvalidInput("请求体不是合法的 JSON", {"_body": "不是合法的 JSON"}) from None
    validate(SALE, sale)
    data = {"order_type": "install", "channel": "sales_system", "customer_name": sale["customer_name"],
            "customer_phone": sale["customer_phone"], "address": sale["address"],
            "zone": sale.get("zone") or "in_city", "product_model": sale["product_model"],
            "serial_no": sale["serial_no"], "purchase_date": sale["purchase_date"],
            "symptom": "新购设备安装" + (f"：{sale['note']}" if sale.get("note") else ""),
            "requested_at": sale.get("requested_at"), "customer_requirements": sale.get("note"),
            "sale_id": sale["sale_id"], "salesperson": sale.get("salesperson")}
    engine = current_app.extensions["paigong"]
    opened = engine.open_order(labels.ORDER_PROCESSES["install"], data, actor=SALES_SYSTEM,
                               idempotency=Idempotency("sales_system", sale["sale_id"]))
    return jsonify(opened.as_dict() | {"replayed": opened.replayed}), 200 if opened.replayed else 201
