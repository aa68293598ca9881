"""Chinese by default, English on request; every interface text has its English translation."""

from __future__ import annotations

import os

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.web.conftest import start_order, task_of

WEB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "web")
PO = os.path.join(WEB, "translations", "en", "LC_MESSAGES", "messages.po")
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "N_": None, "tr": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**/static/**", "ignore"), ("**.py", "python")]


def interface_texts() -> dict[str, str]:
    """Every message id in web/ (Python and templates) with where it is used."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            WEB, METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        for text in (message if isinstance(message, tuple) else (message,)):
            if text:
                found.setdefault(text, f"web/{filename}:{lineno}")
    return found


def test_every_interface_text_has_an_english_translation():
    with open(PO, "rb") as fh:
        catalog = read_po(fh, locale="en")
    missing = {text: where for text, where in interface_texts().items()
               if not (catalog.get(text) and catalog.get(text).string and not catalog.get(text).fuzzy)}
    assert missing == {}, f"add these to {os.path.relpath(PO)}: {missing}"


def test_english_placeholders_match_the_chinese_ones():
    import re

    with open(PO, "rb") as fh:
        catalog = read_po(fh, locale="en")
    names = re.compile(r"%\((\w+)\)s")
    wrong = [m.id for m in catalog if m.id and sorted(names.findall(m.id)) != sorted(names.findall(m.string))]
    assert wrong == []


def test_the_interface_is_chinese_by_default(browser):
    html = browser().get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in html and "登录派工系统" in html and "用户名" in html


def test_the_english_pages_render_in_english(engine, browser):
    start_order(engine)
    b = browser("diaodu")
    response = b.get("/lang/en?next=/inbox?tab=queue")
    assert response.headers["Location"] == "/inbox?tab=queue"
    html = b.get("/inbox?tab=queue").get_data(as_text=True)
    assert 'lang="en"' in html
    for text in ("Inbox", "My tasks", "Group queue", "Done", "Repair", "In city", "Filter", "Page 1 of 1, 1 in all"):
        assert text in html, text
    for text in ("收件箱", "我的任务", "组队列", "筛选", "设备维修"):
        assert text not in html, text
    task = task_of(engine, "diaodu", "dispatch")
    page = b.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "Order facts" in page and "Warranty decision" in page and "C free service" in page and "Submit" in page
    error = b.post(f"/tasks/{task.id}/complete", {"accept_within": "PT2H"}).get_data(as_text=True)
    assert "The form has errors" in error and "技术员: required" in error
    b.get("/lang/zh")
    assert "收件箱" in b.get("/inbox").get_data(as_text=True)


def test_the_english_log_in_page_and_messages(browser):
    b = browser()
    b.get("/lang/en")
    html = b.get("/login").get_data(as_text=True)
    assert "Log in to Paigong" in html and "Username" in html and "Password" in html
    wrong = b.post("/login", {"username": "kefu", "password": "wrong-one"}).get_data(as_text=True)
    assert "Wrong username or password" in wrong


def test_an_unknown_language_is_not_found(browser):
    assert browser().get("/lang/fr").status_code == 404
