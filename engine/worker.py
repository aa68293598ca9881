"""The job worker loop: timers, retries, outbox."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from engine.facade import Engine

log = logging.getLogger("paigong.worker")


def log_sender(topic: str, payload: dict[str, Any], outbox_id: int) -> None:
    """The default notification sender: writes the message to the log."""
    log.info("notify #%s %s %s", outbox_id, topic, payload)


def run_worker(engine: Engine, *, once: bool = False, interval: float = 1.0,
               send: Callable[[str, dict[str, Any], int], None] | None = None,
               echo: Callable[[str], None] = print) -> None:
    """Poll for due work until stopped (SIGTERM/SIGINT finish the current round).

    An idle worker sleeps ``interval`` seconds, or until the next timer is due when that
    is sooner.

    ``send`` defaults to the engine's configured notifier (see :mod:`engine.senders`); a
    sender with a ``prepare()`` has it called before each delivery round.
    """
    send = send or engine.notification_sender()
    prepare = getattr(send, "prepare", None)
    stopping = {"flag": False}

    def stop(_signum, _frame):
        stopping["flag"] = True

    if not once:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        echo(f"worker 已启动，每 {interval} 秒检查一次到期任务")
    while True:
        fired = engine.fire_due_jobs()
        if prepare is not None:
            prepare()
        sent = engine.deliver_outbox(send)
        if fired or sent:
            echo(f"定时/重试 {fired} 个，通知 {sent} 条")
        if once or stopping["flag"]:
            return
        if not (fired or sent):
            time.sleep(_pause(engine, interval))


def _pause(engine: Engine, interval: float) -> float:
    """Seconds to sleep: ``interval``, or less when a timer comes due sooner (so it fires on time)."""
    from sqlalchemy import func, select

    from engine.models import Job

    with engine.db.read() as s:
        due = s.scalar(select(func.min(Job.due_at)).where(Job.status == "pending"))
    if due is None:
        return interval
    return max(0.005, min(interval, (due - engine.clock.now()).total_seconds() + 0.002))
