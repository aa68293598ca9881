"""Analysts' scenario tests: a JSON file beside a diagram (``<process>.scenarios.json``) that
drives the process through a throw-away database and checks the path it takes.

Format (one suite per file)::

    {
      "process": "work_order",                       # default process of the suite
      "scenarios": [
        {
          "name": "安装单一次完工",
          "process": "work_order",                   # optional, else the suite's
          "start": {"order_type": "install", ...},   # start data
          "services": {"wo_warranty": {"warranty_class": "C"},   # mocked service results, by
                       "check_warranty": [{...}, {...}]},       # element id or operator name;
                                                                # a list is used in turn
          "steps": [
            {"complete": "dispatch", "data": {...}},  # the open user task with this element id
            {"advance": "PT2H"},                       # move the clock (ISO-8601 duration), fire timers
            {"message": "urge", "payload": {...}}      # a message to this order
          ],
          "expect": {
            "path": ["dispatch", "accept", "wo_end"],  # reached in this order (others may lie between)
            "not_reached": ["escalate"],
            "open": ["callback"],                      # open user tasks at the end (exactly)
            "status": "completed",
            "data": {"warranty_class": "C"}            # variables at the end (these keys only)
          }
        }
      ]
    }

Every scenario runs in a fresh SQLite database in a temporary folder: the live database is
never touched. Service tasks whose element or operator is mocked return the mocked result;
the others call the real operator with the live reference data (read only).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.errors import EngineError, InvalidInput

MAX_SCENARIOS = 200
MAX_STEPS = 500
STEP_KINDS = frozenset({"started", "task_completed", "message_received", "timer_fired", "timers_checked", "retried",
                        "variables_changed", "migrated"})  # events that begin a step
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    passed: bool
    path: tuple[str, ...]
    divergence: str | None
    message: str
    process_id: str = ""
    status: str = ""
    open_tasks: tuple[str, ...] = ()


def parse_suite(suite: Any) -> tuple[str | None, list[dict]]:
    """The suite's default process and its scenarios.

    :raises InvalidInput: not a suite (naming what is wrong)
    """
    if isinstance(suite, list):
        default, items = None, suite
    elif isinstance(suite, dict) and isinstance(suite.get("scenarios"), list):
        default, items = suite.get("process"), suite["scenarios"]
    elif isinstance(suite, dict) and ("start" in suite or "steps" in suite):
        default, items = None, [suite]
    else:
        raise InvalidInput("场景文件格式不对", {"scenarios": "应为 {\"process\": …, \"scenarios\": [...]} 或场景列表"})
    if len(items) > MAX_SCENARIOS:
        raise InvalidInput("场景太多", {"scenarios": f"最多 {MAX_SCENARIOS} 个"})
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise InvalidInput(f"第 {i} 个场景不是对象", {f"scenarios[{i}]": "应为对象"})
        if not (item.get("process") or default):
            raise InvalidInput(f"第 {i} 个场景没有指明流程", {f"scenarios[{i}].process": "必填"})
        steps = item.get("steps", [])
        if not isinstance(steps, list) or len(steps) > MAX_STEPS:
            raise InvalidInput(f"第 {i} 个场景的 steps 有误", {f"scenarios[{i}].steps": f"应为不超过 {MAX_STEPS} 步的列表"})
    return default, items


def run_scenarios(files: dict[str, str], suite: Any, *, ref: Any = None,
                  groups: dict[str, str] | None = None) -> tuple[ScenarioResult, ...]:
    """Deploy ``files`` into a temporary database once per scenario and run each scenario."""
    default, items = parse_suite(suite)
    return tuple(_run_one(files, item, item.get("process") or default, ref, groups or {}, i)
                 for i, item in enumerate(items, 1))


def _duration(text: str) -> timedelta:
    m = _DURATION.match(str(text or ""))
    if not m or not any(m.groups()):
        raise InvalidInput(f"时间长度 {text!r} 不是 ISO-8601 格式", {"advance": "例如 PT2H、P3D"})
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _run_one(files, item, process_id, ref, groups, index) -> ScenarioResult:
    from engine import Database, FakeClock, identity
    from engine.facade import Engine
    from engine.modeling import _deployable
    from engine.models import Group
    from engine.results import Actor
    from engine.schema import upgrade

    name = str(item.get("name") or f"场景 {index}")[:200]
    with tempfile.TemporaryDirectory(prefix="paigong-scenario-") as folder:
        db = Database.connect(f"sqlite:///{os.path.join(folder, 'scenario.sqlite3')}")
        try:
            upgrade(db)
            with db.write() as s:
                known = identity.group_names(s)
                s.add_all([Group(id=gid, name=title) for gid, title in groups.items() if gid not in known])
                s.flush()
                everyone = tuple(identity.group_names(s))
                identity.create_user(s, "scenario", os.urandom(16).hex(), "场景测试", groups=everyone,
                                     roles=("staff", "admin"))
            clock = FakeClock()
            eng = Engine(db, clock=clock, ref=ref)
            eng.script_engine = _Mocking(clock.now, ref, item.get("services") or {})
            actor = Actor("scenario", frozenset(everyone), frozenset({"staff", "admin"}))
            try:
                eng.deploy(_deployable(files))
            except EngineError as exc:
                return ScenarioResult(name, False, (), "deploy", f"部署失败：{exc}", process_id or "")
            return _drive(eng, clock, actor, item, process_id, name)
        except EngineError as exc:
            return ScenarioResult(name, False, (), "error", str(exc), process_id or "")
        finally:
            db.dispose()


class _Mocking:
    """Wraps the real script engine: mocked services answer from the scenario."""

    def __new__(cls, now, ref, mocks: dict[str, Any]):
        from engine.spiff import ScriptEngine

        class Mocking(ScriptEngine):
            def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
                for key in (task.task_spec.bpmn_id, operation_name):
                    if key in mocks:
                        value = mocks[key]
                        if isinstance(value, list):
                            used = self._used.setdefault(key, 0)
                            self._used[key] = used + 1
                            value = value[min(used, len(value) - 1)] if value else {}
                        return json.dumps(value, ensure_ascii=False, default=str)
                return super().call_service(task, operation_name, operation_params, **kwargs)

        engine = Mocking(now, ref)
        engine._used = {}
        return engine


def _drive(eng, clock, actor, item, process_id, name) -> ScenarioResult:
    start = item.get("start") or {}
    if not isinstance(start, dict):
        return ScenarioResult(name, False, (), "start", "start 应为对象", process_id)
    try:
        started = eng.start(process_id, start, actor=actor)
    except EngineError as exc:
        return ScenarioResult(name, False, (), "start", f"启动失败：{exc}", process_id)
    iid = started.instance_id
    if started.status == "error":
        incident = started.incident.message if started.incident else ""
        return _result(eng, iid, name, process_id, False, "start", f"启动后流程出错：{incident}")
    for number, step in enumerate(item.get("steps") or [], 1):
        where = f"第 {number} 步"
        try:
            if not isinstance(step, dict):
                raise InvalidInput("步骤应为对象")
            if "complete" in step:
                element = str(step["complete"])
                open_tasks = eng.get_instance(iid, with_data=False).open_tasks
                task = next((t for t in open_tasks if t.element_id == element), None)
                if task is None:
                    return _result(eng, iid, name, process_id, False, f"{where}",
                                   f"{where}：任务 {element} 没有打开（打开的是 "
                                   f"{', '.join(t.element_id for t in open_tasks) or '无'}）")
                result = eng.complete(task.id, step.get("data") or {}, actor=_as(eng, actor, task.assignee))
            elif "advance" in step:
                clock.advance(seconds=_duration(step["advance"]).total_seconds())
                eng.fire_due_jobs()
                eng.deliver_outbox(lambda topic, payload, outbox_id: None)
                result = None
            elif "message" in step:
                key = eng.get_instance(iid, with_data=False).business_key
                result = eng.send_message(str(step["message"]), key, step.get("payload") or {}, actor=actor)
                eng.deliver_outbox(lambda topic, payload, outbox_id: None)
            else:
                raise InvalidInput("步骤应为 complete、advance 或 message 之一")
        except EngineError as exc:
            return _result(eng, iid, name, process_id, False, where, f"{where}：{exc}")
        if result is not None and result.status == "error":
            incident = result.incident.message if result.incident else ""
            return _result(eng, iid, name, process_id, False, where, f"{where}：流程出错 {incident}")
    return _check(eng, iid, name, process_id, item.get("expect") or {})


def _as(eng, actor, username: str | None):
    """The scenario acts as whoever a task is assigned to (made on first use, in every group)."""
    from engine import identity
    from engine.results import Actor

    if not username or username == actor.username:
        return actor
    with eng.db.write() as s:
        if identity.actor_for(s, username) is None:
            identity.create_user(s, username[:64], os.urandom(16).hex(), username[:64], groups=tuple(actor.groups),
                                 roles=("staff",))
    return Actor(username, actor.groups, frozenset({"staff"}))


def _path(eng, iid) -> tuple[str, ...]:
    """Elements in the order they were reached. A step logs its action first, then the tasks it
    cancelled and created, then the engine elements it ran; the elements ran before the user
    tasks they made ready, so within a step they are put first."""
    path: list[str] = []
    step: list[tuple[int, str]] = []

    def flush():
        for _rank, element in sorted(step, key=lambda item: item[0]):
            if not path or path[-1] != element:
                path.append(element)
        step.clear()

    for e in eng.history(iid):
        if e.kind in STEP_KINDS:
            flush()
        if not e.element_id:
            continue
        if e.kind in ("message_received", "timer_fired"):
            step.append((0, e.element_id))
        elif e.kind == "element":
            step.append((1, e.element_id))
        elif e.kind == "task_created":
            step.append((2, e.element_id))
    flush()
    return tuple(path)


def _result(eng, iid, name, process_id, passed, divergence, message) -> ScenarioResult:
    view = eng.get_instance(iid, with_data=False)
    return ScenarioResult(name, passed, _path(eng, iid), divergence, message, process_id, view.status,
                          tuple(sorted(t.element_id for t in view.open_tasks)))


def _check(eng, iid, name, process_id, expect: dict) -> ScenarioResult:
    view = eng.get_instance(iid)
    path = _path(eng, iid)
    at = 0
    for wanted in expect.get("path") or []:
        try:
            at = path.index(wanted, at) + 1
        except ValueError:
            reached = "（之前到达过）" if wanted in path else "（从未到达）"
            return _result(eng, iid, name, process_id, False, wanted, f"预期路径在 {wanted} 处偏离{reached}")
    for unwanted in expect.get("not_reached") or []:
        if unwanted in path:
            return _result(eng, iid, name, process_id, False, unwanted, f"不应到达 {unwanted}，但到达了")
    if "status" in expect and view.status != expect["status"]:
        return _result(eng, iid, name, process_id, False, "status",
                       f"结束状态为 {view.status}，预期 {expect['status']}")
    if "open" in expect:
        have = sorted(t.element_id for t in view.open_tasks)
        if have != sorted(expect["open"] or []):
            return _result(eng, iid, name, process_id, False, "open",
                           f"打开的任务为 {have or '无'}，预期 {sorted(expect['open'] or []) or '无'}")
    for key, value in (expect.get("data") or {}).items():
        if view.data.get(key) != value:
            return _result(eng, iid, name, process_id, False, f"data.{key}",
                           f"变量 {key} 为 {view.data.get(key)!r}，预期 {value!r}")
    return _result(eng, iid, name, process_id, True, None, "通过")
