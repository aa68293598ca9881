"""The log-in rate limit, kept in the database so every web process sees every failure.

A name may fail ``per_name`` times and an address ``per_address`` times within a sliding
``window``; past that, log-ins for it are refused without checking the password until
enough failures have left the window. A successful log-in forgets the name's failures
(and with them their share of the address's count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.login_models import LoginFailure
from engine.results import Actor

KEY_LENGTH = 64


@dataclass(frozen=True)
class LoginLimits:
    per_name: int = 5
    per_address: int = 20
    window: float = 300.0  # seconds


@dataclass(frozen=True)
class LoginOutcome:
    """The actor of a correct log-in, or None; ``retry_after`` > 0: refused unchecked, locked for that long."""

    actor: Actor | None
    retry_after: int = 0


def name_key(username: str) -> str:
    return (username or "").strip().lower()[:KEY_LENGTH]


def address_key(address: str | None) -> str:
    return (address or "")[:KEY_LENGTH]


def _wait(s: Session, column, value: str, limit: int, now: datetime, window: timedelta) -> float:
    """Seconds until fewer than ``limit`` failures of ``column == value`` lie in the window."""
    if limit <= 0:
        return 0.0
    recent = (select(LoginFailure.failed_at)
              .where(column == value, LoginFailure.failed_at > now - window)
              .order_by(LoginFailure.failed_at.desc()).limit(limit))
    times = list(s.scalars(recent))
    if len(times) < limit:
        return 0.0
    # the oldest of the newest ``limit`` failures must leave the window first
    return max((times[-1] + window - now).total_seconds(), 0.0)


def retry_after(s: Session, limits: LoginLimits, username: str, address: str | None, now: datetime) -> int:
    """Whole seconds until this name from this address may try again (0: now)."""
    window = timedelta(seconds=limits.window)
    wait = max(_wait(s, LoginFailure.username, name_key(username), limits.per_name, now, window),
               _wait(s, LoginFailure.address, address_key(address), limits.per_address, now, window))
    return math.ceil(wait)


def record_failure(s: Session, limits: LoginLimits, username: str, address: str | None, now: datetime) -> None:
    s.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - timedelta(seconds=limits.window)))
    s.add(LoginFailure(username=name_key(username), address=address_key(address), failed_at=now))


def forget_failures(s: Session, username: str) -> None:
    s.execute(delete(LoginFailure).where(LoginFailure.username == name_key(username)))
