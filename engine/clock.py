"""The engine's clock: real UTC time, or a fake one that tests move by hand.

SpiffWorkflow reads ``datetime.now(timezone.utc)`` inside its timer module; we point that
module's ``datetime`` at a subclass whose ``now`` asks the active engine clock, so timers
in tests fire on the fake clock without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Real time. ``now()`` returns an aware UTC datetime."""

    def now(self) -> datetime:
        return utcnow()


class FakeClock(Clock):
    """A clock that stands still until moved."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when


_active: ContextVar[Callable[[], datetime] | None] = ContextVar("paigong_clock", default=None)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        source = _active.get()
        if source is None:
            return datetime.now(tz)
        value = source()
        return value if tz is None else value.astimezone(tz)


def install_timer_clock() -> None:
    """Make SpiffWorkflow's timers read the active engine clock."""
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer

    timer.datetime = _EngineDatetime


def activate(clock: Clock):
    """Context manager token: timers see ``clock`` until ``deactivate(token)``."""
    return _active.set(clock.now)


def deactivate(token) -> None:
    _active.reset(token)
