"""What the task and work-order pages show, built from the engine's page dataclasses."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from flask_babel import gettext
from jinja2.sandbox import SandboxedEnvironment

from engine.web_queries import may_dispatch
from web import labels, schema_form, uploads
from web.formatting import display_value
from web.i18n import label

# Facts of a work order, in reading order (the order page; a task page lists its form's x-context).
ORDER_FACTS = ("work_order_no", "order_type", "channel", "customer_name", "customer_phone", "address", "zone",
               "product_model", "serial_no", "purchase_date", "symptom", "requested_at", "customer_requirements",
               "warranty", "technician", "dispatched_at", "accept_within", "appointment_at", "arrived_at",
               "completion_deadline", "progress_note", "result", "work_done", "fee_collected")
DEADLINES = ("requested_at", "appointment_at", "completion_deadline")
QUIET_EVENTS = {"element", "timers_checked", "task_created", "event_unhandled"}
_FILE_ID = re.compile(r"^[0-9a-f]{32}$")
_instructions_env = SandboxedEnvironment(autoescape=False)  # plain text; the page escapes it once


def facts(data: dict[str, Any], keys) -> list[tuple[str, str, str]]:
    """(key, label, shown value) for each key the data holds a value for; missing keys are skipped."""
    out = []
    for key in keys:
        value = data.get(key)
        if value is None or value == "" or value == [] or value == {}:
            continue
        shown = display_value(value, key)
        if shown:
            out.append((key, label(labels.CONTEXT, key), shown))
    return out


@lru_cache(maxsize=256)
def _instruction_template(text: str):
    return _instructions_env.from_string(text)


def instructions(text: str | None, data: dict[str, Any]) -> str | None:
    """The task's instructions for the user, filled from the order's data (sandboxed; plain text)."""
    if not text:
        return None
    try:
        values = {k: (label(labels.CODED[k], v) if k in labels.CODED else v) for k, v in data.items()}
        return _instruction_template(text).render(**values)
    except Exception:  # an analyst's template error must not break the page
        return None


def timeline(history, names: dict[str, str]) -> list[dict[str, Any]]:
    """The audit log as staff read it: who did what, when, with the reason and data that matter."""
    out = []
    for e in history:
        if e.kind in QUIET_EVENTS:
            continue
        data = e.data or {}
        details: list[tuple[str, str]] = []
        if e.kind == "task_reassigned":
            details = [(gettext("从"), data.get("from") or gettext("组队列")), (gettext("改派给"), data.get("to") or ""),
                       (gettext("原因"), data.get("reason") or "")]
        elif e.kind == "task_completed":
            for key, value in data.items():
                if value in (None, "", [], {}):
                    continue
                if isinstance(value, str) and _FILE_ID.match(value) and uploads.lookup(value):
                    details.append((label(labels.CONTEXT, key), {"file": value}))
                else:
                    details.append((label(labels.CONTEXT, key), display_value(value, key)))
        elif e.kind in ("incident", "suspended", "resumed", "terminated", "variables_changed"):
            for key in ("message", "reason"):
                if data.get(key):
                    details.append((gettext("说明"), str(data[key])))
        elif e.kind == "message_sent" and data.get("name"):
            details.append((gettext("通知"), label(labels.MESSAGES, data["name"])))
        out.append(dict(at=e.at, actor=e.actor, kind=e.kind, what=label(labels.EVENTS, e.kind),
                        element=names.get(e.element_id or "", e.element_id or ""), details=details))
    return out


def task_context(page, actor, *, values=None, errors=None) -> dict[str, Any]:
    """Template variables of the task page."""
    t = page.task
    mine = t.status == "open" and page.instance_status in ("running", "waiting", "error") and (
        t.assignee == actor.username or (t.assignee is None and t.group_id in actor.groups))
    if values is None:
        values = schema_form.merged_values(page.schema, page.data, page.draft if mine else None)
    keys = (page.schema or {}).get("x-context") or ORDER_FACTS
    deadlines = [(k, label(labels.CONTEXT, k), display_value(page.data.get(k), k))
                 for k in DEADLINES if page.data.get(k)]
    return dict(
        fields=schema_form.build(page.schema, values, errors, page.members),
        errors=errors or {},
        facts=facts(page.data, [k for k in keys if k not in DEADLINES]),
        deadlines=deadlines,
        instructions=instructions(page.instructions, page.data),
        timeline=timeline(page.history, page.element_names),
        may_work=mine,
        may_claim=t.status == "open" and t.assignee is None and t.group_id in actor.groups,
        may_unclaim=t.status == "open" and t.assignee == actor.username,
        may_reassign=t.status == "open" and may_dispatch(actor),
        can_check_in=mine and "arrived_at" in schema_form.properties(page.schema),
        reassign_to=page.members.get(t.group_id, ()),
    )
