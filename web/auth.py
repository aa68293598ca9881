"""Log-in and log-out (Flask-Login over the engine's users), with a log-in rate limit.

The session keeps only the username; the actor (groups, roles) is read again on every
request, so a disabled user or a changed group takes effect at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine import Actor

bp = Blueprint("auth", __name__)


class StaffUser(UserMixin):
    """The logged-in user as Flask-Login sees it; ``actor`` is what the engine needs."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    def get_id(self) -> str:
        return self.actor.username

    @property
    def username(self) -> str:
        return self.actor.username

    @property
    def display_name(self) -> str:
        return session.get("display_name") or self.actor.username

    def in_group(self, *groups: str) -> bool:
        return self.actor.is_admin or bool(self.actor.groups & set(groups))


class LoginThrottle:
    """At most ``limit`` failed log-ins per username and address within ``window`` seconds (in memory)."""

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


class LoginForm(FlaskForm):
    username = StringField(lazy_gettext("用户名"), validators=[DataRequired(lazy_gettext("请输入用户名")),
                                                                Length(max=64)])
    password = PasswordField(lazy_gettext("密码"), validators=[DataRequired(lazy_gettext("请输入密码")),
                                                               Length(max=1024)])
    next = HiddenField()


def init_app(app) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = lazy_gettext("请先登录")
    manager.login_message_category = "info"
    manager.session_protection = "basic"

    @manager.user_loader
    def load_user(username: str):
        actor = current_app.extensions["paigong"].actor(username)
        return StaffUser(actor) if actor is not None else None

    app.extensions["paigong_login_throttle"] = LoginThrottle(
        int(app.config.get("LOGIN_MAX_FAILURES", 5)), float(app.config.get("LOGIN_WINDOW_SECONDS", 300)))


def current_actor() -> Actor:
    return current_user.actor


def safe_next(target: str | None) -> str:
    """A local path to go back to after log-in (never another site)."""
    if not target:
        return url_for("inbox.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("inbox.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with username and password; five failures per name and address in 5 minutes lock it for a while."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        throttle: LoginThrottle = current_app.extensions["paigong_login_throttle"]
        key = (form.username.data.strip().lower(), request.remote_addr or "")
        wait = throttle.retry_after(key)
        if wait:
            minutes = (wait + 59) // 60
            form.form_errors.append(gettext("登录失败次数过多，请 %(n)s 分钟后再试", n=minutes))
            response = current_app.make_response((render_template("login.html", form=form), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        engine = current_app.extensions["paigong"]
        actor = engine.authenticate(form.username.data.strip(), form.password.data)
        if actor is None:
            throttle.failed(key)
            form.form_errors.append(gettext("用户名或密码不正确"))
            status = 401
        else:
            throttle.succeeded(key)
            display = next((u.display_name for u in engine.users() if u.username == actor.username), actor.username)
            lang = session.get("lang")
            session.clear()  # a fresh session: no fixation of an earlier one
            if lang:
                session["lang"] = lang
            session["display_name"] = display
            session.permanent = True
            login_user(StaffUser(actor))
            return redirect(safe_next(form.next.data))
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(gettext("已退出登录"), "info")
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str):
    """Switch the interface language (中文 / English) and go back."""
    from web.i18n import LANGUAGES

    if code not in LANGUAGES:
        abort(404)
    session["lang"] = code
    return redirect(safe_next(request.args.get("next")) if request.args.get("next") else
                    (url_for("inbox.index") if current_user.is_authenticated else url_for("auth.login")))
