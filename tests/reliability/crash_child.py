"""A process of the crash test, killed with SIGKILL by the test or by itself.

``python crash_child.py worker URL RECEIPTS SEED KILL_P`` runs the real job worker
(:func:`engine.worker.run_worker`) with a receiver that appends each delivered outbox id to
the RECEIPTS file; ``completer`` completes the open tasks of the ``C-`` orders (a web
process, in effect); ``starter`` starts the orders the database does not have yet. Each
kills itself with probability KILL_P at the moments that matter most: in the middle of a
step (its state computed, nothing committed) and, for the worker, right after a message
left but before its delivery was committed.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from sqlalchemy import text  # noqa: E402

from engine import Conflict, Database, Engine, NotAllowed, NotFound, identity  # noqa: E402
from engine.worker import run_worker  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def sabotage(eng: Engine, rng: random.Random, kill_p: float) -> None:
    """Die now and then between computing a step's new state and committing it."""
    dump_live = eng.serializer.dump_live

    def dump_then_maybe_die(workflow):
        result = dump_live(workflow)
        if rng.random() < kill_p:
            die()
        return result

    eng.serializer.dump_live = dump_then_maybe_die


class Receiver:
    """The notification transport: appends the outbox id; dies now and then after sending."""

    def __init__(self, path: str, rng: random.Random, kill_p: float) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.rng, self.kill_p = rng, kill_p

    def __call__(self, topic, payload, outbox_id) -> None:
        os.write(self.fd, f"{outbox_id} {topic} {payload.get('work_order_no')}\n".encode())
        if self.rng.random() < self.kill_p:
            die()  # sent, but the delivery is not committed: it will be sent again


def worker(url: str, receipts: str, rng: random.Random, kill_p: float) -> None:
    eng = Engine(Database.connect(url))
    sabotage(eng, rng, kill_p)
    run_worker(eng, interval=0.05, send=Receiver(receipts, rng, kill_p), echo=lambda _line: None)


def completer(url: str, rng: random.Random, kill_p: float) -> None:
    db = Database.connect(url)
    eng = Engine(db)
    sabotage(eng, rng, kill_p)
    with db.read() as s:
        tech = identity.actor_for(s, "crash_tech")
    while True:
        with db.read() as s:
            rows = s.execute(text("SELECT t.id FROM human_task t JOIN process_instance i ON i.id = t.instance_id "
                                  "WHERE t.status = 'open' AND i.business_key LIKE 'C-%' "
                                  "ORDER BY random() LIMIT 20")).all()
        if not rows:
            time.sleep(0.05)
            continue
        for (task_id,) in rows:
            try:
                eng.complete(task_id, {"ok": True}, actor=tech)
            except (Conflict, NotFound, NotAllowed):
                pass


def starter(url: str, rng: random.Random, kill_p: float, timers: int, completions: int) -> None:
    """Start T-0.. (their timer fires after two seconds) and C-0.. (completed before theirs)
    that are missing: a start is one transaction, so after a kill the next starter knows."""
    db = Database.connect(url)
    eng = Engine(db)
    sabotage(eng, rng, kill_p)
    wanted = [(f"T-{i}", "PT2S") for i in range(timers)] + [(f"C-{i}", "PT1H") for i in range(completions)]
    with db.read() as s:
        have = set(s.execute(text("SELECT business_key FROM process_instance")).scalars())
    missing = [w for w in wanted if w[0] not in have]
    rng.shuffle(missing)
    for key, delay in missing:
        eng.start("crash", {"work_order_no": key, "delay": delay})
    time.sleep(3600)  # done: wait to be killed


if __name__ == "__main__":
    role, url, seed, kill_p = sys.argv[1], sys.argv[2], int(sys.argv[4]), float(sys.argv[5])
    if role == "worker":
        worker(url, sys.argv[3], random.Random(seed), kill_p)
    elif role == "completer":
        completer(url, random.Random(seed), kill_p)
    else:
        starter(url, random.Random(seed), kill_p, int(sys.argv[6]), int(sys.argv[7]))
