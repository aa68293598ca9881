"""Restricted Python for BPMN scripts, conditions, timer and parameter expressions.

Diagram authors are not trusted with the server. A script is parsed, checked against a
whitelist of syntax (no import, no def/class, no names or attributes starting with ``_``,
no string ``format`` tricks), and run with a small set of builtins. Multiplication, powers
and shifts go through a size guard, ``range`` is bounded, and a trace function stops any
script that runs longer than its time limit.
"""

from __future__ import annotations

import ast
import math
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

SCRIPT_FILENAME = "<string>"  # SpiffWorkflow looks for this name to report line numbers
DEFAULT_TIME_LIMIT = 1.0
MAX_SEQUENCE = 100_000
MAX_INT_BITS = 4096

FORBIDDEN_ATTRIBUTES = frozenset(
    {"format", "format_map", "mro", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "ag_frame",
     "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "func_globals"}
)

_ALLOWED_NODES = (
    ast.Module, ast.Expression, ast.Expr, ast.Assign, ast.AugAssign, ast.If, ast.For, ast.While,
    ast.Break, ast.Continue, ast.Pass, ast.Delete, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.IfExp, ast.Dict, ast.Set, ast.List, ast.Tuple, ast.Call, ast.Attribute, ast.Subscript,
    ast.Slice, ast.Name, ast.Constant, ast.JoinedStr, ast.FormattedValue, ast.Starred, ast.keyword,
    ast.comprehension, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda,
    ast.arguments, ast.arg, ast.Load, ast.Store, ast.Del, ast.operator, ast.boolop, ast.unaryop,
    ast.cmpop, ast.expr_context, ast.Assert, ast.Raise, ast.Try, ast.ExceptHandler, ast.NamedExpr,
)

_NODE_WORDS = {
    ast.Import: "import 语句", ast.ImportFrom: "import 语句", ast.FunctionDef: "函数定义 (def)",
    ast.AsyncFunctionDef: "函数定义", ast.ClassDef: "类定义 (class)", ast.Global: "global 语句",
    ast.Nonlocal: "nonlocal 语句", ast.With: "with 语句", ast.Yield: "yield", ast.Await: "await",
}


class ScriptError(Exception):
    """A script or expression is not allowed or failed to compile.

    :param message: why, in Chinese, with the line number
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class ScriptTimeout(RuntimeError):
    """A script ran longer than its time limit."""


class _Checker(ast.NodeTransformer):
    def generic_visit(self, node):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_WORDS.get(type(node), type(node).__name__)
            raise ScriptError(f"第 {getattr(node, 'lineno', '?')} 行: 不允许使用 {what}", getattr(node, "lineno", None))
        return super().generic_visit(node)

    def visit_Name(self, node):
        if node.id.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.id}", node.lineno)
        return node

    def visit_Attribute(self, node):
        if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
            raise ScriptError(f"第 {node.lineno} 行: 不允许访问属性 {node.attr}", node.lineno)
        return self.generic_visit(node)

    def visit_arg(self, node):
        if node.arg.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.arg}", node.lineno)
        return node

    def visit_ExceptHandler(self, node):
        if node.name and node.name.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.name}", node.lineno)
        return self.generic_visit(node)

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Mult, ast.Pow, ast.LShift)):
            call = ast.Call(
                func=ast.Name(id="__pg_binop__", ctx=ast.Load()),
                args=[ast.Constant(type(node.op).__name__), node.left, node.right],
                keywords=[],
            )
            return ast.copy_location(call, node)
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Mult, ast.Pow, ast.LShift)):
            target_load = _as_load(node.target)
            value = ast.Call(
                func=ast.Name(id="__pg_binop__", ctx=ast.Load()),
                args=[ast.Constant(type(node.op).__name__), target_load, node.value],
                keywords=[],
            )
            return ast.copy_location(ast.Assign(targets=[node.target], value=value), node)
        return node


def _as_load(target):
    clone = ast.parse(ast.unparse(target), mode="eval").body
    return clone


def _size(value) -> int:
    if isinstance(value, (str, bytes, list, tuple)):
        return len(value)
    return 1


def _binop(op: str, left, right):
    if op == "Mult":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int):
                if _size(seq) * max(n, 0) > MAX_SEQUENCE * 10:
                    raise ValueError("序列乘法结果过大")
        result = left * right
    elif op == "Pow":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_INT_BITS:
                raise ValueError("乘方结果过大")
        result = left**right
    else:  # LShift
        if isinstance(right, int) and right > MAX_INT_BITS:
            raise ValueError("移位结果过大")
        result = left << right
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ValueError("整数结果过大")
    return result


def _bounded_range(*args):
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise ValueError(f"range 长度超过 {MAX_SEQUENCE}")
    return r


def _now_iso() -> str:
    # Bound at run time by the engine to its clock (see ScriptEnvironment.bind_clock).
    return datetime.now(UTC).isoformat()


def add_duration(iso_datetime: str, iso_duration: str) -> str:
    """Return ``iso_datetime`` plus an ISO-8601 duration, as an ISO string."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    start = datetime.fromisoformat(iso_datetime)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    parsed = TimerEventDefinition.parse_iso_duration(iso_duration)
    return (start + TimerEventDefinition.get_timedelta_from_start(parsed, start)).isoformat()


SAFE_BUILTINS = {
    name: obj
    for name, obj in {
        "abs": abs, "all": all, "any": any, "bool": bool, "dict": dict, "divmod": divmod,
        "enumerate": enumerate, "filter": filter, "float": float, "int": int, "isinstance": isinstance,
        "len": len, "list": list, "map": map, "max": max, "min": min, "reversed": reversed,
        "round": round, "set": set, "sorted": sorted, "str": str, "sum": sum, "tuple": tuple,
        "zip": zip, "range": _bounded_range, "True": True, "False": False, "None": None,
        "ValueError": ValueError, "KeyError": KeyError, "Exception": Exception, "TypeError": TypeError,
    }.items()
}

HELPERS = {
    "Decimal": Decimal,
    "math": math,
    "date": date,
    "datetime": datetime,
    "timedelta": timedelta,
    "add_duration": add_duration,
}


@lru_cache(maxsize=8192)
def compile_checked(source: str, mode: str):
    """Check and compile ``source`` (``mode`` is ``"exec"`` or ``"eval"``).

    :raises ScriptError: the syntax is invalid or uses something not allowed
    """
    if not isinstance(source, str):
        raise ScriptError("脚本必须是文本")
    try:
        tree = ast.parse(source, filename=SCRIPT_FILENAME, mode=mode)
    except SyntaxError as exc:
        raise ScriptError(f"第 {exc.lineno} 行: 语法错误: {exc.msg}", exc.lineno) from None
    tree = _Checker().visit(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, SCRIPT_FILENAME, mode)


def check(source: str, mode: str = "exec") -> None:
    """Validate ``source`` without running it.

    :raises ScriptError: naming the line and what is not allowed
    """
    compile_checked(source, mode)


class _Deadline:
    """A trace function that stops script frames after ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.until = time.monotonic() + limit
        self.ticks = 0

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != SCRIPT_FILENAME:
            return None
        return self._local

    def _local(self, frame, event, arg):
        self.ticks += 1
        if self.ticks & 63 == 0 and time.monotonic() > self.until:
            raise ScriptTimeout("脚本运行超时")
        return self._local


def run(code, namespace: dict, limit: float) -> object:
    """Evaluate or execute compiled ``code`` in ``namespace`` with a time limit."""
    previous = sys.gettrace()
    sys.settrace(_Deadline(limit))
    try:
        return eval(code, namespace)  # noqa: S307 - code was compiled by compile_checked
    finally:
        sys.settrace(previous)
