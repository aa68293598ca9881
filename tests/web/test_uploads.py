"""Attachments on task forms: stored with random names, 5 MB, images and PDF only, shown only to
those who may see the work order. Runs on a copy of workflows/ whose completion form asks for
the signed service slip (``{"widget": "file"}``)."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest

from tests.conftest import WORKFLOWS
from tests.web.conftest import build_database, copy_database, make_app
from tests.web.test_tasks import at_completion

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SLIP = {"title": "签字的服务凭证", "type": "string", "maxLength": 64, "x-ui": {"widget": "file"}}


def with_attachments(target: str) -> str:
    """workflows/ copied with a signed-slip field on the completion form (unless it has one already)."""
    shutil.copytree(WORKFLOWS, target)
    path = os.path.join(target, "forms", "wo_completion.json")
    with open(path, encoding="utf-8") as fh:
        form = json.load(fh)
    if not any((p.get("x-ui") or {}).get("widget") == "file" for p in form["properties"].values()):
        form["properties"]["signed_slip"] = SLIP
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(form, fh, ensure_ascii=False)
    return target


@pytest.fixture(scope="session")
def attachment_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("web-attach")
    path = str(base / "template.sqlite3")
    build_database(path, with_attachments(str(base / "workflows")))
    return path


@pytest.fixture
def app(tmp_path, clock, attachment_template):
    db_path = str(tmp_path / "web.sqlite3")
    copy_database(attachment_template, db_path)
    app = make_app(tmp_path, clock, db_path)
    yield app
    app.extensions["paigong"].db.dispose()


def file_key(engine):
    schema = engine.task_page(at_completion(engine).id, actor=engine.actor("zhangwei")).schema
    return next(k for k, p in schema["properties"].items() if (p.get("x-ui") or {}).get("widget") == "file")


COMPLETION = {"result": "fixed", "work_done": "更换电容", "fee_collected": "0", "customer_signed": "1"}


def test_a_signed_slip_is_stored_under_a_random_name_and_its_id_goes_into_the_form_data(app, engine, browser):
    key = file_key(engine)
    task = engine.inbox(engine.actor("zhangwei")).items[0]
    b = browser("zhangwei")
    page = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page
    response = b.post(f"/tasks/{task.id}/complete", {**COMPLETION, key: (io.BytesIO(PNG), "../../slip.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    done = [e for e in engine.history(task.instance_id) if e.kind == "task_completed"][-1]
    file_id = done.data[key]
    assert len(file_id) == 32 and sorted(os.listdir(app.config["UPLOAD_DIR"])) == [file_id, file_id + ".json"]
    with b.client.get(f"/files/{file_id}") as served:
        assert served.status_code == 200 and served.data == PNG and served.mimetype == "image/png"
        assert "sandbox" in served.headers["Content-Security-Policy"]


def test_only_those_who_may_see_the_order_get_its_attachments(app, engine, browser):
    key = file_key(engine)
    task = engine.inbox(engine.actor("zhangwei")).items[0]
    b = browser("zhangwei")
    b.post(f"/tasks/{task.id}/complete", {**COMPLETION, key: (io.BytesIO(PDF), "slip.pdf")},
           content_type="multipart/form-data")
    file_id = [e for e in engine.history(task.instance_id) if e.kind == "task_completed"][-1].data[key]
    with browser("diaodu").client.get(f"/files/{file_id}") as served:
        assert served.status_code == 200 and served.headers["Content-Disposition"].startswith("attachment")
    assert browser("liqiang").get(f"/files/{file_id}").status_code == 403
    assert browser("cangku").get(f"/files/{file_id}").status_code == 403
    assert browser().get(f"/files/{file_id}").status_code == 302  # log in first
    assert b.get("/files/" + "0" * 32).status_code == 404
    assert b.get("/files/..%2F..%2Fsecret_key").status_code == 404


def test_other_file_types_and_big_files_are_refused_with_the_form_kept(app, engine, browser, monkeypatch):
    from web import uploads

    monkeypatch.setattr(uploads, "MAX_BYTES", 4096)  # the test client spools big bodies to files it never closes
    key = file_key(engine)
    task = engine.inbox(engine.actor("zhangwei")).items[0]
    b = browser("zhangwei")
    response = b.post(f"/tasks/{task.id}/complete", {**COMPLETION, key: (io.BytesIO(b"<html>hi</html>"), "x.png")},
                      content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "只接受图片" in html and "更换电容" in html
    big = PNG + b"\0" * 4096
    response = b.post(f"/tasks/{task.id}/complete", {**COMPLETION, key: (io.BytesIO(big), "big.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 400 and "5 MB" in response.get_data(as_text=True)
    assert not os.path.exists(app.config["UPLOAD_DIR"]) or os.listdir(app.config["UPLOAD_DIR"]) == []
    assert engine.inbox(engine.actor("zhangwei")).items[0].id == task.id


def test_a_draft_keeps_the_attachment_and_a_forged_id_is_refused(app, engine, browser):
    key = file_key(engine)
    task = engine.inbox(engine.actor("zhangwei")).items[0]
    b = browser("zhangwei")
    b.post(f"/tasks/{task.id}/draft", {key: (io.BytesIO(PNG), "slip.png")}, content_type="multipart/form-data")
    page = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "查看已上传的附件" in page
    response = b.post(f"/tasks/{task.id}/complete", {**COMPLETION, key: "f" * 32})
    assert response.status_code == 400 and "附件无效" in response.get_data(as_text=True)


@pytest.mark.parametrize("action", ["complete", "draft"])
def test_a_dispatcher_who_may_see_a_technicians_task_stores_no_file_through_its_form(app, engine, browser, action):
    """Dispatchers see every task but work only on their own group's: the posted form is
    refused before its attachment is written."""
    key = file_key(engine)
    task = engine.inbox(engine.actor("zhangwei")).items[0]
    b = browser("diaodu")
    assert b.get(f"/tasks/{task.id}").status_code == 200
    response = b.post(f"/tasks/{task.id}/{action}", {**COMPLETION, key: (io.BytesIO(PNG), "slip.png")},
                      content_type="multipart/form-data")
    assert response.status_code == 403
    assert not os.path.exists(app.config["UPLOAD_DIR"]) or os.listdir(app.config["UPLOAD_DIR"]) == []
    assert engine.inbox(engine.actor("zhangwei")).items[0].id == task.id
