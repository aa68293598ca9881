"""CSRF on every POST, cookie flags, security headers, and engine errors as HTTP status codes (one place)."""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from engine import Conflict, DeployError, EngineError, InvalidInput, NotAllowed, NotFound
from web.i18n import engine_text

csrf = CSRFProtect()

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")

STATUS = {NotFound: 404, NotAllowed: 403, Conflict: 409, InvalidInput: 400, DeployError: 422}
# the API's stable error codes ({"error": {"code", "message", "fields"}}) for statuses without an engine error
API_CODES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_definition",
             429: "rate_limited", 500: "internal"}


def init_app(app: Flask) -> None:
    secure = str(app.config.get("SECURE_COOKIES", "")).lower() in ("1", "true", "yes")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="paigong_session",
    )
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", 12 * 3600)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life, not one hour
    app.config.setdefault("MAX_CONTENT_LENGTH", 12 * 1024 * 1024)  # two 5 MB attachments and the form
    csrf.init_app(app)
    app.after_request(_headers)
    app.register_error_handler(EngineError, _engine_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)


def _headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return request.is_json or best == "application/json"


def error_page(status: int, title: str, message: str, fields: dict[str, str] | None = None, code: str | None = None):
    if request.path.startswith("/api/"):
        body = {"error": {"code": code or API_CODES.get(status, "error"), "message": message, "fields": fields or {}}}
        response = jsonify(body)
        response.status_code = status
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="paigong"'
        return response
    if wants_json():
        return jsonify(error=title, message=message, fields=fields or {}), status
    return render_template("error.html", status=status, title=title, message=message, fields=fields or {}), status


def _engine_error(exc: EngineError):
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    titles = {404: gettext("找不到"), 403: gettext("没有权限"), 409: gettext("已被他人处理"),
              400: gettext("输入有误"), 422: gettext("输入有误"), 500: gettext("出错了")}
    fields = {k: engine_text(v) for k, v in getattr(exc, "fields", {}).items()}
    for problem in getattr(exc, "problems", None) or ():
        where = problem.file + (f" [{problem.element_id}]" if problem.element_id else "")
        fields[where] = f"{fields[where]}; {problem.message}" if where in fields else problem.message
    return error_page(status, titles[status], engine_text(exc.message), fields, exc.code)


def _csrf_error(exc: CSRFError):
    return error_page(400, gettext("请求无效"), gettext("页面已过期或缺少安全令牌，请刷新页面后重试。"))


def _http_error(exc: HTTPException):
    titles = {400: gettext("请求无效"), 403: gettext("没有权限"), 404: gettext("找不到"),
              405: gettext("不支持的操作"), 413: gettext("文件太大"), 429: gettext("请求太频繁")}
    messages = {413: gettext("上传的内容太大：每个文件不能超过 5 MB。"),
                404: gettext("您要找的页面不存在。")}
    code = exc.code or 500
    if request.path.startswith("/api/"):
        return error_page(code, titles.get(code, exc.name), exc.description or exc.name)
    if code not in titles:
        return exc
    return error_page(code, titles[code], messages.get(code) or titles[code])


class MemoryThrottle:
    """At most ``limit`` events per key within ``window`` seconds, counted in this process
    (the QR fault reports' limit; log-ins are limited in the database, see :mod:`engine.login_guard`)."""

    def __init__(self, limit: int = 5, window: float = 300.0, clock=time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key) -> deque:
        now = self.clock()
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, key) -> int:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.limit:
                return 0
            return max(1, int(failures[0] + self.window - self.clock()) + 1)

    def failed(self, key) -> None:
        with self._lock:
            failures = self._recent(key)
            failures.append(self.clock())
            self._failures[key] = failures
            if len(self._failures) > 10000:  # forget idle keys
                for k in [k for k, v in self._failures.items() if not self._recent(k)]:
                    del self._failures[k]

    def succeeded(self, key) -> None:
        with self._lock:
            self._failures.pop(key, None)
