"""The OpenAPI 3 document, generated from the views: each view declares its operation with
:func:`operation`, and the same declaration validates the request's body and query.

So the document cannot drift from the code: :func:`document` walks the app's URL map and
writes each declared route, its path parameters (from the rule's converters), query,
headers, body and responses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from flask import Flask, request
from jsonschema import Draft202012Validator, FormatChecker

from engine import InvalidInput
from web.api import schemas

PREFIX = "/api/v1"
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_checker = FormatChecker()
_PATH_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": 2 ** 53},
    "path": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^/?#%.][^?#%]*$"},
    "": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[^/?#%.][^/?#%]*$"},
}


@_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        return False
    return datetime.fromisoformat(value.replace("z", "Z")).tzinfo is not None


@_checker.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or bool(date.fromisoformat(value)) and len(value) == 10


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    description: str = ""
    body: dict[str, Any] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[int, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    public: bool = False


def operation(summary: str, *, tag: str, description: str = "", body: dict | None = None,
              query: dict | None = None, headers: dict | None = None, responses: dict | None = None,
              public: bool = False):
    """Declare a view's OpenAPI operation; ``responses`` maps a status to (description, schema)."""
    def decorate(view):
        view.__openapi__ = Operation(summary, tag, description, body, dict(query or {}), dict(headers or {}),
                                     dict(responses or {}), public)
        return view

    return decorate


def _current(app: Flask) -> Operation:
    return app.view_functions[request.endpoint].__openapi__


@lru_cache(maxsize=128)
def _validator(schema_key: int, schema: Any) -> Draft202012Validator:
    return Draft202012Validator({**schemas.COMPONENT_ROOT, **schema.value}, format_checker=_checker)


class _Frozen:
    """Wraps a schema dict so it can key the validator cache (by identity)."""

    def __init__(self, value: dict) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Frozen) and other.value is self.value


def validate(schema: dict, value: Any, *, where: str = "") -> None:
    """Raise :class:`InvalidInput` with one message per field path when ``value`` fails ``schema``."""
    errors = sorted(_validator(id(schema), _Frozen(schema)).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        fields = {}
        for e in errors[:20]:
            path = ".".join(str(p) for p in e.path) or (where or "_body")
            fields.setdefault(path, _message(e))
        raise InvalidInput("请求内容不符合接口定义", fields)


def _message(error) -> str:
    if error.validator == "required":
        return f"缺少必填字段: {error.message.split(' ')[0]}"
    if error.validator == "additionalProperties":
        return "包含未定义的字段"
    return error.message[:300]


def json_body(app: Flask) -> Any:
    """The request's JSON body, validated against the view's declared body schema."""
    op = _current(app)
    if not request.is_json:
        raise InvalidInput("请求体必须是 JSON（Content-Type: application/json）", {"_body": "必须是 JSON"})
    value = request.get_json(silent=True)
    if value is None and request.get_data(cache=True).strip() not in (b"null",):
        raise InvalidInput("请求体不是合法的 JSON", {"_body": "不是合法的 JSON"})
    _refuse_nul(value)
    validate(op.body or {}, value)
    return value


def query_args(app: Flask) -> dict[str, Any]:
    """Declared query parameters, coerced to their types and validated; an undeclared one is an error."""
    op = _current(app)
    out: dict[str, Any] = {}
    fields = {name[:64]: "未定义的查询参数" for name in request.args if name not in op.query}
    fields.update({name: "只能出现一次" for name in op.query if len(request.args.getlist(name)) > 1})
    for name, spec in op.query.items():
        raw = request.args.get(name)
        if raw is None:
            continue
        kind = spec["schema"].get("type")
        try:
            if kind == "integer":
                value: Any = int(raw)
            elif kind == "boolean":
                if raw not in ("true", "false", "1", "0"):
                    raise ValueError
                value = raw in ("true", "1")
            else:
                value = raw
        except ValueError:
            fields[name] = f"应为 {kind}"
            continue
        try:
            _refuse_nul(value)
            validate(spec["schema"], value, where=name)
        except InvalidInput as exc:
            fields[name] = next(iter(exc.fields.values()))
            continue
        out[name] = value
    if fields:
        raise InvalidInput("查询参数有误", fields)
    return out


def _refuse_nul(value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise InvalidInput("文本中不能有 NUL 字符", {"_body": "文本中不能有 NUL 字符"})
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k)
            _refuse_nul(v)
    elif isinstance(value, list):
        for v in value:
            _refuse_nul(v)


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared route under ``/api/v1``."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "__openapi__", None)
        if op is None or not rule.rule.startswith(PREFIX):
            continue
        path = _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule.rule[len(PREFIX):])
        params = [{"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS.get(conv, _PATH_SCHEMAS[""])}
                  for conv, name in _CONVERTER.findall(rule.rule)]
        params += [{"name": name, "in": "query", **spec} for name, spec in op.query.items()]
        params += [{"name": name, "in": "header", **spec} for name, spec in op.headers.items()]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            entry: dict[str, Any] = {
                "operationId": rule.endpoint.split(".", 1)[-1] + ("" if len(rule.methods - {"HEAD", "OPTIONS"}) == 1
                                                                 else "_" + method.lower()),
                "summary": op.summary, "tags": [op.tag],
                "responses": _responses(op),
            }
            if op.description:
                entry["description"] = op.description
            if params:
                entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
            entry["security"] = [] if op.public else [{"bearerAuth": []}]
            paths.setdefault(path, {})[method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "派工 paigong API", "version": "1.0.0",
                 "description": "售后派工系统的 REST 接口：工单、任务、流程实例、消息、流程定义与参考数据。"
                                "所有请求以 `Authorization: Bearer <令牌>` 认证（令牌由管理员用 `paigong token create` 创建）。"
                                "错误统一为 `{\"error\": {\"code\", \"message\", \"fields\"}}`。"},
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": schemas.COMPONENTS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (description, schema) in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": description}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": schema}}
        out[str(status)] = entry
    error = {"content": {"application/json": {"schema": schemas.ref("Error")}}}
    for status, description in ((400, "输入有误（fields 列出每个字段的问题）"), (401, "缺少或无效的令牌"),
                                (403, "没有权限"), (404, "不存在"), (409, "冲突：已被他人处理或状态不允许")):
        if op.public and status in (401, 403):
            continue
        out.setdefault(str(status), {"description": description, **error})
    out["default"] = {"description": "其他错误（同一错误格式）", **error}
    return out
