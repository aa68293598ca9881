"""Signed, expiring links for customers (no log-in): order status, evaluation, QR fault reports.

Tokens are itsdangerous timestamped signatures made with the app's secret key, one salt
per purpose, so a status link cannot be used to evaluate and a QR code cannot be used to
read an order. Time comes from the engine's clock, so tests can let a link expire.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from engine import NotAllowed

LIFETIME = {"status": timedelta(days=60), "evaluate": timedelta(days=30)}
PATHS = {"status": "/c/{token}", "evaluate": "/c/{token}/evaluate"}


class LinkRefused(NotAllowed):
    """A tampered, foreign or expired customer link (HTTP 403)."""


def _serializer(app: Flask, purpose: str) -> URLSafeTimedSerializer:
    clock = app.extensions["paigong"].clock

    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock.now().timestamp())

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=f"paigong-customer-{purpose}", signer=ClockSigner)


def make_token(instance_id: int, purpose: str, app: Flask | None = None) -> str:
    return _serializer(app or current_app, purpose).dumps(int(instance_id))


def load_token(token: str, purpose: str) -> int:
    """The instance id a customer link stands for.

    :raises LinkRefused: the token was changed, made for another purpose, or has expired
    """
    try:
        value = _serializer(current_app, purpose).loads(token, max_age=int(LIFETIME[purpose].total_seconds()))
    except SignatureExpired:
        raise LinkRefused("链接已过期，请联系客服重新获取") from None
    except BadSignature:
        raise LinkRefused("链接无效") from None
    if not isinstance(value, int):
        raise LinkRefused("链接无效")
    return value


def link_builder(app: Flask):
    """``links(instance_id, purpose) -> absolute URL`` for message templates (``PAIGONG_PUBLIC_URL``)."""
    base = str(app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")

    def links(instance_id: int, purpose: str) -> str:
        return base + PATHS[purpose].format(token=make_token(instance_id, purpose, app))

    return links
