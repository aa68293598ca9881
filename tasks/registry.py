"""The one explicit registry of service-task operators.

A BPMN service task names an operator (``spiffworkflow:serviceTaskOperator id="check_warranty"``);
the engine looks the name up here and calls the function with keyword arguments evaluated
from the task's parameters. Two keyword arguments are never taken from the diagram but
injected by the engine when the function accepts them:

``now``
    the engine clock's current time (an aware UTC ``datetime``);
``ref``
    a read-only reference-data reader (see :mod:`tasks.refdata`).

Operators return a JSON-ready ``dict``. A business outcome (out of stock, purchase proof
missing) is part of that result, never an exception. Invalid input raises
:class:`ServiceInputError`, naming the field; anything else is a bug and becomes an incident.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

INJECTED = frozenset({"now", "ref"})


class ServiceInputError(ValueError):
    """An operator was called with a value it cannot work with.

    :param field: the parameter name at fault
    :param message: what is wrong, in words staff can read (Chinese)
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownOperator(KeyError):
    """No operator is registered under that name."""


@dataclass(frozen=True)
class Operator:
    name: str
    func: Callable[..., dict]
    description: str
    params: tuple[str, ...]
    required: tuple[str, ...]
    injected: frozenset[str] = field(default_factory=frozenset)

    def call(self, params: dict[str, Any], *, now: Any = None, ref: Any = None) -> dict:
        """Call the operator with diagram parameters plus the injected context.

        :raises ServiceInputError: a parameter is missing or unknown
        """
        unknown = set(params) - set(self.params)
        if unknown:
            name = sorted(unknown)[0]
            raise ServiceInputError(name, f"操作 {self.name} 没有参数 {name}")
        missing = [p for p in self.required if p not in params]
        if missing:
            raise ServiceInputError(missing[0], f"操作 {self.name} 缺少参数 {missing[0]}")
        kwargs = dict(params)
        if "now" in self.injected:
            kwargs["now"] = now
        if "ref" in self.injected:
            kwargs["ref"] = ref
        return self.func(**kwargs)


_REGISTRY: dict[str, Operator] = {}


def operator(name: str, *, description: str = "") -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register ``func`` as the service operator ``name``.

    Every parameter must be keyword-only; ``now`` and ``ref`` are injected by the engine.
    """

    def register(func: Callable[..., dict]) -> Callable[..., dict]:
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"operator {name!r} registered twice")
        sig = inspect.signature(func)
        params, required, injected = [], [], set()
        for p in sig.parameters.values():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise TypeError(f"operator {name}: parameter {p.name} must be keyword-only")
            if p.name in INJECTED:
                injected.add(p.name)
                continue
            params.append(p.name)
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
        doc = description or (inspect.getdoc(func) or "").split("\n", 1)[0]
        _REGISTRY[name] = Operator(name, func, doc, tuple(params), tuple(required), frozenset(injected))
        return func

    return register


def get(name: str) -> Operator:
    """Return the operator registered as ``name``.

    :raises UnknownOperator: nothing is registered under that name
    """
    _load_builtin_operators()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownOperator(name) from None


def names() -> list[str]:
    _load_builtin_operators()
    return sorted(_REGISTRY)


def _load_builtin_operators() -> None:
    # Importing the operator modules registers them; done lazily so that importing the
    # registry alone never pulls in every policy module.
    from tasks import operators  # noqa: F401
