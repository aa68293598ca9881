"""JSON REST API under ``/api/v1`` with bearer tokens; its OpenAPI document is at ``/api/v1/openapi.json``.

Only ``Authorization: Bearer <token>`` authenticates here: a session cookie is never
accepted, so the API needs no CSRF token. Errors have one shape,
``{"error": {"code", "message", "fields"}}``, made in :mod:`web.security` with every other
status mapping.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import Unauthorized

from engine import Actor

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def engine():
    return current_app.extensions["paigong"]


def actor() -> Actor:
    return g.api_actor


@bp.before_request
def _authenticate():
    """Every route but the OpenAPI document needs a valid bearer token."""
    view = current_app.view_functions.get(request.endpoint or "")
    op = getattr(view, "__openapi__", None)
    if op is not None:
        from web.api.openapi import query_args

        g.api_query = query_args(current_app)
        if op.public:
            return None
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    found = engine().actor_for_token(secret.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise Unauthorized("缺少或无效的访问令牌（Authorization: Bearer <令牌>）")
    g.api_actor = found
    return None


@bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def plain(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as JSON-ready values (ISO 8601 times)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def reply(value: Any, status: int = 200, **headers):
    """A JSON response (Chinese left readable, not escaped) with ``status`` and extra headers."""
    response = current_app.response_class(json.dumps(plain(value), ensure_ascii=False) + "\n", status=status,
                                          mimetype="application/json")
    for name, text in headers.items():
        response.headers[name.replace("_", "-")] = text
    return response


from web.api import resources  # noqa: E402,F401 - registers the routes on bp


@bp.errorhandler(Exception)
def _unexpected(exc: Exception):
    """Errors of API views get the API's shape too; engine and HTTP errors keep their mapping in web.security."""
    from werkzeug.exceptions import HTTPException

    from engine import EngineError
    from web import security

    if isinstance(exc, EngineError):
        return security._engine_error(exc)
    if isinstance(exc, HTTPException):
        return security._http_error(exc)
    current_app.logger.exception("API error on %s %s", request.method, request.path)
    return security.error_page(500, "出错了", "服务器内部错误，已记录；请稍后重试。")
