"""Task forms from their JSON Schema: fields to render, and posted strings coerced to the schema's types.

Widgets follow the schema type and its ``x-ui`` hint: text, textarea, number, integer,
yes/no, checkbox (``const: true``), choice (``enum`` with ``x-enum-labels``), date,
date-time, hidden, ``{"widget": "user", "group": ...}`` (a member of that group),
``{"widget": "rating"}`` (1–5 stars), ``{"widget": "file"}`` (an attachment id) and an
array of objects (rows, e.g. the parts used). The engine validates the coerced data
against the same schema; this module only turns form strings into JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext

from web.formatting import input_datetime, zone

ROW_SEP = "-"
BLANK_ROWS = 1


@dataclass
class Field:
    name: str
    key: str
    title: str
    widget: str
    required: bool = False
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    description: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    columns: list[Field] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)


def properties(schema: dict | None) -> dict[str, dict]:
    return dict((schema or {}).get("properties") or {})


def widget_of(prop: dict) -> str:
    hint = prop.get("x-ui") if isinstance(prop.get("x-ui"), dict) else {}
    kind = hint.get("widget")
    if kind in ("hidden", "user", "rating", "file", "textarea"):
        return kind
    typ = prop.get("type")
    if typ == "array" and isinstance(prop.get("items"), dict) and prop["items"].get("type") == "object":
        return "rows"
    if "enum" in prop:
        return "radio" if len(prop["enum"]) <= 3 else "select"
    if typ == "boolean":
        return "checkbox" if prop.get("const") is True else "yesno"
    if typ == "integer":
        return "integer"
    if typ == "number":
        return "number"
    if prop.get("format") == "date":
        return "date"
    if prop.get("format") == "date-time":
        return "datetime"
    return "text"


def build(schema: dict | None, values: dict[str, Any], errors: dict[str, str] | None = None,
          members: dict[str, tuple] | None = None) -> list[Field]:
    """The fields of ``schema`` filled with ``values`` (python values or raw strings) and ``errors``."""
    errors = errors or {}
    required = set((schema or {}).get("required") or [])
    out = []
    for key, prop in properties(schema).items():
        value = values[key] if key in values else prop.get("default")
        out.append(_field(key, key, prop, value, key in required, errors, members or {}))
    return out


def _field(name: str, path: str, prop: dict, value: Any, required: bool, errors: dict[str, str],
           members: dict[str, tuple]) -> Field:
    widget = widget_of(prop)
    f = Field(name=name, key=path, title=prop.get("title") or path.rsplit(".", 1)[-1], widget=widget,
              required=required, error=errors.get(path), description=prop.get("description"))
    if widget == "rows":
        items = prop["items"]
        sub_required = set(items.get("required") or [])
        subprops = properties(items)
        f.columns = [_field(f"{name}{ROW_SEP}__i__{ROW_SEP}{k}", k, p, p.get("default"), k in sub_required, {}, members)
                     for k, p in subprops.items()]
        rows = value if isinstance(value, list) else []
        for index, row in enumerate([*rows, *([{}] * BLANK_ROWS)]):
            row = row if isinstance(row, dict) else {}
            f.rows.append([
                _field(f"{name}{ROW_SEP}{index}{ROW_SEP}{k}", f"{path}.{index}.{k}", p, row.get(k),
                       k in sub_required, errors, members) for k, p in subprops.items()
            ])
        f.attrs["next_index"] = len(f.rows)
        return f
    f.value = _input_value(widget, value)
    if widget in ("radio", "select"):
        shown = prop.get("x-enum-labels") or []
        f.options = [(str(v), str(shown[i]) if i < len(shown) else str(v)) for i, v in enumerate(prop["enum"])]
    elif widget == "user":
        group = (prop.get("x-ui") or {}).get("group")
        f.options = [(u.username, u.display_name) for u in members.get(group, ())]
        if f.value and f.value not in {o[0] for o in f.options}:
            f.options.insert(0, (f.value, f.value))
    elif widget == "rating":
        f.options = [(str(i), str(i)) for i in range(1, 6)]
    if "maxLength" in prop:
        f.attrs["maxlength"] = prop["maxLength"]
    for bound, attr in (("minimum", "min"), ("maximum", "max")):
        if bound in prop:
            f.attrs[attr] = prop[bound]
    if widget == "file":
        f.attrs["accept"] = (prop.get("x-ui") or {}).get("accept") or "image/*,application/pdf"
    return f


def _input_value(widget: str, value: Any) -> str:
    if value is None:
        return ""
    if widget == "datetime":
        return input_datetime(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def coerce(schema: dict | None, form, members: dict[str, tuple] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Posted strings (a MultiDict) as schema-typed data, and per-field errors for what would not convert.

    Empty inputs are left out, so the schema's ``required`` speaks for them; a field that
    fails to convert keeps its raw text in the data returned for re-display.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, prop in properties(schema).items():
        widget = widget_of(prop)
        if widget == "rows":
            data[key] = _coerce_rows(key, prop, form, errors)
            continue
        if widget == "checkbox":
            if form.get(key) in ("1", "on", "true", "yes"):
                data[key] = True
            continue
        raw = form.get(key)
        if raw is None or str(raw).strip() == "":
            continue
        value, error = coerce_value(prop, str(raw), widget)
        data[key] = value
        if error:
            errors[key] = error
        elif widget == "user":
            group = (prop.get("x-ui") or {}).get("group")
            if members is not None and value not in {u.username for u in members.get(group, ())}:
                errors[key] = gettext("请从列表中选择")
    return data, errors


def _coerce_rows(key: str, prop: dict, form, errors: dict[str, str]) -> list[dict[str, Any]]:
    subprops = properties(prop["items"])
    indexes = set()
    for name in form.keys():
        parts = name.split(ROW_SEP)
        if len(parts) == 3 and parts[0] == key and parts[1].isdigit() and parts[2] in subprops:
            indexes.add(int(parts[1]))
    rows = []
    for index in sorted(indexes):
        raw = {k: str(form.get(f"{key}{ROW_SEP}{index}{ROW_SEP}{k}", "")).strip() for k in subprops}
        if not any(raw.values()):
            continue  # a blank row is no row
        row: dict[str, Any] = {}
        for k, p in subprops.items():
            if raw[k] == "":
                continue
            value, error = coerce_value(p, raw[k], widget_of(p))
            row[k] = value
            if error:
                errors[f"{key}.{len(rows)}.{k}"] = error
        rows.append(row)
    return rows


def coerce_value(prop: dict, raw: str, widget: str) -> tuple[Any, str | None]:
    """(value, error) for one posted string; on error the value is the raw text."""
    text = raw.replace("\r\n", "\n").strip()
    typ = prop.get("type")
    if typ == "integer" or widget in ("integer", "rating"):
        try:
            return int(text), None
        except ValueError:
            return raw, gettext("请输入整数")
    if typ == "number":
        try:
            number = float(text)
        except ValueError:
            return raw, gettext("请输入数字")
        if number != number or number in (float("inf"), float("-inf")):
            return raw, gettext("请输入数字")
        return (int(number) if number.is_integer() and "." not in text else number), None
    if typ == "boolean":
        if text in ("1", "true", "on", "yes"):
            return True, None
        if text in ("0", "false", "no"):
            return False, None
        return raw, gettext("请选择是或否")
    if widget == "date":
        try:
            return date.fromisoformat(text).isoformat(), None
        except ValueError:
            return raw, gettext("请输入日期，如 2026-03-02")
    if widget == "datetime":
        when = parse_local_datetime(text)
        if when is None:
            return raw, gettext("请输入日期和时间")
        return when.isoformat(timespec="seconds"), None
    return text, None


def parse_local_datetime(text: str) -> datetime | None:
    """``2026-03-02T14:00`` (company time) or a full ISO time, as an aware datetime."""
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=zone())


def file_fields(schema: dict | None) -> list[str]:
    return [k for k, p in properties(schema).items() if widget_of(p) == "file"]


def merged_values(schema: dict | None, data: dict[str, Any], draft: dict[str, Any] | None) -> dict[str, Any]:
    """Initial form values: the saved draft, else what the order already holds for the field."""
    keys = properties(schema)
    values = {k: v for k, v in data.items() if k in keys}
    values.update({k: v for k, v in (draft or {}).items() if k in keys})
    return values
