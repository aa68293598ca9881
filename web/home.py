"""The front door and the health check."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask_login import current_user

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """The inbox when logged in, the log-in page otherwise."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def health():
    return jsonify(status="ok")
