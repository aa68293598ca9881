"""Random and hostile form submissions through the facade: refused with field errors and
the instance unchanged, or accepted exactly when valid; text is stored verbatim (escaping
it is the web layer's job)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import func, select

from engine import Engine, InvalidInput
from engine.models import Event, HumanTask, Instance
from engine.runtime import RESERVED_DATA_KEYS
from tests.reliability.conftest import reliability_model
from tests.reliability.racing import SharedClock, load_actors, make_staff

RACE = reliability_model("race")
with open(os.path.join(RACE, "forms", "work.json"), encoding="utf-8") as _fh:
    WORK_FORM = json.load(_fh)
ORACLE = Draft202012Validator(WORK_FORM, format_checker=FormatChecker())
EXAMPLES = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])

HOSTILE_TEXT = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "&lt;b&gt;&amp;", "{{7*7}}",
                "${jndi:ldap://x}", "'; DROP TABLE event;--", "\u202egnp.exe", "a\x00b", "工单 <b>加急</b>", "\r\n\t"]


class Desk:
    """One technician at an open work task; a new order when the last one was accepted."""

    def __init__(self, eng: Engine, db) -> None:
        self.eng, self.db = eng, db
        self.tech = load_actors(db)["technician"][0]
        self.task_id: str | None = None
        self.orders = 0

    def task(self) -> str:
        if self.task_id is None:
            self.orders += 1
            started = self.eng.start("race", {"work_order_no": f"WO-{self.orders}", "limit": 3})
            self.task_id = started.open_tasks[0].id
        return self.task_id

    def state(self, task_id: str) -> tuple:
        """What must not change when a submission is refused."""
        with self.db.read() as s:
            task = s.get(HumanTask, task_id)
            row = s.get(Instance, task.instance_id)
            open_tasks = sorted(s.scalars(select(HumanTask.id).where(HumanTask.instance_id == row.id,
                                                                      HumanTask.status == "open")))
            events = s.scalar(select(func.count()).select_from(Event).where(Event.instance_id == row.id))
            return row.version, row.status, row.state, task.status, open_tasks, events


@pytest.fixture
def desk(db):
    eng = Engine(db, clock=SharedClock())
    eng.deploy_directory(RACE)
    make_staff(db)
    return Desk(eng, db)


# -- strategies ---------------------------------------------------------------------------

leaves = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
          | st.floats(allow_nan=False, allow_infinity=True) | st.text(max_size=12) | st.sampled_from(HOSTILE_TEXT))
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=16)
huge_text = st.integers(min_value=0, max_value=300_000).map(lambda n: "长" * n)
field_values = {
    "ok": st.booleans() | json_values,
    "note": st.text(max_size=45) | st.sampled_from(HOSTILE_TEXT) | huge_text | json_values,
    "qty": st.integers(min_value=-5, max_value=120) | st.floats(allow_nan=False) | json_values,
    "price": st.floats(allow_nan=False, allow_infinity=True) | st.integers(-10, 10**12) | json_values,
    "level": st.sampled_from(["A", "B", "C", "D", "", "a"]) | json_values,
    "visit_date": st.dates().map(date.isoformat) | st.text(max_size=12) | json_values,
    "parts": st.lists(st.fixed_dictionaries({"code": st.text(max_size=20)},
                                            optional={"count": st.integers(-1, 5), "extra": json_values}),
                      max_size=7) | json_values,
}
extra_keys = st.dictionaries(
    st.sampled_from(["_x", "__proto__", "__class__", "typename", "now_iso", "math", "extra", "constructor"])
    | st.text(max_size=8), json_values, max_size=2)
junk_submissions = st.builds(lambda fields, extra: {**fields, **extra},
                             st.fixed_dictionaries({}, optional=field_values), extra_keys | st.just({}))
valid_submissions = st.fixed_dictionaries({"ok": st.booleans()}, optional={
    "note": st.text(max_size=40) | st.sampled_from([t[:40] for t in HOSTILE_TEXT]),
    "qty": st.integers(0, 100),
    "price": st.floats(0, 100000) | st.integers(0, 100000),
    "level": st.sampled_from(["A", "B", "C"]),
    "visit_date": st.dates().map(date.isoformat),
    "parts": st.lists(st.fixed_dictionaries({"code": st.text(max_size=16)}, optional={"count": st.integers(1, 9)}),
                      max_size=5),
})
submissions = valid_submissions | junk_submissions


def acceptable(data) -> bool:
    """The independent verdict: a JSON object with allowed names that the form accepts."""
    if not isinstance(data, dict):
        return False
    if any(k.startswith("_") or k in RESERVED_DATA_KEYS for k in data):
        return False
    return ORACLE.is_valid(data)


# -- properties ---------------------------------------------------------------------------


@EXAMPLES
@given(data=submissions | st.one_of(json_values.filter(lambda v: not isinstance(v, dict))))
def test_a_random_submission_is_refused_with_field_errors_and_nothing_changes_or_accepted_when_valid(desk, data,
                                                                                                  figures):
    figures.add("bad input", "form submissions tried")
    task_id = desk.task()
    before = desk.state(task_id)
    try:
        result = desk.eng.complete(task_id, data, actor=desk.tech)
    except InvalidInput as err:
        assert not acceptable(data), f"valid data refused: {err.fields}"
        assert err.fields and all(isinstance(k, str) and isinstance(v, str) and v for k, v in err.fields.items())
        assert desk.state(task_id) == before
        figures.add("bad input", "refused with field errors, nothing changed")
        event("refused")
        return
    event("accepted")
    assert acceptable(data), "invalid data accepted"
    assert result.version == before[0] + 1
    with desk.db.read() as s:
        logged = s.scalars(select(Event.data).where(Event.task_id == task_id, Event.kind == "task_completed")).one()
    assert logged == data  # verbatim: no escaping, no trimming
    desk.task_id = None


@EXAMPLES
@given(note=st.text(max_size=40) | st.sampled_from([t[:40] for t in HOSTILE_TEXT]))
def test_text_with_markup_is_stored_verbatim_in_the_audit_log_and_the_task_data(desk, note, figures):
    figures.add("bad input", "texts with markup tried")
    task_id = desk.task()
    result = desk.eng.complete(task_id, {"ok": True, "note": note}, actor=desk.tech)
    desk.task_id = None
    with desk.db.read() as s:
        logged = s.scalars(select(Event.data).where(Event.task_id == task_id, Event.kind == "task_completed")).one()
    assert logged["note"] == note
    assert desk.eng.get_instance(result.instance_id).data["note"] == note


def all_finite(value) -> bool:
    """No NaN or infinity anywhere in ``value`` (JSON has neither; the facade refuses them)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(all_finite(v) for v in value)
    return True


@EXAMPLES
@given(data=json_values)
def test_random_start_data_and_message_payloads_are_accepted_or_refused_never_a_crash(desk, data, figures):
    figures.add("bad input", "start data and message payloads tried")
    desk.orders += 1
    key = f"WO-S{desk.orders}"
    body = data if isinstance(data, dict) else {"value": data}
    allowed = not any(k.startswith("_") or k in RESERVED_DATA_KEYS for k in body) and all_finite(body)
    try:
        started = desk.eng.start("race", {**body, "work_order_no": key, "limit": 3})
    except InvalidInput as err:
        assert not allowed and err.fields
        return
    assert allowed
    desk.eng.complete(started.open_tasks[0].id, {"ok": True}, actor=desk.tech)
    try:
        desk.eng.send_message("poke", key, body)
    except InvalidInput:
        assert not allowed
    else:
        assert desk.eng.get_instance(started.instance_id).status == "running"


# -- values the facade refuses at the door (each once let through, see the reasons) ------

NAN_REASON = ("facade._check_data accepts NaN and Infinity (json.dumps allows them): a NaN price passes the "
              "form (NaN fails no minimum/maximum) and is stored as the non-JSON token NaN; PostgreSQL "
              "then refuses the event row (psycopg InvalidTextRepresentation, an HTTP 500) and SQLite stores "
              "JSON nobody else can parse. _check_data should use json.dumps(..., allow_nan=False)")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_infinity_are_refused_as_invalid_input_everywhere(desk, value):
    task_id = desk.task()
    before = desk.state(task_id)
    with pytest.raises(InvalidInput):  # price: NaN passes every bound; escalation tasks have no form
        desk.eng.complete(task_id, {"ok": True, "price": value}, actor=desk.tech)
    assert desk.state(task_id) == before
    with pytest.raises(InvalidInput):
        desk.eng.start("race", {"work_order_no": "WO-NAN", "limit": 3, "reading": value})


SURROGATE_REASON = ("facade._check_data accepts strings with lone surrogates (valid JSON escapes such as "
                    "\"\\ud800\"): the step then fails with UnicodeEncodeError while writing the row (an HTTP "
                    "500) instead of InvalidInput with the field named")


def test_a_lone_surrogate_in_a_field_is_invalid_input(desk):
    task_id = desk.task()
    before = desk.state(task_id)
    with pytest.raises(InvalidInput) as err:
        desk.eng.complete(task_id, {"ok": True, "note": "\ud800"}, actor=desk.tech)
    assert "note" in err.value.fields
    assert desk.state(task_id) == before


DEEP_REASON = ("facade._check_data puts no bound on nesting: start/complete/send_message accept data nested "
               "20,000 levels deep; engine/spiff.py raised the recursion limit to 50,000, so reloading that "
               "state (SpiffWorkflow's DictionaryConverter.restore recursing) overflows the C stack and the "
               "process dies with SIGSEGV -- every web or worker process that loads the instance (e.g. the "
               "worker firing its timer) crashes again. _check_data should refuse nesting deeper than a few "
               "dozen levels (and bound the total size)")


def nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_data_is_refused_as_invalid_input(desk):
    with pytest.raises(InvalidInput):
        desk.eng.start("race", {"work_order_no": "WO-DEEP", "limit": 3, "junk": nested(20_000)})


LOAD_DEEP = """
import sys
sys.path.insert(0, {root!r})
from engine import Database, Engine
eng = Engine(Database.connect({url!r}))
eng.get_instance({instance_id})
print("loaded")
"""


def test_an_instance_holding_deeply_nested_data_can_be_loaded_by_another_process(sqlite_db, tmp_path):
    eng = Engine(sqlite_db, clock=SharedClock())
    eng.deploy_directory(RACE)
    try:
        started = eng.start("race", {"work_order_no": "WO-DEEP", "limit": 3, "junk": nested(20_000)})
    except InvalidInput:
        return  # refused at the door: nothing to load (the fix)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = LOAD_DEEP.format(root=root, url=sqlite_db.url, instance_id=started.instance_id)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"the loading process died with {done.returncode}"
