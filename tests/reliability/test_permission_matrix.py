"""Permissions: every route and method of the app against every principal, as one table.

Principals are the anonymous visitor, a customer holding a link, each staff group, the
admin and the analyst (over a log-in session for the pages, over their own API token for
/api/v1), a forged customer link and the signed sales system where a route takes them.
Each cell is checked with a real request: POSTs carry the page's CSRF token (so a 403 is
a permission refusal, not a CSRF one) and path parameters are real objects made in the
fixture. The test fails when the app has a route the table does not list, so a new route
must be added here with its expected outcomes.

Outcomes: ``ok`` -- past the permission check (any status below 500 except 401/403 and a
log-in redirect: 200, 201, 202, 302 elsewhere, 400 for the empty form sent, 404 for a
missing sub-object, 409); ``login`` -- a redirect to the log-in page; ``401``; ``403``;
``-`` -- the principal has nothing to present there (not requested).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from werkzeug.datastructures import FileStorage
from werkzeug.security import generate_password_hash

from engine import Database, identity
from engine.models import Definition, User
from tests.web.conftest import ORDER, PASSWORD, Browser, build_database, copy_database, make_app
from web import uploads
from web.customer_links import make_token
from web.public import qr_token
from web.webhooks import signature

SALES_SECRET = "matrix-sales-secret"

# -- principals (the table's columns) --------------------------------------------------------

GROUP_USERS = {
    "customer_service": "kefu", "dispatcher": "diaodu", "technician": "zhangwei", "tech_supervisor": "zhuguan",
    "warehouse": "cangku", "call_center": "huifang", "settlement_auditor": "jiesuan", "finance": "caiwu",
    "service_advisor": "guwen", "workshop_lead": "banzu", "washer": "xiche", "security": "baoan",
    "project_manager": "xiangmu", "install_lead": "shouhou",
}
GROUPS = tuple(GROUP_USERS)
ADMIN, ANALYST = "admin", "analyst"
STAFF = (*GROUPS, ADMIN, ANALYST)
ANON, CUSTOMER, FORGED, HOOK = "anonymous", "customer", "forged_link", "sales_system"
PRINCIPALS = (ANON, CUSTOMER, FORGED, HOOK, *STAFF)
USERNAMES = {**{g: u for g, u in GROUP_USERS.items()}, ADMIN: "admin", ANALYST: "analyst"}
EXTRA_USERS = {  # beyond the web tests' staff: every other group, the two roles and a user to edit
    "zhuguan": ("tech_supervisor",), "jiesuan": ("settlement_auditor",), "caiwu": ("finance",),
    "guwen": ("service_advisor",), "banzu": ("workshop_lead",), "xiche": ("washer",), "baoan": ("security",),
    "xiangmu": ("project_manager",), "shouhou": ("install_lead",), "victim": ("warehouse",),
}

OK, LOGIN, DENY, UNAUTH, NA = "ok", "login", "403", "401", "-"

# -- who may do what: sets used by the table ---------------------------------------------------

ADMINS = {ADMIN}
MODELERS = {ADMIN, ANALYST}
INTAKE = {"customer_service", ADMIN}  # open work orders
WATCHERS = {"customer_service", "dispatcher", ADMIN}  # see every work order
# The order's open task waits in the dispatchers' queue: dispatchers (and admins) see any task
# and hand it to someone; only its group's members work on it -- never an admin in passing.
TASK_VIEWERS = {"dispatcher", ADMIN}
TASK_WORKERS = {"dispatcher"}
ORDER_SEERS = WATCHERS  # the order's only task is the dispatchers' (see above)
QR_MAKERS = {"customer_service", "dispatcher", ADMIN}
EVERYONE = set(PRINCIPALS) - {FORGED, HOOK}


def page(allowed, *, anon=LOGIN) -> dict[str, str]:
    """A staff page: anonymous visitors (and customers) go to log in, ``allowed`` pass, other staff 403."""
    allowed = set(STAFF) if allowed == "staff" else set(allowed)
    row = {ANON: anon, CUSTOMER: anon, FORGED: NA, HOOK: NA}
    row.update({p: OK if p in allowed else DENY for p in STAFF})
    return row


def api(allowed) -> dict[str, str]:
    """An API route: no token 401; each staff principal with its own bearer token."""
    allowed = set(STAFF) if allowed == "staff" else set(allowed)
    row = {ANON: UNAUTH, CUSTOMER: UNAUTH, FORGED: NA, HOOK: NA}
    row.update({p: OK if p in allowed else DENY for p in STAFF})
    return row


def open_to_all() -> dict[str, str]:
    return {p: (NA if p in (FORGED, HOOK) else OK) for p in PRINCIPALS}


def link(forged=DENY) -> dict[str, str]:
    """A customer page: whoever holds the link passes (no log-in), a forged link is refused."""
    return {**{p: OK for p in PRINCIPALS}, FORGED: forged, HOOK: NA}


def signed() -> dict[str, str]:
    """The sales system's webhook: only a body signed with the shared secret passes."""
    return {**{p: DENY for p in PRINCIPALS}, FORGED: NA, HOOK: OK}


# One row per endpoint and method (the keys are the endpoint names of the URL map).
TABLE: dict[tuple[str, str], dict[str, str]] = {
    # front door, log-in, language, static files, health
    ("home.index", "GET"): page("staff"),
    ("home.health", "GET"): open_to_all(),
    ("auth.login", "GET"): open_to_all(),
    ("auth.login", "POST"): open_to_all(),
    ("auth.logout", "POST"): page("staff"),
    # (a visitor not logged in goes back to the log-in page, in the language chosen)
    ("auth.set_language", "GET"): {**open_to_all(), ANON: LOGIN, CUSTOMER: LOGIN},
    ("static", "GET"): open_to_all(),
    # the inbox and the task page (the task waits in the dispatchers' queue)
    ("inbox.index", "GET"): page("staff"),
    ("inbox.task", "GET"): page(TASK_VIEWERS),
    ("inbox.complete", "POST"): page(TASK_WORKERS),
    ("inbox.draft", "POST"): page(TASK_WORKERS),
    ("inbox.checkin", "POST"): page(TASK_WORKERS),
    ("inbox.claim", "POST"): page(TASK_WORKERS),
    ("inbox.unclaim", "POST"): page(TASK_VIEWERS),  # a held task put back in the queue,
    ("inbox.reassign", "POST"): page(TASK_VIEWERS),
    ("inbox.attachment", "GET"): page(ORDER_SEERS),
    # work orders
    ("orders.new", "GET"): page(INTAKE),
    ("orders.new", "POST"): page(INTAKE),
    ("orders.find", "GET"): page("staff"),
    ("orders.show", "GET"): page(ORDER_SEERS),
    ("orders.diagram", "GET"): page(ORDER_SEERS),
    # the admin console
    **{(endpoint, method): page(ADMINS) for endpoint, method in (
        ("admin.dashboard", "GET"), ("admin.instances", "GET"), ("admin.instance", "GET"),
        ("admin.diagram", "GET"), ("admin.heatmap", "GET"), ("admin.status_action", "POST"),
        ("admin.move", "POST"), ("admin.retry", "POST"), ("admin.skip", "POST"), ("admin.variables", "POST"),
        ("admin.bulk", "POST"), ("admin.data.save_group", "POST"), ("admin.data.reference", "GET"),
        ("admin.data.reference_kind", "GET"), ("admin.data.reference_export", "GET"),
        ("admin.data.reference_import", "POST"), ("admin.data.settings", "GET"), ("admin.data.settings", "POST"),
        ("admin.data.users", "GET"), ("admin.data.create_user", "POST"), ("admin.data.user", "GET"),
        ("admin.data.user", "POST"), ("admin.reports.index", "GET"), ("admin.reports.penalties_csv", "GET"),
        ("admin.reports.settlement_csv", "GET"), ("admin.reports.settlement_xlsx", "GET"))},
    # the modeler (process analysts and admins)
    **{(endpoint, method): page(MODELERS) for endpoint, method in (
        ("modeler.index", "GET"), ("modeler.version", "GET"), ("modeler.download_zip", "GET"),
        ("modeler.download", "GET"), ("modeler.sources_json", "GET"), ("modeler.deploy", "POST"),
        ("modeler.diff", "GET"), ("modeler.save_draft", "POST"), ("modeler.draft_json", "GET"),
        ("modeler.delete_draft", "POST"), ("modeler.editor", "GET"), ("modeler.form_preview", "POST"),
        ("modeler.migrate", "GET"), ("modeler.migrate", "POST"), ("modeler.scenarios", "GET"),
        ("modeler.scenarios", "POST"), ("modeler.validate", "POST"), ("modeler.workspace_json", "GET"))},
    # customers: status, reschedule, evaluation by signed link; QR fault reports; the QR image (staff)
    ("public.status", "GET"): link(),
    ("public.reschedule", "POST"): link(),
    ("public.evaluate", "GET"): link(),
    ("public.evaluate", "POST"): link(),
    ("public.report", "GET"): link(),
    ("public.report", "POST"): link(),
    ("public.qr_image", "GET"): page(QR_MAKERS),
    ("webhooks.sales", "POST"): signed(),
    # the REST API (bearer tokens)
    ("api.openapi", "GET"): {**api("staff"), ANON: OK, CUSTOMER: OK},
    ("api.me", "GET"): api("staff"),
    ("api.list_tasks", "GET"): api("staff"),
    ("api.get_task", "GET"): api(TASK_VIEWERS),
    ("api.claim_task", "POST"): api(TASK_WORKERS),
    ("api.unclaim_task", "POST"): api(TASK_VIEWERS),
    ("api.complete_task", "POST"): api(TASK_WORKERS),
    ("api.create_work_order", "POST"): api(INTAKE),
    ("api.search_work_orders", "GET"): api(WATCHERS),
    ("api.get_work_order", "GET"): api(ORDER_SEERS),
    ("api.send_message", "POST"): api(ORDER_SEERS),
    ("api.list_instances", "GET"): api(ADMINS),
    ("api.get_instance", "GET"): api(ORDER_SEERS),
    ("api.instance_history", "GET"): api(ORDER_SEERS),
    ("api.suspend_instance", "POST"): api(ADMINS),
    ("api.resume_instance", "POST"): api(ADMINS),
    ("api.terminate_instance", "POST"): api(ADMINS),
    ("api.retry_instance", "POST"): api(ADMINS),
    ("api.list_definitions", "GET"): api(MODELERS),
    ("api.deploy_definitions", "POST"): api(MODELERS),
    ("api.list_evaluations", "GET"): api(WATCHERS),
    ("api.list_templates", "GET"): api(ADMINS),
    ("api.save_template", "PUT"): api(ADMINS),
    ("api.reference_counts", "GET"): api("staff"),
    ("api.reference_item", "GET"): api("staff"),
}

# Requests that change what later rows see run last, in this order: an urge opens a call-back
# task for the technicians, a suspended or terminated order refuses work; the logged-out
# session is logged in again.
LAST = ("api.send_message", "admin.status_action", "api.terminate_instance", "auth.logout")


# -- the app and its objects -----------------------------------------------------------------


@dataclass
class World:
    app: object
    engine: object
    instance_id: int
    task_id: str
    work_order_no: str
    file_id: str
    definition_id: int
    definition_file: str
    status_token: str
    evaluate_token: str
    report_token: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def matrix_db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("matrix") / "template.sqlite3")
    build_database(path)
    db = Database.connect(f"sqlite:///{path}")
    with db.write() as s:
        for username, groups in EXTRA_USERS.items():
            identity.create_user(s, username, PASSWORD, username, groups=groups)
        identity.create_user(s, "admin", PASSWORD, "管理员", roles=("staff", "admin"))
        identity.create_user(s, "analyst", PASSWORD, "流程分析员", roles=("staff", "analyst"))
        s.execute(update(User).values(password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")))
    db.dispose()
    return path


@pytest.fixture
def world(tmp_path, matrix_db):
    from engine import FakeClock

    db_path = str(tmp_path / "matrix.sqlite3")
    copy_database(matrix_db, db_path)
    app = make_app(tmp_path, FakeClock(), db_path, SALES_WEBHOOK_SECRET=SALES_SECRET,
                   LOGIN_MAX_FAILURES=1000, LOGIN_MAX_FAILURES_PER_ADDRESS=1000)
    engine = app.extensions["paigong"]
    started = engine.start("work_order", dict(ORDER), actor=engine.actor("kefu"))
    [task] = started.open_tasks
    assert task.group_id == "dispatcher"
    definition = next(d for d in engine.definitions() if d.process_id == "work_order")
    with app.test_request_context("/"):
        png = FileStorage(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 64), filename="photo.png",
                          content_type="image/png")
        stored = uploads.store(png, instance_id=started.instance_id, task_id=task.id, username="diaodu",
                               when=engine.clock.now())
        report = qr_token(ORDER["product_model"], ORDER["serial_no"])
    with engine.db.read() as s:
        sources = s.get(Definition, definition.id).sources
    tokens = {p: engine.create_token(username=USERNAMES[p])[1] for p in STAFF}
    yield World(app, engine, started.instance_id, task.id, ORDER["work_order_no"], stored.id, definition.id,
                next(name for name in sources if name.endswith(".bpmn")),
                make_token(started.instance_id, "status", app), make_token(started.instance_id, "evaluate", app),
                report, tokens)
    engine.db.dispose()


def forge(token: str) -> str:
    """The same link with one character of its signature changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def fill(rule: str, world: World, principal: str) -> str:
    tokens = {"public.status": world.status_token, "public.reschedule": world.status_token,
              "public.evaluate": world.evaluate_token, "public.report": world.report_token}
    values = {
        "instance_id": world.instance_id, "task_id": world.task_id, "file_id": world.file_id,
        "work_order_no": world.work_order_no, "serial_no": ORDER["serial_no"], "process_id": "work_order",
        "kind": "product", "key": ORDER["product_model"], "username": "victim", "month": "2026-03",
        "definition_id": world.definition_id, "name": world.definition_file, "draft_id": 1, "code": "zh",
        "filename": "app.css", "action": "suspend",
    }

    def value(match: re.Match) -> str:
        name = match.group(2)
        if name == "token":
            return match.group(0)  # filled by the caller, who knows the endpoint
        return str(values[name])

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?(\w+)>", value, rule), tokens


def rules(app) -> dict[tuple[str, str], str]:
    found = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[(rule.endpoint, method)] = rule.rule
    return found


class Caller:
    """Sends one principal's requests: a browser session for pages, a bearer token for the API."""

    def __init__(self, world: World, principal: str) -> None:
        self.world, self.principal = world, principal
        self.browser = Browser(world.app.test_client())
        self.login()

    def login(self) -> None:
        if self.principal in USERNAMES:
            assert self.browser.login(USERNAMES[self.principal]).status_code == 302
        elif self.principal == CUSTOMER:  # a customer who opened the link first
            assert self.browser.get(f"/c/{self.world.status_token}").status_code == 200
        else:
            self.browser.get("/login")

    def call(self, endpoint: str, method: str, rule: str):
        url, tokens = fill(rule, self.world, self.principal)
        if "<token>" in url:
            token = tokens[endpoint]
            url = url.replace("<token>", forge(token) if self.principal == FORGED else token)
        if endpoint.startswith("api."):
            headers = {}
            if self.principal in self.world.tokens:
                headers["Authorization"] = f"Bearer {self.world.tokens[self.principal]}"
            body = api_body(endpoint, self.world)
            return self.browser.client.open(url, method=method, headers=headers,
                                            json=body if method != "GET" else None)
        if endpoint == "webhooks.sales":
            body = json.dumps({"sale_id": "S-1"}).encode()
            headers = {"Content-Type": "application/json"}
            if self.principal == HOOK:
                headers["X-Paigong-Signature"] = signature(SALES_SECRET, body)
            return self.browser.client.post(url, data=body, headers=headers)
        if method == "GET":
            return self.browser.get(url)
        return self.browser.post(url, {}, headers={"X-CSRFToken": self.browser.token or ""})


def api_body(endpoint: str, world: World) -> dict:
    """A body the route accepts in shape, so a refusal is about who asks (or an empty one)."""
    if endpoint == "api.complete_task":
        return {"data": {}}
    if endpoint == "api.send_message":
        return {"name": "urge", "work_order_no": world.work_order_no, "payload": {"note": "催一下"}}
    return {}


def outcome(response, endpoint: str) -> str:
    status = response.status_code
    location = response.headers.get("Location", "")
    if endpoint == "auth.logout" and status == 302 and location == "/login":
        return OK  # logged out: back to the log-in page (a visitor not logged in is sent with ?next=)
    if status == 302 and "/login" in location:
        return LOGIN
    if status in (401, 403):
        return str(status)
    if status >= 500:
        return f"server error {status}"
    return OK


def test_every_route_is_in_the_table(app_rules):
    missing = sorted(set(app_rules) - set(TABLE))
    stale = sorted(set(TABLE) - set(app_rules))
    assert missing == [], f"routes without a row in TABLE (add their expected outcomes): {missing}"
    assert stale == [], f"rows for routes the app no longer has: {stale}"
    for key, row in TABLE.items():
        assert set(row) == set(PRINCIPALS), key


@pytest.fixture
def app_rules(world):
    return rules(world.app)


def test_every_cell_of_the_permission_matrix(world, app_rules, figures):
    callers = {p: Caller(world, p) for p in PRINCIPALS if p not in (FORGED, HOOK)}
    callers[FORGED] = Caller(world, FORGED)
    callers[HOOK] = Caller(world, HOOK)
    order = sorted(TABLE, key=lambda key: (key[0] in LAST, LAST.index(key[0]) if key[0] in LAST else 0, key))
    wrong, checked, unfinished = [], 0, set()
    for endpoint, method in order:
        rule = app_rules[(endpoint, method)]
        row = TABLE[(endpoint, method)]
        # refusals first: an allowed request may change the object the next one asks about
        for principal in sorted(row, key=lambda p: row[p] == OK):
            expected = row[principal]
            if expected == NA:
                continue
            try:
                response = callers[principal].call(endpoint, method, rule)
                got, status = outcome(response, endpoint), response.status_code
                response.close()  # file responses (static, attachments) hold their file open
            except AttributeError as exc:
                if endpoint.startswith("modeler.") and "'Engine' object has no attribute" in str(exc):
                    # the page's view was reached (its permission gate passed) but the engine
                    # side of the modeler is not in this tree yet
                    got, status = OK, f"view reached; {exc}"
                    unfinished.add(endpoint)
                else:
                    got, status = "server error", f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # the app under TESTING lets a server error through
                got, status = "server error", f"{type(exc).__name__}: {exc}"
            checked += 1
            if got != expected:
                wrong.append(f"{method} {rule} [{endpoint}] as {principal}: expected {expected}, got {got} ({status})")
            if endpoint == "auth.logout" and principal in callers:
                callers[principal].login()
    figures.set("permissions", "routes x principals", f"{len(TABLE)} x {len(PRINCIPALS)}")
    figures.add("permissions", "cells checked", checked)
    if unfinished:
        figures.set("permissions", "views reached whose engine side is missing", len(unfinished))
    assert wrong == [], "\n".join(wrong)


def test_an_api_route_ignores_a_logged_in_session_without_a_token(world):
    """Cookies never authenticate the API (nothing for a forged cross-site request to ride on)."""
    admin = Caller(world, ADMIN)
    assert admin.browser.client.get("/api/v1/me").status_code == 401
    assert admin.browser.client.post(f"/api/v1/instances/{world.instance_id}/terminate", json={}).status_code == 401
    assert world.engine.get_instance(world.instance_id).status == "running"


def test_customer_links_expire_and_serve_one_purpose_only(world):
    client = world.app.test_client()
    # a status link does not open the evaluation, an evaluation link does not show the status
    assert client.get(f"/c/{world.evaluate_token}").status_code == 403
    assert client.get(f"/c/{world.status_token}/evaluate").status_code == 403
    assert client.get(f"/c/{world.status_token}").status_code == 200
    world.engine.clock.advance(days=61)
    for url in (f"/c/{world.status_token}", f"/c/{world.evaluate_token}/evaluate"):
        response = client.get(url)
        assert response.status_code == 403 and "链接已过期" in response.get_data(as_text=True), url

