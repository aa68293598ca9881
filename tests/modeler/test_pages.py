"""The modeler's pages and endpoints through the Flask test client: who may enter, CSRF on every
POST, drafts, validation, deploy, downloads, diff, form preview, migration and scenarios."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from tests.conftest import WORKFLOWS
from tests.modeler.conftest import post_json
from tests.web.conftest import ORDER

STAFF = ("kefu", "diaodu", "zhangwei", "huifang", "cangku")
P3 = "appliance_service.bpmn"


def modeler_rules(app, method):
    return sorted({r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/modeler") and method in r.methods})


def fill(rule: str, definition_id: int, draft_id: int = 1) -> str:
    rule = rule.replace("<int:draft_id>", str(draft_id))
    rule = re.sub(r"<int:\w+>", str(definition_id), rule)
    return re.sub(r"<path:\w+>", P3, rule)


def workflow(name: str) -> str:
    with open(f"{WORKFLOWS}/{name}", encoding="utf-8") as fh:
        return fh.read()


def p3_id(engine, version: int | None = None) -> int:
    process = next(p for p in engine.process_catalog() if p.process_id == "appliance_service")
    rows = sorted(process.versions, key=lambda v: v.version)
    return (rows[-1] if version is None else next(v for v in rows if v.version == version)).definition_id


def renamed_p3(new_name: str) -> str:
    """P3 with one user task renamed: a change the diff and a new version can show."""
    text = workflow(P3)
    assert 'name="立单派工"' in text
    return text.replace('name="立单派工"', f'name="{new_name}"', 1)


def with_p3(engine, text: str) -> dict[str, str]:
    """The deployed workspace (P3 calls other processes, uses forms and the DMN) with P3 replaced."""
    return dict(engine.workspace_files(), **{P3: text})


def deploy_v2(engine, name="立单并派工"):
    return engine.deploy_model(with_p3(engine, renamed_p3(name)), engine.actor("analyst"))


def test_the_modeler_has_the_pages_of_the_issue(app):
    gets = set(modeler_rules(app, "GET"))
    assert {"/modeler/", "/modeler/definitions/<int:definition_id>", "/modeler/definitions/<int:definition_id>/files.zip",
            "/modeler/definitions/<int:definition_id>/files/<path:name>", "/modeler/diff", "/modeler/edit",
            "/modeler/migrate", "/modeler/scenarios"} <= gets
    posts = set(modeler_rules(app, "POST"))
    assert {"/modeler/drafts", "/modeler/validate", "/modeler/deploy", "/modeler/form-preview", "/modeler/migrate",
            "/modeler/scenarios", "/modeler/drafts/<int:draft_id>/delete"} <= posts


def test_anonymous_visitors_are_sent_to_log_in(app, engine, browser):
    b = browser()
    for rule in modeler_rules(app, "GET"):
        response = b.get(fill(rule, p3_id(engine)))
        assert response.status_code == 302 and "/login" in response.headers["Location"], rule


@pytest.mark.parametrize("username", STAFF)
def test_staff_without_the_analyst_role_are_refused_everything(app, engine, browser, username):
    b = browser(username)
    assert "/modeler/" not in b.get("/inbox").get_data(as_text=True)  # no link in the navigation
    for rule in modeler_rules(app, "GET"):
        assert b.get(fill(rule, p3_id(engine))).status_code == 403, rule
    for rule in modeler_rules(app, "POST"):
        assert b.post(fill(rule, p3_id(engine)), {"action": "check"}).status_code == 403, rule
        assert post_json(b, fill(rule, p3_id(engine)), {"files": with_p3(engine, renamed_p3("x"))}).status_code == 403, rule
    assert engine.model_drafts() == [] and p3_id(engine) == p3_id(engine, 1)


def test_every_post_needs_the_csrf_token(app, engine, analyst):
    for rule in modeler_rules(app, "POST"):
        assert analyst.post(fill(rule, p3_id(engine)), {"action": "check"}, csrf=False).status_code == 400, rule
        response = post_json(analyst, fill(rule, p3_id(engine)), {"files": with_p3(engine, renamed_p3("x"))}, csrf=False)
        assert response.status_code == 400, rule
    assert engine.model_drafts() == [] and p3_id(engine) == p3_id(engine, 1)


@pytest.mark.parametrize("who", ["analyst", "admin"])
def test_analysts_and_admins_reach_every_page(app, engine, browser, who):
    deploy_v2(engine)
    draft = engine.save_model_draft("草稿", with_p3(engine, renamed_p3("x")), engine.actor(who))
    b = browser(who)
    assert "/modeler/" in b.get("/inbox").get_data(as_text=True)
    for rule in modeler_rules(app, "GET"):
        response = b.get(fill(rule, p3_id(engine), draft.id))
        assert response.status_code == 200, (rule, response.get_data(as_text=True)[:300])


def test_the_definitions_list_shows_each_version_with_deployer_and_instances(engine, analyst):
    engine.start("appliance_service", dict(ORDER), actor=engine.actor("kefu"))
    deploy_v2(engine)
    page = analyst.get("/modeler/").get_data(as_text=True)
    assert 'data-process="appliance_service" data-version="2"' in page
    assert 'data-process="appliance_service" data-version="1"' in page
    assert "analyst" in page  # who deployed version 2
    assert f'/modeler/diff?from={p3_id(engine, 1)}&amp;to={p3_id(engine, 2)}' in page


def test_a_version_is_viewed_and_downloaded_file_by_file_or_as_a_zip(engine, analyst):
    definition_id = p3_id(engine)
    page = analyst.get(f"/modeler/definitions/{definition_id}").get_data(as_text=True)
    assert f"/modeler/definitions/{definition_id}/files/{P3}" in page
    one = analyst.get(f"/modeler/definitions/{definition_id}/files/{P3}")
    assert one.status_code == 200 and "attachment" in one.headers["Content-Disposition"]
    assert one.get_data(as_text=True) == engine.definition_sources(definition_id)[P3]
    assert analyst.get(f"/modeler/definitions/{definition_id}/files/nothing.bpmn").status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(analyst.get(f"/modeler/definitions/{definition_id}/files.zip").data))
    assert sorted(archive.namelist()) == sorted(engine.definition_sources(definition_id))
    data = analyst.get(f"/modeler/definitions/{definition_id}/sources.json").get_json()
    assert data["main"] == P3 and data["version"] == 1
    assert analyst.get("/modeler/definitions/999999").status_code == 404


def test_the_diff_lists_the_changed_element(engine, analyst):
    deploy_v2(engine)
    page = analyst.get(f"/modeler/diff?from={p3_id(engine, 1)}&to={p3_id(engine, 2)}").get_data(as_text=True)
    assert 'data-kind="changed" data-element="p3_dispatch"' in page
    assert 'id="diff-from"' in page and 'id="diff-to"' in page


def test_the_editor_opens_the_workspace_a_version_or_a_draft(engine, analyst):
    page = analyst.get("/modeler/edit").get_data(as_text=True)
    config = json.loads(re.search(r'<script type="application/json" id="modeler-config">(.*?)</script>', page, re.S)[1])
    assert "check_warranty" in {o["name"] for o in config["operators"]}
    assert "customer_service" in {g["id"] for g in config["groups"]}
    files = analyst.get(config["source"]["url"]).get_json()["files"]
    assert P3 in files and "warranty_policy.dmn" in files and "forms/p3_accept.json" in files
    assert analyst.get(f"/modeler/edit?definition={p3_id(engine)}").status_code == 200
    assert analyst.get("/modeler/edit?definition=999999").status_code == 404
    assert analyst.get("/modeler/edit?draft=999999").status_code == 404


def test_a_saved_draft_is_listed_reopened_and_never_deployed(engine, analyst):
    response = post_json(analyst, "/modeler/drafts", {"name": "P3 改名", "files": with_p3(engine, renamed_p3("立单并派工")),
                                                      "base_definition_id": p3_id(engine)})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert [p for p in body["problems"] if p["severity"] == "error"] == [] and body["draft"]["name"] == "P3 改名"
    draft_id = body["draft"]["id"]
    assert "P3 改名" in analyst.get("/modeler/").get_data(as_text=True)
    reopened = analyst.get(f"/modeler/drafts/{draft_id}.json").get_json()
    assert 'name="立单并派工"' in reopened["files"][P3] and reopened["base_definition_id"] == p3_id(engine)
    assert p3_id(engine) == p3_id(engine, 1)  # saving deploys nothing
    assert analyst.post(f"/modeler/drafts/{draft_id}/delete").status_code == 302
    assert engine.model_drafts() == []


def test_a_draft_with_a_broken_model_is_saved_with_its_problems_naming_the_element(engine, analyst):
    broken = workflow(P3).replace('<bpmn:lane id="customer_service" name="售后前台">',
                                  '<bpmn:lane id="nobody_lane" name="无人泳道">', 1)
    body = post_json(analyst, "/modeler/drafts", {"name": "坏草稿", "files": with_p3(engine, broken)}).get_json()
    assert body["problems"], body
    assert all({"file", "element_id", "severity", "code", "message"} <= set(p) for p in body["problems"])
    assert any(p["file"] == P3 and p["element_id"] for p in body["problems"])
    assert len(engine.model_drafts()) == 1


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>',
    '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>',
])
def test_hostile_xml_in_a_save_is_refused_with_a_clear_message(engine, analyst, hostile):
    for url in ("/modeler/drafts", "/modeler/validate", "/modeler/deploy"):
        response = post_json(analyst, url, {"name": "x", "files": {"evil.bpmn": hostile}})
        assert response.status_code == 400, url
        body = response.get_json()
        assert "evil.bpmn" in body["message"] and "DOCTYPE" in body["message"]
    assert engine.model_drafts() == []


@pytest.mark.parametrize("files", [
    {"../etc/passwd.bpmn": "<x/>"}, {"/abs.bpmn": "<x/>"}, {"script.py": "print(1)"}, {P3: 5}, {}, [],
])
def test_unacceptable_files_are_refused_naming_the_file(engine, analyst, files):
    response = post_json(analyst, "/modeler/drafts", {"name": "x", "files": files})
    assert response.status_code == 400
    assert engine.model_drafts() == []


def test_a_body_that_is_not_json_is_refused(analyst):
    response = analyst.client.post("/modeler/validate", data="files=1", headers={"X-CSRFToken": analyst.token,
                                                                              "Accept": "application/json"})
    assert response.status_code == 400


def test_validate_reports_problems_and_deploy_refuses_them_with_422(engine, analyst):
    broken = workflow(P3).replace('<bpmn:lane id="customer_service" name="售后前台">',
                                  '<bpmn:lane id="nobody_lane" name="无人泳道">', 1)
    problems = post_json(analyst, "/modeler/validate", {"files": with_p3(engine, broken)}).get_json()["problems"]
    assert problems and any(p["element_id"] for p in problems)
    response = post_json(analyst, "/modeler/deploy", {"files": with_p3(engine, broken)})
    assert response.status_code == 422 and response.get_json()["problems"]
    assert p3_id(engine) == p3_id(engine, 1)


def test_deploy_makes_a_new_version_and_unchanged_files_make_none(engine, analyst):
    response = post_json(analyst, "/modeler/deploy", {"files": with_p3(engine, renamed_p3("立单并派工"))})
    assert response.status_code == 200, response.get_data(as_text=True)
    deployed = response.get_json()["deployed"]
    assert [(d["process_id"], d["version"]) for d in deployed] == [("appliance_service", 2)]
    again = post_json(analyst, "/modeler/deploy", {"files": with_p3(engine, renamed_p3("立单并派工"))}).get_json()
    assert again["deployed"] == []
    assert ("appliance_service", 2) in [(d["process_id"], d["version"]) for d in again["unchanged"]]


def test_names_with_markup_are_escaped_everywhere(engine, analyst):
    evil = "<script>alert(1)</script>"
    engine.deploy_model(with_p3(engine, renamed_p3("&lt;script&gt;alert(1)&lt;/script&gt;")), engine.actor("analyst"))
    post_json(analyst, "/modeler/drafts", {"name": evil, "files": with_p3(engine, renamed_p3("x"))})
    for url in ("/modeler/", f"/modeler/diff?from={p3_id(engine, 1)}&to={p3_id(engine, 2)}", "/modeler/edit",
                "/modeler/migrate", "/modeler/scenarios"):
        page = analyst.get(url).get_data(as_text=True)
        assert evil not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in analyst.get(
        f"/modeler/diff?from={p3_id(engine, 1)}&to={p3_id(engine, 2)}").get_data(as_text=True)
    preview = post_json(analyst, "/modeler/form-preview", {"schema": {
        "title": evil, "type": "object", "properties": {"a": {"type": "string", "title": evil, "description": evil}}}})
    assert evil not in preview.get_data(as_text=True) and "&lt;script&gt;" in preview.get_data(as_text=True)


def test_the_form_preview_renders_like_the_task_page(analyst):
    with open(f"{WORKFLOWS}/forms/p3_accept.json", encoding="utf-8") as fh:
        schema = json.load(fh)
    html = post_json(analyst, "/modeler/form-preview", {"schema": schema}).get_data(as_text=True)
    assert 'name="accept_channel" value="self"' in html and "本人接单" in html
    assert '<textarea id="f-accept_note" name="accept_note"' in html
    assert post_json(analyst, "/modeler/form-preview", {"schema": [1]}).status_code == 400


def test_the_migration_page_checks_then_moves_instances(engine, analyst):
    started = engine.start("appliance_service", dict(ORDER), actor=engine.actor("kefu"))
    deploy_v2(engine)
    v1, v2 = p3_id(engine, 1), p3_id(engine, 2)
    page = analyst.post("/modeler/migrate", {"from_id": v1, "to_id": v2, "action": "check"}).get_data(as_text=True)
    assert f'name="selected" value="{started.instance_id}"' in page
    page = analyst.post("/modeler/migrate", {"from_id": v1, "to_id": v2, "action": "migrate",
                                             "selected": str(started.instance_id)}).get_data(as_text=True)
    assert 'id="migrate-report"' in page and f"#{started.instance_id}" in page and "已迁移" in page
    assert engine.get_instance(started.instance_id).definition_version == 2


def test_the_migration_page_refuses_a_bad_mapping_naming_the_line(engine, analyst):
    deploy_v2(engine)
    response = analyst.post("/modeler/migrate", {"from_id": p3_id(engine, 1), "to_id": p3_id(engine, 2),
                                                 "mapping": "p3_dispatch = p3_dispatch\nnot a pair", "action": "check"})
    assert response.status_code == 400 and "第 2 行" in response.get_data(as_text=True)
    response = analyst.post("/modeler/migrate", {"action": "migrate_all"})
    assert response.status_code == 400


def test_the_scenario_page_refuses_broken_json_and_runs_pasted_scenarios(engine, analyst):
    response = analyst.post("/modeler/scenarios", {"pasted": "{not json"})
    assert response.status_code == 400 and "JSON" in response.get_data(as_text=True)
    assert analyst.post("/modeler/scenarios", {}).status_code in (200, 400)
