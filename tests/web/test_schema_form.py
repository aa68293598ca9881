"""Form widgets chosen from the JSON Schema, and posted strings coerced to its types."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from engine.results import UserView
from web import schema_form

SCHEMA = {
    "type": "object",
    "properties": {
        "note": {"title": "备注", "type": "string", "maxLength": 10, "x-ui": {"widget": "textarea"}},
        "when": {"title": "时间", "type": "string", "format": "date-time"},
        "day": {"title": "日期", "type": "string", "format": "date"},
        "ok": {"title": "同意", "type": "boolean", "const": True},
        "yes": {"title": "满意", "type": "boolean"},
        "n": {"title": "数量", "type": "integer"},
        "x": {"title": "金额", "type": "number"},
        "pick": {"title": "选择", "type": "string", "enum": ["a", "b"], "x-enum-labels": ["甲", "乙"]},
        "many": {"title": "多选", "type": "string", "enum": ["1", "2", "3", "4"]},
        "who": {"title": "技术员", "type": "string", "x-ui": {"widget": "user", "group": "technician"}},
        "stars": {"title": "评分", "type": "integer", "x-ui": {"widget": "rating"}},
        "where": {"title": "位置", "type": "string", "x-ui": {"widget": "hidden"}},
        "photo": {"title": "照片", "type": "string", "x-ui": {"widget": "file"}},
        "rows": {"title": "配件", "type": "array", "items": {"type": "object", "properties": {
            "code": {"title": "编码", "type": "string"}, "qty": {"title": "数量", "type": "integer"}}}},
    },
    "required": ["note"],
}
MEMBERS = {"technician": (UserView("zhangwei", "技术员 张伟", ("technician",), ("staff",), None, True),)}


@pytest.fixture(autouse=True)
def _context(app):
    with app.test_request_context():
        yield


def test_each_property_gets_the_widget_its_type_and_hint_ask_for():
    widgets = {f.key: f.widget for f in schema_form.build(SCHEMA, {}, members=MEMBERS)}
    assert widgets == {"note": "textarea", "when": "datetime", "day": "date", "ok": "checkbox", "yes": "yesno",
                       "n": "integer", "x": "number", "pick": "radio", "many": "select", "who": "user",
                       "stars": "rating", "where": "hidden", "photo": "file", "rows": "rows"}


def test_choices_use_their_labels_and_users_their_display_names():
    fields = {f.key: f for f in schema_form.build(SCHEMA, {"when": "2026-03-02T06:00:00+00:00"}, members=MEMBERS)}
    assert fields["pick"].options == [("a", "甲"), ("b", "乙")]
    assert fields["who"].options == [("zhangwei", "技术员 张伟")]
    assert fields["when"].value == "2026-03-02T14:00"  # shown in company time
    assert fields["note"].required and fields["note"].attrs["maxlength"] == 10


def test_posted_strings_are_coerced_to_the_schema_types():
    form = MultiDict({"note": " 好 ", "when": "2026-03-02T14:00", "day": "2026-03-02", "ok": "1", "yes": "0",
                      "n": "3", "x": "2.5", "pick": "a", "who": "zhangwei", "stars": "5", "where": "",
                      "rows-0-code": "P1", "rows-0-qty": "2", "rows-3-code": "", "rows-3-qty": "",
                      "rows-5-code": "P2", "rows-5-qty": "1"})
    data, errors = schema_form.coerce(SCHEMA, form, MEMBERS)
    assert errors == {}
    assert data == {"note": "好", "when": "2026-03-02T14:00:00+08:00", "day": "2026-03-02", "ok": True, "yes": False,
                    "n": 3, "x": 2.5, "pick": "a", "who": "zhangwei", "stars": 5,
                    "rows": [{"code": "P1", "qty": 2}, {"code": "P2", "qty": 1}]}


def test_what_does_not_convert_is_reported_per_field_and_kept_as_typed():
    form = MultiDict({"n": "三", "x": "abc", "day": "2026-02-30", "when": "tomorrow", "yes": "maybe",
                      "who": "stranger", "rows-0-code": "P1", "rows-0-qty": "x"})
    data, errors = schema_form.coerce(SCHEMA, form, MEMBERS)
    assert set(errors) == {"n", "x", "day", "when", "yes", "who", "rows.0.qty"}
    assert data["n"] == "三" and data["rows"] == [{"code": "P1", "qty": "x"}]


def test_empty_inputs_are_left_out_so_required_speaks_for_them():
    data, errors = schema_form.coerce(SCHEMA, MultiDict({"note": "  ", "n": "", "ok": ""}), MEMBERS)
    assert errors == {} and data == {"rows": []}


def test_a_draft_wins_over_the_orders_data_for_initial_values():
    values = schema_form.merged_values(SCHEMA, {"note": "旧", "unrelated": 1}, {"note": "草稿"})
    assert values == {"note": "草稿"}
