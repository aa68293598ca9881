"""Log-in and log-out (Flask-Login over the engine's users), with a log-in rate limit.

The session keeps only the username; the actor (groups, roles) is read again on every
request, so a disabled user or a changed group takes effect at once. Failed log-ins are
counted in the database (per name and per client address, in a sliding window), so every
web process enforces the same limit.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine import Actor
from engine.login_guard import LoginLimits

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

    app.extensions["paigong_login_limits"] = LoginLimits(
        per_name=int(app.config.get("LOGIN_MAX_FAILURES", 5)),
        per_address=int(app.config.get("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)),
        window=float(app.config.get("LOGIN_WINDOW_SECONDS", 300)))


def wait_text(seconds: int) -> str:
    """The lock-out message with the time left (seconds below a minute, else whole minutes)."""
    if seconds < 60:
        return gettext("登录失败次数过多，请 %(n)s 秒后再试", n=seconds)
    return gettext("登录失败次数过多，请 %(n)s 分钟后再试", n=(seconds + 59) // 60)


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
    """Log in with username and password; five failures of a name (or twenty from one address)
    within 5 minutes lock it until the oldest of them is 5 minutes old."""
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        engine = current_app.extensions["paigong"]
        outcome = engine.attempt_login(form.username.data.strip(), form.password.data, request.remote_addr,
                                       current_app.extensions["paigong_login_limits"])
        if outcome.retry_after:
            form.form_errors.append(wait_text(outcome.retry_after))
            response = current_app.make_response((render_template("login.html", form=form), 429))
            response.headers["Retry-After"] = str(outcome.retry_after)
            return response
        actor = outcome.actor
        if actor is None:
            form.form_errors.append(gettext("用户名或密码不正确"))
            status = 401
        else:
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
