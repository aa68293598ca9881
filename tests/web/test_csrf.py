"""Every POST route refuses a request without the CSRF token; the token also works as a header.

The JSON API under /api/ authenticates with bearer tokens and the webhooks under /hooks/ with
HMAC signatures, not the session cookie, so a forged cross-site request carries no credentials
there; they are exempt and tested with their own blueprints.
"""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import start_order, task_of

EXEMPT = ("/api/", "/hooks/")


def post_rules(app):
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "POST" in rule.methods and not rule.rule.startswith(EXEMPT)})


def fill(rule: str, task_id: str) -> str:
    rule = re.sub(r"<int:\w+>", "1", rule.replace("<task_id>", task_id))
    rule = re.sub(r"<any\(\s*([^,)]+)[^>]*>", r"\1", rule)  # a choice: its first option
    return re.sub(r"<[^>]+>", "x", rule)


def test_the_staff_post_routes_are_all_covered(app):
    assert set(post_rules(app)) >= set([
        "/login", "/logout", "/orders/new", "/tasks/<task_id>/claim", "/tasks/<task_id>/unclaim",
        "/tasks/<task_id>/reassign", "/tasks/<task_id>/complete", "/tasks/<task_id>/draft",
        "/tasks/<task_id>/checkin",
    ])


@pytest.mark.parametrize("logged_in", [False, True])
def test_every_post_without_a_csrf_token_is_refused(app, engine, browser, logged_in):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu") if logged_in else browser()
    for rule in post_rules(app):
        response = b.post(fill(rule, task.id), {"technician": "zhangwei", "accept_within": "PT2H",
                                                "username": "diaodu", "password": "x"}, csrf=False)
        assert response.status_code == 400, rule
        assert "安全令牌" in response.get_data(as_text=True), rule
    assert task_of(engine, "diaodu", "dispatch").assignee is None


def test_a_wrong_token_is_refused_too(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu")
    assert b.post(f"/tasks/{task.id}/claim", {"csrf_token": "forged"}).status_code == 400


def test_scripts_send_the_token_in_a_header(engine, browser):
    start_order(engine)
    task = task_of(engine, "diaodu", "dispatch")
    b = browser("diaodu")
    response = b.client.post(f"/tasks/{task.id}/claim", headers={"X-CSRFToken": b.token})
    assert response.status_code == 302
    assert task_of(engine, "diaodu", "dispatch").assignee == "diaodu"
