"""Restricted Python for BPMN scripts, conditions, timer and parameter expressions.

Diagram authors are not trusted with the server. A script is parsed, checked against a
whitelist of syntax (no import, no def/class, no names or attributes starting with ``_``,
no string ``format`` tricks, no bare ``except`` or ``finally``), and run with a small set of builtins.
Whatever can make a huge value in one C call goes through a size guard first: ``*``,
``**``, ``<<``, ``+`` and ``%`` on text, the padding/joining/replacing string methods,
format widths, ``str()`` of a nested value, ``sum`` of lists, ``math.factorial`` and
friends, Decimal exponents; ``range`` is bounded. Whatever walks a whole nested value in
one C call (comparisons and ``in``, ``sorted``/``min``/``max``/``sum``, ``set``/``dict``,
``map``/``filter``/``zip``/``enumerate``/``reversed``, ``count``/``index``/``sort``/``remove``)
first checks that the value, shared references counted each time, is not huge: a list of a
hundred thousand references to one long list is small in memory but takes hours to compare.
A trace function stops a script that runs longer than its time limit or grows the process's
peak memory too much, with an exception the script cannot catch; while a script runs, the
process's address space may grow by :data:`MAX_MEMORY_GROWTH` at most (``RLIMIT_AS``), so
an allocation in one C call fails instead of exhausting the machine. The data a script
leaves behind is bounded too.
"""

from __future__ import annotations

import ast
import contextlib
import decimal
import math
import os
import re
import resource
import sys
import threading
import time
import types
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

SCRIPT_FILENAME = "<string>"  # SpiffWorkflow looks for this name to report line numbers
DEFAULT_TIME_LIMIT = 1.0
MAX_SEQUENCE = 100_000
MAX_INT_BITS = 4096
MAX_TEXT = MAX_SEQUENCE * 10  # characters or items one operation may produce
MAX_WIDTH = 10_000  # a format width or precision
MAX_DATA = 10_000_000  # weight (about the JSON size) of what a script leaves in its names
MAX_DECIMAL_EXPONENT = 10_000
MAX_MEMORY_GROWTH = 512 * 1024 * 1024  # bytes of peak memory one script run may add
MAX_WALK = 2_000_000  # weight one comparison or builtin call may walk in C (the facade takes 2 MB of data)
# compare or hash whole values in C: a list's own items, or the keys they are given
WALKING_METHODS = frozenset({"count", "index", "sort", "remove", "get", "pop", "setdefault", "fromkeys", "add",
                             "discard", "update", "union", "intersection", "difference", "symmetric_difference",
                             "issubset", "issuperset", "isdisjoint"})
SIZED_METHODS = frozenset({"join", "replace", "ljust", "rjust", "center", "zfill", "expandtabs", "translate",
                           "to_bytes", "extend"}) | WALKING_METHODS

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
    """A script ran longer than its time limit (or took too much memory)."""


class _Expired(BaseException):
    """Raised inside the script when its time is up: ``except Exception`` cannot catch it."""


_GUARDED_OPS = (ast.Mult, ast.Pow, ast.LShift, ast.Add, ast.Mod)


def _helper(name: str, *args) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


class _Checker(ast.NodeTransformer):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def generic_visit(self, node):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_WORDS.get(type(node), type(node).__name__)
            raise ScriptError(f"第 {getattr(node, 'lineno', '?')} 行: 不允许使用 {what}", getattr(node, "lineno", None))
        return super().generic_visit(node)

    def visit_Name(self, node):
        if node.id.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.id}", node.lineno)
        self.names.add(node.id)
        return node

    def visit_Attribute(self, node):
        if node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES:
            raise ScriptError(f"第 {node.lineno} 行: 不允许访问属性 {node.attr}", node.lineno)
        node = self.generic_visit(node)
        if node.attr in SIZED_METHODS and isinstance(node.ctx, ast.Load):
            return ast.copy_location(_helper("__pg_method__", node.value, ast.Constant(node.attr)), node)
        return node

    def visit_FormattedValue(self, node):
        node = self.generic_visit(node)
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if not all(isinstance(p, ast.Constant) for p in parts):
                raise ScriptError(f"第 {node.lineno} 行: 格式说明必须是常量", node.lineno)
            if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", "".join(str(p.value) for p in parts))):
                raise ScriptError(f"第 {node.lineno} 行: 格式宽度或精度超过 {MAX_WIDTH}", node.lineno)
        node.value = _helper("__pg_text__", node.value)
        return node

    def visit_arg(self, node):
        if node.arg.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.arg}", node.lineno)
        return node

    def visit_While(self, node):
        node = self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_helper("__pg_alive__")), node))
        return node

    visit_For = visit_While

    def visit_comprehension(self, node):
        node = self.generic_visit(node)
        node.ifs.append(_helper("__pg_alive__"))
        return node

    def visit_Try(self, node):
        # a raising trace function is switched off, so a finally block would run unchecked
        if node.finalbody:
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用 finally", node.lineno)
        return self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.type is None:
            raise ScriptError(f"第 {node.lineno} 行: 不允许不带异常类型的 except", node.lineno)
        if node.name and node.name.startswith("_"):
            raise ScriptError(f"第 {node.lineno} 行: 不允许使用以下划线开头的名称 {node.name}", node.lineno)
        node = self.generic_visit(node)
        node.body.insert(0, ast.copy_location(ast.Expr(_helper("__pg_alive__")), node))
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, _GUARDED_OPS):
            call = ast.Call(
                func=ast.Name(id="__pg_binop__", ctx=ast.Load()),
                args=[ast.Constant(type(node.op).__name__), node.left, node.right],
                keywords=[],
            )
            return ast.copy_location(call, node)
        return node

    def visit_Subscript(self, node):
        # a key is hashed and compared whole, in C
        self.generic_visit(node)
        if not isinstance(node.slice, (ast.Constant, ast.Slice)):
            node.slice = ast.copy_location(_helper("__pg_walk__", node.slice), node.slice)
        return node

    def visit_Compare(self, node):
        # ==, <, in ... walk nested values in C: each operand is checked, evaluated once, in order
        self.generic_visit(node)
        node.left = ast.copy_location(_helper("__pg_walk__", node.left), node.left)
        node.comparators = [ast.copy_location(_helper("__pg_walk__", c), c) for c in node.comparators]
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Add):  # stays in place (``list +=`` extends a shared list)
            node.value = _helper("__pg_grow__", self.visit(_as_load(node.target)), node.value)
            return node
        if isinstance(node.op, _GUARDED_OPS):
            target_load = self.visit(_as_load(node.target))
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
                if isinstance(seq, (list, tuple)) and n > 1 and _weight(seq, MAX_WALK) * n > MAX_DATA:
                    raise ValueError("序列乘法结果过大 (重复的元素本身很大)")
        result = left * right
    elif op == "Pow":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_INT_BITS:
                raise ValueError("乘方结果过大")
        result = left**right
    elif op == "Add":
        _grow(left, right)
        result = left + right
    elif op == "Mod":
        if isinstance(left, (str, bytes)):
            _check_percent_format(left, right)
        result = left % right
    else:  # LShift
        if isinstance(right, int) and right > MAX_INT_BITS:
            raise ValueError("移位结果过大")
        result = left << right
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise ValueError("整数结果过大")
    return result


def _grow(left, right):
    """``left + right`` would not make a sequence longer than :data:`MAX_TEXT`."""
    if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
        if len(left) + len(right) > MAX_TEXT:
            raise ValueError(f"结果超过 {MAX_TEXT} 个字符或元素")


def _grow_in_place(target, value):
    _grow(target, value)
    return value


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _check_percent_format(template, args) -> None:
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    for width, precision in _PERCENT.findall(text):
        for n in (width, precision):
            if n == "*" or (n and int(n) > MAX_WIDTH):
                raise ValueError(f"% 格式的宽度或精度超过 {MAX_WIDTH}")
    _check_text(args)


def _weight(value, budget: int) -> int:
    """About how many characters ``str(value)`` or its JSON would take; stops past ``budget``.

    Shared references count each time, as they would in the text.
    """
    total = 0
    stack = [value]
    steps = 0
    while stack:
        item = stack.pop()
        steps += 1
        if steps & 0x3FF == 0:
            _alive()  # a long walk still answers to the script's time limit
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            if total <= budget:
                stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + len(item)
            if total <= budget:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, range):
            total += 2 + len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Decimal):
            total += abs(item.adjusted()) + len(item.as_tuple().digits) + 2 if item.is_finite() else 3
        else:
            total += 8
        if total > budget:
            return total
    return total


_WALKED = (list, tuple, dict, set, frozenset, range)


_SCALARS = frozenset({int, float, str, bool, type(None), Decimal})


def _small(value) -> bool:
    """A few plain values (the common case, told in C calls): walking it costs nothing worth
    counting (at most 64 texts of the longest allowed length)."""
    if len(value) > 64:
        return False
    if isinstance(value, dict):
        return _SCALARS.issuperset(map(type, value)) and _SCALARS.issuperset(map(type, value.values()))
    return _SCALARS.issuperset(map(type, value))


def _check_walk(value, what: str = "比较"):
    """``value`` unless walking it whole (as a comparison, a sort or a set does in C, where no
    time limit can stop it) would visit more than :data:`MAX_WALK` items."""
    if isinstance(value, _WALKED) and not _small(value) and _weight(value, MAX_WALK) > MAX_WALK:
        raise ValueError(f"{what}的数据过大 (超过约 {MAX_WALK // 1_000_000} MB，共享的引用按次计)")
    return value


def _walking(fn, what: str, materialize: bool):
    """``fn`` with its arguments checked by :func:`_check_walk` first; ``materialize``: an
    iterator argument is turned into a list first, so its items are checked too."""
    def call(*args, **kwargs):
        if materialize:
            args = tuple(a if isinstance(a, _WALKED) or not hasattr(a, "__iter__") or isinstance(a, (str, bytes))
                         else list(a) for a in args)
        _check_walk(list(args) + list(kwargs.values()), what)
        return fn(*args, **kwargs)

    call.__name__ = fn.__name__
    return call


def _check_text(value):
    if _weight(value, MAX_TEXT) > MAX_TEXT:
        raise ValueError(f"文本超过 {MAX_TEXT} 个字符")
    return value


def _method(obj, name: str):
    """``obj.name`` for a method that can make a huge value: checked before it runs."""
    attr = getattr(obj, name)
    if not callable(attr):
        return attr

    def guarded(*args, **kwargs):
        if isinstance(obj, type):  # called on the class: str.join(sep, items)
            if not args:
                return attr(*args, **kwargs)
            target, rest = args[0], list(args[1:])
        else:
            target, rest = obj, list(args)
        if name == "join" and rest and isinstance(target, (str, bytes)):
            rest[0] = items = list(rest[0])
            size = sum(len(i) for i in items if isinstance(i, (str, bytes))) + len(target) * max(len(items) - 1, 0)
            _limit(size)
        elif name == "replace" and len(rest) >= 2 and isinstance(target, (str, bytes)):
            old, new = rest[0], rest[1]
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
                count = target.count(old) if old else len(target) + 1
                if len(rest) > 2 and isinstance(rest[2], int) and rest[2] >= 0:
                    count = min(count, rest[2])
                _limit(len(target) + count * (len(new) - len(old)))
        elif name in ("ljust", "rjust", "center", "zfill") and rest and isinstance(rest[0], int):
            _limit(rest[0])
        elif name == "expandtabs" and isinstance(target, (str, bytes)):
            size = rest[0] if rest else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                _limit(len(target) + target.count("\t" if isinstance(target, str) else b"\t") * max(size, 0))
        elif name == "translate" and rest and isinstance(target, str) and isinstance(rest[0], dict):
            longest = max((len(v) for v in rest[0].values() if isinstance(v, str)), default=1)
            _limit(len(target) * max(longest, 1))
        elif name == "to_bytes":
            size = rest[0] if rest else kwargs.get("length", 1)
            if isinstance(size, int):
                _limit(size)
        elif name == "extend" and rest and isinstance(target, list):
            rest[0] = items = rest[0] if isinstance(rest[0], (list, tuple, str, bytes)) else list(rest[0])
            _grow(target, items)
        elif name in WALKING_METHODS:
            own = [target] if isinstance(target, (list, tuple)) else []
            _check_walk([*own, *rest, *kwargs.values()], f"{name}()")
        if isinstance(obj, type):
            return attr(target, *rest, **kwargs)
        return attr(*rest, **kwargs)

    return guarded


def _limit(size: int) -> None:
    if size > MAX_TEXT:
        raise ValueError(f"结果超过 {MAX_TEXT} 个字符")


def _sum(iterable, /, start=0):
    if not isinstance(start, (int, float, Decimal)):
        raise ValueError("sum 只能对数字求和")
    return sum(iterable, start)


class _Like(type):
    """Metaclass of the guarded ``str`` and ``Decimal``: ``isinstance`` sees the real type."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.__mro__[1])

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.__mro__[1])


class _Str(str, metaclass=_Like):
    """``str`` for scripts: the text of a huge nested value is refused before it is made."""

    def __new__(cls, *args, **kwargs):
        if args:
            _check_text(args[0])
        return str(*args, **kwargs)


class _Set(set, metaclass=_Like):
    """``set`` for scripts: the items (hashed and compared in C) are checked first."""

    def __new__(cls, *args):
        if args and not isinstance(args[0], _WALKED) and not isinstance(args[0], (str, bytes)):
            args = (list(args[0]),)
        _check_walk(list(args), "set")
        return set(*args)


class _Dict(dict, metaclass=_Like):
    """``dict`` for scripts: the keys (hashed and compared in C) are checked first."""

    def __new__(cls, *args, **kwargs):
        if args and not isinstance(args[0], _WALKED) and not isinstance(args[0], (str, bytes)):
            args = (list(args[0]),)
        _check_walk(list(args), "dict")
        return dict(*args, **kwargs)


class _Decimal(Decimal, metaclass=_Like):
    """``Decimal`` for scripts: no exponent beyond :data:`MAX_DECIMAL_EXPONENT` (its digits
    would be written out by ``int()`` or a ``:f`` format)."""

    def __new__(cls, value="0", context=None):
        result = Decimal(value, context)
        if result.is_finite() and abs(result.adjusted()) > MAX_DECIMAL_EXPONENT:
            raise ValueError(f"Decimal 指数超过 {MAX_DECIMAL_EXPONENT}")
        return result


_DECIMAL_CONTEXT = decimal.Context(prec=28, Emax=MAX_DECIMAL_EXPONENT, Emin=-MAX_DECIMAL_EXPONENT)
_THREAD = threading.local()


def _decimal_context() -> decimal.Context:
    """This thread's copy of the scripts' Decimal context (bounded exponents)."""
    context = getattr(_THREAD, "decimal", None)
    if context is None:
        context = _THREAD.decimal = _DECIMAL_CONTEXT.copy()
    context.clear_flags()
    return context


def _alive() -> bool:
    """The check the checker puts into loops and except blocks (see :class:`_Deadline`)."""
    deadline = getattr(_THREAD, "deadline", None)
    return deadline.check() if deadline is not None else True


def _int_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise ValueError(f"{what} 结果过大")


def _factorial(n):
    if isinstance(n, int) and n > 1:
        _int_bits(math.lgamma(n + 1) / math.log(2), "factorial")
    return math.factorial(n)


def _comb(n, k):
    if isinstance(n, int) and isinstance(k, int) and 0 <= k <= n:
        _int_bits((math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / math.log(2), "comb")
    return math.comb(n, k)


def _perm(n, k=None):
    if isinstance(n, int) and n >= 0 and (k is None or (isinstance(k, int) and 0 <= k <= n)):
        rest = 0 if k is None else n - k
        _int_bits((math.lgamma(n + 1) - math.lgamma(rest + 1)) / math.log(2), "perm")
    return math.perm(n, k)


def _lcm(*integers):
    # the result can have as many bits as all arguments together, made in one C call
    _int_bits(sum(abs(n).bit_length() for n in integers if isinstance(n, int)), "lcm")
    return math.lcm(*integers)


def _prod(iterable, /, *, start=1):
    result = start
    for item in iterable:
        result = _binop("Mult", result, item)
    return result


def _safe_math() -> types.ModuleType:
    module = types.ModuleType("math")
    for name in dir(math):
        if not name.startswith("_"):
            setattr(module, name, getattr(math, name))
    module.factorial, module.comb, module.perm, module.prod, module.lcm = _factorial, _comb, _perm, _prod, _lcm
    return module


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
        "abs": abs, "all": all, "any": any, "bool": bool, "dict": _Dict, "divmod": divmod,
        "enumerate": _walking(enumerate, "enumerate", False), "filter": _walking(filter, "filter", False),
        "float": float, "int": int, "isinstance": isinstance, "len": len, "list": list,
        "map": _walking(map, "map", False), "max": _walking(max, "max", True), "min": _walking(min, "min", True),
        "reversed": _walking(reversed, "reversed", False), "round": round, "set": _Set,
        "sorted": _walking(sorted, "sorted", True), "str": _Str, "sum": _walking(_sum, "sum", True),
        "tuple": tuple, "zip": _walking(zip, "zip", False), "range": _bounded_range,
        "True": True, "False": False, "None": None,
        "ValueError": ValueError, "KeyError": KeyError, "Exception": Exception, "TypeError": TypeError,
        # the guards the checker inserts (no script can name them: they start with "_")
        "__pg_binop__": _binop, "__pg_method__": _method, "__pg_text__": _check_text,
        "__pg_grow__": _grow_in_place, "__pg_alive__": _alive, "__pg_walk__": _check_walk,
    }.items()
}

HELPERS = {
    "Decimal": _Decimal,
    "math": _safe_math(),
    "date": date,
    "datetime": datetime,
    "timedelta": timedelta,
    "add_duration": add_duration,
}


@dataclass(frozen=True)
class Compiled:
    """A checked script or expression: its code, mode and every name it uses."""

    code: types.CodeType
    mode: str
    names: frozenset[str]


@lru_cache(maxsize=8192)
def compile_checked(source: str, mode: str) -> Compiled:
    """Check and compile ``source`` (``mode`` is ``"exec"`` or ``"eval"``).

    :raises ScriptError: the syntax is invalid or uses something not allowed
    """
    if not isinstance(source, str):
        raise ScriptError("脚本必须是文本")
    try:
        tree = ast.parse(source, filename=SCRIPT_FILENAME, mode=mode)
    except SyntaxError as exc:
        raise ScriptError(f"第 {exc.lineno} 行: 语法错误: {exc.msg}", exc.lineno) from None
    checker = _Checker()
    tree = checker.visit(tree)
    ast.fix_missing_locations(tree)
    return Compiled(compile(tree, SCRIPT_FILENAME, mode), mode, frozenset(checker.names))


def check(source: str, mode: str = "exec") -> None:
    """Validate ``source`` without running it.

    :raises ScriptError: naming the line and what is not allowed
    """
    compile_checked(source, mode)


class _Deadline:
    """Stops a script after ``limit`` seconds, or once the process's peak memory grew by
    more than :data:`MAX_MEMORY_GROWTH`, with an exception it cannot catch.

    Two watchers: a trace function on the script's frames, and a check the checker puts at
    the top of every loop body, comprehension and except block. The second one matters
    because Python switches a trace function off once it raised, and a script could turn
    the timeout into a catchable error (an ``except`` whose type expression fails).
    """

    def __init__(self, limit: float) -> None:
        self.until = time.monotonic() + limit
        self.peak: int | None = None  # measured on the first check: most expressions end before
        self.ticks = 0
        self.why: str | None = None

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != SCRIPT_FILENAME:
            return None
        return self._local

    def _local(self, frame, event, arg):
        self.check()
        return self._local

    def check(self) -> bool:
        if self.why is None and sys.exc_info()[0] is MemoryError:  # caught by the script's except
            self.why = "脚本占用内存过多"
        self.ticks += 1
        if self.why is None and self.ticks & 63 == 0:
            if time.monotonic() > self.until:
                self.why = "脚本运行超时"
            elif self.peak is None:
                self.peak = _peak_memory() + MAX_MEMORY_GROWTH
            elif _peak_memory() > self.peak:
                self.why = "脚本占用内存过多"
        if self.why is not None:
            raise _Expired()
        return True


def _peak_memory() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KB on Linux


def _address_space() -> int | None:
    """The process's virtual memory size in bytes (None where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class _AddressSpaceBound:
    """While any script runs, the process's address space may grow by MAX_MEMORY_GROWTH at
    most: ``RLIMIT_AS`` is lowered when the first script starts and put back when the last
    one ends (threads share it). An allocation past it fails with MemoryError -- in the one C
    call that makes a huge value, where no trace function can look -- and the script stops."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: tuple[int, int] | None = None
        self.size: int | None = None
        self.measured = float("-inf")

    def __enter__(self):
        with self.lock:
            if self.users == 0:
                self.saved = None
                now = time.monotonic()
                if now - self.measured > 1.0:  # reading /proc costs more than the script; sizes drift slowly
                    self.size, self.measured = _address_space(), now
                size = self.size
                if size is not None:
                    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
                    limit = size + MAX_MEMORY_GROWTH
                    if hard != resource.RLIM_INFINITY:
                        limit = min(limit, hard)
                    if soft == resource.RLIM_INFINITY or limit < soft:
                        try:
                            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
                            self.saved = (soft, hard)
                        except (ValueError, OSError):
                            pass
            self.users += 1
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.saved is not None:
                resource.setrlimit(resource.RLIMIT_AS, self.saved)
                self.saved = None


_MEMORY_BOUND = _AddressSpaceBound()


def run(code, namespace: dict, limit: float) -> object:
    """Evaluate or execute checked ``code`` in ``namespace`` with a time limit.

    :raises ScriptTimeout: it ran too long or took too much memory
    :raises ValueError: it made a value (or left data) beyond the size limits
    """
    compiled = code if isinstance(code, Compiled) else Compiled(code, "eval", frozenset())
    deadline = _Deadline(limit)
    previous, outer_deadline = sys.gettrace(), getattr(_THREAD, "deadline", None)
    _THREAD.deadline = deadline
    sys.settrace(deadline)
    outer = decimal.getcontext()
    decimal.setcontext(_decimal_context())
    bound = _MEMORY_BOUND if compiled.mode == "exec" else contextlib.nullcontext()
    try:
        with bound:  # script tasks; an expression's one C call is bounded by the guards alone
            result = eval(compiled.code, namespace)  # noqa: S307 - compiled by compile_checked
    except _Expired:
        raise ScriptTimeout(deadline.why or "脚本运行超时") from None
    except MemoryError:
        raise ScriptTimeout("脚本占用内存过多") from None
    finally:
        sys.settrace(previous)
        _THREAD.deadline = outer_deadline
        decimal.setcontext(outer)
    _check_left_behind(compiled, namespace, result)
    return result


def _check_left_behind(compiled: Compiled, namespace: dict, result) -> None:
    """The value of an expression, and the data behind every name a script used, stay
    within :data:`MAX_DATA` (a list of a thousand references to one long text is small in
    memory and huge once stored)."""
    total = _weight(result, MAX_DATA) if compiled.mode == "eval" else 0
    for name in compiled.names:
        if total > MAX_DATA:
            break
        value = namespace.get(name)
        if isinstance(value, (str, bytes, list, tuple, dict, set)):
            total += _weight(value, MAX_DATA - total)
    if total > MAX_DATA:
        raise ValueError(f"脚本产生的数据过大 (超过约 {MAX_DATA // 1_000_000} MB)")
