"""Only the admin role reaches the console: every page and every POST below /admin, for every role.

The routes are read from the app's URL map, so a page added later is covered too.
"""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import start_order

STAFF_ROLES = ("kefu", "diaodu", "zhangwei", "huifang", "cangku", "analyst")


def admin_rules(app, method):
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/admin") and method in rule.methods})


def fill(rule: str, instance_id: int) -> str:
    rule = re.sub(r"<int:\w+>", str(instance_id), rule)
    rule = re.sub(r"<any\(\s*([^,)]+)[^>]*>", r"\1", rule)
    rule = rule.replace("<kind>", "product").replace("<process_id>", "work_order").replace("<username>", "kefu")
    rule = rule.replace("<month>", "2026-03")
    return re.sub(r"<[^>]+>", "x", rule)


def test_the_console_has_the_pages_of_the_issue(app):
    gets = set(admin_rules(app, "GET"))
    assert {"/admin/", "/admin/instances", "/admin/instances/<int:instance_id>", "/admin/heatmap/<process_id>",
            "/admin/reports/", "/admin/reports/settlement-<month>.xlsx", "/admin/reference/<kind>",
            "/admin/settings", "/admin/users"} <= gets
    posts = set(admin_rules(app, "POST"))
    assert {"/admin/instances/bulk", "/admin/instances/<int:instance_id>/move",
            "/admin/instances/<int:instance_id>/variables", "/admin/instances/<int:instance_id>/retry",
            "/admin/instances/<int:instance_id>/skip", "/admin/reference/<kind>/import", "/admin/users"} <= posts


def test_anonymous_visitors_are_sent_to_log_in(app, browser):
    b = browser()
    for rule in admin_rules(app, "GET"):
        response = b.get(fill(rule, 1))
        assert response.status_code == 302 and "/login" in response.headers["Location"], rule


@pytest.mark.parametrize("username", STAFF_ROLES)
def test_every_other_role_is_refused_every_page_and_post(app, engine, browser, username):
    instance_id = start_order(engine).instance_id
    b = browser(username)
    for rule in admin_rules(app, "GET"):
        assert b.get(fill(rule, instance_id)).status_code == 403, rule
    for rule in admin_rules(app, "POST"):
        response = b.post(fill(rule, instance_id), {"reason": "x", "action": "suspend", "ids": str(instance_id),
                                                    "element_id": "dispatch", "name": "x", "value": "1"})
        assert response.status_code == 403, rule
    assert engine.get_instance(instance_id).status == "running"  # nothing happened


def test_the_admin_reaches_every_page(app, engine, admin):
    instance_id = start_order(engine).instance_id
    for rule in admin_rules(app, "GET"):
        response = admin.get(fill(rule, instance_id), follow_redirects=True)
        assert response.status_code == 200, (rule, response.get_data(as_text=True)[:500])


def test_every_admin_post_needs_the_csrf_token(app, engine, admin):
    instance_id = start_order(engine).instance_id
    for rule in admin_rules(app, "POST"):
        response = admin.post(fill(rule, instance_id), {"reason": "x", "action": "suspend",
                                                        "ids": str(instance_id)}, csrf=False)
        assert response.status_code == 400, rule
    assert engine.get_instance(instance_id).status == "running"


def test_a_disabled_admin_loses_the_console_at_once(engine, admin):
    from engine import Actor

    boss = Actor("root", frozenset(), frozenset({"admin"}))
    engine.update_user("admin", actor=boss, roles=("staff",))
    assert admin.get("/admin/").status_code == 403
