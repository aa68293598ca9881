"""Crashes: job workers, a process completing tasks and a process starting orders are
killed with SIGKILL at random moments (by the test, and by themselves in the middle of a
step or right after sending a notification); after a restart every order is consistent,
every timer fired exactly once and every notification reached the receiver.

Delivery is at least once at the transport: a worker killed after a message left but
before its delivery was committed sends it again after the restart. The receiver keeps
the outbox id of each message and drops a repeated id, so each notification is handled
exactly once; the test counts those repeats and checks that no outbox row is lost, left
undelivered or delivered under an id that does not exist.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from engine import Engine, identity
from engine.models import Event, Instance, Job, Outbox
from tests.reliability import invariants
from tests.reliability.conftest import reliability_model

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_child.py")
TIMERS = int(os.environ.get("PAIGONG_CRASH_TIMERS", "500"))
COMPLETIONS = int(os.environ.get("PAIGONG_CRASH_COMPLETIONS", "500"))
SELF_KILL = 0.01  # chance per step (and per message sent) that a child kills itself
DEADLINE = 240  # seconds for the whole run before the test gives up


class Chaos:
    """Runs the children, kills one now and then, restarts whatever died."""

    def __init__(self, url: str, receipts: str) -> None:
        self.url, self.receipts = url, receipts
        self.rng = random.Random(2026)
        self.roles = ["worker", "worker", "completer", "starter"]
        self.procs: dict[int, subprocess.Popen] = {}
        self.killed = 0  # by the test
        self.died = 0  # by themselves
        self.starts = 0

    def spawn(self, slot: int) -> None:
        role = self.roles[slot]
        args = [sys.executable, CHILD, role, self.url, self.receipts, str(self.rng.randrange(10**9)), str(SELF_KILL)]
        if role == "starter":
            args += [str(TIMERS), str(COMPLETIONS)]
        self.procs[slot] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.starts += 1

    def tick(self) -> None:
        for slot, proc in self.procs.items():
            code = proc.poll()
            if code is None:
                continue
            if code != -signal.SIGKILL:
                raise AssertionError(f"{self.roles[slot]} exited with {code}: {proc.stderr.read().decode()[-3000:]}")
            proc.stderr.close()
            self.died += 1
            self.spawn(slot)

    def kill_one(self) -> None:
        slot = self.rng.randrange(len(self.roles))
        proc = self.procs[slot]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            self.killed += 1
            self.spawn(slot)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()


def progress(db) -> tuple[int, int, int]:
    """Orders started, orders finished, notifications not yet delivered."""
    with db.read() as s:
        instances = s.scalar(select(func.count()).select_from(Instance))
        finished = s.scalar(select(func.count()).select_from(Instance).where(Instance.status == "completed"))
        pending = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status != "delivered"))
    return instances, finished, pending


@pytest.mark.slow
def test_killed_workers_and_web_processes_lose_nothing_and_repeat_nothing(pg_db, pg_url, tmp_path, figures):
    eng = Engine(pg_db)
    eng.deploy_directory(reliability_model("crash"))
    with pg_db.write() as s:
        identity.create_user(s, "crash_tech", "secret-pass-1", "crash_tech", groups=("technician",))
    receipts = str(tmp_path / "receipts.txt")
    chaos = Chaos(pg_url, receipts)
    total = TIMERS + COMPLETIONS
    began = time.monotonic()
    next_kill = began + chaos.rng.uniform(1, 3)
    try:
        for slot in range(len(chaos.roles)):
            chaos.spawn(slot)
        while True:
            time.sleep(0.05)
            chaos.tick()
            now = time.monotonic()
            if now >= next_kill:
                chaos.kill_one()
                next_kill = now + chaos.rng.uniform(1, 3)
            instances, finished, pending = progress(pg_db)
            if instances == finished == total and pending == 0:
                break
            assert now - began < DEADLINE, f"stuck: {instances} orders, {finished} finished, {pending} undelivered"
    finally:
        chaos.stop()
    elapsed = time.monotonic() - began

    # a last clean round finds nothing left to do
    assert eng.fire_due_jobs() == 0
    assert eng.deliver_outbox(lambda *_: None) == 0

    with pg_db.read() as s:
        orders = dict(s.execute(select(Instance.business_key, Instance.id)).all())
        kinds = Counter((key[0], kind) for key, kind in s.execute(
            select(Instance.business_key, Event.kind).join(Event, Event.instance_id == Instance.id)
            .where(Event.kind.in_(("timer_fired", "task_completed", "started")))))
        outbox = {row.id: row for row in s.scalars(select(Outbox))}
        jobs = s.scalars(select(Job)).all()
    assert len(orders) == total  # each order started once, however often the starter died
    assert kinds[("T", "timer_fired")] == TIMERS and kinds[("T", "task_completed")] == 0
    assert kinds[("C", "task_completed")] == COMPLETIONS and kinds[("C", "timer_fired")] == 0
    assert kinds[("T", "started")] + kinds[("C", "started")] == total
    assert jobs == []
    report = invariants.check(pg_db)
    assert report.problems == [] and report.statuses == {"completed": total}

    # every notification delivered, none lost, none delivered under an id that does not exist
    assert len(outbox) == total
    assert {row.status for row in outbox.values()} == {"delivered"}
    expected_topic = {"T": "crash_late", "C": "crash_done"}
    for row in outbox.values():
        assert row.topic == expected_topic[row.payload["work_order_no"][0]]
    with open(receipts, encoding="utf-8") as fh:
        received = [int(line.split()[0]) for line in fh if line.strip()]
    repeats = len(received) - len(set(received))
    assert set(received) == set(outbox)  # after dropping repeated ids: exactly once each
    print(f"\ncrash run: {TIMERS} timer firings + {COMPLETIONS} completions (+{total} starts, {total} "
          f"notifications) in {elapsed:.0f} s; {chaos.killed} SIGKILLs by the test, {chaos.died} self-inflicted "
          f"mid-step or after a send, {chaos.starts} process starts; {repeats} notifications sent twice at the "
          f"transport and dropped by the receiver; lost: 0")
    figures.set("crashes", "timer firings / completions / starts", f"{TIMERS} / {COMPLETIONS} / {total}")
    figures.add("crashes", "SIGKILLs by the test", chaos.killed)
    figures.add("crashes", "self-inflicted kills mid-step or after a send", chaos.died)
    figures.set("crashes", "notifications sent twice at the transport (dropped by id)", repeats)
    figures.set("crashes", "lost (orders, timers, completions, notifications)",
                total - len(orders) + len(set(outbox) - set(received)))
