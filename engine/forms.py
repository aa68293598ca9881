"""JSON-Schema forms: validate submitted data with per-field Chinese messages."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from engine.errors import InvalidInput

_FORMAT_CHECKER = FormatChecker()

_MESSAGES = {
    "required": "必填",
    "type": "类型不正确",
    "enum": "不是可选值之一",
    "format": "格式不正确",
    "pattern": "格式不正确",
    "minLength": "太短",
    "maxLength": "太长",
    "minimum": "太小",
    "maximum": "太大",
    "exclusiveMinimum": "太小",
    "exclusiveMaximum": "太大",
    "minItems": "项数太少",
    "maxItems": "项数太多",
    "additionalProperties": "不允许的字段",
    "const": "取值不正确",
    "multipleOf": "取值不正确",
}


def check_schema(schema: Any) -> str | None:
    """Return why ``schema`` is not a valid JSON Schema, or None."""
    if not isinstance(schema, dict):
        return "表单必须是 JSON 对象"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"不是有效的 JSON Schema: {exc.message}"
    return None


_VALIDATORS: dict[int, tuple[dict, Draft202012Validator]] = {}


def _field_path(error) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else ""
        path.append(extra)
    return ".".join(p for p in path if p) or "_form"


def validate(schema: dict, data: Any) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; return the data unchanged when valid.

    :raises InvalidInput: with ``fields`` mapping each bad field to its message
    """
    if not isinstance(data, dict):
        raise InvalidInput("表单数据必须是对象", {"_form": "表单数据必须是对象"})
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, Draft202012Validator(schema, format_checker=_FORMAT_CHECKER))
        if len(_VALIDATORS) > 1024:
            _VALIDATORS.clear()
        _VALIDATORS[id(schema)] = cached  # the schema is kept alive with it, so the id stays its own
    validator = cached[1]
    fields: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = _field_path(error)
        if path in fields:
            continue
        title = _title(schema, path)
        words = _MESSAGES.get(error.validator, "取值不正确")
        fields[path] = f"{title}: {words}" if title else words
    if fields:
        raise InvalidInput("表单有错误，请修改后再提交", fields)
    return data


def _title(schema: dict, path: str) -> str | None:
    node: Any = schema
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        if "properties" in node and part in node["properties"]:
            node = node["properties"][part]
        elif "items" in node and part.isdigit():
            node = node["items"]
        else:
            return None
    return node.get("title") if isinstance(node, dict) else None
