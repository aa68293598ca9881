"""Helpers for multi-process runs: a clock shared by processes, users, picking targets."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime

from sqlalchemy import text

from engine import Actor, Clock, Database, identity

CTX = mp.get_context("fork")
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TECHNICIANS = ("tech0", "tech1", "tech2", "tech3")
DISPATCHERS = ("disp0", "disp1")
ADMIN = Actor("boss", frozenset({"admin"}), frozenset({"admin"}))


class SharedClock(Clock):
    """A fake clock every process sees: seconds since the epoch in shared memory."""

    def __init__(self, value=None) -> None:
        self.value = value if value is not None else CTX.Value("d", START.timestamp())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.value.value, UTC)

    def advance(self, seconds: float) -> None:
        with self.value.get_lock():
            self.value.value += seconds


def make_staff(db: Database) -> None:
    with db.write() as s:
        for name in TECHNICIANS:
            identity.create_user(s, name, "secret-pass-1", name, groups=("technician",))
        for name in DISPATCHERS:
            identity.create_user(s, name, "secret-pass-1", name, groups=("dispatcher",))


def load_actors(db: Database) -> dict[str, list[Actor]]:
    with db.read() as s:
        return {
            "technician": [identity.actor_for(s, n) for n in TECHNICIANS],
            "dispatcher": [identity.actor_for(s, n) for n in DISPATCHERS],
        }


def random_open_task(db: Database, rng, hot: int = 0):
    """``(task id, instance id, group, assignee, element id)`` of an open task, or None.

    With ``hot`` > 0 the pick comes from the ``hot`` oldest open tasks, so processes collide.
    """
    with db.read() as s:
        if hot:
            rows = s.execute(text("SELECT id, instance_id, group_id, assignee, element_id FROM human_task "
                                  "WHERE status = 'open' ORDER BY created_at, id LIMIT :n"), {"n": hot}).all()
        else:
            rows = s.execute(text("SELECT id, instance_id, group_id, assignee, element_id FROM human_task "
                                  "WHERE status = 'open' ORDER BY random() LIMIT 1")).all()
    return tuple(rng.choice(rows)) if rows else None


def random_instance(db: Database, rng, status: str):
    with db.read() as s:
        rows = s.execute(text("SELECT id FROM process_instance WHERE status = :st ORDER BY random() LIMIT 1"),
                         {"st": status}).all()
    return rows[0][0] if rows else None


def waiting_key(db: Database) -> str | None:
    """The work-order number of a random instance waiting for a message."""
    with db.read() as s:
        rows = s.execute(text("SELECT business_key FROM message_subscription ORDER BY random() LIMIT 1")).all()
    return rows[0][0] if rows else None
