"""Domain errors of the engine; the web layer maps them to HTTP status codes in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


class EngineError(Exception):
    """Base of every error the facade raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(EngineError):
    code = "not_found"


class NotAllowed(EngineError):
    code = "forbidden"


class Conflict(EngineError):
    """Someone else changed the instance or the task first (HTTP 409)."""

    code = "conflict"


class InvalidInput(EngineError):
    """Input failed validation; ``fields`` maps each field path to its message."""

    code = "invalid"

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


@dataclass(frozen=True)
class Problem:
    """One reason a deployment was refused."""

    file: str
    element_id: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f" [{self.element_id}]" if self.element_id else "")
        return f"{where}: {self.message}"


@dataclass
class DeployError(EngineError):
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        EngineError.__init__(self, "部署被拒绝:\n" + "\n".join(f"  - {p}" for p in self.problems))

    code = "invalid_definition"
