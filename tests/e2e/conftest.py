"""Browser tests: the app on a free loopback port in a background thread, driven by Playwright
with Debian's chromium (``/usr/bin/chromium``; ``tools/ensure_browser.sh`` installs it under CI).
Playwright never downloads a browser here."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from engine import Database, Engine, identity
from engine.schema import upgrade
from tasks.refcsv import demo_csv_texts
from tests.conftest import IN_CI
from web import create_app
from web.demo import DEMO_PASSWORD, DEMO_USERS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROLES = ("kefu", "diaodu", "zhangwei", "liqiang", "huifang")
SHOTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "screenshots")
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def _needs_browser():
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required under CI (tools/ensure_browser.sh installs it)")
        pytest.skip(f"{CHROMIUM} not installed")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("the playwright package is required under CI (dev extras)")
        pytest.skip("playwright not installed")


def build_site(folder: str, workflows: str) -> str:
    """A database with the demo staff of the roles above, the demo reference data and ``workflows``."""
    path = os.path.join(folder, "e2e.sqlite3")
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db)
    with db.write() as s:
        identity.ensure_standard_groups(s)
        for username, name, groups, roles in DEMO_USERS:
            if username in ROLES:
                identity.create_user(s, username, DEMO_PASSWORD, name, groups=groups, roles=roles)
    engine = Engine(db)
    for kind, text in demo_csv_texts().items():
        engine.import_reference(kind, text)
    engine.deploy_directory(workflows)
    db.dispose()
    return path


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The app serving on 127.0.0.1 at a free port; yields its base URL."""
    _needs_browser()
    from tests.web.test_uploads import with_attachments

    folder = tmp_path_factory.mktemp("e2e")
    workflows = with_attachments(str(folder / "workflows"))
    path = build_site(str(folder), workflows)
    app = create_app(test_config={
        "SECRET_KEY": "e2e-secret", "DATABASE_URL": f"sqlite:///{path}", "WORKFLOWS": workflows,
        "UPLOAD_DIR": str(folder / "uploads"), "TRANSLATIONS_BUILD_DIR": str(folder / "translations"),
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    app.extensions["paigong"].db.dispose()


@pytest.fixture(scope="module")
def chromium(live_server):
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture
def screenshots():
    os.makedirs(SHOTS, exist_ok=True)

    def shoot(page, name: str) -> str:
        path = os.path.join(SHOTS, f"{name}.png")
        page.screenshot(path=path, full_page=True)
        return path

    return shoot
