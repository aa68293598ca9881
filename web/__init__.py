"""The Flask app: staff inbox, admin console, modeler, public pages and the API."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; configuration from ``PAIGONG_*`` environment variables.

    ``PAIGONG_DATABASE_URL`` (default: SQLite in ``instance/``), ``PAIGONG_WORKFLOWS``
    (default: ``workflows/`` beside the package), ``PAIGONG_SECRET_KEY``,
    ``PAIGONG_SECURE_COOKIES`` (1 behind HTTPS), ``PAIGONG_TIMEZONE`` (default Asia/Shanghai),
    ``PAIGONG_UPLOAD_DIR`` (default ``instance/uploads``), ``PAIGONG_PUBLIC_URL`` (the address
    customers' links point to), ``PAIGONG_SALES_WEBHOOK_SECRET``, and the notification
    channels' ``PAIGONG_SMTP_*``, ``PAIGONG_SMS_*``, ``PAIGONG_WECHAT_*``,
    ``PAIGONG_NOTIFY_WEBHOOK_*`` (see :mod:`engine.senders`).
    """
    app = Flask(__name__, instance_relative_config=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    app.config.from_mapping(
        DATABASE_URL=f"sqlite:///{os.path.join(app.instance_path, 'paigong.sqlite3')}",
        WORKFLOWS=os.path.join(root, "workflows"),
        SECRET_KEY=None,
        SECURE_COOKIES=False,  # PAIGONG_SECURE_COOKIES=1 behind HTTPS
        TIMEZONE="Asia/Shanghai",
        UPLOAD_DIR=os.path.join(app.instance_path, "uploads"),
        LOGIN_MAX_FAILURES=5,
        LOGIN_WINDOW_SECONDS=300,
        CLOCK=None,  # tests pass an engine.FakeClock
    )
    app.config.from_prefixed_env("PAIGONG")
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)

    from engine import Database, Engine
    from engine.reference import DatabaseReferenceData

    database = Database.connect(app.config["DATABASE_URL"])
    engine = Engine(database, clock=app.config.get("CLOCK"), ref=DatabaseReferenceData(database))
    app.extensions["paigong"] = engine

    from web import auth, formatting, home, i18n, inbox, orders, security

    i18n.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    formatting.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(orders.bp)
    from web import admin  # the admin console (reports, reference data and users inside)
    app.register_blueprint(admin.bp)
    from web import modeler  # process definitions, editor, deploy, migration (analysts)
    app.register_blueprint(modeler.bp)
    _channels(app, engine)
    return app


def _channels(app: Flask, engine) -> None:
    """The API, the customer's pages, incoming webhooks and the notifier the worker sends with."""
    from engine.senders import Notifier, senders_from_config
    from web import api, customer_links, public, security, webhooks

    app.register_blueprint(api.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(webhooks.bp)
    security.csrf.exempt(api.bp)  # bearer tokens only, never cookies: nothing for a forged request to ride on
    security.csrf.exempt(webhooks.bp)  # HMAC-signed
    engine.configure_notifications(Notifier(senders_from_config(app.config), engine=engine,
                                            links=customer_links.link_builder(app)))




def _instance_secret(instance_path: str) -> str:
    """A per-installation secret kept in ``instance/secret_key`` (created once)."""
    import secrets

    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return fh.read().strip()
