"""Log-in, log-out, the log-in rate limit, session cookie flags and security headers."""

from __future__ import annotations

from tests.web.conftest import PASSWORD
from web import create_app


def test_the_front_door_sends_strangers_to_log_in_and_staff_to_their_inbox(browser):
    anonymous = browser()
    response = anonymous.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert browser("kefu").get("/").headers["Location"].endswith("/inbox")


def test_pages_need_a_log_in(browser):
    response = browser().get("/inbox")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_a_correct_password_logs_in_and_a_wrong_one_does_not(browser):
    b = browser()
    b.get("/login")
    wrong = b.post("/login", {"username": "kefu", "password": "nope-nope"})
    assert wrong.status_code == 401 and "用户名或密码不正确" in wrong.get_data(as_text=True)
    right = b.post("/login", {"username": "kefu", "password": PASSWORD})
    assert right.status_code == 302 and right.headers["Location"] == "/inbox"
    assert "客服 王丽" in b.get("/inbox").get_data(as_text=True)


def test_log_in_goes_back_to_the_page_asked_for_but_never_to_another_site(browser):
    b = browser()
    b.get("/login")
    response = b.post("/login", {"username": "kefu", "password": PASSWORD, "next": "/orders/new"})
    assert response.headers["Location"] == "/orders/new"
    b = browser()
    b.get("/login")
    response = b.post("/login", {"username": "kefu", "password": PASSWORD, "next": "//evil.example/x"})
    assert response.headers["Location"] == "/inbox"


def test_log_out_ends_the_session(browser):
    b = browser("kefu")
    response = b.post("/logout")
    assert response.status_code == 302
    assert b.get("/inbox").status_code == 302


def test_five_failed_log_ins_lock_that_name_from_that_address_for_a_while(browser):
    b = browser()
    b.get("/login")
    for _ in range(5):
        assert b.post("/login", {"username": "kefu", "password": "wrong-pass"}).status_code == 401
    locked = b.post("/login", {"username": "kefu", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in locked.get_data(as_text=True)
    # another user at the same address is not locked out
    assert b.post("/login", {"username": "diaodu", "password": PASSWORD}).status_code == 302


def test_the_lock_lifts_after_the_window(clock, browser):
    b = browser()
    b.get("/login")
    for _ in range(5):
        b.post("/login", {"username": "kefu", "password": "wrong-pass"})
        clock.advance(seconds=100)  # the five failures at 0, 100, ..., 400 s
    locked = b.post("/login", {"username": "kefu", "password": PASSWORD})
    # at 500 s only the failures of 300 and 400 s lie in the 300 s window: open again
    assert locked.status_code == 302


def test_the_lock_waits_for_the_oldest_counted_failure_to_leave_the_window(clock, browser):
    b = browser()
    b.get("/login")
    for _ in range(5):
        b.post("/login", {"username": "kefu", "password": "wrong-pass"})
        clock.advance(seconds=10)
    locked = b.post("/login", {"username": "kefu", "password": PASSWORD})
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "250"  # the first failure leaves at 300 s
    assert "登录失败次数过多，请 5 分钟后再试" in locked.get_data(as_text=True)
    clock.advance(seconds=245)
    locked = b.post("/login", {"username": "kefu", "password": PASSWORD})
    assert "登录失败次数过多，请 5 秒后再试" in locked.get_data(as_text=True)
    clock.advance(seconds=5)
    assert b.post("/login", {"username": "kefu", "password": PASSWORD}).status_code == 302


def test_the_session_cookie_is_http_only_and_same_site_lax(browser):
    b = browser()
    b.get("/login")
    response = b.post("/login", {"username": "kefu", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookies_when_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("PAIGONG_SECURE_COOKIES", "1")
    app = create_app(test_config={"SECRET_KEY": "x", "DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite3",
                                  "TRANSLATIONS_BUILD_DIR": str(tmp_path / "tr")})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["paigong"].db.dispose()


def test_every_page_carries_the_security_headers(browser):
    response = browser().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_health_check_answers_without_a_log_in(browser):
    assert browser().get("/healthz").get_json() == {"status": "ok"}
