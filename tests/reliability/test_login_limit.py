"""Log-in rate limit shared by every web process (counted in the database), and secrets
stored hashed: passwords with a slow salted hash, API tokens as the sha256 of a random secret."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from engine import SYSTEM, Engine, identity
from engine.channel_models import ApiToken
from engine.login_models import LoginFailure
from engine.models import User
from tests.conftest import WORKFLOWS
from web import create_app

PASSWORD = "secret-pass-1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def add_staff(db, *usernames: str) -> None:
    with db.write() as s:
        for name in usernames:
            identity.create_user(s, name, PASSWORD, name, groups=("customer_service",))
        # cheap hashes for the log-in checks below (real ones are slow on purpose)
        s.execute(update(User).values(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))


def web_app(url: str, tmp_path, name: str, **config):
    app = create_app(test_config={
        "TESTING": True, "SECRET_KEY": "test-secret", "DATABASE_URL": url, "WORKFLOWS": WORKFLOWS,
        "UPLOAD_DIR": str(tmp_path / f"uploads-{name}"), "WTF_CSRF_ENABLED": False, **config})
    return app


def log_in(app, username: str, password: str, address: str = "10.0.0.1"):
    """One log-in from a fresh browser (no session yet)."""
    return app.test_client().post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


# A second web process: its own interpreter and its own connections to the same database.
OTHER_PROCESS = textwrap.dedent("""
    import json, sys
    from web import create_app
    url, uploads, attempts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    app = create_app(test_config={"TESTING": True, "SECRET_KEY": "other-secret", "DATABASE_URL": url,
                                  "UPLOAD_DIR": uploads, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    codes = []
    for username, password, address in attempts:
        r = client.post("/login", data={"username": username, "password": password},
                        environ_base={"REMOTE_ADDR": address})
        codes.append([r.status_code, r.headers.get("Retry-After")])
    print(json.dumps(codes))
""")


def in_other_process(url: str, tmp_path, attempts: list[tuple[str, str, str]]) -> list[list]:
    done = subprocess.run([sys.executable, "-c", OTHER_PROCESS, url, str(tmp_path / "uploads-other"),
                           json.dumps(attempts)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_failures_through_one_web_process_count_on_the_other(pg_db, tmp_path, figures):
    add_staff(pg_db, "kefu", "diaodu")
    first = web_app(pg_db.url, tmp_path, "a")
    second = web_app(pg_db.url, tmp_path, "b")
    a, b = first, second
    try:
        # two failures through A, two through B (another app, other connections)
        assert [log_in(a, "kefu", "wrong").status_code for _ in range(2)] == [401, 401]
        assert [log_in(b, "KeFu ", "wrong").status_code for _ in range(2)] == [401, 401]  # same name
        # the fifth failure from a separate operating-system process
        assert [c for c, _ in in_other_process(pg_db.url, tmp_path, [("kefu", "wrong", "10.0.0.1")])] == [401]
        # now every process refuses even the right password, and says how long to wait
        for client in (a, b):
            locked = log_in(client, "kefu", PASSWORD)
            assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 300
            assert "登录失败次数过多，请 5 分钟后再试" in locked.get_data(as_text=True)
        [[code, wait]] = in_other_process(pg_db.url, tmp_path, [("kefu", PASSWORD, "10.0.0.1")])
        assert code == 429 and 0 < int(wait) <= 300
        # another name from the same address is not locked
        assert log_in(b, "diaodu", PASSWORD).status_code == 302
        with pg_db.read() as s:
            rows = s.scalars(select(LoginFailure).order_by(LoginFailure.id)).all()
        assert [(r.username, r.address) for r in rows] == [("kefu", "10.0.0.1")] * 5  # refusals are not counted
        figures.set("permissions", "log-in lock shared by processes", "2 apps + 1 separate process")
    finally:
        first.extensions["paigong"].db.dispose()
        second.extensions["paigong"].db.dispose()


def test_an_address_trying_many_names_is_locked_for_every_name_and_a_success_resets_the_name(pg_db, tmp_path):
    names = [f"user{i}" for i in range(4)]
    add_staff(pg_db, *names, "kefu")
    first = web_app(pg_db.url, tmp_path, "a", LOGIN_MAX_FAILURES_PER_ADDRESS=6)
    second = web_app(pg_db.url, tmp_path, "b", LOGIN_MAX_FAILURES_PER_ADDRESS=6)
    a, b = first, second
    try:
        # a name with four failures logs in and starts again from nothing
        for _ in range(4):
            assert log_in(a, "kefu", "wrong", "10.0.0.9").status_code == 401
        assert log_in(b, "kefu", PASSWORD, "10.0.0.9").status_code == 302
        with pg_db.read() as s:
            assert s.scalars(select(LoginFailure).where(LoginFailure.username == "kefu")).all() == []
        # six failures over six names from one address (alternating processes) lock the address
        for i in range(6):
            client = a if i % 2 else b
            assert log_in(client, names[i % 4], "wrong", "10.0.0.7").status_code == 401
        assert log_in(a, "user3", PASSWORD, "10.0.0.7").status_code == 429
        assert log_in(b, "kefu", PASSWORD, "10.0.0.7").status_code == 429  # any name from there
        # the same names from another address are fine: no name failed five times
        assert log_in(first, "user3", PASSWORD, "10.0.0.8").status_code == 302
    finally:
        first.extensions["paigong"].db.dispose()
        second.extensions["paigong"].db.dispose()


def test_passwords_are_stored_with_a_slow_salted_hash(db):
    eng = Engine(db)
    eng.create_user("hash_a", "same-password-1", "甲", groups=("technician",))
    eng.create_user("hash_b", "same-password-1", "乙", groups=("technician",))
    eng.create_user("hash_c", "same-password-1", "丙", groups=("technician",))
    boss = eng.create_user("boss", "boss-password-1", "管理员", roles=("staff", "admin"))
    assert boss.username == "boss"
    eng.update_user("hash_b", actor=eng.actor("boss"), password="changed-password-2")
    with db.read() as s:
        rows = {u.username: u.password_hash for u in s.scalars(select(User))}
    for stored in rows.values():
        method = stored.split("$", 1)[0]
        # werkzeug's scrypt (the default) or pbkdf2 with many iterations; never the password itself
        assert method.startswith("scrypt:") or (method.startswith("pbkdf2:") and int(method.split(":")[2]) >= 100_000)
        assert "password" not in stored and len(stored.split("$")) == 3
    # the same password twice: two salts, two hashes
    assert rows["hash_a"].split("$")[1] != rows["hash_c"].split("$")[1] and rows["hash_a"] != rows["hash_c"]
    assert len(rows["hash_a"].split("$")[1]) >= 16
    assert check_password_hash(rows["hash_a"], "same-password-1")
    assert check_password_hash(rows["hash_b"], "changed-password-2")
    assert not check_password_hash(rows["hash_b"], "same-password-1")
    assert eng.authenticate("hash_b", "changed-password-2").username == "hash_b"


def test_api_tokens_are_stored_as_the_sha256_of_a_high_entropy_secret(db):
    eng = Engine(db)
    eng.create_user("kefu", PASSWORD, "客服", groups=("customer_service",))
    secrets = [eng.create_token(username="kefu", name=f"t{i}", actor=SYSTEM)[1] for i in range(3)]
    with db.read() as s:
        rows = s.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    assert len(set(secrets)) == 3
    for secret, row in zip(secrets, rows, strict=True):
        assert len(secret) >= 40  # 32 random bytes in URL-safe base64 after the prefix
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        stored = " ".join(str(getattr(row, c.key)) for c in ApiToken.__table__.columns)
        assert secret not in stored and secret[10:20] not in stored  # only the visible prefix is kept
        assert eng.actor_for_token(secret).username == "kefu"
    assert eng.actor_for_token(secrets[0][:-1] + ("A" if secrets[0][-1] != "A" else "B")) is None


@pytest.mark.parametrize("wait,text", [(30, "30 秒"), (59, "59 秒"), (60, "1 分钟"), (61, "2 分钟"), (300, "5 分钟")])
def test_the_lock_out_message_names_the_wait(app_context, wait, text):
    from web.auth import wait_text

    assert wait_text(wait) == f"登录失败次数过多，请 {text}后再试"


@pytest.fixture
def app_context(tmp_path):
    app = web_app(f"sqlite:///{tmp_path}/x.sqlite3", tmp_path, "ctx")
    with app.test_request_context("/login"):
        yield
    app.extensions["paigong"].db.dispose()
