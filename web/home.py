"""Landing page and health check."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    engine = current_app.extensions["paigong"]
    return render_template("home.html", definitions=engine.definitions())


@bp.get("/healthz")
def health():
    return jsonify(status="ok")
