"""The REST API: bearer tokens, the error shape, work orders with idempotency keys, tasks,
messages, instances, definitions, reference data."""

from __future__ import annotations

from engine.channel_models import ApiToken
from engine.models import Instance, Outbox
from tests.api.conftest import NEW_ORDER, open_order, task_of


def count_instances(engine) -> int:
    with engine.db.read() as s:
        return s.query(Instance).count()


def test_a_request_without_a_token_is_refused_with_the_error_shape(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_token_acts_as_its_user_and_is_stored_only_as_a_hash(client, engine, token):
    headers = token("kefu")
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me == {"username": "kefu", "groups": ["customer_service"], "roles": ["staff"]}
    secret = headers["Authorization"].split()[1]
    with engine.db.read() as s:
        stored = [t.secret_hash for t in s.query(ApiToken)]
    assert secret not in stored and len(stored[0]) == 64


def test_a_revoked_token_stops_working_at_once(client, engine):
    view, secret = engine.create_token(username="kefu")
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    engine.revoke_token(view.id)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_the_api_never_accepts_the_session_cookie(browser):
    b = browser("kefu")
    assert b.client.get("/inbox").status_code == 200
    assert b.client.get("/api/v1/me").status_code == 401


def test_an_integration_token_carries_its_own_groups(client, engine):
    _view, secret = engine.create_token(integration="hotline", groups=("customer_service",))
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).get_json()
    assert me["username"] == "api:hotline" and me["groups"] == ["customer_service"]


def test_token_commands_create_list_and_revoke(cli, client):
    created = cli("token", "create", "--user", "kefu", "--name", "呼叫中心")
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("pgt_")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = cli("token", "list")
    assert "呼叫中心" in listed.output and secret not in listed.output
    revoked = cli("token", "revoke", "1")
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    unknown = cli("token", "create", "--user", "nobody")
    assert unknown.exit_code == 1


def test_creating_a_work_order_starts_the_process_and_answers_with_its_first_task(client, token):
    opened = open_order(client, token("kefu"))
    assert opened["work_order_no"].startswith("WO-20260302-")
    assert opened["status"] == "running"
    assert [t["element_id"] for t in opened["open_tasks"]] == ["dispatch"]


def test_a_retried_create_with_the_same_idempotency_key_opens_one_order(client, engine, token):
    headers = {**token("kefu"), "Idempotency-Key": "crm-7f3a"}
    first = client.post("/api/v1/work-orders", json=NEW_ORDER, headers=headers)
    again = client.post("/api/v1/work-orders", json=NEW_ORDER, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count_instances(engine) == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(client, engine, token):
    headers = {**token("kefu"), "Idempotency-Key": "crm-7f3a"}
    client.post("/api/v1/work-orders", json=NEW_ORDER, headers=headers)
    other = client.post("/api/v1/work-orders", json={**NEW_ORDER, "symptom": "漏水"}, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "conflict"
    assert count_instances(engine) == 1


def test_keys_of_different_clients_do_not_collide(client, engine, token):
    client.post("/api/v1/work-orders", json=NEW_ORDER, headers={**token("kefu"), "Idempotency-Key": "k1"})
    _view, secret = engine.create_token(integration="crm", groups=("customer_service",))
    other = client.post("/api/v1/work-orders", json=NEW_ORDER,
                        headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "k1"})
    assert other.status_code == 201
    assert count_instances(engine) == 2


def test_an_attempt_that_died_before_finishing_is_completed_by_the_retry(client, engine, token, clock):
    from engine.intake import Idempotency

    headers = {**token("kefu"), "Idempotency-Key": "dies"}
    claim = Idempotency("api:kefu", "dies", None)
    number = engine.reserve_work_order_no(clock.now().date(), actor=engine.actor("kefu"))
    from engine.intake import _Claim

    engine._record_claim(claim, _Claim(number))  # a first attempt claimed the key and then died
    assert client.post("/api/v1/work-orders", json=NEW_ORDER, headers=headers).status_code == 409  # lease held
    clock.advance(seconds=61)
    retried = client.post("/api/v1/work-orders", json=NEW_ORDER, headers=headers)
    assert retried.status_code == 201 and retried.get_json()["work_order_no"] == number
    assert count_instances(engine) == 1


def test_invalid_input_lists_each_field(client, token):
    response = client.post("/api/v1/work-orders", json={**NEW_ORDER, "customer_phone": "123", "zone": "moon"},
                           headers=token("kefu"))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and set(error["fields"]) == {"customer_phone", "zone"}


def test_only_customer_service_opens_orders(client, token):
    response = client.post("/api/v1/work-orders", json=NEW_ORDER, headers=token("zhangwei"))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_a_second_order_for_the_same_unit_reports_the_running_one(client, token):
    headers = token("kefu")
    first = open_order(client, headers)
    second = open_order(client, headers)
    assert second["duplicates"] == [first["work_order_no"]]


def test_a_work_order_is_read_and_searched_by_number(client, token):
    headers = token("kefu")
    opened = open_order(client, headers)
    order = client.get(f"/api/v1/work-orders/{opened['work_order_no']}", headers=headers).get_json()
    assert order["data"]["customer_name"] == NEW_ORDER["customer_name"] and order["status"] == "running"
    found = client.get("/api/v1/work-orders", query_string={"work_order_no": opened["work_order_no"]},
                       headers=headers).get_json()
    assert found["total"] == 1 and found["items"][0]["id"] == opened["instance_id"]
    assert client.get("/api/v1/work-orders/WO-19990101-0001", headers=headers).status_code == 404


def test_tasks_are_listed_claimed_and_completed_through_the_api(client, engine, token):
    open_order(client, token("kefu"))
    headers = token("diaodu")
    queue = client.get("/api/v1/tasks", query_string={"tab": "queue", "order_type": "repair"}, headers=headers)
    task = queue.get_json()["items"][0]
    assert task["element_id"] == "dispatch"
    page = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).get_json()
    assert "technician" in page["form_schema"]["properties"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=headers).get_json()["assignee"] == "diaodu"
    assert client.post(f"/api/v1/tasks/{task['id']}/unclaim", headers=headers).status_code == 200
    bad = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}, headers=headers)
    assert bad.status_code == 400 and "technician" in bad.get_json()["error"]["fields"]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete",
                       json={"data": {"technician": "zhangwei", "accept_within": "PT2H"}}, headers=headers)
    assert done.status_code == 200
    assert [t["element_id"] for t in done.get_json()["open_tasks"]] == ["accept_task"]
    again = client.post(f"/api/v1/tasks/{task['id']}/complete",
                        json={"data": {"technician": "zhangwei", "accept_within": "PT2H"}}, headers=headers)
    assert again.status_code == 409


def test_an_urge_starts_the_orders_urge_handling_and_alerts_the_dispatcher(client, engine, token):
    opened = open_order(client, token("kefu"))
    response = client.post("/api/v1/messages", json={"name": "urge", "work_order_no": opened["work_order_no"],
                                                     "payload": {"note": "等了两天了"}}, headers=token("kefu"))
    assert response.status_code == 202
    assert response.get_json()["delivered"] is True
    history = client.get(f"/api/v1/instances/{opened['instance_id']}/history", headers=token("kefu")).get_json()
    assert any(e["kind"] == "urged" and e["data"]["note"] == "等了两天了" for e in history["items"])
    assert any(e["kind"] == "message_received" for e in history["items"])
    open_steps = [t.element_id for t in engine.get_instance(opened["instance_id"], with_data=False).open_tasks]
    assert "urge_callback" in open_steps and "dispatch" in open_steps
    with engine.db.read() as s:
        assert [o.topic for o in s.query(Outbox).filter(Outbox.topic == "urge")] == ["urge"]


def test_a_message_no_process_waits_for_is_not_found(client, token):
    opened = open_order(client, token("kefu"))
    response = client.post("/api/v1/messages", json={"name": "callback_result",
                                                     "work_order_no": opened["work_order_no"]}, headers=token("kefu"))
    assert response.status_code == 404


def test_instance_actions_need_an_admin(client, token):
    opened = open_order(client, token("kefu"))
    iid = opened["instance_id"]
    assert client.post(f"/api/v1/instances/{iid}/suspend", json={}, headers=token("diaodu")).status_code == 403
    admin = token("admin")
    assert client.post(f"/api/v1/instances/{iid}/suspend", json={"reason": "核对客户信息"},
                       headers=admin).get_json()["status"] == "suspended"
    assert client.post(f"/api/v1/instances/{iid}/suspend", json={}, headers=admin).status_code == 409
    assert client.post(f"/api/v1/instances/{iid}/resume", json={}, headers=admin).get_json()["status"] == "running"
    assert client.post(f"/api/v1/instances/{iid}/retry", headers=admin).status_code == 409  # not in error
    assert client.post(f"/api/v1/instances/{iid}/terminate", json={"reason": "客户取消"},
                       headers=admin).get_json()["status"] == "terminated"
    listed = client.get("/api/v1/instances", query_string={"status": "terminated"}, headers=admin).get_json()
    assert [i["id"] for i in listed["items"]] == [iid]


def test_definitions_are_listed_and_a_bad_deployment_is_refused_with_its_problems(client, token):
    headers = token("analyst")
    listed = client.get("/api/v1/definitions", headers=headers).get_json()
    assert "work_order" in {d["process_id"] for d in listed["items"]}
    refused = client.post("/api/v1/definitions", json={"files": {"broken.bpmn": "<definitions"}}, headers=headers)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid_definition"
    assert any("broken.bpmn" in k for k in refused.get_json()["error"]["fields"])
    assert client.get("/api/v1/definitions", headers=token("kefu")).status_code == 403


def test_reference_data_is_read_by_kind_and_key(client, token):
    headers = token("kefu")
    counts = client.get("/api/v1/reference", headers=headers).get_json()
    assert counts["product"] > 0
    product = client.get(f"/api/v1/reference/product/{NEW_ORDER['product_model']}", headers=headers)
    assert product.status_code == 200 and product.get_json()["model"] == NEW_ORDER["product_model"]
    assert client.get("/api/v1/reference/product/NOPE", headers=headers).status_code == 404


def test_the_openapi_document_is_generated_from_the_routes(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    routes = {r.rule[len("/api/v1"):].replace("<int:", "{").replace("<path:", "{").replace("<", "{").replace(">", "}")
              for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")}
    assert routes == set(doc["paths"])
    create = doc["paths"]["/work-orders"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/WorkOrderCreate"}
    assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])


def test_claiming_someone_elses_task_is_a_conflict(client, engine, token):
    open_order(client, token("kefu"))
    engine.claim(task_of(engine, "diaodu", "dispatch").id, actor=engine.actor("diaodu"))
    _view, secret = engine.create_token(integration="dispatch-bot", groups=("dispatcher",))
    task_id = task_of(engine, "diaodu", "dispatch").id
    response = client.post(f"/api/v1/tasks/{task_id}/claim", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 409


def test_admins_read_and_edit_the_notification_templates(client, token):
    admin = token("admin")
    listed = client.get("/api/v1/notification-templates", headers=admin).get_json()["items"]
    assert {"dispatch_reminder", "appointment", "service_completed", "urge"} <= {t["topic"] for t in listed}
    saved = client.put("/api/v1/notification-templates", headers=admin, json={
        "topic": "urge", "channel": "email", "recipient": "dispatch@example.cn", "title": "客户催单",
        "body": "工单 {work_order_no} 客户催促：{note}"})
    assert saved.status_code == 200 and saved.get_json()["id"]
    assert client.get("/api/v1/notification-templates", headers=token("kefu")).status_code == 403
