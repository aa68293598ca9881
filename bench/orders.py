"""A database of open dispatch orders for the HTTP, memory and scale-out benchmarks.

Deploys the benchmark dispatch flow and the production ``workflows/``, creates staff with
API tokens, runs one order through the engine to its second task (``schedule_visit``)
and clones it ``n`` times (see :func:`bench.common.clone_instances`); every clone then
moves on through the REST API like any order.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import dispatch_model as model
from bench.common import ROOT, clone_instances
from bench.engine_throughput import OPERATOR

GROUPS = ("customer_service", "dispatcher", "warehouse", "technician")
PASSWORD = "bench-pass-1"


@dataclass
class OrderPool:
    """Open orders waiting for their next step: ``(instance id, task id, element id)``; thread-safe."""

    items: collections.deque = field(default_factory=collections.deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self):
        with self.lock:
            return self.items.popleft() if self.items else None

    def put(self, item) -> None:
        with self.lock:
            self.items.append(item)


@dataclass
class Prepared:
    url: str
    tokens: list[str]
    pool: OrderPool
    template_id: int


def setup(url: str, *, users: int = 16) -> tuple[object, list[str]]:
    """Deploy the flows and create ``users`` staff members (in every group) with tokens; (engine, tokens)."""
    from engine import Database, Engine, identity

    db = Database.connect(url)
    eng = Engine(db)
    eng.deploy({"dispatch.bpmn": model.bpmn(OPERATOR).encode(), **model.form_schemas()})
    eng.deploy_directory(os.path.join(ROOT, "workflows"))
    for kind, name in (("product", "products.csv"), ("fee", "fees.csv"), ("technician", "technicians.csv")):
        with open(os.path.join(ROOT, "tasks", "demo_data", name), "rb") as fh:
            eng.import_reference(kind, fh.read())
    tokens = []
    with db.write() as s:
        identity.ensure_standard_groups(s)
        for i in range(users):
            identity.create_user(s, f"bench{i:02d}", PASSWORD, f"压测员 {i:02d}", groups=GROUPS)
    for i in range(users):
        tokens.append(eng.create_token(username=f"bench{i:02d}", name="benchmark")[1])
    return eng, tokens


def template(eng) -> tuple[int, str, str]:
    """One order started and registered through the engine; (instance id, open task id, element id)."""
    from engine import identity

    with eng.db.read() as s:
        actor = identity.actor_for(s, "bench00")
    result = eng.start(model.PROCESS_ID, {}, actor=actor)
    task = result.open_tasks[0]
    result = eng.complete(task.id, model.form_data(task.element_id, 1, {}), actor=actor)
    nxt = result.open_tasks[0]
    return result.instance_id, nxt.id, nxt.element_id


def prepare(url: str, orders: int, *, users: int = 16, echo: Callable[[str], None] = print) -> Prepared:
    eng, tokens = setup(url, users=users)
    tid, task_id, element = template(eng)
    pool = OrderPool()
    add_orders(eng, tid, task_id, element, orders, pool, echo=echo)
    eng.db.dispose()
    return Prepared(url, tokens, pool, tid)


def add_orders(eng, template_id: int, task_id: str, element: str, count: int, pool: OrderPool,
               echo: Callable[[str], None] = print) -> None:
    for new_id, mapping in clone_instances(eng.db, template_id, count, echo=echo):
        pool.put((new_id, mapping[task_id], element, {}))
