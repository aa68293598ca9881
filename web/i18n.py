"""Languages: Simplified Chinese by default, English on request (Flask-Babel).

Message ids are the Chinese texts; ``web/translations/<lang>/LC_MESSAGES/messages.po`` holds
the other languages. Catalogs are compiled at build time (``tools/build_assets.py``) and,
when missing or older than their source, again when the app starts, into the instance
folder (compiled files never live in the source tree).
"""

from __future__ import annotations

import os
import re
import tempfile

from flask import Flask, current_app, g, session
from flask_babel import Babel, get_locale, gettext

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")


def init_app(app: Flask) -> None:
    target = app.config.get("TRANSLATIONS_BUILD_DIR") or os.path.join(app.instance_path, "translations")
    compile_catalogs(SOURCE_DIR, target)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = target
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh_Hans_CN")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_language=current_language)


def select_locale() -> str:
    lang = session.get("lang")
    return "en" if lang == "en" else current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return "en" if str(get_locale()).startswith("en") else "zh"


def compile_catalogs(source: str, target: str) -> list[str]:
    """Compile every ``.po`` below ``source`` into ``target`` when missing or stale; return what was written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    if not os.path.isdir(source):
        return written
    for lang in sorted(os.listdir(source)):
        po_path = os.path.join(source, lang, "LC_MESSAGES", "messages.po")
        if not os.path.isfile(po_path):
            continue
        mo_dir = os.path.join(target, lang, "LC_MESSAGES")
        mo_path = os.path.join(mo_dir, "messages.mo")
        if os.path.isfile(mo_path) and os.path.getmtime(mo_path) >= os.path.getmtime(po_path):
            continue
        os.makedirs(mo_dir, exist_ok=True)
        with open(po_path, "rb") as fh:
            catalog = read_po(fh, locale=lang)
        fd, tmp = tempfile.mkstemp(dir=mo_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp, mo_path)  # atomic: parallel test workers may compile at once
        written.append(mo_path)
    return written


# Engine messages are Chinese sentences; in English the field-error words are translated
# and the known sentence shapes get an English headline.
_FIELD_WORDS = {
    "必填": "required", "类型不正确": "wrong type", "不是可选值之一": "not one of the choices",
    "格式不正确": "wrong format", "太短": "too short", "太长": "too long", "太小": "too small",
    "太大": "too large", "项数太少": "too few items", "项数太多": "too many items",
    "不允许的字段": "field not allowed", "取值不正确": "invalid value",
}
_SENTENCES = [
    (re.compile(r"^任务已由 (.+) 完成$"), "This task was already completed by {0}."),
    (re.compile(r"^任务已取消$"), "This task was cancelled."),
    (re.compile(r"^任务已被他人签收$"), "Someone else claimed this task first."),
    (re.compile(r"^任务已被他人处理$"), "Someone else handled this task first."),
    (re.compile(r"^任务已不在待办状态$"), "This task is no longer open."),
    (re.compile(r"^该任务由 (.+) 处理$"), "This task is held by {0}."),
    (re.compile(r"^只有该任务所属组的成员可以(处理|签收)$"), "Only members of the task's group may do this."),
    (re.compile(r"^只能退回自己签收的任务$"), "You can only return tasks you hold."),
    (re.compile(r"^只有调度、管理员或当前处理人可以改派$"), "Only dispatchers, admins or the holder may reassign."),
    (re.compile(r"^无权查看该(任务|工单)$"), "You may not view this."),
    (re.compile(r"^任务不存在$"), "No such task."),
    (re.compile(r"^工单已被他人同时修改，请刷新后重试$"), "Someone else changed this order meanwhile; reload and retry."),
    (re.compile(r"^工单正被他人处理，请稍后重试$"), "Someone else is working on this order; retry shortly."),
    (re.compile(r"^表单有错误，请修改后再提交$"), "The form has errors; please correct them."),
    (re.compile(r"^请填写改派原因$"), "Please give a reason for the reassignment."),
    (re.compile(r"^用户不存在或已停用$"), "No such active user."),
    (re.compile(r"^该用户不属于任务所在的组$"), "That user is not in the task's group."),
]


def engine_text(message: str) -> str:
    """An engine message in the user's language (Chinese passes through)."""
    if current_language() != "en" or not message:
        return message
    for pattern, english in _SENTENCES:
        found = pattern.match(message)
        if found:
            return english.format(*found.groups())
    if ": " in message:
        title, word = message.rsplit(": ", 1)
        if word in _FIELD_WORDS:
            return f"{title}: {_FIELD_WORDS[word]}"
    if message in _FIELD_WORDS:
        return _FIELD_WORDS[message].capitalize()
    return message


def tr(text: str) -> str:
    """``gettext`` remembered for the rest of the request (list pages ask for the same labels per row)."""
    cache = g.setdefault("_translated", {})
    found = cache.get(text)
    if found is None:
        found = cache[text] = gettext(text)
    return found


def label(table: dict[str, str], code) -> str:
    """The translated label of ``code`` in ``table`` (the code itself when unknown)."""
    if code is None:
        return ""
    text = table.get(str(code))
    return tr(text) if text else str(code)
